// Issue 8's inversion acceptance as one sweep: the device's local training is
// simulated directly (plain SGD, batches in order, as LocalRecipe says), so a
// table row costs one reconstruction and nothing else. The engine-driven path
// (InversionAttack) is exercised by the attack tests and the experiment
// configs; both end in ReconstructFromUpdate().

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <limits>
#include <map>
#include <memory>
#include <numeric>
#include <string>
#include <vector>

#include "confml/attacks/inversion.h"
#include "confml/core/model.h"
#include "confml/core/thread_scope.h"

namespace confml::attacks {
namespace {

std::vector<float> SampleImage(const Dataset& data, int64_t i) {
  const int64_t numel = data.sample_numel();
  return {data.features.begin() + i * numel, data.features.begin() + (i + 1) * numel};
}

std::vector<float> Clip01(const float* x, int64_t n) {
  std::vector<float> out(x, x + n);
  for (float& v : out) v = std::isfinite(v) ? std::clamp(v, 0.0f, 1.0f) : 0.0f;
  return out;
}

double Mean(const std::vector<double>& v) {
  if (v.empty()) return std::nan("");
  return std::accumulate(v.begin(), v.end(), 0.0) / static_cast<double>(v.size());
}

// PSNR of reconstructions against originals, paired greedily by best PSNR
// (MatchByPsnr); `pairs` (optional) receives (reconstruction, original).
std::vector<double> MatchedPsnr(const std::vector<std::vector<float>>& recs,
                                const std::vector<std::vector<float>>& origs,
                                std::vector<std::pair<size_t, size_t>>* pairs = nullptr) {
  std::vector<double> out;
  for (const auto& [i, j] : MatchByPsnr(recs, origs)) {
    out.push_back(ImagePsnr(recs[i], origs[j]));
    if (pairs) pairs->push_back({i, j});
  }
  return out;
}

}  // namespace

StatusOr<InversionTarget> SimulateDeviceUpdate(const std::string& model,
                                               const std::map<std::string, ParamValue>& model_params,
                                               const Dataset& data,
                                               const std::vector<int64_t>& indices,
                                               const LocalRecipe& recipe, Seed model_seed) {
  if (indices.empty()) return InvalidArgumentError("the device holds no samples");
  for (int64_t i : indices) {
    if (i < 0 || i >= data.size()) {
      return InvalidArgumentError("sample index " + std::to_string(i) + " outside dataset '" +
                                  data.name + "' of " + std::to_string(data.size()));
    }
  }
  if (recipe.epochs < 1 || recipe.batch_size < 1 || !(recipe.lr > 0)) {
    return InvalidArgumentError("local recipe needs epochs >= 1, batch_size >= 1 and lr > 0");
  }
  // The device's training runs here, on the caller's thread: at one intra-op
  // thread its update (and so every reconstruction from it) does not depend
  // on the caller's thread count.
  OneIntraOpThread one_thread;
  try {
    ModelContext ctx{.input_shape = data.sample_shape, .num_classes = data.num_classes};
    CONFML_ASSIGN_OR_RETURN(ModelPtr net, CreateModel(model, model_params, ctx, model_seed));
    InversionTarget t;
    t.model = model;
    t.model_params = model_params;
    t.sample_shape = data.sample_shape;
    t.num_classes = data.num_classes;
    t.global_state = FlatState(*net);
    t.num_samples = static_cast<int64_t>(indices.size());
    t.recipe = recipe;
    const int64_t c = data.sample_shape[0];
    t.data_min.assign(static_cast<size_t>(c), 0.0f);
    t.data_max.assign(static_cast<size_t>(c), 1.0f);
    // The data's normalisation (Inverting Gradients works in it): moments of
    // the whole dataset per channel.
    const int64_t plane = data.sample_numel() / c;
    for (int64_t ch = 0; ch < c; ++ch) {
      double s = 0.0, s2 = 0.0;
      for (int64_t i = 0; i < data.size(); ++i) {
        const float* p = data.features.data() + i * data.sample_numel() + ch * plane;
        for (int64_t k = 0; k < plane; ++k) {
          s += p[k];
          s2 += static_cast<double>(p[k]) * p[k];
        }
      }
      const double n = static_cast<double>(data.size() * plane);
      const double m = s / n, var = s2 / n - m * m;
      t.data_mean.push_back(static_cast<float>(m));
      t.data_std.push_back(var > 1e-12 ? static_cast<float>(std::sqrt(var)) : 1.0f);
    }

    const int64_t n = t.num_samples;
    std::vector<float> x_flat;
    std::vector<int64_t> y;
    for (int64_t i : indices) {
      std::vector<float> img = SampleImage(data, i);
      x_flat.insert(x_flat.end(), img.begin(), img.end());
      y.push_back(data.labels[i]);
    }
    std::vector<int64_t> shape{n};
    shape.insert(shape.end(), data.sample_shape.begin(), data.sample_shape.end());
    torch::Tensor x = torch::from_blob(x_flat.data(), shape, torch::kFloat32).clone();
    torch::Tensor labels = torch::tensor(y);
    net->train();
    const int64_t bs = std::min(recipe.batch_size, n);
    std::vector<torch::Tensor> params = net->parameters();
    for (int64_t e = 0; e < recipe.epochs; ++e) {
      for (int64_t start = 0; start < n; start += bs) {
        const int64_t len = std::min(bs, n - start);
        torch::Tensor loss = torch::nn::functional::cross_entropy(
            net->forward(x.narrow(0, start, len)), labels.narrow(0, start, len));
        std::vector<torch::Tensor> g = torch::autograd::grad({loss}, params);
        torch::NoGradGuard no_grad;
        for (size_t k = 0; k < params.size(); ++k) params[k].sub_(recipe.lr * g[k]);
      }
    }
    std::vector<float> after = FlatState(*net);
    t.update.resize(after.size());
    for (size_t k = 0; k < after.size(); ++k) t.update[k] = after[k] - t.global_state[k];
    return t;
  } catch (const c10::Error& e) {
    return InvalidArgumentError(std::string("simulating the device's update failed: ") +
                                e.what_without_backtrace());
  }
}

StatusOr<InversionCaseResult> RunInversionCase(const Dataset& data, const InversionCase& c) {
  if (data.sample_shape.size() != 3) {
    return InvalidArgumentError("inversion cases need image samples {C, H, W}");
  }
  CONFML_ASSIGN_OR_RETURN(
      InversionTarget target,
      SimulateDeviceUpdate(c.model, c.model_params, data, c.indices, c.recipe,
                           Seed(c.seed).Child("model")));
  if (c.random_gradient) {
    // The control: an update of the same size and norm that carries no
    // information about the images.
    double norm2 = 0.0;
    for (float v : target.update) norm2 += static_cast<double>(v) * v;
    Rng rng = Seed(c.seed).Child("random_update").MakeRng();
    std::vector<float> r(target.update.size());
    double r2 = 0.0;
    for (float& v : r) {
      v = static_cast<float>(rng.Normal());
      r2 += static_cast<double>(v) * v;
    }
    const double scale = r2 > 0 ? std::sqrt(norm2 / r2) : 0.0;
    for (size_t k = 0; k < r.size(); ++k) target.update[k] = static_cast<float>(r[k] * scale);
  }
  std::vector<int64_t> true_labels;
  for (int64_t i : c.indices) true_labels.push_back(data.labels[i]);
  if (c.known_labels) target.labels = true_labels;
  const int64_t numel = data.sample_numel();
  const size_t n = c.indices.size();
  std::vector<std::vector<float>> origs;
  for (size_t i = 0; i < n; ++i) {
    std::vector<float> o = SampleImage(data, c.indices[i]);
    origs.push_back(Clip01(o.data(), numel));
  }
  // Every restart's trace is kept; the winner's is reported.
  std::map<int64_t, std::vector<std::pair<int64_t, double>>> traces;
  InversionOptions options = c.options;
  if (!c.trace_iterations.empty()) {
    options.trace_iterations = c.trace_iterations;
    options.on_trace = [&](int64_t restart, int64_t iteration, const std::vector<float>& images) {
      std::vector<std::vector<float>> recs;
      for (size_t i = 0; i < n; ++i) recs.push_back(Clip01(images.data() + i * numel, numel));
      double sum = 0.0;
      for (double p : MatchedPsnr(recs, origs)) sum += std::min(p, 200.0);
      traces[restart].push_back({iteration, sum / static_cast<double>(n)});
    };
  }
  const auto t0 = std::chrono::steady_clock::now();
  CONFML_ASSIGN_OR_RETURN(Reconstruction rec,
                          ReconstructFromUpdate(options, target, Seed(c.seed).Child("attack")));
  InversionCaseResult out;
  out.psnr_trace = traces[rec.best_restart];
  out.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  out.local_steps = rec.local_steps;
  out.loss = rec.loss;
  out.evaluations = rec.evaluations;

  // Greedy matching by PSNR, as the attack's Report() scores batches.
  std::vector<std::vector<float>> recs;
  for (size_t i = 0; i < n; ++i) recs.push_back(Clip01(rec.images.data() + i * numel, numel));
  std::vector<std::pair<size_t, size_t>> pairs;
  for (double p : MatchedPsnr(recs, origs, &pairs)) out.psnr.push_back(std::min(p, 200.0));
  for (const auto& [i, j] : pairs) {
    CONFML_ASSIGN_OR_RETURN(double s, ImageSsim(recs[i], origs[j], data.sample_shape));
    out.ssim.push_back(s);
  }
  // Labels are scored as a multiset: which reconstruction carries which label
  // is a property of the matching, not of the label attack. With known labels
  // the score is that of the labels the update itself gives away.
  std::vector<int64_t> want = true_labels, got = rec.labels;
  if (c.known_labels) {
    CONFML_ASSIGN_OR_RETURN(got, InferLabels(target));
  }
  int64_t correct = 0;
  for (int64_t l : want) {
    auto it = std::find(got.begin(), got.end(), l);
    if (it != got.end()) {
      ++correct;
      got.erase(it);
    }
  }
  out.label_accuracy = static_cast<double>(correct) / static_cast<double>(n);
  return out;
}

namespace {

struct SweepPlan {
  int64_t ig_iterations, lbfgs_steps, images, seeds, ig_relu_images, ig_cases;
  std::vector<int64_t> ig_batches, ig_steps;
};

SweepPlan PlanFor(SweepSize size) {
  if (size == SweepSize::kDocs) {
    return {.ig_iterations = 4800, .lbfgs_steps = 300, .images = 10, .seeds = 3,
            .ig_relu_images = 5, .ig_cases = 3, .ig_batches = {1, 4, 8},
            .ig_steps = {1, 2, 3, 4, 5}};
  }
  return {.ig_iterations = 300, .lbfgs_steps = 20, .images = 2, .seeds = 1, .ig_relu_images = 1,
          .ig_cases = 1, .ig_batches = {1, 2}, .ig_steps = {1, 2}};
}

// PSNR against iterations at 1/16, 1/8, 1/4, 1/2 and all of the run (300,
// 600, 1,200, 2,400, 4,800 at the published count).
std::vector<int64_t> TracePoints(int64_t iterations) {
  std::vector<int64_t> out;
  for (int64_t d : {16, 8, 4, 2, 1}) {
    const int64_t it = iterations / d;
    if (it > 0 && (out.empty() || out.back() != it)) out.push_back(it);
  }
  return out;
}

// The first `b` samples from `start` on with pairwise distinct labels, as
// Geiping et al.'s rec_mult.py builds its multi-image batches.
std::vector<int64_t> DistinctLabelBatch(const Dataset& data, int64_t start, int64_t b) {
  std::vector<int64_t> idx, seen;
  for (int64_t i = start; i < data.size() && static_cast<int64_t>(idx.size()) < b; ++i) {
    if (std::find(seen.begin(), seen.end(), data.labels[i]) != seen.end()) continue;
    seen.push_back(data.labels[i]);
    idx.push_back(i);
  }
  return idx;
}

bool Wanted(const std::vector<std::string>& tables, const std::string& name) {
  return tables.empty() || std::find(tables.begin(), tables.end(), name) != tables.end();
}

InversionOptions IgOptions(int64_t iterations, double tv_weight, int64_t restarts) {
  InversionOptions o;
  o.method = InversionMethod::kInvertingGradients;
  o.iterations = iterations;
  o.lr = 0.1;
  o.tv_weight = tv_weight;
  o.restarts = restarts;
  return o;
}

InversionOptions LbfgsOptions(InversionMethod method, int64_t steps) {
  InversionOptions o;
  o.method = method;
  o.iterations = steps;
  o.lr = 1.0;
  return o;
}

}  // namespace

std::map<std::string, ParamValue> IgReluModelParams(const SweepOptions& options) {
  return {{"activation", std::string("relu")}, {"init_range", options.relu_init_range}};
}

StatusOr<std::vector<SweepRow>> RunInversionSweep(const Dataset& data, const SweepOptions& options,
                                                  const std::function<void(const SweepRow&)>& progress) {
  SweepPlan plan = PlanFor(options.size);
  if (options.ig_iterations > 0) plan.ig_iterations = options.ig_iterations;
  if (options.ig_cases > 0) plan.ig_cases = options.ig_cases;
  if (options.restarts < 1 || !(options.tv_weight >= 0) || !(options.relu_tv_weight >= 0) ||
      !(options.steps_lr > 0) || !(options.relu_init_range >= 0)) {
    return InvalidArgumentError(
        "sweep options need restarts >= 1, TV weights >= 0, steps_lr > 0 and "
        "relu_init_range >= 0");
  }
  if (data.size() < plan.images * 8) {
    return InvalidArgumentError("the inversion sweep needs at least " +
                                std::to_string(plan.images * 8) + " samples; got " +
                                std::to_string(data.size()));
  }
  std::vector<SweepRow> rows;
  auto run = [&](const std::string& table, const std::string& setting, const InversionCase& c,
                 const std::string& group = "") -> Status {
    CONFML_ASSIGN_OR_RETURN(InversionCaseResult r, RunInversionCase(data, c));
    rows.push_back({table, setting, group.empty() ? setting : group, std::move(r)});
    if (progress) progress(rows.back());
    return OkStatus();
  };
  const std::map<std::string, ParamValue> sigmoid{{"activation", std::string("sigmoid")}};
  const std::map<std::string, ParamValue> relu = IgReluModelParams(options);
  const LocalRecipe one_step{.epochs = 1, .batch_size = 64, .lr = 0.1};

  if (Wanted(options.tables, "idlg")) {
    for (int64_t i = 0; i < plan.images; ++i) {
      InversionCase c{.model_params = sigmoid, .indices = {i}, .recipe = one_step,
                      .seed = static_cast<uint64_t>(100 + i),
                      .options = LbfgsOptions(InversionMethod::kIdlg, plan.lbfgs_steps)};
      CONFML_RETURN_IF_ERROR(run("idlg", "image " + std::to_string(i), c));
    }
  }
  if (Wanted(options.tables, "dlg_joint")) {
    for (int64_t s = 0; s < plan.seeds; ++s) {
      for (int64_t i = 0; i < plan.images; ++i) {
        InversionCase c{.model_params = sigmoid, .indices = {i}, .recipe = one_step,
                        .seed = static_cast<uint64_t>(1000 * (s + 1) + i),
                        .options = LbfgsOptions(InversionMethod::kDlg, plan.lbfgs_steps)};
        CONFML_RETURN_IF_ERROR(run("dlg_joint", "seed " + std::to_string(s) + " image " +
                                                    std::to_string(i), c));
      }
    }
  }
  if (Wanted(options.tables, "dlg_batch4")) {
    for (int64_t s = 0; s < plan.seeds; ++s) {
      InversionCase c{.model_params = sigmoid, .indices = {4 * s, 4 * s + 1, 4 * s + 2, 4 * s + 3},
                      .recipe = one_step, .seed = static_cast<uint64_t>(2000 + s),
                      .options = LbfgsOptions(InversionMethod::kDlg, plan.lbfgs_steps)};
      CONFML_RETURN_IF_ERROR(run("dlg_batch4", "seed " + std::to_string(s), c));
    }
  }
  const std::vector<int64_t> trace = TracePoints(plan.ig_iterations);
  if (Wanted(options.tables, "ig_relu")) {
    for (int64_t i = 0; i < plan.ig_relu_images; ++i) {
      InversionCase c{.model_params = relu, .indices = {i}, .recipe = one_step,
                      .seed = static_cast<uint64_t>(3000 + i),
                      .options = IgOptions(plan.ig_iterations, options.relu_tv_weight,
                                           options.restarts)};
      c.options.normalized_coordinates = true;
      c.trace_iterations = trace;
      CONFML_RETURN_IF_ERROR(run("ig_relu", "image " + std::to_string(i), c));
    }
  }
  // Geiping et al.'s multi-image and multi-step settings on both LeNets. Case
  // k uses the same model initialisation and the same images in every
  // setting of a table, so a column shows the effect of the setting alone.
  // Labels are known, as in their experiments.
  struct IgModel {
    std::string prefix;
    std::map<std::string, ParamValue> params;
    double tv;
    bool normalized;
  };
  const std::vector<IgModel> ig_models{
      {"ig", sigmoid, options.tv_weight, options.sigmoid_normalized},
      {"ig_relu", relu, options.relu_tv_weight, true}};
  for (const IgModel& m : ig_models) {
    const std::string batch_table = m.prefix + "_batch", steps_table = m.prefix + "_steps";
    const bool want_batch = Wanted(options.tables, batch_table);
    const bool want_steps = Wanted(options.tables, steps_table);
    for (int64_t k = 0; k < plan.ig_cases && (want_batch || want_steps); ++k) {
      const uint64_t seed = static_cast<uint64_t>(4000 + k);
      const int64_t start = 100 * k;
      auto ig_case = [&](std::vector<int64_t> idx, LocalRecipe recipe) {
        InversionCase c{.model_params = m.params, .indices = std::move(idx), .recipe = recipe,
                        .seed = seed,
                        .options = IgOptions(plan.ig_iterations, m.tv, options.restarts)};
        c.options.normalized_coordinates = m.normalized;
        c.known_labels = true;
        c.trace_iterations = trace;
        return c;
      };
      const std::string case_name = ", case " + std::to_string(k);
      if (want_batch) {
        for (int64_t b : plan.ig_batches) {
          std::vector<int64_t> idx = DistinctLabelBatch(data, start, b);
          if (static_cast<int64_t>(idx.size()) != b) {
            return InvalidArgumentError("no " + std::to_string(b) + " samples with distinct "
                                        "labels from sample " + std::to_string(start));
          }
          const std::string group = "batch " + std::to_string(b);
          CONFML_RETURN_IF_ERROR(
              run(batch_table, group + case_name, ig_case(idx, one_step), group));
        }
      }
      if (want_steps) {
        // One image, k local SGD steps on it (epochs of batch 1) at
        // options.steps_lr; the attack unrolls the same steps (Geiping et
        // al.'s FedAvgReconstructor with one image).
        for (int64_t steps : plan.ig_steps) {
          const std::string group = std::to_string(steps) + " local steps";
          CONFML_RETURN_IF_ERROR(run(
              steps_table, group + case_name,
              ig_case({start}, {.epochs = steps, .batch_size = 1, .lr = options.steps_lr}), group));
        }
      }
    }
  }
  if (Wanted(options.tables, "control")) {
    // The same attacks fed an uninformative update of equal norm.
    for (bool random : {false, true}) {
      const std::string what = random ? "random update" : "real update";
      InversionCase idlg{.model_params = sigmoid, .indices = {0}, .recipe = one_step,
                         .seed = 6000, .options = LbfgsOptions(InversionMethod::kIdlg,
                                                                plan.lbfgs_steps),
                         .random_gradient = random};
      CONFML_RETURN_IF_ERROR(run("control", "idlg, " + what, idlg));
      InversionCase ig{.model_params = sigmoid, .indices = {0}, .recipe = one_step, .seed = 6000,
                       .options = IgOptions(plan.ig_iterations, options.tv_weight, 1),
                       .random_gradient = random};
      CONFML_RETURN_IF_ERROR(run("control", "inverting_gradients, " + what, ig));
    }
  }
  return rows;
}

std::string FormatSweep(const std::vector<SweepRow>& rows) {
  std::string out;
  std::string table;
  char line[1024];
  auto range = [](const std::vector<double>& v, const char* fmt) {
    if (v.empty()) return std::string();
    char buf[64];
    std::snprintf(buf, sizeof buf, fmt, *std::min_element(v.begin(), v.end()),
                  *std::max_element(v.begin(), v.end()));
    return std::string(buf);
  };
  for (const SweepRow& r : rows) {
    if (r.table != table) {
      table = r.table;
      out += "\n## " + table + "\n| setting | PSNR per image (dB) | mean | range | SSIM mean | "
             "SSIM range | labels | local steps | evaluations | mean PSNR at iteration | "
             "seconds |\n|---|---|---|---|---|---|---|---|---|---|---|\n";
    }
    std::string per, trace;
    for (double p : r.result.psnr) {
      std::snprintf(line, sizeof line, "%s%.1f", per.empty() ? "" : " ", p);
      per += line;
    }
    for (const auto& [it, p] : r.result.psnr_trace) {
      std::snprintf(line, sizeof line, "%s%lld: %.1f", trace.empty() ? "" : ", ",
                    static_cast<long long>(it), p);
      trace += line;
    }
    std::snprintf(line, sizeof line,
                  "| %s | %s | %.1f | %s | %.3f | %s | %.2f | %lld | %lld | %s | %.1f |\n",
                  r.setting.c_str(), per.c_str(), Mean(r.result.psnr),
                  range(r.result.psnr, "%.1f-%.1f").c_str(), Mean(r.result.ssim),
                  range(r.result.ssim, "%.3f-%.3f").c_str(), r.result.label_accuracy,
                  static_cast<long long>(r.result.local_steps),
                  static_cast<long long>(r.result.evaluations), trace.c_str(),
                  r.result.seconds);
    out += line;
  }
  // Per setting over its cases (tables whose rows carry a group).
  std::vector<std::pair<std::string, std::string>> groups;
  for (const SweepRow& r : rows) {
    if (r.group == r.setting) continue;
    const std::pair<std::string, std::string> key{r.table, r.group};
    if (std::find(groups.begin(), groups.end(), key) == groups.end()) groups.push_back(key);
  }
  table.clear();
  for (const auto& [t, g] : groups) {
    if (t != table) {
      table = t;
      out += "\n## " + table + " by setting (all cases)\n| setting | images | PSNR mean | "
             "PSNR range | SSIM mean | SSIM range | labels | mean PSNR at iteration |\n"
             "|---|---|---|---|---|---|---|---|\n";
    }
    std::vector<double> psnr, ssim;
    std::map<int64_t, std::vector<double>> trace;
    double labels = 0.0;
    int64_t cases = 0;
    for (const SweepRow& r : rows) {
      if (r.table != t || r.group != g) continue;
      psnr.insert(psnr.end(), r.result.psnr.begin(), r.result.psnr.end());
      ssim.insert(ssim.end(), r.result.ssim.begin(), r.result.ssim.end());
      for (const auto& [it, p] : r.result.psnr_trace) trace[it].push_back(p);
      labels += r.result.label_accuracy;
      ++cases;
    }
    std::string tr;
    for (const auto& [it, v] : trace) {
      std::snprintf(line, sizeof line, "%s%lld: %.1f", tr.empty() ? "" : ", ",
                    static_cast<long long>(it), Mean(v));
      tr += line;
    }
    std::snprintf(line, sizeof line, "| %s | %zu | %.1f | %s | %.3f | %s | %.2f | %s |\n",
                  g.c_str(), psnr.size(), Mean(psnr), range(psnr, "%.1f-%.1f").c_str(),
                  Mean(ssim), range(ssim, "%.3f-%.3f").c_str(),
                  labels / static_cast<double>(std::max<int64_t>(cases, 1)), tr.c_str());
    out += line;
  }
  // Issue 8's acceptance counts where the tables hold them.
  auto count = [&](const std::string& t, double thr, int64_t* above, int64_t* total,
                   double* labels) {
    *above = *total = 0;
    double l = 0;
    int64_t rows_n = 0;
    for (const SweepRow& r : rows) {
      if (r.table != t) continue;
      for (double p : r.result.psnr) {
        *above += p >= thr ? 1 : 0;
        ++*total;
      }
      l += r.result.label_accuracy;
      ++rows_n;
    }
    *labels = rows_n > 0 ? l / static_cast<double>(rows_n) : std::nan("");
  };
  int64_t a = 0, t = 0;
  double l = 0;
  out += "\n## acceptance (issue 8)\n";
  count("idlg", 60.0, &a, &t, &l);
  if (t > 0) {
    std::snprintf(line, sizeof line, "idlg: %lld of %lld images >= 60 dB, labels %.0f %%\n",
                  static_cast<long long>(a), static_cast<long long>(t), 100 * l);
    out += line;
  }
  count("dlg_joint", 40.0, &a, &t, &l);
  if (t > 0) {
    std::snprintf(line, sizeof line, "dlg_joint: %lld of %lld (image, seed) pairs >= 40 dB, labels %.0f %%\n",
                  static_cast<long long>(a), static_cast<long long>(t), 100 * l);
    out += line;
  }
  for (const SweepRow& r : rows) {
    if (r.table != "dlg_batch4") continue;
    const auto n = std::count_if(r.result.psnr.begin(), r.result.psnr.end(),
                                 [](double p) { return p >= 40.0; });
    std::snprintf(line, sizeof line, "dlg_batch4 %s: %lld of 4 images >= 40 dB\n",
                  r.setting.c_str(), static_cast<long long>(n));
    out += line;
  }
  count("ig_relu", 15.0, &a, &t, &l);
  if (t > 0) {
    std::vector<double> all;
    for (const SweepRow& r : rows) {
      if (r.table == "ig_relu") all.insert(all.end(), r.result.psnr.begin(), r.result.psnr.end());
    }
    std::snprintf(line, sizeof line, "ig_relu: mean %.1f dB, %lld of %lld images >= 15 dB\n",
                  Mean(all), static_cast<long long>(a), static_cast<long long>(t));
    out += line;
  }
  // Inverting Gradients from one image's gradient: 35 dB on the sigmoid
  // LeNet, 15 dB on the untrained ReLU LeNet.
  for (const auto& [t, thr] : {std::pair<std::string, double>{"ig_batch", 35.0},
                               std::pair<std::string, double>{"ig_relu_batch", 15.0}}) {
    std::vector<double> all;
    for (const SweepRow& r : rows) {
      if (r.table == t && r.group == "batch 1") {
        all.insert(all.end(), r.result.psnr.begin(), r.result.psnr.end());
      }
    }
    if (all.empty()) continue;
    const auto above = std::count_if(all.begin(), all.end(), [&](double p) { return p >= thr; });
    std::snprintf(line, sizeof line, "%s batch 1: mean %.1f dB, %lld of %zu images >= %.0f dB\n",
                  t.c_str(), Mean(all), static_cast<long long>(above), all.size(), thr);
    out += line;
  }
  return out;
}

}  // namespace confml::attacks
