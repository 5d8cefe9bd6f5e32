// AsioSocket: one TCP connection on Boost.Asio, on one AsioLoop (the loop
// whose io_context its socket was made on). It holds that loop and the
// transport's registry by shared_ptr, so it may outlive the transport
// object (a handler that keeps it) without reaching into freed memory.
// Its state is explicit: the connection's life, the read side and the
// write side each have one enum.
#pragma once

#include <boost/asio/ip/tcp.hpp>
#include <atomic>
#include <list>
#include <memory>

#include "connfail/netcore/asio/asio_loop.h"
#include "connfail/netcore/asio/socket_registry.h"
#include "connfail/netcore/transport.h"

namespace netcore::asio {

class AsioSocket final : public Socket, public std::enable_shared_from_this<AsioSocket> {
 public:
  /// `s` must have been made on `loop`'s io_context.
  AsioSocket(std::shared_ptr<AsioLoop> loop, std::shared_ptr<SocketRegistry> registry,
             boost::asio::ip::tcp::socket s, SocketRole role);

  std::uint64_t id() const override { return id_; }
  SocketRole role() const { return role_; }
  AsioLoop& loop() const { return *loop_; }
  /// The fd while the socket is open, else -1. Any thread (the inventory).
  int inventory_fd() const { return fd_.load(std::memory_order_acquire); }

  void set_handler(SocketHandler* h) override { handler_ = h; }
  void set_reading(bool on) override;
  void write(Bytes data, WriteCallback done) override;
  std::size_t pending_outbound() const override { return pending_bytes_; }
  void shutdown_output() override;
  void close() override { do_close(false); }
  void abort() override { do_close(true); }
  bool is_open() const override { return life_ != Life::Closed; }
  Address local_address() const override { return local_; }
  Address remote_address() const override { return remote_; }
  /// setsockopt: SO_KEEPALIVE, TCP_KEEPIDLE, TCP_KEEPINTVL, TCP_KEEPCNT,
  /// TCP_USER_TIMEOUT. Throws std::invalid_argument for a value Linux would
  /// refuse, std::system_error if setsockopt fails. On the socket's loop.
  void set_tcp_options(const TcpOptions& options) override;

  /// Starts waiting for data: after the owner set its handler.
  void start() { maybe_start_read(); }

 private:
  /// Open: usable. Failed: an error was reported to the handler (the fd is
  /// still held until close). Closed: released; no more events.
  enum class Life { Open, Failed, Closed };
  /// Idle: no wait outstanding. Waiting: a readability wait is. AtEof: the
  /// peer's FIN was read, not yet delivered. EofDelivered: it was.
  enum class ReadSide { Idle, Waiting, AtEof, EofDelivered };
  /// Idle: no write in flight. Writing: one async_write is.
  enum class WriteSide { Idle, Writing };
  /// Open, ShutdownRequested (FIN after the queued writes), ShutDown.
  enum class Output { Open, ShutdownRequested, ShutDown };

  struct Pending {
    Bytes data;
    WriteCallback done;
  };

  void refresh_addresses();
  void do_close(bool rst);
  void maybe_start_read();
  void on_readable(const boost::system::error_code& wec);
  void deliver();
  void fail(const boost::system::error_code& ec);
  SocketError timed_out_cause() const;
  void start_write();
  void on_written(const boost::system::error_code& ec);
  void do_shutdown();

  std::shared_ptr<AsioLoop> loop_;
  std::shared_ptr<SocketRegistry> registry_;
  boost::asio::ip::tcp::socket sock_;
  std::atomic<int> fd_{-1};
  std::uint64_t id_;
  SocketRole role_;
  SocketHandler* handler_ = nullptr;
  Address local_, remote_;
  TcpOptions tcp_options_;  // what set_tcp_options set: names an ETIMEDOUT
  Life life_ = Life::Open;
  ReadSide read_ = ReadSide::Idle;
  WriteSide write_ = WriteSide::Idle;
  Output output_ = Output::Open;
  bool reading_ = false;  // the owner's back-pressure switch, not a state
  Bytes stash_;
  // A list: an empty std::deque holds about 600 bytes (see Channel).
  std::list<Pending> writes_;
  std::size_t pending_bytes_ = 0;
};

}  // namespace netcore::asio
