// JitterChannel: a point-to-point channel that adds a random extra delay to
// every packet, optionally keeping FIFO order (an extra delay never lets a
// packet overtake the one sent before it in the same direction).
// ns-3 3.37's PointToPointChannel has one fixed delay. Internal to sim/.
#pragma once

#include <ns3/point-to-point-channel.h>
#include <ns3/random-variable-stream.h>

#include <array>
#include <cstdint>

namespace connfail::sim {

class JitterChannel : public ns3::PointToPointChannel {
 public:
  static ns3::TypeId GetTypeId();
  JitterChannel();

  /// Extra delay U[0, max] per packet.
  void SetUniformJitter(ns3::Time max, bool allow_reorder);
  /// Extra delay N(mean, sd) clamped to [0, bound] per packet.
  void SetNormalJitter(ns3::Time mean, ns3::Time sd, ns3::Time bound, bool allow_reorder);
  void ClearJitter();
  /// Which wires get the extra delay: wire 0 carries what device 0 sends.
  void SetJitterDirections(bool wire0, bool wire1) { m_wires = {wire0, wire1}; }
  int64_t AssignStreams(int64_t stream);

  bool TransmitStart(ns3::Ptr<const ns3::Packet> p, ns3::Ptr<ns3::PointToPointNetDevice> src,
                     ns3::Time txTime) override;

  /// Packets delivered after a packet sent later in the same direction.
  uint64_t Reordered() const { return m_reordered; }

 private:
  void Deliver(uint32_t wire, uint64_t seq, ns3::Ptr<ns3::PointToPointNetDevice> dst, ns3::Ptr<ns3::Packet> p);

  enum class Mode { None, Uniform, Normal } m_mode = Mode::None;
  bool m_allowReorder = true;
  ns3::Time m_max, m_mean, m_sd, m_bound;
  ns3::Ptr<ns3::UniformRandomVariable> m_uniform;
  ns3::Ptr<ns3::NormalRandomVariable> m_normal;
  std::array<bool, 2> m_wires{true, true};
  std::array<ns3::Time, 2> m_lastArrival{};
  std::array<uint64_t, 2> m_sent{};
  std::array<uint64_t, 2> m_delivered{};
  uint64_t m_reordered = 0;
};

}  // namespace connfail::sim
