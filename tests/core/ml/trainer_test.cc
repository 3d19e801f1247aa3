#include "confml/core/trainer.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <functional>

namespace confml {
namespace {

using ::testing::HasSubstr;

Dataset Blobs(int64_t n, int64_t features, int64_t classes, uint64_t seed) {
  SyntheticOptions o;
  o.num_samples = n;
  o.num_features = features;
  o.num_classes = classes;
  o.separation = 3.0;
  StatusOr<Dataset> d = MakeSynthetic(o, Seed(seed));
  EXPECT_TRUE(d.ok()) << d.status();
  return *d;
}

// Small images whose class sets the brightness of one quadrant, plus noise.
Dataset Images(int64_t n, int64_t side, uint64_t seed) {
  Dataset d;
  d.name = "quadrants";
  d.sample_shape = {1, side, side};
  d.num_classes = 4;
  Rng rng = Seed(seed).MakeRng();
  for (int64_t i = 0; i < n; ++i) {
    const int64_t label = static_cast<int64_t>(rng.UniformInt(4));
    d.labels.push_back(label);
    for (int64_t r = 0; r < side; ++r) {
      for (int64_t c = 0; c < side; ++c) {
        const int64_t q = (r < side / 2 ? 0 : 2) + (c < side / 2 ? 0 : 1);
        d.features.push_back(static_cast<float>((q == label ? 1.0 : 0.0) + 0.5 * rng.Normal()));
      }
    }
  }
  return d;
}

ModelPtr MustCreate(const std::string& name, const std::map<std::string, ParamValue>& params,
                    const Dataset& d, uint64_t seed = 1) {
  StatusOr<ModelPtr> m = CreateModel(
      name, params, {.input_shape = d.sample_shape, .num_classes = d.num_classes}, Seed(seed));
  EXPECT_TRUE(m.ok()) << m.status();
  return *m;
}

double WeightNorm(Model& m) {
  double s = 0.0;
  for (const auto& p : m.parameters()) s += p.detach().pow(2).sum().item<double>();
  return std::sqrt(s);
}

TEST(TrainerTest, TrainingReducesLossAndLearnsBlobs) {
  Dataset train = Blobs(400, 10, 3, 1);
  Dataset test = Blobs(200, 10, 3, 1);  // Same class means, other draws would need a split.
  ModelPtr m = MustCreate("mlp", {{"hidden", std::vector<int64_t>{32}}}, train);
  const EvalResult before = Evaluate(*m, train);
  TrainOptions o;
  o.epochs = 5;
  o.batch_size = 32;
  o.optimizer = {.name = "sgd", .lr = 0.05, .momentum = 0.9};
  std::vector<EpochMetrics> seen;
  int64_t steps_seen = 0;
  StatusOr<std::vector<EpochMetrics>> h = Trainer(o).Fit(
      *m, train, &test, Seed(3), [&](const EpochMetrics& e) { seen.push_back(e); },
      [&](int64_t step, int64_t per_epoch) {
        EXPECT_EQ(per_epoch, 13);
        EXPECT_GE(step, 1);
        ++steps_seen;
      });
  ASSERT_TRUE(h.ok()) << h.status();
  ASSERT_EQ(h->size(), 5u);
  EXPECT_EQ(seen.size(), 5u);
  EXPECT_EQ(steps_seen, 5 * 13);
  EXPECT_EQ(h->front().epoch, 1);
  EXPECT_LT(h->back().train_loss, h->front().train_loss);
  EXPECT_LT(h->back().train_loss, 0.5 * before.loss);
  EXPECT_GT(h->back().test_accuracy, 0.9);
  EXPECT_GE(h->back().seconds, 0.0);
  EXPECT_LT(Evaluate(*m, train).loss, before.loss);
}

TEST(TrainerTest, NoTestSetGivesNaNTestMetrics) {
  Dataset train = Blobs(50, 4, 2, 2);
  ModelPtr m = MustCreate("mlp", {{"hidden", std::vector<int64_t>{4}}}, train);
  StatusOr<std::vector<EpochMetrics>> h = Trainer(TrainOptions{}).Fit(*m, train, nullptr, Seed(1));
  ASSERT_TRUE(h.ok()) << h.status();
  EXPECT_TRUE(std::isnan(h->at(0).test_accuracy));
  EXPECT_TRUE(std::isnan(h->at(0).test_loss));
  TrainOptions zero;
  zero.epochs = 0;
  StatusOr<std::vector<EpochMetrics>> none = Trainer(zero).Fit(*m, train, nullptr, Seed(1));
  ASSERT_TRUE(none.ok());
  EXPECT_TRUE(none->empty());
}

TEST(TrainerTest, SameSeedSameWeightsOtherSeedOtherWeights) {
  Dataset train = Images(96, 8, 4);
  TrainOptions o;
  o.epochs = 2;
  o.batch_size = 16;
  o.optimizer = {.name = "adam", .lr = 1e-3};
  auto run = [&](uint64_t train_seed) {
    ModelPtr m = MustCreate("small_cnn", {{"channels", std::vector<int64_t>{4, 8}}}, train, 9);
    EXPECT_TRUE(Trainer(o).Fit(*m, train, nullptr, Seed(train_seed)).ok());
    return StateHash(*m);
  };
  const std::string a = run(1);
  EXPECT_EQ(a, run(1));
  EXPECT_NE(a, run(2));  // Other batches and other dropout masks.
}

// Sets LibTorch's thread count for one scope (the trainer sizes its worker
// pool from it, as the runner's experiment.threads does).
class ScopedThreads {
 public:
  explicit ScopedThreads(int threads) : saved_(torch::get_num_threads()) {
    torch::set_num_threads(threads);
  }
  ~ScopedThreads() { torch::set_num_threads(saved_); }

