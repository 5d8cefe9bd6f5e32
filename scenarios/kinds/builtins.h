// The built-in server kinds, client behaviours and known-bug variants. They
// are registered through the same interface as a user's entries
// (scenarios/registry.h); Registry::global() calls register_builtins once.
// One file per family: servers.cc, clients.cc, variants.cc.
#pragma once

#include "connfail/scenarios/registry.h"

namespace connfail::scenarios::kinds {

void register_builtins(Registry& r);

void register_builtin_servers(Registry& r);
void register_builtin_clients(Registry& r);
void register_builtin_variants(Registry& r);
/// The `process` kind (kinds/process.cc).
void register_process_server(Registry& r);

/// The proxy kind's plan, correct or with the known bug of never closing the
/// other side (the proxy-no-close variant builds its plan with this).
ServerPlan proxy_plan(const Options& o, bool leaky);

}  // namespace connfail::scenarios::kinds
