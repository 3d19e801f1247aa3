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
#include <functional>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "confml/core/attack.h"
#include "confml/core/dataset.h"
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
// Pairs reconstructions with originals greedily: repeatedly the pair of
// highest PSNR among those not yet paired (a batch's reconstructions come
// back in no particular order). min(sizes) pairs, (reconstruction, original),
// highest first.
std::vector<std::pair<size_t, size_t>> MatchByPsnr(const std::vector<std::vector<float>>& recs,
                                                   const std::vector<std::vector<float>>& origs);
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
  // Inverting Gradients only, on the normalised image. Geiping et al.'s release
  // has two defaults: 1e-4 (the --tv option of reconstruct_image.py) and 1e-1
  // (DEFAULT_CONFIG); docs/attacks/inversion.md reports both.
  double tv_weight = 1e-4;
  // Inverting Gradients only: Adam on sign(gradient) and the step decay by
  // 0.1 at 3/8, 5/8, 7/8 of the iterations.
  bool signed_gradients = true;
  bool lr_decay = true;
  // Inverting Gradients only: start, step, take TV and box in the data's
  // normalised coordinates (InversionTarget::data_mean/data_std), as Geiping et
  // al.'s code does. Off by default: on the sigmoid LeNet it converges to a
  // lower PSNR (34.5 vs 41.7 dB); the ReLU LeNet numbers used it.
  bool normalized_coordinates = false;
  // Inverting Gradients only: after these iterations (counted from 1) of every
  // restart, `on_trace(restart, iteration, images)` sees the current images
  // (model input scale), so one run shows PSNR against iterations. Iterations
  // above `iterations` are ignored. Default: none.
  std::vector<int64_t> trace_iterations = {};
  std::function<void(int64_t restart, int64_t iteration, const std::vector<float>& images)>
      on_trace;
};

// What the attacker knows about the local training that produced an update:
// the public protocol (FedAvg with plain SGD, batches of
// min(local_batch_size, n) in order, the last one possibly short).
struct LocalRecipe {
  int64_t epochs = 1;
  int64_t batch_size = 32;
  double lr = 0.05;
  int64_t max_steps = 0;  // Steps cap across epochs (federated.local_steps); 0: none.
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
  // Per-channel mean and standard deviation of the data (C entries each; empty:
  // 0 and 1). With InversionOptions::normalized_coordinates, Inverting
  // Gradients starts from N(0, 1) and steps in these coordinates.
  std::vector<float> data_mean, data_std;
  // The samples' labels in training order, when the attacker knows them
  // (Geiping et al.'s experiments assume known labels); every method then
  // matches with these fixed labels (DLG optimises no soft label). For a
  // multi-step update of several samples, restart r > 0 tries the r-th order
  // after this one (the device's shuffle is secret). Empty (default):
  // inferred from the update by the iDLG rule (InferLabels), or for DLG
  // optimised jointly with the image.
  std::vector<int64_t> labels;
};

