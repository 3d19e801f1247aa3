// Membership inference attacks (membership.h): Yeom et al.'s loss threshold
// and Shokri et al.'s shadow models, and the ROC math.
#include <algorithm>
#include <cmath>
#include <limits>
#include <memory>
#include <mutex>
#include <numeric>
#include <string>
#include <vector>

#include "confml/attacks/membership.h"
#include "confml/core/attack.h"
#include "confml/core/model.h"
#include "confml/core/trainer.h"

namespace confml::attacks {

StatusOr<RocCurve> ComputeRoc(const std::vector<double>& scores, const std::vector<int>& labels) {
  if (scores.size() != labels.size()) {
    return InvalidArgumentError("ROC: " + std::to_string(scores.size()) + " scores but " +
                                std::to_string(labels.size()) + " labels");
  }
  int64_t pos = 0, neg = 0;
  for (size_t i = 0; i < scores.size(); ++i) {
    if (labels[i] != 0 && labels[i] != 1) {
      return InvalidArgumentError("ROC: label " + std::to_string(labels[i]) + " at " +
                                  std::to_string(i) + " is not 0 or 1");
    }
    if (!std::isfinite(scores[i])) {
      return InvalidArgumentError("ROC: score at " + std::to_string(i) + " is not finite");
    }
    (labels[i] == 1 ? pos : neg) += 1;
  }
  if (pos == 0 || neg == 0) return InvalidArgumentError("ROC needs members and non-members");
  std::vector<size_t> order(scores.size());
  std::iota(order.begin(), order.end(), size_t{0});
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return scores[a] > scores[b]; });
  RocCurve roc;
  roc.points.push_back({0.0, 0.0});
  int64_t tp = 0, fp = 0;
  double area = 0.0;
  for (size_t k = 0; k < order.size();) {
    // Every sample tied at this score crosses the threshold together.
    const double s = scores[order[k]];
    const int64_t tp0 = tp, fp0 = fp;
    for (; k < order.size() && scores[order[k]] == s; ++k) (labels[order[k]] == 1 ? tp : fp) += 1;
    area += static_cast<double>(fp - fp0) * static_cast<double>(tp + tp0) / 2.0;
    roc.points.push_back({static_cast<double>(fp) / neg, static_cast<double>(tp) / pos});
  }
  roc.auc = area / (static_cast<double>(pos) * static_cast<double>(neg));
  return roc;
}

double TprAtFpr(const RocCurve& roc, double max_fpr) {
  double best = 0.0;
  for (const RocPoint& p : roc.points) {
    if (p.fpr <= max_fpr) best = std::max(best, p.tpr);
  }
  return best;
}

double MaxAdvantage(const RocCurve& roc) {
  double best = 0.0;
  for (const RocPoint& p : roc.points) best = std::max(best, p.tpr - p.fpr);
  return best;
}

namespace {

constexpr double kProbFloor = 1e-12;

std::string ParamsText(const std::string& name, const ParamSet& p) {
  std::string s = name;
  for (const auto& [k, v] : p.values()) s += " " + k + "=" + FormatParamValue(v);
  return s;
}

// Softmax outputs of `model` on `data`, row-major {n, C}. Throws on LibTorch
// errors; Report() converts.
std::vector<float> Probabilities(Model& model, const Dataset& data) {
  torch::NoGradGuard no_grad;
  const bool was_training = model.is_training();
  model.eval();
  torch::Tensor x = FeaturesTensor(data);
  std::vector<float> out;
  for (int64_t start = 0; start < data.size(); start += 1000) {
    const int64_t len = std::min<int64_t>(1000, data.size() - start);
    torch::Tensor p = torch::softmax(model.forward(x.narrow(0, start, len)), 1).contiguous();
    out.insert(out.end(), p.data_ptr<float>(), p.data_ptr<float>() + p.numel());
  }
  model.train(was_training);
  return out;
}

// A one-hidden-layer binary classifier (member / non-member) trained
// full-batch with Adam; weights drawn from our own Rng so that creation needs
// no lock on LibTorch's global generator.
class AttackClassifier {
 public:
  AttackClassifier(int64_t in, int64_t hidden, Rng& rng) {
    auto init = [&](int64_t rows, int64_t cols) {
      std::vector<float> w(static_cast<size_t>(rows * cols));
      const double sd = std::sqrt(2.0 / static_cast<double>(cols));
      for (float& v : w) v = static_cast<float>(sd * rng.Normal());
      return torch::from_blob(w.data(), {rows, cols}, torch::kFloat32).clone().requires_grad_(true);
    };
    w1_ = init(hidden, in);
    b1_ = torch::zeros({hidden}).requires_grad_(true);
    w2_ = init(1, hidden);
    b2_ = torch::zeros({1}).requires_grad_(true);
  }
  torch::Tensor Logits(const torch::Tensor& x) const {
    return torch::nn::functional::linear(torch::relu(torch::nn::functional::linear(x, w1_, b1_)), w2_, b2_)
        .squeeze(1);
  }
  void Fit(const torch::Tensor& x, const torch::Tensor& y, int64_t steps, double lr) {
    torch::optim::Adam opt({w1_, b1_, w2_, b2_}, torch::optim::AdamOptions(lr));
    for (int64_t s = 0; s < steps; ++s) {
      opt.zero_grad();
      torch::Tensor loss = torch::binary_cross_entropy_with_logits(Logits(x), y);
      loss.backward();
      opt.step();
    }
  }

