#include "connfail/scenarios/workload.h"

#include <algorithm>
#include <cmath>

#include "connfail/netcore/acceptor.h"
#include "connfail/netcore/frame_codec.h"
#include "connfail/scenarios/verdict.h"

namespace connfail::scenarios {

using namespace netcore;

/// One connection's request stream: what was sent (and when), what came
/// back, and whether what came back is exactly what was sent, in order.
struct EchoStats {
  std::uint64_t client = 0;  // seeds the byte pattern
  std::uint64_t sent = 0;
  std::uint64_t received = 0;
  bool in_order = true;
  std::vector<std::pair<TimePoint, std::uint64_t>> sent_by;  // (loop time, bytes sent so far)

  /// The byte at stream offset `i`: a hash, so that a lost, duplicated or
  /// reordered chunk of any length shows as a mismatch.
  std::uint8_t byte_at(std::uint64_t i) const {
    std::uint64_t z = (i >> 3) ^ (client << 40) ^ 0x9E3779B97F4A7C15ULL;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    z ^= z >> 31;
    return static_cast<std::uint8_t>(z >> ((i & 7) * 8));
  }
  Bytes next(std::uint32_t size, TimePoint now) {
    Bytes b(size);
    for (std::uint32_t k = 0; k < size; ++k) b[k] = byte_at(sent + k);
    sent += size;
    sent_by.emplace_back(now, sent);
    return b;
  }
  void got(const Bytes& b) {
    for (std::size_t k = 0; k < b.size() && in_order; ++k)
      if (received + k >= sent || b[k] != byte_at(received + k)) in_order = false;
    received += b.size();
  }
  std::uint64_t sent_before(TimePoint t) const {
    std::uint64_t n = 0;
    for (const auto& [at, total] : sent_by)
      if (at <= t) n = total;
    return n;
  }
};

namespace {

/// Client-side request stream: periodic requests (raw bytes or DATA frames)
/// and a check of what comes back.
class Requester final : public Handler {
 public:
  Requester(Duration every, std::uint32_t size, bool framed, std::uint64_t* echoed, std::shared_ptr<EchoStats> stats)
      : every_(every), size_(size), framed_(framed), echoed_(echoed), stats_(std::move(stats)) {}
  void channel_active(Context& ctx) override {
    if (every_ > Duration::zero()) arm(ctx);
    ctx.fire_channel_active();
  }
  void channel_read(Context& ctx, std::any msg) override {
    if (const auto* b = std::any_cast<Bytes>(&msg)) {
      *echoed_ += b->size();
      stats_->got(*b);
      return;
    }
    if (const auto* f = std::any_cast<Frame>(&msg); f && f->kind == FrameKind::Data) {
      *echoed_ += f->payload.size();
      stats_->got(f->payload);
      return;
    }
    ctx.fire_channel_read(std::move(msg));
  }
  void channel_inactive(Context& ctx) override {
    stop(ctx);
    ctx.fire_channel_inactive();
  }
  void handler_removed(Context& ctx) override { stop(ctx); }

 private:
  void arm(Context& ctx) {
    std::weak_ptr<Channel> weak = ctx.channel().shared_from_this();
    timer_ = ctx.loop().schedule(every_, [this, weak, &ctx] {
      timer_ = 0;
      auto ch = weak.lock();
      if (!ch || !ch->is_active()) return;
      Bytes payload = stats_->next(size_, ch->loop().now());
      if (framed_)
        ch->write_and_flush(Frame{FrameKind::Data, std::move(payload)});
      else
        ch->write_and_flush(std::move(payload));
      if (ch->is_active() && !ctx.removed()) arm(ctx);
    });
  }
  void stop(Context& ctx) {
    if (timer_ != 0) ctx.loop().cancel(timer_);
    timer_ = 0;
  }
  Duration every_;
  std::uint32_t size_;
  bool framed_;
  std::uint64_t* echoed_;
  std::shared_ptr<EchoStats> stats_;
  TimerId timer_ = 0;
};

void close_as_planned(Channel& ch, bool rst) {
  if (rst)
    ch.abort();
  else
    ch.close();
}

std::string secs(double s) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.3fs", s);
  return buf;
}

}  // namespace

Workload::~Workload() = default;

