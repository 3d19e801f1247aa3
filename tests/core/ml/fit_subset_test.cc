// Tests of Trainer::FitSubset (confml/core/trainer.h) and ClientTrainOptions
// (confml/core/federated.h): one training loop for centralized fits and for
// a federated client, so that a simulated device trains exactly as one.
#include <ATen/Parallel.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "confml/core/federated.h"
#include "confml/core/thread_scope.h"
#include "confml/core/trainer.h"

namespace confml {
namespace {

using ::testing::HasSubstr;

// Uniform-noise images of `side` x `side`, labels cycling over 4 classes.
Dataset Images(int64_t n, int64_t side, uint64_t seed) {
  Dataset d;
  d.name = "noise-images";
  d.sample_shape = {1, side, side};
  d.num_classes = 4;
  Rng rng = Seed(seed).MakeRng();
  for (int64_t i = 0; i < n * side * side; ++i)
    d.features.push_back(static_cast<float>(rng.Uniform()));
  for (int64_t i = 0; i < n; ++i) d.labels.push_back(i % 4);
  return d;
}

const std::map<std::string, ParamValue> kCnn{
    {"channels", std::vector<int64_t>{4}}, {"hidden", int64_t{16}}, {"dropout", 0.5}};

ModelPtr Cnn(const Dataset& d, uint64_t seed = 5) {
  StatusOr<ModelPtr> m =
      CreateModel("small_cnn", kCnn, {d.sample_shape, d.num_classes}, Seed(seed));
  EXPECT_TRUE(m.ok()) << m.status();
  return *m;
}

TrainOptions Options(int64_t micro_batches) {
  TrainOptions o;
  o.epochs = 2;
  o.batch_size = 8;
  o.optimizer = {.name = "sgd", .lr = 0.05, .momentum = 0.9};
  o.micro_batches = micro_batches;
  return o;
}

// The subset is read through its indices in the epoch's permuted order, which
// is the order Fit sees on a copy of it: same weights, same metrics, dropout
// included, with one and with two micro-batches.
TEST(FitSubsetTest, TrainsAsFitOnACopyOfTheSubset) {
  const Dataset data = Images(60, 8, 1);
  const std::vector<int64_t> indices{3, 41, 17, 8, 59, 22, 30, 5, 11, 47, 36, 2, 28};
  const Dataset copy = data.Subset(indices);
  for (int64_t micro : {1, 2}) {
    SCOPED_TRACE(micro);
    ModelPtr a = Cnn(data), b = Cnn(data);
    StatusOr<FitSummary> s = Trainer(Options(micro)).FitSubset(*a, data, indices, Seed(4));
    StatusOr<std::vector<EpochMetrics>> h = Trainer(Options(micro)).Fit(*b, copy, nullptr, Seed(4));
    ASSERT_TRUE(s.ok()) << s.status();
    ASSERT_TRUE(h.ok()) << h.status();
    EXPECT_EQ(StateHash(*a), StateHash(*b));
    ASSERT_EQ(s->epochs.size(), 2u);
    EXPECT_EQ(s->epochs[1].train_loss, (*h)[1].train_loss);
    EXPECT_EQ(s->steps, 4);  // 13 samples in batches of 8: 2 steps an epoch.
    EXPECT_EQ(s->samples_seen, 26);
    EXPECT_NEAR(s->loss_sum, 13 * ((*h)[0].train_loss + (*h)[1].train_loss), 1e-9);
  }
}

// The dropout masks follow the seeding rule of trainer.h: with one
// micro-batch per step the seed's "dropout" child generator runs through the
// fit; another seed of that generator gives other weights.
TEST(FitSubsetTest, OneMicroBatchDrawsDropoutFromOneGeneratorPerFit) {
  const Dataset data = Images(24, 8, 2);
  std::vector<int64_t> all;
  for (int64_t i = 0; i < data.size(); ++i) all.push_back(i);
  ModelPtr a = Cnn(data);
  ASSERT_TRUE(Trainer(Options(1)).FitSubset(*a, data, all, Seed(9)).ok());
  ModelPtr b = Cnn(data);
  ASSERT_TRUE(Trainer(Options(2)).FitSubset(*b, data, all, Seed(9)).ok());
  EXPECT_NE(StateHash(*a), StateHash(*b));  // Other masks (and other sums).

  // By hand: the same loop with the model's generator set once, at one
  // intra-op thread as the fit's steps (another test may have left 2).
  OneIntraOpThread one_thread;
  ModelPtr c = Cnn(data);
  c->train();
  c->SetGenerator(at::detail::createCPUGenerator(Seed(9).Child("dropout").value()));
  TrainOptions o = Options(1);
  StatusOr<std::unique_ptr<torch::optim::Optimizer>> opt = MakeOptimizer(o.optimizer, *c);
  ASSERT_TRUE(opt.ok());
  torch::Tensor x = FeaturesTensor(data), y = LabelsTensor(data);
  for (int64_t epoch = 1; epoch <= o.epochs; ++epoch) {
    std::vector<int64_t> perm =
        Seed(9).Child("epoch", static_cast<uint64_t>(epoch)).MakeRng().Permutation(24);
    torch::Tensor p = torch::from_blob(perm.data(), {24}, torch::kInt64);
    for (int64_t start = 0; start < 24; start += o.batch_size) {
      torch::Tensor idx = p.narrow(0, start, o.batch_size);
      for (torch::Tensor& w : c->parameters()) w.mutable_grad().reset();
      torch::nn::functional::cross_entropy(c->forward(x.index_select(0, idx)),
                                           y.index_select(0, idx))
          .backward();
      (*opt)->step();
    }
  }
  EXPECT_EQ(StateHash(*a), StateHash(*c));
}

// At one micro-batch the step runs on one thread pinned to one intra-op
// thread whatever the caller's count.
TEST(FitSubsetTest, OneMicroBatchDoesNotDependOnTheThreadCount) {
  const Dataset data = Images(40, 12, 3);
  std::vector<int64_t> indices;
  for (int64_t i = 0; i < data.size(); i += 2) indices.push_back(i);
  const int saved = at::get_num_threads();
  std::vector<std::string> hashes;
  for (int threads : {1, 2}) {
    at::set_num_threads(threads);
    ModelPtr m = Cnn(data);
    ASSERT_TRUE(Trainer(Options(1)).FitSubset(*m, data, indices, Seed(6)).ok());
    hashes.push_back(StateHash(*m));
  }
  at::set_num_threads(saved);
  EXPECT_EQ(hashes[0], hashes[1]);
}

TEST(FitSubsetTest, EmptyIndicesTrainNothingAndBadOnesAreInvalidArgument) {
  const Dataset data = Images(10, 8, 4);
  ModelPtr m = Cnn(data);
  const std::string before = StateHash(*m);
  StatusOr<FitSummary> s = Trainer(Options(1)).FitSubset(*m, data, {}, Seed(1));
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ(s->steps, 0);
  EXPECT_TRUE(s->epochs.empty());
  EXPECT_EQ(StateHash(*m), before);

  s = Trainer(Options(1)).FitSubset(*m, data, {0, 10}, Seed(1));
  EXPECT_EQ(s.status().code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(s.status().message(), HasSubstr("sample index 10 is outside"));

  Dataset broken = data;
  broken.features.pop_back();
  s = Trainer(Options(1)).FitSubset(*m, broken, {0}, Seed(1));
  EXPECT_EQ(s.status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(StateHash(*m), before);
}

TEST(FitSubsetTest, MaxStepsCutsTheFitAcrossEpochs) {
  const Dataset data = Images(20, 8, 5);
  std::vector<int64_t> indices{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11};
  TrainOptions o = Options(1);
  o.epochs = 5;
  o.max_steps = 3;  // 2 steps an epoch: the second epoch stops after one.
  ModelPtr m = Cnn(data);
  StatusOr<FitSummary> s = Trainer(o).FitSubset(*m, data, indices, Seed(2));
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ(s->steps, 3);
  EXPECT_EQ(s->samples_seen, 12 + 8);
  ASSERT_EQ(s->epochs.size(), 2u);
}

// A federated client's update is FitSubset with ClientTrainOptions from the
// round's global state on the client's indices with its seed: what an attack
// simulating an honest device computes is bitwise what the device sends.
class ClientUpdateRecorder : public FederatedHooks {
 public:
  void OnClientUpdate(const ClientContext& c, const std::vector<float>& global,
                      ClientUpdate* u) override {
    updates[{c.round, c.client_id}] = u->values;
    globals[c.round] = global;
  }
  std::map<std::pair<int64_t, int64_t>, std::vector<float>> updates;
  std::map<int64_t, std::vector<float>> globals;
};

// The small CNN federated over `data` cut into `clients` interleaved parts.
FederatedSetup CnnFederation(const Dataset& data, int64_t clients, Seed seed) {
  FederatedSetup setup;
  setup.model = "small_cnn";
  setup.model_params = kCnn;
  setup.train = &data;
  setup.seed = seed;
  for (int64_t c = 0; c < clients; ++c) {
    setup.partition.emplace_back();
    for (int64_t i = c; i < data.size(); i += clients) setup.partition.back().push_back(i);
  }
  return setup;
}

TEST(FitSubsetTest, AFederatedClientTrainsAsFitSubsetWithClientTrainOptions) {
  const Dataset data = Images(64, 8, 6);
  FederatedOptions o;
  o.rounds = 2;
  o.clients_per_round = 2;
  o.local_epochs = 2;
  o.local_steps = 5;  // 4 clients of 16 at batch 6: 3 steps an epoch, cut at 5.
  o.local_batch_size = 6;
  o.optimizer = {.name = "adam", .lr = 1e-2};
  o.workers = 2;
  FederatedSetup setup = CnnFederation(data, 4, Seed(11));
  const Partition partition = setup.partition;
  StatusOr<std::unique_ptr<FederatedEngine>> e = FederatedEngine::Create(o, std::move(setup));
  ASSERT_TRUE(e.ok()) << e.status();
  auto recorder = std::make_shared<ClientUpdateRecorder>();
  (*e)->AddHooks(recorder);
  ASSERT_TRUE((*e)->Run().ok());
  ASSERT_EQ(recorder->updates.size(), 4u);
  for (const auto& [key, update] : recorder->updates) {
    const auto [round, client] = key;
    SCOPED_TRACE("round " + std::to_string(round) + " client " + std::to_string(client));
    ModelPtr m = Cnn(data, 77);
    const std::vector<float>& global = recorder->globals[round];
    ASSERT_TRUE(LoadFlatState(*m, global).ok());
    const Seed seed = Seed(11)
                          .Child("fl")
                          .Child("round", static_cast<uint64_t>(round))
                          .Child("client", static_cast<uint64_t>(client));
    StatusOr<FitSummary> s = Trainer(ClientTrainOptions(o))
                                 .FitSubset(*m, data, partition[static_cast<size_t>(client)], seed);
    ASSERT_TRUE(s.ok()) << s.status();
    EXPECT_EQ(s->steps, 5);
    std::vector<float> delta = FlatState(*m);
    for (size_t i = 0; i < delta.size(); ++i) delta[i] -= global[i];
    EXPECT_EQ(delta, update);
  }
}

TEST(FitSubsetTest, ADivergingClientNamesRoundClientEpochAndStep) {
  const Dataset data = Images(32, 8, 7);
  FederatedOptions o;
  o.rounds = 1;
  o.clients_per_round = 2;
  o.local_batch_size = 4;
  o.optimizer = {.name = "sgd", .lr = 1e30};
  StatusOr<std::unique_ptr<FederatedEngine>> e =
      FederatedEngine::Create(o, CnnFederation(data, 2, Seed(0)));
  ASSERT_TRUE(e.ok()) << e.status();
  Status s = (*e)->Run().status();
  EXPECT_EQ(s.code(), StatusCode::kFailedPrecondition);
  EXPECT_THAT(s.message(), HasSubstr("round 1, client "));
  EXPECT_THAT(s.message(), HasSubstr(": local loss became "));
  EXPECT_THAT(s.message(), HasSubstr(" at epoch 1 step "));
}

}  // namespace
}  // namespace confml
