#include "connfail/scenarios/runner.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <set>

#include "connfail/netcore/acceptor.h"
#include "connfail/netcore/channel.h"
#include "connfail/netcore/fault_injector.h"
#include "connfail/netcore/reference_servers.h"
#include "connfail/netcore/socket_owners.h"
#include "connfail/scenarios/bugs/buggy_servers.h"
#include "connfail/scenarios/runner_env.h"
#include "connfail/scenarios/verdict.h"

namespace connfail::scenarios {

using namespace netcore;

const std::vector<VariantInfo>& known_variants() {
  static const std::vector<VariantInfo> v = {
      {"accept-swallows-oom",
       "the Netty 3 accept loop: an allocation failure between accept() and registration is logged and "
       "swallowed; the socket is neither registered nor closed"},
      {"proxy-no-close",
       "a proxy that, when one side ends, does not close the other side"},
      {"idle-last",
       "the idle handler placed at the end of the server pipeline, after the decoder and the responder "
       "that consume every read"},
      {"slow-heartbeat",
       "clients heartbeat at the server's reader idle time instead of a third of it: late under jitter"},
      {"timer-leak", "a server handler schedules a timer on active and never cancels it"},
  };
  return v;
}

bool is_known_variant(const std::string& name) {
  for (const auto& v : known_variants())
    if (v.name == name) return true;
  return false;
}

namespace {

double seconds_of(Duration d) { return std::chrono::duration<double>(d).count(); }

PipelineEvent parse_pipeline_event(const std::string& name) {
  for (auto e : {PipelineEvent::Active, PipelineEvent::Read, PipelineEvent::ReadComplete, PipelineEvent::UserEvent,
                 PipelineEvent::Exception, PipelineEvent::Inactive, PipelineEvent::Write, PipelineEvent::Flush,
                 PipelineEvent::ReadRequest, PipelineEvent::Close})
    if (name == to_string(e)) return e;
  return PipelineEvent::Read;  // the parser rejects unknown names
}

/// One client's request stream: what was sent (and when), what came back,
/// and whether what came back is exactly what was sent, in order.
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

/// Client-side workload: periodic requests (raw bytes or DATA frames) and a
/// check of what comes back.
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

/// The server pipeline for echo and heartbeat servers, with the idle check
/// first (correct) or last (the known bug).
PipelineInit server_pipeline(const ServerSpec& spec, Duration reader, Duration writer, Duration all,
                             PipelineOrder order, bool timer_leak) {
  return [=](Channel& ch) {
    auto& p = ch.pipeline();
    IdleConfig idle;
    idle.reader = reader;
    idle.writer = writer;
    idle.all = all;
    const bool has_idle = idle.reader > Duration::zero() || idle.writer > Duration::zero() ||
                          idle.all > Duration::zero();
    auto add_idle = [&] {
      if (!has_idle) return;
      p.add_last("idle", std::make_shared<IdleStateHandler>(idle));
      p.add_last("idle-closer", std::make_shared<IdleCloser>());
    };
    if (timer_leak) p.add_last("timer-leak", std::make_shared<bugs::TimerLeakHandler>());
    if (order == PipelineOrder::IdleFirst) add_idle();
    if (spec.kind == ServerKind::Heartbeat) {
      p.add_last("frame-decoder", std::make_shared<FrameDecoder>());
      p.add_last("frame-encoder", std::make_shared<FrameEncoder>());
      p.add_last("heartbeat", std::make_shared<HeartbeatResponder>());
      p.add_last("echo", std::make_shared<FrameEcho>());
    } else {
      p.add_last("echo", std::make_shared<EchoHandler>());
    }
    if (order == PipelineOrder::IdleLast) add_idle();
  };
}

struct ClientRt {
  int group = 0;
  int index = 0;
  std::weak_ptr<Channel> channel;
  std::uint64_t ledger_id = 0;
  double planned_close = -1;
  // The planned FIN or RST came due before the connect completed (a slow
  // handshake, or a real-time run whose loop was held up): it happens as
  // soon as the connect completes, not at the end of the workload.
  bool close_due = false;
  bool close_rst = false;
  std::shared_ptr<EchoStats> stats = std::make_shared<EchoStats>();
};

void close_as_planned(Channel& ch, bool rst) {
  if (rst)
    ch.abort();
  else
    ch.close();
}

}  // namespace

RunResult run_scenario(const Scenario& s, const RunOptions& opts) {
  RunResult r;
  r.scenario = s.name;
  r.file = s.file;
  r.description = s.description;
  r.transport = opts.transport;
  r.seed = opts.seed;
  r.variant = opts.variant;
  const auto wall_start = std::chrono::steady_clock::now();

  const std::string& variant = opts.variant;
  if (!variant.empty() && !is_known_variant(variant)) {
    r.findings.push_back({"run-error", "unknown variant '" + variant + "'", "", {}, {}});
    return r;
  }

  std::unique_ptr<RunnerEnv> env;
  try {
    env = make_env(s, opts);
  } catch (const std::exception& e) {
    r.findings.push_back({"run-error", std::string("cannot set up the ") + to_string(opts.transport) +
                                           " transport: " + e.what(), "", {}, {}});
    return r;
  }
  EventLoop& loop = env->loop();
  const double scale = env->time_scale();
  auto T = [&](Duration d) { return Duration(static_cast<std::int64_t>(std::llround(d.count() * scale))); };
  auto now_s = [&] { return seconds_of(loop.now() - env->epoch()) / scale; };
  // Schedules `fn` at scenario time `at` (relative to the run's start).
  auto at = [&](Duration when, std::function<void()> fn) {
    const TimePoint due = env->epoch() + T(when);
    const Duration delay = std::max(Duration::zero(), due - loop.now());
    loop.schedule(delay, std::move(fn));
  };

  ConnectionLedger server_ledger, backend_ledger, client_ledger;
  FaultInjector injector(opts.seed);
  std::uint64_t echoed = 0;

  // Server (and backend).
  const ServerSpec& spec = s.server;
  const PipelineOrder order = variant == "idle-last" ? PipelineOrder::IdleLast : spec.pipeline;
  std::shared_ptr<Acceptor> backend_acceptor;
  std::shared_ptr<Acceptor> acceptor;
  std::shared_ptr<bugs::SwallowingAcceptor> swallowing;
  auto proxy_stats = std::make_shared<ProxyStats>();
  Address server_addr;
  try {
    PipelineInit init;
    if (spec.kind == ServerKind::Proxy) {
      AcceptorOptions bo;
      bo.listen.address = env->backend_listen_address();
      // The backend: a plain echo server, or a heartbeat server (frame codec,
      // PING answered with PONG, DATA echoed) without an idle check.
      ServerSpec heartbeat_backend;
      heartbeat_backend.kind = ServerKind::Heartbeat;
      const PipelineInit backend_init =
          spec.backend == ServerKind::Heartbeat
              ? server_pipeline(heartbeat_backend, Duration::zero(), Duration::zero(), Duration::zero(),
                                PipelineOrder::IdleFirst, false)
              : echo_server();
      backend_acceptor = Acceptor::start(env->backend_transport(), backend_ledger, backend_init, bo);
      const Address backend = env->backend_connect_address(backend_acceptor->local_address());
      PipelineInit proxy =
          variant == "proxy-no-close"
              ? bugs::leaky_proxy_initializer(env->server_transport(), server_ledger, backend,
                                              T(spec.backend_connect_timeout))
              : proxy_server(env->server_transport(), server_ledger, {backend, T(spec.backend_connect_timeout)},
                             proxy_stats);
      IdleConfig idle{T(spec.idle.reader), T(spec.idle.writer), T(spec.idle.all), false};
      const bool has_idle = spec.idle.any();
      const bool leak = variant == "timer-leak";
      init = [proxy, idle, has_idle, order, leak](Channel& ch) {
        if (leak) ch.pipeline().add_last("timer-leak", std::make_shared<bugs::TimerLeakHandler>());
        if (has_idle && order == PipelineOrder::IdleFirst) {
          ch.pipeline().add_last("idle", std::make_shared<IdleStateHandler>(idle));
          ch.pipeline().add_last("idle-closer", std::make_shared<IdleCloser>());
        }
        proxy(ch);
        if (has_idle && order == PipelineOrder::IdleLast) {
          ch.pipeline().add_last("idle", std::make_shared<IdleStateHandler>(idle));
          ch.pipeline().add_last("idle-closer", std::make_shared<IdleCloser>());
        }
      };
    } else {
      init = server_pipeline(spec, T(spec.idle.reader), T(spec.idle.writer), T(spec.idle.all), order,
                             variant == "timer-leak");
    }
    ListenOptions lo;
    lo.address = env->server_listen_address();
    lo.backlog = spec.backlog;
    if (variant == "accept-swallows-oom") {
      swallowing = bugs::SwallowingAcceptor::start(env->server_transport(), server_ledger, init, lo, &injector);
      server_addr = swallowing->local_address();
    } else {
      AcceptorOptions ao;
      ao.listen = lo;
      ao.error_backoff = T(spec.accept_error_backoff);
      ao.faults = &injector;
      acceptor = Acceptor::start(env->server_transport(), server_ledger, init, ao);
      server_addr = acceptor->local_address();
    }
    env->server_started(server_addr);
  } catch (const std::exception& e) {
    r.findings.push_back({"run-error", std::string("cannot start the server: ") + e.what(), "", {}, {}});
    r.wall_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - wall_start).count();
    return r;
  }
  Listener& listener = acceptor ? acceptor->listener() : swallowing->listener();

