// The registry, as a user's code meets it: a server kind, a client behaviour
// and a variant registered by this test binary run a default scenario
// through the same runner as the built-ins; bad registrations are refused
// naming the registering call; a kind's options are read from YAML with its
// own schema, and what its factory rejects is an error at that field.
#include <gtest/gtest.h>

#include <filesystem>

#include "connfail/netcore/reference_servers.h"
#include "connfail/scenarios/parser.h"
#include "connfail/scenarios/registry.h"
#include "connfail/scenarios/runner.h"

namespace {

namespace fs = std::filesystem;
using namespace connfail::scenarios;
using namespace std::chrono_literals;

/// Counts what reaches it, then echoes: proof that this kind's pipeline ran.
struct Counts {
  int channels = 0;
  int reads = 0;
};

class CountingEcho final : public netcore::Handler {
 public:
  explicit CountingEcho(std::shared_ptr<Counts> c) : c_(std::move(c)) {}
  void channel_active(netcore::Context& ctx) override {
    ++c_->channels;
    ctx.fire_channel_active();
  }
  void channel_read(netcore::Context& ctx, std::any msg) override {
    ++c_->reads;
    ctx.write_and_flush(std::move(msg));
  }

 private:
  std::shared_ptr<Counts> c_;
};

std::shared_ptr<Counts> g_counts = std::make_shared<Counts>();

/// A throwaway server kind: an echo that counts, with one option whose
/// factory refuses a value (to show where that error lands).
bool register_throwaway() {
  ServerKindEntry e;
  e.name = "throwaway-echo";
  e.description = "a test's own echo server that counts its channels and reads";
  e.options = {opt::integer("copies", 1, 1, 10, "how many times to echo each read (only 1 works)"),
               opt::duration("reader_idle", 0s, "stated reader idle time (0: none)")};
  e.factory = [](const Options& o) {
    if (o.integer("copies") != 1) throw OptionError("copies", "this server echoes each read exactly once");
    ServerPlan plan;
    if (o.duration("reader_idle") > 0s) plan.reader_idle = o.duration("reader_idle");
    plan.start = [](ServerContext&) {
      ServerInstance s;
      s.child = [](netcore::Channel& ch) { ch.pipeline().add_last("counting-echo", std::make_shared<CountingEcho>(g_counts)); };
      return s;
    };
    return plan;
  };
  return register_server(std::move(e));
}

/// A throwaway variant of it: the server never echoes (the clients' echo
/// check must then fail), registered like any variant.
bool register_throwaway_variant() {
  VariantEntry v;
  v.name = "throwaway-mute";
  v.description = "the throwaway echo server, but it swallows every read";
  v.server_kinds = {"throwaway-echo"};
  v.server_plan = [](const Options&, ServerPlan plan) {
    plan.start = [](ServerContext&) {
      ServerInstance s;
      s.child = [](netcore::Channel& ch) {
        class Mute final : public netcore::Handler {
         public:
          void channel_read(netcore::Context&, std::any) override {}
        };
        ch.pipeline().add_last("mute", std::make_shared<Mute>());
      };
      return s;
    };
    return plan;
  };
  return register_variant(std::move(v));
}

const bool kRegistered = register_throwaway() && register_throwaway_variant();

Scenario load(const std::string& stem) {
  auto pr = parse_scenario_file((fs::path(CONNFAIL_SOURCE_DIR) / "scenarios" / (stem + ".yaml")).string());
  if (!pr.ok()) throw std::runtime_error(pr.errors.front().to_string());
  return *pr.scenario;
}

std::string describe(const RunResult& r) {
  std::string s;
  for (const auto& f : r.findings) s += "  " + f.kind + ": " + f.message + "\n";
  return s;
}

TEST(Registry, AThrowawayServerKindRunsADefaultScenario) {
  ASSERT_TRUE(kRegistered) << (registration_errors().empty() ? "" : registration_errors().front());
  Scenario s = load("rst-clients");
  s.server = ServerSpec::of("throwaway-echo");
  *g_counts = {};
  RunOptions o;
  o.seed = s.seeds.front();
  const RunResult r = run_scenario(s, o);
  EXPECT_TRUE(r.passed) << describe(r);
  EXPECT_EQ(r.server_kind, "throwaway-echo");
  EXPECT_EQ(g_counts->channels, s.clients.at(0).count) << "the registered pipeline served every connection";
  EXPECT_GT(g_counts->reads, 0);
  EXPECT_GT(r.bytes_echoed, 0u);
}

TEST(Registry, AThrowawayVariantIsAppliedByTheRunnerWithoutKnowingIt) {
  Scenario s = load("handler-exceptions");
  s.server = ServerSpec::of("throwaway-echo");
  s.faults.clear();
  s.expect.ledger_counts.clear();
  RunOptions o;
  o.variant = "throwaway-mute";
  const RunResult r = run_scenario(s, o);
  EXPECT_EQ(r.bytes_echoed, 0u) << "the variant's pipeline ran, not the kind's";
  EXPECT_EQ(variant_targets("throwaway-mute", s), std::vector<std::string>{"server kind 'throwaway-echo'"});
  EXPECT_TRUE(variant_targets("throwaway-mute", load("rst-clients")).empty())
      << "the variant changes nothing in a scenario of another kind";
}

TEST(Registry, TheKindIsReadFromYamlWithItsOwnSchema) {
  const std::string head = "name: t\nserver:\n  kind: throwaway-echo\n  options:\n";
  auto ok = parse_scenario_text(head + "    copies: 1\n    reader_idle: 5s\nclients:\n  - name: c\n", "t.yaml");
  ASSERT_TRUE(ok.ok()) << ok.errors.front().to_string();
  EXPECT_EQ(server_reader_idle(ok.scenario->server), std::optional<connfail::scenarios::Duration>(5s));
  // Wrong type: the schema's own error, at the value.
  auto bad = parse_scenario_text(head + "    copies: lots\nclients:\n  - name: c\n", "t.yaml");
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.errors.front().to_string(),
            "t.yaml:5:13: server.options.copies: expected an integer in [1, 10], got 'lots'");
  // In range for the schema, refused by the factory: the same place.
  auto refused = parse_scenario_text(head + "    copies: 2\nclients:\n  - name: c\n", "t.yaml");
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.errors.front().to_string(),
            "t.yaml:5:13: server.options.copies: this server echoes each read exactly once");
  // An unknown kind lists the registered ones, this test's own included.
  auto unknown = parse_scenario_text("name: t\nserver:\n  kind: throwaway-ecco\nclients:\n  - name: c\n", "t.yaml");
  ASSERT_FALSE(unknown.ok());
  EXPECT_NE(unknown.errors.front().message.find("did you mean 'throwaway-echo'?"), std::string::npos)
      << unknown.errors.front().to_string();
  EXPECT_NE(unknown.errors.front().message.find("registered kinds: echo, heartbeat, proxy, process, throwaway-echo"),
            std::string::npos)
      << unknown.errors.front().to_string();
  // The writer gives back what the parser reads.
  EXPECT_EQ(to_yaml(*parse_scenario_text(to_yaml(*ok.scenario), "w.yaml").scenario), to_yaml(*ok.scenario));
}

