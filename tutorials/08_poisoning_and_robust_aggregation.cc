// Tutorial 08: poisoning and robust aggregation.
//
// A device that sends a crafted update can drag the average anywhere: FedAvg
// has a breakdown point of zero. Robust rules replace the mean by statistics
// a minority cannot move far: the coordinate-wise median and trimmed mean
// (Yin et al. 2018), Krum (Blanchard et al. 2017), which keeps the update
// closest to its neighbours.
//
// What you learn: model poisoning (sign flipping: the malicious devices send
// -scale times their honest update) against FedAvg, median, trimmed mean and
// Krum; and where attestation helps and where it does not. Crafted-update code
// changes a device's Program, so a policy refuses those devices; label
// flipping runs the honest code on fake data, its measurement is the honest
// one, and only the aggregation rule limits it.
//
//   08_poisoning_and_robust_aggregation [CONFIG.yaml] [key.sub=value ...]
#include <cstdio>
#include <string>
#include <vector>

#include "confml/experiments/config.h"
#include "confml/experiments/runner.h"
#include "tutorial.h"

using namespace confml;
using namespace confml::tutorials;

namespace {

std::string g_path = CONFML_TUTORIAL_DIR "/08_poisoning_and_robust_aggregation.yaml";
std::vector<std::string> g_overrides;

experiments::RunResult Run(const std::string& what, const std::vector<std::string>& extra) {
  experiments::RunResult r = RunQuietly(g_path, g_overrides, extra, what);
  int64_t refused = 0;
  for (const auto& round : r.rounds) refused += round.clients_refused;
  std::printf("  %-40s final test accuracy %.4f  (refused updates: %lld)\n", what.c_str(),
              r.final_test_accuracy, static_cast<long long>(refused));
  return r;
}

const std::vector<std::string> kSignFlip = {"attack.name=sign_flip", "attack.scale=4",
                                            "attack.malicious_fraction=0.3"};

std::vector<std::string> With(std::vector<std::string> a, const std::vector<std::string>& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

}  // namespace

int main(int argc, char** argv) {
  ParseConfigArgs(argc, argv, &g_path, &g_overrides);

  Banner("Tutorial 08: poisoning and robust aggregation");
  Say("Ten devices share 2000 Fashion-MNIST images (IID); all ten take part in every round. "
      "Three of them are malicious. We compare the final model's test accuracy.");

  Section("1. The clean federation");
  const double clean = Run("fedavg, no attack", {}).final_test_accuracy;
  Expect(clean > 0.6, "the clean federation learns");

  Section("2. Sign flipping against FedAvg");
  Say("Each malicious device trains honestly, then sends -4 times its update. Three of ten "
      "such updates outweigh the seven honest ones, so the average points uphill.");
  const double fedavg = Run("fedavg, sign_flip x4 by 3/10", kSignFlip).final_test_accuracy;
  Expect(fedavg < clean - 0.2, "the poisoned FedAvg model is far worse than the clean one");

  Section("3. Robust aggregation");
  Say("The median and the trimmed mean (here trimming 30% on each side) look at each "
      "coordinate separately; Krum with f=3 keeps the one update whose 10-3-2 nearest "
      "neighbours are closest. With three of ten attackers each is within its assumptions.");
  const double median =
      Run("median, sign_flip", With(kSignFlip, {"aggregator.name=median"})).final_test_accuracy;
  const double trimmed =
      Run("trimmed_mean beta=0.3, sign_flip",
          With(kSignFlip, {"aggregator.name=trimmed_mean", "aggregator.beta=0.3"}))
          .final_test_accuracy;
  const double krum =
      Run("krum f=3, sign_flip", With(kSignFlip, {"aggregator.name=krum", "aggregator.f=3"}))
          .final_test_accuracy;
  Expect(median > fedavg + 0.2, "the median resists sign flipping");
  Expect(trimmed > fedavg + 0.2, "the trimmed mean resists sign flipping");
  Expect(krum > fedavg + 0.2, "Krum resists sign flipping");

  Section("4. Attestation refuses crafted-update code");
  Say("Sign flipping is code: the malicious devices' Program carries the module, so their "
      "RIM is not the audited device RIM and a runtime checking the policy refuses their "
      "updates. FedAvg then averages honest updates only.");
  experiments::RunResult attested =
      Run("fedavg, sign_flip, realms + policy",
          With(kSignFlip, {"tee.name=sim", "attestation.mode=policy"}));
  int64_t refused = 0;
  for (const auto& round : attested.rounds) refused += round.clients_refused;
  Expect(refused > 0, "the runtime refused the malicious devices");
  Expect(attested.final_test_accuracy > fedavg + 0.2, "FedAvg recovers once they are refused");

  Section("5. ...but not poisoned data");
  Say("Label flipping feeds the honest training code wrong labels. The device's measurement "
      "is the honest one, so attestation admits it: only the aggregation rule (or data "
      "validation) can limit the damage.");
  experiments::RunResult flipped = Run("fedavg, label_flip by 3/10, realms + policy",
                                       {"attack.name=label_flip", "attack.malicious_fraction=0.3",
                                        "tee.name=sim", "attestation.mode=policy"});
  int64_t flipped_refused = 0;
  for (const auto& round : flipped.rounds) flipped_refused += round.clients_refused;
  Expect(flipped_refused == 0, "attestation admitted every label-flipping device");
  Say("Notebook 04 draws these runs as accuracy curves.");
  return 0;
}
