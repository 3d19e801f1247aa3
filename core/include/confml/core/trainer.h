// confml/core/trainer.h: training and evaluation loops (LibTorch).
//
//   TrainOptions opt;
//   opt.epochs = 5; opt.batch_size = 64;
//   opt.optimizer = {.name = "adam", .lr = 1e-3};
//   Trainer trainer(opt);
//   StatusOr<std::vector<EpochMetrics>> history =
//       trainer.Fit(*model, train, &test, Seed(1).Child("train"), on_epoch);
//
// Batches are drawn from a seeded permutation per epoch, so the same seed
// gives the same batches. Thread-compatible: one Trainer per thread.
//
// Trainer::FitSubset trains on some samples of a dataset, given by index,
// without copying them; it is what a federated client runs on its partition
// (FederatedEngine, with ClientTrainOptions in federated.h), so code that
// simulates a device's local training calls it to train exactly as one:
//
//   StatusOr<FitSummary> s = Trainer(ClientTrainOptions(fl_options))
//                                .FitSubset(*model, data, client_indices, client_seed);
//
// Results do not depend on the thread count. Each batch is split into a fixed
// number of micro-batches (TrainOptions::micro_batches); every micro-batch is
// computed at one LibTorch intra-op thread, on up to at::get_num_threads()
// worker threads (one model replica each, built by replica_factory), and the
// gradients are summed in micro-batch order. Batch norm normalises each
// micro-batch by its own statistics ("ghost batch norm"); see docs/models.md.
//
//   opt.replica_factory = [&] { return CreateModel("small_cnn", {}, ctx, Seed(1)); };
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "confml/core/dataset.h"
#include "confml/core/model.h"
#include "confml/core/params.h"
#include "confml/core/seed.h"
#include "confml/core/status.h"

namespace confml {

struct OptimizerOptions {
  std::string name = "sgd";   // "sgd" or "adam".
  double lr = 0.01;           // > 0.
  double momentum = 0.0;      // SGD only, in [0, 1).
  bool nesterov = false;      // SGD only; needs momentum > 0.
  double weight_decay = 0.0;  // L2 penalty, >= 0.
  double beta1 = 0.9;         // Adam only.
  double beta2 = 0.999;       // Adam only.
  double eps = 1e-8;          // Adam only.
};

// The "optimizer" components (sgd, adam) as declared parameters, and the
// conversion from resolved values.
const std::vector<ComponentSpec>& OptimizerSpecs();
StatusOr<OptimizerOptions> OptimizerFromParams(const std::string& name, const ParamSet& params);
StatusOr<std::unique_ptr<torch::optim::Optimizer>> MakeOptimizer(const OptimizerOptions& options,
                                                                 Model& model);

// Default of TrainOptions::micro_batches and of the config key
// train.micro_batches, chosen by measurement (docs/models.md).
extern const int64_t kDefaultMicroBatches;

struct TrainOptions {
  int64_t epochs = 1;       // >= 0.
  int64_t batch_size = 64;  // >= 1.
  int64_t eval_batch_size = 1000;
  OptimizerOptions optimizer;
  // Micro-batches per batch (>= 0), each computed at one intra-op thread; a
  // batch of len < micro_batches samples has len micro-batches. Part of the
  // numbers (with batch norm, of the model); not of the thread count. 0 is
  // the plain loop: one forward/backward per batch at the caller's LibTorch
  // thread count, whose last bits depend on that count.
  int64_t micro_batches = kDefaultMicroBatches;
  // Stop after this many optimizer steps in all (>= 0), counted across
  // epochs; the epoch it stops in ends early and is the last one reported
  // (its train metrics over the samples it saw). 0: no limit, `epochs` only.
  int64_t max_steps = 0;
  // Builds a model of the same architecture as the one trained (its weights
  // are overwritten). Needed to compute micro-batches on more than one
  // thread; without it they run one after another on one thread.
  std::function<StatusOr<ModelPtr>()> replica_factory;
};

struct EvalResult {
  double loss = 0.0;      // Mean cross-entropy.
  double accuracy = 0.0;  // Fraction correct.
  int64_t count = 0;
};

struct EpochMetrics {
  int64_t epoch = 0;  // 1-based.
  double train_loss = 0.0;
  double train_accuracy = 0.0;
  double test_loss = 0.0;      // NaN when no test set.
  double test_accuracy = 0.0;  // NaN when no test set.
  double seconds = 0.0;        // Wall time of the epoch's training.
};

// Views of a dataset as tensors; no copy (the dataset must outlive them).
torch::Tensor FeaturesTensor(const Dataset& dataset);  // {N, sample_shape...}
torch::Tensor LabelsTensor(const Dataset& dataset);    // {N}, int64

// In evaluation mode under NoGradGuard; the model's mode is restored. When
// the data does not fit the model (or batch_size < 1) the result has count 0
// and NaN loss and accuracy.
EvalResult Evaluate(Model& model, const Dataset& dataset, int64_t batch_size = 1000);

// Runs job(item) for items [0, n) on up to min(max_workers, LibTorch's thread
// count) threads, each running LibTorch at one intra-op thread (the caller's
// own thread when it already is at one), so that what an item computes does
// not depend on the thread count; the trainer and evaluator use it, attacks
// for independent restarts. Returns the error of the lowest failing item;
// LibTorch exceptions become InvalidArgument. max_workers < 1 means no cap.
Status ForEachAtOneThread(int64_t n, const std::function<Status(int64_t item)>& job,
                          int64_t max_workers = 0);

// What a fit did, over all its epochs.
struct FitSummary {
  std::vector<EpochMetrics> epochs;  // One per epoch run (the last may be cut by max_steps).
  int64_t steps = 0;                 // Optimizer steps taken.
  int64_t samples_seen = 0;          // Samples over all steps (epochs * n without max_steps).
  // Sum over steps, added in step order, of (batch mean loss * batch size).
  double loss_sum = 0.0;
  double seconds = 0.0;  // Wall time of the training loop (per-epoch evaluations included).
};

class Trainer {
 public:
  explicit Trainer(TrainOptions options) : options_(std::move(options)) {}