void Workload::schedule(const Address& server, const VariantContext& vctx) {
  server_ = server;
  const Scenario& s = rc_.s;
  for (const auto& g : s.clients) plans_.push_back(make_client_plan(g, rc_.opts.variant, vctx));
  for (std::size_t g = 0; g < s.clients.size(); ++g)
    for (int i = 0; i < s.clients[g].count; ++i) {
      ClientRt c;
      c.group = static_cast<int>(g);
      c.index = i;
      c.number = clients_.size() + 1;
      c.rng.seed(std::uint64_t{rc_.opts.seed} * 0x9E3779B97F4A7C15ULL + c.number);
      clients_.push_back(std::move(c));
    }
  for (auto& c : clients_) {
    const ClientGroup& grp = s.clients[static_cast<std::size_t>(c.group)];
    if (grp.close != CloseStyle::None) c.planned_close = seconds_of(grp.close_at);
    ClientRt* cp = &c;
    rc_.at(grp.start + grp.spacing * c.index, [this, cp] { connect(*cp); });
    if (grp.close == CloseStyle::Fin || grp.close == CloseStyle::Rst) {
      const bool rst = grp.close == CloseStyle::Rst;
      rc_.at(grp.close_at, [cp, rst] {
        cp->finished = true;  // a planned close: no reconnect after it
        if (auto ch = cp->channel.lock()) {
          close_as_planned(*ch, rst);
        } else {
          cp->close_due = true;
          cp->close_rst = rst;
        }
      });
    }
  }
  for (std::size_t g = 0; g < s.clients.size(); ++g) {
    const ClientGroup& grp = s.clients[g];
    if (grp.close == CloseStyle::Vanish) {
      rc_.unhealthy.insert(grp.name);
      rc_.at(grp.close_at, [this, g] {
        const std::string& name = rc_.s.clients[g].name;
        if (rc_.vanished_at.count(name)) return;
        rc_.vanished_at[name] = rc_.now_s();
        rc_.env->vanish_group(static_cast<int>(g));
        vanish_group(static_cast<int>(g));
      });
    }
  }
}

void Workload::connect(ClientRt& c) {
  const ClientGroup& g = rc_.s.clients[static_cast<std::size_t>(c.group)];
  if (rc_.vanished_at.count(g.name)) return;
  // A reconnect only while the client still wants a connection; the first
  // connect always happens (a close already due then follows at once).
  if (c.attempts > 0 && (c.finished || rc_.workload_over)) return;
  const int attempt = c.attempts++;
  if (attempt > 0) ++c.reconnects;
  auto stats = std::make_shared<EchoStats>();
  stats->client = c.number;
  std::uint64_t* echoed = &rc_.echoed;
  RunContext* rc = &rc_;
  ClientContext ctx{rc_.loop,
                    [rc](Duration d) { return rc->T(d); },
                    g.name,
                    c.index,
                    c.number,
                    attempt,
                    rc_.opts.seed,
                    server_reader_idle(rc_.s.server),
                    [rc, echoed, stats](const RequestSpec& r) -> std::shared_ptr<Handler> {
                      return std::make_shared<Requester>(rc->T(r.every), r.size, r.framed, echoed, stats);
                    }};
  const PipelineInit init = plans_[static_cast<std::size_t>(c.group)].connect(ctx);
  ClientRt* cp = &c;
  ChannelOptions co;
  co.label = g.name;
  co.tcp = g.tcp;
  connect_channel(rc_.env->client_transport(c.group, c.index), rc_.client_ledger,
                  rc_.env->client_connect_address(c.group, server_), rc_.T(g.connect_timeout), init, co,
                  [this, cp, stats](std::shared_ptr<Channel> ch, SocketError e) {
                    if (e == SocketError::Cancelled) return;  // the run is over (abort_all)
                    if (!ch) {
                      ++rc_.result.client_connects_failed;
                      cp->connect_failures.push_back(rc_.now_s());
                      lost(*cp);
                      return;
                    }
                    ++rc_.result.client_connects_ok;
                    cp->channel = ch;
                    cp->ledger_ids.push_back(ch->id());
                    cp->streams.push_back(stats);
                    cp->failed_in_row = 0;
                    // Whatever the client's handlers do, its end is seen here.
                    ch->on_close([this, cp] { lost(*cp); });
                    if (cp->close_due) close_as_planned(*ch, cp->close_rst);
                  },
                  "", connects_);
}

Duration Workload::backoff(ClientRt& c, const ReconnectPolicy& p) {
  // The n-th wait in a row: min(max, initial * multiplier^(n-1)), times a
  // random factor in [1 - jitter, 1].
  const int n = std::max(1, c.failed_in_row);
  double wait = static_cast<double>(p.initial.count()) * std::pow(p.multiplier, n - 1);
  wait = std::min(wait, static_cast<double>(p.max.count()));
  std::uniform_real_distribution<double> u(1.0 - p.jitter, 1.0);
  return Duration(static_cast<std::int64_t>(wait * u(c.rng)));
}

