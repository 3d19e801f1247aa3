// The reconstruction algorithms of DLG, iDLG and Inverting Gradients.
//
// Everything is expressed as "pseudo-gradients": for an update `delta`
// produced by SGD with learning rate lr, the attacker's target is
// -delta / lr. With one local step that is exactly the gradient of the
// device's batch; with several, the attacker unrolls the same SGD steps on its
// dummy batch (Geiping et al. 2020, section 6) and compares (w0 - w_k) / lr.
// Keeping one scale for both cases keeps L-BFGS's tolerances meaningful.

#include <algorithm>
#include <cmath>
#include <limits>
#include <memory>
#include <numeric>
#include <string>
#include <vector>

#include "confml/attacks/inversion.h"
#include "confml/core/model.h"
#include "confml/core/thread_scope.h"
#include "confml/core/trainer.h"

namespace confml::attacks {
namespace {

// One parameter of the model and the layer that owns it, so the unrolled
// steps can substitute a non-leaf tensor for it.
struct ParamSlot {
  torch::nn::Module* owner = nullptr;
  std::string name;
  torch::Tensor original;
};

std::vector<ParamSlot> ListParams(Model& model) {
  std::vector<ParamSlot> slots;
  // Module::parameters(recurse) walks the modules in this pre-order, which is
  // the order of FlatState.
  for (const auto& m : model.modules(/*include_self=*/true)) {
    for (const auto& p : m->named_parameters(/*recurse=*/false)) {
      slots.push_back({m.get(), p.key(), p.value()});
    }
  }
  return slots;
}

torch::Tensor* MutableParam(ParamSlot& slot) {
  if (auto* conv = dynamic_cast<torch::nn::Conv2dImpl*>(slot.owner)) {
    if (slot.name == "weight") return &conv->weight;
    if (slot.name == "bias") return &conv->bias;
  }
  if (auto* lin = dynamic_cast<torch::nn::LinearImpl*>(slot.owner)) {
    if (slot.name == "weight") return &lin->weight;
    if (slot.name == "bias") return &lin->bias;
  }
  return nullptr;
}

// Puts the original parameters back however the unroll ends.
class SubstitutionGuard {
 public:
  explicit SubstitutionGuard(std::vector<ParamSlot>* slots) : slots_(slots) {}
  ~SubstitutionGuard() {
    for (auto& s : *slots_) {
      if (torch::Tensor* t = MutableParam(s)) *t = s.original;
    }
  }
  SubstitutionGuard(const SubstitutionGuard&) = delete;
  SubstitutionGuard& operator=(const SubstitutionGuard&) = delete;

 private:
  std::vector<ParamSlot>* slots_;
};

// Cross-entropy against label distributions (one-hot for hard labels), mean
// over the batch: what the device's mean cross-entropy gives for hard labels.
torch::Tensor SoftCrossEntropy(const torch::Tensor& logits, const torch::Tensor& label_probs) {
  return -(label_probs * torch::log_softmax(logits, 1)).sum(1).mean();
}

// Total variation as in Geiping et al.'s code: mean absolute difference of
// horizontal and of vertical neighbours.
torch::Tensor TotalVariation(const torch::Tensor& x) {
  const int64_t h = x.size(2), w = x.size(3);
  torch::Tensor dx = (x.narrow(3, 0, w - 1) - x.narrow(3, 1, w - 1)).abs().mean();
  torch::Tensor dy = (x.narrow(2, 0, h - 1) - x.narrow(2, 1, h - 1)).abs().mean();
  return dx + dy;
}

class Problem {
 public:
  static StatusOr<std::unique_ptr<Problem>> Create(const InversionTarget& target,
                                                   bool normalized = false) {
    auto p = std::unique_ptr<Problem>(new Problem(target));
    p->normalized_ = normalized;
    CONFML_RETURN_IF_ERROR(p->Init());
    return p;
  }

  int64_t local_steps() const { return steps_; }
  const std::vector<torch::Tensor>& target_grads() const { return target_; }
  int64_t num_classes() const { return target_info_.num_classes; }

