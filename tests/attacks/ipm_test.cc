// Inner Product Manipulation (`Ipm` in attacks/src/poisoning.cc, docs/attacks/ipm.md): the
// crafted update on hand-made updates, and its effect on a small federation.
#include <gtest/gtest.h>

#include <cstdio>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "../common/data_util.h"
#include "confml/attacks/attacks.h"
#include "confml/core/attack.h"
#include "confml/core/federated.h"
#include "confml/defenses/robust_aggregation.h"
#include "federation_util.h"

namespace confml::attacks {
namespace {

TEST(IpmTest, SendsMinusEpsilonTimesTheBenignMean) {
  ASSERT_TRUE(RegisterBuiltinAttacks().ok());
  AttackEnv env;
  env.malicious_clients = {1, 3};
  StatusOr<AttackPtr> a = CreateAttack("ipm", {{"epsilon", 0.5}}, env);
  ASSERT_TRUE(a.ok()) << a.status();
  const std::vector<float> global = {0.0f, 0.0f};
  // Benign (clients 0, 2): mean (2, -4). Malicious honest updates (1, 3):
  // mean (10, 20), which the partial-knowledge attacker uses instead.
  const std::vector<ClientUpdate> honest = {{0, 10, {1.0f, -2.0f}},
                                            {1, 10, {10.0f, 0.0f}},
                                            {2, 10, {3.0f, -6.0f}},
                                            {3, 10, {10.0f, 40.0f}}};
  std::vector<ClientContext> ctx;
  for (int64_t i = 0; i < 4; ++i) ctx.push_back({1, i, i});
  std::vector<ClientUpdate> u = honest;
  (*a)->OnRoundUpdates(ctx, global, &u);
  for (size_t i : {1u, 3u}) {
    EXPECT_FLOAT_EQ(u[i].values[0], -1.0f);
    EXPECT_FLOAT_EQ(u[i].values[1], 2.0f);
  }
  EXPECT_EQ(u[0].values, honest[0].values);  // Benign updates are left alone.
  EXPECT_EQ(u[2].values, honest[2].values);

  StatusOr<AttackPtr> partial =
      CreateAttack("ipm", {{"epsilon", 0.5}, {"knowledge", std::string("partial")}}, env);
  ASSERT_TRUE(partial.ok()) << partial.status();
  u = honest;
  (*partial)->OnRoundUpdates(ctx, global, &u);
  EXPECT_FLOAT_EQ(u[1].values[0], -5.0f);
  EXPECT_FLOAT_EQ(u[3].values[1], -10.0f);

  // A config text that names the parameters (it joins the measurement), and
  // epsilon must be positive.
  EXPECT_EQ((*a)->config_text(), "ipm epsilon=0.5 knowledge='full'");  // as every poisoning attack
  EXPECT_EQ(CreateAttack("ipm", {{"epsilon", 0.0}}, env).status().code(),
            StatusCode::kInvalidArgument);
}

// Three of ten devices against FedAvg and the coordinate-wise median on
// synthetic data: the paper's two regimes.
class IpmRunTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(RegisterBuiltinAttacks().ok());
    ASSERT_TRUE(defenses::RegisterRobustAggregators().ok());
    SyntheticFederation f;
    ASSERT_TRUE(MakeSyntheticFederation(&f).ok());
    train_ = std::move(f.train);
    test_ = std::move(f.test);
    partition_ = std::move(f.partition);
  }

