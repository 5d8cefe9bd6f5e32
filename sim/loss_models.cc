#include "sim/loss_models.h"

#include <ns3/packet.h>

namespace connfail::sim {

NS_OBJECT_ENSURE_REGISTERED(GilbertElliottErrorModel);

ns3::TypeId GilbertElliottErrorModel::GetTypeId() {
  static ns3::TypeId tid = ns3::TypeId("connfail::sim::GilbertElliottErrorModel")
                               .SetParent<ns3::ErrorModel>()
                               .SetGroupName("Network")
                               .AddConstructor<GilbertElliottErrorModel>();
  return tid;
}

GilbertElliottErrorModel::GilbertElliottErrorModel()
    : transition_(ns3::CreateObject<ns3::UniformRandomVariable>()),
      loss_(ns3::CreateObject<ns3::UniformRandomVariable>()) {}

void GilbertElliottErrorModel::SetParameters(double p_gb, double p_bg, double loss_good, double loss_bad) {
  p_gb_ = p_gb;
  p_bg_ = p_bg;
  loss_good_ = loss_good;
  loss_bad_ = loss_bad;
}

int64_t GilbertElliottErrorModel::AssignStreams(int64_t stream) {
  // Two streams, not one (ns-3's BurstErrorModel gives both of its variables
  // the same stream, which correlates burst starts with burst sizes).
  transition_->SetStream(stream);
  loss_->SetStream(stream + 1);
  return 2;
}

double GilbertElliottErrorModel::StationaryLoss() const {
  if (p_gb_ + p_bg_ <= 0.0) return bad_ ? loss_bad_ : loss_good_;
  const double pi_b = p_gb_ / (p_gb_ + p_bg_);
  return (1.0 - pi_b) * loss_good_ + pi_b * loss_bad_;
}

bool GilbertElliottErrorModel::DoCorrupt(ns3::Ptr<ns3::Packet>) {
  const double u = transition_->GetValue();
  bad_ = bad_ ? !(u < p_bg_) : (u < p_gb_);
  return loss_->GetValue() < (bad_ ? loss_bad_ : loss_good_);
}

void GilbertElliottErrorModel::DoReset() { bad_ = false; }

NS_OBJECT_ENSURE_REGISTERED(LinkErrorModel);

ns3::TypeId LinkErrorModel::GetTypeId() {
  static ns3::TypeId tid = ns3::TypeId("connfail::sim::LinkErrorModel")
                               .SetParent<ns3::ErrorModel>()
                               .SetGroupName("Network")
                               .AddConstructor<LinkErrorModel>();
  return tid;
}

bool LinkErrorModel::DoCorrupt(ns3::Ptr<ns3::Packet> p) {
  if (dark_) return true;
  return loss_ && loss_->IsCorrupt(p);
}

}  // namespace connfail::sim
