#include "connfail/scenarios/registry.h"

#include <algorithm>
#include <stdexcept>

#include "connfail/scenarios/kinds/builtins.h"

namespace connfail::scenarios {

namespace {

bool valid_entry_name(const std::string& n) {
  if (n.empty() || n.front() == '-' || n.back() == '-') return false;
  for (char c : n)
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-')) return false;
  return true;
}

std::string at(const char* file, int line) { return std::string(file ? file : "?") + ":" + std::to_string(line); }

template <class E>
const E* find_named(const std::vector<E>& v, const std::string& name) {
  for (const auto& e : v)
    if (e.name == name) return &e;
  return nullptr;
}

template <class E>
std::vector<std::string> names_of(const std::vector<E>& v) {
  std::vector<std::string> out;
  for (const auto& e : v) out.push_back(e.name);
  return out;
}

}  // namespace

Registry& Registry::global() {
  static Registry* r = [] {
    auto* reg = new Registry();
    kinds::register_builtins(*reg);
    return reg;
  }();
  return *r;
}

bool Registry::check_name(const std::string& what, const std::string& name, const Where& w,
                          const std::vector<std::pair<std::string, Where>>& taken) {
  const std::string here = w.file + ":" + std::to_string(w.line);
  if (!valid_entry_name(name)) {
    errors_.push_back(here + ": " + what + " name '" + name +
                      "' is not valid: use lowercase letters, digits and '-' ([a-z0-9-]+)");
    return false;
  }
  for (const auto& [n, where] : taken)
    if (n == name) {
      errors_.push_back(here + ": " + what + " '" + name + "' is already registered (at " + where.file + ":" +
                        std::to_string(where.line) + ")");
      return false;
    }
  return true;
}

namespace {
bool check_entry(std::vector<std::string>& errors, const std::string& where, const std::string& what,
                 const std::string& name, const std::string& description, const OptionSchema& schema,
                 bool has_factory) {
  bool ok = true;
  if (description.empty()) {
    errors.push_back(where + ": " + what + " '" + name + "' has no description (one line for connfail list)");
    ok = false;
  }
  if (!has_factory) {
    errors.push_back(where + ": " + what + " '" + name + "' has no factory");
    ok = false;
  }
  for (const auto& e : check_schema(schema)) {
    errors.push_back(where + ": " + what + " '" + name + "': " + e);
    ok = false;
  }
  return ok;
}
}  // namespace

bool Registry::add(ServerKindEntry e, const char* file, int line) {
  const Where w{file ? file : "?", line};
  if (!check_name("server kind", e.name, w, server_where_)) return false;
  if (!check_entry(errors_, at(file, line), "server kind", e.name, e.description, e.options,
                   static_cast<bool>(e.factory)))
    return false;
  server_where_.emplace_back(e.name, w);
  servers_.push_back(std::move(e));
  return true;
}

bool Registry::add(ClientBehaviourEntry e, const char* file, int line) {
  const Where w{file ? file : "?", line};
  if (!check_name("client behaviour", e.name, w, client_where_)) return false;
  if (!check_entry(errors_, at(file, line), "client behaviour", e.name, e.description, e.options,
                   static_cast<bool>(e.factory)))
    return false;
  client_where_.emplace_back(e.name, w);
  clients_.push_back(std::move(e));
  return true;
}

bool Registry::add(VariantEntry e, const char* file, int line) {
  const Where w{file ? file : "?", line};
  if (!check_name("variant", e.name, w, variant_where_)) return false;
  const std::string here = at(file, line);
  bool ok = true;
  if (e.description.empty()) {
    errors_.push_back(here + ": variant '" + e.name + "' has no description (one line for connfail list)");
    ok = false;
  }
  if (e.server_kinds.empty() && e.client_behaviours.empty()) {
    errors_.push_back(here + ": variant '" + e.name + "' names no server kind and no client behaviour it changes");
    ok = false;
  }
  if (!e.server_kinds.empty() && !e.server_options && !e.server_plan) {
    errors_.push_back(here + ": variant '" + e.name + "' names server kinds but has no server hook");
    ok = false;
  }
  if (!e.client_behaviours.empty() && !e.client_options) {
    errors_.push_back(here + ": variant '" + e.name + "' names client behaviours but has no client hook");
    ok = false;
  }
  if (!ok) return false;
  variant_where_.emplace_back(e.name, w);
  variants_.push_back(std::move(e));
  return true;
}

const ServerKindEntry* Registry::server(const std::string& name) const { return find_named(servers_, name); }
const ClientBehaviourEntry* Registry::client(const std::string& name) const { return find_named(clients_, name); }
const VariantEntry* Registry::variant(const std::string& name) const { return find_named(variants_, name); }
std::vector<std::string> Registry::server_names() const { return names_of(servers_); }
std::vector<std::string> Registry::client_names() const { return names_of(clients_); }
std::vector<std::string> Registry::variant_names() const { return names_of(variants_); }

bool register_server(ServerKindEntry e, const char* file, int line) {
  return Registry::global().add(std::move(e), file, line);
}
bool register_client(ClientBehaviourEntry e, const char* file, int line) {
  return Registry::global().add(std::move(e), file, line);
}
bool register_variant(VariantEntry e, const char* file, int line) {
  return Registry::global().add(std::move(e), file, line);
}
const std::vector<std::string>& registration_errors() { return Registry::global().errors(); }

// ------------------------------------------------------------- model helpers

ServerSpec ServerSpec::of(const std::string& kind) {
  const ServerKindEntry* e = Registry::global().server(kind);
  if (e == nullptr) throw std::invalid_argument("unknown server kind '" + kind + "'");
  ServerSpec s;
  s.kind = kind;
  s.options = Options::defaults(e->options);
  return s;
}

ClientGroup ClientGroup::of(const std::string& name, const std::string& behaviour) {
  const ClientBehaviourEntry* e = Registry::global().client(behaviour);
  if (e == nullptr) throw std::invalid_argument("unknown client behaviour '" + behaviour + "'");
  ClientGroup g;
  g.name = name;
  g.behaviour = behaviour;
  g.options = Options::defaults(e->options);
  return g;
}

// ------------------------------------------------------------------- resolve

namespace {

bool names(const std::vector<std::string>& list, const std::string& name) {
  return std::find(list.begin(), list.end(), "*") != list.end() ||
         std::find(list.begin(), list.end(), name) != list.end();
}

/// Whether a variant's server_kinds names `kind`: "*" names every kind but
/// an external one (a process: no netcore code of ours to break).
bool names_server(const std::vector<std::string>& list, const std::string& kind) {
  if (std::find(list.begin(), list.end(), kind) != list.end()) return true;
  const ServerKindEntry* e = Registry::global().server(kind);
  return std::find(list.begin(), list.end(), "*") != list.end() && !(e != nullptr && e->external);
}

const VariantEntry* variant_or_throw(const std::string& variant) {
  if (variant.empty()) return nullptr;
  const VariantEntry* v = Registry::global().variant(variant);
  if (v == nullptr) throw std::invalid_argument("unknown variant '" + variant + "'");
  return v;
}

}  // namespace

ServerPlan make_server_plan(const ServerSpec& server, const std::string& variant) {
  const ServerKindEntry* e = Registry::global().server(server.kind);
  if (e == nullptr) throw std::invalid_argument("unknown server kind '" + server.kind + "'");
  const VariantEntry* v = variant_or_throw(variant);
  const bool applies = v != nullptr && names_server(v->server_kinds, server.kind);
  Options options = server.options;
  if (applies && v->server_options) v->server_options(options);
  ServerPlan plan = e->factory(options);
  if (applies && v->server_plan) plan = v->server_plan(options, std::move(plan));
  if (!plan.start && !plan.external) throw std::logic_error("server kind '" + server.kind + "': the plan has no start function");
  return plan;
}

ClientPlan make_client_plan(const ClientGroup& group, const std::string& variant, const VariantContext& ctx) {
  const ClientBehaviourEntry* e = Registry::global().client(group.behaviour);
  if (e == nullptr) throw std::invalid_argument("unknown client behaviour '" + group.behaviour + "'");
  const VariantEntry* v = variant_or_throw(variant);
  Options options = group.options;
  if (v != nullptr && names(v->client_behaviours, group.behaviour) && v->client_options)
    v->client_options(options, ctx);
  ClientPlan plan = e->factory(options);
  if (!plan.connect)
    throw std::logic_error("client behaviour '" + group.behaviour + "': the plan has no connect function");
  return plan;
}

std::optional<Duration> server_reader_idle(const ServerSpec& server) {
  try {
    return make_server_plan(server).reader_idle;
  } catch (const std::exception&) {
    return std::nullopt;
  }
}

std::vector<std::string> variant_targets(const std::string& variant, const Scenario& s) {
  std::vector<std::string> out;
  const VariantEntry* v = Registry::global().variant(variant);
  if (v == nullptr) return out;
  if (names_server(v->server_kinds, s.server.kind)) out.push_back("server kind '" + s.server.kind + "'");
  for (const auto& g : s.clients)
    if (names(v->client_behaviours, g.behaviour))
      out.push_back("client group '" + g.name + "' (" + g.behaviour + ")");
  return out;
}

std::string variant_not_applicable(const std::string& variant, const Scenario& s) {
  const VariantEntry* v = Registry::global().variant(variant);
  if (v == nullptr) return "unknown variant '" + variant + "'";
  if (variant_targets(variant, s).empty()) {
    std::string what;
    for (const auto& k : v->server_kinds) what += (what.empty() ? "" : ", ") + ("server kind " + k);
    for (const auto& b : v->client_behaviours) what += (what.empty() ? "" : ", ") + ("client behaviour " + b);
    std::string has = "server kind " + s.server.kind;
    for (const auto& g : s.clients)
      if (has.find("client behaviour " + g.behaviour) == std::string::npos) has += ", client behaviour " + g.behaviour;
    return "variant '" + variant + "' changes nothing here: it changes " + what + "; this scenario has " + has;
  }
  if (v->inapplicable) {
    const std::string why = v->inapplicable(s);
    if (!why.empty()) return "variant '" + variant + "' changes nothing here: " + why;
  }
  return "";
}

namespace {

/// A loop for a dry run: time stands still, nothing ever runs.
class StillLoop final : public netcore::EventLoop {
 public:
  netcore::TimePoint now() const override { return netcore::TimePoint{}; }
  netcore::TimerId schedule(Duration, std::function<void()>) override { return ++next_; }
  bool cancel(netcore::TimerId) override { return true; }
  void post(std::function<void()>) override {}
  std::size_t pending_timers() const override { return 0; }
  bool run_until(const std::function<bool()>&, Duration) override { return false; }

