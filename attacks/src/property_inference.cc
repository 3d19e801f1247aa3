// Passive property inference from consecutive global models (Melis et al.,
// S&P 2019); see property_inference.h and docs/attacks/property_inference.md.
#include "confml/attacks/property_inference.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>
#include <memory>
#include <mutex>
#include <numeric>
#include <set>
#include <string>
#include <vector>

#include "confml/attacks/federation.h"
#include "confml/attacks/membership.h"  // ComputeRoc
#include "confml/core/attack.h"
#include "confml/core/federated.h"
#include "confml/core/model.h"
#include "confml/core/trainer.h"

namespace confml::attacks {
namespace {

constexpr char kName[] = "property_inference";
constexpr double kStdFloor = 1e-8;

std::string ParamsText(const ParamSet& p) {
  std::string s = kName;
  for (const auto& [k, v] : p.values()) s += " " + k + "=" + FormatParamValue(v);
  return s;
}

// What the attacker learns from one pair of consecutive models (rounds t and
// t+1), in feature space: the observed aggregate, its own update of round t,
// and the simulated single-client updates it trained from the model of t.
struct Observation {
  int64_t round = 0;
  std::vector<float> observed;
  std::vector<float> own;  // Zero when it sent nothing in round t.
  std::vector<std::vector<float>> with_property;
  std::vector<std::vector<float>> without_property;
};

class PropertyInference : public Attack {
 public:
  PropertyInference(const ParamSet& p, const AttackEnv& env)
      : config_(ParamsText(p)),
        env_(env),
        property_class_(p.Int("property_class")),
        holder_min_fraction_(p.Double("holder_min_fraction")),
        sim_fraction_(p.Double("sim_property_fraction")),
        sim_client_size_(p.Int("sim_client_size")),
        pool_size_(p.Int("pool_size")),
        examples_per_round_(p.Int("examples_per_round")),
        last_layer_only_(p.String("features") == "last_layer"),
        aux_own_(p.String("aux_data") == "own"),
        classifier_steps_(p.Int("classifier_steps")),
        l2_(p.Double("l2")) {
    attacker_ = env_.malicious_clients.empty() ? -1 : *env_.malicious_clients.begin();
    // Mixing k-1 simulated co-participants needs more distinct simulated
    // clients and more examples as k grows (measured: docs/attacks/property_inference.md).
    const int64_t others = std::max<int64_t>(1, env_.clients_per_round - 1);
    if (pool_size_ == 0) pool_size_ = std::max<int64_t>(8, 2 * others);
    if (examples_per_round_ == 0) examples_per_round_ = std::max<int64_t>(64, 32 * others);
  }

  std::string name() const override { return kName; }
  AttackRole role() const override { return AttackRole::kDevice; }
  std::string config_text() const override { return config_; }

  void OnGlobalModel(const ClientContext& c, const std::vector<float>& global) override {
    // Who took part in which round: ground truth, read only by Report().
    participants_[c.round].insert(c.client_id);
    if (c.client_id != attacker_ || !status_.ok()) return;
    if (!prev_model_.empty() && prev_round_ == c.round - 1) {
      try {
        status_ = Observe(c.round - 1, global);
      } catch (const std::exception& e) {
        status_ = InternalError(std::string(kName) + ": " + e.what());
      }
    }
    prev_model_ = global;
    prev_round_ = c.round;
    own_update_.clear();
  }

  void OnClientUpdate(const ClientContext& c, const std::vector<float>&,
                      ClientUpdate* update) override {
    if (c.client_id == attacker_) own_update_ = update->values;
  }

  StatusOr<AttackReport> ComputeReport() override {
    CONFML_RETURN_IF_ERROR(status_);
    AttackReport r;
    r.attack = kName;
    r.success_metric = "auc";
    r.higher_is_better = true;
    r.blind_guess = 0.5;
    r.received_input = !observations_.empty();
    r.metrics["observed_rounds"] = static_cast<double>(observations_.size());
    if (!r.received_input) {
      r.metrics["auc"] = 0.5;
      r.metrics["accuracy"] = 0.5;
      r.note = attacker_ < 0 ? "no malicious device hosts the attack: blind guess"
                             : "the attacker's device never received two consecutive global "
                               "models: blind guess";
      return r;
    }
    try {
      CONFML_RETURN_IF_ERROR(Score(&r));
    } catch (const std::exception& e) {
      return InternalError(std::string(kName) + ": " + e.what());
    }
    return r;
  }

 private:
  StatusOr<ModelPtr> NewModel(Seed seed) const {
    return CreateModel(env_.model, env_.model_params,
                       ModelContext{env_.train->sample_shape, env_.train->num_classes}, seed);
  }

