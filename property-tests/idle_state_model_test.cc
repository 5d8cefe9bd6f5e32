// Model-based (stateful) property test of netcore::IdleStateHandler.
//
// RapidCheck generates a config and a sequence of commands (read, read burst
// start / read-complete, write, write completions, advance time, close),
// runs them on an EmbeddedChannel holding the handler plus a recorder, and
// after every command compares the IdleStateEvents that fired (kind, first
// flag, time) with what a small reference model says must fire.
//
// The model is deliberately not the handler's algorithm: it never re-arms
// timers lazily. It says when each kind is due ("period after the last
// activity, then every period while idle") and lets the test check that the
// handler's lazy re-arming lands on exactly those instants.
//
// RC_PARAMS raises the case count, e.g. RC_PARAMS="max_success=2000".
#include <gtest/gtest.h>
#include <rapidcheck.h>
#include <rapidcheck/gtest.h>
#include <rapidcheck/state.h>

#include <algorithm>
#include <cstdint>
#include <deque>
#include <iostream>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "connfail/netcore/channel.h"
#include "connfail/netcore/idle_state_handler.h"
#include "connfail/netcore/testing/embedded_channel.h"

namespace {

using namespace netcore;
using netcore::testing::EmbeddedChannel;

std::string show_duration(Duration d) {
  std::ostringstream os;
  std::int64_t ns = d.count();
  if (ns < 0) {
    os << '-';
    ns = -ns;
  }
  os << ns / 1000000;
  if (const std::int64_t rem = ns % 1000000; rem != 0) {
    std::string frac = std::to_string(rem);
    os << '.' << std::string(6 - frac.size(), '0') << frac;
  }
  os << "ms";
  return os.str();
}

// ---------------------------------------------------------------------------
// Generated configuration

struct Config {
  Duration reader{0};
  Duration writer{0};
  Duration all{0};
  bool observe_output = false;
};

void showValue(const Config& c, std::ostream& os) {
  os << "{reader=" << show_duration(c.reader) << " writer=" << show_duration(c.writer)
     << " all=" << show_duration(c.all) << " observe_output=" << c.observe_output << "}";
}

rc::Gen<Config> gen_config() {
  // 0 and a negative value disable a kind; 0.5 ms is raised to 1 ms; equal
  // and commensurate periods make different kinds fall due together.
  const auto period = rc::gen::element<Duration>(-1ms, 0ms, 0ms, 500us, 10ms, 20ms, 30ms);
  return rc::gen::build<Config>(rc::gen::set(&Config::reader, period),
                                rc::gen::set(&Config::writer, period),
                                rc::gen::set(&Config::all, period),
                                rc::gen::set(&Config::observe_output));
}

// ---------------------------------------------------------------------------
// Reference model

enum Kind { kReader = 0, kWriter = 1, kAll = 2 };
constexpr IdleState kState[3] = {IdleState::ReaderIdle, IdleState::WriterIdle, IdleState::AllIdle};

struct Ev {
  IdleState kind;
  bool first;
  bool operator==(const Ev& o) const { return kind == o.kind && first == o.first; }
  bool operator<(const Ev& o) const { return kind != o.kind ? kind < o.kind : first < o.first; }
};
using EvSet = std::vector<Ev>;  // sorted: events of one instant, compared as a set

// What must fire at one instant. Usually one option; see the tie rule below.
struct Instant {
  TimePoint at;
  std::vector<EvSet> options;
};

struct Model {
  // Rule: <= 0 disables a kind; a positive period below 1 ms counts as 1 ms.
  explicit Model(const Config& c) : observe(c.observe_output) {
    const Duration p[3] = {c.reader, c.writer, c.all};
    for (int k = 0; k < 3; ++k) {
      period[k] = p[k] <= 0ns ? 0ns : std::max<Duration>(p[k], 1ms);
      due[k] = period[k];  // activation at t=0 counts as activity of every kind
    }
  }

  bool on(int k) const { return period[k] > 0ns; }
  // Rule: a read burst in progress (read seen, read-complete not yet) means
  // "not reader idle" and "not all idle"; nothing of those kinds is due.
  bool live(int k) const { return open && on(k) && !(reading && k != kWriter); }