 private:
  netcore::TimerId next_ = 0;
};

/// A transport for a dry run: any use is an error.
class NoTransport final : public netcore::Transport {
 public:
  explicit NoTransport(netcore::EventLoop& l) : loop_(l) {}
  netcore::EventLoop& loop() override { return loop_; }
  std::string name() const override { return "none"; }
  std::shared_ptr<netcore::Listener> listen(const netcore::ListenOptions&, netcore::Listener::AcceptFn) override {
    throw std::logic_error("no transport while reading the pipeline");
  }
  void connect(const netcore::Address&, Duration, ConnectFn) override {
    throw std::logic_error("no transport while reading the pipeline");
  }
  std::vector<netcore::SocketInfo> inventory() const override { return {}; }

 private:
  netcore::EventLoop& loop_;
};

}  // namespace

std::optional<std::vector<std::string>> server_handler_names(const ServerSpec& server) {
  try {
    const ServerPlan plan = make_server_plan(server);
    if (!plan.start) return std::nullopt;  // a process: its pipeline is not ours to read
    StillLoop loop;
    NoTransport transport(loop);
    netcore::ConnectionLedger ledger;
    ServerContext ctx{loop, transport, ledger, [](Duration d) { return d; }, {"127.0.0.1", 1}, 1, 0};
    ServerInstance instance = plan.start(ctx);
    std::vector<std::string> names;
    {
      auto ch = netcore::Channel::create(loop, nullptr, ledger, netcore::Side::Server);
      instance.child(*ch);
      names = ch->pipeline().names();
      ch->pipeline().remove_all();
    }
    if (instance.stop) instance.stop();
    return names;
  } catch (const std::exception&) {
    return std::nullopt;
  }
}

namespace {

class AcceptorLoop final : public AcceptLoop {
 public:
  explicit AcceptorLoop(std::shared_ptr<netcore::Acceptor> a) : a_(std::move(a)) {}
  ~AcceptorLoop() override { a_->close(); }
  netcore::Address local_address() const override { return a_->local_address(); }
  void pause() override { a_->pause_accepting(); }
  void resume() override { a_->resume_accepting(); }
  void close() override { a_->close(); }

 private:
  std::shared_ptr<netcore::Acceptor> a_;
};

}  // namespace

std::unique_ptr<AcceptLoop> default_accept_loop(netcore::Transport& t, netcore::ConnectionLedger& ledger,
                                                netcore::PipelineInit init, const netcore::AcceptorOptions& o) {
  return std::make_unique<AcceptorLoop>(netcore::Acceptor::start(t, ledger, std::move(init), o));
}

}  // namespace connfail::scenarios
