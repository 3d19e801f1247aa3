// The poisoning attacks as Attack modules (poisoning.h): data poisoning
// through ClientTrainingData, single-device model poisoning through
// OnClientUpdate, colluding model poisoning through OnRoundUpdates. Their
// base classes PoisoningAttack, DataPoisoningAttack and CollusionAttack are
// public (poisoning_attack.h) and defined below the private attacks.
#include "confml/attacks/poisoning.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <limits>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "confml/attacks/poisoning_attack.h"
#include "confml/core/attack.h"
#include "confml/core/model.h"
#include "confml/core/trainer.h"

namespace confml::attacks {

namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

// Class predictions of `model` on `data`; LibTorch errors become a Status.
StatusOr<std::vector<int64_t>> Predict(Model& model, const Dataset& data) {
  try {
    torch::NoGradGuard no_grad;
    const bool was_training = model.is_training();
    model.eval();
    torch::Tensor x = FeaturesTensor(data);
    std::vector<int64_t> out;
    out.reserve(static_cast<size_t>(data.size()));
    for (int64_t start = 0; start < data.size(); start += 1000) {
      const int64_t len = std::min<int64_t>(1000, data.size() - start);
      torch::Tensor pred = model.forward(x.narrow(0, start, len)).argmax(1).contiguous();
      const int64_t* p = pred.data_ptr<int64_t>();
      out.insert(out.end(), p, p + len);
    }
    model.train(was_training);
    return out;
  } catch (const std::exception& e) {
    return InternalError(std::string("prediction failed: ") + e.what());
  }
}

std::string ParamsText(const std::string& name, const ParamSet& p) {
  std::string s = name;
  for (const auto& [k, v] : p.values()) s += " " + k + "=" + FormatParamValue(v);
  return s;
}

// ---- data poisoning -------------------------------------------------------

class LabelFlip : public DataPoisoningAttack {
 public:
  LabelFlip(const ParamSet& p, const AttackEnv& env) : DataPoisoningAttack("label_flip", p, env) {
    source_ = p.Int("source");
    target_ = p.Int("target");
  }
  Status Init() {
    if (env_.train == nullptr) return InvalidArgumentError("label_flip needs the training set");
    CONFML_ASSIGN_OR_RETURN(map_, LabelFlipMap(env_.train->num_classes, source_, target_));
    return BuildShards([this](int64_t, PoisonedShard* s) {
      for (int64_t& l : s->data.labels) l = map_[static_cast<size_t>(l)];
      return OkStatus();
    });
  }

 protected:
  Status Score(Model& model, AttackReport* r) override {
    // Fraction of test inputs whose label the flip changes that the model
    // now predicts as the flipped label.
    std::vector<int64_t> idx;
    for (int64_t i = 0; i < env_.test->size(); ++i) {
      const int64_t l = env_.test->labels[static_cast<size_t>(i)];
      if (map_[static_cast<size_t>(l)] != l) idx.push_back(i);
    }
    Dataset sub = env_.test->Subset(idx);
    CONFML_ASSIGN_OR_RETURN(std::vector<int64_t> pred, Predict(model, sub));
    int64_t hit = 0;
    for (size_t i = 0; i < pred.size(); ++i)
      hit += pred[i] == map_[static_cast<size_t>(sub.labels[i])];
    r->metrics["flip_success_rate"] = pred.empty() ? kNaN : static_cast<double>(hit) / pred.size();
    return OkStatus();
  }

 private:
  int64_t source_, target_;
  std::vector<int64_t> map_;
};

class TargetedInjection : public DataPoisoningAttack {
 public:
  TargetedInjection(const ParamSet& p, const AttackEnv& env)
      : DataPoisoningAttack("targeted_injection", p, env),
        source_(p.Int("source")),
        target_(p.Int("target")),
        multiplier_(p.Double("multiplier")) {}

  Status Init() {
    if (env_.train == nullptr)
      return InvalidArgumentError("targeted_injection needs the training set");
    const int64_t c = env_.train->num_classes;
    if (source_ >= c || target_ >= c || source_ == target_) {
      return InvalidArgumentError("targeted_injection: source " + std::to_string(source_) +
                                  " and target " + std::to_string(target_) +
                                  " must be distinct classes in [0, " + std::to_string(c) + ")");
    }
    // The crafted samples are real-looking inputs of class `source` (the
    // attacker collects them, e.g. photos of the place it advertises),
    // labelled `target`.
    std::vector<int64_t> pool;
    for (int64_t i = 0; i < env_.train->size(); ++i) {
      if (env_.train->labels[static_cast<size_t>(i)] == source_) pool.push_back(i);
    }
    if (pool.empty())
      return InvalidArgumentError("targeted_injection: no training samples of class " +
                                  std::to_string(source_));
    return BuildShards([&](int64_t id, PoisonedShard* s) {
      Rng rng = env_.seed.Child("inject").Child("client", static_cast<uint64_t>(id)).MakeRng();
      const int64_t count =
          static_cast<int64_t>(std::llround(multiplier_ * static_cast<double>(s->honest_size)));
      std::vector<int64_t> pick(static_cast<size_t>(count));
      for (int64_t& i : pick) i = pool[rng.UniformInt(pool.size())];
      Dataset fake = env_.train->Subset(pick);
      s->data.features.insert(s->data.features.end(), fake.features.begin(), fake.features.end());
      s->data.labels.insert(s->data.labels.end(), fake.labels.size(), target_);
      return OkStatus();
    });
  }

 protected:
  Status Score(Model& model, AttackReport* r) override {
    std::vector<int64_t> idx;
    for (int64_t i = 0; i < env_.test->size(); ++i) {
      if (env_.test->labels[static_cast<size_t>(i)] == source_) idx.push_back(i);
    }
    CONFML_ASSIGN_OR_RETURN(double rate, TargetRate(model, env_.test->Subset(idx), target_));
    r->metrics["success_rate"] = rate;
    r->success_metric = "success_rate";
    return OkStatus();
  }

 private:
  int64_t source_, target_;
  double multiplier_;
};

// Bagdasaryan et al. 2020. Without model replacement it is data poisoning:
// the honest local-training code runs on the device's data plus triggered
// copies. With replacement it is crafted-update code, and then (when
// attacker_epochs > 0) it trains its backdoored model L with its own recipe,
// as the paper's attacker does: more epochs at a lower learning rate with
// step decay, each batch mixing poison_per_batch triggered inputs into clean
// ones, stopping early once the backdoor is learnt; then it sends
// gamma (L - G).
class Backdoor : public DataPoisoningAttack {
 public:
  Backdoor(const ParamSet& p, const AttackEnv& env)
      : DataPoisoningAttack("backdoor", p, env),
        target_(p.Int("target")),
        fraction_(p.Double("poison_fraction")),
        trigger_size_(p.Int("trigger_size")),
        replace_(p.Bool("model_replacement")),
        scale_(p.Double("scale")),
        server_lr_(p.Double("server_lr")),
        passes_(p.Int("local_passes")),
        epochs_(p.Int("attacker_epochs")),
        lr_(p.Double("attacker_lr")),
        momentum_(p.Double("attacker_momentum")),
        weight_decay_(p.Double("attacker_weight_decay")),
        milestones_(p.DoubleList("lr_milestones")),
        lr_decay_(p.Double("lr_decay")),
        batch_size_(p.Int("attacker_batch_size")),
        per_batch_(p.Int("poison_per_batch")),
        stop_loss_(p.Double("stop_loss")),
        alpha_(p.Double("alpha")),
        global_clean_(p.Int("global_clean_inputs")) {
    for (int64_t r : p.IntList("attack_rounds")) rounds_.insert(r);
  }

