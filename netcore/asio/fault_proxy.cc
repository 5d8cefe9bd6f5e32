#include "connfail/netcore/asio/fault_proxy.h"

#include <algorithm>
#include <cmath>
#include <list>
#include <map>
#include <set>
#include <stdexcept>
#include <utility>

#include "connfail/netcore/channel.h"
#include "connfail/netcore/pipeline.h"
#include "connfail/netcore/proxy.h"

namespace netcore::asio {

const char* to_string(Direction d) { return d == Direction::Upstream ? "upstream" : "downstream"; }

bool Toxics::any() const {
  return latency > Duration::zero() || jitter > Duration::zero() || bandwidth > 0 || slice_average > 0 ||
         slow_close > Duration::zero();
}

namespace fault_detail {

constexpr const char* kStageName = "fault-toxics";

/// splitmix64: small, seedable, the same sequence on every platform.
class Rng {
 public:
  explicit Rng(std::uint64_t seed) : state_(seed) {}
  std::uint64_t next() {
    std::uint64_t z = (state_ += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
  }
  /// Uniform in [0, n] (n + 1 values; the modulo bias is negligible here).
  std::uint64_t upto(std::uint64_t n) { return n == UINT64_MAX ? next() : next() % (n + 1); }

 private:
  std::uint64_t state_;
};

std::uint64_t mix(std::uint64_t seed, std::uint64_t a, std::uint64_t b) {
  Rng r(seed ^ (a * 0x2545F4914F6CDD1DULL) ^ (b + 0x632BE59BD9B4E019ULL));
  r.next();
  return r.next();
}

/// One proxied connection: its two channels and its pending fault timers.
struct Conn {
  std::uint64_t index = 0;
  std::weak_ptr<Channel> frontend;  // client side
  std::weak_ptr<Channel> backend;   // server side
  TimerId reset_timer = 0;
  TimerId close_timer = 0;
  // A close the blackhole is holding back.
  bool held = false;
  bool held_delayed = false;  // slow_close already applied to it
  bool held_reset = false;   // the held close is a reset (RST), not a FIN
  Direction held_dir = Direction::Upstream;
  std::weak_ptr<Channel> held_other;
};

class ToxicStage;

}  // namespace fault_detail

using fault_detail::Conn;

struct FaultProxy::Core : std::enable_shared_from_this<FaultProxy::Core> {
  Core(Transport& t, std::uint64_t s) : transport(t), loop(t.loop()), seed(s) {}

  Transport& transport;
  EventLoop& loop;
  std::uint64_t seed;
  ConnectionLedger ledger;
  std::shared_ptr<ProxyStats> stats = std::make_shared<ProxyStats>();
  Toxics toxics[2];
  bool blackhole = false;
  std::shared_ptr<ConnectCanceller> connects = std::make_shared<ConnectCanceller>();
  Duration reset_after = Duration::zero();
  bool closed = false;
  FaultProxyCounters counters;
  std::uint64_t next_conn = 0;
  std::map<std::uint64_t, std::weak_ptr<Conn>> conns;
  std::uint16_t listen_port = 0;
  std::set<std::pair<std::uint16_t, std::uint16_t>> upstream_pairs;  // (local, remote) ports

  const Toxics& tox(Direction d) const { return toxics[d == Direction::Upstream ? 0 : 1]; }
  DirectionCounters& dc(Direction d) { return d == Direction::Upstream ? counters.up : counters.down; }

  std::vector<std::shared_ptr<Conn>> live() {
    std::vector<std::shared_ptr<Conn>> out;
    for (auto it = conns.begin(); it != conns.end();) {
      if (auto c = it->second.lock()) {
        out.push_back(std::move(c));
        ++it;
      } else {
        it = conns.erase(it);
      }
    }
    return out;
  }

  std::shared_ptr<Conn> new_conn(Channel& frontend) {
    live();  // prune
    auto c = std::make_shared<Conn>();
    c->index = next_conn++;
    c->frontend = frontend.shared_from_this();
    conns[c->index] = c;
    return c;
  }

  void cancel_timers(Conn& c) {
    if (c.reset_timer) loop.cancel(c.reset_timer);
    if (c.close_timer) loop.cancel(c.close_timer);
    c.reset_timer = c.close_timer = 0;
  }

  static bool active(const std::weak_ptr<Channel>& w) {
    auto c = w.lock();
    return c && c->is_active();
  }