TEST(Registry, AFactoryThatThrowsIsAValidationErrorAtTheKind) {
  ServerKindEntry e;
  e.name = "throwaway-broken";
  e.description = "a factory that always throws";
  e.factory = [](const Options&) -> ServerPlan { throw std::runtime_error("cannot allocate the session table"); };
  ASSERT_TRUE(register_server(std::move(e)));
  auto r = parse_scenario_text("name: t\nserver:\n  kind: throwaway-broken\nclients:\n  - name: c\n", "t.yaml");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.errors.front().to_string(),
            "t.yaml:3:9: server.kind: server kind 'throwaway-broken' cannot be built from these options: cannot "
            "allocate the session table");
}

TEST(Registry, BadRegistrationsAreRefusedNamingTheCall) {
  const std::size_t before = registration_errors().size();
  ServerKindEntry dup;
  dup.name = "echo";
  dup.description = "a second echo";
  dup.factory = [](const Options&) { return ServerPlan{}; };
  const int line = __LINE__ + 1;
  EXPECT_FALSE(register_server(std::move(dup)));
  ASSERT_EQ(registration_errors().size(), before + 1);
  const std::string& msg = registration_errors().back();
  EXPECT_NE(msg.find("registry_test.cc:" + std::to_string(line) + ": server kind 'echo' is already registered (at "
                     "scenarios/kinds/servers.cc:"),
            std::string::npos)
      << msg;

  ClientBehaviourEntry bad_default;
  bad_default.name = "throwaway-client";
  bad_default.description = "a schema whose default is out of range";
  bad_default.options = {opt::integer("n", 50, 1, 10, "a number")};
  bad_default.factory = [](const Options&) { return ClientPlan{}; };
  EXPECT_FALSE(register_client(std::move(bad_default)));
  EXPECT_NE(registration_errors().back().find("option 'n': default 50 is outside [1, 10]"), std::string::npos)
      << registration_errors().back();

  VariantEntry nothing;
  nothing.name = "Bad Name";
  nothing.description = "x";
  EXPECT_FALSE(register_variant(std::move(nothing)));
  EXPECT_NE(registration_errors().back().find("variant name 'Bad Name' is not valid"), std::string::npos);
  EXPECT_EQ(Registry::global().server("echo")->description.find("a second"), std::string::npos)
      << "the refused entry did not replace the built-in";
}

TEST(Registry, BuiltInsAreRegisteredThroughTheSameInterface) {
  const Registry& reg = Registry::global();
  for (const char* k : {"echo", "heartbeat", "proxy"}) EXPECT_NE(reg.server(k), nullptr) << k;
  for (const char* b : {"echo", "heartbeat", "silent", "reconnecting"}) EXPECT_NE(reg.client(b), nullptr) << b;
  for (const char* v : {"accept-swallows-oom", "proxy-no-close", "idle-last", "slow-heartbeat", "timer-leak",
                        "reconnect-gives-up", "keepalive-default-idle"})
    EXPECT_NE(reg.variant(v), nullptr) << v;
}

}  // namespace