  using EpochCallback = std::function<void(const EpochMetrics&)>;
  using StepCallback = std::function<void(int64_t step, int64_t steps_per_epoch)>;

  // Trains `model` in place. `test` may be null. Errors (bad options, a
  // dataset that does not fit the model, a non-finite loss) come back as a
  // Status; LibTorch exceptions are caught and converted.
  StatusOr<std::vector<EpochMetrics>> Fit(Model& model, const Dataset& train, const Dataset* test,
                                          Seed seed, const EpochCallback& on_epoch = {},
                                          const StepCallback& on_step = {}) const;

  // Trains `model` in place on the samples `indices` of `data` (each once per
  // epoch, in the order of the epoch's seeded permutation of the list), as
  // Fit does on a whole dataset: Fit(m, d, ...) is FitSubset on 0..n-1. The
  // per-call cost is O(indices), not O(data): `data` is not validated beyond
  // its sizes (call Dataset::Validate once where it is set up; a label out of
  // range fails the step as InvalidArgument). An empty `indices` trains
  // nothing and succeeds. InvalidArgument for an index outside `data`, bad
  // options or a dataset that does not fit the model; FailedPrecondition
  // "loss became NaN at epoch E step S" for a non-finite loss.
  //
  // Dropout: with one micro-batch per step (micro_batches <= 1, or batches
  // of one sample) the model's generator is seeded once with
  // seed.Child("dropout") and runs through the fit; with several, micro-batch
  // k of global step s draws from seed.Child("dropout", s * micro + k), so
  // that masks do not depend on which worker computed it.
  StatusOr<FitSummary> FitSubset(Model& model, const Dataset& data,
                                 const std::vector<int64_t>& indices, Seed seed,
                                 const Dataset* test = nullptr, const EpochCallback& on_epoch = {},
                                 const StepCallback& on_step = {}) const;

  const TrainOptions& options() const { return options_; }

 private:
  TrainOptions options_;
};

}  // namespace confml
