// connfail: the command-line entry point.
#include <CLI/CLI.hpp>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>

#include "scenarios/echo_demo.h"

namespace {

using connfail::scenarios::EchoDemoConfig;
using connfail::scenarios::EchoDemoResult;

nlohmann::json to_json(const EchoDemoResult& r) {
  return {{"transport", r.transport},
          {"clients", r.clients},
          {"bytes_sent", r.bytes_sent},
          {"bytes_echoed", r.bytes_echoed},
          {"bytes_match", r.bytes_match},
          {"channels_opened", r.channels_opened},
          {"channels_open_after", r.channels_open_after},
          {"live_sockets_after", r.live_sockets_after},
          {"elapsed_seconds", r.elapsed_seconds},
          {"clock", r.clock},
          {"leaks", r.leaks},
          {"passed", r.passed()}};
}

// Writes `text` to `path` through a temporary file, so a failed run never
// leaves a half-written report behind.
bool write_atomically(const std::filesystem::path& path, const std::string& text) {
  std::error_code ec;
  if (path.has_parent_path()) std::filesystem::create_directories(path.parent_path(), ec);
  const auto tmp = path.string() + ".tmp";
  {
    std::ofstream out(tmp, std::ios::trunc);
    if (!out) return false;
    out << text;
    if (!out) return false;
  }
  std::filesystem::rename(tmp, path, ec);
  return !ec;
}

int run_demo(const EchoDemoConfig& cfg, const std::string& transport, const std::string& out) {
  std::vector<EchoDemoResult> results;
  if (transport == "sim" || transport == "both") results.push_back(run_echo_demo_sim(cfg));
  if (transport == "asio" || transport == "both") results.push_back(run_echo_demo_asio(cfg));

  std::printf("connfail demo: %d clients x %zu bytes echoed, seed %u\n\n", cfg.clients, cfg.bytes_per_client,
              cfg.seed);
  std::printf("%-9s %-8s %14s %10s %9s %9s %14s  %s\n", "transport", "verdict", "bytes echoed", "channels",
              "open", "live", "elapsed", "clock");
  bool ok = true;
  nlohmann::json j = {{"schema", "connfail-demo/1"}, {"results", nlohmann::json::array()}};
  for (const auto& r : results) {
    std::printf("%-9s %-8s %14zu %10zu %9zu %9zu %12.3f s  %s\n", r.transport.c_str(),
                r.passed() ? "PASS" : "FAIL", r.bytes_echoed, r.channels_opened, r.channels_open_after,
                r.live_sockets_after, r.elapsed_seconds, r.clock.c_str());
    for (const auto& l : r.leaks) std::printf("    leak: %s\n", l.c_str());
    ok = ok && r.passed();
    j["results"].push_back(to_json(r));
  }
  if (!out.empty()) {
    if (!write_atomically(out, j.dump(2) + "\n")) {
      std::fprintf(stderr, "connfail: cannot write %s\n", out.c_str());
      return 2;
    }
    std::printf("\nwrote %s\n", out.c_str());
  }
  return ok ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"connfail: connection-failure scenarios for Netty-style servers, on real and simulated TCP"};
  app.require_subcommand(1);

  EchoDemoConfig cfg;
  std::string transport = "both";
  std::string out = "reports/demo.json";
  auto* demo = app.add_subcommand(
      "demo", "Echo workload over the simulated (ns-3) and the real (Asio, loopback) transport; "
              "exit 0 if every byte came back and nothing leaked, 1 otherwise");
  demo->add_option("--clients", cfg.clients, "Number of clients")->check(CLI::Range(1, 1000))->capture_default_str();
  demo->add_option("--bytes", cfg.bytes_per_client, "Bytes each client echoes")
      ->check(CLI::Range(std::size_t{1}, std::size_t{64} << 20))
      ->capture_default_str();
  demo->add_option("--seed", cfg.seed, "Seed of the simulated run")->capture_default_str();
  demo->add_option("--transport", transport, "sim, asio or both")
      ->check(CLI::IsMember({"sim", "asio", "both"}))
      ->capture_default_str();
  demo->add_option("--out", out, "JSON summary file (empty: none)")->capture_default_str();

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    // --help and friends exit 0; every usage error is bad input: exit 2.
    return app.exit(e) == 0 ? 0 : 2;
  }
  try {
    if (*demo) return run_demo(cfg, transport, out);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "connfail: %s\n", e.what());
    return 2;
  }
  return 2;
}