  // Rule: a read marks a burst and starts a new idle stretch (next event is
  // "first") for reader and all -- only if one of them is enabled.
  void read() {
    if (!on(kReader) && !on(kAll)) return;
    reading = true;
    first[kReader] = first[kAll] = true;
  }
  // Rule: the burst's read-complete is the read activity (once per burst; a
  // read-complete without a read does nothing).
  void read_complete() {
    if (!reading) return;
    reading = false;
    due[kReader] = now + period[kReader];
    due[kAll] = now + period[kAll];
  }
  // Rule: a write does not count until it completes; the channel keeps it
  // pending. After close nothing reaches the embedded socket.
  void write(std::size_t bytes) {
    if (!open) return;
    stalled.push_back(bytes);
    pending += bytes;
  }
  // Rule: completion (success or failure) is the write activity, for writer
  // and all, and starts a new stretch for both. k oldest writes complete.
  void complete(std::size_t k) {
    for (; k > 0 && !stalled.empty(); --k) {
      pending -= stalled.front();
      stalled.pop_front();
      ++completions;
    }
    if (!on(kWriter) && !on(kAll)) return;  // the handler does not watch writes then
    due[kWriter] = now + period[kWriter];
    due[kAll] = now + period[kAll];
    first[kWriter] = first[kAll] = true;
  }
  // Rule: after close nothing ever fires (timers are cancelled on inactive).
  void close() { open = false; }

  // A kind found idle at `now`: due again one period later; reports an event
  // unless observe_output suppresses it.
  //
  // observe_output rule, as netcore implements Netty's hasOutputChanged: the
  // first event of a stretch always fires; a later writer/all event is
  // suppressed if the output changed (completion count or pending bytes)
  // since the previous writer-or-all idle check. Choice encoded here: the
  // progress snapshot is ONE per handler, shared by the writer and all checks
  // (as in Netty 4.1), updated at every such check, first or not. A zero-byte
  // write that stays pending is no progress (netcore counts bytes; Netty
  // would also notice a new head message).
  std::optional<Ev> idle_check(int k) {
    due[k] = now + period[k];
    const bool was_first = first[k];
    first[k] = false;
    if (k != kReader && observe) {
      const bool changed = completions != seen_completions || pending != seen_pending;
      seen_completions = completions;
      seen_pending = pending;
      if (changed && !was_first) return std::nullopt;
    }
    return Ev{kState[k], was_first};
  }

  // Rule: an idle event of kind k fires at last-activity + n * period (n >= 1)
  // while no activity of that kind happens; events due at the end instant
  // fire (before any command issued at that instant).
  std::vector<Instant> advance(Duration d) {
    std::vector<Instant> out;
    const TimePoint end = now + d;
    for (;;) {
      TimePoint t = TimePoint::max();
      for (int k = 0; k < 3; ++k)
        if (live(k)) t = std::min(t, due[k]);
      if (t > end) break;
      now = t;
      bool at[3];
      for (int k = 0; k < 3; ++k) at[k] = live(k) && due[k] == t;
      EvSet base;
      auto add = [](EvSet& s, std::optional<Ev> e) {
        if (e) s.push_back(*e);
      };
      if (at[kReader]) add(base, idle_check(kReader));
      Instant in{t, {}};
      if (at[kWriter] && at[kAll] && observe) {
        // Choice: the model does not pin the order of two timers due at the
        // same instant (a loop detail). With the shared snapshot the check
        // that runs first may be suppressed, the second never is, so either
        // order's outcome is accepted. The state afterwards is the same.
        Model other = *this;
        EvSet a = base, b = base;
        add(a, idle_check(kWriter));
        add(a, idle_check(kAll));
        add(b, other.idle_check(kAll));
        add(b, other.idle_check(kWriter));
        std::sort(a.begin(), a.end());
        std::sort(b.begin(), b.end());
        in.options.push_back(a);
        if (b != a) in.options.push_back(b);
      } else {
        if (at[kWriter]) add(base, idle_check(kWriter));
        if (at[kAll]) add(base, idle_check(kAll));
        std::sort(base.begin(), base.end());
        in.options.push_back(base);
      }
      if (in.options.size() > 1 || !in.options[0].empty()) out.push_back(std::move(in));
    }
    now = end;
    return out;
  }