  // Model replacement scales the update: crafted-update code.
  bool honest_code() const override { return !replace_; }

  Status Init() {
    if (env_.train == nullptr) return InvalidArgumentError("backdoor needs the training set");
    if (target_ >= env_.train->num_classes) {
      return InvalidArgumentError("backdoor: target " + std::to_string(target_) +
                                  " is not a class");
    }
    if (OwnTraining() && per_batch_ >= batch_size_) {
      return InvalidArgumentError("backdoor: poison_per_batch (" + std::to_string(per_batch_) +
                                  ") must be below attacker_batch_size (" +
                                  std::to_string(batch_size_) +
                                  ") so that every batch also holds clean inputs");
    }
    // The runtime's step is public protocol; server_lr > 0 is the attacker's
    // own guess of it instead.
    const double eta = server_lr_ > 0 ? server_lr_ : env_.server_lr;
    gamma_ = scale_ > 0 ? scale_ : static_cast<double>(env_.clients_per_round) / eta;
    trigger_value_ = BrightestTrainValue();
    CONFML_RETURN_IF_ERROR(BuildShards([&](int64_t id, PoisonedShard* s) {
      // The attacker's own inputs of other classes with the trigger in,
      // labelled target (what its own training mixes into every batch), and
      // copies of them making up `fraction_` of the data the honest
      // training code walks.
      Rng rng = env_.seed.Child("backdoor").Child("client", static_cast<uint64_t>(id)).MakeRng();
      return AddStampedCopies(s, target_, fraction_, Checkerboard(), rng, &triggered_pool_[id]);
    }));
    if (OwnTraining() && global_clean_ > 0) {
      // The released code's attacker trains on random batches of the whole
      // training set (200 batches of 64), not on one device's shard.
      Rng rng = env_.seed.Child("backdoor_clean").MakeRng();
      std::vector<int64_t> pick(static_cast<size_t>(global_clean_));
      for (int64_t& i : pick) {
        i = static_cast<int64_t>(rng.UniformInt(static_cast<uint64_t>(env_.train->size())));
      }
      clean_pool_ = env_.train->Subset(pick);
    }
    // local_passes: the honest code may walk the poisoned data several
    // times per local epoch (only without the attacker's own training).
    for (auto& [id, shard] : shards_) {
      const std::vector<int64_t> once = shard.indices;
      for (int64_t k = 1; k < passes_; ++k) {
        shard.indices.insert(shard.indices.end(), once.begin(), once.end());
      }
    }
    return OkStatus();
  }

  void OnClientUpdate(const ClientContext& c, const std::vector<float>& global,
                      ClientUpdate* u) override {
    if (!replace_ || !Active(c.round) || !IsMalicious(c.client_id)) return;
    // L as the honest code trained it on the poisoned shard.
    std::vector<float> local(global.size());
    for (size_t i = 0; i < local.size() && i < u->values.size(); ++i)
      local[i] = global[i] + u->values[i];
    ScoreInto(local, &engine_local_rate_, &engine_local_accuracy_);
    if (OwnTraining()) {
      StatusOr<std::vector<float>> trained = TrainBackdoored(c, global);
      if (trained.ok()) {
        local = std::move(*trained);
      } else {
        // Fall back to the honest code's L; the report says why.
        ++training_failures_;
        last_error_ = trained.status().ToString();
      }
    }
    ScoreInto(local, &local_rate_, &local_accuracy_);
    double sq = 0.0;
    for (size_t i = 0; i < global.size(); ++i) {
      const double d = static_cast<double>(local[i]) - global[i];
      sq += d * d;
    }
    local_distance_ = std::sqrt(sq);
    // Model replacement: X = gamma (L - G), so that averaging with n - 1
    // near-converged benign updates (weight 1/n each) leaves about L.
    u->values.resize(global.size());
    for (size_t i = 0; i < global.size(); ++i) {
      u->values[i] = static_cast<float>(gamma_ * (static_cast<double>(local[i]) - global[i]));
    }
    // Report the honest sample count so that a weighted FedAvg gives this
    // update about the 1/n share the derivation assumes.
    auto it = shards_.find(c.client_id);
    if (it != shards_.end()) u->num_samples = it->second.honest_size;
    pending_local_ = std::move(local);
    pending_global_ = global;
    pending_round_ = c.round;
  }

 protected:
  bool Active(int64_t round) const override { return rounds_.empty() || rounds_.count(round) > 0; }

  void AfterRound(const RoundMetrics& m, const std::vector<float>& global) override {
    if (pending_round_ == m.round && !pending_local_.empty() &&
        pending_local_.size() == global.size()) {
      // How close the aggregate came to L: 0 is exact replacement.
      double num = 0.0, den = 0.0;
      for (size_t i = 0; i < global.size(); ++i) {
        const double d = static_cast<double>(global[i]) - pending_local_[i];
        const double l = static_cast<double>(pending_local_[i]) - pending_global_[i];
        num += d * d;
        den += l * l;
      }
      replacement_error_ = den > 0 ? std::sqrt(num / den) : kNaN;
    }
    pending_local_.clear();
    pending_global_.clear();
    if (rounds_.empty() || env_.test == nullptr) return;
    // Single-shot mode: scored right after each attack round the attacker
    // took part in (replacement is strongest then), and every round after
    // the first one, to show how fast benign rounds wash the backdoor out.
    const bool attacked_now = Active(m.round) && ParticipatedIn(m.round);
    if (!attacked_now && after_attack_round_ == 0) return;
    double rate = kNaN, accuracy = kNaN;
    if (!ScoreInto(global, &rate, &accuracy)) return;
    if (attacked_now) {
      after_attack_rate_ = rate;
      after_attack_accuracy_ = accuracy;
      after_attack_round_ = m.round;
    }
    tracked_rounds_.push_back(static_cast<float>(m.round));
    tracked_rates_.push_back(static_cast<float>(rate));
    tracked_accuracy_.push_back(static_cast<float>(accuracy));
  }

  void OnGlobalModel(const ClientContext& c, const std::vector<float>& g) override {
    PoisoningAttack::OnGlobalModel(c, g);
    if (IsMalicious(c.client_id)) participated_rounds_.insert(c.round);
  }

