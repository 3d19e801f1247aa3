// The inversion attacks as Attack modules: capture updates where the role's
// threat model lets them (runtime: updates received; host: plaintext traffic),
// reconstruct in Report() and score against the victims' true samples.

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "confml/attacks/inversion.h"
#include "confml/core/model.h"

namespace confml::attacks {
namespace {

struct Captured {
  int64_t client_id = 0;
  int64_t num_samples = 0;
  std::vector<float> global;
  std::vector<float> update;
};

struct AttackSettings {
  std::string name;
  InversionOptions options;
  AttackRole role = AttackRole::kRuntime;
  int64_t target_round = 1;
  int64_t max_victims = 1;
  int64_t max_samples = 16;
  // labels: known. The attacker is given the victims' true labels (in the
  // order of their partition; the device's shuffle stays secret).
  bool known_labels = false;
};

class InversionAttack : public Attack {
 public:
  InversionAttack(AttackSettings settings, AttackEnv env)
      : s_(std::move(settings)), env_(std::move(env)) {}

  std::string name() const override { return s_.name; }
  AttackRole role() const override { return s_.role; }
  std::string config_text() const override {
    const InversionOptions& o = s_.options;
    std::string t = s_.name + " position=" + std::string(AttackRoleName(s_.role)) +
                    " iterations=" + std::to_string(o.iterations) +
                    " restarts=" + std::to_string(o.restarts) + " lr=" + std::to_string(o.lr) +
                    " target_round=" + std::to_string(s_.target_round) +
                    " max_victims=" + std::to_string(s_.max_victims) +
                    " max_samples=" + std::to_string(s_.max_samples);
    // Only when not the default, so that the default Program text (and so
    // its measurement) is what it was before the parameter existed.
    if (s_.known_labels) t += " labels=known";
    if (o.method == InversionMethod::kInvertingGradients) {
      t += " tv_weight=" + std::to_string(o.tv_weight) +
           " signed=" + (o.signed_gradients ? std::string("true") : std::string("false")) +
           " lr_decay=" + (o.lr_decay ? std::string("true") : std::string("false"));
    } else {
      t += " lbfgs_max_iter=" + std::to_string(o.lbfgs_max_iter);
    }
    return t;
  }

  void OnUpdatesReceived(int64_t round, const std::vector<float>& global,
                         const std::vector<ClientUpdate>& updates) override {
    if (s_.role != AttackRole::kRuntime || round != s_.target_round) return;
    for (const ClientUpdate& u : updates) Capture(u.client_id, u.num_samples, global, u.values);
  }

  void OnHostEvent(const HostEvent& event) override {
    if (s_.role != AttackRole::kHost || event.round != s_.target_round ||
        event.payload == nullptr) {
      return;
    }
    if (event.kind == HostEvent::Kind::kGlobalToClient) {
      host_globals_[event.client_id] = *event.payload;
      return;
    }
    auto it = host_globals_.find(event.client_id);
    if (it == host_globals_.end()) return;  // Cannot invert a delta without its base model.
    // The sample count travels with the update as FedAvg's weight; the host
    // event carries only the floats, so the attack reads it from the
    // partition (the same number the message would show).
    Capture(event.client_id, PartitionSize(event.client_id), it->second, *event.payload);
  }

  StatusOr<AttackReport> ComputeReport() override;

 private:
  int64_t PartitionSize(int64_t client) const {
    if (env_.partition == nullptr || client < 0 ||
        client >= static_cast<int64_t>(env_.partition->size())) {
      return 0;
    }
    return static_cast<int64_t>((*env_.partition)[static_cast<size_t>(client)].size());
  }

  void Capture(int64_t client, int64_t n, const std::vector<float>& global,
               const std::vector<float>& update) {
    if (static_cast<int64_t>(captured_.size()) >= s_.max_victims) return;
    // The attacker picks small-batch updates: they are the ones it can invert.
    if (n < 1 || n > s_.max_samples || n != PartitionSize(client)) return;
    captured_.push_back({client, n, global, update});
  }

