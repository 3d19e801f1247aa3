// The poisoning attacks as Attack modules (poisoning.h): data poisoning
// through ClientTrainingData, single-device model poisoning through
// OnClientUpdate, colluding model poisoning through OnRoundUpdates.
#include <atomic>
#include <cmath>
#include <limits>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "confml/attacks/poisoning.h"
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

// What every poisoning attack shares: who is malicious, the final global
// model, and scoring it on the test set.
class PoisoningAttack : public Attack {
 public:
  PoisoningAttack(std::string name, const ParamSet& params, const AttackEnv& env)
      : name_(std::move(name)), config_(ParamsText(name_, params)), env_(env) {}

  std::string name() const override { return name_; }
  AttackRole role() const override { return AttackRole::kDevice; }
  std::string config_text() const override { return config_; }

  void OnGlobalModel(const ClientContext& c, const std::vector<float>&) override {
    if (IsMalicious(c.client_id)) ++participations_;
  }
  void OnRoundEnd(const RoundMetrics& m, const std::vector<float>& global) override {
    final_ = global;
    AfterRound(m, global);
  }

  StatusOr<AttackReport> Report() override {
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

 protected:
  bool IsMalicious(int64_t id) const { return env_.malicious_clients.count(id) > 0; }
  // Extra metrics from the final model (success rates).
  virtual Status Score(Model& model, AttackReport* r) { return OkStatus(); }
  virtual void AfterRound(const RoundMetrics& m, const std::vector<float>& global) {}

  StatusOr<ModelPtr> ScoringModel() const {
    const Dataset* d = env_.test != nullptr ? env_.test : env_.train;
    if (d == nullptr) return FailedPreconditionError(name_ + ": no dataset to score on");
    return CreateModel(env_.model, env_.model_params,
                       ModelContext{d->sample_shape, d->num_classes}, Seed(0));
  }
  // Fraction of `data` predicted as `target`.
  static StatusOr<double> TargetRate(Model& model, const Dataset& data, int64_t target) {
    if (data.size() == 0) return kNaN;
    CONFML_ASSIGN_OR_RETURN(std::vector<int64_t> pred, Predict(model, data));
    int64_t hit = 0;
    for (int64_t p : pred) hit += p == target;
    return static_cast<double>(hit) / static_cast<double>(pred.size());
  }

  std::string name_;
  std::string config_;
  AttackEnv env_;
  int64_t participations_ = 0;
  std::vector<float> final_;
};

// ---- data poisoning -------------------------------------------------------

// The poisoned training set of one malicious device, built once at creation
// and read-only afterwards, so worker threads may share it.
struct PoisonedShard {
  Dataset data;
  std::vector<int64_t> indices;  // 0..n-1
  int64_t honest_size = 0;
};

class DataPoisoningAttack : public PoisoningAttack {
 public:
  using PoisoningAttack::PoisoningAttack;

  // Honest local-training code on fake data (matrix row "data poisoning").
  bool honest_code() const override { return true; }

  ClientData ClientTrainingData(const ClientContext& c, ClientData honest) override {
    if (!Active(c.round)) return honest;
    auto it = shards_.find(c.client_id);
    if (it == shards_.end()) return honest;
    return ClientData{&it->second.data, &it->second.indices};
  }

 protected:
  virtual bool Active(int64_t round) const { return true; }

  // Builds every malicious device's shard with `poison`, which edits a copy
  // of the device's own samples.
  Status BuildShards(const std::function<Status(int64_t client, PoisonedShard*)>& poison) {
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
      s.honest_size = s.data.size();
      CONFML_RETURN_IF_ERROR(poison(id, &s));
      s.indices.resize(static_cast<size_t>(s.data.size()));
      for (size_t i = 0; i < s.indices.size(); ++i) s.indices[i] = static_cast<int64_t>(i);
      shards_.emplace(id, std::move(s));
    }
    return OkStatus();
  }