 private:
  int saved_;
};

struct ModelCase {
  std::string name;
  std::map<std::string, ParamValue> params;
  const Dataset* data;
};

// The standard: same config and seed, same numbers, whatever the thread count.
// mlp's 64x784 by 784x200 product (OpenBLAS) and the conv weight gradients
// (oneDNN) split their sums per thread, so a plain loop differs in the last
// bits between 1 and 2 threads (docs/models.md); resnet_small adds batch norm.
TEST(TrainerTest, ThreadCountDoesNotChangeTheWeights) {
  Dataset images = Images(192, 28, 5);
  Dataset small_images = Images(96, 12, 6);
  Dataset blobs = Blobs(256, 784, 10, 5);
  const std::vector<ModelCase> cases = {
      {"mlp", {}, &blobs},
      {"small_cnn", {{"channels", std::vector<int64_t>{8, 16}}}, &images},
      {"resnet_small", {{"widths", std::vector<int64_t>{4, 8}}}, &small_images}};
  for (const ModelCase& c : cases) {
    SCOPED_TRACE(c.name);
    TrainOptions o;
    o.epochs = 1;
    o.batch_size = 64;
    o.optimizer = {.name = "adam", .lr = 1e-3};
    ASSERT_GT(o.micro_batches, 1);
    o.replica_factory = [&] {
      return CreateModel(c.name, c.params, {c.data->sample_shape, c.data->num_classes}, Seed(8));
    };
    std::vector<std::string> hashes;
    std::vector<double> losses;
    for (int threads : {1, 2, 3}) {
      ScopedThreads scoped(threads);
      ModelPtr m = MustCreate(c.name, c.params, *c.data, 3);
      StatusOr<std::vector<EpochMetrics>> h = Trainer(o).Fit(*m, *c.data, c.data, Seed(4));
      ASSERT_TRUE(h.ok()) << h.status();
      hashes.push_back(StateHash(*m));
      losses.push_back(h->back().train_loss);
      losses.push_back(h->back().test_loss);
    }
    EXPECT_EQ(hashes[0], hashes[1]) << "1 vs 2 threads";
    EXPECT_EQ(hashes[0], hashes[2]) << "1 vs 3 threads";
    EXPECT_EQ(losses[0], losses[2]);
    EXPECT_EQ(losses[0], losses[4]);
    EXPECT_EQ(losses[1], losses[3]);
    EXPECT_EQ(losses[1], losses[5]);
  }
}

TEST(TrainerTest, EvaluationDoesNotDependOnTheThreadCount) {
  Dataset blobs = Blobs(300, 784, 10, 13);
  ModelPtr m = MustCreate("mlp", {}, blobs, 5);
  std::vector<EvalResult> r;
  for (int threads : {1, 2, 3}) {
    ScopedThreads scoped(threads);
    r.push_back(Evaluate(*m, blobs, /*batch_size=*/64));
  }
  EXPECT_EQ(r[0].count, 300);
  for (size_t i = 1; i < r.size(); ++i) {
    EXPECT_EQ(r[0].loss, r[i].loss) << i;
    EXPECT_EQ(r[0].accuracy, r[i].accuracy) << i;
  }
}

double MaxAbsDiff(const std::vector<float>& a, const std::vector<float>& b) {
  EXPECT_EQ(a.size(), b.size());
  double d = 0.0;
  for (size_t i = 0; i < std::min(a.size(), b.size()); ++i) {
    d = std::max(d, std::abs(static_cast<double>(a[i]) - b[i]));
  }
  return d;
}

// Weighting micro-batch k's mean loss by n_k / len makes the summed gradient
// the batch's mean gradient, so without batch norm or dropout micro-batching
// changes only rounding. 250 samples at batch 64: the last batch (58) splits
// into unequal micro-batches of 15, 15, 14, 14.
TEST(TrainerTest, MicroBatchesGiveTheFullBatchGradient) {
  Dataset blobs = Blobs(250, 20, 4, 14);
  ScopedThreads scoped(2);
  auto fit = [&](int64_t micro_batches) {
    ModelPtr m = MustCreate("mlp", {{"hidden", std::vector<int64_t>{16}}}, blobs, 6);
    TrainOptions o;
    o.epochs = 2;
    o.batch_size = 64;
    o.optimizer = {.name = "sgd", .lr = 0.1, .momentum = 0.9};
    o.micro_batches = micro_batches;
    o.replica_factory = [&] {
      return CreateModel("mlp", {{"hidden", std::vector<int64_t>{16}}},
                         {blobs.sample_shape, blobs.num_classes}, Seed(1));
    };
    EXPECT_TRUE(Trainer(o).Fit(*m, blobs, nullptr, Seed(2)).ok());
    return FlatState(*m);
  };
  const std::vector<float> start =
      FlatState(*MustCreate("mlp", {{"hidden", std::vector<int64_t>{16}}}, blobs, 6));
  const std::vector<float> one = fit(1), four = fit(4), plain = fit(0);
  EXPECT_GT(MaxAbsDiff(one, start), 0.1);  // It trained.
  EXPECT_LT(MaxAbsDiff(one, four), 1e-5);
  EXPECT_LT(MaxAbsDiff(one, plain), 1e-5);
  EXPECT_NE(one, four);  // Other sums, other rounding: the split is part of the numbers.
}

torch::Tensor Buffer(Model& m, const std::string& name) {
  for (const auto& b : m.named_buffers()) {
    if (b.key() == name) return b.value();
  }
  ADD_FAILURE() << "no buffer " << name;
  return torch::zeros({1});
}

// Ghost batch norm: each micro-batch is normalised by its own statistics, and
// the running statistics are the micro-batches' momentum updates weighted by
// n_k / len, computed here from the stem convolution's output by hand. The
// batch counter advances once per step.
TEST(TrainerTest, BatchNormRunningStatisticsCombineByMicroBatchSize) {
  Dataset images = Images(24, 8, 15);
  const std::map<std::string, ParamValue> widths{{"widths", std::vector<int64_t>{4}}};
  auto fit = [&](int64_t micro_batches) {
    ModelPtr m = MustCreate("resnet_small", widths, images, 7);
    TrainOptions o;
    o.batch_size = 24;  // One step.
    o.optimizer = {.name = "sgd", .lr = 1e-3};
    o.micro_batches = micro_batches;
    EXPECT_TRUE(Trainer(o).Fit(*m, images, nullptr, Seed(3)).ok());
    return m;
  };
  // Expected: the stem's output on each micro-batch of the epoch's order.
  ModelPtr initial = MustCreate("resnet_small", widths, images, 7);
  std::shared_ptr<torch::nn::Module> stem;
  for (const auto& c : initial->named_children()) {
    if (c.key() == "stem") stem = c.value();
  }
  ASSERT_NE(stem, nullptr);
  std::vector<int64_t> perm = Seed(3).Child("epoch", 1).MakeRng().Permutation(24);
  torch::Tensor x = torch::index_select(FeaturesTensor(images), 0,
                                        torch::from_blob(perm.data(), {24}, torch::kInt64));
  auto expected = [&](const std::vector<int64_t>& sizes) {
    torch::NoGradGuard no_grad;
    torch::Tensor mean = torch::zeros({4}, torch::kFloat64),
                  var = torch::zeros({4}, torch::kFloat64);
    int64_t off = 0;
    for (int64_t nk : sizes) {
      torch::Tensor y =
          stem->as<torch::nn::Conv2d>()->forward(x.narrow(0, off, nk)).to(torch::kFloat64);
      mean += y.mean({0, 2, 3}) * (nk / 24.0);
      var += y.var({0, 2, 3}, /*unbiased=*/true) * (nk / 24.0);
      off += nk;
    }
    return std::make_pair(0.1 * mean, 0.9 + 0.1 * var);
  };
  for (auto [micro, sizes] :
       std::vector<std::pair<int64_t, std::vector<int64_t>>>{{1, {24}}, {5, {5, 5, 5, 5, 4}}}) {
    SCOPED_TRACE(micro);
    ModelPtr m = fit(micro);
    auto [mean, var] = expected(sizes);
    torch::Tensor got_mean = Buffer(*m, "stem_bn.running_mean").to(torch::kFloat64);
    torch::Tensor got_var = Buffer(*m, "stem_bn.running_var").to(torch::kFloat64);
    EXPECT_GT(mean.abs().max().item<double>(), 1e-3);
    EXPECT_LT((got_mean - mean).abs().max().item<double>(), 1e-5) << got_mean << mean;
    EXPECT_LT((got_var - var).abs().max().item<double>(), 1e-5) << got_var << var;
    EXPECT_EQ(Buffer(*m, "stem_bn.num_batches_tracked").item<int64_t>(), 1);
  }
}

TEST(TrainerTest, WeightDecayShrinksWeights) {
  Dataset train = Blobs(64, 6, 2, 6);
  for (const std::string opt : {"sgd", "adam"}) {
    SCOPED_TRACE(opt);
    auto norm_after = [&](double wd) {
      ModelPtr m = MustCreate("mlp", {{"hidden", std::vector<int64_t>{8}}}, train, 2);
      TrainOptions o;
      o.epochs = 3;
      o.batch_size = 16;
      o.optimizer = {.name = opt, .lr = opt == "sgd" ? 0.05 : 0.01, .weight_decay = wd};
      EXPECT_TRUE(Trainer(o).Fit(*m, train, nullptr, Seed(1)).ok());
      return WeightNorm(*m);
    };
    EXPECT_LT(norm_after(0.5), 0.9 * norm_after(0.0));
  }
}

TEST(TrainerTest, MomentumAndNesterovChangeTheTrajectory) {
  Dataset train = Blobs(64, 6, 2, 7);
  auto hash_with = [&](OptimizerOptions opt) {
    ModelPtr m = MustCreate("mlp", {{"hidden", std::vector<int64_t>{8}}}, train, 2);
    TrainOptions o;
    o.batch_size = 16;
    o.optimizer = opt;
    EXPECT_TRUE(Trainer(o).Fit(*m, train, nullptr, Seed(1)).ok());
    return StateHash(*m);
  };
  const std::string plain = hash_with({.name = "sgd", .lr = 0.1});
  const std::string momentum = hash_with({.name = "sgd", .lr = 0.1, .momentum = 0.9});
  const std::string nesterov =
      hash_with({.name = "sgd", .lr = 0.1, .momentum = 0.9, .nesterov = true});
  EXPECT_NE(plain, momentum);
  EXPECT_NE(momentum, nesterov);
}

TEST(TrainerTest, OptimizerSpecsAndConversion) {
  ASSERT_EQ(OptimizerSpecs().size(), 2u);
  for (const auto& spec : OptimizerSpecs()) EXPECT_EQ(spec.kind, "optimizer");

  StatusOr<OptimizerOptions> adam = OptimizerFromParams("adam", ParamSet{});
  ASSERT_TRUE(adam.ok()) << adam.status();
  EXPECT_EQ(adam->lr, 1e-3);
  EXPECT_EQ(adam->beta2, 0.999);

  ParamSet p;
  p.Set("lr", 0.2);
  p.Set("momentum", 0.5);
  p.Set("nesterov", true);
  StatusOr<OptimizerOptions> sgd = OptimizerFromParams("sgd", p);
  ASSERT_TRUE(sgd.ok()) << sgd.status();
  EXPECT_EQ(sgd->lr, 0.2);
  EXPECT_EQ(sgd->momentum, 0.5);
  EXPECT_TRUE(sgd->nesterov);

  EXPECT_EQ(OptimizerFromParams("adamw", ParamSet{}).status().code(), StatusCode::kNotFound);
  ParamSet bad_lr;
  bad_lr.Set("lr", 0.0);
  EXPECT_EQ(OptimizerFromParams("sgd", bad_lr).status().code(), StatusCode::kInvalidArgument);
  ParamSet nesterov_alone;
  nesterov_alone.Set("nesterov", true);
  EXPECT_EQ(OptimizerFromParams("sgd", nesterov_alone).status().code(),
            StatusCode::kInvalidArgument);
  ParamSet beta;
  beta.Set("beta1", 1.0);
  EXPECT_EQ(OptimizerFromParams("adam", beta).status().code(), StatusCode::kInvalidArgument);
}

TEST(TrainerTest, BadOptionsAreInvalidArgument) {
  Dataset train = Blobs(20, 4, 2, 8);
  ModelPtr m = MustCreate("mlp", {}, train);
  const std::vector<std::function<void(TrainOptions&)>> bad = {
      [](TrainOptions& o) { o.batch_size = 0; }, [](TrainOptions& o) { o.epochs = -1; },
      [](TrainOptions& o) { o.optimizer.lr = -1.0; },
      [](TrainOptions& o) { o.micro_batches = -1; }};
  for (size_t i = 0; i < bad.size(); ++i) {
    TrainOptions o;
    bad[i](o);
    EXPECT_EQ(Trainer(o).Fit(*m, train, nullptr, Seed(1)).status().code(),
              StatusCode::kInvalidArgument)
        << i;
  }
  TrainOptions o;
  o.optimizer.name = "rmsprop";
  Status s = Trainer(o).Fit(*m, train, nullptr, Seed(1)).status();
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(s.message(), HasSubstr("rmsprop"));
}

TEST(TrainerTest, AReplicaOfAnotherArchitectureIsInvalidArgument) {
  Dataset train = Blobs(40, 4, 2, 8);
  ScopedThreads scoped(2);
  ModelPtr m = MustCreate("mlp", {{"hidden", std::vector<int64_t>{4}}}, train);
  TrainOptions o;
  o.replica_factory = [&] {
    return CreateModel("mlp", {{"hidden", std::vector<int64_t>{5}}},
                       {train.sample_shape, train.num_classes}, Seed(1));
  };
  Status s = Trainer(o).Fit(*m, train, nullptr, Seed(1)).status();
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(s.message(), HasSubstr("replica_factory"));
  o.replica_factory = [] { return StatusOr<ModelPtr>(NotFoundError("no such model")); };
  s = Trainer(o).Fit(*m, train, nullptr, Seed(1)).status();
  EXPECT_EQ(s.code(), StatusCode::kNotFound);
  EXPECT_THAT(s.message(), HasSubstr("replica"));
}

TEST(TrainerTest, DataThatDoesNotFitTheModelIsInvalidArgument) {
  Dataset blobs = Blobs(20, 4, 2, 9);
  Dataset images = Images(20, 8, 9);
  ModelPtr cnn = MustCreate("small_cnn", {{"channels", std::vector<int64_t>{4}}}, images);
  Status s = Trainer(TrainOptions{}).Fit(*cnn, blobs, nullptr, Seed(1)).status();
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(s.message(), HasSubstr("{4}"));

  Dataset ten = Blobs(20, 4, 10, 9);
  ModelPtr two = MustCreate("mlp", {{"hidden", std::vector<int64_t>{4}}}, blobs);
  s = Trainer(TrainOptions{}).Fit(*two, ten, nullptr, Seed(1)).status();
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument) << s;