 private:
  torch::Tensor w1_, b1_, w2_, b2_;
};

class MembershipAttack : public Attack {
 public:
  MembershipAttack(std::string name, const ParamSet& p, const AttackEnv& env)
      : name_(std::move(name)),
        config_(ParamsText(name_, p)),
        env_(env),
        num_samples_(p.Int("num_samples")),
        use_final_(p.Bool("use_final_model")) {
    attacker_ = env_.malicious_clients.empty() ? -1 : *env_.malicious_clients.begin();
  }

  std::string name() const override { return name_; }
  AttackRole role() const override { return AttackRole::kDevice; }
  std::string config_text() const override { return config_; }

  void OnGlobalModel(const ClientContext& c, const std::vector<float>& global) override {
    if (c.client_id != attacker_) return;
    model_ = global;
    received_round_ = c.round;
  }
  void OnRoundEnd(const RoundMetrics& m, const std::vector<float>& global) override {
    // A device admitted to the federation also receives the final model
    // (it is deployed to every participant); one never admitted does not.
    if (use_final_ && received_round_ > 0) {
      model_ = global;
      model_round_ = m.round;
    } else if (received_round_ > 0) {
      model_round_ = received_round_;
    }
  }

  StatusOr<AttackReport> ComputeReport() override {
    AttackReport r;
    r.attack = name_;
    r.success_metric = "auc";
    r.higher_is_better = true;
    r.blind_guess = 0.5;
    r.received_input = !model_.empty();
    if (!r.received_input) {
      r.metrics = {{"auc", 0.5}, {"tpr_at_1pct_fpr", 0.01}, {"advantage", 0.0}};
      r.note = attacker_ < 0 ? "no malicious device hosts the attack: blind guess"
                             : "the attacker's device never received a global model: blind guess";
      return r;
    }
    try {
      CONFML_RETURN_IF_ERROR(Score(&r));
    } catch (const std::exception& e) {
      return InternalError(name_ + ": " + e.what());
    }
    return r;
  }

 protected:
  // Scores of target samples (higher: more likely a member). `probs` are the
  // target model's {n, C} outputs, `labels` the samples' labels.
  virtual StatusOr<std::vector<double>> Scores(const std::vector<float>& probs,
                                               const std::vector<int64_t>& labels,
                                               const Dataset& shadow_pool, AttackReport* r) = 0;

  StatusOr<ModelPtr> NewModel(Seed seed) const {
    return CreateModel(env_.model, env_.model_params,
                       ModelContext{env_.test->sample_shape, env_.test->num_classes}, seed);
  }

  std::string name_, config_;
  AttackEnv env_;
  int64_t num_samples_;
  bool use_final_;

