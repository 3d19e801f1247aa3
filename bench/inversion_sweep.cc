// Prints issue 8's inversion acceptance tables (iDLG, DLG with joint label,
// DLG batch 4, Inverting Gradients on the sigmoid and the untrained ReLU LeNet
// at batch 1/4/8 and from 1-5 local steps, with PSNR against iterations, and
// the random-update control) on Fashion-MNIST.
//
// Usage: confml_inversion_sweep [--size tiny|docs] [--tables idlg,ig_batch,...]
//                               [--tv_weight W] [--relu_tv_weight W]
//                               [--relu_init_range R]
//                               [--restarts R] [--threads T]
//                               [--ig_iterations N] [--ig_cases K] [--steps_lr LR]
//                               [--sigmoid_normalized 0|1]
//                               [--fashion_dir DIR] [--export_weights DIR]
// docs/attacks/inversion.md quotes its output at --size docs. --export_weights
// writes the initial ReLU LeNets of the ig_relu cases (image i, seed 3000 + i)
// as raw float32 flat states, for bench/inversion_checks/ig_relu.py, and exits.
#include <torch/torch.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "confml/attacks/inversion.h"
#include "confml/core/dataset.h"

namespace {

int Usage(const char* why) {
  std::fprintf(stderr,
               "confml_inversion_sweep: %s\nusage: confml_inversion_sweep [--size tiny|docs] "
               "[--tables a,b] [--tv_weight W] [--relu_tv_weight W] [--relu_init_range R] "
               "[--restarts R] [--threads T] "
               "[--ig_iterations N] [--ig_cases K] [--steps_lr LR] [--sigmoid_normalized 0|1] "
               "[--fashion_dir DIR] [--export_weights DIR]\n",
               why);
  return 2;
}

// The same initial models as the sweep's ig_relu table (one local step of
// image i from a LeNet seeded by 3000 + i), so that an independent
// implementation can attack the very same gradient.
int ExportReluWeights(const confml::Dataset& train, const confml::attacks::SweepOptions& options,
                      const std::string& dir) {
  using namespace confml;
  const int64_t images = options.size == attacks::SweepSize::kDocs ? 5 : 1;
  for (int64_t i = 0; i < images; ++i) {
    const uint64_t seed = static_cast<uint64_t>(3000 + i);
    StatusOr<attacks::InversionTarget> t = attacks::SimulateDeviceUpdate(
        "lenet_dlg", attacks::IgReluModelParams(options), train, {i},
        {.epochs = 1, .batch_size = 64, .lr = 0.1}, Seed(seed).Child("model"));
    if (!t.ok()) {
      std::fprintf(stderr, "%s\n", t.status().ToString().c_str());
      return 1;
    }
    const std::string path = dir + "/lenet_dlg_relu_seed" + std::to_string(seed) + ".f32";
    std::ofstream out(path, std::ios::binary);
    out.write(reinterpret_cast<const char*>(t->global_state.data()),
              static_cast<std::streamsize>(t->global_state.size() * sizeof(float)));
    if (!out) {
      std::fprintf(stderr, "cannot write %s\n", path.c_str());
      return 1;
    }
    std::printf("image %lld: %s\n", static_cast<long long>(i), path.c_str());
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  using namespace confml;
  attacks::SweepOptions options;
  std::string dir = "/usr/share/datasets/fashion-mnist";
  std::string export_dir;
  int threads = 1;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (i + 1 >= argc) return Usage(("missing value after " + a).c_str());
    const std::string v = argv[++i];
    if (a == "--size") {
      if (v != "tiny" && v != "docs") return Usage("--size is tiny or docs");
      options.size = v == "docs" ? attacks::SweepSize::kDocs : attacks::SweepSize::kTiny;
    } else if (a == "--tables") {
      std::stringstream ss(v);
      for (std::string t; std::getline(ss, t, ',');) options.tables.push_back(t);
    } else if (a == "--tv_weight") {
      options.tv_weight = std::atof(v.c_str());
    } else if (a == "--relu_tv_weight") {
      options.relu_tv_weight = std::atof(v.c_str());
    } else if (a == "--relu_init_range") {
      options.relu_init_range = std::atof(v.c_str());
    } else if (a == "--sigmoid_normalized") {
      if (v != "0" && v != "1") return Usage("--sigmoid_normalized is 0 or 1");
      options.sigmoid_normalized = v == "1";
    } else if (a == "--steps_lr") {
      options.steps_lr = std::atof(v.c_str());
    } else if (a == "--ig_cases") {
      options.ig_cases = std::atoi(v.c_str());
    } else if (a == "--ig_iterations") {
      options.ig_iterations = std::atoi(v.c_str());
    } else if (a == "--restarts") {
      options.restarts = std::atoi(v.c_str());
    } else if (a == "--threads") {
      threads = std::atoi(v.c_str());
    } else if (a == "--fashion_dir") {
      dir = v;
    } else if (a == "--export_weights") {
      export_dir = v;
    } else {
      return Usage(("unknown flag " + a).c_str());
    }
  }
  if (threads < 1 || options.restarts < 1 || !(options.tv_weight >= 0) ||
      !(options.relu_tv_weight >= 0) || !(options.relu_init_range >= 0) ||
      options.ig_iterations < 0 || options.ig_cases < 0 || !(options.steps_lr > 0)) {
    return Usage(
        "--threads and --restarts need >= 1, TV weights, --ig_iterations and "
        "--ig_cases >= 0, --relu_init_range >= 0, --steps_lr > 0");
  }
  at::set_num_threads(threads);
  Status reg = attacks::RegisterInversionAttacks();
  if (!reg.ok()) {
    std::fprintf(stderr, "%s\n", reg.ToString().c_str());
    return 1;
  }
  StatusOr<Dataset> train = LoadFashionMnist(dir, Split::kTrain);
  if (!train.ok()) {
    std::fprintf(stderr, "%s\n", train.status().ToString().c_str());
    return 1;
  }
  if (!export_dir.empty()) return ExportReluWeights(*train, options, export_dir);
  std::printf(
      "inversion sweep: size %s, tv_weight %g (relu %g, relu init_range %g), restarts %lld, "
      "ig_iterations %lld, steps_lr %g, %d thread(s)\n",
      options.size == attacks::SweepSize::kDocs ? "docs" : "tiny", options.tv_weight,
      options.relu_tv_weight, options.relu_init_range, static_cast<long long>(options.restarts),
      static_cast<long long>(options.ig_iterations), options.steps_lr, threads);
  StatusOr<std::vector<attacks::SweepRow>> rows =
      attacks::RunInversionSweep(*train, options, [](const attacks::SweepRow& r) {
        std::string per;
        // Two appends, not `" " + std::string&&`, which GCC 12 at -O3 reports
        // as a bogus -Wstringop-overflow (GCC PR 105545).
        for (double p : r.result.psnr) {
          per += ' ';
          per += std::to_string(p).substr(0, 5);
        }
        std::fprintf(stderr, "[%s] %s: psnr%s labels %.2f (%.1f s)\n", r.table.c_str(),
                     r.setting.c_str(), per.c_str(), r.result.label_accuracy, r.result.seconds);
      });
  if (!rows.ok()) {
    std::fprintf(stderr, "%s\n", rows.status().ToString().c_str());
    return 1;
  }
  std::printf("%s", attacks::FormatSweep(*rows).c_str());
  return 0;
}
