// Trainer::Fit and Evaluate.
#include "confml/core/trainer.h"

#include <ATen/Parallel.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "builtin_models.h"
#include "job_board.h"

namespace confml {

// Measured in docs/models.md ("Thread count").
const int64_t kDefaultMicroBatches = 2;

namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

std::string DatasetText(const Dataset& d) {
  return "dataset '" + d.name + "' (sample shape " + internal::ShapeText(d.sample_shape) + ")";
}

// Restores the module's train/eval mode on scope exit.
class ModeGuard {
 public:
  explicit ModeGuard(Model& m) : model_(m), training_(m.is_training()) {}
  ~ModeGuard() { model_.train(training_); }
  ModeGuard(const ModeGuard&) = delete;
  ModeGuard& operator=(const ModeGuard&) = delete;

 private:
  Model& model_;
  bool training_;
};

// LibTorch's intra-op thread count of the calling thread.
int64_t CallerThreads() { return std::max(1, at::get_num_threads()); }

// The threads a fit or an evaluation computes on. Pinned workers run LibTorch
// at one intra-op thread each (internal::MakeThreadSingleThreaded); a caller
// already at one thread that needs one worker runs the jobs itself, which
// gives the same numbers without a thread. Unpinned: the jobs run on the
// caller at its own thread count (TrainOptions::micro_batches == 0).
class Workers {
 public:
  Workers(int64_t count, bool pinned) {
    if (pinned && !(count == 1 && CallerThreads() == 1)) pool_.Start(count);
  }

  int64_t count() const { return std::max<int64_t>(1, pool_.started()); }

  Status Run(int64_t n, const internal::JobBoard::Job& job,
             const std::function<std::string()>& context) {
    return pool_.Run(n, job, context);
  }

 private:
  internal::PinnedWorkers pool_;
};

}  // namespace

namespace internal {

BatchEval EvaluateBatch(Model& model, const torch::Tensor& x, const torch::Tensor& y) {
  torch::Tensor logits = model.forward(x);
  BatchEval e;
  e.loss_sum =
      torch::nn::functional::cross_entropy(
          logits, y, torch::nn::functional::CrossEntropyFuncOptions().reduction(torch::kSum))
          .item<double>();
  e.correct = logits.argmax(1).eq(y).sum().item<int64_t>();
  return e;
}

}  // namespace internal