 private:
  Status Score(AttackReport* r) {
    if (env_.train == nullptr || env_.test == nullptr || env_.partition == nullptr) {
      return FailedPreconditionError(name_ + " needs the training set, the test set and the partition");
    }
    // Members: training samples of the victims (every client but the
    // attacker's colluders).
    std::vector<int64_t> member_pool;
    for (size_t c = 0; c < env_.partition->size(); ++c) {
      if (env_.malicious_clients.count(static_cast<int64_t>(c))) continue;
      const auto& idx = (*env_.partition)[c];
      member_pool.insert(member_pool.end(), idx.begin(), idx.end());
    }
    std::sort(member_pool.begin(), member_pool.end());
    // The test set splits in two halves: the attacker's own (shadow) data and
    // the non-members it is scored on.
    const Seed seed = env_.seed.Child("membership");
    std::vector<int64_t> perm = seed.Child("split").MakeRng().Permutation(env_.test->size());
    const size_t half = perm.size() / 2;
    std::vector<int64_t> shadow_idx(perm.begin(), perm.begin() + static_cast<std::ptrdiff_t>(half));
    std::vector<int64_t> nonmember_pool(perm.begin() + static_cast<std::ptrdiff_t>(half), perm.end());
    const int64_t n = std::min<int64_t>({num_samples_, static_cast<int64_t>(member_pool.size()),
                                         static_cast<int64_t>(nonmember_pool.size())});
    if (n < 1) return FailedPreconditionError(name_ + ": no members or no non-members to score");
    Rng rng = seed.Child("sample").MakeRng();
    std::vector<int64_t> members, nonmembers;
    for (int64_t k : rng.SampleWithoutReplacement(static_cast<int64_t>(member_pool.size()), n)) {
      members.push_back(member_pool[static_cast<size_t>(k)]);
    }
    for (int64_t k : rng.SampleWithoutReplacement(static_cast<int64_t>(nonmember_pool.size()), n)) {
      nonmembers.push_back(nonmember_pool[static_cast<size_t>(k)]);
    }
    Dataset in = env_.train->Subset(members);
    Dataset out = env_.test->Subset(nonmembers);
    CONFML_ASSIGN_OR_RETURN(ModelPtr target, NewModel(Seed(0)));
    CONFML_RETURN_IF_ERROR(LoadFlatState(*target, model_));
    std::vector<float> probs = Probabilities(*target, in);
    std::vector<float> probs_out = Probabilities(*target, out);
    probs.insert(probs.end(), probs_out.begin(), probs_out.end());
    std::vector<int64_t> labels = in.labels;
    labels.insert(labels.end(), out.labels.begin(), out.labels.end());
    std::vector<int> truth(static_cast<size_t>(2 * n), 0);
    std::fill(truth.begin(), truth.begin() + n, 1);

    CONFML_ASSIGN_OR_RETURN(std::vector<double> scores,
                            Scores(probs, labels, env_.test->Subset(shadow_idx), r));
    CONFML_ASSIGN_OR_RETURN(RocCurve roc, ComputeRoc(scores, truth));
    r->metrics["auc"] = roc.auc;
    r->metrics["tpr_at_1pct_fpr"] = TprAtFpr(roc, 0.01);
    r->metrics["tpr_at_0.1pct_fpr"] = TprAtFpr(roc, 0.001);
    r->metrics["advantage"] = MaxAdvantage(roc);
    r->metrics["members"] = static_cast<double>(n);
    // Mean score per group: the gap behind the AUC (for the loss attack minus
    // each group's mean loss, whose difference is Yeom et al.'s
    // generalization gap); unlike the rank metrics it shows a last-bit change
    // in the scores.
    double sum_in = 0.0, sum_out = 0.0;
    for (int64_t i = 0; i < 2 * n; ++i) {
      (i < n ? sum_in : sum_out) += scores[static_cast<size_t>(i)];
    }
    r->metrics["member_mean_score"] = sum_in / static_cast<double>(n);
    r->metrics["nonmember_mean_score"] = sum_out / static_cast<double>(n);
    r->metrics["model_round"] = static_cast<double>(model_round_);
    // Scoring only: how far the target model overfits.
    int64_t hit_in = 0, hit_out = 0;
    const int64_t c = env_.test->num_classes;
    for (int64_t i = 0; i < 2 * n; ++i) {
      const float* p = probs.data() + i * c;
      const int64_t pred = std::max_element(p, p + c) - p;
      (i < n ? hit_in : hit_out) += pred == labels[static_cast<size_t>(i)];
    }
    r->metrics["member_accuracy"] = static_cast<double>(hit_in) / n;
    r->metrics["nonmember_accuracy"] = static_cast<double>(hit_out) / n;
    r->note = "attacker device " + std::to_string(attacker_) + " scored the model of round " +
              std::to_string(model_round_) + " on " + std::to_string(n) + " members and as many non-members";
    return OkStatus();
  }