  std::map<int64_t, PoisonedShard> shards_;
};

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
    for (size_t i = 0; i < pred.size(); ++i) hit += pred[i] == map_[static_cast<size_t>(sub.labels[i])];
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
    if (env_.train == nullptr) return InvalidArgumentError("targeted_injection needs the training set");
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
    if (pool.empty()) return InvalidArgumentError("targeted_injection: no training samples of class " + std::to_string(source_));
    return BuildShards([&](int64_t id, PoisonedShard* s) {
      Rng rng = env_.seed.Child("inject").Child("client", static_cast<uint64_t>(id)).MakeRng();
      const int64_t count = static_cast<int64_t>(std::llround(multiplier_ * static_cast<double>(s->honest_size)));
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
        passes_(p.Int("local_passes")) {
    for (int64_t r : p.IntList("attack_rounds")) rounds_.insert(r);
  }

  // Model replacement scales the update: crafted-update code.
  bool honest_code() const override { return !replace_; }

  Status Init() {
    if (env_.train == nullptr) return InvalidArgumentError("backdoor needs the training set");
    if (target_ >= env_.train->num_classes) {
      return InvalidArgumentError("backdoor: target " + std::to_string(target_) + " is not a class");
    }
    gamma_ = scale_ > 0 ? scale_ : static_cast<double>(env_.clients_per_round) / server_lr_;
    // The trigger uses the brightest value of the data (1 for raw images,
    // the normalised maximum otherwise).
    for (float v : env_.train->features) trigger_value_ = std::max(trigger_value_, v);
    CONFML_RETURN_IF_ERROR(BuildShards([&](int64_t id, PoisonedShard* s) {
      std::vector<int64_t> pool;
      for (int64_t i = 0; i < s->honest_size; ++i) {
        if (s->data.labels[static_cast<size_t>(i)] != target_) pool.push_back(i);
      }
      if (pool.empty()) return OkStatus();
      // Poisoned copies make up `fraction_` of the device's data, so every
      // batch holds about that share (Bagdasaryan et al. mix them per batch).
      const int64_t count = static_cast<int64_t>(
          std::llround(fraction_ / (1.0 - fraction_) * static_cast<double>(s->honest_size)));
      Rng rng = env_.seed.Child("backdoor").Child("client", static_cast<uint64_t>(id)).MakeRng();
      const int64_t numel = s->data.sample_numel();
      for (int64_t k = 0; k < count; ++k) {
        const int64_t src = pool[rng.UniformInt(pool.size())];
        std::vector<float> x(s->data.features.begin() + src * numel,
                             s->data.features.begin() + (src + 1) * numel);
        CONFML_RETURN_IF_ERROR(StampTrigger(s->data.sample_shape, trigger_size_, trigger_value_, x.data()));
        s->data.features.insert(s->data.features.end(), x.begin(), x.end());
        s->data.labels.push_back(target_);
      }
      return OkStatus();
    }));
    // The attacker trains longer than an honest device (Bagdasaryan et al.
    // give their attacker more local epochs than the benign participants):
    // every local epoch walks its poisoned data `passes_` times.
    for (auto& [id, shard] : shards_) {
      const std::vector<int64_t> once = shard.indices;
      for (int64_t k = 1; k < passes_; ++k) {
        shard.indices.insert(shard.indices.end(), once.begin(), once.end());
      }
    }
    return OkStatus();
  }

  void OnClientUpdate(const ClientContext& c, const std::vector<float>&, ClientUpdate* u) override {
    if (!replace_ || !Active(c.round) || !IsMalicious(c.client_id)) return;
    // Model replacement: X = gamma (L - G) + G, gamma = n / eta, so that
    // averaging with n - 1 near-converged benign updates leaves about L.
    for (float& v : u->values) v = static_cast<float>(v * gamma_);
    // Report the honest sample count so that a weighted FedAvg gives this
    // update the 1/n share the derivation assumes.
    auto it = shards_.find(c.client_id);
    if (it != shards_.end()) u->num_samples = it->second.honest_size;
  }

 protected:
  bool Active(int64_t round) const override { return rounds_.empty() || rounds_.count(round) > 0; }

  void AfterRound(const RoundMetrics& m, const std::vector<float>& global) override {
    // Scored right after each attack round the attacker took part in: model
    // replacement is strongest then, before benign rounds dilute it.
    if (rounds_.empty() || !Active(m.round) || !ParticipatedIn(m.round)) return;
    if (env_.test == nullptr) return;
    StatusOr<ModelPtr> model = ScoringModel();
    if (!model.ok() || !LoadFlatState(**model, global).ok()) return;
    StatusOr<double> rate = TargetRate(**model, Triggered(), target_);
    StatusOr<std::vector<int64_t>> pred = Predict(**model, *env_.test);
    if (!rate.ok() || !pred.ok() || pred->empty()) return;
    int64_t correct = 0;
    for (size_t i = 0; i < pred->size(); ++i) correct += (*pred)[i] == env_.test->labels[i];
    after_attack_rate_ = *rate;
    after_attack_accuracy_ = static_cast<double>(correct) / static_cast<double>(pred->size());
    after_attack_round_ = m.round;
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
    return OkStatus();
  }

 private:
  bool ParticipatedIn(int64_t round) const { return participated_rounds_.count(round) > 0; }
  // Test inputs of other classes with the trigger stamped in.
  const Dataset& Triggered() {
    if (triggered_.size() == 0 && env_.test != nullptr) {
      std::vector<int64_t> idx;
      for (int64_t i = 0; i < env_.test->size(); ++i) {
        if (env_.test->labels[static_cast<size_t>(i)] != target_) idx.push_back(i);
      }
      triggered_ = env_.test->Subset(idx);
      const int64_t numel = triggered_.sample_numel();
      for (int64_t i = 0; i < triggered_.size(); ++i) {
        // Shapes were checked when the training copies were stamped.
        (void)StampTrigger(triggered_.sample_shape, trigger_size_, trigger_value_,
                           triggered_.features.data() + i * numel);
      }
    }
    return triggered_;
  }

  int64_t target_;
  double fraction_;
  int64_t trigger_size_;
  bool replace_;
  double scale_, server_lr_, gamma_ = 1.0;
  int64_t passes_ = 1;
  float trigger_value_ = 0.0f;
  std::set<int64_t> rounds_, participated_rounds_;
  Dataset triggered_;
  int64_t after_attack_round_ = 0;
  double after_attack_rate_ = kNaN, after_attack_accuracy_ = kNaN;
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

// Gathers the round's malicious entries and what the attacker knows, calls
// Craft, and writes the crafted updates into the malicious entries.
class CollusionAttack : public PoisoningAttack {
 public:
  CollusionAttack(std::string name, const ParamSet& p, const AttackEnv& env)
      : PoisoningAttack(std::move(name), p, env), full_(p.String("knowledge") == "full") {}

  void OnRoundUpdates(const std::vector<ClientContext>& clients, const std::vector<float>& global,
                      std::vector<ClientUpdate>* updates) override {
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
    Updates crafted;
    Status s = Craft(round, known, global, static_cast<int64_t>(mal.size()),
                     static_cast<int64_t>(updates->size()), &crafted);
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

 protected:
  // Fills `out` with one update per malicious client (or a single one that
  // all of them send).
  virtual Status Craft(int64_t round, const Updates& known, const std::vector<float>& global,
                       int64_t num_malicious, int64_t num_clients, Updates* out) = 0;

  Status Score(Model&, AttackReport* r) override {
    r->metrics["attacked_rounds"] = static_cast<double>(attacked_rounds_);
    r->metrics["skipped_rounds"] = static_cast<double>(skipped_rounds_);
    if (stat_count_ > 0) r->metrics[stat_name_] = stat_sum_ / static_cast<double>(stat_count_);
    if (!last_error_.empty()) r->note = "skipped rounds, last because: " + last_error_;
    return OkStatus();
  }
  void Record(const std::string& name, double v) {
    stat_name_ = name;
    stat_sum_ += v;
    ++stat_count_;
  }

  bool full_;
  int64_t attacked_rounds_ = 0, skipped_rounds_ = 0;
  std::string last_error_, stat_name_;
  double stat_sum_ = 0.0;
  int64_t stat_count_ = 0;
};

class Alie : public CollusionAttack {
 public:
  Alie(const ParamSet& p, const AttackEnv& env) : CollusionAttack("alie", p, env), z_(p.Double("z")) {}

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

class FangKrum : public CollusionAttack {
 public:
  FangKrum(const ParamSet& p, const AttackEnv& env)
      : CollusionAttack("fang_krum", p, env), epsilon_(p.Double("epsilon")) {}

 protected:
  Status Craft(int64_t, const Updates& known, const std::vector<float>&, int64_t m, int64_t n,
               Updates* out) override {
    CONFML_ASSIGN_OR_RETURN(FangKrumResult r, FangKrumAttack(known, m, n, epsilon_));
    Record("mean_lambda", r.lambda);
    out->assign(1, std::move(r.update));
    return OkStatus();
  }

 private:
  double epsilon_;
};

class FangTrimmedMean : public CollusionAttack {
 public:
  FangTrimmedMean(const ParamSet& p, const AttackEnv& env)
      : CollusionAttack("fang_trimmed_mean", p, env), b_(p.Double("b")) {}

 protected:
  Status Craft(int64_t round, const Updates& known, const std::vector<float>& global, int64_t m,
               int64_t, Updates* out) override {
    Rng rng = env_.seed.Child("fang_trimmed_mean").Child("round", static_cast<uint64_t>(round)).MakeRng();
    CONFML_ASSIGN_OR_RETURN(*out, FangTrimmedMeanAttack(known, global, m, full_, b_, rng));
    return OkStatus();
  }

 private:
  double b_;
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

ParamSpec KnowledgeParam() {
  return Param::String("knowledge", "full",
                       "full: the attacker sees the benign clients' updates of the round; partial: "
                       "only its own devices' honest updates (Fang et al. Section 4.1).")
      .OneOf({"full", "partial"});
}

template <typename T>
StatusOr<AttackPtr> Built(std::shared_ptr<T> a) {
  CONFML_RETURN_IF_ERROR(a->Init());
  return AttackPtr(std::move(a));
}

}  // namespace

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
    add({"attack", "label_flip",
         "Data poisoning with honest code: malicious devices train on flipped labels.",
         {Param::Int("source", -1, "Class to flip; -1 flips every label l to C-1-l.").AtLeast(-1),
          Param::Int("target", 0, "Label the source class becomes (ignored when source = -1).").AtLeast(0)}},
        [](const ParamSet& p, const AttackEnv& env) {
          return Built(std::make_shared<LabelFlip>(p, env));
        });
    add({"attack", "targeted_injection",
         "Data poisoning with honest code: malicious devices add many samples of class `source` "
         "labelled `target`, so that the global model predicts source inputs as target.",
         {Param::Int("source", 0, "Class whose inputs the attacker wants misclassified.").AtLeast(0),
          Param::Int("target", 1, "Class the attacker wants them predicted as.").AtLeast(0),
          Param::Double("multiplier", 2.0,
                        "Crafted samples per honest sample of the device (FedAvg weighs by count).")
              .AtLeast(0.0)}},
        [](const ParamSet& p, const AttackEnv& env) {
          return Built(std::make_shared<TargetedInjection>(p, env));
        });
    add({"attack", "backdoor",
         "Backdoor with a pixel-pattern trigger and model replacement (Bagdasaryan et al., "
         "AISTATS 2020).",
         {Param::Int("target", 0, "Label that triggered inputs should get.").AtLeast(0),
          Param::Double("poison_fraction", 0.2, "Share of the device's training data that is triggered.")
              .GreaterThan(0.0)
              .AtMost(0.95),
          Param::Int("trigger_size", 4, "Side of the checkerboard trigger in pixels (features for flat data).")
              .AtLeast(1),
          Param::Bool("model_replacement", true, "Scale the update by gamma (crafted-update code)."),
          Param::Double("scale", 0.0, "gamma; 0 uses n / server_lr with n = clients per round.").AtLeast(0.0),
          Param::Double("server_lr", 1.0, "The runtime's global learning rate eta.").GreaterThan(0.0),
          Param::IntList("attack_rounds", {}, "Rounds in which the attack acts; empty: every round.")
              .AtLeast(1),
          Param::Int("local_passes", 1,
                     "Passes over the attacker's poisoned data per local epoch (it may train "
                     "longer than honest devices).")
              .AtLeast(1)}},
        [](const ParamSet& p, const AttackEnv& env) {
          return Built(std::make_shared<Backdoor>(p, env));
        });
    add({"attack", "sign_flip", "Model poisoning: malicious devices send -scale times their update.",
         {Param::Double("scale", 1.0, "Magnitude multiplier of the flipped update.").GreaterThan(0.0)}},
        [](const ParamSet& p, const AttackEnv& env) -> StatusOr<AttackPtr> {
          return AttackPtr(std::make_shared<SignFlip>(p, env));
        });
    add({"attack", "gaussian_noise",
         "Model poisoning: malicious devices send Gaussian noise instead of (or added to) their update.",
         {Param::Double("std", 1.0, "Standard deviation of the noise per coordinate.").GreaterThan(0.0),
          Param::Bool("additive", false, "Add the noise to the honest update instead of replacing it.")}},
        [](const ParamSet& p, const AttackEnv& env) -> StatusOr<AttackPtr> {
          return AttackPtr(std::make_shared<GaussianNoise>(p, env));
        });
    add({"attack", "scaling", "Model poisoning: malicious devices boost their update by a factor.",
         {Param::Double("factor", 10.0, "Multiplier of the honest update.")}},
        [](const ParamSet& p, const AttackEnv& env) -> StatusOr<AttackPtr> {
          return AttackPtr(std::make_shared<Scaling>(p, env));
        });
    add({"attack", "alie", "A Little Is Enough (Baruch et al., NeurIPS 2019): mu - z sigma.",
         {Param::Double("z", 0.0, "Deviation in standard deviations; 0 derives z_max from n and m.")
              .AtLeast(0.0),
          KnowledgeParam()}},
        [](const ParamSet& p, const AttackEnv& env) -> StatusOr<AttackPtr> {
          return AttackPtr(std::make_shared<Alie>(p, env));
        });
    add({"attack", "fang_krum", "Fang et al. (USENIX Security 2020) local model poisoning of Krum.",
         {Param::Double("epsilon", 1e-5, "Smallest lambda tried before giving up.").GreaterThan(0.0),
          KnowledgeParam()}},
        [](const ParamSet& p, const AttackEnv& env) -> StatusOr<AttackPtr> {
          return AttackPtr(std::make_shared<FangKrum>(p, env));
        });
    add({"attack", "fang_trimmed_mean",
         "Fang et al. (USENIX Security 2020) local model poisoning of trimmed mean and median.",
         {Param::Double("b", 2.0, "Range factor of the full-knowledge attack.").GreaterThan(1.0),
          KnowledgeParam()}},
        [](const ParamSet& p, const AttackEnv& env) -> StatusOr<AttackPtr> {
          return AttackPtr(std::make_shared<FangTrimmedMean>(p, env));
        });
    for (const char* name : {"min_max", "min_sum"}) {
      const std::string n = name;
      add({"attack", n,
           std::string("AGR-agnostic ") + (n == "min_max" ? "min-max" : "min-sum") +
               " attack (Shejwalkar & Houmansadr, NDSS 2021, Algorithm 1).",
           {Param::String("perturbation", "std", "Perturbation direction p.").OneOf({"unit_vec", "std", "sign"}),
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
