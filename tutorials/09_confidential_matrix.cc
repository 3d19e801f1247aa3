// Tutorial 09: the confidential matrix.
//
// The seed article's claim in one table: every attack (rows) against every
// protection (columns), each cell one seeded federated run whose numbers come
// only from that run (experiments/confidential_matrix.yaml, docs/matrix.md).
// This tutorial runs three rows against four columns at the tiny size, so it
// finishes in well under a minute; `confml run experiments/
// confidential_matrix.yaml` runs all of them.
//
// What you learn: how to read the matrix (success against the blind guess,
// utility in brackets, `*` where the protocol never handed the attack its
// input), that realms without a policy change nothing for these attacks
// (attestation tells *who* runs, a policy decides whom to *trust*), and that a
// policy stops attack *code* while robust aggregation limits what admitted
// parties can do.
//
//   09_confidential_matrix [key.sub=value ...]
#include <cmath>
#include <cstdio>
#include <string>
#include <vector>

#include "confml/experiments/config.h"
#include "confml/experiments/matrix.h"
#include "tutorial.h"

using namespace confml;
using namespace confml::tutorials;

int main(int argc, char** argv) {
  const std::string path = CONFML_TUTORIAL_DIR "/../experiments/confidential_matrix.yaml";
  std::vector<std::string> overrides = {
      "matrix.size=tiny",
      "matrix.rows=[\"inversion by a malicious runtime: matrix/inversion.yaml "
      "attack.position=runtime attack.iterations=5\", \"membership inference: "
      "matrix/membership.yaml federated.rounds=3\", \"model poisoning (crafted-update code): "
      "matrix/poisoning.yaml attack.name=sign_flip attack.scale=4 federated.rounds=3\"]",
      "matrix.columns=[\"no TEE: tee.name=none attestation.mode=off\", \"realms, no policy: "
      "tee.name=sim attestation.mode=tokens\", \"realms + policy: tee.name=sim "
      "attestation.mode=policy\", \"+ robust aggregation: tee.name=sim attestation.mode=policy "
      "aggregator.name=trimmed_mean aggregator.beta=0.3\"]"};
  for (int i = 1; i < argc; ++i) overrides.push_back(argv[i]);

  Banner("Tutorial 09: the confidential matrix");
  Say("Rows: gradient inversion by a malicious runtime (PSNR, dB), membership inference by a "
      "malicious device (AUC), model poisoning by three of ten devices sending crafted "
      "updates (test error of the final model). Columns: no TEE; realms whose tokens are "
      "checked but with no policy (every genuine realm is admitted); realms plus a policy "
      "listing the audited Programs; the same plus a trimmed-mean aggregator.");

  Section("1. Run the cells");
  experiments::ExperimentConfig config =
      Must(experiments::LoadExperimentConfig(path, overrides), "loading " + path);
  experiments::MatrixResult m =
      Must(experiments::RunMatrix(config,
                                  [](const experiments::MatrixCell& c) {
                                    std::printf("  %-40.40s | %-22s %s %8.4g%s\n", c.row.c_str(),
                                                c.column.c_str(), c.success_metric.c_str(),
                                                c.success, c.received_input ? "" : " *");
                                  }),
           "running the matrix");

  Section("2. The table");
  std::printf("%s\n", experiments::MatrixMarkdown(m).c_str());

  Section("3. Reading it");
  const auto& inv_plain = m.at(0, 0);
  const auto& inv_tokens = m.at(0, 1);
  const auto& inv_policy = m.at(0, 2);
  Expect(inv_plain.received_input && inv_plain.success > inv_plain.blind_guess + 2.0,
         "without a TEE the runtime reconstructs images above the blind guess");
  Expect(inv_tokens.received_input && inv_tokens.success == inv_plain.success,
         "realms without a policy change nothing: the attack runs in a genuine realm");
  Expect(!inv_policy.received_input && inv_policy.success == inv_policy.blind_guess,
         "with a policy the devices refuse the runtime: the attacker scores its blind guess");
  const auto& mem_plain = m.at(1, 0);
  const auto& mem_policy = m.at(1, 2);
  Expect(mem_plain.received_input && mem_plain.success > 0.5,
         "membership inference beats a coin flip without a policy");
  Expect(!mem_policy.received_input && mem_policy.success == 0.5,
         "with a policy the attacking device gets no model (AUC 0.5)");
  const auto& poi_plain = m.at(2, 0);
  const auto& poi_policy = m.at(2, 2);
  const auto& poi_robust = m.at(2, 3);
  Expect(poi_plain.success > 0.5, "crafted updates wreck the unprotected model (test error " +
                                      std::to_string(poi_plain.success) + ")");
  Expect(poi_policy.refusals > 0 && poi_policy.success < poi_plain.success - 0.3,
         "the policy refuses the crafted-update devices and the model learns");
  Expect(std::isfinite(poi_robust.utility) && poi_robust.utility > 0.5,
         "adding robust aggregation keeps the model useful");
  Say("`confml run experiments/confidential_matrix.yaml` writes matrix.md, matrix.csv and "
      "matrix.h5; `confml plot RUN_DIR` draws the heat map (notebook 05 shows it). The full "
      "matrix adds property inference, data poisoning (honest code on fake data: admitted by "
      "any policy), the host's view and the islet flows' model and data leaks.");
  return 0;
}
