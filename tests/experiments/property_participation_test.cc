// The matrix's property row (experiments/matrix/property.yaml) and why its
// AUC used to be NaN on some seeds: the attacker saw too few consecutive
// global models, or no other device held the property. The base now keeps the
// attacker online in every round (attack.every_round) and has two Bag
// holders, so every seed observes every round and has a victim to find; a
// metric that is still undefined shows as "undefined" with its reason in the
// matrix table.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <string>
#include <vector>

#include "confml/experiments/config.h"
#include "confml/experiments/matrix.h"
#include "confml/experiments/runner.h"
#include "test_util.h"

namespace confml::experiments {
namespace {

const std::string kFashionMnist = "/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz";

StatusOr<RunResult> RunProperty(std::vector<std::string> overrides) {
  // Small: 5 rounds, 600 training images (6 devices of 100), 500 held out.
  overrides.insert(overrides.begin(), {"federated.rounds=5", "dataset.train_limit=600",
                                       "dataset.test_limit=500", "experiment.threads=1"});
  StatusOr<ExperimentConfig> c = LoadExperimentConfig(
      testing::SourceDir() + "/experiments/matrix/property.yaml", overrides);
  if (!c.ok()) return c.status();
  RunOptions ro;
  ro.write_run_dir = false;
  ro.progress = ProgressMode::kNone;
  return RunExperiment(*c, ro);
}

double Outcome(const RunResult& r, const std::string& key) {
  auto it = r.outcome.find(key);
  return it == r.outcome.end() ? std::nan("") : it->second;
}

TEST(PropertyParticipation, EverySeedObservesEveryRoundAndHasAnotherHolder) {
  if (!std::filesystem::exists(kFashionMnist)) GTEST_SKIP() << "no Fashion-MNIST";
  double fewer_without = 0;
  // Seeds 2 and 3 make a Bag holder the attacker (devices 4 and 5), the case
  // that had no defined AUC with one holder.
  for (int seed : {2, 3}) {
    StatusOr<RunResult> r = RunProperty({"experiment.seed=" + std::to_string(seed)});
    ASSERT_TRUE(r.ok()) << r.status();
    // 5 rounds: the pairs (1,2) ... (4,5).
    EXPECT_EQ(Outcome(*r, "attack.observed_rounds"), 4) << "seed " << seed;
    // Bags straddle the last two of six label-sorted shards: whoever the
    // attacker is, another device holds the property.
    EXPECT_GE(Outcome(*r, "attack.honest_holders"), 1) << "seed " << seed;
    StatusOr<RunResult> off =
        RunProperty({"experiment.seed=" + std::to_string(seed), "attack.every_round=false"});
    ASSERT_TRUE(off.ok()) << off.status();
    const double observed = Outcome(*off, "attack.observed_rounds");
    if (std::isnan(observed)) {
      fewer_without += 4;  // never two models in a row: blind guess, no metric
    } else {
      fewer_without += 4 - observed;
    }
  }
  // Uniform sampling (3 of 6 per round) loses observations on these seeds.
  EXPECT_GT(fewer_without, 0);
}

TEST(PropertyParticipation, EveryRoundIsRefusedForANonDeviceAttack) {
  if (!std::filesystem::exists(kFashionMnist)) GTEST_SKIP() << "no Fashion-MNIST";
  StatusOr<ExperimentConfig> c = LoadExperimentConfig(
      testing::SourceDir() + "/experiments/matrix/inversion.yaml",
      {"attack.every_round=true", "attack.malicious_fraction=0", "attack.iterations=1",
       "experiment.threads=1"});
  ASSERT_TRUE(c.ok()) << c.status();
  RunOptions ro;
  ro.write_run_dir = false;
  ro.progress = ProgressMode::kNone;
  StatusOr<RunResult> r = RunExperiment(*c, ro);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(r.status().message().find("every_round applies to device attacks"),
            std::string::npos)
      << r.status();
}

TEST(PropertyParticipation, MatrixNamesAnUndefinedCellAndItsReason) {
  MatrixResult m;
  m.name = "m";
  m.size = "tiny";
  m.rows = {"property"};
  m.columns = {"none", "policy"};
  MatrixCell a;
  a.row = "property";
  a.column = "none";
  a.kind = "federated";
  a.success_metric = "auc";
  a.success = std::nan("");
  a.blind_guess = 0.5;
  a.received_input = true;
  a.utility = 0.7;
  a.note = "AUC undefined: no device other than the attacker's holds the property";
  MatrixCell b = a;
  b.column = "policy";
  b.success = 0.5;
  b.received_input = false;
  b.note = "blind guess";
  m.cells = {a, b};
  const std::string md = MatrixMarkdown(m);
  EXPECT_NE(md.find("| property (auc, blind 0.5) | undefined (0.7) | 0.5* (0.7) |"),
            std::string::npos)
      << md;
  EXPECT_NE(md.find("`undefined`: property x none: auc is not defined in this run (AUC "
                    "undefined: no device other than the attacker's holds the property)"),
            std::string::npos)
      << md;
  EXPECT_EQ(md.find("nan"), std::string::npos) << md;
  const std::string csv = MatrixCsv(m);
  EXPECT_NE(csv.find(",\"AUC undefined: no device other than the attacker's holds the property\"\n"),
            std::string::npos)
      << csv;
}

}  // namespace
}  // namespace confml::experiments