  Status Score(Model& model, AttackReport* r) override {
    CONFML_ASSIGN_OR_RETURN(double rate, TargetRate(model, Triggered(), target_));
    r->metrics["success_rate"] = rate;
    r->metrics["scale"] = replace_ ? gamma_ : 1.0;
    r->success_metric = "success_rate";
    if (after_attack_round_ > 0) {
      r->metrics["success_rate_after_attack"] = after_attack_rate_;
      r->metrics["test_accuracy_after_attack"] = after_attack_accuracy_;
      r->metrics["attack_round"] = static_cast<double>(after_attack_round_);
    }
    if (replace_ && !std::isnan(local_rate_)) {
      // The attacker's L before scaling (last replacement it sent), and the
      // L the honest code would have given it, to tell a weak L from a
      // replacement that misses.
      r->metrics["local_success_rate"] = local_rate_;
      r->metrics["local_test_accuracy"] = local_accuracy_;
      r->metrics["engine_local_success_rate"] = engine_local_rate_;
      r->metrics["engine_local_test_accuracy"] = engine_local_accuracy_;
      r->metrics["replacement_error"] = replacement_error_;
      r->metrics["local_distance"] = local_distance_;
      r->metrics["attacker_epochs_run"] = static_cast<double>(epochs_run_);
    }
    if (training_failures_ > 0) {
      r->metrics["training_failures"] = static_cast<double>(training_failures_);
      r->note = "the attacker's own training failed " + std::to_string(training_failures_) +
                " time(s), the honest code's L was sent instead; last: " + last_error_;
    }
    if (!tracked_rounds_.empty()) {
      const std::vector<int64_t> shape = {static_cast<int64_t>(tracked_rounds_.size())};
      r->arrays.push_back({"backdoor_rounds", shape, tracked_rounds_});
      r->arrays.push_back({"backdoor_success_by_round", shape, tracked_rates_});
      r->arrays.push_back({"backdoor_test_accuracy_by_round", shape, tracked_accuracy_});
    }
    return OkStatus();
  }

 private:
  bool OwnTraining() const { return replace_ && epochs_ > 0; }
  bool ParticipatedIn(int64_t round) const { return participated_rounds_.count(round) > 0; }

  // Backdoor accuracy and main-task accuracy of a flat state on the test
  // set (scoring only: the attack's decisions never read the test set).
  bool ScoreInto(const std::vector<float>& state, double* rate, double* accuracy) {
    if (env_.test == nullptr) return false;
    StatusOr<ModelPtr> model = ScoringModel();
    if (!model.ok() || !LoadFlatState(**model, state).ok()) return false;
    StatusOr<double> r = TargetRate(**model, Triggered(), target_);
    StatusOr<std::vector<int64_t>> pred = Predict(**model, *env_.test);
    if (!r.ok() || !pred.ok() || pred->empty()) return false;
    int64_t correct = 0;
    for (size_t i = 0; i < pred->size(); ++i) correct += (*pred)[i] == env_.test->labels[i];
    *rate = *r;
    *accuracy = static_cast<double>(correct) / static_cast<double>(pred->size());
    return true;
  }

  // The attacker's own training of L from the global model G on its clean
  // data, every batch holding poison_per_batch triggered inputs.
  StatusOr<std::vector<float>> TrainBackdoored(const ClientContext& c,
                                               const std::vector<float>& global) {
    auto shard = shards_.find(c.client_id);
    auto trig = triggered_pool_.find(c.client_id);
    if (shard == shards_.end() || trig == triggered_pool_.end() || trig->second.size() == 0) {
      return FailedPreconditionError("backdoor: client " + std::to_string(c.client_id) +
                                     " holds no input of a class other than the target to stamp");
    }
    const bool pooled = clean_pool_.size() > 0;
    const Dataset& data = pooled ? clean_pool_ : shard->second.data;
    const Dataset& poison = trig->second;
    const int64_t n = pooled ? clean_pool_.size() : shard->second.honest_size;
    const int64_t numel = data.sample_numel();
    const int64_t clean_per_batch = batch_size_ - per_batch_;
    try {
      CONFML_ASSIGN_OR_RETURN(
          ModelPtr model, CreateModel(env_.model, env_.model_params,
                                      ModelContext{data.sample_shape, data.num_classes}, Seed(0)));
      CONFML_RETURN_IF_ERROR(LoadFlatState(*model, global));
      const Seed seed = env_.seed.Child("backdoor_train")
                            .Child("round", static_cast<uint64_t>(c.round))
                            .Child("client", static_cast<uint64_t>(c.client_id));
      model->SetGenerator(at::detail::createCPUGenerator(seed.Child("dropout").value()));
      model->train();
      torch::optim::SGD opt(
          model->parameters(),
          torch::optim::SGDOptions(lr_).momentum(momentum_).weight_decay(weight_decay_));
      Rng rng = seed.MakeRng();
      // Constrain-and-scale: G's parameters, to penalise L's distance to them.
      std::vector<torch::Tensor> anchor;
      if (alpha_ < 1.0) {
        for (const torch::Tensor& t : model->parameters()) anchor.push_back(t.detach().clone());
      }
      std::vector<int64_t> sample_shape = {0};
      sample_shape.insert(sample_shape.end(), data.sample_shape.begin(), data.sample_shape.end());
      epochs_run_ = 0;
      for (int64_t e = 0; e < epochs_; ++e) {
        for (auto& group : opt.param_groups()) {
          static_cast<torch::optim::SGDOptions&>(group.options())
              .lr(BackdoorEpochLr(lr_, milestones_, lr_decay_, epochs_, e + 1));
        }
        const std::vector<int64_t> perm = rng.Permutation(n);
        for (int64_t start = 0; start < n; start += clean_per_batch) {
          const int64_t clean = std::min(clean_per_batch, n - start);
          const int64_t rows = clean + per_batch_;
          std::vector<float> x(static_cast<size_t>(rows * numel));
          std::vector<int64_t> y(static_cast<size_t>(rows));
          for (int64_t k = 0; k < clean; ++k) {
            const int64_t i = perm[static_cast<size_t>(start + k)];
            std::copy_n(data.features.begin() + i * numel, numel, x.begin() + k * numel);
            y[static_cast<size_t>(k)] = data.labels[static_cast<size_t>(i)];
          }
          for (int64_t k = clean; k < rows; ++k) {
            const int64_t i =
                static_cast<int64_t>(rng.UniformInt(static_cast<uint64_t>(poison.size())));
            std::copy_n(poison.features.begin() + i * numel, numel, x.begin() + k * numel);
            y[static_cast<size_t>(k)] = target_;
          }
          sample_shape[0] = rows;
          torch::Tensor xb = torch::from_blob(x.data(), sample_shape, torch::kFloat32);
          torch::Tensor yb = torch::from_blob(y.data(), {rows}, torch::kInt64);
          opt.zero_grad();
          torch::Tensor loss = torch::nn::functional::cross_entropy(model->forward(xb), yb);
          if (!anchor.empty()) {
            torch::Tensor sq = torch::zeros({}, torch::kFloat32);
            const std::vector<torch::Tensor> params = model->parameters();
            for (size_t k = 0; k < params.size(); ++k)
              sq = sq + (params[k] - anchor[k]).pow(2).sum();
            // The epsilon keeps the gradient finite at L = G, where training starts.
            loss = alpha_ * loss + (1.0 - alpha_) * (sq + 1e-12).sqrt();
          }
          if (!std::isfinite(loss.item<double>())) {
            return InternalError("backdoor: non-finite loss in the attacker's epoch " +
                                 std::to_string(e + 1));
          }
          loss.backward();
          opt.step();
        }
        ++epochs_run_;
        // "Until the backdoor is learnt": the loss on its own triggered
        // inputs (the released code stops at 1e-4 on its poisoned set).
        if (stop_loss_ > 0 && Evaluate(*model, poison).loss <= stop_loss_) break;
      }
      return FlatState(*model);
    } catch (const std::exception& ex) {
      return InternalError(std::string("backdoor: the attacker's training failed: ") + ex.what());
    }
  }

