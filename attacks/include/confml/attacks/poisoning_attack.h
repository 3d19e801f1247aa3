// confml/attacks/poisoning_attack.h: the base classes of the poisoning
// attacks (no LibTorch), so that a new attack of the family, built in or a
// one-file trial (docs/extending.md), derives from them instead of
// re-implementing their plumbing.
//
// - PoisoningAttack: a device attack that knows which clients are malicious
//   (AttackEnv::malicious_clients), keeps the final global model and reports
//   its test error (success metric "test_error", blind guess NaN: without
//   input the outcome is the clean run's).
// - CollusionAttack: colluding model poisoning. Each round it gathers the
//   malicious entries of the round's updates and what the attacker knows
//   (full knowledge: the benign updates; partial, or no benign client in the
//   round: only its own devices' honest updates, Fang et al. 2020 Section
//   4.1), calls Craft(), writes the crafted updates into the malicious
//   entries, and reports attacked and skipped rounds and the per-round means
//   given to Record(). Its parameters must include KnowledgeParam().
//
//   class MeanShift : public attacks::CollusionAttack {
//    public:
//     MeanShift(const ParamSet& p, const AttackEnv& env)
//         : CollusionAttack("mean_shift", p, env), scale_(p.Double("scale")) {}
//    protected:
//     Status Craft(int64_t round, const attacks::Updates& known, const std::vector<float>& global,
//                  int64_t num_malicious, int64_t num_clients, attacks::Updates* out) override {
//       ...  // out->assign(1, update): every malicious device sends it
//       return OkStatus();
//     }
//    private:
//     double scale_;
//   };
//   // ComponentSpec{"attack", "mean_shift", "...", {Param::Double("scale", ...),
//   //                                              attacks::KnowledgeParam()}}
//
// Threading: every hook these classes implement runs on the engine's thread
// (core/fl_hooks.h), so subclasses keep plain members. ComputeReport() loads
// the final model into a fresh env.model with LibTorch; the attacks library
// (confml::attacks) provides it.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "confml/attacks/poisoning.h"
#include "confml/core/attack.h"
#include "confml/core/status.h"

namespace confml {
class Model;  // confml/core/model.h (LibTorch)
}  // namespace confml

namespace confml::attacks {

// The `knowledge` parameter ("full" or "partial", default "full") that every
// CollusionAttack reads: add it to the attack's ComponentSpec.
ParamSpec KnowledgeParam();

class PoisoningAttack : public Attack {
 public:
  // `params` become config_text() ("NAME key=value ..."), which joins the
  // malicious devices' Program and so their measurement.
  PoisoningAttack(std::string name, const ParamSet& params, const AttackEnv& env);

  std::string name() const override { return name_; }
  AttackRole role() const override { return AttackRole::kDevice; }
  std::string config_text() const override { return config_; }

  // Counts the malicious devices' participations (received_input).
  void OnGlobalModel(const ClientContext& c, const std::vector<float>& global) override;
  // Keeps the new global model for scoring, then calls AfterRound().
  void OnRoundEnd(const RoundMetrics& m, const std::vector<float>& global) override;

 protected:
  // test_accuracy and test_error of the final model on env.test, the
  // participation counts, then Score()'s additions.
  StatusOr<AttackReport> ComputeReport() override;

  bool IsMalicious(int64_t client_id) const;
  // Extra metrics from the final model (e.g. a backdoor's success rate).
  virtual Status Score(Model& model, AttackReport* r);
  // After every round, with the new global model.
  virtual void AfterRound(const RoundMetrics& m, const std::vector<float>& global);

  // A fresh env.model for the test set's shape (the training set's without
  // one); FailedPrecondition when the env has neither.
  StatusOr<std::shared_ptr<Model>> ScoringModel() const;
  // Fraction of `data` that `model` predicts as `target` (NaN for no data).
  static StatusOr<double> TargetRate(Model& model, const Dataset& data, int64_t target);

  std::string name_;
  AttackEnv env_;

 private:
  std::string config_;
  int64_t participations_ = 0;
  std::vector<float> final_;
};

class CollusionAttack : public PoisoningAttack {
 public:
  // Reads params.String("knowledge") (KnowledgeParam()).
  CollusionAttack(std::string name, const ParamSet& params, const AttackEnv& env);

  void OnRoundUpdates(const std::vector<ClientContext>& clients, const std::vector<float>& global,
                      std::vector<ClientUpdate>* updates) override;

 protected:
  // Fills `out` with one update per malicious client, or with a single one
  // that every malicious client sends. `known` is what the attacker sees
  // (see above); `global` the model the round started from; `num_malicious`
  // and `num_clients` count the round's updates. An error skips the round
  // (the honest updates stay) and the report's note gives the last one.
  virtual Status Craft(int64_t round, const Updates& known, const std::vector<float>& global,
                       int64_t num_malicious, int64_t num_clients, Updates* out) = 0;

  // Adds attacked_rounds, skipped_rounds and the Record()ed means.
  Status Score(Model& model, AttackReport* r) override;
  // Adds v to the per-round mean reported as metric `name`.
  void Record(const std::string& name, double v);

  bool full_knowledge() const { return full_; }
  // The malicious devices' own honest updates of the round; non-null only
  // during Craft (under full knowledge `known` is the benign updates).
  const Updates* own_updates() const { return own_; }

 private:
  bool full_;
  const Updates* own_ = nullptr;
  int64_t attacked_rounds_ = 0, skipped_rounds_ = 0;
  std::string last_error_;
  std::map<std::string, std::pair<double, int64_t>> stats_;
};

}  // namespace confml::attacks