  void attach_backend(Channel& backend, const std::shared_ptr<Channel>& frontend);
  void close_peer(Channel& ended, const std::shared_ptr<Channel>& other);
  void on_frontend_active(const std::shared_ptr<Conn>& c) {
    if (reset_after > Duration::zero()) schedule_reset(c, reset_after);
  }
  void on_channel_inactive(const std::shared_ptr<Conn>& c) {
    // Nothing left to reset or to close once both sides are down (a backend
    // still connecting is closed by the proxy as soon as it is up).
    if (!active(c->frontend) && !active(c->backend)) {
      cancel_timers(*c);
      c->held = false;
    }
  }

  void schedule_reset(const std::shared_ptr<Conn>& c, Duration after) {
    if (c->reset_timer) loop.cancel(c->reset_timer);
    c->reset_timer = 0;
    if (after <= Duration::zero()) return;
    std::weak_ptr<Core> wcore = shared_from_this();
    std::weak_ptr<Conn> wconn = c;
    c->reset_timer = loop.schedule(after, [wcore, wconn] {
      auto core = wcore.lock();
      auto conn = wconn.lock();
      if (!core || !conn) return;
      conn->reset_timer = 0;
      core->reset(*conn);
    });
  }

  bool reset(Conn& c) {
    cancel_timers(c);
    c.held = false;
    bool any = false;
    // Both at once: neither side's close reaches the other as a FIN first.
    if (auto be = c.backend.lock(); be && be->is_active()) {
      be->abort();
      any = true;
    }
    if (auto fe = c.frontend.lock(); fe && fe->is_active()) {
      fe->abort();
      any = true;
    }
    if (any) ++counters.resets;
    return any;
  }

  /// Carries one side's end to the other side: a FIN as a FIN, a reset as a
  /// reset (`reset`), as a transparent network path would. Behind the data
  /// still held for `other`, unless the proxy itself is closing.
  void propagate(const std::shared_ptr<Conn>& c, Direction d, const std::weak_ptr<Channel>& weak_other,
                 bool may_delay, bool reset) {
    auto other = weak_other.lock();
    if (!other || !other->is_active()) return;
    if (closed) {
      other->close();
      return;
    }
    if (blackhole) {
      c->held = true;
      c->held_reset = reset;
      c->held_delayed = !may_delay;
      c->held_dir = d;
      c->held_other = other;
      ++counters.closes_held;
      return;
    }
    const Duration delay = tox(d).slow_close;
    if (may_delay && delay > Duration::zero()) {
      ++counters.closes_delayed;
      if (c->close_timer) loop.cancel(c->close_timer);
      std::weak_ptr<Core> wcore = shared_from_this();
      std::weak_ptr<Conn> wconn = c;
      c->close_timer = loop.schedule(delay, [wcore, wconn, d, weak_other, reset] {
        auto core = wcore.lock();
        auto conn = wconn.lock();
        if (!core || !conn) return;
        conn->close_timer = 0;
        core->propagate(conn, d, weak_other, false, reset);
      });
      return;
    }
    // The close travels as an empty write behind whatever the toxics still
    // hold for `other` (close_on_flush, through the toxic stage).
    std::weak_ptr<Channel> w = other;
    other->write_and_flush(Bytes{}, [w, reset](SocketError) {
      auto ch = w.lock();
      if (!ch) return;
      if (reset)
        ch->abort();
      else
        ch->close();
    });
  }

  void release_held() {
    for (auto& c : live()) {
      if (!c->held) continue;
      c->held = false;
      propagate(c, c->held_dir, c->held_other, !c->held_delayed, c->held_reset);
    }
  }
};

namespace fault_detail {

using Core = FaultProxy::Core;

/// The toxic stage of one direction of one connection: sits next to the head
/// of the destination channel's pipeline and sees every chunk the proxy
/// writes there. It handles one chunk at a time, in arrival order; the
/// chunk's write callback (which lets the proxy read the next one) runs only
/// after the last byte was handed to the socket.
class ToxicStage final : public Handler, public std::enable_shared_from_this<ToxicStage> {
 public:
  ToxicStage(std::shared_ptr<Core> core, std::shared_ptr<Conn> conn, Direction dir)
      : core_(std::move(core)),
        conn_(std::move(conn)),
        dir_(dir),
        rng_(mix(core_->seed, conn_->index, dir == Direction::Upstream ? 1 : 2)) {}