  // The pseudo-gradient the device would have produced from (x, labels).
  std::vector<torch::Tensor> PseudoGradient(const torch::Tensor& x, const torch::Tensor& label_probs) {
    std::vector<torch::Tensor> originals;
    for (auto& s : slots_) originals.push_back(s.original);
    if (!batched_) {
      torch::Tensor loss = SoftCrossEntropy(model_->forward(x), label_probs);
      return torch::autograd::grad({loss}, originals, {}, /*retain_graph=*/true,
                                   /*create_graph=*/true);
    }
    SubstitutionGuard guard(&slots_);
    std::vector<torch::Tensor> w = originals;
    const int64_t n = x.size(0);
    const int64_t bs = std::min(target_info_.recipe.batch_size, n);
    const double lr = target_info_.recipe.lr;
    int64_t step = 0;
    for (int64_t epoch = 0; epoch < target_info_.recipe.epochs && step < steps_; ++epoch) {
      for (int64_t start = 0; start < n && step < steps_; start += bs, ++step) {
        const int64_t len = std::min(bs, n - start);
        for (size_t i = 0; i < slots_.size(); ++i) *MutableParam(slots_[i]) = w[i];
        torch::Tensor loss = SoftCrossEntropy(model_->forward(x.narrow(0, start, len)),
                                              label_probs.narrow(0, start, len));
        std::vector<torch::Tensor> g =
            torch::autograd::grad({loss}, w, {}, /*retain_graph=*/true, /*create_graph=*/true);
        for (size_t i = 0; i < w.size(); ++i) w[i] = w[i] - lr * g[i];
      }
    }
    std::vector<torch::Tensor> pseudo;
    for (size_t i = 0; i < w.size(); ++i) pseudo.push_back((originals[i] - w[i]) / lr);
    return pseudo;
  }

  // One flat vector per matching: a handful of kernels instead of a few per
  // layer, in the forward and in both backward passes.
  torch::Tensor Flatten(const std::vector<torch::Tensor>& g) const {
    std::vector<torch::Tensor> flat;
    flat.reserve(g.size());
    for (const auto& t : g) flat.push_back(t.reshape({-1}));
    return torch::cat(flat);
  }

  torch::Tensor L2Distance(const std::vector<torch::Tensor>& g) const {
    return (Flatten(g) - target_flat_).pow(2).sum();
  }

  torch::Tensor CosineDistance(const std::vector<torch::Tensor>& g) const {
    torch::Tensor f = Flatten(g);
    return 1 - f.dot(target_flat_) / (f.norm() * target_norm_ + 1e-12);
  }

  // The gradient of the last layer (bias, or weight row sums) in the target.
  StatusOr<torch::Tensor> LastLayerSignal() const {
    const int64_t k = target_info_.num_classes;
    for (auto it = target_.rbegin(); it != target_.rend(); ++it) {
      if (it->dim() == 1 && it->size(0) == k) return *it;
      if (it->dim() == 2 && it->size(0) == k) return it->sum(1);
    }
    return InvalidArgumentError("model '" + target_info_.model +
                                "' has no last layer with one output per class (" +
                                std::to_string(k) + ")");
  }

  torch::Tensor Box(bool upper) const { return upper ? box_max_ : box_min_; }
  bool has_box() const { return box_min_.defined(); }

  // Inverting Gradients optimises in the data's normalised coordinates, as
  // Geiping et al.'s code does (their images are normalised before the
  // model): image = mean + std * z. Identity without a normalisation.
  torch::Tensor ToImage(const torch::Tensor& z) const {
    return norm_mean_.defined() ? norm_mean_ + norm_std_ * z : z;
  }
  torch::Tensor BoxNormalised(bool upper) const {
    torch::Tensor b = Box(upper);
    return norm_mean_.defined() ? (b - norm_mean_) / norm_std_ : b;
  }

 private:
  explicit Problem(const InversionTarget& target) : target_info_(target) {}