  // Resolves the feature range, the auxiliary pools and the simulated client
  // size once, from the first pair of models.
  Status Prepare(Model& model) {
    if (prepared_) return OkStatus();
    if (env_.train == nullptr || env_.partition == nullptr || (!aux_own_ && env_.test == nullptr)) {
      return FailedPreconditionError(std::string(kName) +
                                     " needs the training set, the partition and (aux_data=test) "
                                     "the test set");
    }
    if (property_class_ >= env_.train->num_classes) {
      return InvalidArgumentError(std::string(kName) + ": property_class " +
                                  std::to_string(property_class_) + " but the dataset has " +
                                  std::to_string(env_.train->num_classes) + " classes");
    }
    // The last layer is the last weight matrix and bias among the parameters
    // (buffers follow the parameters in the flat state).
    const std::vector<torch::Tensor> params = model.parameters(/*recurse=*/true);
    int64_t total = 0;
    for (const auto& t : params) total += t.numel();
    feature_begin_ = 0;
    feature_size_ = total;
    if (last_layer_only_ && params.size() >= 2) {
      const int64_t tail = params[params.size() - 1].numel() + params[params.size() - 2].numel();
      feature_begin_ = total - tail;
      feature_size_ = tail;
    }
    // Auxiliary data: the held-out test set (never trained on by a victim) or
    // the attacker's own shard.
    aux_ = aux_own_ ? env_.train : env_.test;
    std::vector<int64_t> candidates;
    if (aux_own_) {
      if (attacker_ >= static_cast<int64_t>(env_.partition->size())) {
        return FailedPreconditionError(std::string(kName) + ": attacker has no shard");
      }
      candidates = (*env_.partition)[static_cast<size_t>(attacker_)];
    } else {
      candidates.resize(static_cast<size_t>(aux_->size()));
      std::iota(candidates.begin(), candidates.end(), int64_t{0});
    }
    for (int64_t i : candidates) {
      (aux_->labels[static_cast<size_t>(i)] == property_class_ ? aux_with_ : aux_without_)
          .push_back(i);
    }
    if (aux_with_.empty() || aux_without_.empty()) {
      return FailedPreconditionError(std::string(kName) +
                                     ": the auxiliary data needs samples with and without the "
                                     "property (class " +
                                     std::to_string(property_class_) + ")");
    }
    sim_size_ = sim_client_size_;
    if (sim_size_ == 0 && attacker_ < static_cast<int64_t>(env_.partition->size())) {
      sim_size_ = static_cast<int64_t>((*env_.partition)[static_cast<size_t>(attacker_)].size());
    }
    if (sim_size_ < 2) sim_size_ = 100;
    prepared_ = true;
    return OkStatus();
  }

  std::vector<float> Features(const std::vector<float>& flat) const {
    return std::vector<float>(flat.begin() + feature_begin_,
                              flat.begin() + feature_begin_ + feature_size_);
  }

  // One simulated client: local training, as an honest device does it, from
  // `start` on `sim_size_` auxiliary samples, a fraction `sim_fraction_` of
  // which have the property when `with` is true.
  StatusOr<std::vector<float>> SimulateUpdate(Model& model, const std::vector<float>& start,
                                              bool with, Seed seed) const {
    Rng rng = seed.Child("data").MakeRng();
    const int64_t n_with =
        with ? std::min<int64_t>(static_cast<int64_t>(aux_with_.size()),
                                 std::max<int64_t>(1, std::llround(sim_fraction_ * sim_size_)))
             : 0;
    const int64_t n_without =
        std::min<int64_t>(static_cast<int64_t>(aux_without_.size()), sim_size_ - n_with);
    std::vector<int64_t> idx;
    for (int64_t k : rng.SampleWithoutReplacement(static_cast<int64_t>(aux_with_.size()), n_with)) {
      idx.push_back(aux_with_[static_cast<size_t>(k)]);
    }
    for (int64_t k :
         rng.SampleWithoutReplacement(static_cast<int64_t>(aux_without_.size()), n_without)) {
      idx.push_back(aux_without_[static_cast<size_t>(k)]);
    }
    rng.Shuffle(idx);
    CONFML_RETURN_IF_ERROR(LoadFlatState(model, start));
    // The device's own loop (FederatedEngine's clients run it), with the
    // recipe the attacker knows: one micro-batch per batch, as a device.
    CONFML_RETURN_IF_ERROR(Trainer(ClientTrainOptions(FederatedOptionsOf(env_)))
                               .FitSubset(model, *aux_, idx, seed.Child("train"))
                               .status());
    std::vector<float> delta = FlatState(model);
    for (size_t i = 0; i < delta.size(); ++i) delta[i] -= start[i];
    return Features(delta);
  }

