#include "connfail/netcore/acceptor.h"

#include <new>

#include "connfail/netcore/fault_injector.h"

namespace netcore {

namespace {
// The acceptor whose child this thread is setting up (close() from inside
// a set-up must not wait for it).
thread_local const Acceptor* setting_up = nullptr;

std::string describe_current() {
  try {
    throw;
  } catch (const std::bad_alloc&) {
    return "std::bad_alloc during child set-up";
  } catch (const std::exception& e) {
    return e.what();
  } catch (...) {
    return "non-standard exception during child set-up";
  }
}
}  // namespace

std::shared_ptr<Acceptor> Acceptor::start(Transport& transport, ConnectionLedger& ledger,
                                          PipelineInit init, AcceptorOptions options) {
  std::shared_ptr<Acceptor> a(new Acceptor(transport, ledger, std::move(init), std::move(options)));
  std::weak_ptr<Acceptor> weak = a;
  a->listener_ = transport.listen(a->options_.listen, [weak](std::shared_ptr<Socket> s) {
    if (auto self = weak.lock()) {
      self->on_accept(std::move(s));
    } else {
      s->abort();
    }
  });
  return a;
}

Acceptor::Acceptor(Transport& t, ConnectionLedger& ledger, PipelineInit init, AcceptorOptions options)
    : transport_(t), ledger_(ledger), init_(std::move(init)), options_(std::move(options)) {}

Acceptor::~Acceptor() {
  // The last owner may be a worker loop's task (a child's set-up that held
  // it): the listener and the back-off timer are the transport's loop's.
  if (!listener_) return;
  transport_.loop().execute([l = listener_, &loop = transport_.loop(), timer = backoff_timer_] {
    if (timer) loop.cancel(timer);
    l->close();
  });
}

void Acceptor::on_accept(std::shared_ptr<Socket> socket) {
  // Runs on the socket's loop: with an EventLoopGroup, one of several
  // worker threads at once (the counters and the children list are locked;
  // the listener and the back-off timer belong to the boss loop).
  EventLoop& loop = transport_.loop_of(*socket);
  // Set-ups run under a shared lock that close() takes exclusively: once
  // close() returns, every child set up is in the ledger (for whoever shuts
  // the server down) and no new one will be.
  std::shared_lock<std::shared_mutex> setup(setup_mu_);
  if (closed_) {
    socket->abort();
    return;
  }
  const Acceptor* outer = setting_up;
  setting_up = this;
  struct Restore {
    const Acceptor* outer;
    ~Restore() { setting_up = outer; }
  } restore{outer};
  {
    std::lock_guard<std::mutex> lock(mu_);
    ++accepted_;
  }
  try {
    if (options_.faults) options_.faults->before_child_registration();
    auto ch = Channel::create(loop, socket, ledger_, Side::Server, options_.child);
    if (options_.faults) ch->pipeline().set_fault_injector(options_.faults);
    init_(*ch);
    ch->activate();
    // Prune closed children now and then so the list stays bounded (a
    // child is never destroyed under the lock: expired() takes no owner).
    std::lock_guard<std::mutex> lock(mu_);
    if (children_.size() >= 64 && children_.size() % 64 == 0) {
      std::vector<std::weak_ptr<Channel>> live;
      for (auto& w : children_)
        if (!w.expired()) live.push_back(w);
      children_.swap(live);
    }
    children_.push_back(ch);
  } catch (...) {
    // Close first: under a real out-of-memory error anything below may throw
    // again, and the socket must not survive that.
    socket->set_handler(nullptr);
    socket->abort();
    {
      std::lock_guard<std::mutex> lock(mu_);
      ++failures_;
    }
    try {
      ledger_.record_failed(Side::Server, socket->id(), socket->local_address(), socket->remote_address(),
                            loop.now(), CloseReason::AcceptFailure, describe_current());
    } catch (...) {
      std::lock_guard<std::mutex> lock(mu_);
      ++unrecorded_failures_;  // counted, not recorded: memory ran out again
    }
    if (options_.error_backoff > Duration::zero()) {
      std::weak_ptr<Acceptor> weak = weak_from_this();
      transport_.loop().execute([weak] {
        if (auto self = weak.lock()) self->start_backoff();
      });
    }
  }
}

void Acceptor::start_backoff() {
  if (backoff_timer_ || closed_) return;
  listener_->pause();
  std::weak_ptr<Acceptor> weak = weak_from_this();
  backoff_timer_ = transport_.loop().schedule(options_.error_backoff, [weak] {
    if (auto self = weak.lock()) {
      self->backoff_timer_ = 0;
      if (!self->user_paused_ && !self->closed_) self->listener_->resume();
    }
  });
}

std::vector<std::shared_ptr<Channel>> Acceptor::children() {
  std::vector<std::weak_ptr<Channel>> weak;
  {
    std::lock_guard<std::mutex> lock(mu_);
    weak = children_;
  }
  std::vector<std::shared_ptr<Channel>> out;
  for (auto& w : weak)
    if (auto c = w.lock(); c && c->is_active()) out.push_back(std::move(c));
  return out;
}

void Acceptor::pause_accepting() {
  user_paused_ = true;
  listener_->pause();
}

void Acceptor::resume_accepting() {
  user_paused_ = false;
  if (!backoff_timer_) listener_->resume();  // else the back-off resumes it
}

void Acceptor::close() {
  if (setting_up == this) {
    closed_ = true;  // from inside a child's set-up, on its thread: no wait for itself
  } else {
    std::unique_lock<std::shared_mutex> setups(setup_mu_);  // waits for set-ups under way
    closed_ = true;
  }
  if (backoff_timer_) {
    transport_.loop().cancel(backoff_timer_);
    backoff_timer_ = 0;
  }
  listener_->close();
}

void connect_channel(Transport& transport, ConnectionLedger& ledger, const Address& to,
                     Duration timeout, PipelineInit init, ChannelOptions options,
                     std::function<void(std::shared_ptr<Channel>, SocketError)> done,
                     const std::string& source_host, std::shared_ptr<ConnectCanceller> cancel) {
  transport.connect_from(source_host, to, timeout,
                    [&transport, &ledger, init = std::move(init), options = std::move(options),
                     done = std::move(done)](std::shared_ptr<Socket> s, SocketError e) {
                      if (!s) {
                        done(nullptr, e);
                        return;
                      }
                      std::shared_ptr<Channel> ch;
                      try {
                        ch = Channel::create(transport.loop_of(*s), s, ledger, Side::Client, options);
                        init(*ch);
                        ch->activate();
                      } catch (...) {
                        s->abort();
                        done(nullptr, SocketError::Other);
                        return;
                      }
                      done(ch, SocketError::None);
                    },
                    std::move(cancel));
}

}  // namespace netcore
