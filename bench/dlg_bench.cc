// DLG speed: runs confml's DLG (ReconstructFromUpdate, L-BFGS with 20 inner
// iterations per step, as Zhu et al.'s code) for a fixed number of L-BFGS
// steps on one Fashion-MNIST image and DLG's sigmoid LeNet, and prints one
// JSON line: objective evaluations, seconds, evaluations/s. bench/dlg_torch.py
// does the same in python3-torch; bench/compare_dlg.sh runs both.
//
// Usage: confml_dlg_bench [--steps S] [--threads T] [--image I] [--repeats R]
//                         [--profile EVALUATIONS] [--fashion_dir DIR]
#include <torch/torch.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "confml/attacks/inversion.h"
#include "confml/core/dataset.h"
#include "confml/core/model.h"

namespace {

// --profile: where a DLG objective evaluation spends its time, phase by phase
// (perf is not available here): the forward pass and soft-label loss, the
// parameter gradient with create_graph, the distance to the target, and the
// backward pass through both (the double backward). The same phases as the
// closure in attacks/src/inversion.cc, written out so each can be timed.
int Profile(const confml::attacks::InversionTarget& target, int64_t evaluations) {
  using namespace confml;
  using Clock = std::chrono::steady_clock;
  ModelContext ctx{.input_shape = target.sample_shape, .num_classes = target.num_classes};
  StatusOr<ModelPtr> net = CreateModel(target.model, target.model_params, ctx, Seed(0));
  if (!net.ok() || !LoadFlatState(**net, target.global_state).ok()) return 1;
  std::vector<torch::Tensor> params = (*net)->parameters();
  torch::Tensor goal = -torch::from_blob(const_cast<float*>(target.update.data()),
                                         {static_cast<int64_t>(target.update.size())})
                           .clone() /
                       target.recipe.lr;
  torch::Tensor x = torch::randn({1, 1, 28, 28}).requires_grad_(true);
  torch::Tensor label = torch::randn({1, 10}).requires_grad_(true);
  double t[4] = {0, 0, 0, 0};
  for (int64_t i = 0; i < evaluations; ++i) {
    auto t0 = Clock::now();
    torch::Tensor loss =
        -(torch::softmax(label, 1) * torch::log_softmax((*net)->forward(x), 1)).sum(1).mean();
    auto t1 = Clock::now();
    std::vector<torch::Tensor> g = torch::autograd::grad({loss}, params, {}, true, true);
    auto t2 = Clock::now();
    std::vector<torch::Tensor> flat;
    for (auto& gi : g) flat.push_back(gi.reshape({-1}));
    torch::Tensor d = (torch::cat(flat) - goal).pow(2).sum();
    auto t3 = Clock::now();
    torch::autograd::backward({d}, {}, false, false, {x, label});
    x.mutable_grad().zero_();
    label.mutable_grad().zero_();
    auto t4 = Clock::now();
    t[0] += std::chrono::duration<double>(t1 - t0).count();
    t[1] += std::chrono::duration<double>(t2 - t1).count();
    t[2] += std::chrono::duration<double>(t3 - t2).count();
    t[3] += std::chrono::duration<double>(t4 - t3).count();
  }
  const double total = t[0] + t[1] + t[2] + t[3];
  std::printf(
      "{\"impl\": \"confml\", \"ms_per_evaluation\": %.3f, \"forward\": %.3f, "
      "\"grad_create_graph\": %.3f, \"distance\": %.3f, \"double_backward\": %.3f}\n",
      1e3 * total / evaluations, t[0] / total, t[1] / total, t[2] / total, t[3] / total);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  using namespace confml;
  int64_t steps = 10, image = 0, repeats = 1, profile = 0;
  int threads = 1;
  std::string dir = "/usr/share/datasets/fashion-mnist";
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string a = argv[i], v = argv[i + 1];
    if (a == "--steps") {
      steps = std::atoll(v.c_str());
    } else if (a == "--threads") {
      threads = std::atoi(v.c_str());
    } else if (a == "--image") {
      image = std::atoll(v.c_str());
    } else if (a == "--repeats") {
      repeats = std::atoll(v.c_str());
    } else if (a == "--profile") {
      profile = std::atoll(v.c_str());
    } else if (a == "--fashion_dir") {
      dir = v;
    } else {
      std::fprintf(stderr, "confml_dlg_bench: unknown flag %s\n", a.c_str());
      return 2;
    }
  }
  if (argc % 2 == 0 || steps < 1 || threads < 1 || repeats < 1 || image < 0) {
    std::fprintf(stderr,
                 "usage: confml_dlg_bench [--steps S>=1] [--threads T>=1] [--image I] "
                 "[--repeats R>=1] [--fashion_dir DIR]\n");
    return 2;
  }
  at::set_num_threads(threads);
  if (Status s = attacks::RegisterInversionAttacks(); !s.ok()) {
    std::fprintf(stderr, "%s\n", s.ToString().c_str());
    return 1;
  }
  StatusOr<Dataset> train = LoadFashionMnist(dir, Split::kTrain);
  if (!train.ok()) {
    std::fprintf(stderr, "%s\n", train.status().ToString().c_str());
    return 1;
  }
  // The device's gradient: one SGD step on one image (target = -delta / lr).
  StatusOr<attacks::InversionTarget> target = attacks::SimulateDeviceUpdate(
      "lenet_dlg", {}, *train, {image}, {.epochs = 1, .batch_size = 1, .lr = 0.1}, Seed(0));
  if (!target.ok()) {
    std::fprintf(stderr, "%s\n", target.status().ToString().c_str());
    return 1;
  }
  if (profile > 0) return Profile(*target, profile);
  attacks::InversionOptions opt;
  opt.method = attacks::InversionMethod::kDlg;
  opt.iterations = 1;
  // Warm-up: first-call allocations and thread-pool start, as the python side.
  if (auto w = attacks::ReconstructFromUpdate(opt, *target, Seed(1)); !w.ok()) {
    std::fprintf(stderr, "%s\n", w.status().ToString().c_str());
    return 1;
  }
  opt.iterations = steps;
  double best = 0.0;
  int64_t evals = 0;
  for (int64_t r = 0; r < repeats; ++r) {
    const auto t0 = std::chrono::steady_clock::now();
    StatusOr<attacks::Reconstruction> rec = attacks::ReconstructFromUpdate(opt, *target, Seed(1));
    const double sec = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    if (!rec.ok()) {
      std::fprintf(stderr, "%s\n", rec.status().ToString().c_str());
      return 1;
    }
    evals = rec->evaluations;
    best = std::max(best, static_cast<double>(evals) / sec);
  }
  std::printf(
      "{\"impl\": \"confml (LibTorch %s)\", \"steps\": %lld, \"evaluations\": %lld, "
      "\"threads\": %d, \"evaluations_per_second\": %.3f}\n",
      TORCH_VERSION, static_cast<long long>(steps), static_cast<long long>(evals), threads, best);
  return 0;
}