  const std::shared_ptr<Conn>& conn() const { return conn_; }

  void handler_added(Context& ctx) override { ctx_ = &ctx; }
  void handler_removed(Context&) override {
    stop();
    ctx_ = nullptr;
  }
  void channel_active(Context& ctx) override {
    if (dir_ == Direction::Downstream) core_->on_frontend_active(conn_);
    ctx.fire_channel_active();
  }
  void channel_inactive(Context& ctx) override {
    stop();
    core_->on_channel_inactive(conn_);
    ctx.fire_channel_inactive();
  }

  void write(Context& ctx, std::any msg, WriteCallback done) override {
    Bytes* b = std::any_cast<Bytes>(&msg);
    if (!b || stopped_ || !ctx.channel().is_active()) {
      ctx.write(std::move(msg), std::move(done));
      return;
    }
    auto& c = core_->dc(dir_);
    if (!b->empty()) ++c.chunks;
    held_bytes_ += b->size();
    c.max_held_bytes = std::max(c.max_held_bytes, held_bytes_);
    queue_.push_back(Item{std::move(*b), std::move(done), core_->loop.now()});
    pump();
  }

 private:
  struct Item {
    Bytes data;
    WriteCallback done;
    TimePoint arrived;
  };
  struct Current {
    Bytes data;           // emptied when written whole (no copy)
    std::size_t size = 0;
    std::size_t off = 0;  // bytes already given to the socket (or in flight)
    WriteCallback done;
    bool delayed = false;
    bool writing = false;
  };

  EventLoop& loop() { return core_->loop; }

  void post_done(WriteCallback cb, SocketError e) {
    if (cb) loop().post([cb = std::move(cb), e] { cb(e); });
  }
  void complete(const std::shared_ptr<Current>& cur, SocketError e) {
    if (!cur || !cur->done) return;
    auto cb = std::move(cur->done);
    cur->done = nullptr;
    post_done(std::move(cb), e);
  }

  void mark_delayed(Current& cur) {
    if (cur.delayed) return;
    cur.delayed = true;
    if (cur.size > 0) ++core_->dc(dir_).chunks_delayed;
  }

  void discard(std::size_t n) {
    core_->dc(dir_).bytes_discarded += n;
    held_bytes_ -= std::min(held_bytes_, n);
  }

  void arm(Duration delay, void (ToxicStage::*fn)()) {
    std::weak_ptr<ToxicStage> weak = shared_from_this();
    timer_ = loop().schedule(delay, [weak, fn] {
      if (auto self = weak.lock()) {
        self->timer_ = 0;
        ((*self).*fn)();
      }
    });
  }

  Duration jitter(Duration j) {
    if (j <= Duration::zero()) return Duration::zero();
    return Duration(static_cast<Duration::rep>(rng_.upto(static_cast<std::uint64_t>(j.count()))));
  }

  std::size_t slice_size(const Toxics& t) {
    const std::size_t lo = t.slice_average > t.slice_variation ? t.slice_average - t.slice_variation : 1;
    const std::size_t hi = std::max(lo, t.slice_average + t.slice_variation);
    return lo + static_cast<std::size_t>(rng_.upto(hi - lo));
  }

  static Duration transmit_time(std::size_t n, std::uint64_t rate) {
    // Rounded up: B bytes never take less than B / rate.
    const double ns = std::ceil(static_cast<double>(n) * 1e9 / static_cast<double>(rate));
    return Duration(static_cast<Duration::rep>(ns));
  }

  // Takes the next chunk when none is in progress.
  void pump() {
    while (!cur_ && !queue_.empty() && !stopped_) {
      Item it = std::move(queue_.front());
      queue_.pop_front();
      if (core_->blackhole && !it.data.empty()) {
        discard(it.data.size());
        post_done(std::move(it.done), SocketError::None);
        continue;
      }
      const Toxics& t = core_->tox(dir_);
      const Duration delay = t.latency + jitter(t.jitter);
      cur_ = std::make_shared<Current>();
      cur_->size = it.data.size();
      cur_->data = std::move(it.data);
      cur_->done = std::move(it.done);
      const TimePoint release = it.arrived + delay;
      const TimePoint now = loop().now();
      if (release > now) {
        mark_delayed(*cur_);
        arm(release - now, &ToxicStage::next_piece);
      } else {
        next_piece();
      }
    }
  }