  Duration period[3];
  bool observe;
  TimePoint now{0};
  bool open = true;
  bool reading = false;
  TimePoint due[3];
  bool first[3] = {true, true, true};
  std::deque<std::size_t> stalled;  // pending writes' sizes, oldest first
  std::size_t pending = 0;
  std::uint64_t completions = 0;
  std::size_t seen_pending = 0;  // observe_output snapshot, taken at activation
  std::uint64_t seen_completions = 0;
};

// ---------------------------------------------------------------------------
// System under test

struct Recorded {
  TimePoint at;
  Ev ev;
};

// Records every IdleStateEvent with the loop time it arrived at.
class Recorder final : public Handler {
 public:
  void user_event(Context& ctx, std::any event) override {
    if (const auto* e = std::any_cast<IdleStateEvent>(&event))
      events.push_back({ctx.loop().now(), Ev{e->state, e->first}});
    ctx.fire_user_event(std::move(event));
  }
  std::vector<Recorded> events;
};

// Deliberately broken set-ups, to prove the check can fail.
enum class Variant {
  Correct,
  // The handler stamps the read time when a read arrives and ignores
  // read-complete: a read burst no longer counts as "not idle" and the idle
  // period starts at the burst's first message.
  ReadStampedOnArrival,
  // A handler below the idle handler reports writes done as soon as it is
  // handed them (a buffering encoder completing promises early): a slow
  // consumer's stalled write looks like write activity.
  WritesCompletedEarly,
};

class ReadStampedOnArrival final : public IdleStateHandler {
 public:
  using IdleStateHandler::IdleStateHandler;
  void channel_read(Context& ctx, std::any msg) override {
    IdleStateHandler::channel_read(ctx, std::move(msg));
    IdleStateHandler::channel_read_complete(ctx);
  }
  void channel_read_complete(Context& ctx) override { ctx.fire_channel_read_complete(); }
};

class CompletesWritesEarly final : public Handler {
 public:
  void write(Context& ctx, std::any msg, WriteCallback done) override {
    if (done) done(SocketError::None);
    ctx.write(std::move(msg), {});
  }
};

struct Sut {
  Sut(const Config& c, Variant v) {
    IdleConfig ic;
    ic.reader = c.reader;
    ic.writer = c.writer;
    ic.all = c.all;
    ic.observe_output = c.observe_output;
    handler = v == Variant::ReadStampedOnArrival ? std::make_shared<ReadStampedOnArrival>(ic)
                                                 : std::make_shared<IdleStateHandler>(ic);
    recorder = std::make_shared<Recorder>();
    std::vector<EmbeddedChannel::NamedHandler> hs;
    if (v == Variant::WritesCompletedEarly)
      hs.emplace_back("early", std::make_shared<CompletesWritesEarly>());
    hs.emplace_back("idle", handler);
    hs.emplace_back("recorder", recorder);
    ch = std::make_unique<EmbeddedChannel>(std::move(hs));
    ch->set_auto_complete_writes(false);  // writes stay pending until WriteCompletes
  }

  // Events recorded since the previous call.
  std::vector<Recorded> take() {
    std::vector<Recorded> out(recorder->events.begin() + static_cast<std::ptrdiff_t>(taken),
                              recorder->events.end());
    taken = recorder->events.size();
    return out;
  }

  std::shared_ptr<IdleStateHandler> handler;
  std::shared_ptr<Recorder> recorder;
  std::unique_ptr<EmbeddedChannel> ch;
  std::size_t taken = 0;
  std::size_t ambiguous_ties = 0;  // instants where the tie rule allowed two outcomes
};

// ---------------------------------------------------------------------------
// Comparison

std::string show_set(const EvSet& s) {
  std::string out = "{";
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (i) out += ", ";
    out += std::string(to_string(s[i].kind)) + (s[i].first ? " first" : " repeat");
  }
  return out + "}";
}

std::string show_expected(const std::vector<Instant>& ex) {
  std::string out;
  for (const auto& in : ex) {
    out += "  @" + show_duration(in.at) + " ";
    for (std::size_t i = 0; i < in.options.size(); ++i)
      out += (i ? " or " : "") + show_set(in.options[i]);
    out += "\n";
  }
  return out.empty() ? "  (nothing)\n" : out;
}

std::string show_actual(const std::vector<Recorded>& got) {
  std::string out;
  for (const auto& r : got)
    out += "  @" + show_duration(r.at) + " " + show_set({r.ev}) + "\n";
  return out.empty() ? "  (nothing)\n" : out;
}

