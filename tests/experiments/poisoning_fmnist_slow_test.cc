// The poisoning configs of experiments/attacks/ on Fashion-MNIST, and the
// acceptance directions of issue 8 at a small size (docs/attacks/poisoning.md
// has the full grid and its command). Directions, not numbers: each check
// compares an attacked run with the same run without malicious devices.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "confml/experiments/config.h"
#include "confml/experiments/runner.h"
#include "run_util.h"
#include "test_util.h"

namespace confml::experiments {
namespace {

std::string Config(const std::string& name) {
  return testing::SourceDir() + "/experiments/attacks/poison_" + name + ".yaml";
}

bool HaveFashionMnist() {
  return std::filesystem::exists("/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz");
}

StatusOr<RunResult> RunPoison(const std::string& name, const std::vector<std::string>& overrides) {
  return testing::RunConfigFile(Config(name), overrides);
}

double Error(const RunResult& r) { return 1.0 - r.final_test_accuracy; }

// Tiny: 1,000 training samples over the 100 devices, 2 rounds, the attack
// from round 2 (so the warm-up path runs too).
std::vector<std::string> Tiny(const std::string& out, const std::string& attack,
                              std::vector<std::string> extra = {}) {
  std::vector<std::string> o = {"experiment.output_dir=" + out, "dataset.train_limit=1000",
                                "dataset.test_limit=500",       "federated.rounds=2",
                                "federated.eval_every=0",       "attack.start_round=2"};
  if (attack == "backdoor") o.push_back("attack.attack_rounds=[2]");
  o.insert(o.end(), extra.begin(), extra.end());
  return o;
}

// The attack's config at the tiny size, once without malicious devices (the
// clean reference) and once as shipped.
struct CleanAndAttacked {
  RunResult clean, attacked;
};

StatusOr<CleanAndAttacked> RunCleanAndAttacked(const std::string& out, const std::string& attack) {
  CleanAndAttacked runs;
  CONFML_ASSIGN_OR_RETURN(runs.clean,
                          RunPoison(attack, Tiny(out, attack, {"attack.malicious_fraction=0"})));
  CONFML_ASSIGN_OR_RETURN(runs.attacked, RunPoison(attack, Tiny(out, attack)));
  return runs;
}

TEST(PoisonConfigsTest, EveryConfigRunsAloneAtTinySizeAndMovesItsMetric) {
  if (!HaveFashionMnist()) GTEST_SKIP() << "Fashion-MNIST not installed";
  testing::TempDir dir;
  // Attacks that must visibly hurt the aggregator their config names at this
  // size; the subtle ones (built to hide inside the benign spread) must at
  // least not help by more than noise.
  const std::map<std::string, bool> strong = {
      {"label_flip", false},       {"sign_flip", true}, {"gaussian_noise", true},
      {"scaling", true},           {"alie", false},     {"fang_krum", true},
      {"fang_trimmed_mean", true}, {"min_max", false},  {"min_sum", false}};
  for (const auto& [attack, is_strong] : strong) {
    SCOPED_TRACE(attack);
    StatusOr<CleanAndAttacked> runs = RunCleanAndAttacked(dir.path(), attack);
    ASSERT_TRUE(runs.ok()) << runs.status().message();
    const RunResult& clean = runs->clean;
    const RunResult& attacked = runs->attacked;
    EXPECT_TRUE(std::filesystem::exists(attacked.run_dir + "/fl_rounds.h5"));
    EXPECT_TRUE(std::filesystem::exists(attacked.run_dir + "/outcome.h5"));
    EXPECT_EQ(attacked.outcome.at("attack.malicious_clients"), 20.0);
    EXPECT_NEAR(attacked.outcome.at("attack.test_error"), Error(attacked), 1e-9);
    if (is_strong) {
      EXPECT_GT(Error(attacked), Error(clean) + 0.02)
          << "clean " << Error(clean) << " attacked " << Error(attacked);
    } else {
      EXPECT_GT(Error(attacked), Error(clean) - 0.05)
          << "clean " << Error(clean) << " attacked " << Error(attacked);
    }
  }
  for (const std::string attack : {"targeted_injection", "backdoor"}) {
    SCOPED_TRACE(attack);
    StatusOr<CleanAndAttacked> runs = RunCleanAndAttacked(dir.path(), attack);
    ASSERT_TRUE(runs.ok()) << runs.status().message();
    const RunResult& clean = runs->clean;
    const RunResult& attacked = runs->attacked;
    EXPECT_TRUE(std::filesystem::exists(attacked.run_dir + "/outcome.h5"));
    const std::string metric =
        attack == "backdoor" ? "attack.success_rate_after_attack" : "attack.success_rate";
    ASSERT_TRUE(attacked.outcome.count(metric)) << metric;
    EXPECT_GT(attacked.outcome.at(metric), clean.outcome.at("attack.success_rate") + 0.03)
        << "clean " << clean.outcome.at("attack.success_rate") << " attacked "
        << attacked.outcome.at(metric);
  }
}

// Issue 8's acceptance directions at a small size: 2,000 training samples
// over the 100 devices (20 malicious), Fang et al.'s split q = 0.5, MLP(16);
// a clean FedAvg run of 20 rounds, then 3 rounds from its model per cell.
// Only the label-flip band holds reliably at this size. Fang's Krum and
// trimmed-mean attacks and the one-round backdoor moved their metrics by less
// than the seed-to-seed spread here (Krum +0.005, trimmed mean +0.009,
// backdoor 0.03 success), so they are not asserted at this size; their
// measured values at the grid's size, and which bands hold, are in
// docs/attacks/poisoning.md (bench/poisoning_grid.py).
class PoisoningAcceptanceTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (!HaveFashionMnist()) return;
    dir_ = new testing::TempDir();
    StatusOr<RunResult> clean = RunPoison("clean", Common({"federated.rounds=20"}));
    ASSERT_TRUE(clean.ok()) << clean.status().message();
    start_ = new std::string(clean->run_dir);
  }
  static void TearDownTestSuite() {
    delete start_;
    start_ = nullptr;
    delete dir_;
    dir_ = nullptr;
  }
  void SetUp() override {
    if (!HaveFashionMnist()) GTEST_SKIP() << "Fashion-MNIST not installed";
    ASSERT_NE(start_, nullptr);
  }

