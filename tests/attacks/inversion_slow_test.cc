// Slow tests of confml/attacks/inversion.h: Inverting Gradients (Geiping et
// al. 2020) from a multi-step FedAvg update and from a single gradient, at a
// small size (a few Fashion-MNIST images, DLG's sigmoid LeNet, fewer
// iterations than the published 4,800).
#include <gtest/gtest.h>

#include <cstdio>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "confml/attacks/attacks.h"
#include "confml/attacks/inversion.h"
#include "confml/core/attack.h"
#include "confml/core/federated.h"
#include "fashion_suite.h"

namespace confml::attacks {
namespace {

struct IgRun {
  int64_t samples_per_client = 1;
  int64_t restarts = 1;
  int64_t local_batch_size = 8;
  int64_t local_epochs = 1;
  double lr = 0.1;
  int64_t iterations = 600;
  std::string activation = "sigmoid";
};

class InvertingGradientsSlowTest : public SmallFashionMnistSuite {
 protected:
  // One round, one client holding `samples_per_client` images, attacked by
  // inverting_gradients at the runtime.
  static StatusOr<AttackReport> Attack(const IgRun& run) {
    Partition partition;
    partition.push_back({});
    for (int64_t i = 0; i < run.samples_per_client; ++i) partition[0].push_back(i);
    AttackEnv env;
    env.model = "lenet_dlg";
    env.model_params = {{"activation", run.activation}};
    env.train = train_;
    env.test = test_;
    env.partition = &partition;
    env.local_epochs = run.local_epochs;
    env.local_batch_size = run.local_batch_size;
    env.learning_rate = run.lr;
    env.seed = Seed(21).Child("attack");
    CONFML_ASSIGN_OR_RETURN(
        AttackPtr attack,
        CreateAttack("inverting_gradients",
                     {{"iterations", run.iterations}, {"restarts", run.restarts}}, env));
    FederatedOptions opt;
    opt.rounds = 1;
    opt.clients_per_round = 1;
    opt.local_epochs = run.local_epochs;
    opt.local_batch_size = run.local_batch_size;
    opt.optimizer.name = "sgd";
    opt.optimizer.lr = run.lr;
    opt.eval_every = 0;
    FederatedSetup setup;
    setup.model = "lenet_dlg";
    setup.model_params = {{"activation", run.activation}};
    setup.train = train_;
    setup.test = test_;
    setup.partition = partition;
    setup.seed = Seed(3);
    CONFML_ASSIGN_OR_RETURN(std::unique_ptr<FederatedEngine> engine,
                            FederatedEngine::Create(opt, setup));
    engine->AddHooks(attack);
    CONFML_RETURN_IF_ERROR(engine->Run().status());
    return attack->Report();
  }
};

void Print(const char* what, const AttackReport& r) {
  std::printf("%s: psnr %.2f (min %.2f) ssim %.3f labels %.2f blind %.2f steps %.0f loss %.3g\n",
              what, r.metrics.at("psnr"), r.metrics.at("psnr_min"), r.metrics.at("ssim"),
              r.metrics.at("label_accuracy"), r.blind_guess, r.metrics.at("local_steps"),
              r.metrics.at("matching_loss"));
}

// Measured on this machine (docs/attacks/inversion.md): 41.7 dB at 600 and
// at 4,800 iterations; the threshold is the 35 dB.
TEST_F(InvertingGradientsSlowTest, SingleGradient) {
  StatusOr<AttackReport> r = Attack({.samples_per_client = 1, .iterations = 600});
  ASSERT_TRUE(r.ok()) << r.status();
  Print("ig single gradient", *r);
  EXPECT_EQ(r->metrics.at("local_steps"), 1.0);
  EXPECT_EQ(r->metrics.at("label_accuracy"), 1.0);
  EXPECT_GT(r->metrics.at("psnr"), 35.0);
}

// Three local epochs on one image: three unrolled SGD steps (41.6 dB
// measured with two).
TEST_F(InvertingGradientsSlowTest, OneImageThreeLocalSteps) {
  StatusOr<AttackReport> r = Attack(
      {.samples_per_client = 1, .local_batch_size = 1, .local_epochs = 3, .iterations = 600});
  ASSERT_TRUE(r.ok()) << r.status();
  Print("ig one image, 3 local steps", *r);
  EXPECT_EQ(r->metrics.at("local_steps"), 3.0);
  EXPECT_GT(r->metrics.at("psnr"), 30.0);
}

// The acceptance sweep tool (bench/inversion_sweep.cc) at its tiny size:
// directions only. A reconstruction from the device's real update beats one
// from Gaussian noise of the same norm, for iDLG and Inverting Gradients, and
// iDLG reads every label right.
TEST_F(InvertingGradientsSlowTest, SweepDirections) {
  SweepOptions options;
  options.size = SweepSize::kTiny;
  options.tables = {"idlg", "control"};
  StatusOr<std::vector<SweepRow>> rows = RunInversionSweep(*train_, options);
  ASSERT_TRUE(rows.ok()) << rows.status();
  std::printf("%s", FormatSweep(*rows).c_str());
  std::map<std::string, double> psnr;
  int idlg_rows = 0;
  for (const SweepRow& r : *rows) {
    ASSERT_FALSE(r.result.psnr.empty());
    psnr[r.table + "/" + r.setting] = r.result.psnr[0];
    if (r.table == "idlg") {
      ++idlg_rows;
      EXPECT_EQ(r.result.label_accuracy, 1.0) << r.setting;
      EXPECT_GT(r.result.evaluations, 0);
    }
  }
  EXPECT_EQ(idlg_rows, 2);
  for (const char* attack : {"idlg", "inverting_gradients"}) {
    const std::string real = std::string("control/") + attack + ", real update";
    const std::string random = std::string("control/") + attack + ", random update";
    ASSERT_TRUE(psnr.count(real) && psnr.count(random));
    EXPECT_GT(psnr[real], psnr[random] + 5.0) << attack;
  }
}

// Issue 8's ReLU line on the sweep's first ig_relu case (image 0 of the
// training set, LeNet seed 3000 with the sweep's default init, one local
// step, label from the iDLG rule, normalised coordinates, 4,800 signed-Adam
// iterations). Measured (docs/attacks/inversion.md): 21.8 dB with LibTorch's
// init and TV 0.01; 13.9 dB with DLG's uniform init and TV 0.1, the setting
// before; the threshold is the issue's.
TEST_F(InvertingGradientsSlowTest, ReluLeNetFirstSweepCase) {
  StatusOr<Dataset> full = LoadFashionMnist("/usr/share/datasets/fashion-mnist", Split::kTrain);
  ASSERT_TRUE(full.ok()) << full.status();
  SweepOptions sweep;
  InversionOptions ig;
  ig.method = InversionMethod::kInvertingGradients;
  ig.iterations = 4800;
  ig.lr = 0.1;
  ig.tv_weight = sweep.relu_tv_weight;
  ig.normalized_coordinates = true;
  InversionCase c{.model_params = IgReluModelParams(sweep),
                  .indices = {0},
                  .recipe = {.epochs = 1, .batch_size = 64, .lr = 0.1},
                  .seed = 3000,
                  .options = ig};
  StatusOr<InversionCaseResult> r = RunInversionCase(*full, c);
  ASSERT_TRUE(r.ok()) << r.status();
  ASSERT_EQ(r->psnr.size(), 1u);
  std::printf("ig relu lenet, image 0: psnr %.2f ssim %.3f\n", r->psnr[0], r->ssim[0]);
  EXPECT_GE(r->psnr[0], 15.0);
}

// Issue 8's acceptance for DLG and iDLG at one seed, on kImages Fashion-MNIST
// images, one per client, DLG's LeNet, up to 300 L-BFGS steps. iDLG: every
// label right and >= 60 dB on 90 %; DLG: >= 40 dB on 70 %, labels >= 80 %.
// With kImages = 10 (about 6 minutes on the loaded 2-core machine) we measured
// iDLG 72.5-80.5 dB on 10 of 10; DLG 68.8-80.9 dB on 9 of 10, one at 3.8 dB,
// labels 9 of 10. CI runs 6 images.
constexpr int64_t kImages = 6;

class DlgSlowTest : public InvertingGradientsSlowTest {
 protected:
  static std::vector<double> PerImagePsnr(const AttackReport& r) {
    std::vector<double> out;
    const size_t numel = 28 * 28;
    const std::vector<float>& rec = r.arrays.at(0).values;
    const std::vector<float>& orig = r.arrays.at(1).values;
    for (size_t i = 0; i * numel < rec.size(); ++i) {
      out.push_back(ImagePsnr({rec.begin() + i * numel, rec.begin() + (i + 1) * numel},
                              {orig.begin() + i * numel, orig.begin() + (i + 1) * numel}));
    }
    return out;
  }