void Workload::lost(ClientRt& c) {
  const ClientPlan& plan = plans_[static_cast<std::size_t>(c.group)];
  if (!plan.reconnect || c.finished || rc_.workload_over) return;
  if (rc_.vanished_at.count(rc_.s.clients[static_cast<std::size_t>(c.group)].name)) return;
  ++c.failed_in_row;
  if (plan.reconnect->max_attempts > 0 && c.failed_in_row > plan.reconnect->max_attempts) {
    c.finished = true;
    c.gave_up = true;
    return;
  }
  ClientRt* cp = &c;
  rc_.schedule(rc_.T(backoff(c, *plan.reconnect)), [this, cp] { connect(*cp); });
}

void Workload::vanish_group(int g) {
  // The client application is gone: its channels stop doing anything.
  for (auto& c : clients_)
    if (c.group == g) {
      c.finished = true;
      if (auto ch = c.channel.lock()) ch->pipeline().remove_all();
    }
}

std::vector<std::shared_ptr<Channel>> Workload::open_channels(int g) const {
  std::vector<std::shared_ptr<Channel>> out;
  for (const auto& c : clients_)
    if (c.group == g)
      if (auto ch = c.channel.lock(); ch && ch->is_active()) out.push_back(ch);
  return out;
}

void Workload::end() {
  rc_.workload_over = true;
  for (auto& c : clients_) {
    const std::string& g = rc_.s.clients[static_cast<std::size_t>(c.group)].name;
    if (rc_.vanished_at.count(g)) continue;
    if (auto ch = c.channel.lock()) ch->close();
  }
}

void Workload::abort_all() {
  rc_.workload_over = true;
  connects_->cancel();
  for (auto& c : clients_)
    if (auto ch = c.channel.lock()) ch->abort();
}

void Workload::collect(const std::vector<LedgerEntry>& client_entries) {
  RunResult& r = rc_.result;
  const TimePoint end_of_run = rc_.end_of_run();
  for (const auto& c : clients_) {
    ClientOutcome o;
    o.group = rc_.s.clients[static_cast<std::size_t>(c.group)].name;
    o.index = c.index;
    o.connected = !c.ledger_ids.empty();
    o.reconnects = c.reconnects;
    o.connections = static_cast<int>(c.ledger_ids.size());
    for (std::size_t k = 0; k < c.streams.size(); ++k) {
      const EchoStats& st = *c.streams[k];
      o.bytes_sent += st.sent;
      o.bytes_received += st.received;
      o.echo_in_order = o.echo_in_order && st.in_order;
      TimePoint end = end_of_run;
      const LedgerEntry& e = client_entries.at(c.ledger_ids[k] - 1);
      if (e.closed_at) end = std::min(end, *e.closed_at);
      o.bytes_sent_1s_before_end += st.sent_before(end - rc_.T(std::chrono::seconds(1)));
    }
    if (!c.ledger_ids.empty()) {
      const LedgerEntry& e = client_entries.at(c.ledger_ids.back() - 1);
      if (e.closed_at) {
        o.closed_at = rc_.scenario_s(*e.closed_at);
        o.close_reason = netcore::to_string(e.reason);
      }
    }
    if (!o.echo_in_order) {
      Finding f;
      f.kind = "echo-mismatch";
      f.evidence = "client";
      f.message = "client " + std::to_string(c.index) + " of group '" + o.group +
                  "' got back bytes that differ from what it sent at the same offset (lost, duplicated, "
                  "reordered or corrupted on the way)";
      if (!c.ledger_ids.empty()) {
        const LedgerEntry& e = client_entries.at(c.ledger_ids.back() - 1);
        f.connection = conn_text(e.local, e.remote);
      }
      f.faults_seen = rc_.faults_by_group[""];
      const auto& mine = rc_.faults_by_group[o.group];
      f.faults_seen.insert(f.faults_seen.end(), mine.begin(), mine.end());
      r.findings.push_back(std::move(f));
    }
    r.reconnects += static_cast<std::uint64_t>(c.reconnects);
    if (rc_.s.expect.reconnect && plans_[static_cast<std::size_t>(c.group)].reconnect)
      reconnect_findings(c, client_entries);
    r.clients.push_back(std::move(o));
  }
}

