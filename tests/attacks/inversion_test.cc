// Tests of confml/attacks/inversion.h: the image metrics against an
// independent numpy computation, and DLG / iDLG end to end on a real
// federated round (Fashion-MNIST through DLG's sigmoid LeNet, lenet_dlg), plus the cases
// where the attacker gets nothing (blind guess).
#include "confml/attacks/inversion.h"

#include <gtest/gtest.h>

#include <cmath>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "confml/attacks/attacks.h"
#include "confml/core/attack.h"
#include "confml/core/federated.h"
#include "fashion_suite.h"

namespace confml::attacks {
namespace {

// ------------------------------------------------------------------ metrics
//
// Reference values from /usr/bin/python3 + numpy 1.24 (images as float32,
// metrics in float64), written independently of the C++ code:
//
//   import numpy as np
//   def img_a(c,h,w): return np.array([[[((i*7+j*3+k*5)%29)/28.0 for j in range(w)]
//                                       for i in range(h)] for k in range(c)])
//   def img_b(c,h,w): return np.array([[[((i*5+j*11+k*2)%31)/30.0 for j in range(w)]
//                                       for i in range(h)] for k in range(c)])
//   def ssim(a,b,L=1.0):
//       r=5; y,x=np.mgrid[-r:r+1,-r:r+1]; g=np.exp(-(x*x+y*y)/(2*1.5**2)); g/=g.sum()
//       C1=(0.01*L)**2; C2=(0.03*L)**2; out=[]
//       for ch in range(a.shape[0]):
//           A=a[ch]; B=b[ch]; H,W=A.shape; vals=[]
//           for i in range(H-10):
//               for j in range(W-10):
//                   pa=A[i:i+11,j:j+11]; pb=B[i:i+11,j:j+11]
//                   ma=(g*pa).sum(); mb=(g*pb).sum()
//                   va=(g*pa*pa).sum()-ma*ma; vb=(g*pb*pb).sum()-mb*mb
//                   cv=(g*pa*pb).sum()-ma*mb
//                   vals.append(((2*ma*mb+C1)*(2*cv+C2))/((ma*ma+mb*mb+C1)*(va+vb+C2)))
//           out.append(np.mean(vals))
//       return np.mean(out)
//   for (c,h,w) in [(1,16,16),(3,12,14)]:
//       a=img_a(c,h,w).astype(np.float32).astype(np.float64)
//       b=img_b(c,h,w).astype(np.float32).astype(np.float64)
//       mse=((a-b)**2).mean()
//       print(mse, 10*np.log10(1/mse), ssim(a,b), ssim(a,0.5*a+0.5*b))
//
// prints
//   1x16x16: 0.156168418698 8.0640678718 0.183582174689 0.743561099043
//   3x12x14: 0.177133891027 7.51698337298 0.0844879016159 0.702405726419

std::vector<float> ImageA(int c, int h, int w) {
  std::vector<float> v;
  for (int k = 0; k < c; ++k)
    for (int i = 0; i < h; ++i)
      for (int j = 0; j < w; ++j) v.push_back(static_cast<float>(((i * 7 + j * 3 + k * 5) % 29) / 28.0));
  return v;
}

std::vector<float> ImageB(int c, int h, int w) {
  std::vector<float> v;
  for (int k = 0; k < c; ++k)
    for (int i = 0; i < h; ++i)
      for (int j = 0; j < w; ++j)
        v.push_back(static_cast<float>(((i * 5 + j * 11 + k * 2) % 31) / 30.0));
  return v;
}

std::vector<float> Blend(const std::vector<float>& a, const std::vector<float>& b) {
  std::vector<float> out(a.size());
  for (size_t i = 0; i < a.size(); ++i) out[i] = 0.5f * a[i] + 0.5f * b[i];
  return out;
}

TEST(InversionMetricsTest, MatchesNumpyReferenceSingleChannel) {
  const auto a = ImageA(1, 16, 16), b = ImageB(1, 16, 16);
  EXPECT_NEAR(ImageMse(a, b), 0.156168418698, 1e-9);
  EXPECT_NEAR(ImagePsnr(a, b), 8.0640678718, 1e-7);
  StatusOr<double> s = ImageSsim(a, b, {1, 16, 16});
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_NEAR(*s, 0.183582174689, 1e-6);
  EXPECT_NEAR(*ImageSsim(a, Blend(a, b), {1, 16, 16}), 0.743561099043, 1e-5);
}

TEST(InversionMetricsTest, MatchesNumpyReferenceThreeChannels) {
  const auto a = ImageA(3, 12, 14), b = ImageB(3, 12, 14);
  EXPECT_NEAR(ImageMse(a, b), 0.177133891027, 1e-9);
  EXPECT_NEAR(ImagePsnr(a, b), 7.51698337298, 1e-7);
  EXPECT_NEAR(*ImageSsim(a, b, {3, 12, 14}), 0.0844879016159, 1e-6);
  EXPECT_NEAR(*ImageSsim(a, Blend(a, b), {3, 12, 14}), 0.702405726419, 1e-5);
}

TEST(InversionMetricsTest, IdentityAndScaling) {
  const auto a = ImageA(1, 16, 16);
  EXPECT_EQ(ImageMse(a, a), 0.0);
  EXPECT_TRUE(std::isinf(ImagePsnr(a, a)));
  EXPECT_NEAR(*ImageSsim(a, a, {1, 16, 16}), 1.0, 1e-12);
  // A constant offset of 0.1 everywhere: MSE 0.01, PSNR 20 dB on [0, 1] and
  // 20 + 20 log10(2) dB on [0, 2].
  std::vector<float> b = a;
  for (float& v : b) v += 0.1f;
  EXPECT_NEAR(ImageMse(a, b), 0.01, 1e-7);
  EXPECT_NEAR(ImagePsnr(a, b), 20.0, 1e-4);
  EXPECT_NEAR(ImagePsnr(a, b, 2.0), 20.0 + 20.0 * std::log10(2.0), 1e-4);
}

TEST(InversionMetricsTest, SsimRejectsBadShapes) {
  const auto a = ImageA(1, 16, 16);
  EXPECT_EQ(ImageSsim(a, a, {16, 16}).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(ImageSsim(a, a, {1, 8, 32}).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(ImageSsim(a, a, {2, 16, 16}).status().code(), StatusCode::kInvalidArgument);
}

// ------------------------------------------------------- end to end attacks

// A few Fashion-MNIST training images, one per client, so every update is a
// single-image gradient (local_batch_size >= samples, one epoch, sgd).
class InversionAttackTest : public SmallFashionMnistSuite {
 protected:
  // Clients 0..clients-1 own one image each (train_ indices `first` ...).
  static Partition OneImagePerClient(int64_t clients, int64_t first) {
    Partition p;
    for (int64_t c = 0; c < clients; ++c) p.push_back({first + c});
    return p;
  }

  AttackEnv Env(const Partition& partition, double lr) const {
    AttackEnv env;
    env.model = "lenet_dlg";
    env.train = train_;
    env.test = test_;
    env.partition = &partition;
    env.local_epochs = 1;
    env.local_batch_size = 8;
    env.optimizer = "sgd";
    env.learning_rate = lr;
    env.seed = Seed(11).Child("attack");
    return env;
  }

  // One federated round of every client through FedAvg with `attack` hooked.
  static void RunRound(const Partition& partition, const AttackPtr& attack, double lr,
                       uint64_t seed) {
    FederatedOptions opt;
    opt.rounds = 1;
    opt.clients_per_round = static_cast<int64_t>(partition.size());
    opt.local_epochs = 1;
    opt.local_batch_size = 8;
    opt.optimizer.name = "sgd";
    opt.optimizer.lr = lr;
    opt.eval_every = 0;
    FederatedSetup setup;
    setup.model = "lenet_dlg";
    setup.train = train_;
    setup.test = test_;
    setup.partition = partition;
    setup.seed = Seed(seed);
    StatusOr<std::unique_ptr<FederatedEngine>> engine = FederatedEngine::Create(opt, setup);
    ASSERT_TRUE(engine.ok()) << engine.status();
    (*engine)->AddHooks(attack);
    StatusOr<FederatedResult> r = (*engine)->Run();
    ASSERT_TRUE(r.ok()) << r.status();
  }
};

TEST_F(InversionAttackTest, DlgRecoversOneImageFromARealRound) {
  const Partition partition = OneImagePerClient(2, 0);
  const double lr = 0.1;
  StatusOr<AttackPtr> attack =
      CreateAttack("dlg", {{"iterations", int64_t{60}}}, Env(partition, lr));
  ASSERT_TRUE(attack.ok()) << attack.status();
  EXPECT_EQ((*attack)->role(), AttackRole::kRuntime);
  RunRound(partition, *attack, lr, 1);
  StatusOr<AttackReport> r = (*attack)->Report();
  ASSERT_TRUE(r.ok()) << r.status();
  std::printf("dlg: psnr %.2f ssim %.3f mse %.3g blind %.2f labels %.2f loss %.3g\n",
              r->metrics.at("psnr"), r->metrics.at("ssim"), r->metrics.at("mse"), r->blind_guess,
              r->metrics.at("label_accuracy"), r->metrics.at("matching_loss"));
  EXPECT_TRUE(r->received_input);
  EXPECT_EQ(r->success_metric, "psnr");
  EXPECT_EQ(r->metrics.at("images"), 1.0);
  EXPECT_GT(r->metrics.at("psnr"), 40.0);
  EXPECT_GT(r->metrics.at("psnr"), r->blind_guess + 25.0);
  EXPECT_GT(r->metrics.at("ssim"), 0.99);
  ASSERT_EQ(r->arrays.size(), 4u);
  EXPECT_EQ(r->arrays[0].name, "reconstruction");
  EXPECT_EQ(r->arrays[0].shape, (std::vector<int64_t>{1, 1, 28, 28}));
  EXPECT_EQ(r->arrays[1].name, "original");
  EXPECT_EQ(r->arrays[1].values.size(), 784u);
}

TEST_F(InversionAttackTest, IdlgGetsTheLabelRight) {
  const Partition partition = OneImagePerClient(2, 10);
  const double lr = 0.1;
  StatusOr<AttackPtr> attack = CreateAttack(
      "idlg", {{"iterations", int64_t{15}}, {"max_victims", int64_t{2}}}, Env(partition, lr));
  ASSERT_TRUE(attack.ok()) << attack.status();
  RunRound(partition, *attack, lr, 2);
  StatusOr<AttackReport> r = (*attack)->Report();
  ASSERT_TRUE(r.ok()) << r.status();
  std::printf("idlg: psnr %.2f ssim %.3f blind %.2f labels %.2f\n", r->metrics.at("psnr"),
              r->metrics.at("ssim"), r->blind_guess, r->metrics.at("label_accuracy"));
  EXPECT_EQ(r->metrics.at("images"), 2.0);
  EXPECT_EQ(r->metrics.at("label_accuracy"), 1.0);
  EXPECT_GT(r->metrics.at("psnr"), r->blind_guess + 15.0);
}

TEST_F(InversionAttackTest, NothingCapturedScoresTheBlindGuess) {
  const Partition partition = OneImagePerClient(2, 0);
  const double lr = 0.1;
  // The attack targets a round that never runs: it receives nothing.
  StatusOr<AttackPtr> attack =
      CreateAttack("inverting_gradients", {{"target_round", int64_t{5}}}, Env(partition, lr));
  ASSERT_TRUE(attack.ok()) << attack.status();
  RunRound(partition, *attack, lr, 1);
  StatusOr<AttackReport> r = (*attack)->Report();
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_FALSE(r->received_input);
  EXPECT_DOUBLE_EQ(r->metrics.at("psnr"), r->blind_guess);
  EXPECT_LT(r->blind_guess, 20.0);
  EXPECT_GT(r->blind_guess, 3.0);
  EXPECT_EQ(r->arrays[0].shape, (std::vector<int64_t>{1, 1, 28, 28}));
}

TEST_F(InversionAttackTest, HostSeesPlaintextButNotNullPayloads) {
  const Partition partition = OneImagePerClient(2, 0);
  const double lr = 0.1;
  auto make = [&] {
    StatusOr<AttackPtr> a = CreateAttack(
        "idlg", {{"position", std::string("host")}, {"iterations", int64_t{40}}},
        Env(partition, lr));
    EXPECT_TRUE(a.ok()) << a.status();
    return *a;
  };
  // What an attested channel lets through: sizes, no payloads.
  AttackPtr blind = make();
  EXPECT_EQ(blind->role(), AttackRole::kHost);
  HostEvent down{HostEvent::Kind::kGlobalToClient, 1, 0, 1000, nullptr};
  HostEvent up{HostEvent::Kind::kUpdateToRuntime, 1, 0, 1000, nullptr};
  blind->OnHostEvent(down);
  blind->OnHostEvent(up);
  // Updates the runtime receives are not the host's to see.
  blind->OnUpdatesReceived(1, std::vector<float>(10, 0.0f), {ClientUpdate{0, 1, {}}});
  StatusOr<AttackReport> r = blind->Report();
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_FALSE(r->received_input);
  EXPECT_DOUBLE_EQ(r->metrics.at("psnr"), r->blind_guess);

  // The plain engine reports traffic in the clear: the host inverts it.
  AttackPtr host = make();
  RunRound(partition, host, lr, 1);
  StatusOr<AttackReport> seen = host->Report();
  ASSERT_TRUE(seen.ok()) << seen.status();
  EXPECT_TRUE(seen->received_input);
  EXPECT_GT(seen->metrics.at("psnr"), seen->blind_guess + 10.0);
}

TEST_F(InversionAttackTest, ReconstructionFromARandomUpdateIsNoBetterThanBlind) {
  // Metric direction: the same attack on a random "update" of the same size
  // recovers nothing about the victim.
  const Partition partition = OneImagePerClient(1, 0);
  const double lr = 0.1;
  StatusOr<AttackPtr> attack =
      CreateAttack("idlg", {{"iterations", int64_t{3}}}, Env(partition, lr));
  ASSERT_TRUE(attack.ok());
  ModelContext ctx{.input_shape = {1, 28, 28}, .num_classes = 10};
  StatusOr<ModelPtr> model = CreateModel("lenet_dlg", {}, ctx, Seed(3));
  ASSERT_TRUE(model.ok());
  std::vector<float> global = FlatState(**model);
  std::vector<float> noise(global.size());
  Rng rng(5);
  for (float& v : noise) v = static_cast<float>(1e-3 * rng.Normal());
  (*attack)->OnUpdatesReceived(1, global, {ClientUpdate{0, 1, noise}});
  StatusOr<AttackReport> r = (*attack)->Report();
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_TRUE(r->received_input);
  EXPECT_LT(r->metrics.at("psnr"), r->blind_guess + 3.0);
}

// labels: known hands the attacker the victims' true labels (Geiping et al.'s
// setting); DLG then matches with them instead of a soft label of its own.
TEST_F(InversionAttackTest, KnownLabelsReachTheReconstruction) {
  // Four victims of one image each: no matching of images to labels blurs
  // the label score.
  const Partition partition = OneImagePerClient(4, 20);
  const double lr = 0.1;
  std::map<std::string, double> label_accuracy;
  for (const char* labels : {"joint", "known"}) {
    StatusOr<AttackPtr> attack = CreateAttack(
        "dlg",
        {{"iterations", int64_t{0}}, {"max_victims", int64_t{4}}, {"labels", std::string(labels)}},
        Env(partition, lr));
    ASSERT_TRUE(attack.ok()) << attack.status();
    RunRound(partition, *attack, lr, 3);
    StatusOr<AttackReport> r = (*attack)->Report();
    ASSERT_TRUE(r.ok()) << r.status();
    ASSERT_EQ(r->metrics.at("images"), 4.0);
    label_accuracy[labels] = r->metrics.at("label_accuracy");
    EXPECT_EQ((*attack)->config_text().find("labels=known") != std::string::npos,
              std::string(labels) == "known");
  }
  EXPECT_EQ(label_accuracy["known"], 1.0);
  EXPECT_LT(label_accuracy["joint"], 1.0);  // the soft labels' random start
  AttackEnv env = Env(partition, lr);
  EXPECT_EQ(
      CreateAttack("inverting_gradients", {{"labels", std::string("joint")}}, env).status().code(),
      StatusCode::kInvalidArgument);
  EXPECT_EQ(CreateAttack("dlg", {{"labels", std::string("infer")}}, env).status().code(),
            StatusCode::kInvalidArgument);
}

TEST(InversionRegistryTest, SpecsDeclareTheParameters) {
  ASSERT_TRUE(RegisterInversionAttacks().ok());
  ASSERT_TRUE(RegisterInversionAttacks().ok());  // Idempotent.
  for (const char* name : {"dlg", "idlg", "inverting_gradients"}) {
    const auto* e = AttackRegistry().Find(name);
    ASSERT_NE(e, nullptr) << name;
    for (const char* p : {"position", "target_round", "max_victims", "iterations", "restarts",
                          "lr"}) {
      EXPECT_NE(e->spec.Find(p), nullptr) << name << "." << p;
    }
  }
  EXPECT_NE(AttackRegistry().Find("inverting_gradients")->spec.Find("tv_weight"), nullptr);
  AttackEnv env;
  EXPECT_EQ(CreateAttack("dlg", {{"position", std::string("device")}}, env).status().code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(CreateAttack("dlg", {}, env).status().code(), StatusCode::kInvalidArgument);
}

// The sweep's ReLU LeNet is built with the init its options name:
// LibTorch's kaiming-uniform by default (relu_init_range 0: every weight
// within 1/sqrt(fan_in), 0.2 for conv1, whose fan-in is 25, 1/sqrt(588) for
// fc), DLG's uniform [-0.5, 0.5] with 0.5. The two give different inversion results
// (docs/attacks/inversion.md), so the switch must reach the model.
TEST(InversionSweepTest, ReluInitRangeReachesTheModel) {
  ASSERT_TRUE(RegisterInversionAttacks().ok());
  const ModelContext ctx{.input_shape = {1, 28, 28}, .num_classes = 10};
  auto max_abs = [&](double init_range, const std::string& param) -> double {
    SweepOptions options;
    options.relu_init_range = init_range;
    StatusOr<ModelPtr> m = CreateModel("lenet_dlg", IgReluModelParams(options), ctx, Seed(5));
    EXPECT_TRUE(m.ok()) << m.status();
    if (!m.ok()) return std::nan("");
    for (const auto& p : (*m)->named_parameters()) {
      if (p.key() == param) return p.value().abs().max().item<double>();
    }
    ADD_FAILURE() << "no parameter " << param;
    return std::nan("");
  };
  EXPECT_EQ(SweepOptions{}.relu_init_range, 0.0);
  EXPECT_GT(max_abs(0.5, "conv1.weight"), 0.45);
  EXPECT_LE(max_abs(0.5, "fc.weight"), 0.5);
  EXPECT_GT(max_abs(0.5, "fc.weight"), 0.45);
  EXPECT_LE(max_abs(0.0, "conv1.weight"), 0.2 + 1e-6);
  EXPECT_LE(max_abs(0.0, "fc.weight"), 1.0 / std::sqrt(588.0) + 1e-6);
  EXPECT_GT(max_abs(0.0, "fc.weight"), 0.5 / std::sqrt(588.0));
}

}  // namespace
}  // namespace confml::attacks
