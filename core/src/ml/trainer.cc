// Trainer::Fit and Evaluate.
#include <chrono>
#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "builtin_models.h"
#include "confml/core/trainer.h"

namespace confml {

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

// Throws c10::Error on a model/data mismatch; callers convert.
EvalResult EvaluateOrThrow(Model& model, const Dataset& dataset, int64_t batch_size) {
  torch::NoGradGuard no_grad;
  ModeGuard mode(model);
  model.eval();
  const int64_t n = dataset.size();
  torch::Tensor x = FeaturesTensor(dataset);
  torch::Tensor y = LabelsTensor(dataset);
  double loss_sum = 0.0;
  int64_t correct = 0;
  for (int64_t start = 0; start < n; start += batch_size) {
    const int64_t len = std::min(batch_size, n - start);
    torch::Tensor xb = x.narrow(0, start, len);
    torch::Tensor yb = y.narrow(0, start, len);
    torch::Tensor logits = model.forward(xb);
    loss_sum += torch::nn::functional::cross_entropy(
                    logits, yb, torch::nn::functional::CrossEntropyFuncOptions().reduction(torch::kSum))
                    .item<double>();
    correct += logits.argmax(1).eq(yb).sum().item<int64_t>();
  }
  EvalResult r;
  r.count = n;
  r.loss = n > 0 ? loss_sum / static_cast<double>(n) : kNaN;
  r.accuracy = n > 0 ? static_cast<double>(correct) / static_cast<double>(n) : kNaN;
  return r;
}

StatusOr<EvalResult> EvaluateChecked(Model& model, const Dataset& dataset, int64_t batch_size) {
  if (batch_size < 1) {
    return InvalidArgumentError("eval batch size must be >= 1, got " + std::to_string(batch_size));
  }
  try {
    return EvaluateOrThrow(model, dataset, batch_size);
  } catch (const c10::Error& e) {
    return InvalidArgumentError("evaluating on " + DatasetText(dataset) + ": " +
                                e.what_without_backtrace());
  } catch (const std::exception& e) {
    return InternalError("evaluating on " + DatasetText(dataset) + ": " + e.what());
  }
}

Status CheckTrainOptions(const TrainOptions& o) {
  if (o.epochs < 0) return InvalidArgumentError("epochs must be >= 0, got " + std::to_string(o.epochs));
  if (o.batch_size < 1) {
    return InvalidArgumentError("batch_size must be >= 1, got " + std::to_string(o.batch_size));
  }
  if (o.eval_batch_size < 1) {
    return InvalidArgumentError("eval_batch_size must be >= 1, got " +
                                std::to_string(o.eval_batch_size));
  }
  return OkStatus();
}

}  // namespace

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
  if (train.size() == 0) return InvalidArgumentError("training " + DatasetText(train) + " is empty");
  if (test != nullptr) {
    if (Status s = test->Validate(); !s.ok()) return s.WithContext("test set");
  }
  CONFML_ASSIGN_OR_RETURN(std::unique_ptr<torch::optim::Optimizer> optimizer,
                          MakeOptimizer(options_.optimizer, model));

  std::vector<EpochMetrics> history;
  ModeGuard mode(model);
  int64_t epoch = 0, step = 0;
  try {
    model.SetGenerator(at::detail::createCPUGenerator(seed.Child("dropout").value()));
    const int64_t n = train.size();
    const int64_t bs = std::min(options_.batch_size, n);
    const int64_t steps = (n + bs - 1) / bs;
    torch::Tensor x = FeaturesTensor(train);
    torch::Tensor y = LabelsTensor(train);
    // Batches are gathered into the same two buffers every step.
    std::vector<int64_t> batch_shape{bs};
    batch_shape.insert(batch_shape.end(), train.sample_shape.begin(), train.sample_shape.end());
    torch::Tensor x_buf = torch::empty(batch_shape, torch::kFloat32);
    torch::Tensor y_buf = torch::empty({bs}, torch::kInt64);

    for (epoch = 1; epoch <= options_.epochs; ++epoch) {
      model.train();
      std::vector<int64_t> perm = seed.Child("epoch", static_cast<uint64_t>(epoch)).MakeRng().Permutation(n);
      torch::Tensor perm_t = torch::from_blob(perm.data(), {n}, torch::kInt64);
      double loss_sum = 0.0;
      int64_t correct = 0;
      const auto t0 = std::chrono::steady_clock::now();
      for (step = 1; step <= steps; ++step) {
        const int64_t start = (step - 1) * bs;
        const int64_t len = std::min(bs, n - start);
        torch::Tensor idx = perm_t.narrow(0, start, len);
        torch::Tensor xb = x_buf.narrow(0, 0, len);
        torch::Tensor yb = y_buf.narrow(0, 0, len);
        torch::index_select_out(xb, x, 0, idx);
        torch::index_select_out(yb, y, 0, idx);

        optimizer->zero_grad();
        torch::Tensor logits = model.forward(xb);
        torch::Tensor loss = torch::nn::functional::cross_entropy(logits, yb);
        const double loss_value = loss.item<double>();
        if (!std::isfinite(loss_value)) {
          return FailedPreconditionError(std::string("loss became ") +
                                         (std::isnan(loss_value) ? "NaN" : "infinite") +
                                         " at epoch " + std::to_string(epoch) + " step " +
                                         std::to_string(step));
        }
        loss.backward();
        optimizer->step();
        loss_sum += loss_value * static_cast<double>(len);
        correct += logits.detach().argmax(1).eq(yb).sum().item<int64_t>();
        if (on_step) on_step(step, steps);
      }
      EpochMetrics m;
      m.epoch = epoch;
      m.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      m.train_loss = loss_sum / static_cast<double>(n);
      m.train_accuracy = static_cast<double>(correct) / static_cast<double>(n);
      m.test_loss = kNaN;
      m.test_accuracy = kNaN;
      if (test != nullptr) {
        CONFML_ASSIGN_OR_RETURN(EvalResult r, EvaluateChecked(model, *test, options_.eval_batch_size));
        m.test_loss = r.loss;
        m.test_accuracy = r.accuracy;
      }
      history.push_back(m);
      if (on_epoch) on_epoch(m);
    }
  } catch (const c10::Error& e) {
    return InvalidArgumentError("training on " + DatasetText(train) + " (epoch " +
                                std::to_string(epoch) + " step " + std::to_string(step) +
                                "): " + e.what_without_backtrace());
  } catch (const std::exception& e) {
    return InternalError("training on " + DatasetText(train) + ": " + e.what());
  }
  return history;
}

}  // namespace confml
