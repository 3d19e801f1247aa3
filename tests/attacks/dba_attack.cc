// A data-poisoning attack tried in one file (docs/extending.md, section 6):
// the Distributed Backdoor Attack (Xie, Huang, Chen and Li, ICLR 2020). The
// global trigger is four bars of `trigger_size` white pixels laid out two by
// two, `trigger_gap` pixels apart, from (`trigger_row`, `trigger_col`); the
// k-th malicious device (by id) poisons its data with bar k mod 4 alone and
// label `target`, and the model is tested with all four bars. Defaults are
// the authors' MNIST setting (utils/mnist_params.yaml of their code).
// DataPoisoningAttack (confml/attacks/poisoning_attack.h) hands the shards
// to the honest training code and scores the final model's test error; this
// file builds the shards and scores the triggers.
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "confml/attacks/poisoning_attack.h"
#include "confml/core/attack.h"

namespace confml::trials {
namespace {

constexpr int64_t kParts = 4;

class Dba : public attacks::DataPoisoningAttack {
 public:
  Dba(const ParamSet& p, const AttackEnv& env)
      : DataPoisoningAttack("dba", p, env),
        target_(p.Int("target")),
        fraction_(p.Double("poison_fraction")),
        size_(p.Int("trigger_size")),
        gap_(p.Int("trigger_gap")),
        row_(p.Int("trigger_row")),
        col_(p.Int("trigger_col")) {}

  Status Init() {
    if (env_.train == nullptr) return InvalidArgumentError("dba needs the training set");
    if (target_ >= env_.train->num_classes) {
      return InvalidArgumentError("dba: target " + std::to_string(target_) +
                                  " is not a class of the data (0 to " +
                                  std::to_string(env_.train->num_classes - 1) + ")");
    }
    const std::vector<int64_t>& shape = env_.train->sample_shape;
    const int64_t rows = row_ + 2 + gap_, cols = col_ + 2 * size_ + gap_;
    if (shape.size() != 3 || shape[1] < rows || shape[2] < cols) {
      return InvalidArgumentError(
          "dba: the trigger (trigger_size " + std::to_string(size_) + ", trigger_gap " +
          std::to_string(gap_) + ", from trigger_row " + std::to_string(row_) + ", trigger_col " +
          std::to_string(col_) + ") needs images of at least " + std::to_string(rows) + " x " +
          std::to_string(cols) + " pixels; the samples have shape " + ShapeText(shape));
    }
    value_ = BrightestTrainValue();
    // Local triggers go round-robin over the malicious devices by id.
    int64_t k = 0;
    for (int64_t id : env_.malicious_clients) part_[id] = k++ % kParts;
    return BuildShards([&](int64_t id, attacks::PoisonedShard* s) {
      Rng rng = env_.seed.Child("dba").Child("client", static_cast<uint64_t>(id)).MakeRng();
      return AddStampedCopies(s, target_, fraction_, Bars({part_[id]}), rng, nullptr);
    });
  }

 protected:
  Status Score(Model& model, AttackReport* r) override {
    // Attack success rate: test inputs of other classes, with the global
    // trigger and with each local one alone, predicted as the target.
    CONFML_ASSIGN_OR_RETURN(Dataset global, StampedTestInputs(target_, Bars({0, 1, 2, 3})));
    CONFML_ASSIGN_OR_RETURN(double rate, TargetRate(model, global, target_));
    r->metrics["success_rate"] = rate;
    r->success_metric = "success_rate";
    for (int64_t k = 0; k < kParts; ++k) {
      CONFML_ASSIGN_OR_RETURN(Dataset local, StampedTestInputs(target_, Bars({k})));
      CONFML_ASSIGN_OR_RETURN(double local_rate, TargetRate(model, local, target_));
      r->metrics["local_success_rate_" + std::to_string(k)] = local_rate;
    }
    return OkStatus();
  }

 private:
  static std::string ShapeText(const std::vector<int64_t>& shape) {
    std::string s = "{";
    for (size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
    return s + "}";
  }

  // Sets the pixels of the given bars, in every channel, to the brightest
  // value: bar k is row row_ + (k / 2) (1 + gap_), columns from
  // col_ + (k % 2) (size_ + gap_). Init() checked the training images; a
  // test set of another shape is refused here.
  Stamp Bars(std::vector<int64_t> parts) const {
    return [this, parts](const std::vector<int64_t>& shape, float* x) -> Status {
      if (shape.size() != 3 || shape[1] < row_ + 2 + gap_ || shape[2] < col_ + 2 * size_ + gap_) {
        return InvalidArgumentError("dba: the trigger does not fit samples of shape " +
                                    ShapeText(shape));
      }
      const int64_t h = shape[1], w = shape[2];
      for (int64_t c = 0; c < shape[0]; ++c) {
        for (int64_t k : parts) {
          const int64_t r = row_ + (k / 2) * (1 + gap_), c0 = col_ + (k % 2) * (size_ + gap_);
          for (int64_t j = c0; j < c0 + size_; ++j) x[(c * h + r) * w + j] = value_;
        }
      }
      return OkStatus();
    };
  }

  int64_t target_;
  double fraction_;
  int64_t size_, gap_, row_, col_;
  float value_ = 0.0f;
  std::map<int64_t, int64_t> part_;  // Malicious device -> its local trigger.
};

const bool kRegistered = [] {
  Status s = AttackRegistry().Add(
      ComponentSpec{
          "attack",
          "dba",
          "Distributed Backdoor Attack (Xie et al., ICLR 2020): each malicious device poisons "
          "its data with one of four local triggers; the model is tested with the global one "
          "(a trial: docs/extending.md).",
          {Param::Int("target", 2, "Label the triggered inputs should get (authors' MNIST: 2).")
               .AtLeast(0),
           Param::Double("poison_fraction", 20.0 / 64.0,
                         "Share of stamped copies in a malicious device's data (authors' MNIST: "
                         "20 of every batch of 64).")
               .GreaterThan(0.0)
               .AtMost(0.95),
           Param::Int("trigger_size", 4, "Pixels of each local trigger's bar.").AtLeast(1),
           Param::Int("trigger_gap", 2, "Free pixels between the bars, across and down.")
               .AtLeast(0),
           Param::Int("trigger_row", 0, "Row of the global trigger's top left pixel.").AtLeast(0),
           Param::Int("trigger_col", 0, "Column of the global trigger's top left pixel.")
               .AtLeast(0)}},
      [](const ParamSet& p, const AttackEnv& env) -> StatusOr<AttackPtr> {
        auto a = std::make_shared<Dba>(p, env);
        CONFML_RETURN_IF_ERROR(a->Init());
        return AttackPtr(std::move(a));
      });
  return s.ok();
}();

}  // namespace
}  // namespace confml::trials
