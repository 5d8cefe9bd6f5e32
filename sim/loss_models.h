// Packet-loss models for sim links that ns-3 3.37 lacks. Internal to sim/.
#pragma once

#include <ns3/error-model.h>
#include <ns3/random-variable-stream.h>

#include "connfail/sim/sim_world.h"

namespace connfail::sim {

/// Gilbert-Elliott: a two-state Markov chain (good, bad). Per packet the
/// chain first moves (good->bad with p_gb, bad->good with p_bg), then the
/// packet is lost with the current state's loss probability. Long-run loss =
/// pi_g * loss_good + pi_b * loss_bad, with pi_b = p_gb / (p_gb + p_bg).
class GilbertElliottErrorModel : public ns3::ErrorModel {
 public:
  static ns3::TypeId GetTypeId();
  GilbertElliottErrorModel();
  void SetParameters(double p_gb, double p_bg, double loss_good, double loss_bad);
  /// Pins the two random streams used (transition, loss); returns streams used.
  int64_t AssignStreams(int64_t stream);
  bool InBadState() const { return bad_; }
  /// The analytic long-run loss rate of the current parameters.
  double StationaryLoss() const;

 private:
  bool DoCorrupt(ns3::Ptr<ns3::Packet> p) override;
  void DoReset() override;

  double p_gb_ = 0.0, p_bg_ = 1.0, loss_good_ = 0.0, loss_bad_ = 0.0;
  bool bad_ = false;
  ns3::Ptr<ns3::UniformRandomVariable> transition_;
  ns3::Ptr<ns3::UniformRandomVariable> loss_;
};

/// What every sim link device drops: everything while the link is dark (a
/// cut cable, a vanished host), otherwise what the optional loss model says.
/// Reversible, so partitions heal.
class LinkErrorModel : public ns3::ErrorModel {
 public:
  static ns3::TypeId GetTypeId();
  void SetDark(bool dark) { dark_ = dark; }
  bool IsDark() const { return dark_; }
  void SetLoss(ns3::Ptr<ns3::ErrorModel> loss) { loss_ = loss; }

 private:
  bool DoCorrupt(ns3::Ptr<ns3::Packet> p) override;
  void DoReset() override {}

  bool dark_ = false;
  ns3::Ptr<ns3::ErrorModel> loss_;
};

/// The ns-3 error model for `spec`, drawing from random stream `stream`
/// (and `stream + 1` for burst sizes); null for LossSpec::Kind::None.
/// Throws std::invalid_argument for out-of-range values.
ns3::Ptr<ns3::ErrorModel> make_loss_model(const LossSpec& spec, int64_t stream);

}  // namespace connfail::sim
