#include "connfail/scenarios/fault_kinds.h"

#include <algorithm>
#include <stdexcept>

namespace connfail::scenarios {

bool FaultKindInfo::takes(const std::string& field) const {
  return std::find(fields.begin(), fields.end(), field) != fields.end();
}

bool FaultKindInfo::needs(const std::string& field) const {
  return std::find(required.begin(), required.end(), field) != required.end();
}

namespace {

FaultKindInfo row(FaultKind k, const char* name, std::vector<std::string> fields, std::vector<std::string> required,
                  const char* what) {
  FaultKindInfo i;
  i.kind = k;
  i.name = name;
  i.fields = std::move(fields);
  i.required = std::move(required);
  i.what = what;
  return i;
}

std::vector<FaultKindInfo> build() {
  const std::vector<std::string> link = {"at", "duration", "targets", "target", "direction"};
  auto with = [](std::vector<std::string> base, std::initializer_list<const char*> more) {
    for (const char* m : more) base.emplace_back(m);
    return base;
  };
  std::vector<FaultKindInfo> v;
  {
    auto i = row(FaultKind::Loss, "loss", with(link, {"rate"}), {"rate"},
                 "uniform packet loss on the targets' links (asio: in a network namespace, as root)");
    i.asio_needs_netns = true;
    i.lasting = true;
    v.push_back(i);
  }
  {
    auto i = row(FaultKind::BurstLoss, "burst-loss", with(link, {"rate", "burst_min", "burst_max"}), {"rate"},
                 "bursts of lost packets");
    i.asio = false;
    i.lasting = true;
    v.push_back(i);
  }
  {
    auto i = row(FaultKind::GilbertElliott, "gilbert-elliott",
                 with(link, {"p_good_to_bad", "p_bad_to_good", "loss_good", "loss_bad"}), {"p_good_to_bad"},
                 "two-state (good/bad) packet loss");
    i.asio = false;
    i.lasting = true;
    v.push_back(i);
  }
  {
    auto i = row(FaultKind::Jitter, "jitter", with(link, {"distribution", "max", "mean", "sd", "bound", "reorder"}), {},
                 "random extra delay per packet (sim) or per chunk (asio)");
    i.lasting = true;
    v.push_back(i);
  }
  {
    auto i = row(FaultKind::Latency, "latency", with(link, {"latency"}), {"latency"}, "a fixed extra delay per chunk");
    i.sim = false;
    i.lasting = true;
    i.elsewhere = "use link.delay for sim";
    v.push_back(i);
  }
  {
    auto i = row(FaultKind::Bandwidth, "bandwidth", with(link, {"bytes_per_second"}), {"bytes_per_second"},
                 "a rate limit per direction");
    i.sim = false;
    i.lasting = true;
    i.elsewhere = "use link.rate for sim";
    v.push_back(i);
  }
  {
    auto i = row(FaultKind::HalfOpen, "half-open", {"at", "targets", "target"}, {},
                 "the targets' hosts vanish: no FIN, no RST, every packet dropped, for good");
    i.permanent = true;
    i.disruptive = true;
    v.push_back(i);
  }
  {
    auto i = row(FaultKind::Partition, "partition", {"at", "duration", "targets", "target"}, {"duration"},
                 "the targets are cut off, then healed");
    i.disruptive = true;
    v.push_back(i);
  }
  {
    auto i = row(FaultKind::AcceptPause, "accept-pause", {"at", "duration"}, {"duration"},
                 "the server stops taking connections from its accept queue");
    i.at_server = true;
    v.push_back(i);
  }
  {
    auto i = row(FaultKind::Rst, "rst", {"at", "targets", "target"}, {}, "a middlebox resets the targets' connections");
    i.disruptive = true;
    v.push_back(i);
  }
  {
    auto i = row(FaultKind::HandlerException, "handler-exception",
                 {"at", "duration", "handler", "event", "probability", "nth"}, {"handler"},
                 "a server handler throws on an event (probability or n-th)");
    i.lasting = true;
    i.at_server = true;
    v.push_back(i);
  }
  {
    auto i = row(FaultKind::AcceptFailure, "accept-failure", {"at", "duration", "every", "probability"}, {},
                 "child registration fails with an out-of-memory error (every k-th or probability)");
    i.lasting = true;
    i.at_server = true;
    v.push_back(i);
  }
  {
    auto i = row(FaultKind::ServerVanish, "server-vanish", {"at"}, {}, "the server host vanishes, for good");
    i.asio = false;
    i.permanent = true;
    i.at_server = true;
    i.disruptive = true;
    v.push_back(i);
  }
  {
    auto i = row(FaultKind::ServerRestart, "server-restart", {"at", "duration"}, {"duration"},
                 "the server process exits and starts again after duration");
    i.at_server = true;
    i.disruptive = true;
    v.push_back(i);
  }
  return v;
}

}  // namespace

const std::vector<FaultKindInfo>& fault_kinds() {
  static const std::vector<FaultKindInfo> v = build();
  return v;
}

const FaultKindInfo& fault_kind_info(FaultKind k) {
  for (const auto& i : fault_kinds())
    if (i.kind == k) return i;
  throw std::logic_error("fault kind missing from the table");
}

std::optional<FaultKind> fault_kind_named(const std::string& name) {
  for (const auto& i : fault_kinds())
    if (name == i.name) return i.kind;
  return std::nullopt;
}

}  // namespace connfail::scenarios
