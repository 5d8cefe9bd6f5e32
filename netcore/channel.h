// Channel: one connection as netcore sees it — a Socket, a Pipeline, a state
// and a ledger entry. Every way a connection can end (application close, peer
// FIN, RST, error, idle, exception, accept failure) funnels into one
// idempotent close that records the reason, and every channel that became
// active fires exactly one inactive event.
//
// Lifetime: the channel keeps itself alive from activate() until its inactive
// event and handler removal have run on the loop (destroy later, never
// mid-callback). Outside holders use shared_ptr/weak_ptr.
#pragma once

#include <any>
#include <atomic>
#include <list>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "connfail/netcore/connection_ledger.h"
#include "connfail/netcore/pipeline.h"
#include "connfail/netcore/transport.h"

namespace netcore {

struct ChannelOptions {
  /// Read continuously (true) or only after each read() request (false).
  bool auto_read = true;
  /// On peer FIN: false closes the channel (Netty's default); true fires
  /// InputShutdownEvent and leaves closing to the handlers.
  bool allow_half_closure = false;
  /// Free text stored in the ledger entry.
  std::string label;
  /// SO_KEEPALIVE, TCP_KEEPIDLE/KEEPINTVL/KEEPCNT, TCP_USER_TIMEOUT (Netty's
  /// ChannelOption / childOption), set on the socket when the channel
  /// becomes active. Nothing set: the socket is left as the stack made it.
  TcpOptions tcp;
};

enum class ChannelState { Created, Active, Closed };

class Channel : public std::enable_shared_from_this<Channel>, private SocketHandler {
 public:
  /// Optional replacement for the socket at the head of the pipeline: it
  /// receives every outbound message (EmbeddedChannel uses it).
  using OutboundSink = std::function<void(std::any msg, WriteCallback done)>;

  static std::shared_ptr<Channel> create(EventLoop& loop, std::shared_ptr<Socket> socket,
                                         ConnectionLedger& ledger, Side side,
                                         ChannelOptions options = {});
  ~Channel() override;
  Channel(const Channel&) = delete;
  Channel& operator=(const Channel&) = delete;

  /// Registers the channel: opens its ledger entry, attaches to the socket,
  /// fires channel_active and starts reading if auto-read is on. Call once,
  /// after the pipeline is initialised.
  void activate();

  Pipeline& pipeline() { return pipeline_; }
  EventLoop& loop() { return loop_; }
  ConnectionLedger& ledger() { return ledger_; }
  /// The ledger id (0 before activate()).
  std::uint64_t id() const { return id_; }
  Side side() const { return side_; }
  ChannelState state() const { return state_; }
  bool is_active() const { return state_ == ChannelState::Active; }
  Socket* socket() const { return socket_.get(); }
  Address local_address() const;
  Address remote_address() const;
  CloseReason close_reason() const { return close_reason_; }
  const ChannelOptions& options() const { return options_; }

  bool auto_read() const { return options_.auto_read; }
  void set_auto_read(bool on);
  /// Sets keepalive and the user timeout on the open socket (see
  /// TcpOptions); throws std::invalid_argument for a value Linux refuses.
  /// From another thread it is posted to the channel's loop (and a refused
  /// value then throws there).
  void set_tcp_options(const TcpOptions& options);

  // Outbound operations from the tail of the pipeline. Called from another
  // thread (another loop of an EventLoopGroup), each is posted to this
  // channel's loop and runs there (Netty does the same); so are
  // set_auto_read() and on_close(). Everything else: loop thread only.
  void write(std::any msg, WriteCallback done = {});
  void flush();
  void write_and_flush(std::any msg, WriteCallback done = {});
  void read();
  void close(CloseReason reason = CloseReason::Normal);
  /// Half-close: FIN after everything written so far (Netty's shutdownOutput).
  void shutdown_output();
  /// Close with RST instead of FIN (SO_LINGER 0). The ledger records
  /// `aborted` unless a reason is given.
  void abort(CloseReason reason = CloseReason::Aborted);

  /// Bytes written but not yet handed to the TCP stack (unflushed + queued).
  std::size_t pending_outbound_bytes() const;
  /// Exceptions that reached the tail of the pipeline unhandled.
  const std::vector<std::exception_ptr>& unhandled_exceptions() const { return unhandled_; }

  void set_outbound_sink(OutboundSink sink) { sink_ = std::move(sink); }

  /// Netty's closeFuture().addListener(): `fn` runs on the loop once the
  /// channel has closed, after its inactive event, whatever its handlers do
  /// (a handler that throws from, or swallows, channel_inactive cannot stop
  /// it). Added to a closed channel, it runs soon (posted), never from
  /// inside this call.
  void on_close(std::function<void()> fn);

 private:
  friend class Pipeline;
  friend class Context;
  friend class HeadHandler;
  friend class TailHandler;
  Channel(EventLoop& loop, std::shared_ptr<Socket> socket, ConnectionLedger& ledger, Side side,
          ChannelOptions options);

  // Called off the channel's loop: posts `call(*this)` there and returns
  // true; on the loop: false (the caller goes on).
  template <typename Call>
  bool post_if_off_loop(Call call);

  // SocketHandler.
  void on_data(Bytes data) override;
  void on_peer_fin() override;
  void on_error(SocketError e) override;

  // Head of the pipeline.
  void head_write(std::any msg, WriteCallback done);
  void head_flush();
  void head_read();
  void head_close(CloseReason reason);
  // Tail of the pipeline.
  void tail_exception(std::exception_ptr error);
  void record_unhandled(std::exception_ptr error);

  EventLoop& loop_;
  std::shared_ptr<Socket> socket_;
  ConnectionLedger& ledger_;
  Side side_;
  ChannelOptions options_;
  Pipeline pipeline_;
  // Atomic: Acceptor::children() and the harness read it from other loops.
  std::atomic<ChannelState> state_{ChannelState::Created};
  std::uint64_t id_ = 0;
  CloseReason close_reason_ = CloseReason::Normal;
  std::string close_detail_;
  bool abort_on_close_ = false;
  bool exception_close_started_ = false;
  bool read_pending_ = false;  // a read() request awaits data (auto-read off)
  struct Unflushed {
    Bytes data;
    WriteCallback done;
  };
  // A list, not a deque: an empty std::deque still holds a 512-byte block
  // and its map (about 600 bytes per idle channel); Netty's outbound buffer
  // is a linked list too.
  std::list<Unflushed> unflushed_;
  std::size_t unflushed_bytes_ = 0;
  std::vector<std::exception_ptr> unhandled_;
  OutboundSink sink_;
  std::vector<std::function<void()>> close_listeners_;
  bool close_listeners_ran_ = false;
  std::shared_ptr<Channel> self_;  // owns the channel while it is active
};

}  // namespace netcore