  // The checkerboard trigger (StampTrigger) of this attack's size and value.
  Stamp Checkerboard() const {
    return [size = trigger_size_, value = trigger_value_](const std::vector<int64_t>& shape,
                                                          float* sample) {
      return StampTrigger(shape, size, value, sample);
    };
  }

  // Test inputs of other classes with the trigger stamped in (empty when
  // the test set's shape cannot take it: the rate is then NaN).
  const Dataset& Triggered() {
    if (triggered_.size() == 0 && env_.test != nullptr) {
      StatusOr<Dataset> t = StampedTestInputs(target_, Checkerboard());
      if (t.ok()) triggered_ = std::move(*t);
    }
    return triggered_;
  }

  int64_t target_;
  double fraction_;
  int64_t trigger_size_;
  bool replace_;
  double scale_, server_lr_, gamma_ = 1.0;
  int64_t passes_ = 1;
  int64_t epochs_;
  double lr_, momentum_, weight_decay_;
  std::vector<double> milestones_;
  double lr_decay_;
  int64_t batch_size_, per_batch_;
  double stop_loss_;
  double alpha_;
  int64_t global_clean_;
  // With global_clean_inputs > 0: the attacker's clean inputs, drawn from
  // the whole training set (the released code's attacker data).
  Dataset clean_pool_;
  float trigger_value_ = 0.0f;
  std::map<int64_t, Dataset> triggered_pool_;
  std::set<int64_t> rounds_, participated_rounds_;
  Dataset triggered_;
  int64_t after_attack_round_ = 0;
  double after_attack_rate_ = kNaN, after_attack_accuracy_ = kNaN;
  double local_rate_ = kNaN, local_accuracy_ = kNaN;
  double engine_local_rate_ = kNaN, engine_local_accuracy_ = kNaN;
  double replacement_error_ = kNaN, local_distance_ = kNaN;
  int64_t epochs_run_ = 0, training_failures_ = 0;
  std::string last_error_;
  std::vector<float> pending_local_, pending_global_;
  int64_t pending_round_ = 0;
  std::vector<float> tracked_rounds_, tracked_rates_, tracked_accuracy_;
};

// ---- single-device model poisoning ----------------------------------------

class SignFlip : public PoisoningAttack {
 public:
  SignFlip(const ParamSet& p, const AttackEnv& env)
      : PoisoningAttack("sign_flip", p, env), scale_(p.Double("scale")) {}
  void OnClientUpdate(const ClientContext& c, const std::vector<float>&, ClientUpdate* u) override {
    if (!IsMalicious(c.client_id)) return;
    for (float& v : u->values) v = static_cast<float>(-scale_ * v);
  }

 private:
  double scale_;
};

class GaussianNoise : public PoisoningAttack {
 public:
  GaussianNoise(const ParamSet& p, const AttackEnv& env)
      : PoisoningAttack("gaussian_noise", p, env),
        std_(p.Double("std")),
        additive_(p.Bool("additive")) {}
  void OnClientUpdate(const ClientContext& c, const std::vector<float>&, ClientUpdate* u) override {
    if (!IsMalicious(c.client_id)) return;
    Rng rng = env_.seed.Child("gaussian")
                  .Child("round", static_cast<uint64_t>(c.round))
                  .Child("client", static_cast<uint64_t>(c.client_id))
                  .MakeRng();
    for (float& v : u->values) {
      const float noise = static_cast<float>(std_ * rng.Normal());
      v = additive_ ? v + noise : noise;
    }
  }

 private:
  double std_;
  bool additive_;
};

class Scaling : public PoisoningAttack {
 public:
  Scaling(const ParamSet& p, const AttackEnv& env)
      : PoisoningAttack("scaling", p, env), factor_(p.Double("factor")) {}
  void OnClientUpdate(const ClientContext& c, const std::vector<float>&, ClientUpdate* u) override {
    if (!IsMalicious(c.client_id)) return;
    for (float& v : u->values) v = static_cast<float>(factor_ * v);
  }

 private:
  double factor_;
};

// ---- colluding model poisoning --------------------------------------------

class Alie : public CollusionAttack {
 public:
  Alie(const ParamSet& p, const AttackEnv& env)
      : CollusionAttack("alie", p, env), z_(p.Double("z")) {}

 protected:
  Status Craft(int64_t, const Updates& known, const std::vector<float>&, int64_t m, int64_t n,
               Updates* out) override {
    double z = z_;
    if (z <= 0) {
      CONFML_ASSIGN_OR_RETURN(z, AlieZ(n, m));
    }
    CONFML_ASSIGN_OR_RETURN(std::vector<float> u, AlieUpdate(known, z));
    Record("mean_z", z);
    out->assign(1, std::move(u));
    return OkStatus();
  }

 private:
  double z_;
};

// Inner Product Manipulation (Xie, Koyejo and Gupta, UAI 2019): every
// malicious device sends -epsilon times the mean of the updates it knows. A
// small epsilon keeps the copies next to the benign ones, so median and Krum
// keep or select them, yet the global step's inner product with the benign
// mean turns negative; a large epsilon does the same to a plain mean. The
// report adds the paper's quantity: the cosine of each round's global step
// with that mean (`mean_step_cosine`) and the rounds it was negative.
class Ipm : public CollusionAttack {
 public:
  Ipm(const ParamSet& p, const AttackEnv& env)
      : CollusionAttack("ipm", p, env), epsilon_(p.Double("epsilon")) {}

