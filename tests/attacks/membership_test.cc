// Tests of confml/attacks/membership.h: the ROC math on hand cases and
// against a brute-force Mann-Whitney count, and the attacks end to end on an
// overfit federated model (and refused by the runtime: blind guess).
#include "confml/attacks/membership.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <limits>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "../common/data_util.h"
#include "confml/attacks/attacks.h"
#include "confml/core/attack.h"
#include "confml/core/federated.h"
#include "federation_util.h"

namespace confml::attacks {
namespace {

TEST(RocTest, PerfectSeparation) {
  StatusOr<RocCurve> roc = ComputeRoc({0.9, 0.8, 0.7, 0.6}, {1, 1, 0, 0});
  ASSERT_TRUE(roc.ok());
  EXPECT_DOUBLE_EQ(roc->auc, 1.0);
  ASSERT_EQ(roc->points.size(), 5u);
  const double want[5][2] = {{0, 0}, {0, 0.5}, {0, 1}, {0.5, 1}, {1, 1}};
  for (size_t i = 0; i < 5; ++i) {
    EXPECT_DOUBLE_EQ(roc->points[i].fpr, want[i][0]);
    EXPECT_DOUBLE_EQ(roc->points[i].tpr, want[i][1]);
  }
  EXPECT_DOUBLE_EQ(TprAtFpr(*roc, 0.01), 1.0);
  EXPECT_DOUBLE_EQ(MaxAdvantage(*roc), 1.0);
}

TEST(RocTest, ReversedAndTied) {
  EXPECT_DOUBLE_EQ(ComputeRoc({0.1, 0.2, 0.8, 0.9}, {1, 1, 0, 0})->auc, 0.0);
  StatusOr<RocCurve> tied = ComputeRoc({0.5, 0.5, 0.5}, {1, 0, 0});
  ASSERT_TRUE(tied.ok());
  EXPECT_DOUBLE_EQ(tied->auc, 0.5);
  ASSERT_EQ(tied->points.size(), 2u);  // (0,0) then (1,1) at once
  EXPECT_DOUBLE_EQ(TprAtFpr(*tied, 0.01), 0.0);
}

TEST(RocTest, HandCaseWithInterleaving) {
  // Members 0.9 and 0.7, non-members 0.8, 0.6, 0.5: 5 of 6 pairs ordered.
  StatusOr<RocCurve> roc = ComputeRoc({0.9, 0.8, 0.7, 0.6, 0.5}, {1, 0, 1, 0, 0});
  ASSERT_TRUE(roc.ok());
  EXPECT_NEAR(roc->auc, 5.0 / 6.0, 1e-15);
  EXPECT_DOUBLE_EQ(TprAtFpr(*roc, 0.0), 0.5);
  EXPECT_DOUBLE_EQ(TprAtFpr(*roc, 1.0 / 3.0), 1.0);
  EXPECT_NEAR(MaxAdvantage(*roc), 1.0 - 1.0 / 3.0, 1e-15);
}

TEST(RocTest, AucEqualsMannWhitneyWithTies) {
  Rng rng(3);
  for (int trial = 0; trial < 20; ++trial) {
    std::vector<double> s;
    std::vector<int> y;
    for (int i = 0; i < 60; ++i) {
      const int label = rng.Uniform() < 0.4 ? 1 : 0;
      y.push_back(label);
      s.push_back(std::round((rng.Normal() + label) * 4) / 4);  // many ties
    }
    y[0] = 1;
    y[1] = 0;
    double wins = 0, pairs = 0;
    for (size_t i = 0; i < s.size(); ++i) {
      for (size_t j = 0; j < s.size(); ++j) {
        if (y[i] != 1 || y[j] != 0) continue;
        pairs += 1;
        wins += s[i] > s[j] ? 1.0 : (s[i] == s[j] ? 0.5 : 0.0);
      }
    }
    StatusOr<RocCurve> roc = ComputeRoc(s, y);
    ASSERT_TRUE(roc.ok());
    EXPECT_NEAR(roc->auc, wins / pairs, 1e-12);
  }
}

TEST(RocTest, RejectsBadInput) {
  EXPECT_EQ(ComputeRoc({1, 2}, {1}).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(ComputeRoc({1, 2}, {1, 1}).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(ComputeRoc({1, 2}, {1, 2}).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(ComputeRoc({1, std::nan("")}, {1, 0}).status().code(), StatusCode::kInvalidArgument);
}

// Refuses one device at the runtime, as a failed attestation would.
class RefuseClient : public FederatedHooks {
 public:
  explicit RefuseClient(int64_t id) : id_(id) {}
  Admission AdmitClient(const ClientContext& c) override {
    if (c.client_id == id_) return {false, "measurement not in policy"};
    return {};
  }

 private:
  int64_t id_;
};

class MembershipRunTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(RegisterBuiltinAttacks().ok());
    // Noisy blobs: a wide MLP memorises its 300 samples but generalises
    // poorly, the regime where membership leaks.
    StatusOr<Dataset> all = MakeSynthetic(
        {.num_samples = 1400, .num_features = 32, .num_classes = 8, .separation = 0.35}, Seed(31));
    ASSERT_TRUE(all.ok()) << all.status();
    testing::SplitAt(*all, 600, all->size(), &train_, &test_);
    partition_ = {{}, {}};
    for (int64_t i = 0; i < train_.size(); ++i) partition_[static_cast<size_t>(i % 2)].push_back(i);
  }

  AttackReport Run(const std::string& attack, std::map<std::string, ParamValue> params,
                   bool refuse_attacker) {
    AttackEnv env;
    env.model = "mlp";
    env.model_params = {{"hidden", std::vector<int64_t>{128, 128}}};
    env.train = &train_;
    env.test = &test_;
    env.partition = &partition_;
    env.malicious_clients = {1};
    env.local_epochs = 25;
    env.local_batch_size = 32;
    env.optimizer = "adam";
    env.learning_rate = 3e-3;
    env.rounds = 4;
    env.clients_per_round = 2;
    env.seed = Seed(99);
    StatusOr<std::unique_ptr<FederatedEngine>> e =
        FederatedEngine::Create(FederatedOptionsOf(env), SetupFor(env, Seed(8)));
    EXPECT_TRUE(e.ok()) << e.status();
    if (!e.ok()) return {};
    if (refuse_attacker) (*e)->AddHooks(std::make_shared<RefuseClient>(1));
    AttackPtr a = AttachAttack(**e, attack, params, env);
    if (!a) return {};
    StatusOr<FederatedResult> r = (*e)->Run();
    EXPECT_TRUE(r.ok()) << r.status();
    return ReportOf(*a);
  }

  Dataset train_, test_;
  Partition partition_;
};

TEST_F(MembershipRunTest, LossThresholdBeatsBlindGuessOnOverfitModel) {
  AttackReport r = Run("membership_loss", {{"num_samples", int64_t{200}}}, false);
  EXPECT_TRUE(r.received_input);
  EXPECT_EQ(r.success_metric, "auc");
  EXPECT_GT(r.metrics["member_accuracy"], r.metrics["nonmember_accuracy"] + 0.2);
  EXPECT_GT(r.metrics["auc"], 0.6);
  ASSERT_EQ(r.metrics.count("tpr_at_1pct_fpr"), 1u);
  EXPECT_GE(r.metrics["tpr_at_1pct_fpr"], 0.0);
  EXPECT_LE(r.metrics["tpr_at_1pct_fpr"], 1.0);
  EXPECT_EQ(r.metrics["members"], 200.0);
  std::printf("membership_loss: auc %.3f tpr@1%%fpr %.3f advantage %.3f (member acc %.3f, non-member acc %.3f)\n",
              r.metrics["auc"], r.metrics["tpr_at_1pct_fpr"], r.metrics["advantage"],
              r.metrics["member_accuracy"], r.metrics["nonmember_accuracy"]);
}

TEST_F(MembershipRunTest, ShadowModelsBeatBlindGuess) {
  AttackReport r = Run("membership_shadow",
                       {{"num_samples", int64_t{200}}, {"num_shadow", int64_t{2}},
                        {"shadow_epochs", int64_t{60}}, {"shadow_size", int64_t{150}}},
                       false);
  EXPECT_TRUE(r.received_input);
  EXPECT_GT(r.metrics["auc"], 0.6);
  AttackReport single = Run("membership_shadow",
                            {{"num_samples", int64_t{200}}, {"num_shadow", int64_t{2}},
                             {"shadow_epochs", int64_t{60}}, {"shadow_size", int64_t{150}},
                             {"attack_model", std::string("single")}},
                            false);
  EXPECT_GT(single.metrics["auc"], 0.55);
  std::printf("membership_shadow: per_class auc %.3f tpr@1%%fpr %.3f; single auc %.3f tpr@1%%fpr %.3f\n",
              r.metrics["auc"], r.metrics["tpr_at_1pct_fpr"], single.metrics["auc"],
              single.metrics["tpr_at_1pct_fpr"]);
}

TEST_F(MembershipRunTest, RefusedAttackerReportsBlindGuess) {
  AttackReport r = Run("membership_loss", {}, true);
  EXPECT_FALSE(r.received_input);
  EXPECT_EQ(r.metrics["auc"], 0.5);
  EXPECT_EQ(r.blind_guess, 0.5);
}

}  // namespace
}  // namespace confml::attacks