  // Group bookkeeping.
  std::map<std::string, int> group_index;
  for (std::size_t g = 0; g < s.clients.size(); ++g) group_index[s.clients[g].name] = static_cast<int>(g);
  auto targets_of = [&](const Fault& f) {
    std::vector<int> gs;
    if (f.targets.empty()) {
      for (std::size_t g = 0; g < s.clients.size(); ++g) gs.push_back(static_cast<int>(g));
    } else {
      for (const auto& t : f.targets)
        if (group_index.count(t)) gs.push_back(group_index.at(t));
    }
    return gs;
  };
  std::map<std::string, double> vanished_at;
  std::set<std::string> unhealthy;
  std::vector<ClientRt> clients;
  for (std::size_t g = 0; g < s.clients.size(); ++g)
    for (int i = 0; i < s.clients[g].count; ++i) {
      clients.push_back({static_cast<int>(g), i, {}, 0, -1});
      clients.back().stats->client = clients.size();
    }

  auto vanish_group = [&](int g) {
    const std::string& name = s.clients[static_cast<std::size_t>(g)].name;
    if (vanished_at.count(name)) return;
    vanished_at[name] = now_s();
    env->vanish_group(g);
    // The client application is gone: its channels stop doing anything.
    for (auto& c : clients)
      if (c.group == g)
        if (auto ch = c.channel.lock()) ch->pipeline().remove_all();
  };

