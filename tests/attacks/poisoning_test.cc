// Tests of confml/attacks/poisoning.h: the update-crafting kernels on hand
// cases, and the attacks end to end through a real FederatedEngine on small
// synthetic data.
#include "confml/attacks/poisoning.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "../common/data_util.h"
#include "confml/attacks/attacks.h"
#include "confml/core/attack.h"
#include "confml/core/federated.h"
#include "confml/defenses/robust_aggregation.h"
#include "federation_util.h"

namespace confml::attacks {
namespace {

double Dot(const std::vector<float>& a, const std::vector<float>& b) {
  double s = 0;
  for (size_t i = 0; i < a.size(); ++i) s += static_cast<double>(a[i]) * b[i];
  return s;
}

Updates RandomUpdates(int64_t n, int64_t dim, double mean, double sd, uint64_t seed) {
  Rng rng(seed);
  std::vector<double> center(static_cast<size_t>(dim));
  for (double& c : center) c = mean * (rng.Uniform() - 0.3);
  Updates u(static_cast<size_t>(n), std::vector<float>(static_cast<size_t>(dim)));
  for (auto& v : u) {
    for (int64_t j = 0; j < dim; ++j) v[j] = static_cast<float>(center[j] + sd * rng.Normal());
  }
  return u;
}

TEST(PoisoningKernelTest, LabelFlipMaps) {
  StatusOr<std::vector<int64_t>> all = LabelFlipMap(4, -1, 0);
  ASSERT_TRUE(all.ok());
  EXPECT_EQ(*all, (std::vector<int64_t>{3, 2, 1, 0}));
  StatusOr<std::vector<int64_t>> one = LabelFlipMap(4, 1, 3);
  ASSERT_TRUE(one.ok());
  EXPECT_EQ(*one, (std::vector<int64_t>{0, 3, 2, 3}));
  EXPECT_EQ(LabelFlipMap(4, 4, 0).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(LabelFlipMap(4, 0, 7).status().code(), StatusCode::kInvalidArgument);
}

TEST(PoisoningKernelTest, TriggerPatternAndBounds) {
  std::vector<float> img(2 * 4 * 4, 0.5f);
  ASSERT_TRUE(StampTrigger({2, 4, 4}, 2, 3.0f, img.data()).ok());
  for (int ch = 0; ch < 2; ++ch) {
    for (int y = 0; y < 4; ++y) {
      for (int x = 0; x < 4; ++x) {
        const float v = img[static_cast<size_t>((ch * 4 + y) * 4 + x)];
        if (y >= 2 && x >= 2) {
          EXPECT_EQ(v, (x + y) % 2 == 0 ? 3.0f : 0.0f) << ch << y << x;
        } else {
          EXPECT_EQ(v, 0.5f);
        }
      }
    }
  }
  std::vector<float> flat(6, 0.5f);
  ASSERT_TRUE(StampTrigger({6}, 3, 2.0f, flat.data()).ok());
  EXPECT_EQ(flat, (std::vector<float>{0.5f, 0.5f, 0.5f, 2.0f, 0.0f, 2.0f}));
  EXPECT_FALSE(StampTrigger({1, 4, 4}, 5, 1.0f, img.data()).ok());
  EXPECT_FALSE(StampTrigger({6}, 7, 1.0f, flat.data()).ok());
}

TEST(PoisoningKernelTest, AlieZFollowsThePaper) {
  // n = 50, m = 12 (Baruch et al.'s example size): s = 26 - 12 = 14,
  // z = Phi^-1(36 / 50) = 0.5828.
  StatusOr<double> z = AlieZ(50, 12);
  ASSERT_TRUE(z.ok());
  EXPECT_NEAR(*z, 0.582842, 1e-5);
  // n = 10, m = 3: s = 3, Phi^-1(0.7) = 0.5244.
  EXPECT_NEAR(*AlieZ(10, 3), 0.524401, 1e-5);
  // n = 100, m = 20: s = 31, Phi^-1(0.69) = 0.4959.
  EXPECT_NEAR(*AlieZ(100, 20), 0.495850, 1e-5);
  EXPECT_FALSE(AlieZ(10, 0).ok());
  EXPECT_FALSE(AlieZ(10, 10).ok());
}

TEST(PoisoningKernelTest, AlieUpdateIsMeanMinusZStd) {
  Updates b = {{1, 10}, {2, 10}, {3, 10}};
  StatusOr<std::vector<float>> u = AlieUpdate(b, 0.5);
  ASSERT_TRUE(u.ok());
  EXPECT_FLOAT_EQ((*u)[0], 1.5f);  // mean 2, sample std 1
  EXPECT_FLOAT_EQ((*u)[1], 10.0f);
  EXPECT_FALSE(AlieUpdate({{1, 2}, {1}}, 1.0).ok());
  EXPECT_FALSE(AlieUpdate({}, 1.0).ok());
}

TEST(PoisoningKernelTest, KrumScoresOnALine) {
  Updates u = {{0}, {1}, {2}, {10}};
  // f = 0: the 2 nearest others.
  StatusOr<std::vector<double>> s = KrumScores(u, 0);
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(*s, (std::vector<double>{5, 2, 5, 145}));
  EXPECT_EQ(*KrumSelect(u, 0), 1);
}

TEST(PoisoningKernelTest, ChangeDirectionIsSignOfMean) {
  StatusOr<std::vector<float>> s = ChangeDirection({{1, -1, 0}, {2, -3, 0}});
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(*s, (std::vector<float>{1, -1, 0}));
}

TEST(PoisoningKernelTest, FangKrumCraftsASelectedOppositeUpdate) {
  Updates benign = RandomUpdates(7, 50, 0.2, 0.05, 11);
  StatusOr<FangKrumResult> r = FangKrumAttack(benign, 3, 10);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_TRUE(r->selected);
  EXPECT_GT(r->lambda, 0.0);
  EXPECT_LE(r->lambda, r->lambda_upper_bound);
  std::vector<float> s = *ChangeDirection(benign);
  // The crafted update is exactly -lambda * s.
  for (size_t j = 0; j < s.size(); ++j) EXPECT_FLOAT_EQ(r->update[j], static_cast<float>(-r->lambda * s[j]));
  // Krum over 3 copies + the benign picks a copy.
  Updates all(3, r->update);
  all.insert(all.end(), benign.begin(), benign.end());
  EXPECT_LT(*KrumSelect(all, 3), 3);
  // It points against the benign direction.
  EXPECT_LT(Dot(r->update, s), 0.0);
  EXPECT_FALSE(FangKrumAttack(benign, 0, 10).ok());
}

TEST(PoisoningKernelTest, FangTrimmedMeanFullKnowledgeLiesOutsideBenignRange) {
  Updates benign = RandomUpdates(8, 40, 0.2, 0.05, 12);
  std::vector<float> global(40);
  for (size_t j = 0; j < global.size(); ++j) global[j] = (j % 3 == 0) ? -0.5f : 0.4f;
  Rng rng(5);
  StatusOr<Updates> mal = FangTrimmedMeanAttack(benign, global, 3, true, 2.0, rng);
  ASSERT_TRUE(mal.ok()) << mal.status();
  ASSERT_EQ(mal->size(), 3u);
  std::vector<float> s = *ChangeDirection(benign);
  for (size_t j = 0; j < 40; ++j) {
    double wmax = -1e9, wmin = 1e9;
    for (const auto& b : benign) {
      wmax = std::max(wmax, static_cast<double>(global[j] + b[j]));
      wmin = std::min(wmin, static_cast<double>(global[j] + b[j]));
    }
    for (const auto& m : *mal) {
      const double w = global[j] + m[j];
      if (s[j] < 0) {
        EXPECT_GE(w, wmax - 1e-6);
        EXPECT_LE(w, (wmax > 0 ? 2 * wmax : wmax / 2) + 1e-6);
      } else {
        EXPECT_LE(w, wmin + 1e-6);
        EXPECT_GE(w, (wmin > 0 ? wmin / 2 : 2 * wmin) - 1e-6);
      }
    }
  }
}

TEST(PoisoningKernelTest, FangTrimmedMeanPartialKnowledgeUsesThreeToFourSigma) {
  Updates own = {{1, -1}, {2, -2}, {3, -3}};  // mu (2, -2), sigma (1, 1), s = (+, -)
  Rng rng(9);
  StatusOr<Updates> mal = FangTrimmedMeanAttack(own, {}, 4, false, 2.0, rng);
  ASSERT_TRUE(mal.ok());
  for (const auto& m : *mal) {
    EXPECT_GE(m[0], 2 - 4 - 1e-6);  // s = +1: [mu - 4 sigma, mu - 3 sigma]
    EXPECT_LE(m[0], 2 - 3 + 1e-6);
    EXPECT_GE(m[1], -2 + 3 - 1e-6);  // s = -1: [mu + 3 sigma, mu + 4 sigma]
    EXPECT_LE(m[1], -2 + 4 + 1e-6);
  }
}

TEST(PoisoningKernelTest, MinMaxGammaSearchIsTightOnItsConstraint) {
  Updates benign = RandomUpdates(6, 30, 0.3, 0.1, 13);
  for (bool min_sum : {false, true}) {
    for (Perturbation p : {Perturbation::kUnitVec, Perturbation::kStd, Perturbation::kSign}) {
      StatusOr<MinMaxResult> r = MinMaxAttack(benign, p, min_sum);
      ASSERT_TRUE(r.ok()) << r.status();
      EXPECT_GT(r->gamma, 0.0);
      auto sides = MinMaxConstraint(benign, r->update, min_sum);
      ASSERT_TRUE(sides.ok());
      EXPECT_LE(sides->first, sides->second) << "min_sum " << min_sum;
      // A slightly larger gamma breaks the constraint: the search found the
      // largest feasible gamma (up to its tolerance). mal(g) = mu - g p.
      std::vector<double> mu(30, 0.0);
      for (const auto& b : benign) {
        for (size_t j = 0; j < 30; ++j) mu[j] += b[j] / 6.0;
      }
      const double factor = (r->gamma * 1.01 + 1e-3) / r->gamma;
      std::vector<float> bigger(30);
      for (size_t j = 0; j < 30; ++j) bigger[j] = static_cast<float>(mu[j] + factor * (r->update[j] - mu[j]));
      auto big_sides = MinMaxConstraint(benign, bigger, min_sum);
      ASSERT_TRUE(big_sides.ok());
      EXPECT_GT(big_sides->first, big_sides->second) << "gamma " << r->gamma << " min_sum " << min_sum;
    }
  }
}

TEST(PoisoningKernelTest, RegistersEveryAttackWithItsSpec) {
  ASSERT_TRUE(RegisterBuiltinAttacks().ok());
  for (const char* name : {"label_flip", "targeted_injection", "backdoor", "sign_flip", "gaussian_noise",
                           "scaling", "alie", "fang_krum", "fang_trimmed_mean", "min_max", "min_sum"}) {
    EXPECT_NE(AttackRegistry().Find(name), nullptr) << name;
  }
  AttackEnv env;
  EXPECT_EQ(CreateAttack("min_max", {{"perturbation", std::string("cosine")}}, env).status().code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(CreateAttack("sign_flip", {{"scale", -1.0}}, env).status().code(), StatusCode::kInvalidArgument);
  // Data poisoning needs the data it poisons.
  EXPECT_EQ(CreateAttack("label_flip", {}, env).status().code(), StatusCode::kInvalidArgument);
}

// ---- end to end -------------------------------------------------------------

class PoisoningRunTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(RegisterBuiltinAttacks().ok());
    ASSERT_TRUE(defenses::RegisterRobustAggregators().ok());
    StatusOr<Dataset> all = MakeSynthetic(
        {.num_samples = 1500, .num_features = 16, .num_classes = 4, .separation = 1.2}, Seed(21));
    ASSERT_TRUE(all.ok()) << all.status();
    testing::SplitEvery(*all, 3, &train_, &test_);
    StatusOr<Partition> p = PartitionIid(train_.labels, 10, Seed(4).Child("partition"));
    ASSERT_TRUE(p.ok());
    partition_ = *p;
  }

  AttackEnv Env(std::set<int64_t> malicious) const {
    AttackEnv env;
    env.model = "mlp";
    env.model_params = {{"hidden", std::vector<int64_t>{32}}};
    env.train = &train_;
    env.test = &test_;
    env.partition = &partition_;
    env.malicious_clients = std::move(malicious);
    env.local_epochs = 2;
    env.local_batch_size = 16;
    env.learning_rate = 0.05;
    env.rounds = 4;
    env.clients_per_round = 10;
    env.server_lr = server_lr_;
    env.seed = Seed(77);
    return env;
  }

  // Runs FedAvg with all 10 clients per round; returns the final accuracy
  // and fills *report from the attack when given.
  double Run(const std::string& attack, std::map<std::string, ParamValue> params,
             std::set<int64_t> malicious, AttackReport* report, int64_t rounds = 4,
             const std::string& aggregator = "", std::map<std::string, ParamValue> agg_params = {}) {
    AttackEnv env = Env(malicious);
    env.rounds = rounds;
    FederatedOptions o = FederatedOptionsOf(env);
    // The devices' optimizer may differ from the recipe the env tells the
    // attack (lr_ changes only the former).
    o.optimizer.lr = lr_;
    o.optimizer.momentum = 0.9;
    FederatedSetup s = SetupFor(env, Seed(5));
    if (!aggregator.empty()) {
      StatusOr<AggregatorPtr> agg = CreateAggregator(aggregator, agg_params);
      EXPECT_TRUE(agg.ok()) << agg.status();
      if (!agg.ok()) return -1;
      s.aggregator = *agg;
    }
    StatusOr<std::unique_ptr<FederatedEngine>> e = FederatedEngine::Create(o, std::move(s));
    EXPECT_TRUE(e.ok()) << e.status();
    if (!e.ok()) return -1;
    AttackPtr a;
    if (!attack.empty()) {
      a = AttachAttack(**e, attack, params, env);
      if (!a) return -1;
    }
    for (const auto& h : extra_hooks_) (*e)->AddHooks(h);
    // Rounds in which a selecting rule (Krum) picked a malicious update.
    malicious_selected_rounds_ = 0;
    FederatedEngine* engine = e->get();
    StatusOr<FederatedResult> r = (*e)->Run([&](const RoundMetrics&) {
      const auto& sel = engine->last_aggregation_report().selected_clients;
      if (sel.size() == 1 && malicious.count(sel[0])) ++malicious_selected_rounds_;
    });
    EXPECT_TRUE(r.ok()) << r.status();
    if (!r.ok()) return -1;
    if (a && report) *report = ReportOf(*a);
    return r->final_test_accuracy;
  }

  Dataset train_, test_;
  Partition partition_;
  double lr_ = 0.05;
  double server_lr_ = 1.0;  // The runtime's step, for the engine and the env alike.
  int64_t malicious_selected_rounds_ = 0;
  // Added after the attack's hooks (e.g. a test double of the benign devices).
  std::vector<std::shared_ptr<FederatedHooks>> extra_hooks_;
};

TEST_F(PoisoningRunTest, SignFlipWithThirtyPercentLowersFedAvgAccuracy) {
  const double clean = Run("", {}, {}, nullptr);
  AttackReport rep;
  const double attacked = Run("sign_flip", {{"scale", 4.0}}, {0, 1, 2}, &rep);
  EXPECT_GT(clean, 0.7);
  EXPECT_LT(attacked, clean - 0.2) << "clean " << clean << " attacked " << attacked;
  EXPECT_TRUE(rep.received_input);
  EXPECT_NEAR(rep.metrics["test_accuracy"], attacked, 1e-9);
  EXPECT_EQ(rep.metrics["malicious_participations"], 12.0);
  std::printf("sign_flip x4, 3/10 devices, fedavg: accuracy %.3f -> %.3f\n", clean, attacked);
}

TEST_F(PoisoningRunTest, ColludingAttacksRunAndAreDeterministic) {
  for (const char* name : {"alie", "fang_krum", "fang_trimmed_mean", "min_max", "min_sum"}) {
    AttackReport a, b;
    const double acc1 = Run(name, {}, {0, 1, 2}, &a, 2);
    const double acc2 = Run(name, {}, {0, 1, 2}, &b, 2);
    EXPECT_EQ(acc1, acc2) << name;
    EXPECT_EQ(a.metrics["attacked_rounds"], 2.0) << name;
    EXPECT_EQ(a.metrics["skipped_rounds"], 0.0) << name;
  }
}

TEST_F(PoisoningRunTest, FangAttacksBreakTheRulesTheyTarget) {
  const std::map<std::string, ParamValue> krum = {{"f", int64_t{3}}};
  const double krum_clean = Run("", {}, {}, nullptr, 4, "krum", krum);
  AttackReport r;
  const double krum_attacked = Run("fang_krum", {}, {0, 1, 2}, &r, 4, "krum", krum);
  // Fang's goal: Krum picks the crafted update, so the global model moves
  // against its benign direction (or stalls) in the rounds the attack wins.
  const int64_t selected = malicious_selected_rounds_;
  EXPECT_GE(selected, 3) << "lambda " << r.metrics["mean_lambda"];
  EXPECT_LE(krum_attacked, krum_clean) << krum_clean << " " << krum_attacked;
  EXPECT_GT(r.metrics["mean_lambda"], 0.0);
  // Fang et al. evaluate on non-IID devices (their q = 0.5 split); with
  // slow local progress every round the attack wins matters.
  StatusOr<Partition> p = PartitionDirichlet(train_.labels, 4, 10, 0.3, Seed(4).Child("noniid"), 20);
  ASSERT_TRUE(p.ok()) << p.status();
  partition_ = *p;
  lr_ = 0.01;
  const double med_clean = Run("", {}, {}, nullptr, 4, "median");
  const double med_attacked = Run("fang_trimmed_mean", {}, {0, 1, 2}, &r, 4, "median");
  EXPECT_LT(med_attacked, med_clean - 0.1) << med_clean << " " << med_attacked;
  std::printf("fang_krum vs krum: accuracy %.3f -> %.3f, krum picked a malicious update in %ld of 4 rounds; "
              "fang_trimmed_mean vs median (non-IID): %.3f -> %.3f\n",
              krum_clean, krum_attacked, static_cast<long>(selected), med_clean, med_attacked);
}

TEST_F(PoisoningRunTest, TargetedInjectionSucceedsUnderFedAvg) {
  AttackReport clean_rep, rep;
  Run("targeted_injection", {{"source", int64_t{0}}, {"target", int64_t{1}}}, {}, &clean_rep);
  Run("targeted_injection", {{"source", int64_t{0}}, {"target", int64_t{1}}, {"multiplier", 4.0}},
      {0, 1, 2}, &rep);
  EXPECT_FALSE(clean_rep.received_input);
  EXPECT_EQ(rep.success_metric, "success_rate");
  EXPECT_LT(clean_rep.metrics["success_rate"], 0.2);
  EXPECT_GT(rep.metrics["success_rate"], 0.8) << "clean " << clean_rep.metrics["success_rate"];
  std::printf("targeted_injection 0->1, 3/10 devices: success %.3f (clean %.3f)\n",
              rep.metrics["success_rate"], clean_rep.metrics["success_rate"]);
}

TEST_F(PoisoningRunTest, LabelFlipHurtsFedAvg) {
  AttackReport rep;
  const double clean = Run("", {}, {}, nullptr);
  const double attacked = Run("label_flip", {}, {0, 1, 2, 3, 4, 5}, &rep);
  EXPECT_LT(attacked, clean - 0.2) << clean << " " << attacked;
  EXPECT_GT(rep.metrics["flip_success_rate"], 0.3);
  std::printf("label_flip all labels, 6/10 devices, fedavg: accuracy %.3f -> %.3f\n", clean, attacked);
}

TEST_F(PoisoningRunTest, BackdoorWithModelReplacementImplantsTrigger) {
  AttackReport rep;
  const double clean = Run("", {}, {}, nullptr, 4);
  // L from the honest training code on the poisoned shard (attacker_epochs
  // 0); the attacker's own recipe is tested below.
  Run("backdoor", {{"target", int64_t{2}}, {"trigger_size", int64_t{4}}, {"attack_rounds", std::vector<int64_t>{4}},
                   {"attacker_epochs", int64_t{0}}},
      {0}, &rep, 4);
  ASSERT_EQ(rep.metrics.count("success_rate_after_attack"), 1u);
  EXPECT_GT(rep.metrics["success_rate_after_attack"], 0.8);
  EXPECT_GT(rep.metrics["test_accuracy_after_attack"], clean - 0.1);
  EXPECT_EQ(rep.metrics["scale"], 10.0);
  std::printf("backdoor, 1 device in round 4, gamma 10: backdoor success %.3f, clean accuracy %.3f (clean run %.3f)\n",
              rep.metrics["success_rate_after_attack"], rep.metrics["test_accuracy_after_attack"], clean);
}

// ---- backdoor: the attacker's own training and model replacement ------------

// Benign devices that send nothing: every update but the malicious ones is
// zeroed after the devices' hooks ran, so the aggregate is the attacker's
// alone and model replacement can be worked out exactly.
class ZeroBenignUpdates : public FederatedHooks {
 public:
  explicit ZeroBenignUpdates(std::set<int64_t> malicious) : malicious_(std::move(malicious)) {}
  void OnRoundUpdates(const std::vector<ClientContext>&, const std::vector<float>&,
                      std::vector<ClientUpdate>* updates) override {
    for (ClientUpdate& u : *updates) {
      if (malicious_.count(u.client_id) == 0) std::fill(u.values.begin(), u.values.end(), 0.0f);
    }
  }

