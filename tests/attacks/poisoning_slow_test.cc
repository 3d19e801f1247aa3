// The poisoning matrix at a small size: every poisoning attack against
// FedAvg, median, trimmed mean and Krum, 3 seeds, starting the attack from a
// model trained clean for half the rounds. Prints a Markdown table (the one
// in docs/attacks/poisoning.md) and checks the directions the papers report.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "../common/data_util.h"
#include "confml/attacks/attacks.h"
#include "confml/attacks/poisoning.h"
#include "confml/core/attack.h"
#include "confml/core/federated.h"
#include "confml/defenses/robust_aggregation.h"
#include "federation_util.h"

namespace confml::attacks {
namespace {

struct Outcome {
  double error = 0.0;
  double success = std::nan("");
};

class PoisoningMatrixTest : public ::testing::Test {
 protected:
  static constexpr int64_t kClients = 20;
  static constexpr int64_t kRounds = 10;  // 5 clean, then 5 attacked.

  void SetUp() override {
    ASSERT_TRUE(RegisterBuiltinAttacks().ok());
    ASSERT_TRUE(defenses::RegisterRobustAggregators().ok());
    // Hard enough that the clean model is far from perfect (about 70 %
    // accuracy), so attacks have room to show.
    StatusOr<Dataset> all = MakeSynthetic(
        {.num_samples = 3000, .num_features = 32, .num_classes = 10, .separation = 0.5}, Seed(21));
    ASSERT_TRUE(all.ok()) << all.status();
    testing::SplitEvery(*all, 3, &train_, &test_);
  }

  Outcome Run(const std::string& attack, const std::map<std::string, ParamValue>& params,
              const std::string& aggregator, const std::map<std::string, ParamValue>& agg_params,
              uint64_t seed) {
    FederatedOptions o;
    o.rounds = kRounds;
    o.clients_per_round = kClients;
    o.local_epochs = 2;
    o.local_batch_size = 16;
    o.optimizer.lr = 0.05;
    o.optimizer.momentum = 0.9;
    o.eval_every = 0;
    FederatedSetup s;
    s.model = "mlp";
    s.model_params = {{"hidden", std::vector<int64_t>{32}}};
    s.train = &train_;
    s.test = &test_;
    StatusOr<Partition> p =
        PartitionDirichlet(train_.labels, 10, kClients, 1.0, Seed(seed).Child("partition"), 10);
    EXPECT_TRUE(p.ok()) << p.status();
    s.partition = *p;
    s.seed = Seed(seed);
    StatusOr<AggregatorPtr> agg = CreateAggregator(aggregator, agg_params);
    EXPECT_TRUE(agg.ok()) << agg.status();
    s.aggregator = *agg;
    AttackEnv env;
    env.model = s.model;
    env.model_params = s.model_params;
    env.train = &train_;
    env.test = &test_;
    Partition partition = *p;
    env.partition = &partition;
    env.malicious_clients = {0, 1, 2, 3};  // 20 %
    env.local_epochs = o.local_epochs;
    env.local_batch_size = o.local_batch_size;
    env.learning_rate = o.optimizer.lr;
    env.rounds = kRounds;
    env.clients_per_round = kClients;
    env.seed = Seed(seed).Child("attack");
    StatusOr<std::unique_ptr<FederatedEngine>> e = FederatedEngine::Create(o, std::move(s));
    EXPECT_TRUE(e.ok()) << e.status();
    StatusOr<FederatedResult> warm = (*e)->Run({}, kRounds / 2);
    EXPECT_TRUE(warm.ok()) << warm.status();
    AttackPtr a;
    if (!attack.empty()) {
      a = AttachAttack(**e, attack, params, env);
      if (!a) return {};
    }
    StatusOr<FederatedResult> r = (*e)->Run();
    EXPECT_TRUE(r.ok()) << r.status();
    if (!r.ok()) return {};
    Outcome out;
    out.error = 1.0 - r->final_test_accuracy;
    if (a) {
      const AttackReport rep = ReportOf(*a);
      if (rep.metrics.count("success_rate")) out.success = rep.metrics.at("success_rate");
    }
    return out;
  }

  Dataset train_, test_;
};

std::string MeanSd(const std::vector<double>& v) {
  double m = 0, s = 0;
  for (double x : v) m += x / v.size();
  for (double x : v) s += (x - m) * (x - m) / (v.size() - 1);
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.3f ± %.3f", m, std::sqrt(s));
  return buf;
}

TEST_F(PoisoningMatrixTest, EveryAttackAgainstFourRules) {
  const std::vector<std::pair<std::string, std::map<std::string, ParamValue>>> rules = {
      {"fedavg", {}},
      {"median", {}},
      {"trimmed_mean", {{"beta", 0.2}}},
      {"krum", {{"f", int64_t{4}}}}};
  const std::vector<std::pair<std::string, std::map<std::string, ParamValue>>> attacks = {
      {"", {}},
      {"label_flip", {}},
      {"targeted_injection", {{"source", int64_t{0}}, {"target", int64_t{1}}}},
      {"backdoor", {{"target", int64_t{2}}}},
      {"sign_flip", {}},
      {"gaussian_noise", {}},
      {"scaling", {}},
      {"alie", {}},
      {"fang_krum", {}},
      {"fang_trimmed_mean", {}},
      {"min_max", {}},
      {"min_sum", {}}};
  std::map<std::pair<std::string, std::string>, double> mean_error;
  std::printf("\n| attack | fedavg | median | trimmed_mean | krum |\n|---|---|---|---|---|\n");
  for (const auto& [attack, params] : attacks) {
    std::string row = "| " + (attack.empty() ? std::string("none") : attack);
    for (const auto& [rule, rp] : rules) {
      std::vector<double> err, succ;
      for (uint64_t seed : {1, 2, 3}) {
        Outcome o = Run(attack, params, rule, rp, seed);
        err.push_back(o.error);
        if (!std::isnan(o.success)) succ.push_back(o.success);
      }
      double m = 0;
      for (double x : err) m += x / err.size();
      mean_error[std::make_pair(attack, rule)] = m;
      row += " | " + MeanSd(err);
      if (!succ.empty()) row += " (success " + MeanSd(succ) + ")";
    }
    std::printf("%s |\n", row.c_str());
  }
  std::fflush(stdout);
  // The directions the papers report.
  auto err = [&](const std::string& attack, const std::string& rule) {
    return mean_error[std::make_pair(attack, rule)];
  };
  EXPECT_GE(err("fang_krum", "krum"), err("", "krum"));
  EXPECT_GE(err("fang_trimmed_mean", "trimmed_mean"), err("", "trimmed_mean"));
  EXPECT_GT(err("gaussian_noise", "fedavg"), err("gaussian_noise", "median") + 0.1);
}

}  // namespace
}  // namespace confml::attacks