 protected:
  Status Craft(int64_t, const Updates& known, const std::vector<float>& global, int64_t, int64_t,
               Updates* out) override {
    CONFML_ASSIGN_OR_RETURN(std::vector<float> u, IpmUpdate(known, epsilon_));
    crafted_ = u;
    before_ = global;
    out->assign(1, std::move(u));
    return OkStatus();
  }
  void AfterRound(const RoundMetrics&, const std::vector<float>& global) override {
    if (before_.size() != global.size() || crafted_.size() != global.size()) return;
    // The crafted update is -epsilon times the mean, so the step's cosine
    // with the mean is minus its cosine with the crafted update.
    double dot = 0.0, step_sq = 0.0, crafted_sq = 0.0;
    for (size_t j = 0; j < global.size(); ++j) {
      const double step = static_cast<double>(global[j]) - before_[j];
      dot += step * crafted_[j];
      step_sq += step * step;
      crafted_sq += static_cast<double>(crafted_[j]) * crafted_[j];
    }
    before_.clear();
    crafted_.clear();
    if (step_sq == 0 || crafted_sq == 0) return;
    Record("mean_step_cosine", -dot / std::sqrt(step_sq * crafted_sq));
    reversed_rounds_ += dot > 0;
  }
  Status Score(Model& model, AttackReport* r) override {
    CONFML_RETURN_IF_ERROR(CollusionAttack::Score(model, r));
    r->metrics["epsilon"] = epsilon_;
    r->metrics["reversed_rounds"] = static_cast<double>(reversed_rounds_);
    return OkStatus();
  }

 private:
  double epsilon_;
  std::vector<float> crafted_, before_;  // Of the round in flight.
  int64_t reversed_rounds_ = 0;
};

class FangKrum : public CollusionAttack {
 public:
  FangKrum(const ParamSet& p, const AttackEnv& env)
      : CollusionAttack("fang_krum", p, env), epsilon_(p.Double("epsilon")) {}

 protected:
  Status Craft(int64_t, const Updates& known, const std::vector<float>&, int64_t m, int64_t n,
               Updates* out) override {
    CONFML_ASSIGN_OR_RETURN(FangKrumResult r, FangKrumAttack(known, m, n, epsilon_));
    Record("mean_lambda", r.lambda);
    // Share of rounds whose simulated Krum picks a crafted copy; in the others
    // the search ran below epsilon and Krum keeps a benign update.
    Record("selected_share", r.selected ? 1.0 : 0.0);
    out->assign(1, std::move(r.update));
    return OkStatus();
  }

 private:
  double epsilon_;
};

// Coordinate-wise median (kMedian) or trimmed mean with k trimmed per side
// of `u`, the two rules Fang et al.'s Section 4.3 attack targets; used only
// for the attack's diagnostics below.
std::vector<double> CoordinateRule(const Updates& u, bool median, size_t k) {
  const size_t n = u.size(), dim = u[0].size();
  std::vector<double> out(dim), col(n);
  for (size_t j = 0; j < dim; ++j) {
    for (size_t i = 0; i < n; ++i) col[i] = u[i][j];
    std::sort(col.begin(), col.end());
    if (median) {
      out[j] = n % 2 == 1 ? col[n / 2] : 0.5 * (col[n / 2 - 1] + col[n / 2]);
    } else {
      double sum = 0.0;
      for (size_t i = k; i < n - k; ++i) sum += col[i];
      out[j] = sum / static_cast<double>(n - 2 * k);
    }
  }
  return out;
}

class FangTrimmedMean : public CollusionAttack {
 public:
  FangTrimmedMean(const ParamSet& p, const AttackEnv& env, DirectionRule rule)
      : CollusionAttack("fang_trimmed_mean", p, env),
        b_(p.Double("b")),
        rule_(rule),
        diagnostics_(p.Bool("diagnostics")) {}

 protected:
  Status Craft(int64_t round, const Updates& known, const std::vector<float>& global, int64_t m,
               int64_t n, Updates* out) override {
    Rng rng =
        env_.seed.Child("fang_trimmed_mean").Child("round", static_cast<uint64_t>(round)).MakeRng();
    // s_j is the change of the global model "when there are no attacks"
    // (Section 4): under full knowledge, over every device's before-attack
    // update, the malicious devices' own honest ones included; under partial
    // knowledge over those alone.
    Updates before = known;
    const Updates* own = own_updates();
    const bool have_benign = full_knowledge() && own != nullptr && &known != own;
    if (have_benign) before.insert(before.end(), own->begin(), own->end());
    const double beta = static_cast<double>(m) / static_cast<double>(n);
    CONFML_ASSIGN_OR_RETURN(
        std::vector<float> s,
        ChangeDirection(before, rule_, rule_ == DirectionRule::kTrimmedMean ? beta : 0.0));
    CONFML_ASSIGN_OR_RETURN(*out,
                            FangTrimmedMeanAttack(known, global, s, m, full_knowledge(), b_, rng));
    if (diagnostics_ && have_benign) Diagnose(before, known, *out, m);
    return OkStatus();
  }

 private:
  // How far the attack moves what trimmed mean (beta = m/n) and median would
  // aggregate: |attacked - clean| / |clean|, the projection of the attacked
  // step on the clean one, and the share of coordinates that the attacked
  // aggregate moves against the clean one. Both rules discard the crafted
  // values (they lie beyond the benign extremes), so the shift is bounded by
  // the spread of the benign updates.
  void Diagnose(const Updates& before, const Updates& benign, const Updates& crafted, int64_t m) {
    Updates attacked = benign;
    attacked.insert(attacked.end(), crafted.begin(), crafted.end());
    const size_t k = static_cast<size_t>(m);
    for (bool median : {false, true}) {
      if (!median && 2 * k >= before.size()) continue;  // Trimming would leave nothing.
      const std::vector<double> clean = CoordinateRule(before, median, k);
      const std::vector<double> att = CoordinateRule(attacked, median, k);
      double shift = 0.0, norm = 0.0, along = 0.0;
      int64_t reversed = 0;
      for (size_t j = 0; j < clean.size(); ++j) {
        shift += (att[j] - clean[j]) * (att[j] - clean[j]);
        norm += clean[j] * clean[j];
        along += att[j] * clean[j];
        if (att[j] * clean[j] < 0) ++reversed;
      }
      const std::string rule = median ? "median" : "trimmed_mean";
      Record(rule + "_shift_ratio", norm > 0 ? std::sqrt(shift / norm) : 0.0);
      // How much of the clean step survives along its own direction: 1 = no
      // effect, 0 = the round makes no progress, < 0 = the model moves back.
      Record(rule + "_progress_ratio", norm > 0 ? along / norm : 0.0);
      Record(rule + "_reversed_fraction",
             static_cast<double>(reversed) / static_cast<double>(clean.size()));
    }
  }

  double b_;
  DirectionRule rule_;
  bool diagnostics_;
};

class MinMax : public CollusionAttack {
 public:
  MinMax(const std::string& name, const ParamSet& p, const AttackEnv& env, Perturbation pert)
      : CollusionAttack(name, p, env),
        min_sum_(name == "min_sum"),
        pert_(pert),
        gamma_init_(p.Double("gamma_init")) {}

 protected:
  Status Craft(int64_t, const Updates& known, const std::vector<float>&, int64_t, int64_t,
               Updates* out) override {
    CONFML_ASSIGN_OR_RETURN(MinMaxResult r, MinMaxAttack(known, pert_, min_sum_, gamma_init_));
    Record("mean_gamma", r.gamma);
    out->assign(1, std::move(r.update));
    return OkStatus();
  }