  static StatusOr<AttackReport> OnePerClient(const std::string& attack_name) {
    Partition partition;
    for (int64_t i = 0; i < kImages; ++i) partition.push_back({i});
    AttackEnv env;
    env.model = "lenet_dlg";
    env.train = train_;
    env.test = test_;
    env.partition = &partition;
    env.local_batch_size = 1;
    env.learning_rate = 0.1;
    env.seed = Seed(31).Child("attack");
    CONFML_ASSIGN_OR_RETURN(
        AttackPtr attack, CreateAttack(attack_name, {{"max_victims", kImages}}, env));
    FederatedOptions opt;
    opt.rounds = 1;
    opt.clients_per_round = kImages;
    opt.local_batch_size = 1;
    opt.optimizer.lr = 0.1;
    opt.eval_every = 0;
    FederatedSetup setup;
    setup.model = "lenet_dlg";
    setup.train = train_;
    setup.test = test_;
    setup.partition = partition;
    setup.seed = Seed(4);
    CONFML_ASSIGN_OR_RETURN(std::unique_ptr<FederatedEngine> engine,
                            FederatedEngine::Create(opt, setup));
    engine->AddHooks(attack);
    CONFML_RETURN_IF_ERROR(engine->Run().status());
    return attack->Report();
  }
};

TEST_F(DlgSlowTest, IdlgOnePerClient) {
  StatusOr<AttackReport> r = OnePerClient("idlg");
  ASSERT_TRUE(r.ok()) << r.status();
  int above = 0;
  for (double p : PerImagePsnr(*r)) {
    std::printf("idlg image psnr %.2f\n", p);
    above += p >= 60.0 ? 1 : 0;
  }
  Print("idlg, one image per client", *r);
  EXPECT_EQ(r->metrics.at("label_accuracy"), 1.0);
  EXPECT_GE(above, kImages * 9 / 10);
}

TEST_F(DlgSlowTest, DlgOnePerClient) {
  StatusOr<AttackReport> r = OnePerClient("dlg");
  ASSERT_TRUE(r.ok()) << r.status();
  int above = 0;
  for (double p : PerImagePsnr(*r)) {
    std::printf("dlg image psnr %.2f\n", p);
    above += p >= 40.0 ? 1 : 0;
  }
  Print("dlg, one image per client", *r);
  EXPECT_GE(r->metrics.at("label_accuracy"), 0.8);
  EXPECT_GE(above, kImages * 7 / 10);
}

}  // namespace
}  // namespace confml::attacks
