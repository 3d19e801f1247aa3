// An attack in one file (docs/extending.md): a free-riding device that sends
// no work of its own, a zero update or, disguised, Gaussian noise (Lin et al.
// 2019, "Free-riders in Federated Learning"; Fraboni et al. 2021 for the
// disguised variant). Registered at static initialisation, so linking the
// file is all it takes; a config then names it: attack: {name: free_rider}.
#include <cmath>
#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "confml/core/attack.h"
#include "confml/core/seed.h"

namespace confml::examples {
namespace {

class FreeRider : public Attack {
 public:
  FreeRider(double noise_std, AttackEnv env) : noise_std_(noise_std), env_(std::move(env)) {}

  std::string name() const override { return "free_rider"; }
  AttackRole role() const override { return AttackRole::kDevice; }
  // Its parameters are part of the device's Program, so of its measurement.
  std::string config_text() const override {
    return "free_rider noise_std=" + std::to_string(noise_std_);
  }

  void OnClientUpdate(const ClientContext& c, const std::vector<float>&,
                      ClientUpdate* update) override {
    if (env_.malicious_clients.count(c.client_id) == 0) return;
    // Each (round, client) gets its own stream: the update depends on the
    // client alone, not on which clients the round sampled before it.
    Rng rng = env_.seed.Child("free_rider", static_cast<uint64_t>(c.round * 1000003 + c.client_id))
                  .MakeRng();
    for (float& v : update->values) {
      v = noise_std_ > 0 ? static_cast<float>(noise_std_ * rng.Normal()) : 0.0f;
    }
    ++free_rides_;
  }

  void OnRoundEnd(const RoundMetrics& m, const std::vector<float>&) override {
    if (!std::isnan(m.test_accuracy)) last_accuracy_ = m.test_accuracy;
  }

  StatusOr<AttackReport> ComputeReport() override {
    AttackReport r;
    r.attack = name();
    r.success_metric = "free_rides";
    r.metrics["free_rides"] = static_cast<double>(free_rides_);
    r.metrics["final_test_accuracy"] = last_accuracy_;
    r.blind_guess = 0.0;
    r.received_input = free_rides_ > 0;
    r.note = "free_rider sent " + std::to_string(free_rides_) + " update(s) without training";
    return r;
  }

 private:
  double noise_std_;
  AttackEnv env_;
  // OnClientUpdate runs on the engine's thread in slot order (fl_hooks.h),
  // so a plain counter suffices.
  int64_t free_rides_ = 0;
  double last_accuracy_ = std::nan("");
};

const bool kRegistered = [] {
  Status s = AttackRegistry().Add(
      ComponentSpec{"attack",
                    "free_rider",
                    "Free-riding devices (Lin et al. 2019): send a zero update, or Gaussian "
                    "noise to look busy, instead of training.",
                    {Param::Double("noise_std", 0.0,
                                   "0: send zeros; > 0: send N(0, noise_std^2) per coordinate "
                                   "(a disguised free rider).")
                         .AtLeast(0.0)}},
      [](const ParamSet& p, const AttackEnv& env) -> StatusOr<AttackPtr> {
        return AttackPtr(std::make_shared<FreeRider>(p.Double("noise_std"), env));
      });
  return s.ok();
}();

}  // namespace

// The test asks whether registration succeeded (a clash would fail it).
bool FreeRiderRegistered() { return kRegistered; }

}  // namespace confml::examples