  // Writes (or schedules) the next piece of the current chunk.
  void next_piece() {
    auto cur = cur_;
    if (!cur || stopped_) return;
    if (!ctx_ || !ctx_->channel().is_active()) {
      fail_all(SocketError::Other);
      return;
    }
    const std::size_t remaining = cur->size - cur->off;
    if (cur->size == 0) {  // a close marker: no bytes, keeps its place
      pending_piece_ = 0;
      write_piece();
      return;
    }
    if (core_->blackhole) {  // switched on while this chunk was held
      discard(remaining);
      finish(SocketError::None);
      return;
    }
    const Toxics& t = core_->tox(dir_);
    std::size_t n = remaining;
    if (t.slice_average > 0) {
      n = std::min(remaining, slice_size(t));
    } else if (t.bandwidth > 0) {
      n = std::min<std::size_t>(remaining, std::max<std::uint64_t>(1, t.bandwidth / 100));  // ~10 ms
    }
    const TimePoint now = loop().now();
    TimePoint at = now;
    if (t.slice_average > 0 && cur->off > 0) at += t.slice_delay;
    if (t.bandwidth > 0) {
      link_free_ = std::max(link_free_, at) + transmit_time(n, t.bandwidth);
      at = link_free_;
    }
    pending_piece_ = n;
    if (at > now) {
      mark_delayed(*cur);
      arm(at - now, &ToxicStage::write_piece);
    } else {
      write_piece();
    }
  }

  void write_piece() {
    auto cur = cur_;
    if (!cur || stopped_) return;
    if (!ctx_ || !ctx_->channel().is_active()) {
      fail_all(SocketError::Other);
      return;
    }
    if (core_->blackhole && cur->size > 0) {
      discard(cur->size - cur->off);
      finish(SocketError::None);
      return;
    }
    const std::size_t n = std::min(pending_piece_, cur->size - cur->off);
    Bytes piece;
    if (cur->off == 0 && n == cur->size) {
      piece.swap(cur->data);  // the whole chunk: no copy
    } else {
      piece.assign(cur->data.begin() + static_cast<std::ptrdiff_t>(cur->off),
                   cur->data.begin() + static_cast<std::ptrdiff_t>(cur->off + n));
    }
    cur->off += n;
    cur->writing = true;
    std::weak_ptr<ToxicStage> weak = shared_from_this();
    ctx_->write(std::move(piece), [weak, cur, n](SocketError e) {
      cur->writing = false;
      auto self = weak.lock();
      if (!self || self->cur_ != cur) {
        // The stage stopped meanwhile: report this chunk's outcome alone.
        if (cur->done) {
          auto cb = std::move(cur->done);
          cur->done = nullptr;
          cb(e != SocketError::None ? e : (cur->off == cur->size ? SocketError::None : SocketError::Other));
        }
        return;
      }
      self->on_written(e, n);
    });
    ctx_->flush();
  }

  void on_written(SocketError e, std::size_t n) {
    held_bytes_ -= std::min(held_bytes_, n);
    if (e != SocketError::None) {
      fail_all(e);
      return;
    }
    auto& c = core_->dc(dir_);
    c.bytes += n;
    if (n > 0) ++c.writes;
    if (cur_->off < cur_->size) {
      next_piece();
    } else {
      finish(SocketError::None);
    }
  }

  void finish(SocketError e) {
    auto cur = std::move(cur_);
    cur_ = nullptr;
    complete(cur, e);
    pump();
  }

  void fail_all(SocketError e) {
    if (timer_) loop().cancel(timer_);
    timer_ = 0;
    if (cur_ && !cur_->writing) complete(cur_, e);  // a write in flight reports itself
    cur_ = nullptr;
    for (auto& it : queue_)
      if (it.done) loop().post([cb = std::move(it.done), e] { cb(e); });
    queue_.clear();
    held_bytes_ = 0;
  }

  void stop() {
    if (stopped_) return;
    fail_all(SocketError::Other);
    stopped_ = true;
  }