  int64_t attacker_ = -1;
  std::vector<float> model_;
  int64_t received_round_ = 0, model_round_ = 0;
};

class LossThreshold : public MembershipAttack {
 public:
  LossThreshold(const ParamSet& p, const AttackEnv& env) : MembershipAttack("membership_loss", p, env) {}

 protected:
  StatusOr<std::vector<double>> Scores(const std::vector<float>& probs,
                                       const std::vector<int64_t>& labels, const Dataset&,
                                       AttackReport*) override {
    // Minus the cross-entropy: members (trained on) have lower loss.
    const size_t c = probs.size() / labels.size();
    std::vector<double> s(labels.size());
    for (size_t i = 0; i < labels.size(); ++i) {
      s[i] = std::log(std::max<double>(probs[i * c + static_cast<size_t>(labels[i])], kProbFloor));
    }
    return s;
  }
};

class ShadowModels : public MembershipAttack {
 public:
  ShadowModels(const ParamSet& p, const AttackEnv& env)
      : MembershipAttack("membership_shadow", p, env),
        num_shadow_(p.Int("num_shadow")),
        shadow_epochs_(p.Int("shadow_epochs")),
        shadow_size_(p.Int("shadow_size")),
        per_class_(p.String("attack_model") == "per_class"),
        attack_steps_(p.Int("attack_steps")) {}

 protected:
  StatusOr<std::vector<double>> Scores(const std::vector<float>& probs,
                                       const std::vector<int64_t>& labels, const Dataset& pool,
                                       AttackReport* r) override {
    const int64_t c = pool.num_classes;
    const Seed seed = env_.seed.Child("membership").Child("shadow");
    // Shadow records: prediction vectors of each shadow model on its own
    // training half (in) and on the other half (out).
    std::vector<float> rec;
    std::vector<int64_t> rec_labels;
    std::vector<float> rec_in;
    const int64_t size = std::min<int64_t>(shadow_size_ > 0 ? shadow_size_ : pool.size() / 2, pool.size() / 2);
    if (size < 1) return FailedPreconditionError("membership_shadow: no shadow data");
    TrainOptions topt;
    topt.epochs = shadow_epochs_;
    topt.batch_size = env_.local_batch_size;
    topt.optimizer.name = env_.optimizer;
    topt.optimizer.lr = env_.learning_rate;
    Trainer trainer(topt);
    double shadow_train_acc = 0.0;
    for (int64_t k = 0; k < num_shadow_; ++k) {
      std::vector<int64_t> perm = seed.Child("split", static_cast<uint64_t>(k)).MakeRng().Permutation(pool.size());
      Dataset in = pool.Subset(std::vector<int64_t>(perm.begin(), perm.begin() + size));
      Dataset out = pool.Subset(std::vector<int64_t>(perm.begin() + size, perm.begin() + 2 * size));
      CONFML_ASSIGN_OR_RETURN(ModelPtr shadow, NewModel(seed.Child("init", static_cast<uint64_t>(k))));
      CONFML_ASSIGN_OR_RETURN(auto hist, trainer.Fit(*shadow, in, nullptr, seed.Child("train", static_cast<uint64_t>(k))));
      if (!hist.empty()) shadow_train_acc += hist.back().train_accuracy;
      for (const Dataset* d : {&in, &out}) {
        std::vector<float> p = Probabilities(*shadow, *d);
        rec.insert(rec.end(), p.begin(), p.end());
        rec_labels.insert(rec_labels.end(), d->labels.begin(), d->labels.end());
        rec_in.insert(rec_in.end(), static_cast<size_t>(d->size()), d == &in ? 1.0f : 0.0f);
      }
    }
    r->metrics["shadow_train_accuracy"] = shadow_train_acc / static_cast<double>(num_shadow_);

    std::vector<double> scores(labels.size(), 0.0);
    Rng rng = seed.Child("attack_model").MakeRng();
    const int64_t groups = per_class_ ? c : 1;
    for (int64_t g = 0; g < groups; ++g) {
      auto rows = [&](const std::vector<int64_t>& lab) {
        std::vector<int64_t> idx;
        for (size_t i = 0; i < lab.size(); ++i) {
          if (!per_class_ || lab[i] == g) idx.push_back(static_cast<int64_t>(i));
        }
        return idx;
      };
      std::vector<int64_t> train_rows = rows(rec_labels), query_rows = rows(labels);
      if (query_rows.empty()) continue;
      torch::Tensor x = Features(rec, train_rows, c);
      std::vector<float> y;
      for (int64_t i : train_rows) y.push_back(rec_in[static_cast<size_t>(i)]);
      torch::Tensor yt = torch::tensor(y);
      const bool both = yt.numel() > 0 && yt.min().item<float>() == 0.0f && yt.max().item<float>() == 1.0f;
      if (!both) continue;  // No shadow evidence for this class: score stays 0 (a tie).
      AttackClassifier clf(c, 64, rng);
      clf.Fit(x, yt, attack_steps_, 1e-2);
      torch::NoGradGuard no_grad;
      torch::Tensor logits = clf.Logits(Features(probs, query_rows, c)).contiguous();
      for (size_t k = 0; k < query_rows.size(); ++k) {
        scores[static_cast<size_t>(query_rows[k])] = logits[static_cast<int64_t>(k)].item<double>();
      }
    }
    return scores;
  }

