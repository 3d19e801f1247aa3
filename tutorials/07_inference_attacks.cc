// Tutorial 07: inference attacks.
//
// A model leaks facts about its training data even when nobody sees the data
// or the updates. Two attacks by a malicious *device*, which legitimately
// receives the global model every round:
//   - membership inference (Yeom et al. 2018): samples the model was trained
//     on have lower loss than unseen ones, so thresholding the loss tells
//     members from non-members;
//   - property inference (Melis et al. 2019): the change between consecutive
//     global models reveals whether a co-participant's batch held a property
//     (here: images of class 8, Bag).
// Both are scored by ROC AUC; an attacker with no input scores 0.5.
//
// What you learn: why the attacks work, how they are scored against the blind
// guess, and that attestation stops them only when the attack is code in the
// device's Program (it is here: the device runs an attack module, so an
// attested runtime refuses to send it the model).
//
//   07_inference_attacks [key.sub=value ...]   (applied to both configs)
#include <cstdio>
#include <string>
#include <vector>

#include "confml/experiments/config.h"
#include "confml/experiments/runner.h"
#include "tutorial.h"

using namespace confml;
using namespace confml::tutorials;

namespace {

std::vector<std::string> g_overrides;

experiments::RunResult Run(const std::string& config_name, const std::string& what,
                           const std::vector<std::string>& extra) {
  const std::string path = std::string(CONFML_TUTORIAL_DIR) + "/" + config_name;
  experiments::RunResult r = RunQuietly(path, g_overrides, extra, what);
  std::printf("  %-36s received input: %-3s  AUC %.4f  (blind guess %.2f)\n", what.c_str(),
              r.outcome["attack.received_input"] > 0 ? "yes" : "no", r.outcome["attack.success"],
              r.outcome["attack.blind_guess"]);
  return r;
}

}  // namespace

int main(int argc, char** argv) {
  for (int i = 1; i < argc; ++i) g_overrides.push_back(argv[i]);

  Banner("Tutorial 07: inference attacks");

  Section("1. Membership inference on the final global model");
  Say("Four devices share 400 images and train 5 local epochs a round, so the model overfits "
      "its members. The malicious device scores 200 training members against 200 held-out "
      "images by their loss under the final global model.");
  experiments::RunResult m = Run("07_membership.yaml", "membership, no TEE", {});
  Expect(m.outcome["attack.received_input"] > 0, "the device received the global model");
  Expect(m.outcome["attack.success"] > 0.55,
         "members are distinguishable from non-members (AUC above 0.55)");
  std::printf("  advantage (max TPR - FPR): %.4f, TPR at 1%% FPR: %.4f\n",
              m.outcome["attack.advantage"], m.outcome["attack.tpr_at_1pct_fpr"]);

  Section("2. Property inference from consecutive global models");
  Say("Four devices with Dirichlet(0.3) label skew, two a round, 60 rounds. The malicious device "
      "trains "
      "a classifier on model differences it simulates with and without Bag images, then applies "
      "it to the real difference of each round.");
  experiments::RunResult p = Run("07_property_inference.yaml", "property inference, no TEE", {});
  Expect(p.outcome["attack.received_input"] > 0, "the device observed the global models");
  Expect(p.outcome["attack.success"] > 0.7,
         "the property is inferred far better than chance "
         "(AUC above 0.7)");

  Section("3. The same attacks under realms and a policy");
  Say("The attack module is code in the malicious device's Program, so its RIM is not the "
      "audited device RIM; the runtime checks every device's token against the policy and "
      "sends the global model only to those it admits.");
  const std::vector<std::string> guarded = {"tee.name=sim", "attestation.mode=policy"};
  experiments::RunResult mg = Run("07_membership.yaml", "membership, realms + policy", guarded);
  Expect(mg.outcome["attack.received_input"] == 0, "the malicious device got no global model");
  Expect(mg.outcome["attack.success"] == mg.outcome["attack.blind_guess"],
         "membership inference falls to the blind guess (AUC 0.5)");
  experiments::RunResult pg =
      Run("07_property_inference.yaml", "property inference, realms + policy", guarded);
  Expect(pg.outcome["attack.received_input"] == 0, "the malicious device observed nothing");

  Section("What to take away");
  Say("Confidential computing does not make a model forget its training data: an admitted, "
      "honest party that holds the final model could still run membership inference on it. "
      "What attestation adds is control over which code receives the model. Differential "
      "privacy (aggregator dp_fedavg) bounds what any holder can learn.");
  return 0;
}