void Workload::reconnect_findings(const ClientRt& c, const std::vector<LedgerEntry>& entries) {
  const Scenario& s = rc_.s;
  const ClientGroup& g = s.clients[static_cast<std::size_t>(c.group)];
  if (rc_.vanished_at.count(g.name)) return;
  const double within = seconds_of(s.expect.reconnect->within);
  const double stable = seconds_of(s.expect.reconnect->stable);
  const double workload_end = seconds_of(s.duration);
  // The client's own end: its planned close, or the end of the workload.
  const double own_end = c.planned_close >= 0 ? c.planned_close : workload_end;
  struct Conn {
    double opened, closed;  // closed: -1 when still open at the verdict
    std::string reason;
    std::uint64_t id;
  };
  std::vector<Conn> conns;
  for (auto id : c.ledger_ids) {
    const LedgerEntry& e = entries.at(id - 1);
    conns.push_back({rc_.scenario_s(e.opened_at), e.closed_at ? rc_.scenario_s(*e.closed_at) : -1,
                     e.closed_at ? netcore::to_string(e.reason) : "open", e.id});
  }
  auto lasted = [&](const Conn& k) {
    const double end = k.closed < 0 ? own_end : std::min(k.closed, own_end);
    return end - k.opened >= std::min(stable, own_end - k.opened) - 1e-9;
  };
  // Every moment the client was without a connection it did not choose to
  // lose: its first connect, and each end of a connection before its own end.
  std::vector<std::pair<double, std::string>> lost_at;
  lost_at.emplace_back(seconds_of(g.start + g.spacing * c.index), "its first connect");
  for (const auto& k : conns)
    if (k.closed >= 0 && k.closed < own_end - 1e-9)
      lost_at.emplace_back(k.closed, "connection #" + std::to_string(k.id) + " ended (" + k.reason + ")");
  for (const auto& [t, what] : lost_at) {
    if (t + within > own_end + 1e-9) {
      // The bound ends after the client's own end: this cannot be judged.
      bool back = false;
      for (const auto& k : conns)
        if (k.opened >= t - 1e-9 && lasted(k)) back = true;
      if (!back)
        unjudged_.push_back("client " + std::to_string(c.index) + " of group '" + g.name + "': " + what + " at " +
                            secs(t) + "; its bound (" + format_duration(s.expect.reconnect->within) +
                            ") ends after its own end at " + secs(own_end) + ", and it was not back by then: not judged");
      continue;
    }
    bool back = false;
    for (const auto& k : conns)
      if (k.opened >= t - 1e-9 && k.opened <= t + within + 1e-9 && lasted(k)) back = true;
    if (back) continue;
    Finding f;
    f.kind = "not-reconnected";
    f.evidence = "client";
    int tries = 0;
    double longest = 0;
    std::map<std::string, int> ends;
    for (const auto& k : conns)
      if (k.opened >= t - 1e-9 && k.opened <= t + within + 1e-9) {
        ++tries;
        longest = std::max(longest, (k.closed < 0 ? own_end : k.closed) - k.opened);
        ++ends[k.reason];
      }
    int failed = 0;
    for (double ft : c.connect_failures)
      if (ft >= t - 1e-9 && ft <= t + within + 1e-9) ++failed;
    std::string how;
    for (const auto& [reason, n] : ends) how += (how.empty() ? "" : ", ") + std::to_string(n) + " " + reason;
    f.message = "client " + std::to_string(c.index) + " of group '" + g.name + "' was not back within " +
                format_duration(s.expect.reconnect->within) + " after " + what + " at " + secs(t) + ": " +
                std::to_string(tries) + " connection(s) in that time" +
                (tries > 0 ? " (the longest open " + secs(longest) + "; ended: " + how + ")" : "") + ", " +
                std::to_string(failed) + " failed connect(s)" + (c.gave_up ? "; it gave up reconnecting" : "") +
                "; a connection counts as back once it stays open " + format_duration(s.expect.reconnect->stable);
    for (const auto& k : conns)
      if (k.opened >= t - 1e-9 && k.opened <= t + within + 1e-9)
        f.history.push_back("t=" + secs(k.opened) + " connection #" + std::to_string(k.id) + " opened" +
                            (k.closed >= 0 ? ", closed at t=" + secs(k.closed) + " (" + k.reason + ")" : ""));
    f.faults_seen = rc_.faults_by_group[""];
    const auto& mine = rc_.faults_by_group[g.name];
    f.faults_seen.insert(f.faults_seen.end(), mine.begin(), mine.end());
    rc_.result.findings.push_back(std::move(f));
    break;  // one finding per client
  }
}

}  // namespace connfail::scenarios