  static std::vector<std::string> Common(std::vector<std::string> extra) {
    std::vector<std::string> o = {"experiment.output_dir=" + dir_->path(),
                                  "dataset.train_limit=2000", "dataset.test_limit=1000",
                                  "model.hidden=[16]", "federated.eval_every=0"};
    o.insert(o.end(), extra.begin(), extra.end());
    return o;
  }
  // `attack` from the clean model for 3 rounds against `aggregator`
  // ("none": the clean config continued).
  static RunResult Cell(const std::string& attack, const std::string& aggregator,
                        std::vector<std::string> extra = {}) {
    std::vector<std::string> o = {"federated.rounds=3", "federated.initial_model=" + *start_,
                                  "aggregator.name=" + aggregator};
    if (aggregator == "krum") o.push_back("aggregator.f=20");
    if (aggregator == "trimmed_mean") o.push_back("aggregator.beta=0.2");
    if (attack != "none") o.push_back("attack.start_round=1");
    if (attack == "backdoor") o.push_back("attack.attack_rounds=[1]");
    o.insert(o.end(), extra.begin(), extra.end());
    StatusOr<RunResult> r = RunPoison(attack == "none" ? "clean" : attack, Common(o));
    EXPECT_TRUE(r.ok()) << attack << " x " << aggregator << ": " << r.status().message();
    return r.ok() ? *r : RunResult{};
  }

  static testing::TempDir* dir_;
  static std::string* start_;
};
testing::TempDir* PoisoningAcceptanceTest::dir_ = nullptr;
std::string* PoisoningAcceptanceTest::start_ = nullptr;

TEST_F(PoisoningAcceptanceTest, LabelFlipBarelyMovesTheRobustRules) {
  for (const std::string agg : {"median", "trimmed_mean", "krum"}) {
    const double clean = Error(Cell("none", agg));
    const double attacked = Error(Cell("label_flip", agg));
    EXPECT_LE(std::abs(attacked - clean), 0.03)
        << agg << ": clean " << clean << " attacked " << attacked;
  }
}

}  // namespace
}  // namespace confml::experiments