 private:
  bool min_sum_;
  Perturbation pert_;
  double gamma_init_;
};

template <typename T>
StatusOr<AttackPtr> Built(std::shared_ptr<T> a) {
  CONFML_RETURN_IF_ERROR(a->Init());
  return AttackPtr(std::move(a));
}

}  // namespace

// ---- the family's base classes (poisoning_attack.h) -------------------------

ParamSpec KnowledgeParam() {
  return Param::String("knowledge", "full",
                       "full: the attacker sees the benign clients' updates of the round; partial: "
                       "only its own devices' honest updates (Fang et al. Section 4.1).")
      .OneOf({"full", "partial"});
}

PoisoningAttack::PoisoningAttack(std::string name, const ParamSet& params, const AttackEnv& env)
    : name_(std::move(name)), env_(env), config_(ParamsText(name_, params)) {}

void PoisoningAttack::OnGlobalModel(const ClientContext& c, const std::vector<float>&) {
  if (IsMalicious(c.client_id)) ++participations_;
}

void PoisoningAttack::OnRoundEnd(const RoundMetrics& m, const std::vector<float>& global) {
  final_ = global;
  AfterRound(m, global);
}

StatusOr<AttackReport> PoisoningAttack::ComputeReport() {
  AttackReport r;
  r.attack = name_;
  r.success_metric = "test_error";
  r.higher_is_better = true;
  // Without input the attacker changes nothing: its outcome is the clean
  // run's, which only a second run measures.
  r.blind_guess = kNaN;
  r.received_input = participations_ > 0;
  r.metrics["malicious_participations"] = static_cast<double>(participations_);
  r.metrics["malicious_clients"] = static_cast<double>(env_.malicious_clients.size());
  if (final_.empty() || env_.test == nullptr) {
    r.metrics["test_error"] = r.metrics["test_accuracy"] = kNaN;
    r.note = "no round completed or no test set: nothing to score";
    return r;
  }
  CONFML_ASSIGN_OR_RETURN(ModelPtr model, ScoringModel());
  CONFML_RETURN_IF_ERROR(LoadFlatState(*model, final_));
  CONFML_ASSIGN_OR_RETURN(std::vector<int64_t> pred, Predict(*model, *env_.test));
  int64_t correct = 0;
  for (size_t i = 0; i < pred.size(); ++i) correct += pred[i] == env_.test->labels[i];
  const double acc = pred.empty() ? kNaN : static_cast<double>(correct) / pred.size();
  r.metrics["test_accuracy"] = acc;
  r.metrics["test_error"] = 1.0 - acc;
  CONFML_RETURN_IF_ERROR(Score(*model, &r));
  if (r.note.empty()) {
    r.note = r.received_input ? "malicious devices took part in " +
                                    std::to_string(participations_) + " client-rounds"
                              : "no malicious device took part: the run is clean";
  }
  return r;
}

bool PoisoningAttack::IsMalicious(int64_t client_id) const {
  return env_.malicious_clients.count(client_id) > 0;
}

Status PoisoningAttack::Score(Model&, AttackReport*) { return OkStatus(); }

void PoisoningAttack::AfterRound(const RoundMetrics&, const std::vector<float>&) {}

StatusOr<ModelPtr> PoisoningAttack::ScoringModel() const {
  const Dataset* d = env_.test != nullptr ? env_.test : env_.train;
  if (d == nullptr) return FailedPreconditionError(name_ + ": no dataset to score on");
  return CreateModel(env_.model, env_.model_params, ModelContext{d->sample_shape, d->num_classes},
                     Seed(0));
}

StatusOr<double> PoisoningAttack::TargetRate(Model& model, const Dataset& data, int64_t target) {
  if (data.size() == 0) return kNaN;
  CONFML_ASSIGN_OR_RETURN(std::vector<int64_t> pred, Predict(model, data));
  int64_t hit = 0;
  for (int64_t p : pred) hit += p == target;
  return static_cast<double>(hit) / static_cast<double>(pred.size());
}

ClientData DataPoisoningAttack::ClientTrainingData(const ClientContext& c, ClientData honest) {
  if (!Active(c.round)) return honest;
  auto it = shards_.find(c.client_id);
  if (it == shards_.end()) return honest;
  return ClientData{&it->second.data, &it->second.indices};
}

Status DataPoisoningAttack::BuildShards(
    const std::function<Status(int64_t client, PoisonedShard*)>& poison) {
  if (env_.train == nullptr || env_.partition == nullptr) {
    return InvalidArgumentError(name_ + " needs the training set and the partition");
  }
  for (int64_t id : env_.malicious_clients) {
    if (id < 0 || id >= static_cast<int64_t>(env_.partition->size())) {
      return InvalidArgumentError(name_ + ": malicious client " + std::to_string(id) +
                                  " is not in the partition of " +
                                  std::to_string(env_.partition->size()) + " clients");
    }
    PoisonedShard s;
    s.data = env_.train->Subset((*env_.partition)[static_cast<size_t>(id)]);
    // One device's shard, which the poison below grows: owners would no
    // longer match the samples.
    s.data.owner.clear();
    s.honest_size = s.data.size();
    CONFML_RETURN_IF_ERROR(poison(id, &s));
    s.indices.resize(static_cast<size_t>(s.data.size()));
    for (size_t i = 0; i < s.indices.size(); ++i) s.indices[i] = static_cast<int64_t>(i);
    shards_.emplace(id, std::move(s));
  }
  return OkStatus();
}

Status DataPoisoningAttack::AddStampedCopies(PoisonedShard* s, int64_t target, double fraction,
                                             const Stamp& stamp, Rng& rng, Dataset* stamped) {
  if (!(fraction >= 0.0 && fraction < 1.0)) {
    return InvalidArgumentError("poison fraction " + std::to_string(fraction) +
                                " is not in [0, 1)");
  }
  std::vector<int64_t> pool;
  for (int64_t i = 0; i < s->honest_size; ++i) {
    if (s->data.labels[static_cast<size_t>(i)] != target) pool.push_back(i);
  }
  if (pool.empty()) return OkStatus();
  const int64_t numel = s->data.sample_numel();
  Dataset trig = s->data.Subset(pool);
  for (int64_t k = 0; k < trig.size(); ++k) {
    CONFML_RETURN_IF_ERROR(stamp(trig.sample_shape, trig.features.data() + k * numel));
    trig.labels[static_cast<size_t>(k)] = target;
  }
  const int64_t count = static_cast<int64_t>(
      std::llround(fraction / (1.0 - fraction) * static_cast<double>(s->honest_size)));
  for (int64_t k = 0; k < count; ++k) {
    const int64_t src = static_cast<int64_t>(rng.UniformInt(pool.size()));
    s->data.features.insert(s->data.features.end(), trig.features.begin() + src * numel,
                            trig.features.begin() + (src + 1) * numel);
    s->data.labels.push_back(target);
  }
  if (stamped != nullptr) *stamped = std::move(trig);
  return OkStatus();
}

