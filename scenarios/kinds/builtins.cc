#include "connfail/scenarios/kinds/builtins.h"

namespace connfail::scenarios::kinds {

void register_builtins(Registry& r) {
  register_builtin_servers(r);
  register_process_server(r);
  register_builtin_clients(r);
  register_builtin_variants(r);
}

}  // namespace connfail::scenarios::kinds
