// Tests of the step cap: TrainOptions::max_steps (trainer.h) and
// FederatedOptions::local_steps (federated.h). Each capped run is checked
// against plain SGD steps written out here, with the documented batch order,
// so that one step more or less fails the test.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <memory>
#include <vector>

#include "confml/core/federated.h"
#include "confml/core/thread_scope.h"
#include "confml/core/trainer.h"

namespace confml {
namespace {

constexpr double kLr = 0.1;

Dataset SmallData() {
  StatusOr<Dataset> d = MakeSynthetic(
      {.num_samples = 40, .num_features = 6, .num_classes = 3, .separation = 1.0}, Seed(11));
  EXPECT_TRUE(d.ok()) << d.status();
  return d.ok() ? *d : Dataset{};
}

ModelPtr SmallMlp(const Dataset& d, Seed seed) {
  ModelContext ctx{.input_shape = d.sample_shape, .num_classes = d.num_classes};
  StatusOr<ModelPtr> m = CreateModel("mlp", {{"hidden", std::vector<int64_t>{8}}}, ctx, seed);
  EXPECT_TRUE(m.ok()) << m.status();
  return m.ok() ? *m : nullptr;
}

// `steps` plain SGD steps over `indices` of `d` from `start`: epoch e visits
// indices[perm_e] in batches of `bs` (the last one short), perm_e from
// seed.Child("epoch", e), as both loops document.
std::vector<float> ManualSgd(const Dataset& d, const std::vector<int64_t>& indices,
                             const std::vector<float>& start, int64_t bs, int64_t steps,
                             Seed seed) {
  OneIntraOpThread one_thread;
  ModelPtr m = SmallMlp(d, Seed(0));
  EXPECT_TRUE(LoadFlatState(*m, start).ok());
  m->train();
  torch::Tensor x = FeaturesTensor(d);
  torch::Tensor y = LabelsTensor(d);
  const int64_t n = static_cast<int64_t>(indices.size());
  std::vector<torch::Tensor> params = m->parameters();
  int64_t done = 0;
  for (uint64_t epoch = 1; done < steps; ++epoch) {
    std::vector<int64_t> perm = seed.Child("epoch", epoch).MakeRng().Permutation(n);
    std::vector<int64_t> order;
    for (int64_t p : perm) order.push_back(indices[static_cast<size_t>(p)]);
    for (int64_t s = 0; s < n && done < steps; s += bs, ++done) {
      const int64_t len = std::min(bs, n - s);
      torch::Tensor idx = torch::from_blob(order.data() + s, {len}, torch::kInt64).clone();
      for (torch::Tensor& p : params) p.mutable_grad().reset();
      torch::nn::functional::cross_entropy(m->forward(x.index_select(0, idx)),
                                           y.index_select(0, idx))
          .backward();
      torch::NoGradGuard no_grad;
      for (torch::Tensor& p : params) p.sub_(p.grad(), kLr);
    }
  }
  return FlatState(*m);
}

double MaxAbsDiff(const std::vector<float>& a, const std::vector<float>& b) {
  EXPECT_EQ(a.size(), b.size());
  double m = 0.0;
  for (size_t i = 0; i < a.size() && i < b.size(); ++i) {
    m = std::max(m, std::fabs(static_cast<double>(a[i]) - b[i]));
  }
  return m;
}

std::vector<int64_t> AllIndices(const Dataset& d) {
  std::vector<int64_t> all(static_cast<size_t>(d.size()));
  for (int64_t i = 0; i < d.size(); ++i) all[static_cast<size_t>(i)] = i;
  return all;
}

// 40 samples in batches of 8: 5 steps per epoch, so 7 steps cross an epoch.
TEST(TrainerMaxStepsTest, StopsAfterExactlyMaxStepsAcrossEpochs) {
  const Dataset d = SmallData();
  ModelPtr init = SmallMlp(d, Seed(5));
  ASSERT_NE(init, nullptr);
  const std::vector<float> start = FlatState(*init);
  TrainOptions o;
  o.epochs = 4;
  o.batch_size = 8;
  o.optimizer = {.name = "sgd", .lr = kLr};
  o.max_steps = 7;
  ModelPtr m = SmallMlp(d, Seed(0));
  ASSERT_TRUE(LoadFlatState(*m, start).ok());
  int64_t calls = 0;
  StatusOr<std::vector<EpochMetrics>> h =
      Trainer(o).Fit(*m, d, nullptr, Seed(9), {}, [&](int64_t, int64_t) { ++calls; });
  ASSERT_TRUE(h.ok()) << h.status();
  EXPECT_EQ(calls, 7);
  ASSERT_EQ(h->size(), 2u);  // Epoch 2 cut after 2 of its 5 steps.
  EXPECT_TRUE(std::isfinite((*h)[1].train_loss));

  const std::vector<float> got = FlatState(*m);
  const std::vector<int64_t> all = AllIndices(d);
  EXPECT_LT(MaxAbsDiff(got, ManualSgd(d, all, start, 8, 7, Seed(9))), 1e-5);
  // One step fewer or more is far from it: the check can fail.
  EXPECT_GT(MaxAbsDiff(got, ManualSgd(d, all, start, 8, 6, Seed(9))), 1e-3);
  EXPECT_GT(MaxAbsDiff(got, ManualSgd(d, all, start, 8, 8, Seed(9))), 1e-3);
}

TEST(TrainerMaxStepsTest, ZeroOrANonBindingCapChangesNothing) {
  const Dataset d = SmallData();
  auto fit = [&](int64_t max_steps) {
    TrainOptions o;
    o.epochs = 3;
    o.batch_size = 8;
    o.optimizer = {.name = "sgd", .lr = kLr, .momentum = 0.9};
    o.max_steps = max_steps;
    ModelPtr m = SmallMlp(d, Seed(5));
    StatusOr<std::vector<EpochMetrics>> h = Trainer(o).Fit(*m, d, &d, Seed(9));
    EXPECT_TRUE(h.ok()) << h.status();
    EXPECT_EQ(h.ok() ? h->size() : 0u, 3u);
    return FlatState(*m);
  };
  const std::vector<float> uncapped = fit(0);
  EXPECT_EQ(fit(15), uncapped);  // 3 epochs x 5 steps: bitwise equal.
  EXPECT_EQ(fit(100), uncapped);
  EXPECT_NE(fit(14), uncapped);

  TrainOptions bad;
  bad.max_steps = -1;
  ModelPtr m = SmallMlp(d, Seed(5));
  StatusOr<std::vector<EpochMetrics>> h = Trainer(bad).Fit(*m, d, nullptr, Seed(9));
  ASSERT_FALSE(h.ok());
  EXPECT_NE(h.status().message().find("max_steps"), std::string::npos);
}

class LocalStepsTest : public ::testing::Test {
 protected:
  void SetUp() override { data_ = SmallData(); }