namespace {

// Evaluation batches are independent: each is computed at one intra-op
// thread on any worker (forward in evaluation mode only reads the model, so
// the workers share it) and the sums are added in batch order.
StatusOr<EvalResult> EvaluateChecked(Model& model, const Dataset& dataset, int64_t batch_size) {
  if (batch_size < 1) {
    return InvalidArgumentError("eval batch size must be >= 1, got " + std::to_string(batch_size));
  }
  ModeGuard mode(model);
  model.eval();
  const int64_t n = dataset.size();
  const int64_t batches = (n + batch_size - 1) / batch_size;
  std::vector<double> loss_sums(static_cast<size_t>(batches), 0.0);
  std::vector<int64_t> correct(static_cast<size_t>(batches), 0);
  torch::Tensor x, y;
  try {
    x = FeaturesTensor(dataset);
    y = LabelsTensor(dataset);
  } catch (const c10::Error& e) {
    return InvalidArgumentError("evaluating on " + DatasetText(dataset) + ": " +
                                e.what_without_backtrace());
  }
  Workers workers(std::min(CallerThreads(), std::max<int64_t>(batches, 1)), /*pinned=*/true);
  CONFML_RETURN_IF_ERROR(workers.Run(
      batches,
      [&](int64_t, int64_t b) -> Status {
        torch::NoGradGuard no_grad;  // Thread-local: every worker sets its own.
        const int64_t start = b * batch_size;
        const int64_t len = std::min(batch_size, n - start);
        const internal::BatchEval e =
            internal::EvaluateBatch(model, x.narrow(0, start, len), y.narrow(0, start, len));
        loss_sums[static_cast<size_t>(b)] = e.loss_sum;
        correct[static_cast<size_t>(b)] = e.correct;
        return OkStatus();
      },
      [&] { return "evaluating on " + DatasetText(dataset); }));
  double loss_sum = 0.0;
  int64_t right = 0;
  for (int64_t b = 0; b < batches; ++b) {
    loss_sum += loss_sums[static_cast<size_t>(b)];
    right += correct[static_cast<size_t>(b)];
  }
  EvalResult r;
  r.count = n;
  r.loss = n > 0 ? loss_sum / static_cast<double>(n) : kNaN;
  r.accuracy = n > 0 ? static_cast<double>(right) / static_cast<double>(n) : kNaN;
  return r;
}

Status CheckTrainOptions(const TrainOptions& o) {
  if (o.epochs < 0)
    return InvalidArgumentError("epochs must be >= 0, got " + std::to_string(o.epochs));
  if (o.batch_size < 1) {
    return InvalidArgumentError("batch_size must be >= 1, got " + std::to_string(o.batch_size));
  }
  if (o.eval_batch_size < 1) {
    return InvalidArgumentError("eval_batch_size must be >= 1, got " +
                                std::to_string(o.eval_batch_size));
  }
  if (o.micro_batches < 0) {
    return InvalidArgumentError("micro_batches must be >= 0, got " +
                                std::to_string(o.micro_batches));
  }
  if (o.max_steps < 0) {
    return InvalidArgumentError("max_steps must be >= 0, got " + std::to_string(o.max_steps));
  }
  return OkStatus();
}

// A replica must hold tensors of the trained model's shapes, in its order.
Status CheckReplica(Model& model, Model& replica) {
  auto shapes = [](const std::vector<torch::Tensor>& ts) {
    std::vector<std::vector<int64_t>> out;
    for (const torch::Tensor& t : ts) out.push_back(t.sizes().vec());
    return out;
  };
  if (shapes(model.parameters()) != shapes(replica.parameters()) ||
      shapes(model.buffers()) != shapes(replica.buffers())) {
    return InvalidArgumentError(
        "replica_factory built a model whose parameters or buffers differ in number or shape "
        "from the trained model's");
  }
  return OkStatus();
}

// Only what viewing the dataset as tensors needs: Dataset::Validate's label
// scan is O(dataset), and a federated round would pay it per client.
Status CheckSizes(const Dataset& d) {
  if (d.sample_shape.empty() ||
      d.features.size() != d.labels.size() * static_cast<size_t>(d.sample_numel())) {
    return InvalidArgumentError(DatasetText(d) + " has " + std::to_string(d.features.size()) +
                                " feature values for " + std::to_string(d.labels.size()) +
                                " samples");
  }
  return OkStatus();
}

// Why a loss turned non-finite, for the message that stops training: a
// learning rate too large for the model is the usual cause, but not the only
// one, and suggesting it for NaN features or a diverged global model would
// send the user to the wrong knob. Runs only on failure.
std::string DivergenceHint(const torch::Tensor& batch, const std::vector<torch::Tensor>& params,
                           int64_t steps_done, double lr) {
  torch::NoGradGuard no_grad;
  if (!torch::isfinite(batch).all().item<bool>()) return "; the batch holds non-finite features";
  if (steps_done == 0) {
    return "; the weights training started from are not finite or too large (in federated "
           "learning the global model diverged: lower the learning rate, optimizer lr " +
           FormatParamValue(lr) + ", or federated.server_lr)";
  }
  bool weights_finite = true;
  for (const torch::Tensor& p : params) weights_finite &= torch::isfinite(p).all().item<bool>();
  return std::string("; training diverged") +
         (weights_finite ? "" : " (the weights are no longer finite)") +
         ": lower the learning rate (optimizer lr " + FormatParamValue(lr) + ")";
}

// What one micro-batch leaves for the combination step.
struct MicroResult {
  std::vector<torch::Tensor> grads;    // Per parameter, already weighted; undefined if unused.
  std::vector<torch::Tensor> buffers;  // The replica's buffers after the forward pass.
  double loss_sum = 0.0;
  int64_t correct = 0;
};

}  // namespace

Status ForEachAtOneThread(int64_t n, const std::function<Status(int64_t item)>& job,
                          int64_t max_workers) {
  if (n <= 0) return OkStatus();
  int64_t count = std::min(n, CallerThreads());
  if (max_workers >= 1) count = std::min(count, max_workers);
  Workers workers(count, /*pinned=*/true);
  return workers.Run(
      n, [&](int64_t, int64_t item) { return job(item); }, [] { return std::string(); });
}