 private:
  std::set<int64_t> malicious_;
};

TEST_F(PoisoningRunTest, BackdoorAttackerTrainingLearnsTheTrigger) {
  // One attacker, round 2 of 3. The paper's recipe (6 epochs, lr 0.05 with
  // step decay, 20 triggered of 64 per batch) must give an L that has
  // learnt the trigger and still does the main task.
  AttackReport rep;
  const double clean = Run("", {}, {}, nullptr, 3);
  Run("backdoor", {{"target", int64_t{2}}, {"attack_rounds", std::vector<int64_t>{2}}, {"stop_loss", 0.0}},
      {0}, &rep, 3);
  ASSERT_EQ(rep.metrics.count("local_success_rate"), 1u);
  EXPECT_EQ(rep.metrics["attacker_epochs_run"], 6.0);
  EXPECT_GT(rep.metrics["local_success_rate"], 0.95);
  // Still far above chance (0.25) on the main task; it pays for the
  // trigger on 4 of the 16 features with some main accuracy.
  EXPECT_GT(rep.metrics["local_test_accuracy"], 0.75);
  // Replacement carries it into the global model of that round.
  EXPECT_GT(rep.metrics["success_rate_after_attack"], 0.9);
  EXPECT_EQ(rep.metrics["attack_round"], 2.0);
  // Tracked from the attack round on: rounds 2 and 3.
  ASSERT_EQ(rep.arrays.size(), 3u);
  EXPECT_EQ(rep.arrays[0].name, "backdoor_rounds");
  EXPECT_EQ(rep.arrays[0].values, (std::vector<float>{2.0f, 3.0f}));
  EXPECT_NEAR(rep.arrays[1].values[0], rep.metrics["success_rate_after_attack"], 1e-6);
  EXPECT_NEAR(rep.arrays[2].values[0], rep.metrics["test_accuracy_after_attack"], 1e-6);
  std::printf("backdoor, attacker's own training: L backdoor %.3f main %.3f (honest code's L: %.3f, %.3f); "
              "global right after %.3f main %.3f (clean run %.3f), replacement error %.3f\n",
              rep.metrics["local_success_rate"], rep.metrics["local_test_accuracy"],
              rep.metrics["engine_local_success_rate"], rep.metrics["engine_local_test_accuracy"],
              rep.metrics["success_rate_after_attack"], rep.metrics["test_accuracy_after_attack"], clean,
              rep.metrics["replacement_error"]);
}

TEST_F(PoisoningRunTest, ModelReplacementGivesLWhenBenignUpdatesAreZero) {
  // Ten equal shards of 100 samples, so FedAvg weighs each update 1/10.
  for (const auto& shard : partition_) ASSERT_EQ(shard.size(), 100u);
  extra_hooks_ = {std::make_shared<ZeroBenignUpdates>(std::set<int64_t>{3})};
  // gamma = n / eta = 10: G' = G + (1/10) 10 (L - G) = L.
  AttackReport exact;
  Run("backdoor", {{"attack_rounds", std::vector<int64_t>{2}}}, {3}, &exact, 2);
  EXPECT_EQ(exact.metrics["scale"], 10.0);
  EXPECT_LT(exact.metrics["replacement_error"], 1e-5);
  EXPECT_NEAR(exact.metrics["success_rate_after_attack"], exact.metrics["local_success_rate"], 1e-3);
  EXPECT_NEAR(exact.metrics["test_accuracy_after_attack"], exact.metrics["local_test_accuracy"], 1e-3);
  // gamma = 5: G' = G + (L - G) / 2, half way, so ||G' - L|| = ||L - G|| / 2.
  AttackReport half;
  Run("backdoor", {{"attack_rounds", std::vector<int64_t>{2}}, {"scale", 5.0}}, {3}, &half, 2);
  EXPECT_NEAR(half.metrics["replacement_error"], 0.5, 1e-5);
  // eta = 2: gamma = n / eta = 5 as well.
  AttackReport eta;
  Run("backdoor", {{"attack_rounds", std::vector<int64_t>{2}}, {"server_lr", 2.0}}, {3}, &eta, 2);
  EXPECT_EQ(eta.metrics["scale"], 5.0);
  // A runtime that steps 2 times the aggregate (federated.server_lr): the
  // attacker's default takes eta from the federation, so gamma = 10 / 2 and
  // G' = G + 2 (1/10) 5 (L - G) = L again.
  server_lr_ = 2.0;
  AttackReport server_step;
  Run("backdoor", {{"attack_rounds", std::vector<int64_t>{2}}}, {3}, &server_step, 2);
  EXPECT_EQ(server_step.metrics["scale"], 5.0);
  EXPECT_LT(server_step.metrics["replacement_error"], 1e-5);
  server_lr_ = 1.0;
  extra_hooks_.clear();
}

TEST_F(PoisoningRunTest, BackdoorStopsOnceTheTriggerIsLearnt) {
  AttackReport early, full;
  // Any loss is below 1e9: one epoch, then stop.
  Run("backdoor", {{"attack_rounds", std::vector<int64_t>{1}}, {"stop_loss", 1e9}}, {0}, &early, 1);
  Run("backdoor", {{"attack_rounds", std::vector<int64_t>{1}}, {"stop_loss", 0.0}, {"attacker_epochs", int64_t{3}}},
      {0}, &full, 1);
  EXPECT_EQ(early.metrics["attacker_epochs_run"], 1.0);
  EXPECT_EQ(full.metrics["attacker_epochs_run"], 3.0);
}

TEST_F(PoisoningRunTest, ConstrainAndScaleKeepsLNearTheGlobalModel) {
  // alpha < 1 adds (1 - alpha) ||L - G||_2 to the attacker's loss.
  AttackReport free, constrained;
  const std::map<std::string, ParamValue> base = {{"attack_rounds", std::vector<int64_t>{2}}, {"stop_loss", 0.0}};
  auto with = [&](double alpha) {
    std::map<std::string, ParamValue> p = base;
    p["alpha"] = alpha;
    return p;
  };
  Run("backdoor", with(1.0), {0}, &free, 2);
  Run("backdoor", with(0.2), {0}, &constrained, 2);
  EXPECT_EQ(constrained.metrics.count("training_failures"), 0u) << constrained.note;
  EXPECT_GT(free.metrics["local_distance"], 0.0);
  EXPECT_LT(constrained.metrics["local_distance"], 0.8 * free.metrics["local_distance"]);
  std::printf("constrain-and-scale: ||L - G|| %.3f (alpha 1) vs %.3f (alpha 0.2); L backdoor %.3f vs %.3f\n",
              free.metrics["local_distance"], constrained.metrics["local_distance"],
              free.metrics["local_success_rate"], constrained.metrics["local_success_rate"]);
}

TEST_F(PoisoningRunTest, BackdoorDataPoisoningKeepsHonestCode) {
  AttackReport rep;
  AttackEnv env = Env({0});
  StatusOr<AttackPtr> a = CreateAttack("backdoor", {{"model_replacement", false}}, env);
  ASSERT_TRUE(a.ok()) << a.status();
  EXPECT_TRUE((*a)->honest_code());
  StatusOr<AttackPtr> b = CreateAttack("backdoor", {}, env);
  ASSERT_TRUE(b.ok()) << b.status();
  EXPECT_FALSE((*b)->honest_code());
  // Without replacement the update is the honest code's: no L of its own.
  Run("backdoor", {{"model_replacement", false}, {"attack_rounds", std::vector<int64_t>{1}}}, {0}, &rep, 1);
  EXPECT_EQ(rep.metrics.count("local_success_rate"), 0u);
  EXPECT_EQ(rep.metrics["scale"], 1.0);
}

TEST_F(PoisoningRunTest, BackdoorParametersAreValidated) {
  AttackEnv env = Env({0});
  auto code = [&](std::map<std::string, ParamValue> p) { return CreateAttack("backdoor", p, env).status(); };
  Status s = code({{"poison_per_batch", int64_t{64}}});
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("poison_per_batch (64) must be below attacker_batch_size (64)"), std::string::npos)
      << s;
  // Only the attacker's own training needs the mix: the honest code ignores it.
  EXPECT_TRUE(code({{"poison_per_batch", int64_t{64}}, {"attacker_epochs", int64_t{0}}}).ok());
  EXPECT_EQ(code({{"attacker_lr", 0.0}}).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(code({{"lr_milestones", std::vector<double>{0.2, 1.5}}}).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(code({{"attacker_momentum", 1.0}}).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(code({{"attacker_epochs", int64_t{-1}}}).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(code({{"alpha", 0.0}}).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(code({{"target", int64_t{7}}}).code(), StatusCode::kInvalidArgument);
  Status unknown = code({{"attacker_epoch", int64_t{2}}});
  EXPECT_EQ(unknown.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(unknown.message().find("attacker_epochs"), std::string::npos) << unknown;
}


// ---- h2: direction rules, fast searches, the trimmed window -----------------

TEST(PoisoningKernelTest, ChangeDirectionFollowsTheRule) {
  // Columns, worked by hand: {-10, 1, 2, 3}: mean -1, median 1.5, trimmed
  // (k = 1) 1.5. {-1, -1, 0, 5}: mean 0.75, median -0.5, trimmed -0.5.
  // {-3, -2, 2, 3}: 0 under every rule.
  const Updates u = {{-10, -1, -3}, {1, -1, -2}, {2, 0, 2}, {3, 5, 3}};
  EXPECT_EQ(*ChangeDirection(u, DirectionRule::kMean), (std::vector<float>{-1, 1, 0}));
  EXPECT_EQ(*ChangeDirection(u, DirectionRule::kMedian), (std::vector<float>{1, -1, 0}));
  EXPECT_EQ(*ChangeDirection(u, DirectionRule::kTrimmedMean, 0.25), (std::vector<float>{1, -1, 0}));
  // {-9, -2, -1, 3, 4}: median -1, trimmed (beta 0.2, k = 1) (-2 - 1 + 3)/3 = 0.
  const Updates v = {{-9}, {-2}, {-1}, {3}, {4}};
  EXPECT_EQ(*ChangeDirection(v, DirectionRule::kMedian), (std::vector<float>{-1}));
  EXPECT_EQ(*ChangeDirection(v, DirectionRule::kTrimmedMean, 0.2), (std::vector<float>{0}));
  EXPECT_EQ(*ChangeDirection(v, DirectionRule::kMean), (std::vector<float>{-1}));
  EXPECT_FALSE(ChangeDirection(v, DirectionRule::kTrimmedMean, 0.5).ok());
  EXPECT_FALSE(ChangeDirection({}, DirectionRule::kMedian).ok());
  EXPECT_EQ(*ParseDirectionRule("trimmed_mean"), DirectionRule::kTrimmedMean);
  EXPECT_FALSE(ParseDirectionRule("mode").ok());
}

TEST(PoisoningKernelTest, FangTrimmedMeanFollowsTheGivenDirection) {
  // Delta space (no global). Means say (+, -); the given s says (-, +): the
  // crafted values go above the benign max of coordinate 0 (2 > 0: [2, 4])
  // and below the benign min of coordinate 1 (-3 < 0: [-6, -3]).
  const Updates benign = {{1, -1}, {2, -3}};
  Rng rng(3);
  StatusOr<Updates> mal = FangTrimmedMeanAttack(benign, {}, {-1, 1}, 5, true, 2.0, rng);
  ASSERT_TRUE(mal.ok()) << mal.status();
  ASSERT_EQ(mal->size(), 5u);
  for (const auto& m : *mal) {
    EXPECT_GE(m[0], 2.0f);
    EXPECT_LE(m[0], 4.0f);
    EXPECT_GE(m[1], -6.0f);
    EXPECT_LE(m[1], -3.0f);
  }
  EXPECT_FALSE(FangTrimmedMeanAttack(benign, {}, {1}, 5, true, 2.0, rng).ok());
}

// With beta = c/n the crafted values (beyond the benign max) are exactly the
// ones trimmed mean discards from the top, so the result is the mean of the
// benign values without the c smallest: the shift is bounded by the benign
// spread, whatever b is. One coordinate, 8 benign 1..8 and 2 crafted, n = 10,
// beta = 0.2 (k = 2): mean(3..8) = 5.5. Clean (the two devices honest at 4.5):
// {1, 2, 3, 4, 4.5, 4.5, 5, 6, 7, 8} trimmed to mean(3, 4, 4.5, 4.5, 5, 6) = 4.5.
TEST(PoisoningKernelTest, FangTrimmedMeanShiftsTheTrimmedWindowOnly) {
  Updates benign;
  for (int v = 1; v <= 8; ++v) benign.push_back({static_cast<float>(v)});
  for (double b : {1.5, 2.0, 10.0}) {
    Rng rng(4);
    StatusOr<Updates> mal = FangTrimmedMeanAttack(benign, {}, {-1}, 2, true, b, rng);
    ASSERT_TRUE(mal.ok()) << mal.status();
    std::vector<ClientUpdate> all;
    for (const auto& u : benign) all.push_back({static_cast<int64_t>(all.size()), 1, u});
    for (const auto& u : *mal) all.push_back({static_cast<int64_t>(all.size()), 1, u});
    std::vector<float> agg;
    ASSERT_TRUE(defenses::AggregateTrimmedMean(all, 0.2, &agg).ok());
    EXPECT_FLOAT_EQ(agg[0], 5.5f) << "b " << b;
  }
  std::vector<ClientUpdate> clean;
  for (const auto& u : benign) clean.push_back({static_cast<int64_t>(clean.size()), 1, u});
  clean.push_back({8, 1, {4.5f}});
  clean.push_back({9, 1, {4.5f}});
  std::vector<float> agg;
  ASSERT_TRUE(defenses::AggregateTrimmedMean(clean, 0.2, &agg).ok());
  EXPECT_FLOAT_EQ(agg[0], 4.5f);
}

TEST(PoisoningKernelTest, FangKrumSearchMatchesTheNaiveSearch) {
  // The search with precomputed distances picks the same lambda as halving
  // with a full Krum (KrumSelect, the direct O(n^2 d) loop) at each step.
  for (uint64_t seed : {21u, 22u, 23u}) {
    Updates benign = RandomUpdates(12, 64, 0.2, 0.08, seed);
    StatusOr<FangKrumResult> r = FangKrumAttack(benign, 4, 16);
    ASSERT_TRUE(r.ok()) << r.status();
    std::vector<float> s = *ChangeDirection(benign);
    double lambda = r->lambda_upper_bound;
    bool selected = false;
    while (true) {
      std::vector<float> crafted(64);
      for (size_t j = 0; j < 64; ++j) crafted[j] = static_cast<float>(-lambda * s[j]);
      Updates all(4, crafted);
      all.insert(all.end(), benign.begin(), benign.end());
      if (*KrumSelect(all, 4) < 4) {
        selected = true;
        break;
      }
      if (lambda < 1e-5) break;
      lambda /= 2;
    }
    EXPECT_EQ(r->selected, selected) << "seed " << seed;
    EXPECT_DOUBLE_EQ(r->lambda, lambda) << "seed " << seed;
  }
}

TEST(PoisoningKernelTest, MinMaxSearchMatchesTheDirectConstraint) {
  // Algorithm 1 run in the test against the direct constraint (MinMaxConstraint
  // on the crafted float update) ends within the tolerance of the kernel's.
  Updates benign = RandomUpdates(9, 40, 0.3, 0.1, 31);
  std::vector<double> mu(40, 0.0), sd(40, 0.0);
  for (const auto& b : benign) {
    for (size_t j = 0; j < 40; ++j) mu[j] += b[j] / 9.0;
  }
  for (const auto& b : benign) {
    for (size_t j = 0; j < 40; ++j) sd[j] += (b[j] - mu[j]) * (b[j] - mu[j]) / 8.0;
  }
  for (double& x : sd) x = std::sqrt(x);
  for (bool min_sum : {false, true}) {
    auto craft = [&](double g) {
      std::vector<float> v(40);
      for (size_t j = 0; j < 40; ++j) v[j] = static_cast<float>(mu[j] - g * sd[j]);
      return v;
    };
    double gamma = 10, step = 10, succ = 0;
    while (std::abs(succ - gamma) > 1e-5) {
      auto sides = *MinMaxConstraint(benign, craft(gamma), min_sum);
      if (sides.first <= sides.second) {
        succ = gamma;
        gamma += step / 2;
      } else {
        gamma -= step / 2;
      }
      step /= 2;
    }
    StatusOr<MinMaxResult> r = MinMaxAttack(benign, Perturbation::kStd, min_sum);
    ASSERT_TRUE(r.ok()) << r.status();
    EXPECT_NEAR(r->gamma, succ, 3e-5) << "min_sum " << min_sum;
    EXPECT_GT(r->gamma, 0.0);
  }
}

TEST_F(PoisoningRunTest, FangTrimmedMeanReportsItsShiftOfTheRules) {
  AttackReport r;
  Run("fang_trimmed_mean", {{"diagnostics", true}, {"direction", std::string("median")}}, {0, 1, 2}, &r, 2,
      "trimmed_mean", {{"beta", 0.3}});
  for (const char* k : {"trimmed_mean_shift_ratio", "median_shift_ratio", "trimmed_mean_reversed_fraction",
                        "median_reversed_fraction"}) {
    ASSERT_EQ(r.metrics.count(k), 1u) << k;
    EXPECT_GE(r.metrics[k], 0.0) << k;
  }
  // Progress along the clean step: finite, and below 1 here (the attack slows both rules).
  for (const char* k : {"trimmed_mean_progress_ratio", "median_progress_ratio"}) {
    ASSERT_EQ(r.metrics.count(k), 1u) << k;
    EXPECT_TRUE(std::isfinite(r.metrics[k])) << k;
    EXPECT_LT(r.metrics[k], 1.0) << k;
  }
  // The crafted values do move both rules, and never reverse every coordinate.
  EXPECT_GT(r.metrics["trimmed_mean_shift_ratio"], 0.0);
  EXPECT_GT(r.metrics["median_shift_ratio"], 0.0);
  EXPECT_LT(r.metrics["median_reversed_fraction"], 1.0);
}

// ---- h1: the backdoor attacker's schedule ----------------------------------

TEST(PoisoningKernelTest, BackdoorEpochLrFollowsTheReleasedSchedule) {
  // Bagdasaryan et al.'s code steps PyTorch 1.0's MultiStepLR (bisect_right
  // over 0.2 E and 0.8 E) at the start of each epoch. E = 6: milestones 1.2
  // and 4.8, so epoch 1 at lr, 2-4 at lr/10, 5-6 at lr/100 (the old
  // schedule ran epoch 2 at lr and epoch 5 at lr/10).
  const std::vector<double> m = {0.2, 0.8};
  const std::vector<double> six = {0.05, 0.005, 0.005, 0.005, 0.0005, 0.0005};
  for (int64_t e = 1; e <= 6; ++e) {
    EXPECT_NEAR(BackdoorEpochLr(0.05, m, 0.1, 6, e), six[static_cast<size_t>(e - 1)], 1e-12)
        << "epoch " << e;
  }
  // params.yaml's retrain_poison 15: milestones 3 and 12.
  EXPECT_NEAR(BackdoorEpochLr(0.05, m, 0.1, 15, 2), 0.05, 1e-12);
  EXPECT_NEAR(BackdoorEpochLr(0.05, m, 0.1, 15, 3), 0.005, 1e-12);
  EXPECT_NEAR(BackdoorEpochLr(0.05, m, 0.1, 15, 11), 0.005, 1e-12);
  EXPECT_NEAR(BackdoorEpochLr(0.05, m, 0.1, 15, 12), 0.0005, 1e-12);
  // E = 1: both milestones fall in the only epoch.
  EXPECT_NEAR(BackdoorEpochLr(0.05, m, 0.1, 1, 1), 0.0005, 1e-12);
  // No milestones: constant.
  EXPECT_EQ(BackdoorEpochLr(0.05, {}, 0.1, 6, 6), 0.05);
}

TEST_F(PoisoningRunTest, BackdoorEpochLrDrivesTheAttackersTraining) {
  // The schedule reaches the optimizer: with a milestone at 0 and a decay
  // of 1e-6 every epoch runs at ~0, so L stays at G; the same run without
  // milestones moves L.
  AttackReport frozen, moving;
  const std::map<std::string, ParamValue> base = {{"attack_rounds", std::vector<int64_t>{1}},
                                                  {"stop_loss", 0.0},
                                                  {"attacker_epochs", int64_t{2}},
                                                  {"lr_decay", 1e-6}};
  std::map<std::string, ParamValue> p = base;
  p["lr_milestones"] = std::vector<double>{0.0};
  Run("backdoor", p, {0}, &frozen, 1);
  p["lr_milestones"] = std::vector<double>{};
  Run("backdoor", p, {0}, &moving, 1);
  EXPECT_GT(moving.metrics["local_distance"], 0.1);
  EXPECT_LT(frozen.metrics["local_distance"], 1e-3 * moving.metrics["local_distance"]);
}

TEST_F(PoisoningRunTest, BackdoorGlobalCleanInputsKeepTheMainTask) {
  // One class per device (one shard each): an L fitted to the attacker's
  // shard forgets the other classes; drawn from the whole training set, as
  // the released code's attacker data, its clean inputs keep them.
  StatusOr<Partition> shards = PartitionShards(train_.labels, 10, 1, Seed(9));
  ASSERT_TRUE(shards.ok()) << shards.status();
  partition_ = *shards;
  std::vector<int64_t> count(4, 0);
  for (int64_t i : partition_[0]) ++count[static_cast<size_t>(train_.labels[static_cast<size_t>(i)])];
  const int64_t major = std::max_element(count.begin(), count.end()) - count.begin();
  // 20 epochs at a constant lr, so that the shard's L has time to forget.
  std::map<std::string, ParamValue> p = {{"target", (major + 1) % 4},
                                         {"attack_rounds", std::vector<int64_t>{2}},
                                         {"stop_loss", 0.0},
                                         {"attacker_epochs", int64_t{20}},
                                         {"lr_milestones", std::vector<double>{}}};
  AttackReport own, pooled;
  Run("backdoor", p, {0}, &own, 2);
  p["global_clean_inputs"] = int64_t{600};
  Run("backdoor", p, {0}, &pooled, 2);
  ASSERT_EQ(own.metrics.count("training_failures"), 0u) << own.note;
  ASSERT_EQ(pooled.metrics.count("training_failures"), 0u) << pooled.note;
  EXPECT_GT(pooled.metrics["local_success_rate"], 0.9);
  EXPECT_GT(pooled.metrics["local_test_accuracy"], own.metrics["local_test_accuracy"] + 0.05);
  EXPECT_EQ(CreateAttack("backdoor", {{"global_clean_inputs", int64_t{-1}}}, Env({0})).status().code(),
            StatusCode::kInvalidArgument);
  std::printf("one-class shard: L main %.3f (own data) vs %.3f (600 global clean inputs); backdoor %.3f vs %.3f\n",
              own.metrics["local_test_accuracy"], pooled.metrics["local_test_accuracy"],
              own.metrics["local_success_rate"], pooled.metrics["local_success_rate"]);
}

}  // namespace
}  // namespace confml::attacks