  Status Init() {
    const InversionTarget& t = target_info_;
    if (t.sample_shape.size() != 3) {
      return InvalidArgumentError("gradient inversion needs image samples {C, H, W}; got " +
                                  std::to_string(t.sample_shape.size()) + " dimensions");
    }
    if (t.num_samples < 1) return InvalidArgumentError("update holds no samples");
    if (t.recipe.epochs < 1 || t.recipe.batch_size < 1 || !(t.recipe.lr > 0)) {
      return InvalidArgumentError("local recipe needs epochs >= 1, batch_size >= 1 and lr > 0");
    }
    ModelContext ctx{.input_shape = t.sample_shape, .num_classes = t.num_classes};
    CONFML_ASSIGN_OR_RETURN(model_, CreateModel(t.model, t.model_params, ctx, Seed(0)));
    CONFML_RETURN_IF_ERROR(LoadFlatState(*model_, t.global_state));
    if (t.update.size() != t.global_state.size()) {
      return InvalidArgumentError("update has " + std::to_string(t.update.size()) +
                                  " values but the global state " +
                                  std::to_string(t.global_state.size()));
    }
    model_->train();  // As the device trained.
    slots_ = ListParams(*model_);
    const int64_t bs = std::min(t.recipe.batch_size, t.num_samples);
    steps_ = t.recipe.epochs * ((t.num_samples + bs - 1) / bs);
    if (t.recipe.max_steps > 0) steps_ = std::min(steps_, t.recipe.max_steps);
    // One step over a first batch short of all samples is a batch gradient
    // that leaves the rest out: the batched path models that.
    batched_ = steps_ > 1 || bs < t.num_samples;
    int64_t offset = 0;
    double norm2 = 0.0;
    for (auto& s : slots_) {
      if (batched_ && MutableParam(s) == nullptr) {
        return UnimplementedError(
            "inverting a multi-step update needs every parameterised layer to be Linear or "
            "Conv2d; model '" + t.model + "' has parameter '" + s.name + "' in another layer");
      }
      const int64_t numel = s.original.numel();
      torch::Tensor delta = torch::from_blob(const_cast<float*>(t.update.data()) + offset,
                                             s.original.sizes(), torch::kFloat32)
                                .clone();
      torch::Tensor g = -delta / t.recipe.lr;
      norm2 += g.pow(2).sum().item<double>();
      target_.push_back(g);
      offset += numel;
    }
    target_norm_ = std::sqrt(norm2);
    target_flat_ = Flatten(target_);
    if (t.data_min.size() == static_cast<size_t>(t.sample_shape[0]) &&
        t.data_max.size() == t.data_min.size()) {
      box_min_ = torch::tensor(t.data_min).view({1, -1, 1, 1});
      box_max_ = torch::tensor(t.data_max).view({1, -1, 1, 1});
    }
    if (normalized_ && t.data_mean.size() == static_cast<size_t>(t.sample_shape[0]) &&
        t.data_std.size() == t.data_mean.size()) {
      for (float v : t.data_std) {
        if (!(v > 0)) return InvalidArgumentError("data_std needs positive entries");
      }
      norm_mean_ = torch::tensor(t.data_mean).view({1, -1, 1, 1});
      norm_std_ = torch::tensor(t.data_std).view({1, -1, 1, 1});
    }
    return OkStatus();
  }

