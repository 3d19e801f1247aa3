// A colluding attack tried in one file (docs/extending.md, section 5): the
// malicious devices all send the mean of the updates they know, reversed and
// stretched to `scale` times the middle length of those updates, so the
// crafted update is no longer than an honest one to a norm check.
// CollusionAttack (confml/attacks/poisoning_attack.h) picks the malicious
// entries, applies full or partial knowledge, counts the attacked rounds and
// scores the final model's test error; this file only crafts.
#include <algorithm>
#include <cmath>
#include <memory>
#include <utility>
#include <vector>

#include "confml/attacks/poisoning.h"
#include "confml/attacks/poisoning_attack.h"
#include "confml/core/attack.h"

namespace confml::trials {
namespace {

double Length(const std::vector<float>& v) {
  double sum = 0.0;
  for (float x : v) sum += static_cast<double>(x) * x;
  return std::sqrt(sum);
}

class ReversedMean : public attacks::CollusionAttack {
 public:
  ReversedMean(const ParamSet& p, const AttackEnv& env)
      : CollusionAttack("reversed_mean", p, env), scale_(p.Double("scale")) {}

 protected:
  Status Craft(int64_t, const attacks::Updates& known, const std::vector<float>&, int64_t, int64_t,
               attacks::Updates* out) override {
    // Minus the mean: IPM's kernel at epsilon 1.
    CONFML_ASSIGN_OR_RETURN(std::vector<float> u, attacks::IpmUpdate(known, 1.0));
    std::vector<double> lengths;
    for (const std::vector<float>& k : known) lengths.push_back(Length(k));
    std::nth_element(lengths.begin(), lengths.begin() + lengths.size() / 2, lengths.end());
    const double target = scale_ * lengths[lengths.size() / 2];
    const double length = Length(u);
    if (length == 0) {
      return FailedPreconditionError("reversed_mean: the known updates average to 0");
    }
    for (float& v : u) v = static_cast<float>(v * (target / length));
    Record("mean_crafted_length", target);
    out->assign(1, std::move(u));
    return OkStatus();
  }

 private:
  double scale_;
};

const bool kRegistered = [] {
  Status s = AttackRegistry().Add(
      ComponentSpec{"attack",
                    "reversed_mean",
                    "Colluding devices send the reversed mean of the updates they know, as long "
                    "as `scale` times their middle length (a trial: docs/extending.md).",
                    {Param::Double("scale", 1.0,
                                   "Length of the crafted update, in middle lengths of the "
                                   "known updates.")
                         .GreaterThan(0.0),
                     attacks::KnowledgeParam()}},
      [](const ParamSet& p, const AttackEnv& env) -> StatusOr<AttackPtr> {
        return AttackPtr(std::make_shared<ReversedMean>(p, env));
      });
  return s.ok();
}();

}  // namespace
}  // namespace confml::trials