  // Clients.
  for (auto& c : clients) {
    const ClientGroup& grp = s.clients[static_cast<std::size_t>(c.group)];
    const Duration start = grp.start + grp.spacing * c.index;
    Duration hb = grp.heartbeat_interval;
    if (variant == "slow-heartbeat" && spec.idle.reader > Duration::zero()) hb = spec.idle.reader;
    if (grp.close == CloseStyle::Fin || grp.close == CloseStyle::Rst) c.planned_close = seconds_of(grp.close_at);
    if (grp.close == CloseStyle::Vanish) c.planned_close = seconds_of(grp.close_at);
    ClientRt* cp = &c;
    at(start, [&, cp, hb] {
      const ClientGroup& g = s.clients[static_cast<std::size_t>(cp->group)];
      if (vanished_at.count(g.name)) return;
      PipelineInit init;
      const bool framed = g.behaviour == ClientBehaviour::Heartbeat;
      if (g.behaviour == ClientBehaviour::Heartbeat) {
        init = heartbeat_client(T(hb), T(g.client_idle));
      }
      const Duration every = g.behaviour == ClientBehaviour::Silent ? Duration::zero() : T(g.request_every);
      auto base = init;
      std::uint64_t* echoed_p = &echoed;
      const std::uint32_t size = g.request_size;
      auto stats = cp->stats;
      init = [base, every, size, framed, echoed_p, stats](Channel& ch) {
        if (base) base(ch);
        ch.pipeline().add_last("requests", std::make_shared<Requester>(every, size, framed, echoed_p, stats));
      };
      ChannelOptions co;
      co.label = g.name;
      connect_channel(env->client_transport(cp->group, cp->index), client_ledger,
                      env->client_connect_address(cp->group, server_addr), T(g.connect_timeout), init, co,
                      [&, cp](std::shared_ptr<Channel> ch, SocketError) {
                        if (!ch) {
                          ++r.client_connects_failed;
                          return;
                        }
                        ++r.client_connects_ok;
                        cp->channel = ch;
                        cp->ledger_id = ch->id();
                        if (cp->close_due) close_as_planned(*ch, cp->close_rst);
                      });
    });
    if (grp.close == CloseStyle::Fin || grp.close == CloseStyle::Rst) {
      const bool rst = grp.close == CloseStyle::Rst;
      at(grp.close_at, [cp, rst] {
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
      unhealthy.insert(grp.name);
      at(grp.close_at, [&, g] { vanish_group(static_cast<int>(g)); });
    }
  }

  // Faults.
  std::map<std::string, std::vector<std::string>> faults_by_group;
  const double run_end = seconds_of(s.duration + s.quiesce);
  for (const Fault& f : s.faults) {
    const auto gs = targets_of(f);
    std::string target;
    if (f.kind == FaultKind::ServerVanish || f.kind == FaultKind::AcceptPause ||
        f.kind == FaultKind::HandlerException || f.kind == FaultKind::AcceptFailure) {
      target = "server";
    } else if (f.targets.empty()) {
      target = "all";
    } else {
      for (const auto& t : f.targets) target += (target.empty() ? "" : ",") + t;
    }
    FaultEvent ev;
    ev.start = seconds_of(f.at);
    ev.end = f.duration > Duration::zero() ? seconds_of(f.at + f.duration) : ev.start;
    const bool lasting = f.kind == FaultKind::Loss || f.kind == FaultKind::BurstLoss ||
                         f.kind == FaultKind::GilbertElliott || f.kind == FaultKind::Jitter ||
                         f.kind == FaultKind::Latency || f.kind == FaultKind::Bandwidth ||
                         f.kind == FaultKind::HalfOpen || f.kind == FaultKind::ServerVanish ||
                         f.kind == FaultKind::HandlerException || f.kind == FaultKind::AcceptFailure;
    if (lasting && f.duration == Duration::zero()) ev.end = run_end;
    ev.kind = to_string(f.kind);
    ev.target = target;
    r.faults.push_back(ev);
    const std::string label = std::string(to_string(f.kind)) + " at " + format_duration(f.at) +
                              (f.duration > Duration::zero() ? " for " + format_duration(f.duration) : "") +
                              " (" + target + ")";
    if (target == "all" || target == "server")
      faults_by_group[""].push_back(label);
    else
      for (const auto& t : f.targets) faults_by_group[t].push_back(label);

    const bool disruptive = f.kind == FaultKind::HalfOpen || f.kind == FaultKind::Partition ||
                            f.kind == FaultKind::Rst || f.kind == FaultKind::ServerVanish;
    if (disruptive)
      for (int g : gs) unhealthy.insert(s.clients[static_cast<std::size_t>(g)].name);
    if (f.kind == FaultKind::ServerVanish)
      for (const auto& grp : s.clients) unhealthy.insert(grp.name);

    switch (f.kind) {
      case FaultKind::HalfOpen:
        at(f.at, [&, gs] {
          for (int g : gs) vanish_group(g);
        });
        break;
      case FaultKind::AcceptPause:
        // Through the acceptor, so that its error back-off cannot end the
        // pause early.
        at(f.at, [&] {
          if (acceptor)
            acceptor->pause_accepting();
          else
            listener.pause();
        });
        at(f.at + f.duration, [&] {
          if (acceptor)
            acceptor->resume_accepting();
          else
            listener.resume();
        });
        break;
      case FaultKind::HandlerException: {
        const PipelineEvent event = parse_pipeline_event(f.event);
        at(f.at, [&injector, f, event] {
          if (f.nth > 0)
            injector.throw_on_nth(f.handler, event, f.nth);
          else
            injector.throw_with_probability(f.handler, event, f.probability);
        });
        if (f.duration > Duration::zero())
          at(f.at + f.duration, [&injector, f, event] { injector.throw_with_probability(f.handler, event, 0.0); });
        break;
      }
      case FaultKind::AcceptFailure:
        at(f.at, [&injector, f] {
          if (f.every > 0)
            injector.fail_registration_every(f.every);
          else
            injector.fail_registration_with_probability(f.probability);
        });
        if (f.duration > Duration::zero())
          at(f.at + f.duration, [&injector] {
            injector.fail_registration_every(0);
            injector.fail_registration_with_probability(0.0);
          });
        break;
      case FaultKind::Rst:
        at(f.at, [&, gs] {
          for (int g : gs) {
            std::vector<std::shared_ptr<Channel>> chans;
            for (auto& c : clients)
              if (c.group == g)
                if (auto ch = c.channel.lock(); ch && ch->is_active()) chans.push_back(ch);
            env->reset_connections(g, chans);
          }
        });
        break;
      default:
        // Link faults: the environment applies and removes them.
        at(f.at, [&, f, gs] { env->apply_link_fault(f, gs, true); });
        if (f.duration > Duration::zero())
          at(f.at + f.duration, [&, f, gs] { env->apply_link_fault(f, gs, false); });
        break;
    }
  }

  // Sampling: open connections per state over time, and when each socket
  // entered its state (for transports that do not say).
  std::map<std::string, double> state_since;
  std::map<std::string, ConnHistory> histories;
  std::map<std::string, std::string> last_state;
  auto sample = [&] {
    Sample smp;
    smp.t = now_s();
    for (const auto& info : env->inventory()) {
      if (info.role == SocketRole::Listener || env->excluded(info)) continue;
      const std::string st = netcore::to_string(info.state);
      ++smp.by_state[st];
      const std::string key = conn_key(info.node, info.local, info.remote);
      if (last_state[key] != st) {
        last_state[key] = st;
        histories[key].states.emplace_back(smp.t, st);
        state_since.emplace(key + " " + st, smp.t);
      }
    }
    smp.open_channels = static_cast<int>(server_ledger.open_count());
    r.samples.push_back(std::move(smp));
  };
  const Duration sample_every = T(opts.sample_every);
  const TimePoint end_of_run = env->epoch() + T(s.duration + s.quiesce);
  std::function<void()> sampler;
  TimerId sample_timer = 0;
  sampler = [&] {
    sample();
    if (loop.now() + sample_every <= end_of_run) sample_timer = loop.schedule(sample_every, sampler);
    else sample_timer = 0;
  };
  sample_timer = loop.schedule(Duration::zero(), sampler);

  // End of the workload: clients still open close with FIN.
  at(s.duration, [&] {
    for (auto& c : clients) {
      const std::string& g = s.clients[static_cast<std::size_t>(c.group)].name;
      if (vanished_at.count(g)) continue;
      if (auto ch = c.channel.lock()) ch->close();
    }
  });

  loop.run_until([] { return false; }, end_of_run - loop.now());
  if (sample_timer != 0) loop.cancel(sample_timer);

  // Verdict inputs, before teardown.
  VerdictInput in;
  in.scenario = &s;
  in.end_seconds = now_s();
  in.time_scale = scale;
  in.state_since = std::move(state_since);
  in.histories = std::move(histories);
  in.vanished_at = vanished_at;
  in.faults_by_group = faults_by_group;
  in.unhealthy_groups = unhealthy;
  in.fault_events = r.faults;
  std::vector<SocketInfo> inv;
  for (const auto& info : env->inventory())
    if (!env->excluded(info)) inv.push_back(info);
  in.sockets = attribute_owners(inv, {&server_ledger, &backend_ledger, &client_ledger});
  // Snapshots: teardown adds and closes entries, the verdict is about now.
  const std::vector<LedgerEntry> server_entries = server_ledger.entries();
  const std::vector<LedgerEntry> backend_entries = backend_ledger.entries();
  const std::vector<LedgerEntry> client_entries = client_ledger.entries();
  // Server-side channels and their groups.
  for (const auto& e : server_entries) {
    if (e.side != Side::Server) continue;
    in.server_conns.push_back({&e, env->group_of_server_conn(e), -1});
  }
  for (const auto& c : clients) {
    if (c.ledger_id == 0) continue;
    in.client_conns.push_back({&client_entries.at(c.ledger_id - 1), s.clients[static_cast<std::size_t>(c.group)].name,
                               c.planned_close});
  }
  // Channels still open that should not be: anything in the server and
  // backend ledgers (every client closed or vanished by now).
  for (const auto* l : {&server_entries, &backend_entries})
    for (const auto& e : *l)
      if (e.is_open()) {
        // A half-open peer's server connection is reported by the half-open
        // check when it is on; otherwise here.
        const std::string g = env->group_of_server_conn(e);
        if (s.expect.half_open_reaped_within_grace && vanished_at.count(g)) continue;
        in.stale_channels.push_back(&e);
      }

  // Teardown: close everything, then look for what outlives it.
  if (acceptor) acceptor->close();
  if (swallowing) swallowing->close();
  if (backend_acceptor) backend_acceptor->close();
  for (auto& c : clients)
    if (auto ch = c.channel.lock()) ch->abort();
  env->teardown();
  loop.run_until([&] { return server_ledger.open_count() == 0; }, T(std::chrono::seconds(1)));
  // Close the stale ones too (whatever a broken variant left open), so the
  // timer check sees a clean slate and nothing outlives the transport.
  for (auto* l : {&server_ledger, &backend_ledger, &client_ledger})
    for (auto& ch : l->open_channels()) ch->abort();
  env->settle();
  in.pending_timers_after_teardown = loop.pending_timers();
  in.fd_delta = env->fd_delta();

  r.findings = compute_findings(in);
  // Echoed bytes must be the bytes sent, in order, whatever the faults: TCP
  // and a correct server (or proxy) never reorder, duplicate or corrupt.
  for (const auto& c : clients) {
    ClientOutcome o;
    o.group = s.clients[static_cast<std::size_t>(c.group)].name;
    o.index = c.index;
    o.connected = c.ledger_id != 0;
    o.bytes_sent = c.stats->sent;
    o.bytes_received = c.stats->received;
    o.echo_in_order = c.stats->in_order;
    TimePoint end = end_of_run;
    if (c.ledger_id != 0) {
      const LedgerEntry& e = client_entries.at(c.ledger_id - 1);
      if (e.closed_at) {
        end = std::min(end, *e.closed_at);
        o.closed_at = seconds_of(*e.closed_at - env->epoch()) / scale;
        o.close_reason = netcore::to_string(e.reason);
      }
    }
    o.bytes_sent_1s_before_end = c.stats->sent_before(end - T(std::chrono::seconds(1)));
    if (!o.echo_in_order) {
      Finding f;
      f.kind = "echo-mismatch";
      f.message = "client " + std::to_string(c.index) + " of group '" + o.group +
                  "' got back bytes that differ from what it sent at the same offset (lost, duplicated, "
                  "reordered or corrupted on the way)";
      if (c.ledger_id != 0) {
        const LedgerEntry& e = client_entries.at(c.ledger_id - 1);
        f.connection = conn_text(e.local, e.remote);
      }
      f.faults_seen = faults_by_group[""];
      const auto& mine = faults_by_group[o.group];
      f.faults_seen.insert(f.faults_seen.end(), mine.begin(), mine.end());
      r.findings.push_back(std::move(f));
    }
    r.clients.push_back(std::move(o));
  }
  r.state_changes = env->state_changes();
  for (const auto* l : {&server_entries, &backend_entries, &client_entries})
    r.ledger_entries.insert(r.ledger_entries.end(), l->begin(), l->end());
  for (const auto& e : server_entries)
    if (e.side == Side::Server) ++r.connections_opened;
  for (const auto& sc : in.server_conns) {
    const auto& e = *sc.entry;
    ++r.ledger[e.closed_at ? netcore::to_string(e.reason) : "open"];
  }
  r.bytes_echoed = echoed;
  r.scenario_seconds = seconds_of(s.duration + s.quiesce);
  r.trace_hash = env->trace_hash();
  r.passed = r.findings.empty();
  // Everything that holds transport objects goes before the transport
  // itself (the swallowing acceptor keeps its leaked sockets until now).
  acceptor.reset();
  swallowing.reset();
  backend_acceptor.reset();
  clients.clear();
  env.reset();
  r.wall_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - wall_start).count();
  return r;
}

}  // namespace connfail::scenarios