  InversionTarget target_info_;
  ModelPtr model_;
  std::vector<ParamSlot> slots_;
  std::vector<torch::Tensor> target_;
  torch::Tensor target_flat_;
  double target_norm_ = 0.0;
  int64_t steps_ = 1;
  bool batched_ = false;  // Simulate local steps rather than one full gradient.
  torch::Tensor box_min_, box_max_;
  torch::Tensor norm_mean_, norm_std_;
  bool normalized_ = false;
};

std::vector<int64_t> LabelsFromSignal(const torch::Tensor& signal, int64_t n) {
  std::vector<float> v(signal.data_ptr<float>(), signal.data_ptr<float>() + signal.numel());
  std::vector<int64_t> order(v.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](int64_t a, int64_t b) { return v[a] < v[b]; });
  std::vector<int64_t> present;
  for (int64_t c : order) {
    if (v[c] < 0) present.push_back(c);
  }
  if (present.empty()) present.push_back(order.front());
  std::vector<int64_t> labels;
  for (int64_t i = 0; i < n; ++i) labels.push_back(present[i % present.size()]);
  return labels;
}

Status CheckLabels(const InversionTarget& target, const std::vector<int64_t>& labels) {
  if (static_cast<int64_t>(labels.size()) != target.num_samples) {
    return InvalidArgumentError("got " + std::to_string(labels.size()) + " labels for " +
                                std::to_string(target.num_samples) + " samples");
  }
  for (int64_t l : labels) {
    if (l < 0 || l >= target.num_classes) {
      return InvalidArgumentError("label " + std::to_string(l) + " outside [0, " +
                                  std::to_string(target.num_classes) + ")");
    }
  }
  return OkStatus();
}

struct Trial {
  torch::Tensor x;
  torch::Tensor label_probs;
  double loss = std::numeric_limits<double>::infinity();
  int64_t evaluations = 0;
};

Trial RunLbfgs(Problem& problem, const InversionOptions& opt, torch::Tensor x,
               torch::Tensor label_logits, const torch::Tensor& fixed_probs) {
  const bool joint = label_logits.defined();
  std::vector<torch::Tensor> vars{x};
  if (joint) vars.push_back(label_logits);
  torch::optim::LBFGS lbfgs(vars, torch::optim::LBFGSOptions(opt.lr).max_iter(opt.lbfgs_max_iter));
  auto probs = [&] { return joint ? torch::softmax(label_logits, 1) : fixed_probs; };
  bool finite = true;
  int64_t evaluations = 0;
  auto closure = [&]() -> torch::Tensor {
    ++evaluations;
    lbfgs.zero_grad();
    torch::Tensor loss = problem.L2Distance(problem.PseudoGradient(x, probs()));
    torch::autograd::backward({loss}, {}, /*retain_graph=*/false, /*create_graph=*/false, vars);
    if (!std::isfinite(loss.item<double>())) finite = false;
    return loss;
  };
  for (int64_t it = 0; it < opt.iterations && finite; ++it) lbfgs.step(closure);
  Trial t;
  t.evaluations = evaluations;
  t.x = x.detach();
  t.label_probs = probs().detach();
  if (finite && torch::isfinite(t.x).all().item<bool>()) {
    torch::Tensor loss = problem.L2Distance(problem.PseudoGradient(x, probs()));
    t.loss = loss.item<double>();
    if (!std::isfinite(t.loss)) t.loss = std::numeric_limits<double>::infinity();
  }
  return t;
}

// `z` is the dummy in normalised coordinates (Problem::ToImage).
Trial RunSignedAdam(Problem& problem, const InversionOptions& opt, torch::Tensor z,
                    const torch::Tensor& probs, int64_t restart) {
  torch::optim::Adam adam({z}, torch::optim::AdamOptions(opt.lr));
  // Geiping et al.'s MultiStepLR milestones, computed as their code does
  // (iterations // 2.667, // 1.6, // 1.142: about 3/8, 5/8 and 7/8 of the run;
  // 1799, 3000 and 4203 for 4,800 iterations).
  auto milestone = [&](double divisor) {
    return static_cast<int64_t>(std::floor(static_cast<double>(opt.iterations) / divisor));
  };
  const std::vector<int64_t> milestones{milestone(2.667), milestone(1.6), milestone(1.142)};
  auto matching = [&]() {
    return problem.CosineDistance(problem.PseudoGradient(problem.ToImage(z), probs));
  };
  auto objective = [&]() {
    torch::Tensor loss = matching();
    if (opt.tv_weight > 0) loss = loss + opt.tv_weight * TotalVariation(z);
    return loss;
  };
  torch::Tensor lo, hi;
  if (problem.has_box()) {
    lo = problem.BoxNormalised(false);
    hi = problem.BoxNormalised(true);
  }
  for (int64_t it = 0; it < opt.iterations; ++it) {
    if (opt.lr_decay && std::find(milestones.begin(), milestones.end(), it) != milestones.end() &&
        it > 0) {
      auto& group = adam.param_groups()[0];
      auto& o = static_cast<torch::optim::AdamOptions&>(group.options());
      o.lr(o.lr() * 0.1);
    }
    adam.zero_grad();
    torch::Tensor loss = objective();
    torch::autograd::backward({loss}, {}, false, false, {z});
    if (!std::isfinite(loss.item<double>())) break;
    if (opt.signed_gradients) z.mutable_grad().sign_();
    adam.step();
    if (lo.defined()) {
      torch::NoGradGuard no_grad;
      z.copy_(torch::max(torch::min(z, hi), lo));
    }
    if (opt.on_trace && std::find(opt.trace_iterations.begin(), opt.trace_iterations.end(),
                                  it + 1) != opt.trace_iterations.end()) {
      torch::Tensor img = problem.ToImage(z).detach().contiguous();
      opt.on_trace(restart, it + 1,
                   std::vector<float>(img.data_ptr<float>(), img.data_ptr<float>() + img.numel()));
    }
  }
  Trial t;
  t.evaluations = opt.iterations;
  t.x = problem.ToImage(z).detach();
  t.label_probs = probs;
  // Restarts are ranked by the matching loss alone, as Geiping et al.'s
  // _score_trial does (TV is a prior, not evidence of a match).
  const double v = matching().item<double>();
  if (std::isfinite(v) && torch::isfinite(t.x).all().item<bool>()) t.loss = v;
  return t;
}

}  // namespace