// Empty when the recorded events match the model's instants exactly.
std::string mismatch(const std::vector<Instant>& ex, const std::vector<Recorded>& got) {
  for (std::size_t i = 1; i < got.size(); ++i)
    if (got[i].at < got[i - 1].at) return "events out of time order";
  std::vector<std::pair<TimePoint, EvSet>> actual;
  for (const auto& r : got) {
    if (actual.empty() || actual.back().first != r.at) actual.push_back({r.at, {}});
    actual.back().second.push_back(r.ev);
  }
  for (auto& a : actual) std::sort(a.second.begin(), a.second.end());
  if (actual.size() != ex.size()) return "different number of instants with events";
  for (std::size_t i = 0; i < ex.size(); ++i) {
    if (actual[i].first != ex[i].at) return "events at a different time";
    const auto& opts = ex[i].options;
    if (std::find(opts.begin(), opts.end(), actual[i].second) == opts.end())
      return "different events at @" + show_duration(ex[i].at);
  }
  return {};
}

// ---------------------------------------------------------------------------
// Commands

using Cmd = rc::state::Command<Model, Sut>;
using CmdPtr = std::shared_ptr<const Cmd>;

// A command acts on the model (returning what must fire) and on the SUT;
// run() checks that both agree and that the handler's timer bookkeeping holds.
struct Step : Cmd {
  virtual std::vector<Instant> model(Model& m) const = 0;
  virtual void act(Sut& s) const = 0;

  void apply(Model& m) const override { model(m); }

  void run(const Model& s0, Sut& sut) const override {
    Model m = s0;
    const auto expected = model(m);
    act(sut);
    const auto got = sut.take();
    for (const auto& in : expected) sut.ambiguous_ties += in.options.size() > 1;
    const std::string why = mismatch(expected, got);
    if (!why.empty()) {
      std::ostringstream os;
      show(os);
      RC_FAIL(os.str() + ": " + why + "\nmodel expects:\n" + show_expected(expected) +
              "handler fired:\n" + show_actual(got));
    }
    RC_ASSERT(sut.ch->loop().now() == m.now);
    // At most one timer per enabled kind while open, none after close.
    std::size_t timers = 0;
    for (int k = 0; k < 3; ++k) timers += m.open && m.on(k);
    RC_ASSERT(sut.handler->scheduled_timers() == timers);
    RC_ASSERT(sut.ch->loop().pending_timers() == timers);
    RC_ASSERT(sut.ch->stalled_writes() == m.stalled.size());
    if (m.open) RC_ASSERT(sut.ch->channel().pending_outbound_bytes() == m.pending);
  }
};

// A read and its read-complete, as the transport delivers one chunk.
struct Read final : Step {
  std::vector<Instant> model(Model& m) const override {
    m.read();
    m.read_complete();
    return {};
  }
  void act(Sut& s) const override { s.ch->write_inbound(Bytes{1}); }
  void show(std::ostream& os) const override { os << "Read"; }
};

// A read whose read-complete comes later (a burst in progress).
struct ReadStart final : Step {
  std::vector<Instant> model(Model& m) const override {
    m.read();
    return {};
  }
  void act(Sut& s) const override {
    s.ch->pipeline().fire_channel_read(Bytes{2});
    s.ch->run_pending();
  }
  void show(std::ostream& os) const override { os << "ReadStart"; }
};

struct ReadComplete final : Step {
  std::vector<Instant> model(Model& m) const override {
    m.read_complete();
    return {};
  }
  void act(Sut& s) const override {
    s.ch->pipeline().fire_channel_read_complete();
    s.ch->run_pending();
  }
  void show(std::ostream& os) const override { os << "ReadComplete"; }
};

struct Write final : Step {
  Write() : bytes(*rc::gen::element<std::size_t>(1, 5, 64, 0)) {}
  std::vector<Instant> model(Model& m) const override {
    m.write(bytes);
    return {};
  }
  void act(Sut& s) const override { s.ch->write_outbound(Bytes(bytes, 0xab)); }
  void show(std::ostream& os) const override { os << "Write(" << bytes << " bytes)"; }
  std::size_t bytes;
};

struct WriteCompletes final : Step {
  WriteCompletes() : count(*rc::gen::inRange<std::size_t>(1, 4)), failed(*rc::gen::arbitrary<bool>()) {}
  void checkPreconditions(const Model& m) const override { RC_PRE(!m.stalled.empty()); }
  std::vector<Instant> model(Model& m) const override {
    m.complete(count);
    return {};
  }
  void act(Sut& s) const override {
    s.ch->complete_writes(count, failed ? SocketError::Reset : SocketError::None);
  }
  void show(std::ostream& os) const override {
    os << "WriteCompletes(" << count << (failed ? ", failed)" : ")");
  }
  std::size_t count;  // >= 1 (0 would mean "all" to complete_writes)
  bool failed;
};

