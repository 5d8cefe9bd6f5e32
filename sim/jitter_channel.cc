#include "connfail/sim/jitter_channel.h"

#include <ns3/node.h>
#include <ns3/packet.h>
#include <ns3/point-to-point-net-device.h>
#include <ns3/simulator.h>

#include <algorithm>
#include <cmath>

namespace connfail::sim {

NS_OBJECT_ENSURE_REGISTERED(JitterChannel);

ns3::TypeId JitterChannel::GetTypeId() {
  static ns3::TypeId tid = ns3::TypeId("connfail::sim::JitterChannel")
                               .SetParent<ns3::PointToPointChannel>()
                               .SetGroupName("PointToPoint")
                               .AddConstructor<JitterChannel>();
  return tid;
}

JitterChannel::JitterChannel()
    : m_uniform(ns3::CreateObject<ns3::UniformRandomVariable>()),
      m_normal(ns3::CreateObject<ns3::NormalRandomVariable>()) {}

void JitterChannel::SetUniformJitter(ns3::Time max, bool allow_reorder) {
  m_mode = Mode::Uniform;
  m_max = max;
  m_allowReorder = allow_reorder;
}

void JitterChannel::SetNormalJitter(ns3::Time mean, ns3::Time sd, ns3::Time bound, bool allow_reorder) {
  m_mode = Mode::Normal;
  m_mean = mean;
  m_sd = sd;
  m_bound = bound;
  m_allowReorder = allow_reorder;
}

void JitterChannel::ClearJitter() { m_mode = Mode::None; }

int64_t JitterChannel::AssignStreams(int64_t stream) {
  m_uniform->SetStream(stream);
  m_normal->SetStream(stream + 1);
  return 2;
}

bool JitterChannel::TransmitStart(ns3::Ptr<const ns3::Packet> p, ns3::Ptr<ns3::PointToPointNetDevice> src,
                                  ns3::Time txTime) {
  const uint32_t wire = src == GetSource(0) ? 0 : 1;
  ns3::Ptr<ns3::PointToPointNetDevice> dst = GetDestination(wire);
  ns3::Time extra;
  switch (m_wires[wire] ? m_mode : Mode::None) {
    case Mode::None:
      break;
    case Mode::Uniform:
      extra = ns3::NanoSeconds(static_cast<int64_t>(m_uniform->GetValue(0.0, static_cast<double>(m_max.GetNanoSeconds()))));
      break;
    case Mode::Normal: {
      const double v = m_normal->GetValue(static_cast<double>(m_mean.GetNanoSeconds()),
                                          std::pow(static_cast<double>(m_sd.GetNanoSeconds()), 2.0));
      extra = ns3::NanoSeconds(static_cast<int64_t>(std::clamp(v, 0.0, static_cast<double>(m_bound.GetNanoSeconds()))));
      break;
    }
  }
  ns3::Time arrival = ns3::Simulator::Now() + txTime + GetDelay() + extra;
  if (!m_allowReorder) arrival = std::max(arrival, m_lastArrival[wire]);
  m_lastArrival[wire] = std::max(m_lastArrival[wire], arrival);
  const uint64_t seq = m_sent[wire]++;
  ns3::Simulator::ScheduleWithContext(dst->GetNode()->GetId(), arrival - ns3::Simulator::Now(),
                                      &JitterChannel::Deliver, this, wire, seq, dst, p->Copy());
  return true;
}

void JitterChannel::Deliver(uint32_t wire, uint64_t seq, ns3::Ptr<ns3::PointToPointNetDevice> dst,
                            ns3::Ptr<ns3::Packet> p) {
  if (seq < m_delivered[wire]) ++m_reordered;
  m_delivered[wire] = std::max(m_delivered[wire], seq + 1);
  dst->Receive(p);
}

}  // namespace connfail::sim