  // The attacker holds the models of rounds t and t+1 (`next`).
  Status Observe(int64_t t, const std::vector<float>& next) {
    const Seed seed = env_.seed.Child(kName).Child("round", static_cast<uint64_t>(t));
    CONFML_ASSIGN_OR_RETURN(ModelPtr model, NewModel(seed.Child("replica")));
    CONFML_RETURN_IF_ERROR(Prepare(*model));
    if (next.size() != prev_model_.size()) {
      return InvalidArgumentError(std::string(kName) + ": global models of different sizes");
    }
    Observation o;
    o.round = t;
    std::vector<float> diff(next.size());
    for (size_t i = 0; i < next.size(); ++i) diff[i] = next[i] - prev_model_[i];
    o.observed = Features(diff);
    o.own = own_update_.size() == next.size()
                ? Features(own_update_)
                : std::vector<float>(static_cast<size_t>(feature_size_), 0.0f);
    for (int64_t k = 0; k < pool_size_; ++k) {
      CONFML_ASSIGN_OR_RETURN(
          std::vector<float> w,
          SimulateUpdate(*model, prev_model_, true, seed.Child("with", static_cast<uint64_t>(k))));
      o.with_property.push_back(std::move(w));
      CONFML_ASSIGN_OR_RETURN(std::vector<float> wo,
                              SimulateUpdate(*model, prev_model_, false,
                                             seed.Child("without", static_cast<uint64_t>(k))));
      o.without_property.push_back(std::move(wo));
    }
    observations_.push_back(std::move(o));
    return OkStatus();
  }

  // Simulated aggregates of one observed round, standardised by their own
  // per-feature mean and spread; `observed` is standardised the same way.
  // Both are the other participants' part of the aggregate (the attacker
  // removes its own update, assuming equal FedAvg weights) scaled to unit
  // norm: the victims' data has been trained on for several rounds while the
  // simulated clients' data is fresh, so magnitudes differ more than
  // directions.
  void Synthesize(const Observation& o, uint64_t index, std::vector<float>* x,
                  std::vector<float>* y, std::vector<float>* observed) const {
    const int64_t k = std::max<int64_t>(2, env_.clients_per_round);  // Attacker included.
    const int64_t others = k - 1;
    Rng rng = env_.seed.Child(kName).Child("mix", index).MakeRng();
    const size_t d = static_cast<size_t>(feature_size_);
    auto unit = [](std::vector<float>& v) {
      double n = 0.0;
      for (float f : v) n += static_cast<double>(f) * f;
      n = std::sqrt(n);
      if (n > 0) {
        for (float& f : v) f = static_cast<float>(f / n);
      }
    };
    std::vector<std::vector<float>> rows;
    for (int64_t e = 0; e < examples_per_round_; ++e) {
      const bool positive = e % 2 == 1;
      const int64_t holders =
          positive ? 1 + static_cast<int64_t>(rng.UniformInt(static_cast<uint64_t>(others))) : 0;
      std::vector<float> row(d, 0.0f);
      for (int64_t j = 0; j < others; ++j) {
        const auto& pool = j < holders ? o.with_property : o.without_property;
        const auto& u = pool[static_cast<size_t>(rng.UniformInt(pool.size()))];
        for (size_t i = 0; i < d; ++i) row[i] += u[i];
      }
      unit(row);
      rows.push_back(std::move(row));
      y->push_back(positive ? 1.0f : 0.0f);
    }
    std::vector<float> obs(d);
    // Consecutive global models differ by server_lr times the aggregate; the
    // own update is removed from the aggregate itself. Dividing only when the
    // step is not 1 keeps FedAvg runs bitwise.
    const float k_eta = env_.server_lr == 1.0
                            ? static_cast<float>(k)
                            : static_cast<float>(static_cast<double>(k) / env_.server_lr);
    for (size_t i = 0; i < d; ++i) obs[i] = k_eta * o.observed[i] - o.own[i];
    unit(obs);
    std::vector<double> mean(d, 0.0), sd(d, 0.0);
    for (const auto& row : rows) {
      for (size_t i = 0; i < d; ++i) mean[i] += row[i];
    }
    for (double& m : mean) m /= static_cast<double>(rows.size());
    for (const auto& row : rows) {
      for (size_t i = 0; i < d; ++i) sd[i] += (row[i] - mean[i]) * (row[i] - mean[i]);
    }
    for (double& s : sd) s = std::sqrt(s / static_cast<double>(rows.size())) + kStdFloor;
    for (const auto& row : rows) {
      for (size_t i = 0; i < d; ++i) x->push_back(static_cast<float>((row[i] - mean[i]) / sd[i]));
    }
    observed->resize(d);
    for (size_t i = 0; i < d; ++i) {
      (*observed)[i] = static_cast<float>((obs[i] - mean[i]) / sd[i]);
    }
  }