StatusOr<Dataset> DataPoisoningAttack::StampedTestInputs(int64_t target, const Stamp& stamp) const {
  if (env_.test == nullptr) return Dataset{};
  std::vector<int64_t> idx;
  for (int64_t i = 0; i < env_.test->size(); ++i) {
    if (env_.test->labels[static_cast<size_t>(i)] != target) idx.push_back(i);
  }
  Dataset out = env_.test->Subset(idx);
  const int64_t numel = out.sample_numel();
  for (int64_t i = 0; i < out.size(); ++i) {
    CONFML_RETURN_IF_ERROR(stamp(out.sample_shape, out.features.data() + i * numel));
  }
  return out;
}

float DataPoisoningAttack::BrightestTrainValue() const {
  float v = 0.0f;
  if (env_.train != nullptr) {
    for (float x : env_.train->features) v = std::max(v, x);
  }
  return v;
}

CollusionAttack::CollusionAttack(std::string name, const ParamSet& params, const AttackEnv& env)
    : PoisoningAttack(std::move(name), params, env), full_(params.String("knowledge") == "full") {}

void CollusionAttack::OnRoundUpdates(const std::vector<ClientContext>& clients,
                                     const std::vector<float>& global,
                                     std::vector<ClientUpdate>* updates) {
  std::vector<size_t> mal;
  Updates benign, own;
  for (size_t i = 0; i < updates->size(); ++i) {
    if (IsMalicious((*updates)[i].client_id)) {
      mal.push_back(i);
      own.push_back((*updates)[i].values);
    } else {
      benign.push_back((*updates)[i].values);
    }
  }
  if (mal.empty()) return;
  const int64_t round = clients.empty() ? 0 : clients[0].round;
  // Partial knowledge (or nobody else in the round): the attacker only
  // has its own devices' honest updates (Fang et al. Section 4.1).
  const Updates& known = (full_ && !benign.empty()) ? benign : own;
  own_ = &own;
  Updates crafted;
  Status s = Craft(round, known, global, static_cast<int64_t>(mal.size()),
                   static_cast<int64_t>(updates->size()), &crafted);
  own_ = nullptr;
  if (!s.ok()) {
    ++skipped_rounds_;
    last_error_ = s.ToString();
    return;
  }
  ++attacked_rounds_;
  // One crafted update is sent by every malicious device (a copy each).
  for (size_t k = 0; k < mal.size(); ++k) {
    (*updates)[mal[k]].values = crafted[crafted.size() == 1 ? 0 : k];
  }
}

Status CollusionAttack::Score(Model&, AttackReport* r) {
  r->metrics["attacked_rounds"] = static_cast<double>(attacked_rounds_);
  r->metrics["skipped_rounds"] = static_cast<double>(skipped_rounds_);
  for (const auto& [name, st] : stats_)
    r->metrics[name] = st.first / static_cast<double>(st.second);
  if (!last_error_.empty()) r->note = "skipped rounds, last because: " + last_error_;
  return OkStatus();
}

void CollusionAttack::Record(const std::string& name, double v) {
  auto& st = stats_[name];
  st.first += v;
  ++st.second;
}

double BackdoorEpochLr(double lr, const std::vector<double>& milestones, double decay,
                       int64_t epochs, int64_t epoch) {
  for (double f : milestones) {
    if (f * static_cast<double>(epochs) <= static_cast<double>(epoch)) lr *= decay;
  }
  return lr;
}