  Dataset broken = blobs;
  broken.labels.pop_back();
  s = Trainer(TrainOptions{}).Fit(*two, broken, nullptr, Seed(1)).status();
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);

  EvalResult r = Evaluate(*cnn, blobs);
  EXPECT_EQ(r.count, 0);
  EXPECT_TRUE(std::isnan(r.accuracy));
}

TEST(TrainerTest, NonFiniteLossIsFailedPrecondition) {
  Dataset train = Blobs(40, 4, 2, 10);
  train.features[4 * 7] = std::nanf("");
  ModelPtr m = MustCreate("mlp", {{"hidden", std::vector<int64_t>{4}}}, train);
  TrainOptions o;
  o.epochs = 2;
  o.batch_size = 40;  // One step per epoch, so sample 7 is in the first.
  Status s = Trainer(o).Fit(*m, train, nullptr, Seed(1)).status();
  EXPECT_EQ(s.code(), StatusCode::kFailedPrecondition);
  EXPECT_THAT(s.message(), HasSubstr("loss became NaN at epoch 1 step 1"));
}

TEST(TrainerTest, EvaluateOnAHandMadeCase) {
  // A linear model with identity weights: logits are the features.
  StatusOr<ModelPtr> m = CreateModel("mlp", {{"hidden", std::vector<int64_t>{}}},
                                     {.input_shape = {2}, .num_classes = 2}, Seed(1));
  ASSERT_TRUE(m.ok());
  ASSERT_TRUE(LoadFlatState(**m, {1, 0, 0, 1, 0, 0}).ok());
  Dataset d;
  d.name = "hand";
  d.sample_shape = {2};
  d.num_classes = 2;
  d.features = {1, 0, 0, 1, 2, 1, 0, 3};
  d.labels = {0, 1, 0, 0};  // The last one is predicted 1: wrong.
  EvalResult r = Evaluate(**m, d, /*batch_size=*/3);
  EXPECT_EQ(r.count, 4);
  EXPECT_DOUBLE_EQ(r.accuracy, 0.75);
  // Cross-entropy of logits (a, b) for class 0 is log(1 + exp(b - a)).
  const double expected = (std::log1p(std::exp(-1.0)) + std::log1p(std::exp(-1.0)) +
                           std::log1p(std::exp(-1.0)) + std::log1p(std::exp(3.0))) /
                          4;
  EXPECT_NEAR(r.loss, expected, 1e-6);
}

TEST(TrainerTest, EvaluateRestoresTheTrainingMode) {
  Dataset images = Images(10, 8, 11);
  ModelPtr m = MustCreate("small_cnn", {{"channels", std::vector<int64_t>{4}}}, images);
  m->train();
  EvalResult a = Evaluate(*m, images);
  EvalResult b = Evaluate(*m, images);
  EXPECT_TRUE(m->is_training());
  EXPECT_EQ(a.loss, b.loss);  // Dropout is off while evaluating.
}

TEST(TrainerTest, TensorViewsShareTheDatasetMemory) {
  Dataset d = Blobs(5, 3, 2, 12);
  torch::Tensor x = FeaturesTensor(d);
  EXPECT_EQ(x.sizes(), (std::vector<int64_t>{5, 3}));
  EXPECT_EQ(x.data_ptr<float>(), d.features.data());
  EXPECT_EQ(LabelsTensor(d)[4].item<int64_t>(), d.labels[4]);
}

}  // namespace
}  // namespace confml
