// The echo demo: N clients each echo a payload through a server, then close;
// the result says whether every byte came back and whether anything leaked.
// Runs the same netcore code on either transport.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "connfail/netcore/transport.h"

namespace connfail::scenarios {

struct EchoDemoConfig {
  int clients = 4;
  std::size_t bytes_per_client = 256 * 1024;
  std::uint32_t seed = 1;
};

struct EchoDemoResult {
  std::string transport;
  int clients = 0;
  std::size_t bytes_sent = 0;
  std::size_t bytes_echoed = 0;
  bool bytes_match = false;
  std::size_t channels_opened = 0;
  std::size_t channels_open_after = 0;
  std::size_t live_sockets_after = 0;
  double elapsed_seconds = 0;  // simulated on sim, wall on asio
  std::string clock;           // "simulated" or "wall"
  std::vector<std::string> leaks;  // one line per live socket or open channel
  bool passed() const { return bytes_match && leaks.empty(); }
};

EchoDemoResult run_echo_demo_asio(const EchoDemoConfig& cfg);
EchoDemoResult run_echo_demo_sim(const EchoDemoConfig& cfg);

}  // namespace connfail::scenarios