// InferLabels and UnrolledUpdate run LibTorch on the caller's thread; the
// scope keeps their bits independent of the caller's thread count (a label
// read from a near-tie, an update a test compares exactly).
StatusOr<std::vector<int64_t>> InferLabels(const InversionTarget& target) {
  OneIntraOpThread one_thread;
  try {
    CONFML_ASSIGN_OR_RETURN(std::unique_ptr<Problem> problem, Problem::Create(target));
    CONFML_ASSIGN_OR_RETURN(torch::Tensor signal, problem->LastLayerSignal());
    return LabelsFromSignal(signal.contiguous(), target.num_samples);
  } catch (const c10::Error& e) {
    return InvalidArgumentError(std::string("label inference failed: ") + e.what_without_backtrace());
  }
}

StatusOr<std::vector<float>> UnrolledUpdate(const InversionTarget& target,
                                            const std::vector<float>& images,
                                            const std::vector<int64_t>& labels) {
  OneIntraOpThread one_thread;
  try {
    InversionTarget t = target;
    if (t.update.empty()) t.update.assign(t.global_state.size(), 0.0f);
    CONFML_ASSIGN_OR_RETURN(std::unique_ptr<Problem> problem, Problem::Create(t));
    CONFML_RETURN_IF_ERROR(CheckLabels(t, labels));
    std::vector<int64_t> shape{t.num_samples};
    shape.insert(shape.end(), t.sample_shape.begin(), t.sample_shape.end());
    int64_t numel = 1;
    for (int64_t d : shape) numel *= d;
    if (static_cast<int64_t>(images.size()) != numel) {
      return InvalidArgumentError("got " + std::to_string(images.size()) + " image values for " +
                                  std::to_string(numel));
    }
    torch::Tensor x =
        torch::from_blob(const_cast<float*>(images.data()), shape, torch::kFloat32).clone();
    torch::Tensor probs =
        torch::one_hot(torch::tensor(labels), t.num_classes).to(torch::kFloat32);
    torch::Tensor pseudo = problem->Flatten(problem->PseudoGradient(x, probs));
    torch::Tensor update = (-t.recipe.lr * pseudo).detach().contiguous();
    return std::vector<float>(update.data_ptr<float>(), update.data_ptr<float>() + update.numel());
  } catch (const c10::Error& e) {
    return InvalidArgumentError(std::string("unrolling the local update failed: ") +
                                e.what_without_backtrace());
  }
}

