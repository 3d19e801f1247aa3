// The inference and leak attack configs (issue 8, deliverable 5) run at a
// tiny size through the runner, as `confml run` does, and each metric moves
// the way its attack says it should:
// - membership (experiments/attacks/membership_*.yaml): AUC above one half on
//   an overfit model, about one half on a model that never learned from its
//   training data;
// - property inference (experiments/attacks/property_inference.yaml): the
//   scores rank the rounds with a Bag holder above those without, far better
//   than they rank a shuffled ground truth;
// - leaks (experiments/islet/g_no_tee_*.yaml, the leak configs): everything
//   leaks without a TEE, nothing with realms and a policy.
#include <gtest/gtest.h>
#include <hdf5.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <string>
#include <vector>

#include "confml/attacks/membership.h"
#include "confml/core/seed.h"
#include "confml/experiments/config.h"
#include "confml/experiments/runner.h"
#include "run_util.h"
#include "test_util.h"

namespace confml::experiments {
namespace {

const std::string kFashionMnist = "/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz";

// Runs experiments/<rel>.yaml with `overrides`; a run folder is written only
// when `output_dir` is set. One LibTorch thread: the attacks train on the
// run's own thread, and spinning OpenMP threads on a loaded CI machine cost
// more than they give.
RunResult RunConfig(const std::string& rel, std::vector<std::string> overrides,
                    const std::string& output_dir = "") {
  overrides.push_back("experiment.threads=1");
  return testing::RunShippedConfig(rel, std::move(overrides), output_dir);
}

std::string Events(const RunResult& r) { return testing::EventsText(r); }

// Tiny membership runs: 2 devices x 100 images, 600 test images (300 of them
// the attacker's shadow data), 100 members and 100 non-members scored.
const std::vector<std::string> kTinyMembership = {
    "dataset.train_limit=200", "dataset.test_limit=600", "model.hidden=[128]",
    "federated.rounds=3",      "federated.local_epochs=10", "attack.num_samples=100"};
const std::vector<std::string> kTinyShadow = {"attack.num_shadow=2", "attack.shadow_size=100",
                                              "attack.shadow_epochs=30", "attack.attack_steps=150"};

std::vector<std::string> Concat(std::vector<std::string> a, const std::vector<std::string>& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

class InferenceConfigs : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!std::filesystem::exists(kFashionMnist)) GTEST_SKIP() << "no Fashion-MNIST";
  }
};

TEST_F(InferenceConfigs, MembershipLossLeaksOnlyFromAModelThatLearnedItsMembers) {
  RunResult overfit = RunConfig("attacks/membership_loss", kTinyMembership);
  EXPECT_EQ(overfit.outcome["attack.received_input"], 1.0) << Events(overfit);
  EXPECT_EQ(overfit.outcome["attack.members"], 100.0);
  EXPECT_GT(overfit.outcome["attack.member_accuracy"],
            overfit.outcome["attack.nonmember_accuracy"] + 0.1)
      << "the tiny model does not overfit: " << Events(overfit);
  EXPECT_GT(overfit.outcome["attack.auc"], 0.6) << Events(overfit);
  EXPECT_TRUE(overfit.outcome.count("attack.tpr_at_1pct_fpr"));

  // The same run with a learning rate too small to move the weights: the
  // model is its initialisation and carries nothing about the members, so
  // members and non-members score alike (both are Fashion-MNIST images; a
  // train/test shift would show here). 100 + 100 samples: AUC's standard
  // error under no signal is about 0.04.
  RunResult untrained =
      RunConfig("attacks/membership_loss", Concat(kTinyMembership, {"optimizer.lr=1e-9"}));
  EXPECT_EQ(untrained.outcome["attack.received_input"], 1.0);
  EXPECT_NEAR(untrained.outcome["attack.auc"], 0.5, 0.12) << Events(untrained);
  EXPECT_LT(untrained.outcome["attack.auc"], overfit.outcome["attack.auc"]);
}

TEST_F(InferenceConfigs, MembershipShadowLeaksOnlyFromAModelThatLearnedItsMembers) {
  const std::vector<std::string> tiny = Concat(kTinyMembership, kTinyShadow);
  RunResult overfit = RunConfig("attacks/membership_shadow", tiny);
  EXPECT_EQ(overfit.outcome["attack.received_input"], 1.0) << Events(overfit);
  EXPECT_GT(overfit.outcome["attack.shadow_train_accuracy"], 0.9);
  EXPECT_GT(overfit.outcome["attack.auc"], 0.55) << Events(overfit);
  EXPECT_TRUE(overfit.outcome.count("attack.tpr_at_1pct_fpr"));

  RunResult untrained =
      RunConfig("attacks/membership_shadow", Concat(tiny, {"optimizer.lr=1e-9"}));
  EXPECT_NEAR(untrained.outcome["attack.auc"], 0.5, 0.12) << Events(untrained);
  EXPECT_LT(untrained.outcome["attack.auc"], overfit.outcome["attack.auc"]);
}

