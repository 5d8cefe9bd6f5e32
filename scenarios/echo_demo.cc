#include "connfail/scenarios/echo_demo.h"

#include <chrono>
#include <memory>

#include "connfail/netcore/acceptor.h"
#include "connfail/netcore/asio/asio_transport.h"
#include "connfail/netcore/channel.h"
#include "connfail/netcore/reference_servers.h"
#include "connfail/sim/sim_world.h"

namespace connfail::scenarios {

namespace {

using namespace netcore;

class Collect final : public Handler {
 public:
  void channel_read(Context&, std::any msg) override {
    if (auto* b = std::any_cast<Bytes>(&msg)) bytes.insert(bytes.end(), b->begin(), b->end());
  }
  Bytes bytes;
};

Bytes payload(std::size_t n, std::size_t salt) {
  Bytes b(n);
  for (std::size_t i = 0; i < n; ++i) b[i] = static_cast<std::uint8_t>((i * 31 + salt * 17 + (i >> 8)) & 0xff);
  return b;
}

// The workload, written once against the seam.
EchoDemoResult run(const EchoDemoConfig& cfg, EventLoop& loop, Transport& server,
                   const std::vector<Transport*>& clients, const std::string& listen_host,
                   const std::string& server_host, Duration limit,
                   const std::function<std::vector<SocketInfo>()>& inventory) {
  EchoDemoResult r;
  r.clients = cfg.clients;
  ConnectionLedger ledger;
  AcceptorOptions o;
  o.listen.address = {listen_host, 0};
  auto acceptor = Acceptor::start(server, ledger, echo_server(), o);
  const Address to{server_host, acceptor->local_address().port};
  const TimePoint start = loop.now();
  std::vector<std::shared_ptr<Collect>> collectors;
  std::vector<std::shared_ptr<Channel>> channels;
  int connected = 0, failed = 0;
  for (int i = 0; i < cfg.clients; ++i) {
    auto c = std::make_shared<Collect>();
    collectors.push_back(c);
    Transport& t = *clients[static_cast<std::size_t>(i) % clients.size()];
    connect_channel(t, ledger, to, std::chrono::seconds(10),
                    [c](Channel& ch) { ch.pipeline().add_last("collect", c); }, {},
                    [&, i](std::shared_ptr<Channel> ch, SocketError) {
                      if (!ch) {
                        ++failed;
                        return;
                      }
                      ++connected;
                      ch->write_and_flush(payload(cfg.bytes_per_client, static_cast<std::size_t>(i)));
                      channels.push_back(ch);
                    });
  }
  loop.run_until([&] {
    if (connected + failed < cfg.clients) return false;
    for (auto& c : collectors)
      if (c->bytes.size() < cfg.bytes_per_client) return false;
    return true;
  }, limit);
  r.bytes_match = failed == 0;
  for (std::size_t i = 0; i < collectors.size(); ++i) {
    r.bytes_sent += cfg.bytes_per_client;
    r.bytes_echoed += collectors[i]->bytes.size();
    if (collectors[i]->bytes != payload(cfg.bytes_per_client, i)) r.bytes_match = false;
  }
  r.elapsed_seconds = std::chrono::duration<double>(loop.now() - start).count();
  for (auto& ch : channels) ch->close();
  acceptor->close();
  loop.run_until([&] { return ledger.open_count() == 0 && live_connections(inventory()).empty(); }, limit);
  r.channels_opened = ledger.entries().size();
  r.channels_open_after = ledger.open_count();
  const auto live = live_connections(inventory());
  r.live_sockets_after = live.size();
  for (const auto& s : live)
    r.leaks.push_back("socket " + s.node + " " + s.local.to_string() + " -> " + s.remote.to_string() + " in " +
                      to_string(s.state));
  for (const auto& e : ledger.open_entries())
    r.leaks.push_back("channel #" + std::to_string(e.id) + " (" + to_string(e.side) + ") still open");
  return r;
}

}  // namespace

EchoDemoResult run_echo_demo_asio(const EchoDemoConfig& cfg) {
  asio::AsioTransport t;
  auto r = run(cfg, t.loop(), t, {&t}, "127.0.0.1", "127.0.0.1", std::chrono::seconds(30),
               [&] { return t.inventory(); });
  r.transport = "asio";
  r.clock = "wall";
  return r;
}

EchoDemoResult run_echo_demo_sim(const EchoDemoConfig& cfg) {
  sim::WorldConfig wc;
  wc.seed = cfg.seed;
  wc.clients = cfg.clients;
  sim::SimWorld world(wc);
  std::vector<Transport*> clients;
  for (int i = 0; i < cfg.clients; ++i) clients.push_back(&world.transport("client" + std::to_string(i)));
  auto r = run(cfg, world.loop(), world.transport("server"), clients, "0.0.0.0", world.address_of("server"),
               std::chrono::seconds(600), [&] { return world.inventory(); });
  r.transport = "sim";
  r.clock = "simulated";
  return r;
}

}  // namespace connfail::scenarios