  Status Score(AttackReport* r) {
    const int64_t d = feature_size_;
    std::vector<float> x, y, obs;
    std::vector<std::vector<float>> observed(observations_.size());
    for (size_t i = 0; i < observations_.size(); ++i) {
      Synthesize(observations_[i], static_cast<uint64_t>(observations_[i].round), &x, &y,
                 &observed[i]);
    }
    const int64_t n = static_cast<int64_t>(y.size());
    torch::Tensor xt = torch::from_blob(x.data(), {n, d}, torch::kFloat32).clone();
    torch::Tensor yt = torch::from_blob(y.data(), {n}, torch::kFloat32).clone();
    // Logistic regression, full-batch Adam with an L2 penalty: the property
    // classifier of Melis et al. (they also try random forests).
    torch::Tensor w = torch::zeros({d}).requires_grad_(true);
    torch::Tensor b = torch::zeros({1}).requires_grad_(true);
    {
      torch::optim::Adam opt({w, b}, torch::optim::AdamOptions(1e-2));
      for (int64_t s = 0; s < classifier_steps_; ++s) {
        opt.zero_grad();
        torch::Tensor loss = torch::binary_cross_entropy_with_logits(torch::matmul(xt, w) + b, yt) +
                             l2_ * (w * w).sum();
        loss.backward();
        opt.step();
      }
    }
    torch::NoGradGuard no_grad;
    const double train_acc = ((torch::matmul(xt, w) + b).gt(0).to(torch::kFloat32) == yt)
                                 .to(torch::kFloat32)
                                 .mean()
                                 .item<double>();

    std::vector<double> scores;
    std::vector<int> truth;
    int64_t correct = 0;
    for (size_t i = 0; i < observations_.size(); ++i) {
      torch::Tensor o = torch::from_blob(observed[i].data(), {d}, torch::kFloat32);
      const double s = (torch::dot(o, w) + b).item<double>();
      scores.push_back(s);
      const int t = HolderTookPart(observations_[i].round) ? 1 : 0;
      truth.push_back(t);
      correct += (s > 0) == (t == 1);
    }
    const int64_t positives = std::count(truth.begin(), truth.end(), 1);
    r->metrics["positive_rounds"] = static_cast<double>(positives);
    r->metrics["accuracy"] = static_cast<double>(correct) / static_cast<double>(truth.size());
    r->metrics["classifier_train_accuracy"] = train_acc;
    r->metrics["feature_dim"] = static_cast<double>(d);
    const int64_t holders = HonestHolders();
    r->metrics["honest_holders"] = static_cast<double>(holders);
    if (positives == 0 || positives == static_cast<int64_t>(truth.size())) {
      // AUC needs both answers among the scored rounds; say which is missing
      // and why, so a NaN never passes silently.
      r->metrics["auc"] = std::numeric_limits<double>::quiet_NaN();
      if (holders == 0) {
        r->note = "AUC undefined: no device other than the attacker's holds the property (class " +
                  std::to_string(property_class_) + "), so every observed round is negative";
      } else {
        r->note = "AUC undefined: in all " + std::to_string(truth.size()) +
                  " observed rounds a holder " +
                  (positives == 0 ? std::string("never took part") : std::string("always took part")) +
                  " (participation; attack.every_round keeps the attacker in every round)";
      }
    } else {
      CONFML_ASSIGN_OR_RETURN(RocCurve roc, ComputeRoc(scores, truth));
      r->metrics["auc"] = roc.auc;
      r->note = "attacker device " + std::to_string(attacker_) + " scored " +
                std::to_string(truth.size()) + " consecutive-model rounds (" +
                std::to_string(positives) + " with a property holder among the others)";
    }
    AttackArray rounds{"rounds", {static_cast<int64_t>(scores.size())}, {}};
    AttackArray score_arr{"scores", {static_cast<int64_t>(scores.size())}, {}};
    AttackArray truth_arr{"truth", {static_cast<int64_t>(scores.size())}, {}};
    for (size_t i = 0; i < scores.size(); ++i) {
      rounds.values.push_back(static_cast<float>(observations_[i].round));
      score_arr.values.push_back(static_cast<float>(scores[i]));
      truth_arr.values.push_back(static_cast<float>(truth[i]));
    }
    r->arrays = {std::move(rounds), std::move(score_arr), std::move(truth_arr)};
    return OkStatus();
  }