StatusOr<Reconstruction> ReconstructFromUpdate(const InversionOptions& options,
                                               const InversionTarget& target, Seed seed) {
  if (options.iterations < 0 || options.restarts < 1 || options.lbfgs_max_iter < 1 ||
      !(options.lr > 0) || options.tv_weight < 0) {
    return InvalidArgumentError(
        "inversion options need iterations >= 0, restarts >= 1, lbfgs_max_iter >= 1, lr > 0 "
        "and tv_weight >= 0");
  }
  try {
    const bool normalized =
        options.method == InversionMethod::kInvertingGradients && options.normalized_coordinates;
    const int64_t n = target.num_samples;
    const int64_t k = target.num_classes;
    std::vector<int64_t> shape{n};
    shape.insert(shape.end(), target.sample_shape.begin(), target.sample_shape.end());

    // Every tensor computation runs at one LibTorch intra-op thread
    // (ForEachAtOneThread), so the reconstruction does not depend on the
    // thread count; restarts are independent and run in parallel, each on
    // its own Problem (a multi-step Problem substitutes its model's weights),
    // restart 0 on the one that reads the labels here.
    std::unique_ptr<Problem> problem;
    torch::Tensor fixed_probs;
    std::vector<int64_t> inferred;
    const bool known = !target.labels.empty();
    CONFML_RETURN_IF_ERROR(ForEachAtOneThread(1, [&](int64_t) -> Status {
      CONFML_ASSIGN_OR_RETURN(problem, Problem::Create(target, normalized));
      if (known) {
        CONFML_RETURN_IF_ERROR(CheckLabels(target, target.labels));
        inferred = target.labels;
        fixed_probs = torch::one_hot(torch::tensor(inferred), k).to(torch::kFloat32);
      } else if (options.method != InversionMethod::kDlg) {
        CONFML_ASSIGN_OR_RETURN(torch::Tensor signal, problem->LastLayerSignal());
        inferred = LabelsFromSignal(signal.contiguous(), n);
        fixed_probs = torch::one_hot(torch::tensor(inferred), k).to(torch::kFloat32);
      }
      return OkStatus();
    }));

    const int64_t local_steps = problem->local_steps();
    std::vector<Trial> trials(static_cast<size_t>(options.restarts));
    std::vector<std::vector<int64_t>> labels(static_cast<size_t>(options.restarts));
    auto restart = [&](int64_t r) -> Status {
      // Restart 0 takes over the Problem built above (nothing changed it but
      // the label read); the others build their own.
      std::unique_ptr<Problem> own;
      if (r == 0) {
        own = std::move(problem);
      } else {
        CONFML_ASSIGN_OR_RETURN(own, Problem::Create(target, normalized));
      }
      // Each restart draws its start from its own stream, so adding restarts
      // keeps the earlier ones unchanged.
      Seed s = seed.Child("restart", static_cast<uint64_t>(r));
      torch::Generator gen = at::detail::createCPUGenerator(s.value());
      torch::Tensor x = at::normal(0.0, 1.0, shape, gen).requires_grad_(true);
      Trial& t = trials[static_cast<size_t>(r)];
      std::vector<int64_t>& trial_labels = labels[static_cast<size_t>(r)];
      trial_labels = inferred;
      if (options.method == InversionMethod::kInvertingGradients) {
        torch::Tensor probs = fixed_probs;
        if (local_steps > 1 && n > 1) {
          // Which sample went into which local step depends on the device's
          // private shuffle, and with large steps the order matters:
          // restart r tries the r-th order (lexicographic) of the inferred
          // labels, or the r-th order after the given one for known labels.
          std::vector<int64_t> order = inferred;
          if (!known) std::sort(order.begin(), order.end());
          for (int64_t i = 0; i < r; ++i) {
            if (!std::next_permutation(order.begin(), order.end())) {
              std::sort(order.begin(), order.end());
            }
          }
          probs = torch::one_hot(torch::tensor(order), k).to(torch::kFloat32);
          trial_labels = order;
        }
        t = RunSignedAdam(*own, options, x, probs, r);
      } else {
        torch::Tensor label_logits;
        if (options.method == InversionMethod::kDlg && !known) {
          label_logits = at::normal(0.0, 1.0, {n, k}, gen).requires_grad_(true);
        }
        t = RunLbfgs(*own, options, x, label_logits, fixed_probs);
      }
      return OkStatus();
    };
    // on_trace sees the restarts one after another, in order.
    CONFML_RETURN_IF_ERROR(ForEachAtOneThread(options.restarts, restart, options.on_trace ? 1 : 0)
                               .WithContext("gradient inversion"));

    Trial best;
    std::vector<int64_t> best_labels;
    int64_t evaluations = 0, best_restart = 0;
    const int64_t run = options.restarts;
    for (int64_t r = 0; r < options.restarts; ++r) {
      const Trial& t = trials[static_cast<size_t>(r)];
      evaluations += t.evaluations;
      if (!best.x.defined() || t.loss < best.loss) {
        best = t;
        best_labels = labels[static_cast<size_t>(r)];
        best_restart = r;
      }
    }

    Reconstruction out;
    torch::Tensor x = best.x.contiguous();
    out.images.assign(x.data_ptr<float>(), x.data_ptr<float>() + x.numel());
    if (!best_labels.empty()) {
      out.labels = best_labels;
    } else {
      torch::Tensor am = best.label_probs.argmax(1).contiguous();
      out.labels.assign(am.data_ptr<int64_t>(), am.data_ptr<int64_t>() + am.numel());
    }
    out.loss = best.loss;
    out.restarts_run = run;
    out.best_restart = best_restart;
    out.evaluations = evaluations;
    out.local_steps = local_steps;
    return out;
  } catch (const c10::Error& e) {
    return InvalidArgumentError(std::string("gradient inversion failed: ") +
                                e.what_without_backtrace());
  }
}

}  // namespace confml::attacks
