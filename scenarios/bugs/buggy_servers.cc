#include "connfail/scenarios/bugs/buggy_servers.h"

#include <new>

#include "connfail/netcore/channel.h"

namespace connfail::scenarios::bugs {

using namespace netcore;

std::shared_ptr<SwallowingAcceptor> SwallowingAcceptor::start(Transport& transport, ConnectionLedger& ledger,
                                                              PipelineInit init, ListenOptions listen,
                                                              FaultInjector* faults) {
  auto a = std::shared_ptr<SwallowingAcceptor>(new SwallowingAcceptor());
  a->transport_ = &transport;
  a->ledger_ = &ledger;
  a->init_ = std::move(init);
  a->faults_ = faults;
  std::weak_ptr<SwallowingAcceptor> weak = a;
  a->listener_ = transport.listen(listen, [weak](std::shared_ptr<Socket> s) {
    if (auto self = weak.lock()) self->on_accept(std::move(s));
  });
  return a;
}

void SwallowingAcceptor::on_accept(std::shared_ptr<Socket> socket) {
  // BUG (Netty 3 NioServerBoss): the set-up can throw between accept() and
  // registration, and the catch below only logs.
  try {
    if (faults_) faults_->before_child_registration();
    auto ch = Channel::create(transport_->loop_of(*socket), socket, *ledger_, Side::Server, {});
    if (faults_) ch->pipeline().set_fault_injector(faults_);
    init_(*ch);
    ch->activate();
  } catch (...) {
    // "Failed to accept a connection." -- and the socket is neither closed
    // nor registered. (Locked: with worker loops, several threads accept.)
    std::lock_guard<std::mutex> lock(leaked_mu_);
    leaked_.push_back(std::move(socket));
  }
}

namespace {

// One half of the leaky proxy: forwards what it reads to the other half.
class LeakyRelay final : public Handler {
 public:
  explicit LeakyRelay(std::shared_ptr<std::weak_ptr<Channel>> other) : other_(std::move(other)) {}
  void channel_read(Context&, std::any msg) override {
    if (auto o = other_->lock(); o && o->is_active()) o->write_and_flush(std::move(msg));
  }
  // BUG: channel_inactive does not close the other side.
 private:
  std::shared_ptr<std::weak_ptr<Channel>> other_;
};

class LeakyFrontend final : public Handler {
 public:
  LeakyFrontend(Transport& t, ConnectionLedger& l, Address backend, Duration timeout)
      : transport_(t), ledger_(l), backend_addr_(std::move(backend)), timeout_(timeout) {}
  void channel_active(Context& ctx) override {
    auto front = ctx.channel().shared_from_this();
    auto to_front = std::make_shared<std::weak_ptr<Channel>>(front);
    ChannelOptions opts;
    opts.label = "proxy-backend";
    auto backend_slot = backend_;
    connect_channel(transport_, ledger_, backend_addr_, timeout_,
                    [to_front](Channel& ch) { ch.pipeline().add_last("relay", std::make_shared<LeakyRelay>(to_front)); },
                    opts, [backend_slot](std::shared_ptr<Channel> ch, SocketError) {
                      if (ch) *backend_slot = ch;
                    });
    ctx.fire_channel_active();
  }
  void channel_read(Context&, std::any msg) override {
    // Data that arrives before the backend is up is dropped (the Netty
    // example's first race) -- the scenarios wait for the connect.
    if (auto b = backend_->lock(); b && b->is_active()) b->write_and_flush(std::move(msg));
  }
  // BUG: channel_inactive does not close the backend.

 private:
  Transport& transport_;
  ConnectionLedger& ledger_;
  Address backend_addr_;
  Duration timeout_;
  std::shared_ptr<std::weak_ptr<Channel>> backend_ = std::make_shared<std::weak_ptr<Channel>>();
};

}  // namespace

PipelineInit leaky_proxy_initializer(Transport& transport, ConnectionLedger& ledger, Address backend,
                                     Duration connect_timeout) {
  return [&transport, &ledger, backend, connect_timeout](Channel& ch) {
    ch.pipeline().add_last("frontend", std::make_shared<LeakyFrontend>(transport, ledger, backend, connect_timeout));
  };
}

void TimerLeakHandler::channel_active(Context& ctx) {
  // BUG: the timer is never cancelled, so it outlives the channel.
  ctx.loop().schedule(std::chrono::hours(24), [] {});
  ctx.fire_channel_active();
}

}  // namespace connfail::scenarios::bugs