struct AdvanceTime final : Step {
  // Durations around the idle times so that events fire and boundaries
  // (1 ns early, exactly due, 1 ns late) are hit.
  explicit AdvanceTime(const Model& m) {
    std::vector<Duration> periods;
    for (int k = 0; k < 3; ++k)
      if (m.on(k)) periods.push_back(m.period[k]);
    if (periods.empty()) periods.push_back(10ms);
    const Duration p = *rc::gen::elementOf(periods);
    std::optional<Duration> to_due;
    for (int k = 0; k < 3; ++k)
      if (m.live(k)) to_due = std::min(to_due.value_or(Duration::max()), m.due[k] - m.now);
    const Duration nudge = *rc::gen::element<Duration>(0ns, -1ns, 1ns);
    switch (*rc::gen::inRange(0, 6)) {
      case 0: d = p + nudge; break;
      case 1: d = to_due ? *to_due + nudge : p / 2; break;
      case 2: d = p / 2; break;
      case 3: d = p * *rc::gen::inRange(2, 5); break;
      case 4: d = 1ms * *rc::gen::inRange<std::int64_t>(0, 2 * (p / 1ms) + 1); break;
      default: d = Duration(*rc::gen::inRange<std::int64_t>(0, 2 * p.count() + 1)); break;
    }
    d = std::max(d, 0ns);
  }
  std::vector<Instant> model(Model& m) const override { return m.advance(d); }
  void act(Sut& s) const override { s.ch->advance_time(d); }
  void show(std::ostream& os) const override { os << "AdvanceTime(" << show_duration(d) << ")"; }
  Duration d{0};
};

struct Close final : Step {
  void checkPreconditions(const Model& m) const override { RC_PRE(m.open); }
  std::vector<Instant> model(Model& m) const override {
    m.close();
    return {};
  }
  void act(Sut& s) const override {
    s.ch->channel().close();
    s.ch->run_pending();
  }
  void show(std::ostream& os) const override { os << "Close"; }
};

template <class C>
rc::Gen<CmdPtr> make(const Model& m) {
  return rc::gen::exec([m] {
    if constexpr (std::is_constructible_v<C, const Model&>) {
      return CmdPtr(std::make_shared<const C>(m));
    } else {
      return CmdPtr(std::make_shared<const C>());
    }
  });
}

rc::Gen<CmdPtr> gen_command(const Model& m) {
  return rc::gen::weightedOneOf<CmdPtr>({
      {3, make<Read>(m)},
      {1, make<ReadStart>(m)},
      {1, make<ReadComplete>(m)},
      {2, make<Write>(m)},
      {2, make<WriteCompletes>(m)},
      {6, make<AdvanceTime>(m)},
      {1, make<Close>(m)},
  });
}

// One property case: a config, then a command sequence checked step by step.
void check_against_model(Variant v) {
  const Config cfg = *gen_config();
  Sut sut(cfg, v);
  rc::state::check(Model(cfg), sut, gen_command);
  RC_CLASSIFY(!sut.recorder->events.empty(), "idle events fired");
  RC_CLASSIFY(sut.ambiguous_ties > 0, "writer/all tie under observe_output");
}

// ---------------------------------------------------------------------------
// Properties

RC_GTEST_PROP(IdleStateModel, HandlerMatchesReferenceModel, ()) {
  check_against_model(Variant::Correct);
}

// The same check must find a counterexample in a broken set-up. rc::check
// reports on stderr; that output is kept and shown only if nothing is found.
::testing::AssertionResult finds_counterexample(Variant v) {
  std::ostringstream captured;
  std::streambuf* const old = std::cerr.rdbuf(captured.rdbuf());
  const bool passed = rc::check([v] { check_against_model(v); });
  std::cerr.rdbuf(old);
  if (passed)
    return ::testing::AssertionFailure() << "no counterexample found:\n" << captured.str();
  return ::testing::AssertionSuccess();
}

TEST(IdleStateModel, FindsReadStampedOnArrival) {
  EXPECT_TRUE(finds_counterexample(Variant::ReadStampedOnArrival));
}

TEST(IdleStateModel, FindsWritesCompletedEarly) {
  EXPECT_TRUE(finds_counterexample(Variant::WritesCompletedEarly));
}

}  // namespace