// A float array of a run's outcome.h5 (/arrays/<name>, written by the
// runner from the attack's report); empty when missing.
std::vector<float> ReadOutcomeArray(const std::string& path, const std::string& name) {
  std::vector<float> out;
  H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr);
  const hid_t file = H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT);
  if (file < 0) return out;
  const hid_t ds = H5Dopen2(file, ("/arrays/" + name).c_str(), H5P_DEFAULT);
  if (ds >= 0) {
    const hid_t space = H5Dget_space(ds);
    const hssize_t n = H5Sget_simple_extent_npoints(space);
    if (n > 0) {
      out.resize(static_cast<size_t>(n));
      if (H5Dread(ds, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, out.data()) < 0) out.clear();
    }
    H5Sclose(space);
    H5Dclose(ds);
  }
  H5Fclose(file);
  return out;
}

// AUC of `scores` against `truth` (1 holder took part, 0 not).
double Auc(const std::vector<float>& scores, const std::vector<float>& truth) {
  std::vector<double> s(scores.begin(), scores.end());
  std::vector<int> y;
  for (float t : truth) y.push_back(t > 0.5f ? 1 : 0);
  StatusOr<attacks::RocCurve> roc = attacks::ComputeRoc(s, y);
  EXPECT_TRUE(roc.ok()) << roc.status();
  return roc.ok() ? roc->auc : NAN;
}

TEST_F(InferenceConfigs, PropertyScoresRankTheHoldersRoundsAboveAShuffledTruth) {
  testing::TempDir tmp;
  RunResult r = RunConfig("attacks/property_inference", {"federated.rounds=30"}, tmp.path());
  ASSERT_FALSE(r.run_dir.empty());
  EXPECT_EQ(r.outcome["attack.received_input"], 1.0) << Events(r);
  const std::vector<float> scores = ReadOutcomeArray(r.run_dir + "/outcome.h5", "scores");
  const std::vector<float> truth = ReadOutcomeArray(r.run_dir + "/outcome.h5", "truth");
  ASSERT_EQ(scores.size(), truth.size());
  ASSERT_GE(scores.size(), 4u) << Events(r);
  const auto positives = std::count(truth.begin(), truth.end(), 1.0f);
  ASSERT_GT(positives, 0) << "no observed round had the holder: " << Events(r);
  ASSERT_LT(positives, static_cast<std::ptrdiff_t>(truth.size())) << Events(r);

  const double auc = Auc(scores, truth);
  EXPECT_NEAR(auc, r.outcome["attack.auc"], 1e-6);  // the stored arrays are the scored ones
  // Control: the same scores against seeded shuffles of the ground truth
  // (same number of positives). Scores that knew nothing of the holder would
  // do as well on a shuffle as on the truth.
  Rng rng(17);
  double shuffled = 0.0;
  const int kShuffles = 200;
  for (int k = 0; k < kShuffles; ++k) {
    std::vector<float> t = truth;
    rng.Shuffle(t);
    shuffled += Auc(scores, t);
  }
  shuffled /= kShuffles;
  EXPECT_NEAR(shuffled, 0.5, 0.1);
  EXPECT_GE(auc, 0.85) << Events(r);
  EXPECT_GT(auc, shuffled + 0.25);
}

// The leak configs are the Islet flows g (docs/attacks/README.md): the same
// attack code with and without the protections.
TEST(LeakConfigs, TheHostCopiesTheOnDeviceModelOnlyWithoutARealm) {
  const std::vector<std::string> tiny = {"flow.pretrain_epochs=30"};
  RunResult none = RunConfig("islet/g_no_tee_model_leak", tiny);
  EXPECT_EQ(none.outcome["host_read_ok"], 1.0) << Events(none);
  EXPECT_EQ(none.outcome["stolen_model_agreement"], 1.0);

  RunResult realm = RunConfig("islet/g_no_tee_model_leak",
                              Concat(tiny, {"tee.name=sim", "attestation.mode=policy"}));
  EXPECT_EQ(realm.outcome["host_read_ok"], 0.0) << Events(realm);
  // Without the bytes the host holds only its own guess.
  EXPECT_EQ(realm.outcome["stolen_model_agreement"],
            realm.outcome["stolen_model_blind_agreement"]);
  EXPECT_LT(realm.outcome["stolen_model_agreement"], 1.0);
}

TEST(LeakConfigs, TheRuntimeLogsInputsUnlessThePolicyRefusesIt) {
  const std::vector<std::string> tiny = {"flow.pretrain_epochs=30", "flow.train_epochs=10"};
  RunResult none = RunConfig("islet/g_no_tee_data_leak", tiny);
  EXPECT_GT(none.outcome["inputs_sent"], 0.0) << Events(none);
  EXPECT_EQ(none.outcome["leak_fraction"], 1.0);

  // Realms without a policy: any measurement is admitted, attack code included.
  RunResult tokens = RunConfig("islet/g_no_tee_data_leak",
                               Concat(tiny, {"tee.name=sim", "attestation.mode=tokens"}));
  EXPECT_EQ(tokens.outcome["leak_fraction"], 1.0) << Events(tokens);
  EXPECT_EQ(tokens.outcome["user_input_on_wire"], 0.0);

  RunResult policy = RunConfig("islet/g_no_tee_data_leak",
                               Concat(tiny, {"tee.name=sim", "attestation.mode=policy"}));
  EXPECT_EQ(policy.outcome["inputs_sent"], 0.0) << Events(policy);
  EXPECT_EQ(policy.outcome["leak_fraction"], 0.0);
}

}  // namespace
}  // namespace confml::experiments
