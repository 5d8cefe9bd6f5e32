// gateway-connfail: connfail's whole command line (run, validate, list,
// replay, sweep, diff, schema), knowing the gateway's server kind, client
// behaviour and known-bug variant.
//
//   gateway-connfail list --servers --clients --variants
//   gateway-connfail run scenarios --out reports
//   gateway-connfail run scenarios/relogin-after-blip.yaml --variant gateway-relogin-kills-new
#include "connfail/cli/cli.h"
#include "gateway/gateway.h"

// [snippet:main]
int main(int argc, char** argv) {
  gateway::register_gateway();  // a refusal is reported by cli_main (exit 2)
  return connfail::cli_main(argc, argv);
}
// [end-snippet]