  // Ground truth: did a participant of `round` other than the attacker's
  // colluders hold the property?
  bool HolderTookPart(int64_t round) const {
    auto it = participants_.find(round);
    if (it == participants_.end()) return false;
    for (int64_t c : it->second) {
      if (IsHonestHolder(c)) return true;
    }
    return false;
  }

  bool IsHonestHolder(int64_t c) const {
    if (env_.malicious_clients.count(c)) return false;
    if (c < 0 || c >= static_cast<int64_t>(env_.partition->size())) return false;
    const auto& idx = (*env_.partition)[static_cast<size_t>(c)];
    if (idx.empty()) return false;
    int64_t with = 0;
    for (int64_t i : idx) with += env_.train->labels[static_cast<size_t>(i)] == property_class_;
    return static_cast<double>(with) >= holder_min_fraction_ * static_cast<double>(idx.size());
  }

  int64_t HonestHolders() const {
    int64_t n = 0;
    for (int64_t c = 0; c < static_cast<int64_t>(env_.partition->size()); ++c) {
      n += IsHonestHolder(c) ? 1 : 0;
    }
    return n;
  }

  std::string config_;
  AttackEnv env_;
  int64_t property_class_;
  double holder_min_fraction_, sim_fraction_;
  int64_t sim_client_size_, pool_size_, examples_per_round_;
  bool last_layer_only_, aux_own_;
  int64_t classifier_steps_;
  double l2_;

  int64_t attacker_ = -1;
  Status status_;
  std::map<int64_t, std::set<int64_t>> participants_;
  std::vector<float> prev_model_, own_update_;
  int64_t prev_round_ = -1;
  std::vector<Observation> observations_;

  bool prepared_ = false;
  int64_t feature_begin_ = 0, feature_size_ = 0, sim_size_ = 0;
  const Dataset* aux_ = nullptr;
  std::vector<int64_t> aux_with_, aux_without_;
};

}  // namespace

Status RegisterPropertyInferenceAttack() {
  static std::once_flag once;
  static Status result;
  std::call_once(once, [] {
    ComponentSpec spec{
        "attack",
        kName,
        "Passive property inference from consecutive global models by a malicious device "
        "(Melis et al., S&P 2019).",
        {Param::Int("property_class", 8,
                    "Label whose presence is the property (8: Bag in Fashion-MNIST).")
             .AtLeast(0),
         Param::Double("holder_min_fraction", 0.05,
                       "Ground truth: a victim holds the property when at least this fraction of "
                       "its samples have the property label.")
             .GreaterThan(0)
             .AtMost(1),
         Param::Double("sim_property_fraction", 0.3,
                       "Fraction of property samples in a simulated property holder's data.")
             .GreaterThan(0)
             .AtMost(1),
         Param::Int("sim_client_size", 0,
                    "Samples per simulated client; 0: as many as the attacker's own shard.")
             .AtLeast(0),
         Param::Int("pool_size", 0,
                    "Simulated clients with and (as many) without the property per observed "
                    "round; 0: max(8, 2 (k - 1)) for k clients per round.")
             .AtLeast(0),
         Param::Int("examples_per_round", 0,
                    "Simulated aggregates (classifier training examples) per observed round; 0: "
                    "max(64, 32 (k - 1)).")
             .AtLeast(0),
         Param::String("features", "last_layer",
                       "Part of the update the classifier sees: last_layer or all.")
             .OneOf({"last_layer", "all"}),
         Param::String("aux_data", "test",
                       "Attacker's auxiliary data: test (held-out set) or own (its shard).")
             .OneOf({"test", "own"}),
         Param::Int("classifier_steps", 300, "Full-batch Adam steps of the property classifier.")
             .AtLeast(1),
         Param::Double("l2", 1e-3, "L2 penalty of the property classifier.")
             .AtLeast(0)
             .AtMost(std::numeric_limits<float>::max())}};
    Status s = AttackRegistry().Add(
        spec, [](const ParamSet& p, const AttackEnv& env) -> StatusOr<AttackPtr> {
          if (p.Int("examples_per_round") == 1) {
            return InvalidArgumentError(std::string(kName) +
                                        ": examples_per_round must be 0 (auto) or >= 2, got 1");
          }
          return AttackPtr(std::make_shared<PropertyInference>(p, env));
        });
    if (!s.ok() && s.code() != StatusCode::kAlreadyExists) result = s;
  });
  return result;
}

}  // namespace confml::attacks