  std::shared_ptr<Core> core_;
  std::shared_ptr<Conn> conn_;
  Direction dir_;
  Rng rng_;
  Context* ctx_ = nullptr;
  bool stopped_ = false;
  // A list: an empty std::deque holds about 600 bytes (see Channel).
  std::list<Item> queue_;
  std::shared_ptr<Current> cur_;
  std::size_t pending_piece_ = 0;
  std::size_t held_bytes_ = 0;
  TimerId timer_ = 0;
  TimePoint link_free_{0};  // bandwidth: when the modelled link is free again
};

}  // namespace fault_detail

using fault_detail::ToxicStage;

void FaultProxy::Core::attach_backend(Channel& backend, const std::shared_ptr<Channel>& frontend) {
  std::shared_ptr<Conn> conn;
  if (frontend)
    if (auto* st = frontend->pipeline().get_as<ToxicStage>(fault_detail::kStageName)) conn = st->conn();
  if (!conn) {  // the client left already; the proxy closes this side at once
    conn = std::make_shared<Conn>();
    conn->index = next_conn++;
  }
  conn->backend = backend.shared_from_this();
  upstream_pairs.insert({backend.local_address().port, backend.remote_address().port});
  backend.pipeline().add_last(fault_detail::kStageName,
                              std::make_shared<ToxicStage>(shared_from_this(), conn, Direction::Upstream));
}

void FaultProxy::Core::close_peer(Channel& ended, const std::shared_ptr<Channel>& other) {
  // The connection's state is in either side's stage; the ended side's may
  // be gone already (a client that left while the backend was connecting).
  auto* st = ended.pipeline().get_as<ToxicStage>(fault_detail::kStageName);
  if (!st && other) st = other->pipeline().get_as<ToxicStage>(fault_detail::kStageName);
  if (!st) {
    close_on_flush(other);
    return;
  }
  // The client side ending travels upstream, the server side's downstream.
  const Direction d = ended.side() == Side::Server ? Direction::Upstream : Direction::Downstream;
  propagate(st->conn(), d, other, true, ended.close_reason() == CloseReason::Reset);
}

// ------------------------------------------------------------- FaultProxy

FaultProxy::FaultProxy(Transport& t, std::shared_ptr<Core> core, Address upstream)
    : transport_(t), core_(std::move(core)), upstream_(std::move(upstream)) {}

FaultProxy::~FaultProxy() { close(); }

std::shared_ptr<FaultProxy> FaultProxy::start(Transport& transport, Address listen, Address upstream,
                                              std::uint64_t seed, const std::string& source_host,
                                              Duration connect_timeout) {
  auto core = std::make_shared<Core>(transport, seed);
  std::shared_ptr<FaultProxy> fp(new FaultProxy(transport, core, upstream));

  ProxyOptions po;
  po.backend = upstream;
  po.backend_source = source_host;
  po.connect_timeout = connect_timeout;
  po.connect_canceller = core->connects;
  // Both hooks hold the core: it owns the ledger the proxy's channels write
  // to, which must outlive a backend connect still pending.
  po.backend_init = [core](Channel& backend, const std::shared_ptr<Channel>& frontend) {
    core->attach_backend(backend, frontend);
  };
  po.close_peer = [core](Channel& ended, const std::shared_ptr<Channel>& other) { core->close_peer(ended, other); };
  PipelineInit proxy_init = proxy_initializer(transport, core->ledger, po, core->stats);

  AcceptorOptions ao;
  ao.listen.address = std::move(listen);
  // The proxy is the harness's: one loop, the transport's own, whatever
  // worker loops the server under test runs on.
  ao.listen.use_worker_loops = false;
  ao.child.label = "fault-proxy";
  fp->child_init_ = [core, proxy_init](Channel& ch) {
    auto conn = core->new_conn(ch);
    // Nearest the head: every write towards the client passes it.
    ch.pipeline().add_last(fault_detail::kStageName, std::make_shared<ToxicStage>(core, conn, Direction::Downstream));
    proxy_init(ch);
  };
  fp->acceptor_ = Acceptor::start(transport, core->ledger, fp->child_init_, ao);
  fp->local_ = fp->acceptor_->local_address();
  core->listen_port = fp->local_.port;
  ao.listen.address = fp->local_;  // listening again takes the same port
  fp->acceptor_options_ = ao;
  return fp;
}

void FaultProxy::set_listening(bool on) {
  if (core_->closed) return;
  if (!on) {
    if (acceptor_) acceptor_->close();
    acceptor_.reset();
    return;
  }
  if (acceptor_) return;
  acceptor_ = Acceptor::start(transport_, core_->ledger, child_init_, acceptor_options_);
}

const ConnectionLedger& FaultProxy::ledger() const { return core_->ledger; }

bool FaultProxy::owns_socket(std::uint64_t socket_id) const {
  if (socket_id == 0) return false;
  for (const auto& e : core_->ledger.entries())
    if (e.is_open() && e.socket_id == socket_id) return true;
  return false;
}

bool FaultProxy::owns(const SocketInfo& s) const {
  if (s.socket_id != 0 && owns_socket(s.socket_id)) return true;
  return s.local.port == core_->listen_port || core_->upstream_pairs.count({s.local.port, s.remote.port}) > 0;
}

std::vector<SocketInfo> FaultProxy::inventory() const {
  std::vector<SocketInfo> out;
  for (auto& s : transport_.inventory())
    if (owns(s)) out.push_back(std::move(s));
  return out;
}

std::size_t FaultProxy::open_connections() const {
  std::size_t n = 0;
  for (auto& c : core_->live())
    if (Core::active(c->frontend)) ++n;
  return n;
}

namespace {
void check_non_negative(Duration d, const char* what) {
  if (d < Duration::zero()) throw std::invalid_argument(std::string("FaultProxy: negative ") + what);
}
}  // namespace

void FaultProxy::set_toxics(Direction d, const Toxics& t) {
  check_non_negative(t.latency, "latency");
  check_non_negative(t.jitter, "jitter");
  check_non_negative(t.slice_delay, "slice delay");
  check_non_negative(t.slow_close, "slow_close");
  core_->toxics[d == Direction::Upstream ? 0 : 1] = t;
}

const Toxics& FaultProxy::toxics(Direction d) const { return core_->tox(d); }

void FaultProxy::set_latency(Direction d, Duration latency, Duration jitter) {
  Toxics t = toxics(d);
  t.latency = latency;
  t.jitter = jitter;
  set_toxics(d, t);
}

void FaultProxy::set_bandwidth(Direction d, std::uint64_t bytes_per_second) {
  Toxics t = toxics(d);
  t.bandwidth = bytes_per_second;
  set_toxics(d, t);
}

void FaultProxy::set_slicer(Direction d, std::size_t average, std::size_t variation, Duration delay) {
  Toxics t = toxics(d);
  t.slice_average = average;
  t.slice_variation = variation;
  t.slice_delay = delay;
  set_toxics(d, t);
}

void FaultProxy::set_slow_close(Direction d, Duration delay) {
  Toxics t = toxics(d);
  t.slow_close = delay;
  set_toxics(d, t);
}

void FaultProxy::set_blackhole(bool on) {
  if (core_->blackhole == on) return;
  core_->blackhole = on;
  if (!on) core_->release_held();
}

bool FaultProxy::blackholed() const { return core_->blackhole; }

std::size_t FaultProxy::reset_peer() {
  std::size_t n = 0;
  for (auto& c : core_->live())
    if (core_->reset(*c)) ++n;
  return n;
}

void FaultProxy::set_reset_after(Duration after) {
  check_non_negative(after, "reset delay");
  core_->reset_after = after;
  for (auto& c : core_->live())
    if (Core::active(c->frontend) || Core::active(c->backend)) core_->schedule_reset(c, after);
}

void FaultProxy::clear_toxics() {
  set_toxics(Direction::Upstream, Toxics{});
  set_toxics(Direction::Downstream, Toxics{});
  set_reset_after(Duration::zero());
  set_blackhole(false);
}

FaultProxyCounters FaultProxy::counters() const {
  FaultProxyCounters c = core_->counters;
  c.connections = core_->stats->connections;
  c.backend_connect_failures = core_->stats->backend_connect_failures;
  return c;
}

void FaultProxy::close() {
  if (core_->closed) return;
  core_->closed = true;
  if (acceptor_) acceptor_->close();
  // A backend connect still pending (a SYN the network drops, a full accept
  // queue) holds a socket and a timer until it completes or times out, past
  // the end of the run: it goes now.
  core_->counters.connects_cancelled += core_->connects->pending();
  core_->connects->cancel();
  for (auto& c : core_->live()) {
    core_->cancel_timers(*c);
    c->held = false;
    if (auto fe = c->frontend.lock()) fe->close();
    if (auto be = c->backend.lock()) be->close();
  }
}

std::size_t FaultProxy::pending_backend_connects() const { return core_->connects->pending(); }

bool FaultProxy::closed() const { return core_->closed; }

}  // namespace netcore::asio