  FederatedOptions Options(int64_t local_steps) const {
    FederatedOptions o;
    o.rounds = 1;
    o.clients_per_round = 1;
    o.local_epochs = 3;
    o.local_steps = local_steps;
    o.local_batch_size = 8;
    o.optimizer = {.name = "sgd", .lr = kLr};
    o.eval_every = 0;
    return o;
  }
  // One client holding every sample: one round's global step is its delta.
  std::unique_ptr<FederatedEngine> Make(const FederatedOptions& o) const {
    FederatedSetup s;
    s.model = "mlp";
    s.model_params = {{"hidden", std::vector<int64_t>{8}}};
    s.train = &data_;
    s.partition = {AllIndices(data_)};
    s.seed = Seed(21);
    StatusOr<std::unique_ptr<FederatedEngine>> e = FederatedEngine::Create(o, std::move(s));
    EXPECT_TRUE(e.ok()) << e.status();
    return e.ok() ? std::move(*e) : nullptr;
  }
  // The state after one round and the manual reference of `steps` steps.
  void RunRound(int64_t local_steps, std::vector<float>* start, std::vector<float>* end,
                std::string* hash) const {
    std::unique_ptr<FederatedEngine> e = Make(Options(local_steps));
    ASSERT_NE(e, nullptr);
    *start = e->global_state();
    StatusOr<FederatedResult> r = e->Run();
    ASSERT_TRUE(r.ok()) << r.status();
    *end = e->global_state();
    *hash = r->final_state_hash;
  }
  Seed ClientSeed() const { return Seed(21).Child("fl").Child("round", 1).Child("client", 0); }

  Dataset data_;
};

TEST_F(LocalStepsTest, ClientStopsAfterExactlyLocalStepsSteps) {
  for (int64_t steps : {1, 7}) {
    std::vector<float> start, end;
    std::string hash;
    RunRound(steps, &start, &end, &hash);
    const std::vector<int64_t> all = AllIndices(data_);
    EXPECT_LT(MaxAbsDiff(end, ManualSgd(data_, all, start, 8, steps, ClientSeed())), 1e-5)
        << steps << " steps";
    EXPECT_GT(MaxAbsDiff(end, ManualSgd(data_, all, start, 8, steps + 1, ClientSeed())), 1e-3)
        << steps << " steps";
  }
}

TEST_F(LocalStepsTest, ZeroIsTheUncappedRun) {
  std::vector<float> start, uncapped, capped;
  std::string h0, h15;
  RunRound(0, &start, &uncapped, &h0);
  RunRound(15, &start, &capped, &h15);  // 3 epochs x 5 steps: not binding.
  EXPECT_EQ(capped, uncapped);
  EXPECT_EQ(h15, h0);
  EXPECT_LT(MaxAbsDiff(uncapped, ManualSgd(data_, AllIndices(data_), start, 8, 15, ClientSeed())),
            1e-5);
  // A cap is part of the config hash (a checkpoint of one does not resume
  // the other); without one the hash is computed as before the field existed.
  EXPECT_NE(Make(Options(0))->config_hash(), Make(Options(1))->config_hash());

  StatusOr<std::unique_ptr<FederatedEngine>> bad = FederatedEngine::Create(Options(-1), {});
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("local_steps"), std::string::npos);
}

}  // namespace
}  // namespace confml