 private:
  // Shokri et al. feed the prediction vector to a per-class model; a single
  // model cannot tell classes apart, so it sees the vector sorted (Salem et
  // al.'s ML-Leaks variant). Log-probabilities keep 0.999 and 0.99999 apart.
  torch::Tensor Features(const std::vector<float>& probs, const std::vector<int64_t>& rows,
                         int64_t c) const {
    std::vector<float> f;
    f.reserve(rows.size() * static_cast<size_t>(c));
    for (int64_t i : rows) {
      std::vector<float> p(probs.begin() + i * c, probs.begin() + (i + 1) * c);
      if (!per_class_) std::sort(p.begin(), p.end(), std::greater<float>());
      for (float v : p) f.push_back(static_cast<float>(std::log(std::max<double>(v, kProbFloor))));
    }
    return torch::from_blob(f.data(), {static_cast<int64_t>(rows.size()), c}, torch::kFloat32).clone();
  }

  int64_t num_shadow_, shadow_epochs_, shadow_size_;
  bool per_class_;
  int64_t attack_steps_;
};

std::vector<ParamSpec> CommonParams() {
  return {Param::Int("num_samples", 500, "Members scored (and as many non-members).").AtLeast(1),
          Param::Bool("use_final_model", true,
                      "Attack the final global model (an admitted device receives it) rather than "
                      "the last one handed to the attacker during training.")};
}

}  // namespace

Status RegisterMembershipAttacks() {
  static std::once_flag once;
  static Status result;
  std::call_once(once, [] {
    auto& reg = AttackRegistry();
    ComponentSpec loss{"attack", "membership_loss",
                       "Membership inference by loss threshold (Yeom et al., CSF 2018).", CommonParams()};
    ComponentSpec shadow{"attack", "membership_shadow",
                         "Membership inference with shadow models (Shokri et al., S&P 2017).", CommonParams()};
    shadow.params.push_back(Param::Int("num_shadow", 4, "Shadow models trained.").AtLeast(1));
    shadow.params.push_back(
        Param::Int("shadow_epochs", 30, "Epochs per shadow model (the federation's optimizer and lr).").AtLeast(1));
    shadow.params.push_back(
        Param::Int("shadow_size", 0, "Training samples per shadow model; 0: half the attacker's data.").AtLeast(0));
    shadow.params.push_back(Param::String("attack_model", "per_class",
                                          "per_class: one attack model per class (Shokri et al.); "
                                          "single: one model on sorted prediction vectors.")
                                .OneOf({"per_class", "single"}));
    shadow.params.push_back(Param::Int("attack_steps", 300, "Full-batch Adam steps of each attack model.").AtLeast(1));
    for (auto* spec : {&loss, &shadow}) {
      const bool is_loss = spec == &loss;
      Status s = reg.Add(*spec, [is_loss](const ParamSet& p, const AttackEnv& env) -> StatusOr<AttackPtr> {
        if (is_loss) return AttackPtr(std::make_shared<LossThreshold>(p, env));
        return AttackPtr(std::make_shared<ShadowModels>(p, env));
      });
      if (!s.ok() && s.code() != StatusCode::kAlreadyExists && result.ok()) result = s;
    }
  });
  return result;
}

}  // namespace confml::attacks