EvalResult Evaluate(Model& model, const Dataset& dataset, int64_t batch_size) {
  StatusOr<EvalResult> r = EvaluateChecked(model, dataset, batch_size);
  if (r.ok()) return *r;
  EvalResult failed;
  failed.loss = kNaN;
  failed.accuracy = kNaN;
  return failed;
}

StatusOr<std::vector<EpochMetrics>> Trainer::Fit(Model& model, const Dataset& train,
                                                 const Dataset* test, Seed seed,
                                                 const EpochCallback& on_epoch,
                                                 const StepCallback& on_step) const {
  if (Status s = CheckTrainOptions(options_); !s.ok()) return s;
  if (Status s = train.Validate(); !s.ok()) return s.WithContext("training set");
  if (train.size() == 0)
    return InvalidArgumentError("training " + DatasetText(train) + " is empty");
  if (test != nullptr) {
    if (Status s = test->Validate(); !s.ok()) return s.WithContext("test set");
  }
  std::vector<int64_t> all(static_cast<size_t>(train.size()));
  for (int64_t i = 0; i < train.size(); ++i) all[static_cast<size_t>(i)] = i;
  CONFML_ASSIGN_OR_RETURN(FitSummary summary,
                          FitSubset(model, train, all, seed, test, on_epoch, on_step));
  return std::move(summary.epochs);
}

