// Quick tests of Inverting Gradients on multi-step FedAvg updates and multi-
// image batches (confml/attacks/inversion.h): the attack's unrolled model of
// local training against real SGD steps taken with torch::optim::SGD, known
// labels, the PSNR trace, and the metric direction (a reconstruction from the
// real multi-step update beats one from a random update of the same norm).
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>
#include <cstdio>
#include <map>
#include <string>
#include <vector>

#include "../common/data_util.h"
#include "confml/attacks/inversion.h"
#include "confml/core/dataset.h"
#include "confml/core/model.h"

namespace confml::attacks {
namespace {

class InversionStepsTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    train_ = new Dataset;
    Status s = testing::SmallFashionMnist(40, Seed(7), 0, Seed(0), train_, nullptr);
    ASSERT_TRUE(s.ok()) << s;
    ASSERT_TRUE(RegisterInversionAttacks().ok());
  }
  static void TearDownTestSuite() { delete train_; }

  static std::vector<float> Images(const std::vector<int64_t>& idx) {
    std::vector<float> out;
    const int64_t numel = train_->sample_numel();
    for (int64_t i : idx) {
      out.insert(out.end(), train_->features.begin() + i * numel,
                 train_->features.begin() + (i + 1) * numel);
    }
    return out;
  }
  static std::vector<int64_t> Labels(const std::vector<int64_t>& idx) {
    std::vector<int64_t> out;
    for (int64_t i : idx) out.push_back(train_->labels[i]);
    return out;
  }

  static Dataset* train_;
};

Dataset* InversionStepsTest::train_ = nullptr;

double RelativeDistance(const std::vector<float>& a, const std::vector<float>& b) {
  double d2 = 0.0, n2 = 0.0;
  for (size_t i = 0; i < a.size(); ++i) {
    d2 += (static_cast<double>(a[i]) - b[i]) * (static_cast<double>(a[i]) - b[i]);
    n2 += static_cast<double>(b[i]) * b[i];
  }
  return std::sqrt(d2 / n2);
}

// The reference: the device's local training written the plain way, with
// LibTorch's SGD optimiser updating the parameters in place.
std::vector<float> RealSgdUpdate(Model& model, const std::vector<float>& images,
                                 const std::vector<int64_t>& labels, const LocalRecipe& recipe) {
  const std::vector<float> before = FlatState(model);
  const int64_t n = static_cast<int64_t>(labels.size());
  torch::Tensor x =
      torch::from_blob(const_cast<float*>(images.data()), {n, 1, 28, 28}, torch::kFloat32).clone();
  torch::Tensor y = torch::tensor(labels);
  torch::optim::SGD sgd(model.parameters(), torch::optim::SGDOptions(recipe.lr));
  model.train();
  for (int64_t e = 0; e < recipe.epochs; ++e) {
    for (int64_t s = 0; s < n; s += recipe.batch_size) {
      const int64_t len = std::min(recipe.batch_size, n - s);
      sgd.zero_grad();
      torch::nn::functional::cross_entropy(model.forward(x.narrow(0, s, len)), y.narrow(0, s, len))
          .backward();
      sgd.step();
    }
  }
  const std::vector<float> after = FlatState(model);
  std::vector<float> delta(after.size());
  for (size_t i = 0; i < after.size(); ++i) delta[i] = after[i] - before[i];
  return delta;
}

// Three images in batches of 2 (one full, one short) for two epochs: four
// SGD steps. The unroll must reproduce them to float rounding, and a model
// of the wrong number of steps must not.
TEST_F(InversionStepsTest, UnrolledUpdateEqualsRealSgdSteps) {
  for (const char* act : {"sigmoid", "relu"}) {
    const std::map<std::string, ParamValue> params{{"activation", std::string(act)}};
    ModelContext ctx{.input_shape = {1, 28, 28}, .num_classes = 10};
    StatusOr<ModelPtr> model = CreateModel("lenet_dlg", params, ctx, Seed(12));
    ASSERT_TRUE(model.ok()) << model.status();
    const std::vector<int64_t> idx{3, 17, 29};
    // lr small enough that no step saturates the loss, so every step counts.
    const LocalRecipe recipe{.epochs = 2, .batch_size = 2, .lr = 1e-3};
    InversionTarget t;
    t.model = "lenet_dlg";
    t.model_params = params;
    t.sample_shape = {1, 28, 28};
    t.num_classes = 10;
    t.global_state = FlatState(**model);
    t.num_samples = 3;
    t.recipe = recipe;
    const std::vector<float> real = RealSgdUpdate(**model, Images(idx), Labels(idx), recipe);

    StatusOr<std::vector<float>> unrolled = UnrolledUpdate(t, Images(idx), Labels(idx));
    ASSERT_TRUE(unrolled.ok()) << unrolled.status();
    ASSERT_EQ(unrolled->size(), real.size());
    EXPECT_LT(RelativeDistance(*unrolled, real), 1e-4) << act;
    std::printf("%s: unrolled vs real SGD relative distance %.2e\n", act,
                RelativeDistance(*unrolled, real));

    InversionTarget one_epoch = t;
    one_epoch.recipe.epochs = 1;
    StatusOr<std::vector<float>> wrong = UnrolledUpdate(one_epoch, Images(idx), Labels(idx));
    ASSERT_TRUE(wrong.ok()) << wrong.status();
    EXPECT_GT(RelativeDistance(*wrong, real), 0.1) << act;
  }
}

