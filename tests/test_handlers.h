// Small handlers shared by the tests.
#pragma once

#include <any>
#include <string>
#include <vector>

#include "connfail/netcore/channel.h"
#include "connfail/netcore/handler.h"
#include "connfail/netcore/pipeline.h"
#include "connfail/netcore/reference_servers.h"

namespace connfail::testing {

using Echo = netcore::EchoHandler;

/// Records what reaches it, in order, and keeps received bytes.
class Recorder final : public netcore::Handler {
 public:
  void channel_active(netcore::Context& ctx) override {
    events.push_back("active");
    ctx.fire_channel_active();
  }
  void channel_read(netcore::Context& ctx, std::any msg) override {
    if (auto* b = std::any_cast<netcore::Bytes>(&msg)) bytes.insert(bytes.end(), b->begin(), b->end());
    events.push_back("read");
    ctx.fire_channel_read(std::move(msg));
  }
  void channel_read_complete(netcore::Context& ctx) override {
    events.push_back("read-complete");
    ctx.fire_channel_read_complete();
  }
  void user_event(netcore::Context& ctx, std::any e) override {
    events.push_back("user-event");
    if (e.type() == typeid(netcore::InputShutdownEvent)) input_shutdown = true;
    ctx.fire_user_event(std::move(e));
  }
  void exception_caught(netcore::Context& ctx, std::exception_ptr e) override {
    events.push_back("exception");
    ctx.fire_exception_caught(std::move(e));
  }
  void channel_inactive(netcore::Context& ctx) override {
    events.push_back("inactive");
    ++inactive_count;
    ctx.fire_channel_inactive();
  }
  std::vector<std::string> events;
  netcore::Bytes bytes;
  int inactive_count = 0;
  bool input_shutdown = false;
};

inline netcore::Bytes pattern(std::size_t n, std::size_t seed = 0) {
  netcore::Bytes b(n);
  for (std::size_t i = 0; i < n; ++i) b[i] = static_cast<std::uint8_t>((i * 131 + seed * 7 + (i >> 10)) & 0xff);
  return b;
}

}  // namespace connfail::testing