Status RegisterPoisoningAttacks() {
  static std::once_flag once;
  static Status result;
  std::call_once(once, [] {
    auto& reg = AttackRegistry();
    auto add = [&](ComponentSpec spec, AttackFactory f) {
      if (!result.ok()) return;
      Status s = reg.Add(std::move(spec), std::move(f));
      if (!s.ok() && s.code() != StatusCode::kAlreadyExists) result = s;
    };
    add({"attack",
         "label_flip",
         "Data poisoning with honest code: malicious devices train on flipped labels.",
         {Param::Int("source", -1, "Class to flip; -1 flips every label l to C-1-l.").AtLeast(-1),
          Param::Int("target", 0, "Label the source class becomes (ignored when source = -1).")
              .AtLeast(0)}},
        [](const ParamSet& p, const AttackEnv& env) {
          return Built(std::make_shared<LabelFlip>(p, env));
        });
    add({"attack",
         "targeted_injection",
         "Data poisoning with honest code: malicious devices add many samples of class `source` "
         "labelled `target`, so that the global model predicts source inputs as target.",
         {Param::Int("source", 0, "Class whose inputs the attacker wants misclassified.")
              .AtLeast(0),
          Param::Int("target", 1, "Class the attacker wants them predicted as.").AtLeast(0),
          Param::Double("multiplier", 2.0,
                        "Crafted samples per honest sample of the device (FedAvg weighs by count).")
              .AtLeast(0.0)}},
        [](const ParamSet& p, const AttackEnv& env) {
          return Built(std::make_shared<TargetedInjection>(p, env));
        });
    add({"attack",
         "backdoor",
         "Backdoor with a pixel-pattern trigger and model replacement (Bagdasaryan et al., "
         "AISTATS 2020). With model_replacement and attacker_epochs > 0 the attacker trains its "
         "backdoored model with its own recipe (train-and-scale); otherwise the honest local "
         "training runs on its data plus triggered copies.",
         {Param::Int("target", 0, "Label that triggered inputs should get.").AtLeast(0),
          Param::Double("poison_fraction", 0.2,
                        "Share of triggered copies in the device's data for the honest training "
                        "code (data poisoning, or attacker_epochs = 0).")
              .GreaterThan(0.0)
              .AtMost(0.95),
          Param::Int("trigger_size", 4,
                     "Side of the checkerboard trigger in pixels (features for flat data).")
              .AtLeast(1),
          Param::Bool("model_replacement", true,
                      "Scale the update by gamma (crafted-update code)."),
          Param::Double("scale", 0.0, "gamma; 0 uses n / server_lr with n = clients per round.")
              .AtLeast(0.0),
          Param::Double("server_lr", 0.0,
                        "The runtime's global learning rate eta as the attacker assumes it; 0: "
                        "the federation's federated.server_lr.")
              .AtLeast(0.0),
          Param::IntList("attack_rounds", {},
                         "Rounds in which the attack acts; empty: every round.")
              .AtLeast(1),
          Param::Int("local_passes", 1,
                     "Passes over the poisoned data per local epoch of the honest training code "
                     "(data poisoning, or attacker_epochs = 0).")
              .AtLeast(1),
          Param::Int("attacker_epochs", 6,
                     "With model_replacement: epochs of the attacker's own training of L (the "
                     "paper's attacker trains 6 local epochs); 0 uses the honest training code.")
              .AtLeast(0),
          Param::Double("attacker_lr", 0.05,
                        "Initial learning rate of the attacker's SGD (paper: 0.05).")
              .GreaterThan(0.0),
          Param::Double("attacker_momentum", 0.9,
                        "Momentum of the attacker's SGD (released code: 0.9).")
              .AtLeast(0.0)
              .AtMost(0.999),
          Param::Double("attacker_weight_decay", 5e-4,
                        "L2 weight decay of the attacker's SGD (released code: 5e-4).")
              .AtLeast(0.0),
          Param::DoubleList("lr_milestones", {0.2, 0.8},
                            "Step decay: epoch e (1-based) runs at attacker_lr times lr_decay for "
                            "every fraction f with f * attacker_epochs <= e (released code: "
                            "MultiStepLR at 0.2 E and 0.8 E, stepped before each epoch).")
              .AtLeast(0.0)
              .AtMost(1.0),
          Param::Double("lr_decay", 0.1, "Factor of each step decay.").GreaterThan(0.0).AtMost(1.0),
          Param::Int("attacker_batch_size", 64,
                     "Batch size of the attacker's training (paper: 64).")
              .AtLeast(2),
          Param::Int("poison_per_batch", 20,
                     "Triggered inputs in every batch of the attacker's training, the rest clean "
                     "inputs of its own data (paper: 20 of 64).")
              .AtLeast(1),
          Param::Double("stop_loss", 1e-4,
                        "Stop the attacker's training early once its loss on its own triggered "
                        "inputs is at most this (the backdoor is learnt); 0 never stops early.")
              .AtLeast(0.0),
          Param::Double(
              "alpha", 1.0,
              "Constrain-and-scale: the attacker minimises alpha CE + (1 - alpha) ||L - G||_2 "
              "(the distance term keeps L near the global model); 1 is train-and-scale, "
              "the released code's default.")
              .GreaterThan(0.0)
              .AtMost(1.0),
          Param::Int("global_clean_inputs", 0,
                     "Clean inputs of the attacker's own training: 0 takes its device's shard "
                     "(one device's data); N > 0 draws N inputs at random from the whole "
                     "training set, as the released code's attacker (200 batches of 64 = 12800), "
                     "an attacker with data beyond its device.")
              .AtLeast(0)}},
        [](const ParamSet& p, const AttackEnv& env) {
          return Built(std::make_shared<Backdoor>(p, env));
        });
    add({"attack",
         "sign_flip",
         "Model poisoning: malicious devices send -scale times their update.",
         {Param::Double("scale", 1.0, "Magnitude multiplier of the flipped update.")
              .GreaterThan(0.0)}},
        [](const ParamSet& p, const AttackEnv& env) -> StatusOr<AttackPtr> {
          return AttackPtr(std::make_shared<SignFlip>(p, env));
        });
    add({"attack",
         "gaussian_noise",
         "Model poisoning: malicious devices send Gaussian noise instead of (or added to) their "
         "update.",
         {Param::Double("std", 1.0, "Standard deviation of the noise per coordinate.")
              .GreaterThan(0.0),
          Param::Bool("additive", false,
                      "Add the noise to the honest update instead of replacing it.")}},
        [](const ParamSet& p, const AttackEnv& env) -> StatusOr<AttackPtr> {
          return AttackPtr(std::make_shared<GaussianNoise>(p, env));
        });
    add({"attack",
         "scaling",
         "Model poisoning: malicious devices boost their update by a factor.",
         {Param::Double("factor", 10.0, "Multiplier of the honest update.")}},
        [](const ParamSet& p, const AttackEnv& env) -> StatusOr<AttackPtr> {
          return AttackPtr(std::make_shared<Scaling>(p, env));
        });
    add({"attack",
         "alie",
         "A Little Is Enough (Baruch et al., NeurIPS 2019): mu - z sigma.",
         {Param::Double("z", 0.0, "Deviation in standard deviations; 0 derives z_max from n and m.")
              .AtLeast(0.0),
          KnowledgeParam()}},
        [](const ParamSet& p, const AttackEnv& env) -> StatusOr<AttackPtr> {
          return AttackPtr(std::make_shared<Alie>(p, env));
        });
    add({"attack",
         "ipm",
         "Inner Product Manipulation (Xie, Koyejo and Gupta, UAI 2019): colluding devices "
         "send -epsilon times the mean of the benign updates.",
         {Param::Double("epsilon", 0.1,
                        "Scale of the reversed mean: small (0.1) against median and Krum, "
                        "large (above honest/malicious) against a plain mean.")
              .GreaterThan(0.0),
          KnowledgeParam()}},
        [](const ParamSet& p, const AttackEnv& env) -> StatusOr<AttackPtr> {
          return AttackPtr(std::make_shared<Ipm>(p, env));
        });
    add({"attack",
         "fang_krum",
         "Fang et al. (USENIX Security 2020) local model poisoning of Krum.",
         {Param::Double("epsilon", 1e-5, "Smallest lambda tried before giving up.")
              .GreaterThan(0.0),
          KnowledgeParam()}},
        [](const ParamSet& p, const AttackEnv& env) -> StatusOr<AttackPtr> {
          return AttackPtr(std::make_shared<FangKrum>(p, env));
        });
    add({"attack",
         "fang_trimmed_mean",
         "Fang et al. (USENIX Security 2020) local model poisoning of trimmed mean and median.",
         {Param::Double("b", 2.0, "Range factor of the full-knowledge attack.").GreaterThan(1.0),
          Param::String("direction", "mean",
                        "Rule whose no-attack change gives s_j: mean (the authors' code), median, "
                        "or trimmed_mean with beta = malicious/clients (the paper's definition "
                        "for the rule attacked).")
              .OneOf({"mean", "median", "trimmed_mean"}),
          Param::Bool(
              "diagnostics", false,
              "Report how far the crafted values shift trimmed mean (beta = malicious/"
              "clients) and median per round (full knowledge; costs a sort per coordinate)."),
          KnowledgeParam()}},
        [](const ParamSet& p, const AttackEnv& env) -> StatusOr<AttackPtr> {
          CONFML_ASSIGN_OR_RETURN(DirectionRule rule, ParseDirectionRule(p.String("direction")));
          return AttackPtr(std::make_shared<FangTrimmedMean>(p, env, rule));
        });
    for (const char* name : {"min_max", "min_sum"}) {
      const std::string n = name;
      add({"attack",
           n,
           std::string("AGR-agnostic ") + (n == "min_max" ? "min-max" : "min-sum") +
               " attack (Shejwalkar & Houmansadr, NDSS 2021, Algorithm 1).",
           {Param::String("perturbation", "std", "Perturbation direction p.")
                .OneOf({"unit_vec", "std", "sign"}),
            Param::Double("gamma_init", 10.0, "Initial gamma of the search.").GreaterThan(0.0),
            KnowledgeParam()}},
          [n](const ParamSet& p, const AttackEnv& env) -> StatusOr<AttackPtr> {
            CONFML_ASSIGN_OR_RETURN(Perturbation pert, ParsePerturbation(p.String("perturbation")));
            return AttackPtr(std::make_shared<MinMax>(n, p, env, pert));
          });
    }
  });
  return result;
}

}  // namespace confml::attacks
