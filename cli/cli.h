// connfail::cli_main: the whole connfail command line (run, validate, list,
// replay, sweep, diff, demo) as a function. A user's executable that
// registers its server kinds, client behaviours and variants
// (connfail/scenarios/registry.h) and then calls it is a connfail CLI that
// knows them:
//
//   int main(int argc, char** argv) {
//     register_my_gateway();                    // connfail::register_server(...)
//     return connfail::cli_main(argc, argv);
//   }
//
// Exit codes: 0 every run passed, 1 an expectation failed, 2 bad input
// (including an entry the registry refused: nothing runs then).
#pragma once

namespace connfail {

int cli_main(int argc, char** argv);

}  // namespace connfail
