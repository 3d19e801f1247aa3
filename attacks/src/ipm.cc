// Inner Product Manipulation (Xie, Koyejo and Gupta, "Fall of Empires:
// Breaking Byzantine-tolerant SGD by Inner Product Manipulation", UAI 2019):
// colluding devices all send -epsilon times the mean of the benign updates of
// the round. A small epsilon keeps the crafted updates close to the benign
// ones, so median and Krum keep or select them, yet the aggregate's inner
// product with the true descent direction turns negative; a large epsilon
// does the same to a plain mean. docs/attacks/ipm.md has the derivation and
// our numbers.
#include <cmath>
#include <cstdint>
#include <limits>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "confml/attacks/poisoning.h"
#include "confml/core/attack.h"
#include "confml/core/model.h"
#include "confml/core/trainer.h"

namespace confml::attacks {
namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

class InnerProductManipulation : public Attack {
 public:
  InnerProductManipulation(const ParamSet& p, AttackEnv env)
      : epsilon_(p.Double("epsilon")),
        full_(p.String("knowledge") == "full"),
        env_(std::move(env)) {}

  std::string name() const override { return "ipm"; }
  AttackRole role() const override { return AttackRole::kDevice; }
  std::string config_text() const override {
    return "ipm epsilon=" + FormatParamValue(epsilon_) +
           " knowledge=" + (full_ ? "full" : "partial");
  }

  // Runs on the engine's thread in a fixed order, so plain members suffice.
  void OnRoundUpdates(const std::vector<ClientContext>&, const std::vector<float>& global,
                      std::vector<ClientUpdate>* updates) override {
    std::vector<size_t> mal;
    std::vector<double> benign_sum(global.size(), 0.0), own_sum(global.size(), 0.0);
    int64_t benign = 0;
    for (size_t i = 0; i < updates->size(); ++i) {
      const std::vector<float>& v = (*updates)[i].values;
      if (v.size() != global.size()) return;  // Nothing sane to craft from.
      const bool malicious = env_.malicious_clients.count((*updates)[i].client_id) > 0;
      if (malicious) mal.push_back(i);
      if (!malicious) ++benign;
      std::vector<double>& sum = malicious ? own_sum : benign_sum;
      for (size_t j = 0; j < v.size(); ++j) sum[j] += v[j];
    }
    if (mal.empty()) return;
    // The omniscient attacker of the paper knows the benign updates; a
    // partial-knowledge one estimates their mean from its own devices' honest
    // updates (as Fang et al. Section 4.1 do for their attacks).
    const bool use_benign = full_ && benign > 0;
    const std::vector<double>& sum = use_benign ? benign_sum : own_sum;
    const double count =
        static_cast<double>(use_benign ? benign : static_cast<int64_t>(mal.size()));
    mean_.assign(global.size(), 0.0);
    for (size_t j = 0; j < mean_.size(); ++j) mean_[j] = sum[j] / count;
    std::vector<float> crafted(global.size());
    for (size_t j = 0; j < crafted.size(); ++j)
      crafted[j] = static_cast<float>(-epsilon_ * mean_[j]);
    for (size_t i : mal) (*updates)[i].values = crafted;
    previous_global_ = global;
    ++attacked_rounds_;
  }

  // The paper's quantity: the inner product of the step the runtime really
  // took with the benign mean (the descent direction without attack).
  void OnRoundEnd(const RoundMetrics&, const std::vector<float>& global) override {
    final_ = global;
    if (previous_global_.size() != global.size() || mean_.size() != global.size()) return;
    double dot = 0.0, step_sq = 0.0, mean_sq = 0.0;
    for (size_t j = 0; j < global.size(); ++j) {
      const double step = static_cast<double>(global[j]) - previous_global_[j];
      dot += step * mean_[j];
      step_sq += step * step;
      mean_sq += mean_[j] * mean_[j];
    }
    if (step_sq > 0 && mean_sq > 0) {
      cosine_sum_ += dot / std::sqrt(step_sq * mean_sq);
      ++scored_rounds_;
      reversed_rounds_ += dot < 0;
    }
    previous_global_.clear();
    mean_.clear();
  }

  StatusOr<AttackReport> ComputeReport() override {
    AttackReport r;
    r.attack = name();
    r.success_metric = "test_error";
    r.higher_is_better = true;
    // Without input the devices change nothing: the outcome is the clean
    // run's, which only a second run measures.
    r.blind_guess = kNaN;
    r.received_input = attacked_rounds_ > 0;
    r.metrics["epsilon"] = epsilon_;
    r.metrics["attacked_rounds"] = static_cast<double>(attacked_rounds_);
    r.metrics["mean_step_cosine"] = scored_rounds_ > 0 ? cosine_sum_ / scored_rounds_ : kNaN;
    r.metrics["reversed_rounds"] = static_cast<double>(reversed_rounds_);
    r.metrics["test_accuracy"] = r.metrics["test_error"] = kNaN;
    if (final_.empty() || env_.test == nullptr) {
      r.note = "no round completed or no test set: nothing to score";
      return r;
    }
    CONFML_ASSIGN_OR_RETURN(
        ModelPtr model,
        CreateModel(env_.model, env_.model_params,
                    ModelContext{env_.test->sample_shape, env_.test->num_classes}, Seed(0)));
    CONFML_RETURN_IF_ERROR(LoadFlatState(*model, final_));
    const EvalResult e = Evaluate(*model, *env_.test);
    r.metrics["test_accuracy"] = e.accuracy;
    r.metrics["test_error"] = 1.0 - e.accuracy;
    r.note = "ipm crafted " + std::to_string(attacked_rounds_) + " round(s); the global step " +
             "moved against the benign mean in " + std::to_string(reversed_rounds_) + " of " +
             std::to_string(scored_rounds_);
    return r;
  }

 private:
  double epsilon_;
  bool full_;
  AttackEnv env_;
  std::vector<double> mean_;
  std::vector<float> previous_global_, final_;
  int64_t attacked_rounds_ = 0, scored_rounds_ = 0, reversed_rounds_ = 0;
  double cosine_sum_ = 0.0;
};

}  // namespace

Status RegisterIpmAttack() {
  static std::once_flag once;
  static Status result;
  std::call_once(once, [] {
    result = AttackRegistry().Add(
        ComponentSpec{
            "attack",
            "ipm",
            "Inner Product Manipulation (Xie, Koyejo and Gupta, UAI 2019): colluding devices "
            "send -epsilon times the mean of the benign updates.",
            {Param::Double("epsilon", 0.1,
                           "Scale of the reversed mean: small (0.1) against median and Krum, "
                           "large (above honest/malicious) against a plain mean.")
                 .GreaterThan(0.0),
             Param::String("knowledge", "full",
                           "full: the attacker sees the benign updates of the round; partial: "
                           "only its own devices' honest updates.")
                 .OneOf({"full", "partial"})}},
        [](const ParamSet& p, const AttackEnv& env) -> StatusOr<AttackPtr> {
          return AttackPtr(std::make_shared<InnerProductManipulation>(p, env));
        });
    if (result.code() == StatusCode::kAlreadyExists) result = OkStatus();
  });
  return result;
}

}  // namespace confml::attacks
