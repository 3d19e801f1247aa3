// confml/attacks/poisoning_attack.h: the base classes of the poisoning
// attacks (no LibTorch), so that a new attack of the family, built in or a
// one-file trial (docs/extending.md), derives from them instead of
// re-implementing their plumbing.
//
// - PoisoningAttack: a device attack that knows which clients are malicious
//   (AttackEnv::malicious_clients), keeps the final global model and reports
//   its test error (success metric "test_error", blind guess NaN: without
//   input the outcome is the clean run's).
// - DataPoisoningAttack: data poisoning by honest code (it passes
//   attestation; honest_code() is true). A subclass builds, once in its
//   Init() (the factory calls it before the run), the poisoned training set
//   of every malicious device with BuildShards(), whose callback edits a copy
//   of that device's own samples (relabel them, append crafted ones); the
//   engine's honest local training then walks that shard instead of the
//   device's data in every round where Active() is true (default: all).
//   Score() adds the attack's own success metric (e.g. with TargetRate() on
//   StampedTestInputs()). A backdoor appends stamped copies with
//   AddStampedCopies(); a Stamp is any function that writes a trigger into
//   one sample.
//
//   class CornerDot : public attacks::DataPoisoningAttack {
//    public:
//     CornerDot(const ParamSet& p, const AttackEnv& env)
//         : DataPoisoningAttack("corner_dot", p, env), target_(p.Int("target")) {}
//     Status Init() {
//       return BuildShards([&](int64_t id, attacks::PoisonedShard* s) {
//         Rng rng = env_.seed.Child("corner_dot").Child("client", id).MakeRng();
//         return AddStampedCopies(s, target_, 0.3, Dot(), rng, nullptr);
//       });
//     }
//    protected:
//     Status Score(Model& model, AttackReport* r) override {
//       CONFML_ASSIGN_OR_RETURN(Dataset t, StampedTestInputs(target_, Dot()));
//       CONFML_ASSIGN_OR_RETURN(double rate, TargetRate(model, t, target_));
//       r->metrics["success_rate"] = rate;
//       r->success_metric = "success_rate";
//       return OkStatus();
//     }
//     ...
//   };
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
// (core/fl_hooks.h), so subclasses keep plain members, except
// DataPoisoningAttack::ClientTrainingData, which worker threads call at once
// and which only reads the shards built in Init(). ComputeReport() loads
// the final model into a fresh env.model with LibTorch; the attacks library
// (confml::attacks) provides it.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "confml/attacks/poisoning.h"
#include "confml/core/attack.h"
#include "confml/core/dataset.h"
#include "confml/core/seed.h"
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

// The poisoned training set of one malicious device, built once at creation
// and read-only afterwards, so worker threads may share it.
struct PoisonedShard {
  Dataset data;                  // The device's own samples first, then crafted ones.
  std::vector<int64_t> indices;  // What the honest training walks: 0..n-1 (repeats allowed).
  int64_t honest_size = 0;       // How many of `data` are the device's own samples.
};

class DataPoisoningAttack : public PoisoningAttack {
 public:
  using PoisoningAttack::PoisoningAttack;

  // Honest local-training code on fake data (matrix row "data poisoning").
  bool honest_code() const override { return true; }

  // The malicious device's shard in rounds where Active(); `honest` otherwise.
  // Called on worker threads: it only reads shards_.
  ClientData ClientTrainingData(const ClientContext& c, ClientData honest) override;

  // Writes a trigger into one sample of `shape` in place; InvalidArgument
  // when it does not fit the shape.
  using Stamp = std::function<Status(const std::vector<int64_t>& shape, float* sample)>;

 protected:
  // Rounds in which the shards replace the devices' data.
  virtual bool Active(int64_t round) const { return true; }

  // Builds every malicious device's shard: a copy of its own samples (owners
  // cleared, honest_size set) that `poison` edits, then indices 0..n-1.
  // InvalidArgument without env.train and env.partition or for a malicious
  // id outside the partition; `poison`'s error as it is.
  Status BuildShards(const std::function<Status(int64_t client, PoisonedShard*)>& poison);

  // The backdoor poison of one shard: the device's own inputs of classes
  // other than `target`, each stamped and labelled `target` (into *stamped
  // when non-null), and copies drawn from them with `rng` appended until
  // they make up `fraction` of the shard (round(fraction / (1 - fraction) *
  // honest_size) copies), so that every batch of the honest training holds
  // about that share. A device without such inputs gets nothing.
  // InvalidArgument for fraction outside [0, 1) or `stamp`'s error.
  static Status AddStampedCopies(PoisonedShard* s, int64_t target, double fraction,
                                 const Stamp& stamp, Rng& rng, Dataset* stamped);

  // env.test's inputs of classes other than `target` with `stamp` applied,
  // on which a backdoor's success rate is measured (an empty set without a
  // test set); `stamp`'s error as it is.
  StatusOr<Dataset> StampedTestInputs(int64_t target, const Stamp& stamp) const;

  // The largest feature value of env.train (0 without one): the value a
  // pixel trigger sets, 1 for raw images and the normalised maximum otherwise.
  float BrightestTrainValue() const;

  std::map<int64_t, PoisonedShard> shards_;  // By client id, built in Init().
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
