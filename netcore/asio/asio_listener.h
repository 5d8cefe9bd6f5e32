// AsioListener: a listening socket on the transport's own loop (the boss
// loop). Each accepted socket is made on the loop the transport's group
// picks for it (round-robin over the worker loops, as Netty's
// ServerBootstrap registers each child with the next loop of its child
// group; the boss loop itself when there are no workers), and handed to the
// accept callback there.
#pragma once

#include <boost/asio/ip/tcp.hpp>
#include <deque>
#include <functional>
#include <memory>

#include "connfail/netcore/asio/asio_loop.h"
#include "connfail/netcore/asio/socket_registry.h"
#include "connfail/netcore/transport.h"

namespace netcore::asio {

class AsioSocket;

class AsioListener final : public Listener, public std::enable_shared_from_this<AsioListener> {
 public:
  /// Picks the loop of the next accepted socket.
  using PickLoop = std::function<std::shared_ptr<AsioLoop>()>;
  AsioListener(std::shared_ptr<AsioLoop> boss, std::shared_ptr<SocketRegistry> registry, PickLoop pick,
               AcceptFn on_accept);

  /// Binds and listens; throws std::runtime_error naming the address.
  void open(const ListenOptions& opts);
  /// Starts accepting (boss loop).
  void start();

  Address local_address() const override { return local_; }
  /// The fd while listening, else -1. Any thread (the inventory).
  int inventory_fd() const { return fd_.load(std::memory_order_acquire); }
  void pause() override;
  void resume() override;
  bool paused() const override { return state_ == State::Paused; }
  void close() override;

 private:
  /// Accepting: an accept is outstanding (or about to be). Paused: none is;
  /// sockets accepted meanwhile wait in held_. Closed: for good.
  enum class State { Accepting, Paused, Closed };
  void accept_next();
  void hand_over(const std::shared_ptr<AsioSocket>& s);

  std::shared_ptr<AsioLoop> boss_;
  std::shared_ptr<SocketRegistry> registry_;
  PickLoop pick_;
  boost::asio::ip::tcp::acceptor acceptor_;
  std::atomic<int> fd_{-1};
  AcceptFn on_accept_;
  Address local_;
  State state_ = State::Accepting;
  bool accept_outstanding_ = false;
  std::deque<std::shared_ptr<AsioSocket>> held_;
};

}  // namespace netcore::asio