  // Final test accuracy of 5 rounds with every client in every round; the
  // attack's report in *report when an attack is named.
  double Run(const std::string& aggregator, const std::string& attack, double epsilon,
             AttackReport* report, std::map<std::string, ParamValue> agg_params = {}) {
    AttackEnv env;
    env.model = "mlp";
    env.model_params = {{"hidden", std::vector<int64_t>{16}}};
    env.train = &train_;
    env.test = &test_;
    env.partition = &partition_;
    env.malicious_clients = {0, 1, 2};
    env.local_epochs = 1;
    env.local_steps = local_steps_;
    env.local_batch_size = batch_size_;
    env.learning_rate = 0.05;
    env.rounds = 5;
    env.clients_per_round = 10;
    env.seed = Seed(77);
    FederatedSetup s = SetupFor(env, Seed(5));
    StatusOr<AggregatorPtr> agg = CreateAggregator(aggregator, agg_params);
    EXPECT_TRUE(agg.ok()) << agg.status();
    if (!agg.ok()) return -1;
    s.aggregator = *agg;
    StatusOr<std::unique_ptr<FederatedEngine>> e =
        FederatedEngine::Create(FederatedOptionsOf(env), std::move(s));
    EXPECT_TRUE(e.ok()) << e.status();
    if (!e.ok()) return -1;
    AttackPtr a;
    if (!attack.empty()) {
      a = AttachAttack(**e, attack, {{"epsilon", epsilon}}, env);
      if (!a) return -1;
    }
    StatusOr<FederatedResult> r = (*e)->Run();
    EXPECT_TRUE(r.ok()) << r.status();
    if (!r.ok()) return -1;
    if (a) *report = ReportOf(*a);
    return r->final_test_accuracy;
  }

  Dataset train_, test_;
  Partition partition_;
  int64_t local_steps_ = 0;  // 0: whole local epochs.
  int64_t batch_size_ = 16;
};

TEST_F(IpmRunTest, LargeEpsilonReversesFedAvg) {
  const double clean = Run("fedavg", "", 0, nullptr);
  AttackReport rep;
  // 7 benign against 3 x (-10) times their mean: the average is -2.3 times it.
  const double attacked = Run("fedavg", "ipm", 10.0, &rep);
  std::printf("ipm eps 10, 3/10 devices, fedavg: accuracy %.3f -> %.3f, step cosine %.3f\n", clean,
              attacked, rep.metrics["mean_step_cosine"]);
  EXPECT_GT(clean, 0.6);
  EXPECT_LT(attacked, clean - 0.2);
  EXPECT_TRUE(rep.received_input);
  EXPECT_EQ(rep.metrics["attacked_rounds"], 5.0);
  EXPECT_EQ(rep.metrics["reversed_rounds"], 5.0);
  EXPECT_LT(rep.metrics["mean_step_cosine"], -0.9);
  EXPECT_NEAR(rep.metrics["test_accuracy"], attacked, 1e-9);
  EXPECT_NEAR(rep.metrics["test_error"], 1.0 - attacked, 1e-9);
}

TEST_F(IpmRunTest, SmallEpsilonTurnsTheRobustRulesAround) {
  // The paper's regime: one noisy SGD step per round (batch 4), so the
  // benign updates spread far more than their mean is long.
  local_steps_ = 1;
  batch_size_ = 4;
  AttackReport avg, med, krum;
  // Against the mean a small epsilon only shortens the step.
  Run("fedavg", "ipm", 0.1, &avg);
  // Krum picks one of the three identical updates next to zero, and the
  // median is pulled towards them.
  Run("median", "ipm", 0.1, &med);
  Run("krum", "ipm", 0.1, &krum, {{"f", int64_t{3}}});
  std::printf("ipm eps 0.1, step cosine: fedavg %.3f, median %.3f, krum %.3f\n",
              avg.metrics["mean_step_cosine"], med.metrics["mean_step_cosine"],
              krum.metrics["mean_step_cosine"]);
  EXPECT_EQ(avg.metrics["reversed_rounds"], 0.0);
  EXPECT_GT(avg.metrics["mean_step_cosine"], 0.9);
  EXPECT_LT(med.metrics["mean_step_cosine"], avg.metrics["mean_step_cosine"] - 0.1);
  EXPECT_EQ(krum.metrics["reversed_rounds"], 5.0);
  EXPECT_NEAR(krum.metrics["mean_step_cosine"], -1.0, 1e-6);
}

}  // namespace
}  // namespace confml::attacks
