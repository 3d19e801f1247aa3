// confml/attacks/inversion.h: gradient inversion attacks (a malicious runtime
// or a host on the path reconstructs a device's training images from its
// model update) and the image metrics that score them.
//
// Three attacks, registered in AttackRegistry() by RegisterInversionAttacks():
//   dlg                  Zhu et al., NeurIPS 2019: dummy image and soft label,
//                        L2 distance of gradients, L-BFGS.
//   idlg                 Zhao et al., 2020: the label from the sign of the last
//                        layer's gradient, then DLG on the image only.
//   inverting_gradients  Geiping et al., NeurIPS 2020: 1 - cosine similarity +
//                        total variation, signed Adam with step decay,
//                        restarts, box constraint; also from multi-step
//                        FedAvg updates (the local steps are unrolled).
//
//   CONFML_RETURN_IF_ERROR(RegisterInversionAttacks());
//   StatusOr<AttackPtr> a = CreateAttack("idlg", {{"iterations", int64_t{300}}}, env);
//   engine->AddHooks(*a);
//   engine->Run();
//   StatusOr<AttackReport> r = (*a)->Report();   // r->metrics["psnr"], arrays "reconstruction"
//
// The lower-level ReconstructFromUpdate() runs one reconstruction without an
// engine (benchmarks, notebooks). docs/attacks/inversion.md gives the papers'
// settings beside ours.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "confml/core/attack.h"
#include "confml/core/params.h"
#include "confml/core/seed.h"
#include "confml/core/status.h"

namespace confml::attacks {

// ------------------------------------------------------------------ metrics
// Images are flat float vectors of equal size, already on a [0, data_range]
// scale (undo any normalisation first).

// Mean squared error. Precondition: equal, non-zero sizes.
double ImageMse(const std::vector<float>& a, const std::vector<float>& b);
// Peak signal-to-noise ratio 10 log10(range^2 / MSE) in dB; +infinity for
// identical images.
double ImagePsnr(const std::vector<float>& a, const std::vector<float>& b, double data_range = 1.0);
// Structural similarity (Wang et al. 2004): 11x11 Gaussian window (sigma
// 1.5) applied without padding ("valid", as in the authors' ssim_index.m),
// K1 = 0.01, K2 = 0.03, averaged over positions and channels. `shape` is
// {C, H, W}. InvalidArgument for a shape that does not match the sizes or an
// image smaller than the window.
StatusOr<double> ImageSsim(const std::vector<float>& a, const std::vector<float>& b,
                           const std::vector<int64_t>& shape, double data_range = 1.0);

// ----------------------------------------------------------- reconstruction

enum class InversionMethod { kDlg, kIdlg, kInvertingGradients };

struct InversionOptions {
  InversionMethod method = InversionMethod::kDlg;
  // DLG/iDLG: L-BFGS steps (each up to `lbfgs_max_iter` inner iterations, as
  // torch.optim.LBFGS.step in the DLG code). Inverting Gradients: Adam steps.
  int64_t iterations = 300;
  int64_t lbfgs_max_iter = 20;
  int64_t restarts = 1;  // Independent random starts; the lowest final loss wins.
  double lr = 1.0;       // L-BFGS 1 (DLG); Adam 0.1 (Geiping et al.).
  double tv_weight = 1e-4;  // Inverting Gradients only.
  // Inverting Gradients only: Adam on sign(gradient) and the step decay by
  // 0.1 at 3/8, 5/8, 7/8 of the iterations.
  bool signed_gradients = true;
  bool lr_decay = true;
};

// What the attacker knows about the local training that produced an update:
// the public protocol (FedAvg with plain SGD, batches of
// min(local_batch_size, n) in order, the last one possibly short).
struct LocalRecipe {
  int64_t epochs = 1;
  int64_t batch_size = 32;
  double lr = 0.05;
};

struct InversionTarget {
  std::string model;  // ModelRegistry name and parameters (public code).
  std::map<std::string, ParamValue> model_params;
  std::vector<int64_t> sample_shape;  // e.g. {1, 28, 28}.
  int64_t num_classes = 0;
  std::vector<float> global_state;  // The global model the device started from.
  std::vector<float> update;        // The device's delta (FlatState layout).
  int64_t num_samples = 1;          // Samples behind the update (sent with it).
  LocalRecipe recipe;
  // Per-channel box of the data (C entries each): reconstructions are clamped
  // to it, which is the "boxed" constraint of Geiping et al.
  std::vector<float> data_min, data_max;
};

struct Reconstruction {
  std::vector<float> images;   // num_samples * sample numel, model input scale.
  std::vector<int64_t> labels;  // Recovered (iDLG, Inverting Gradients) or argmax of the soft label.
  double loss = 0.0;            // Final matching loss of the winning restart.
  int64_t restarts_run = 0;
  int64_t local_steps = 0;  // 1: a single gradient; > 1: an unrolled FedAvg update.
};

// Runs one reconstruction. InvalidArgument for an inconsistent target (sizes,
// unknown model); Unimplemented for a multi-step update through a model with
// layers other than Linear and Conv2d (their weights cannot be substituted
// in the unrolled steps).
StatusOr<Reconstruction> ReconstructFromUpdate(const InversionOptions& options,
                                               const InversionTarget& target, Seed seed);

// The labels iDLG reads from an update: from the last layer's bias (or the
// row sums of its weight) of the gradient -update/lr, the classes with a
// negative entry, most negative first, repeated to fill `num_samples`.
// Exposed for tests.
StatusOr<std::vector<int64_t>> InferLabels(const InversionTarget& target);

// Registers "dlg", "idlg" and "inverting_gradients" (kind "attack"), and
// through RegisterInversionModels() the papers' model. Idempotent.
Status RegisterInversionAttacks();

// Registers the model "lenet_dlg" (kind "model"): the LeNet of Zhu et al.
// 2019 (three 5x5 convolutions with 12 channels, sigmoid, weights and biases
// uniform in [-0.5, 0.5]) that the inversion papers attack. Idempotent.
Status RegisterInversionModels();

}  // namespace confml::attacks