struct Reconstruction {
  std::vector<float> images;   // num_samples * sample numel, model input scale.
  std::vector<int64_t> labels;  // Recovered (iDLG, Inverting Gradients) or argmax of the soft label.
  double loss = 0.0;            // Final matching loss of the winning restart.
  int64_t restarts_run = 0;
  int64_t best_restart = 0;  // Index of the winning restart (lowest matching loss, TV excluded).
  int64_t local_steps = 0;  // 1: a single gradient; > 1: an unrolled FedAvg update.
  int64_t evaluations = 0;  // Objective evaluations (gradient matchings) over all restarts.
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

// The update (w_after - w_global, FlatState layout) that the attack's model of
// the device's training produces from `images` ({num_samples, C, H, W}, model
// input scale) and `labels`: plain SGD with target.recipe, batches in order,
// unrolled exactly as in the attack's objective (one step: lr times the
// gradient). Exposed so tests can compare it with real local training.
// InvalidArgumentError for mismatched sizes or labels out of range;
// Unimplemented as ReconstructFromUpdate for multi-step updates.
StatusOr<std::vector<float>> UnrolledUpdate(const InversionTarget& target,
                                            const std::vector<float>& images,
                                            const std::vector<int64_t>& labels);

// ------------------------------------------------------------------- sweeps
// Issue 8's acceptance experiments without an engine: a device's local
// training is simulated from a fresh model (plain SGD, batches in order, as
// `recipe` says; data box [0, 1]), then attacked.

// The target a device holding `indices` of `data` sends after local training
// of a model initialised from `model_seed`. InvalidArgument for bad indices or
// recipe.
StatusOr<InversionTarget> SimulateDeviceUpdate(const std::string& model,
                                               const std::map<std::string, ParamValue>& model_params,
                                               const Dataset& data,
                                               const std::vector<int64_t>& indices,
                                               const LocalRecipe& recipe, Seed model_seed);

struct InversionCase {
  std::string model = "lenet_dlg";
  std::map<std::string, ParamValue> model_params;
  std::vector<int64_t> indices;  // The device's samples, in training order.
  LocalRecipe recipe;
  uint64_t seed = 0;  // Model initialisation and the attack's random starts.
  InversionOptions options;
  // Control: replace the update by Gaussian noise of the same norm.
  bool random_gradient = false;
  // Give Inverting Gradients the true labels (InversionTarget::labels), as
  // Geiping et al.'s experiments do. Default: inferred by the iDLG rule.
  bool known_labels = false;
  // Passed to InversionOptions::trace_iterations; the result's psnr_trace
  // holds the winning restart's mean PSNR there.
  std::vector<int64_t> trace_iterations = {};
};

struct InversionCaseResult {
  std::vector<double> psnr, ssim;  // Per image, matched greedily; PSNR capped at 200 dB.
  // Recovered labels as a multiset. With known_labels: the labels the iDLG
  // rule reads from the update (the reconstruction used the true ones).
  double label_accuracy = 0.0;
  // (iteration, mean PSNR over the batch, matched greedily) of the winning
  // restart at InversionCase::trace_iterations.
  std::vector<std::pair<int64_t, double>> psnr_trace;
  int64_t local_steps = 0;
  int64_t evaluations = 0;
  double loss = 0.0;
  double seconds = 0.0;  // Reconstruction time (wall clock).
};

// Data must be images scaled to [0, 1] (Fashion-MNIST as loaded).
StatusOr<InversionCaseResult> RunInversionCase(const Dataset& data, const InversionCase& c);

enum class SweepSize { kTiny, kDocs };

struct SweepOptions {
  SweepSize size = SweepSize::kTiny;
  // Subset of "idlg", "dlg_joint", "dlg_batch4", "ig_relu", "ig_batch",
  // "ig_steps", "ig_relu_batch", "ig_relu_steps", "control"; empty runs all.
  // ig_batch/ig_steps attack the sigmoid LeNet, the ig_relu* tables the
  // untrained ReLU LeNet (normalised coordinates); batch tables use batches
  // of 1, 4, 8 images with distinct labels and one local step, steps tables
  // one image over 1-5 local SGD steps; both with known labels.
  std::vector<std::string> tables;
  double tv_weight = 1e-4;       // Inverting Gradients on the sigmoid LeNet.
  double relu_tv_weight = 0.01;  // Inverting Gradients on the ReLU LeNet.
  // The untrained ReLU LeNet's init (lenet_dlg's init_range): 0 keeps
  // LibTorch's default (kaiming-uniform), as a plain PyTorch ReLU LeNet has;
  // r > 0 draws weights and biases uniform in [-r, r] (DLG's 0.5, which with
  // ReLU gives logits near 100 and half the units dead;
  // docs/attacks/inversion.md). The sigmoid LeNet keeps DLG's 0.5.
  double relu_init_range = 0.0;
  int64_t restarts = 1;          // Inverting Gradients.
  int64_t ig_iterations = 0;     // Inverting Gradients; 0: the size's (4,800 or 300).
  int64_t ig_cases = 0;          // Image groups per batch/steps setting; 0: the size's (3 or 1).
  // Local SGD learning rate of the steps tables. Default: Geiping et al.'s
  // local_lr 1e-4. At 0.1 one step drove a single image's loss to 0 in
  // float32 on both LeNets (docs/attacks/inversion.md), so later steps added
  // nothing to the update.
  double steps_lr = 1e-4;
  // Inverting Gradients on the sigmoid LeNet in normalised coordinates (as
  // Geiping et al.'s code); default pixel coordinates (better for one image).
  bool sigmoid_normalized = false;
};

struct SweepRow {
  std::string table, setting;
  std::string group;  // The setting without its case ("batch 4" for "batch 4, case 1").
  InversionCaseResult result;
};

// kDocs: 10 images, 3 seeds, 300 L-BFGS steps, 4,800 Adam iterations (about an
// hour on one core); kTiny: seconds-to-minutes sizes for tests. `progress`
// (optional) sees each row as it finishes. Needs >= 8 * images samples.
StatusOr<std::vector<SweepRow>> RunInversionSweep(
    const Dataset& data, const SweepOptions& options,
    const std::function<void(const SweepRow&)>& progress = nullptr);

// lenet_dlg's parameters for the sweep's ReLU tables (activation relu,
// init_range options.relu_init_range), so other tools rebuild the same model.
std::map<std::string, ParamValue> IgReluModelParams(const SweepOptions& options);

// Markdown tables of the rows and issue 8's acceptance counts.
std::string FormatSweep(const std::vector<SweepRow>& rows);

// Registers "dlg", "idlg" and "inverting_gradients" (kind "attack"), and
// through RegisterInversionModels() the papers' model. Idempotent.
Status RegisterInversionAttacks();

// Registers the model "lenet_dlg" (kind "model"): the LeNet of Zhu et al.
// 2019 (three 5x5 convolutions with 12 channels, sigmoid, weights and biases
// uniform in [-0.5, 0.5]) that the inversion papers attack. Idempotent.
Status RegisterInversionModels();

}  // namespace confml::attacks
