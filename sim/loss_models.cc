#include "connfail/sim/loss_models.h"

#include <ns3/double.h>
#include <stdexcept>

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

// The ns-3 model for one LossSpec, its random draws on `stream` (and
// `stream + 1`); null for Kind::None. Throws std::invalid_argument for
// out-of-range values.
ns3::Ptr<ns3::ErrorModel> make_loss_model(const LossSpec& spec, int64_t stream) {
  auto prob_ok = [](double p) { return p >= 0.0 && p <= 1.0; };
  switch (spec.kind) {
    case LossSpec::Kind::None:
      return nullptr;
    case LossSpec::Kind::Uniform: {
      if (!prob_ok(spec.rate)) throw std::invalid_argument("set_loss: rate must be in [0, 1]");
      auto m = ns3::CreateObject<ns3::RateErrorModel>();
      m->SetUnit(ns3::RateErrorModel::ERROR_UNIT_PACKET);  // the default is per byte
      m->SetRate(spec.rate);
      m->AssignStreams(stream);
      return m;
    }
    case LossSpec::Kind::Burst: {
      if (!prob_ok(spec.burst_start) || spec.burst_min < 1 || spec.burst_max < spec.burst_min)
        throw std::invalid_argument("set_loss: burst_start in [0, 1] and 1 <= burst_min <= burst_max");
      auto start = ns3::CreateObject<ns3::UniformRandomVariable>();
      start->SetStream(stream);
      auto size = ns3::CreateObject<ns3::UniformRandomVariable>();
      size->SetAttribute("Min", ns3::DoubleValue(spec.burst_min));
      // GetInteger() includes Max: [burst_min, burst_max] packets.
      size->SetAttribute("Max", ns3::DoubleValue(spec.burst_max));
      size->SetStream(stream + 1);  // its own stream (ns-3's AssignStreams shares one)
      auto m = ns3::CreateObject<ns3::BurstErrorModel>();
      m->SetBurstRate(spec.burst_start);
      m->SetRandomVariable(start);
      m->SetRandomBurstSize(size);
      return m;
    }
    case LossSpec::Kind::GilbertElliott: {
      if (!prob_ok(spec.p_good_to_bad) || !prob_ok(spec.p_bad_to_good) || !prob_ok(spec.loss_good) ||
          !prob_ok(spec.loss_bad))
        throw std::invalid_argument("set_loss: Gilbert-Elliott probabilities must be in [0, 1]");
      auto m = ns3::CreateObject<GilbertElliottErrorModel>();
      m->SetParameters(spec.p_good_to_bad, spec.p_bad_to_good, spec.loss_good, spec.loss_bad);
      m->AssignStreams(stream);
      return m;
    }
  }
  return nullptr;
}


}  // namespace connfail::sim
