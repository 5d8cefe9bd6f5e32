// A user's own connfail CLI, as docs/your-server.md describes it: register a
// server kind, then hand over to connfail::cli_main. With
// CONNFAIL_TEST_DUPLICATE set it registers the kind twice, which the CLI
// must refuse (exit 2, nothing run). The kind `user-crash` aborts the
// process when it starts on an even seed: a worker of `--jobs` dies in that
// run, which must fail that run alone.
#include <cstdlib>

#include "connfail/cli/cli.h"
#include "connfail/netcore/reference_servers.h"
#include "connfail/scenarios/registry.h"

namespace {

/// An echo server kind; with `abort_on_even_seed` it aborts the process
/// when it starts on an even seed.
void register_echo_kind(const char* name, const char* description, bool abort_on_even_seed) {
  connfail::ServerKindEntry e;
  e.name = name;
  e.description = description;
  e.factory = [abort_on_even_seed](const connfail::Options&) {
    connfail::ServerPlan plan;
    plan.start = [abort_on_even_seed](connfail::ServerContext& ctx) {
      if (abort_on_even_seed && ctx.seed % 2 == 0) std::abort();
      connfail::ServerInstance s;
      s.child = [](netcore::Channel& ch) { ch.pipeline().add_last("echo", std::make_shared<netcore::EchoHandler>()); };
      return s;
    };
    return plan;
  };
  connfail::register_server(std::move(e));
}

void register_kind() {
  register_echo_kind("user-echo", "a user's echo server, registered by its own executable", false);
}

}  // namespace

int main(int argc, char** argv) {
  register_kind();
  register_echo_kind("user-crash", "a user's server that aborts the process when it starts on an even seed", true);
  if (std::getenv("CONNFAIL_TEST_DUPLICATE") != nullptr) register_kind();
  return connfail::cli_main(argc, argv);
}