  AttackSettings s_;
  AttackEnv env_;
  std::vector<Captured> captured_;
  std::map<int64_t, std::vector<float>> host_globals_;
};

// Per-channel [min, max] of a dataset: the data's box, and the affine map back
// to [0, 1] when the features were normalised (min and max map to 0 and 1).
void ChannelRange(const Dataset& d, std::vector<float>* lo, std::vector<float>* hi) {
  const int64_t c = d.sample_shape[0];
  const int64_t plane = d.sample_numel() / c;
  lo->assign(static_cast<size_t>(c), std::numeric_limits<float>::infinity());
  hi->assign(static_cast<size_t>(c), -std::numeric_limits<float>::infinity());
  for (int64_t i = 0; i < d.size(); ++i) {
    for (int64_t ch = 0; ch < c; ++ch) {
      const float* p = d.features.data() + i * d.sample_numel() + ch * plane;
      auto [mn, mx] = std::minmax_element(p, p + plane);
      (*lo)[ch] = std::min((*lo)[ch], *mn);
      (*hi)[ch] = std::max((*hi)[ch], *mx);
    }
  }
}

// Per-channel mean and standard deviation: the data's normalisation, public
// preprocessing that Inverting Gradients works in.
void ChannelMoments(const Dataset& d, std::vector<float>* mean, std::vector<float>* stddev) {
  const int64_t c = d.sample_shape[0];
  const int64_t plane = d.sample_numel() / c;
  std::vector<double> s(static_cast<size_t>(c), 0.0), s2(static_cast<size_t>(c), 0.0);
  for (int64_t i = 0; i < d.size(); ++i) {
    for (int64_t ch = 0; ch < c; ++ch) {
      const float* p = d.features.data() + i * d.sample_numel() + ch * plane;
      for (int64_t k = 0; k < plane; ++k) {
        s[ch] += p[k];
        s2[ch] += static_cast<double>(p[k]) * p[k];
      }
    }
  }
  mean->assign(static_cast<size_t>(c), 0.0f);
  stddev->assign(static_cast<size_t>(c), 1.0f);
  const double n = static_cast<double>(std::max<int64_t>(1, d.size() * plane));
  for (int64_t ch = 0; ch < c; ++ch) {
    const double m = s[ch] / n;
    const double var = s2[ch] / n - m * m;
    (*mean)[ch] = static_cast<float>(m);
    (*stddev)[ch] = var > 1e-12 ? static_cast<float>(std::sqrt(var)) : 1.0f;
  }
}

std::vector<float> ToUnitRange(const float* x, const std::vector<int64_t>& shape,
                               const std::vector<float>& lo, const std::vector<float>& hi) {
  const int64_t c = shape[0], plane = shape[1] * shape[2];
  std::vector<float> out(static_cast<size_t>(c * plane));
  for (int64_t ch = 0; ch < c; ++ch) {
    const float span = hi[ch] > lo[ch] ? hi[ch] - lo[ch] : 1.0f;
    for (int64_t i = 0; i < plane; ++i) {
      const float v = (x[ch * plane + i] - lo[ch]) / span;
      out[ch * plane + i] = std::clamp(std::isfinite(v) ? v : 0.0f, 0.0f, 1.0f);
    }
  }
  return out;
}

struct Scored {
  std::vector<std::vector<float>> reconstructions, originals;  // Unit range, matched pairs.
  std::vector<int64_t> rec_labels, true_labels;
};

// The reconstructions paired with the originals by PSNR (MatchByPsnr).
void MatchGreedy(const std::vector<std::vector<float>>& recs, const std::vector<int64_t>& rec_labels,
                 const std::vector<std::vector<float>>& origs,
                 const std::vector<int64_t>& orig_labels, Scored* out) {
  for (const auto& [i, j] : MatchByPsnr(recs, origs)) {
    out->reconstructions.push_back(recs[i]);
    out->rec_labels.push_back(rec_labels[i]);
    out->originals.push_back(origs[j]);
    out->true_labels.push_back(orig_labels[j]);
  }
}

StatusOr<AttackReport> InversionAttack::ComputeReport() {
  const Dataset& train = *env_.train;
  const std::vector<int64_t>& shape = train.sample_shape;
  const int64_t numel = train.sample_numel();
  std::vector<float> lo, hi, mean, stddev;
  ChannelRange(train, &lo, &hi);
  ChannelMoments(train, &mean, &stddev);

  // The attacker's best prior without input: the mean test image, and the
  // most frequent test label.
  const Dataset& prior_set = env_.test != nullptr && env_.test->size() > 0 ? *env_.test : train;
  std::vector<float> mean_image(static_cast<size_t>(numel), 0.0f);
  for (int64_t i = 0; i < prior_set.size(); ++i)
    for (int64_t j = 0; j < numel; ++j) mean_image[j] += prior_set.features[i * numel + j];
  for (float& v : mean_image) v /= static_cast<float>(std::max<int64_t>(1, prior_set.size()));
  std::vector<int64_t> counts = prior_set.ClassCounts();
  const int64_t prior_label =
      std::max_element(counts.begin(), counts.end()) - counts.begin();
  const std::vector<float> prior_unit = ToUnitRange(mean_image.data(), shape, lo, hi);

  AttackReport report;
  report.attack = s_.name;
  report.success_metric = "psnr";
  report.higher_is_better = true;
  report.received_input = !captured_.empty();

  // Victims: the captured clients, or for the blind guess the first clients
  // the attacker would have targeted.
  std::vector<int64_t> victims;
  for (const Captured& c : captured_) victims.push_back(c.client_id);
  if (victims.empty()) {
    for (int64_t c = 0; c < static_cast<int64_t>(env_.partition->size()) &&
                        static_cast<int64_t>(victims.size()) < s_.max_victims;
         ++c) {
      if (PartitionSize(c) > 0) victims.push_back(c);
    }
  }

  Scored scored;
  double blind_sum = 0.0, loss_sum = 0.0;
  int64_t blind_count = 0, steps = 0;
  for (size_t v = 0; v < victims.size(); ++v) {
    const std::vector<int64_t>& idx = (*env_.partition)[static_cast<size_t>(victims[v])];
    std::vector<std::vector<float>> origs;
    std::vector<int64_t> orig_labels;
    for (int64_t i : idx) {
      origs.push_back(ToUnitRange(train.features.data() + i * numel, shape, lo, hi));
      orig_labels.push_back(train.labels[i]);
      blind_sum += ImagePsnr(prior_unit, origs.back());
      ++blind_count;
    }
    std::vector<std::vector<float>> recs;
    std::vector<int64_t> rec_labels;
    if (report.received_input) {
      const Captured& c = captured_[v];
      InversionTarget target;
      target.model = env_.model;
      target.model_params = env_.model_params;
      target.sample_shape = shape;
      target.num_classes = train.num_classes;
      target.global_state = c.global;
      target.update = c.update;
      target.num_samples = c.num_samples;
      target.recipe = {env_.local_epochs, env_.local_batch_size, env_.learning_rate,
                       env_.local_steps};
      target.data_min = lo;
      target.data_max = hi;
      target.data_mean = mean;
      target.data_std = stddev;
      if (s_.known_labels) target.labels = orig_labels;
      CONFML_ASSIGN_OR_RETURN(
          Reconstruction r,
          ReconstructFromUpdate(s_.options, target,
                                env_.seed.Child("victim", static_cast<uint64_t>(c.client_id))));
      for (int64_t i = 0; i < c.num_samples; ++i) {
        recs.push_back(ToUnitRange(r.images.data() + i * numel, shape, lo, hi));
        rec_labels.push_back(r.labels[i]);
      }
      loss_sum += r.loss;
      steps = std::max(steps, r.local_steps);
    } else {
      for (size_t i = 0; i < origs.size(); ++i) {
        recs.push_back(prior_unit);
        rec_labels.push_back(prior_label);
      }
    }
    MatchGreedy(recs, rec_labels, origs, orig_labels, &scored);
  }

  const size_t n = scored.originals.size();
  double mse = 0, psnr = 0, ssim = 0, correct = 0;
  double psnr_min = std::numeric_limits<double>::infinity();
  for (size_t i = 0; i < n; ++i) {
    mse += ImageMse(scored.reconstructions[i], scored.originals[i]);
    const double p = ImagePsnr(scored.reconstructions[i], scored.originals[i]);
    // A bit-exact reconstruction would be +inf; cap so means stay finite.
    psnr += std::min(p, 200.0);
    psnr_min = std::min(psnr_min, p);
    CONFML_ASSIGN_OR_RETURN(double s, ImageSsim(scored.reconstructions[i], scored.originals[i], shape));
    ssim += s;
    correct += scored.rec_labels[i] == scored.true_labels[i] ? 1 : 0;
  }
  const double dn = n > 0 ? static_cast<double>(n) : std::nan("");
  report.metrics["mse"] = mse / dn;
  report.metrics["psnr"] = psnr / dn;
  report.metrics["psnr_min"] = n > 0 ? psnr_min : std::nan("");
  report.metrics["ssim"] = ssim / dn;
  report.metrics["label_accuracy"] = correct / dn;
  report.metrics["images"] = static_cast<double>(n);
  report.metrics["victims"] = static_cast<double>(report.received_input ? victims.size() : 0);
  report.metrics["local_steps"] = static_cast<double>(steps);
  if (report.received_input) report.metrics["matching_loss"] = loss_sum / victims.size();
  report.blind_guess = blind_count > 0 ? blind_sum / blind_count : std::nan("");
  report.metrics["blind_guess_psnr"] = report.blind_guess;

  std::vector<int64_t> array_shape{static_cast<int64_t>(n)};
  array_shape.insert(array_shape.end(), shape.begin(), shape.end());
  AttackArray rec{"reconstruction", array_shape, {}}, orig{"original", array_shape, {}};
  AttackArray rec_l{"reconstruction_labels", {static_cast<int64_t>(n)}, {}};
  AttackArray orig_l{"original_labels", {static_cast<int64_t>(n)}, {}};
  for (size_t i = 0; i < n; ++i) {
    rec.values.insert(rec.values.end(), scored.reconstructions[i].begin(),
                      scored.reconstructions[i].end());
    orig.values.insert(orig.values.end(), scored.originals[i].begin(), scored.originals[i].end());
    rec_l.values.push_back(static_cast<float>(scored.rec_labels[i]));
    orig_l.values.push_back(static_cast<float>(scored.true_labels[i]));
  }
  report.arrays = {std::move(rec), std::move(orig), std::move(rec_l), std::move(orig_l)};
  if (report.received_input) {
    report.note = s_.name + " reconstructed " + std::to_string(n) + " image(s) of " +
                  std::to_string(victims.size()) + " victim(s) from round " +
                  std::to_string(s_.target_round) + " (" + std::to_string(steps) +
                  " local step(s)); mean PSNR " + std::to_string(report.metrics["psnr"]) +
                  " dB vs blind guess " + std::to_string(report.blind_guess) + " dB";
  } else {
    report.note = s_.name + " (" + std::string(AttackRoleName(s_.role)) +
                  ") received no usable update in round " + std::to_string(s_.target_round) +
                  "; scored its blind guess (mean test image)";
  }
  return report;
}

ComponentSpec MakeSpec(const std::string& name, InversionMethod method, const std::string& doc,
                       int64_t iterations, double lr) {
  const bool with_tv = method == InversionMethod::kInvertingGradients;
  // DLG recovers the label with the image (joint); iDLG and Inverting
  // Gradients read it from the last layer's gradient (infer).
  const std::string label_default = method == InversionMethod::kDlg ? "joint" : "infer";
  std::vector<ParamSpec> params{
      Param::String("position", "runtime",
                    "Who runs the attack: 'runtime' inverts the updates it receives; 'host' "
                    "inverts the plaintext traffic it observes (nothing under an attested "
                    "channel).")
          .OneOf({"runtime", "host"}),
      Param::Int("target_round", 1, "The federated round whose updates are attacked.").AtLeast(1),
      Param::Int("max_victims", 1, "How many updates (clients) of that round are attacked.")
          .AtLeast(1),
      Param::Int("max_samples", 16,
                 "Updates from more local samples than this are skipped (the batch to invert).")
          .AtLeast(1),
      Param::Int("iterations", iterations,
                 with_tv ? "Signed-Adam iterations (Geiping et al.: 4800 on CIFAR-10)."
                         : "L-BFGS steps, each up to lbfgs_max_iter iterations (DLG: 300).")
          .AtLeast(0),
      Param::Int("restarts", 1, "Random restarts; the lowest final matching loss wins.").AtLeast(1),
      Param::Double(
          "lr", lr,
          with_tv ? "Adam step size (Geiping et al.: 0.1)." : "L-BFGS learning rate (DLG: 1).")
          .GreaterThan(0.0)
          .AtMost(std::numeric_limits<float>::max()),
      Param::String("labels", label_default,
                    label_default == "joint"
                        ? "joint: a soft label optimised with the image (Zhu et al.); known: "
                          "the victims' true labels are given to the attacker."
                        : "infer: from the sign of the last layer's gradient (iDLG rule); "
                          "known: the victims' true labels are given to the attacker (Geiping "
                          "et al.'s experiments on several images assume known labels).")
          .OneOf({label_default, "known"})};
  if (with_tv) {
    params.push_back(Param::Double("tv_weight", 1e-4,
                                   "Weight of the total-variation prior (Geiping et al.'s "
                                   "release: 1e-4 as a script option, 1e-1 in its default "
                                   "config).")
                         .AtLeast(0.0)
                         .AtMost(std::numeric_limits<float>::max()));
    params.push_back(Param::Bool("signed", true, "Adam on the sign of the gradient."));
    params.push_back(
        Param::Bool("lr_decay", true, "Decay lr by 0.1 at 3/8, 5/8 and 7/8 of the iterations."));
    params.push_back(Param::Bool(
        "normalized_coordinates", false,
        "Optimise, take TV and box the images in the data's normalised coordinates (per-channel "
        "mean and standard deviation), as Geiping et al.'s code does; helps ReLU models."));
  } else {
    params.push_back(Param::Int("lbfgs_max_iter", 20,
                                "Inner iterations per L-BFGS step (torch.optim.LBFGS default, "
                                "as in the DLG code).")
                         .AtLeast(1));
  }
  return ComponentSpec{"attack", name, doc, std::move(params)};
}

Status AddAttack(const std::string& name, InversionMethod method, const std::string& doc,
                 int64_t iterations, double lr) {
  const bool ig = method == InversionMethod::kInvertingGradients;
  return AttackRegistry().Add(
      MakeSpec(name, method, doc, iterations, lr),
      [name, method, ig](const ParamSet& p, const AttackEnv& env) -> StatusOr<AttackPtr> {
        if (env.train == nullptr || env.partition == nullptr) {
          return InvalidArgumentError(name + " needs the training set and the partition to score");
        }
        if (env.train->sample_shape.size() != 3) {
          return InvalidArgumentError(name + " inverts images {C, H, W}; dataset '" +
                                      env.train->name + "' has samples of " +
                                      std::to_string(env.train->sample_shape.size()) +
                                      " dimensions");
        }
        if (env.model.empty()) return InvalidArgumentError(name + " needs the model name");
        AttackSettings s;
        s.name = name;
        s.options.method = method;
        s.options.iterations = p.Int("iterations");
        s.options.restarts = p.Int("restarts");
        s.options.lr = p.Double("lr");
        if (ig) {
          s.options.tv_weight = p.Double("tv_weight");
          s.options.signed_gradients = p.Bool("signed");
          s.options.lr_decay = p.Bool("lr_decay");
          s.options.normalized_coordinates = p.Bool("normalized_coordinates");
        } else {
          s.options.lbfgs_max_iter = p.Int("lbfgs_max_iter");
        }
        s.role = p.String("position") == "host" ? AttackRole::kHost : AttackRole::kRuntime;
        s.target_round = p.Int("target_round");
        s.max_victims = p.Int("max_victims");
        s.max_samples = p.Int("max_samples");
        s.known_labels = p.String("labels") == "known";
        return AttackPtr(std::make_shared<InversionAttack>(std::move(s), env));
      });
}

}  // namespace

Status RegisterInversionAttacks() {
  static const Status result = [] {
    CONFML_RETURN_IF_ERROR(RegisterInversionModels());
    const struct {
      const char* name;
      InversionMethod method;
      const char* doc;
      int64_t iterations;
      double lr;
    } attacks[] = {
        {"dlg", InversionMethod::kDlg,
         "Deep Leakage from Gradients (Zhu et al. 2019): dummy image and soft label matched by "
         "L2 gradient distance with L-BFGS.",
         300, 1.0},
        {"idlg", InversionMethod::kIdlg,
         "iDLG (Zhao et al. 2020): label from the sign of the last layer's gradient, then DLG on "
         "the image.",
         300, 1.0},
        {"inverting_gradients", InversionMethod::kInvertingGradients,
         "Inverting Gradients (Geiping et al. 2020): 1 - cosine similarity + total variation, "
         "signed Adam with step decay, restarts, box constraint; unrolls multi-step FedAvg "
         "updates.",
         4800, 0.1},
    };
    for (const auto& a : attacks) {
      Status s = AddAttack(a.name, a.method, a.doc, a.iterations, a.lr);
      if (!s.ok() && s.code() != StatusCode::kAlreadyExists) return s;
    }
    return OkStatus();
  }();
  return result;
}

}  // namespace confml::attacks