// Data-parallel and thread-count invariant: every step splits its batch into
// the same micro-batches whatever the thread count; micro-batch k is computed
// from the step's starting weights and batch-norm buffers at one intra-op
// thread on whichever replica is free, with loss weight n_k / len so that the
// summed gradients are the batch's mean gradient; the sums, the buffer
// combination and the optimizer step run on one worker in a fixed order.
// With one micro-batch per step (every federated client) the step runs on
// `model` itself: nothing to copy in, combine or clone.
StatusOr<FitSummary> Trainer::FitSubset(Model& model, const Dataset& data,
                                        const std::vector<int64_t>& indices, Seed seed,
                                        const Dataset* test, const EpochCallback& on_epoch,
                                        const StepCallback& on_step) const {
  CONFML_RETURN_IF_ERROR(CheckTrainOptions(options_));
  CONFML_RETURN_IF_ERROR(CheckSizes(data));
  if (test != nullptr) CONFML_RETURN_IF_ERROR(CheckSizes(*test).WithContext("test set"));
  for (int64_t i : indices) {
    if (i < 0 || i >= data.size()) {
      return InvalidArgumentError("sample index " + std::to_string(i) + " is outside " +
                                  DatasetText(data) + " of " + std::to_string(data.size()) +
                                  " samples");
    }
  }
  FitSummary summary;
  const int64_t n = static_cast<int64_t>(indices.size());
  if (n == 0) return summary;
  CONFML_ASSIGN_OR_RETURN(std::unique_ptr<torch::optim::Optimizer> optimizer,
                          MakeOptimizer(options_.optimizer, model));

  const int64_t bs = std::min(options_.batch_size, n);
  const int64_t steps = (n + bs - 1) / bs;
  const bool pinned = options_.micro_batches > 0;
  const int64_t micro = pinned ? std::min(options_.micro_batches, bs) : 1;
  const bool single = micro == 1;
  const int64_t worker_count =
      pinned && options_.replica_factory ? std::min(micro, CallerThreads()) : 1;

  std::vector<ModelPtr> owned;  // replicas 1.. (replica 0 is `model`)
  std::vector<Model*> replicas{&model};
  for (int64_t w = 1; w < worker_count; ++w) {
    StatusOr<ModelPtr> r = options_.replica_factory();
    if (!r.ok()) return r.status().WithContext("building a training replica");
    CONFML_RETURN_IF_ERROR(CheckReplica(model, **r));
    owned.push_back(*r);
    replicas.push_back(owned.back().get());
  }

  ModeGuard mode(model);
  int64_t epoch = 0, step = 0;
  auto where = [&] {
    return "training on " + std::to_string(n) + " samples of " + DatasetText(data) + " (epoch " +
           std::to_string(epoch) + " step " + std::to_string(step) + ")";
  };
  const auto t0 = std::chrono::steady_clock::now();
  try {
    Workers workers(worker_count, pinned);
    std::vector<torch::Tensor> params = model.parameters();
    std::vector<torch::Tensor> buffers = model.buffers();
    std::vector<std::vector<torch::Tensor>> replica_params, replica_buffers;
    // Per replica: the batch is gathered into these, not into fresh tensors.
    std::vector<torch::Tensor> x_buf, y_buf;
    std::vector<int64_t> batch_shape{bs};
    batch_shape.insert(batch_shape.end(), data.sample_shape.begin(), data.sample_shape.end());
    for (Model* r : replicas) {
      r->train();
      replica_params.push_back(r->parameters());
      replica_buffers.push_back(r->buffers());
      x_buf.push_back(torch::empty(batch_shape, torch::kFloat32));
      y_buf.push_back(torch::empty({bs}, torch::kInt64));
    }
    // The buffers every micro-batch of a step starts from.
    std::vector<torch::Tensor> start_buffers;
    if (!single) {
      for (const torch::Tensor& b : buffers) start_buffers.push_back(b.detach().clone());
    } else {
      model.SetGenerator(at::detail::createCPUGenerator(seed.Child("dropout").value()));
    }
    std::vector<int64_t> synced_step(replicas.size(), -1);  // Per replica, by its worker only.
    const torch::Tensor x = FeaturesTensor(data);
    const torch::Tensor y = LabelsTensor(data);
    // The epoch's order as indices into `data`.
    std::vector<int64_t> order(static_cast<size_t>(n));
    const torch::Tensor order_t = torch::from_blob(order.data(), {n}, torch::kInt64);
    std::vector<MicroResult> results(static_cast<size_t>(micro));
    int64_t global_step = 0;

    auto limit_reached = [&] {
      return options_.max_steps > 0 && global_step >= options_.max_steps;
    };
    for (epoch = 1; epoch <= options_.epochs && !limit_reached(); ++epoch) {
      const std::vector<int64_t> perm =
          seed.Child("epoch", static_cast<uint64_t>(epoch)).MakeRng().Permutation(n);
      for (int64_t i = 0; i < n; ++i) {
        order[static_cast<size_t>(i)] = indices[static_cast<size_t>(perm[static_cast<size_t>(i)])];
      }
      double loss_sum = 0.0;
      int64_t correct = 0, seen = 0;
      const auto epoch_t0 = std::chrono::steady_clock::now();
      for (step = 1; step <= steps && !limit_reached(); ++step, ++global_step) {
        const int64_t start = (step - 1) * bs;
        const int64_t len = std::min(bs, n - start);
        const int64_t parts = std::min(micro, len);
        // Micro-batch k: `base` samples, one more for the first len % parts.
        const int64_t base = len / parts, extra = len % parts;
        auto compute = [&](int64_t w, int64_t k) -> Status {
          const size_t ws = static_cast<size_t>(w);
          Model& r = *replicas[ws];
          const int64_t nk = base + (k < extra ? 1 : 0);
          const int64_t off = start + k * base + std::min(k, extra);
          if (!single) {
            torch::NoGradGuard no_grad;
            if (w > 0 && synced_step[ws] != global_step) {
              for (size_t i = 0; i < params.size(); ++i) replica_params[ws][i].copy_(params[i]);
              synced_step[ws] = global_step;
            }
            for (size_t j = 0; j < buffers.size(); ++j) {
              replica_buffers[ws][j].copy_(start_buffers[j]);
            }
            r.SetGenerator(at::detail::createCPUGenerator(
                seed.Child("dropout", static_cast<uint64_t>(global_step * micro + k)).value()));
          }
          for (torch::Tensor& p : replica_params[ws]) p.mutable_grad().reset();
          const torch::Tensor idx = order_t.narrow(0, off, nk);
          torch::Tensor xb = x_buf[ws].narrow(0, 0, nk);
          torch::Tensor yb = y_buf[ws].narrow(0, 0, nk);
          torch::index_select_out(xb, x, 0, idx);
          torch::index_select_out(yb, y, 0, idx);
          torch::Tensor logits = r.forward(xb);
          torch::Tensor loss = torch::nn::functional::cross_entropy(logits, yb);
          const double loss_value = loss.item<double>();
          if (!std::isfinite(loss_value)) {
            return FailedPreconditionError(
                std::string("loss became ") + (std::isnan(loss_value) ? "NaN" : "infinite") +
                " at epoch " + std::to_string(epoch) + " step " + std::to_string(step) +
                DivergenceHint(xb, replica_params[ws], global_step, options_.optimizer.lr));
          }
          if (nk != len) loss = loss * (static_cast<double>(nk) / static_cast<double>(len));
          loss.backward();
          MicroResult& out = results[static_cast<size_t>(k)];
          out.loss_sum = loss_value * static_cast<double>(nk);
          out.correct = logits.detach().argmax(1).eq(yb).sum().item<int64_t>();
          if (single) {
            // The gradients are already on `model`, its buffers already updated.
            optimizer->step();
            return OkStatus();
          }
          out.grads.clear();
          for (torch::Tensor& p : replica_params[ws]) {
            out.grads.push_back(p.grad());
            p.mutable_grad().reset();
          }
          out.buffers.clear();
          for (const torch::Tensor& b : replica_buffers[ws]) {
            out.buffers.push_back(b.detach().clone());
          }
          return OkStatus();
        };
        // Running statistics: the micro-batches' updated buffers weighted by
        // n_k / len (the momentum update with the mean of their statistics);
        // integer buffers (num_batches_tracked) advance once per step.
        auto combine_and_step = [&](int64_t, int64_t) -> Status {
          torch::NoGradGuard no_grad;
          for (size_t i = 0; i < params.size(); ++i) {
            torch::Tensor g;
            for (int64_t k = 0; k < parts; ++k) {
              const torch::Tensor& gk = results[static_cast<size_t>(k)].grads[i];
              if (!gk.defined()) continue;
              if (g.defined()) {
                g.add_(gk);
              } else {
                g = gk;
              }
            }
            params[i].mutable_grad() = g;
          }
          for (size_t j = 0; j < buffers.size(); ++j) {
            torch::Tensor b = results[0].buffers[j];
            if (parts > 1 && b.is_floating_point()) {
              b = b * (static_cast<double>(base + (extra > 0 ? 1 : 0)) / static_cast<double>(len));
              for (int64_t k = 1; k < parts; ++k) {
                const double wk =
                    static_cast<double>(base + (k < extra ? 1 : 0)) / static_cast<double>(len);
                b.add_(results[static_cast<size_t>(k)].buffers[j], wk);
              }
            }
            buffers[j].copy_(b);
            start_buffers[j] = b;
          }
          optimizer->step();
          return OkStatus();
        };
        CONFML_RETURN_IF_ERROR(workers.Run(parts, compute, where));
        if (!single) CONFML_RETURN_IF_ERROR(workers.Run(1, combine_and_step, where));
        for (int64_t k = 0; k < parts; ++k) {
          const MicroResult& r = results[static_cast<size_t>(k)];
          loss_sum += r.loss_sum;
          summary.loss_sum += r.loss_sum;
          correct += r.correct;
        }
        seen += len;
        if (on_step) on_step(step, steps);
      }
      summary.steps = global_step;
      summary.samples_seen += seen;
      EpochMetrics m;
      m.epoch = epoch;
      m.seconds =
          std::chrono::duration<double>(std::chrono::steady_clock::now() - epoch_t0).count();
      // Over the samples this epoch saw: fewer than n when max_steps cut it.
      m.train_loss = loss_sum / static_cast<double>(seen);
      m.train_accuracy = static_cast<double>(correct) / static_cast<double>(seen);
      m.test_loss = kNaN;
      m.test_accuracy = kNaN;
      if (test != nullptr) {
        CONFML_ASSIGN_OR_RETURN(EvalResult r,
                                EvaluateChecked(model, *test, options_.eval_batch_size));
        m.test_loss = r.loss;
        m.test_accuracy = r.accuracy;
      }
      summary.epochs.push_back(m);
      if (on_epoch) on_epoch(m);
    }
  } catch (const c10::Error& e) {
    return InvalidArgumentError(where() + ": " + e.what_without_backtrace());
  } catch (const std::exception& e) {
    return InternalError(where() + ": " + e.what());
  }
  summary.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return summary;
}

}  // namespace confml