TEST_F(InversionStepsTest, UnrolledUpdateRejectsBadInputs) {
  InversionTarget t;
  t.model = "lenet_dlg";
  t.sample_shape = {1, 28, 28};
  t.num_classes = 10;
  ModelContext ctx{.input_shape = {1, 28, 28}, .num_classes = 10};
  StatusOr<ModelPtr> model = CreateModel("lenet_dlg", {}, ctx, Seed(1));
  ASSERT_TRUE(model.ok());
  t.global_state = FlatState(**model);
  t.num_samples = 1;
  EXPECT_EQ(UnrolledUpdate(t, Images({0}), {10}).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(UnrolledUpdate(t, Images({0, 1}), {0}).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(UnrolledUpdate(t, Images({0}), {0, 1}).status().code(), StatusCode::kInvalidArgument);

  // Known labels of the wrong count are an error, not silently ignored.
  t.update.assign(t.global_state.size(), 1e-3f);
  t.labels = {1, 2};
  InversionOptions o;
  o.method = InversionMethod::kInvertingGradients;
  o.iterations = 1;
  EXPECT_EQ(ReconstructFromUpdate(o, t, Seed(1)).status().code(), StatusCode::kInvalidArgument);
}

// The trace sees each requested iteration once per restart, with the whole
// batch; the winning restart is one of those run.
TEST_F(InversionStepsTest, TraceReportsRequestedIterations) {
  InversionCase c;
  c.indices = {0, 1};
  c.recipe = {.epochs = 1, .batch_size = 2, .lr = 0.1};
  c.seed = 3;
  c.options.method = InversionMethod::kInvertingGradients;
  c.options.iterations = 6;
  c.options.lr = 0.1;
  c.options.restarts = 2;
  c.known_labels = true;
  c.trace_iterations = {2, 6, 50};
  StatusOr<InversionCaseResult> r = RunInversionCase(*train_, c);
  ASSERT_TRUE(r.ok()) << r.status();
  ASSERT_EQ(r->psnr_trace.size(), 2u);
  EXPECT_EQ(r->psnr_trace[0].first, 2);
  EXPECT_EQ(r->psnr_trace[1].first, 6);
  double final_mean = (r->psnr[0] + r->psnr[1]) / 2;
  EXPECT_NEAR(r->psnr_trace[1].second, final_mean, 1e-6);
  EXPECT_EQ(r->psnr.size(), 2u);
}

// Metric direction on a multi-step update: one image trained for three local
// SGD steps; the same attack fed Gaussian noise of the update's norm
// reconstructs nothing.
TEST_F(InversionStepsTest, RealMultiStepUpdateBeatsRandomUpdate) {
  InversionCase c;
  c.model_params = {{"activation", std::string("sigmoid")}};
  c.indices = {5};
  c.recipe = {.epochs = 3, .batch_size = 1, .lr = 1e-2};
  c.seed = 8;
  c.options.method = InversionMethod::kInvertingGradients;
  c.options.iterations = 200;
  c.options.lr = 0.1;
  c.options.tv_weight = 1e-4;
  StatusOr<InversionCaseResult> real = RunInversionCase(*train_, c);
  ASSERT_TRUE(real.ok()) << real.status();
  c.random_gradient = true;
  StatusOr<InversionCaseResult> random = RunInversionCase(*train_, c);
  ASSERT_TRUE(random.ok()) << random.status();
  EXPECT_EQ(real->local_steps, 3);
  EXPECT_EQ(real->label_accuracy, 1.0);  // iDLG's rule on the three-step update.
  EXPECT_GT(real->psnr[0], random->psnr[0] + 5.0)
      << "real " << real->psnr[0] << " dB, random " << random->psnr[0] << " dB";
  EXPECT_GT(real->ssim[0], random->ssim[0]);
  std::printf("3 local steps: real update %.1f dB (SSIM %.3f), random update %.1f dB (SSIM %.3f)\n",
              real->psnr[0], real->ssim[0], random->psnr[0], random->ssim[0]);
}

}  // namespace
}  // namespace confml::attacks
