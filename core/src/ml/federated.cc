// FederatedEngine: rounds, the worker pool, local training, checkpoints.
#include "confml/core/federated.h"

#include <ATen/Parallel.h>
#include <omp.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <cstring>
#include <limits>
#include <mutex>
#include <string>
#include <vector>

#include "confml/core/fl_checkpoint.h"
#include "confml/core/thread_scope.h"
#include "job_board.h"

namespace confml {

namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

double SecondsSince(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

Status CheckOptions(const FederatedOptions& o) {
  auto bad = [](const std::string& field, int64_t v, const std::string& need) {
    return InvalidArgumentError("federated option " + field + " must be " + need + ", got " +
                                std::to_string(v));
  };
  if (o.rounds < 1) return bad("rounds", o.rounds, ">= 1");
  if (o.clients_per_round < 1) return bad("clients_per_round", o.clients_per_round, ">= 1");
  if (o.local_epochs < 1) return bad("local_epochs", o.local_epochs, ">= 1");
  if (o.local_steps < 0) return bad("local_steps", o.local_steps, ">= 0");
  if (o.local_batch_size < 1) return bad("local_batch_size", o.local_batch_size, ">= 1");
  if (o.workers < 1) return bad("workers", o.workers, ">= 1");
  if (o.workers > 256) return bad("workers", o.workers, "<= 256");
  if (o.eval_every < 0) return bad("eval_every", o.eval_every, ">= 0");
  if (o.eval_batch_size < 1) return bad("eval_batch_size", o.eval_batch_size, ">= 1");
  if (o.checkpoint_every < 1) return bad("checkpoint_every", o.checkpoint_every, ">= 1");
  if (o.min_updates < 0) return bad("min_updates", o.min_updates, ">= 0");
  // NaN fails both comparisons, hence the negated form.
  if (!(o.server_lr > 0.0) || !std::isfinite(o.server_lr)) {
    return InvalidArgumentError("federated option server_lr must be finite and > 0, got " +
                                FormatParamValue(o.server_lr));
  }
  return OkStatus();
}

class Hasher {
 public:
  void Bytes(const void* p, size_t n) {
    h_ = Fnv1a64(&n, sizeof(n), h_);
    h_ = Fnv1a64(p, n, h_);
  }
  void Str(const std::string& s) { Bytes(s.data(), s.size()); }
  template <typename T>
  void Num(T v) {
    Bytes(&v, sizeof(v));
  }
  uint64_t value() const { return h_; }

 private:
  uint64_t h_ = kFnvOffset;
};

}  // namespace

// One thread and its model replica. The replica is reloaded from the global
// state before every client and every evaluation, so no client's state
// survives into another's.
struct FederatedEngine::Worker {
  ModelPtr model;
  int64_t index = 0;
  // Which global version the replica holds for evaluation; -1 after training.
  int64_t loaded_version = -1;
};

namespace {

// One sampled client's result, stored in its slot.
using SlotResult = ClientTrainResult;

// Local training on `data` from the replica's current weights: the
// Trainer's loop with the client's options, so that whoever simulates a
// device with ClientTrainOptions trains exactly as one.
Status TrainLocal(Model& model, const ClientData& data, const FederatedOptions& options, Seed seed,
                  const ClientContext& ctx, SlotResult* out) {
  out->update.num_samples = static_cast<int64_t>(data.indices->size());
  StatusOr<FitSummary> fit =
      Trainer(ClientTrainOptions(options)).FitSubset(model, *data.dataset, *data.indices, seed);
  if (!fit.ok()) {
    const std::string who =
        "round " + std::to_string(ctx.round) + ", client " + std::to_string(ctx.client_id);
    // "local loss became NaN at epoch E step S": which device diverged, and when.
    if (fit.status().code() == StatusCode::kFailedPrecondition) {
      return FailedPreconditionError(who + ": local " + fit.status().message());
    }
    return fit.status().WithContext(who);
  }
  out->loss_sum = fit->loss_sum;
  out->samples_seen = fit->samples_seen;
  out->train_seconds = fit->seconds;
  return OkStatus();
}

}  // namespace

TrainOptions ClientTrainOptions(const FederatedOptions& options) {
  TrainOptions t;
  t.epochs = options.local_epochs;
  t.max_steps = options.local_steps;
  t.batch_size = options.local_batch_size;
  t.optimizer = options.optimizer;
  // One forward/backward per batch on the worker's replica: the clients are
  // the parallelism, and every worker already runs at one intra-op thread.
  t.micro_batches = 1;
  return t;
}

struct FederatedEngine::Pool {
  internal::PinnedWorkers workers;
};

FederatedEngine::FederatedEngine(FederatedOptions options, FederatedSetup setup)
    : options_(std::move(options)), setup_(std::move(setup)), pool_(std::make_unique<Pool>()) {}

// The pool's threads stop before the replicas they train go.
FederatedEngine::~FederatedEngine() { pool_.reset(); }

StatusOr<std::unique_ptr<FederatedEngine>> FederatedEngine::Create(FederatedOptions options,
                                                                   FederatedSetup setup) {
  CONFML_RETURN_IF_ERROR(CheckOptions(options));
  if (setup.train == nullptr) return InvalidArgumentError("federated setup has no training set");
  if (Status s = setup.train->Validate(); !s.ok()) return s.WithContext("federated training set");
  if (setup.test != nullptr) {
    if (Status s = setup.test->Validate(); !s.ok()) return s.WithContext("federated test set");
    if (setup.test->sample_shape != setup.train->sample_shape) {
      return InvalidArgumentError(
          "federated test set's sample shape differs from the training set's");
    }
  }
  const int64_t clients = static_cast<int64_t>(setup.partition.size());
  if (clients == 0) return InvalidArgumentError("federated partition has no clients");
  if (options.clients_per_round > clients) {
    return InvalidArgumentError(
        "clients_per_round is " + std::to_string(options.clients_per_round) +
        " but the partition has only " + std::to_string(clients) + " clients");
  }
  if (static_cast<int64_t>(options.always_sampled.size()) > options.clients_per_round) {
    return InvalidArgumentError("federated option always_sampled lists " +
                                std::to_string(options.always_sampled.size()) +
                                " clients but clients_per_round is " +
                                std::to_string(options.clients_per_round));
  }
  {
    std::vector<int64_t> sorted = options.always_sampled;
    std::sort(sorted.begin(), sorted.end());
    for (size_t i = 0; i < sorted.size(); ++i) {
      if (sorted[i] < 0 || sorted[i] >= clients) {
        return InvalidArgumentError("federated option always_sampled names client " +
                                    std::to_string(sorted[i]) + " but the partition has " +
                                    std::to_string(clients) + " clients");
      }
      if (i > 0 && sorted[i] == sorted[i - 1]) {
        return InvalidArgumentError("federated option always_sampled names client " +
                                    std::to_string(sorted[i]) + " twice");
      }
    }
  }
  for (int64_t c = 0; c < clients; ++c) {
    for (int64_t i : setup.partition[static_cast<size_t>(c)]) {
      if (i < 0 || i >= setup.train->size()) {
        return InvalidArgumentError("partition of client " + std::to_string(c) + " holds index " +
                                    std::to_string(i) + " outside the training set of " +
                                    std::to_string(setup.train->size()));
      }
    }
  }
  if (!setup.aggregator) setup.aggregator = std::make_shared<FedAvgAggregator>(true);
  std::unique_ptr<FederatedEngine> engine(
      new FederatedEngine(std::move(options), std::move(setup)));
  CONFML_RETURN_IF_ERROR(engine->Init());
  return engine;
}

Status FederatedEngine::Init() {
  context_.input_shape = setup_.train->sample_shape;
  context_.num_classes = setup_.train->num_classes;
  const Seed model_seed = setup_.seed.Child("fl").Child("model");
  CONFML_ASSIGN_OR_RETURN(global_model_,
                          CreateModel(setup_.model, setup_.model_params, context_, model_seed));
  global_ = FlatState(*global_model_);
  if (!setup_.initial_state.empty()) {
    if (setup_.initial_state.size() != global_.size()) {
      return InvalidArgumentError("initial state has " +
                                  std::to_string(setup_.initial_state.size()) +
                                  " floats but model '" + setup_.model + "' has " +
                                  std::to_string(global_.size()));
    }
    global_ = setup_.initial_state;
    CONFML_RETURN_IF_ERROR(LoadFlatState(*global_model_, global_));
  }

  Hasher h;
  h.Str("confml-fl-v1");
  h.Str(setup_.model);
  for (const auto& [k, v] : setup_.model_params) {
    h.Str(k);
    h.Str(FormatParamValue(v));
  }
  for (int64_t d : setup_.train->sample_shape) h.Num(d);
  h.Num(setup_.train->num_classes);
  h.Num(setup_.train->size());
  h.Bytes(setup_.train->labels.data(), setup_.train->labels.size() * sizeof(int64_t));
  // A strided sample of the features: cheap, and catches another
  // normalisation or another data source.
  for (size_t i = 0; i < setup_.train->features.size(); i += 997) h.Num(setup_.train->features[i]);
  h.Num(static_cast<int64_t>(setup_.partition.size()));
  for (const auto& part : setup_.partition) h.Bytes(part.data(), part.size() * sizeof(int64_t));
  h.Num(options_.clients_per_round);
  h.Num(options_.local_epochs);
  h.Num(options_.local_batch_size);
  const OptimizerOptions& o = options_.optimizer;
  h.Str(o.name);
  for (double d : {o.lr, o.momentum, o.weight_decay, o.beta1, o.beta2, o.eps}) h.Num(d);
  h.Num(static_cast<int64_t>(o.nesterov));
  h.Str(setup_.aggregator->config_text());
  h.Num(setup_.seed.value());
  h.Num(static_cast<int64_t>(global_.size()));
  // Only a given start changes the hash, so older checkpoints still resume.
  if (!setup_.initial_state.empty()) {
    h.Bytes(setup_.initial_state.data(), setup_.initial_state.size() * sizeof(float));
  }
  // Likewise a step cap.
  if (options_.local_steps > 0) {
    h.Str("local_steps");
    h.Num(options_.local_steps);
  }
  // Likewise a fixed participant (it changes who trains in every round).
  if (!options_.always_sampled.empty()) {
    std::vector<int64_t> fixed = options_.always_sampled;
    std::sort(fixed.begin(), fixed.end());
    h.Str("always_sampled");
    for (int64_t c : fixed) h.Num(c);
  }
  // Likewise a server step other than FedAvg's.
  if (options_.server_lr != 1.0) {
    h.Str("server_lr");
    h.Num(options_.server_lr);
  }
  config_hash_ = h.value();

  for (int64_t i = 0; i < options_.workers; ++i) {
    auto w = std::make_unique<Worker>();
    w->index = i;
    CONFML_ASSIGN_OR_RETURN(w->model,
                            CreateModel(setup_.model, setup_.model_params, context_, model_seed));
    workers_.push_back(std::move(w));
  }
  pool_->workers.Start(options_.workers);
  return OkStatus();
}

void FederatedEngine::AddHooks(std::shared_ptr<FederatedHooks> hooks) {
  if (hooks) hooks_.push_back(std::move(hooks));
}

Model& FederatedEngine::global_model() {
  Status s = LoadFlatState(*global_model_, global_);
  (void)s;  // Sizes match by construction.
  return *global_model_;
}

Status FederatedEngine::ParallelFor(int64_t n, const std::function<Status(Worker&, int64_t)>& job) {
  if (n == 0) return OkStatus();
  return pool_->workers.Run(n, [&](int64_t worker, int64_t item) {
    return job(*workers_[static_cast<size_t>(worker)], item);
  });
}

Status FederatedEngine::EvaluateGlobal(double* loss, double* accuracy) {
  const Dataset& test = *setup_.test;
  const int64_t n = test.size();
  if (n == 0) {
    *loss = *accuracy = kNaN;
    return OkStatus();
  }
  const int64_t bs = options_.eval_batch_size;
  const int64_t chunks = (n + bs - 1) / bs;
  std::vector<double> loss_sum(static_cast<size_t>(chunks), 0.0);
  std::vector<int64_t> correct(static_cast<size_t>(chunks), 0);
  const int64_t version = round_;
  torch::Tensor x = FeaturesTensor(test);
  torch::Tensor y = LabelsTensor(test);
  Status s = ParallelFor(chunks, [&](Worker& w, int64_t c) -> Status {
    if (w.loaded_version != version) {
      CONFML_RETURN_IF_ERROR(LoadFlatState(*w.model, global_));
      w.loaded_version = version;
    }
    torch::NoGradGuard no_grad;
    w.model->eval();
    const int64_t start = c * bs, len = std::min(bs, n - start);
    const internal::BatchEval e =
        internal::EvaluateBatch(*w.model, x.narrow(0, start, len), y.narrow(0, start, len));
    loss_sum[static_cast<size_t>(c)] = e.loss_sum;
    correct[static_cast<size_t>(c)] = e.correct;
    return OkStatus();
  });
  if (!s.ok()) return s.WithContext("evaluating the global model");
  double total_loss = 0.0;
  int64_t total_correct = 0;
  for (int64_t c = 0; c < chunks; ++c) {
    total_loss += loss_sum[static_cast<size_t>(c)];
    total_correct += correct[static_cast<size_t>(c)];
  }
  *loss = total_loss / static_cast<double>(n);
  *accuracy = static_cast<double>(total_correct) / static_cast<double>(n);
  return OkStatus();
}

Status FederatedEngine::RunRound(int64_t round, RoundMetrics* m) {
  const auto t0 = std::chrono::steady_clock::now();
  const Seed round_seed = setup_.seed.Child("fl").Child("round", static_cast<uint64_t>(round));
  std::vector<int64_t> sampled;
  if (options_.always_sampled.empty()) {
    sampled = round_seed.Child("sample").MakeRng().SampleWithoutReplacement(
        num_clients(), options_.clients_per_round);
  } else {
    // The fixed clients, then the free slots drawn from everyone else.
    std::vector<int64_t> rest;
    for (int64_t c = 0; c < num_clients(); ++c) {
      if (std::find(options_.always_sampled.begin(), options_.always_sampled.end(), c) ==
          options_.always_sampled.end()) {
        rest.push_back(c);
      }
    }
    const int64_t free_slots =
        options_.clients_per_round - static_cast<int64_t>(options_.always_sampled.size());
    sampled = options_.always_sampled;
    for (int64_t k : round_seed.Child("sample").MakeRng().SampleWithoutReplacement(
             static_cast<int64_t>(rest.size()), free_slots)) {
      sampled.push_back(rest[static_cast<size_t>(k)]);
    }
  }
  std::sort(sampled.begin(), sampled.end());
  const int64_t state_bytes = static_cast<int64_t>(global_.size() * sizeof(float));
  m->round = round;
  m->clients_sampled = static_cast<int64_t>(sampled.size());

  // Both ends attest before anything is sent: a device that does not trust
  // the runtime, or that the runtime does not admit, takes no part in the
  // round (it neither receives the global model nor sends an update).
  std::vector<ClientContext> ctx;
  ctx.reserve(sampled.size());
  for (int64_t id : sampled) {
    ClientContext c{round, id, static_cast<int64_t>(ctx.size())};
    Admission trust;
    for (auto& h : hooks_) {
      if (!trust.admitted) break;
      trust = h->AdmitRuntime(c);
    }
    for (auto& h : hooks_) {
      if (!trust.admitted) break;
      trust = h->AdmitClient(c);
    }
    if (trust.admitted) {
      ctx.push_back(c);
    } else {
      ++m->clients_refused;
    }
  }
  const int64_t k = static_cast<int64_t>(ctx.size());
  m->bytes_down = k * state_bytes;
  for (int64_t s = 0; s < k; ++s) {
    for (auto& h : hooks_) {
      h->OnHostEvent(HostEvent{HostEvent::Kind::kGlobalToClient, round,
                               ctx[static_cast<size_t>(s)].client_id, state_bytes,
                               options_.transport_encrypted ? nullptr : &global_});
      h->OnGlobalModel(ctx[static_cast<size_t>(s)], global_);
    }
  }

  std::vector<SlotResult> results;
  Status trained;
  if (options_.executor == nullptr) {
    trained = TrainClients(ctx, global_, &results);
  } else {
    std::vector<int64_t> work(static_cast<size_t>(k));
    for (int64_t s = 0; s < k; ++s) {
      work[static_cast<size_t>(s)] = static_cast<int64_t>(
          setup_.partition[static_cast<size_t>(ctx[static_cast<size_t>(s)].client_id)].size());
    }
    LocalTrainFn local = [this](const std::vector<ClientContext>& c, const std::vector<float>& g,
                                std::vector<ClientTrainResult>* r) {
      return TrainClients(c, g, r);
    };
    trained = options_.executor->TrainRound(ctx, work, global_, local, &results);
    if (trained.ok() && static_cast<int64_t>(results.size()) != k) {
      trained = InternalError("the client executor returned " + std::to_string(results.size()) +
                              " results for " + std::to_string(k) + " clients");
    }
    for (int64_t s = 0; trained.ok() && s < k; ++s) {
      if (results[static_cast<size_t>(s)].missing) continue;
      if (results[static_cast<size_t>(s)].update.client_id != ctx[static_cast<size_t>(s)].client_id) {
        trained = InternalError("the client executor returned slot " + std::to_string(s) +
                                " for client " +
                                std::to_string(results[static_cast<size_t>(s)].update.client_id) +
                                ", expected " +
                                std::to_string(ctx[static_cast<size_t>(s)].client_id));
      }
    }
  }
  if (!trained.ok()) return trained.WithContext("round " + std::to_string(round));

  // A missing slot (its device dropped out) leaves here: no update hook, no
  // host event and no aggregator sees it, so it is no vote (a zero delta
  // would be one for median, Krum or trimmed mean). The present slots keep
  // their ClientContext, slot index included.
  std::vector<ClientContext> present;
  std::vector<ClientUpdate> updates;
  present.reserve(static_cast<size_t>(k));
  updates.reserve(static_cast<size_t>(k));
  double loss_sum = 0.0;
  int64_t seen = 0;
  for (int64_t s = 0; s < k; ++s) {
    SlotResult& r = results[static_cast<size_t>(s)];
    if (r.missing) {
      ++m->clients_dropped;
      continue;
    }
    loss_sum += r.loss_sum;
    seen += r.samples_seen;
    m->train_seconds += r.train_seconds;
    for (auto& h : hooks_) h->OnClientUpdate(ctx[static_cast<size_t>(s)], global_, &r.update);
    present.push_back(ctx[static_cast<size_t>(s)]);
    updates.push_back(std::move(r.update));
  }
  results.clear();
  if (static_cast<int64_t>(present.size()) < options_.min_updates) {
    return UnavailableError(
        "round " + std::to_string(round) + ": " + std::to_string(present.size()) + " of " +
        std::to_string(k) + " admitted clients sent an update (" +
        std::to_string(m->clients_dropped) + " dropped out), fewer than min_updates " +
        std::to_string(options_.min_updates));
  }
  ctx = std::move(present);
  const int64_t n_present = static_cast<int64_t>(ctx.size());
  for (auto& h : hooks_) h->OnRoundUpdates(ctx, global_, &updates);

  std::vector<ClientUpdate> admitted;
  admitted.reserve(static_cast<size_t>(n_present));
  for (int64_t s = 0; s < n_present; ++s) {
    ClientUpdate& u = updates[static_cast<size_t>(s)];
    const ClientContext& c = ctx[static_cast<size_t>(s)];
    u.client_id = c.client_id;  // A hook may not impersonate another client.
    if (u.values.size() != global_.size()) {
      return InvalidArgumentError("round " + std::to_string(round) + ": the update of client " +
                                  std::to_string(c.client_id) + " has " +
                                  std::to_string(u.values.size()) + " values, expected " +
                                  std::to_string(global_.size()));
    }
    for (auto& h : hooks_) {
      h->OnHostEvent(HostEvent{HostEvent::Kind::kUpdateToRuntime, round, c.client_id, state_bytes,
                               options_.transport_encrypted ? nullptr : &u.values});
    }
    admitted.push_back(std::move(u));
  }
  updates.clear();  // Deltas now live in `admitted` only.
  m->clients_admitted = static_cast<int64_t>(admitted.size());
  m->bytes_up = m->clients_admitted * state_bytes;
  m->mean_train_loss = seen > 0 ? loss_sum / static_cast<double>(seen) : kNaN;

  for (auto& h : hooks_) h->OnUpdatesReceived(round, global_, admitted);
  last_report_ = AggregationReport{};
  if (!admitted.empty()) {
    std::vector<float> delta, server_update;
    AggregationContext actx{round, &global_, round_seed.Child("aggregate")};
    actx.report = &last_report_;
    if (setup_.aggregator->wants_server_update()) {
      CONFML_RETURN_IF_ERROR(TrainServerUpdate(round_seed.Child("server"), &server_update));
      actx.server_update = &server_update;
    }
    CONFML_RETURN_IF_ERROR(setup_.aggregator->Aggregate(admitted, actx, &delta));
    m->updates_rejected = static_cast<int64_t>(last_report_.rejected.size());
    if (delta.size() != global_.size()) {
      return InternalError("aggregator '" + setup_.aggregator->name() + "' returned " +
                           std::to_string(delta.size()) + " values for a state of " +
                           std::to_string(global_.size()));
    }
    // At 1 no multiplication, so FedAvg runs stay bitwise what they were.
    if (options_.server_lr == 1.0) {
      for (size_t i = 0; i < global_.size(); ++i) global_[i] += delta[i];
    } else {
      const double eta = options_.server_lr;
      for (size_t i = 0; i < global_.size(); ++i) {
        global_[i] += static_cast<float>(eta * static_cast<double>(delta[i]));
      }
    }
  }
  round_ = round;

  m->test_accuracy = m->test_loss = kNaN;
  const bool last = round == options_.rounds;
  const bool due = options_.eval_every > 0 && round % options_.eval_every == 0;
  if (setup_.test != nullptr && (due || last)) {
    CONFML_RETURN_IF_ERROR(EvaluateGlobal(&m->test_loss, &m->test_accuracy));
  }
  m->seconds = SecondsSince(t0);
  return OkStatus();
}

Status FederatedEngine::TrainClients(const std::vector<ClientContext>& ctx,
                                     const std::vector<float>& global,
                                     std::vector<ClientTrainResult>* results) {
  const int64_t k = static_cast<int64_t>(ctx.size());
  if (global.size() != global_.size()) {
    return InvalidArgumentError("a global state of " + std::to_string(global.size()) +
                                " floats to train from; the model has " +
                                std::to_string(global_.size()));
  }
  // Every client of one call belongs to the same round (the executor's
  // contract); an empty share still clears the results.
  const int64_t round = k > 0 ? ctx.front().round : 0;
  for (const ClientContext& c : ctx) {
    if (c.client_id < 0 || c.client_id >= num_clients() || c.round != round) {
      return InvalidArgumentError("asked to train client " + std::to_string(c.client_id) +
                                  " of round " + std::to_string(c.round) + "; the partition has " +
                                  std::to_string(num_clients()) + " clients and the call round " +
                                  std::to_string(round));
    }
  }
  const Seed round_seed = setup_.seed.Child("fl").Child("round", static_cast<uint64_t>(round));
  // Largest clients first (LPT), so a big client does not start last and
  // leave the other workers idle. Results go to slots, so the schedule does
  // not affect the outcome.
  std::vector<int64_t> schedule(static_cast<size_t>(k));
  for (int64_t s = 0; s < k; ++s) schedule[static_cast<size_t>(s)] = s;
  std::stable_sort(schedule.begin(), schedule.end(), [&](int64_t a, int64_t b) {
    return setup_.partition[static_cast<size_t>(ctx[static_cast<size_t>(a)].client_id)].size() >
           setup_.partition[static_cast<size_t>(ctx[static_cast<size_t>(b)].client_id)].size();
  });
  results->assign(static_cast<size_t>(k), SlotResult{});
  Status trained = ParallelFor(k, [&](Worker& w, int64_t item) -> Status {
    const int64_t s = schedule[static_cast<size_t>(item)];
    const ClientContext& c = ctx[static_cast<size_t>(s)];
    SlotResult& r = (*results)[static_cast<size_t>(s)];
    r.update.client_id = c.client_id;
    ClientData data{setup_.train, &setup_.partition[static_cast<size_t>(c.client_id)]};
    for (auto& h : hooks_) data = h->ClientTrainingData(c, data);
    if (data.dataset == nullptr || data.indices == nullptr) {
      return InvalidArgumentError("a hook gave client " + std::to_string(c.client_id) + " no data");
    }
    if (data.dataset->sample_shape != setup_.train->sample_shape) {
      return InvalidArgumentError("a hook gave client " + std::to_string(c.client_id) +
                                  " data of another sample shape");
    }
    w.loaded_version = -1;
    CONFML_RETURN_IF_ERROR(LoadFlatState(*w.model, global));
    CONFML_RETURN_IF_ERROR(
        TrainLocal(*w.model, data, options_,
                   round_seed.Child("client", static_cast<uint64_t>(c.client_id)), c, &r));
    r.update.values = FlatState(*w.model);
    float* v = r.update.values.data();
    const float* g = global.data();
    for (size_t i = 0; i < global.size(); ++i) v[i] -= g[i];
    return OkStatus();
  });
  return trained;
}

Status FederatedEngine::TrainServerUpdate(Seed seed, std::vector<float>* update) {
  if (setup_.root_indices.empty()) {
    return FailedPreconditionError("aggregator '" + setup_.aggregator->name() +
                                   "' needs a root dataset at the runtime, but none was set");
  }
  Worker& w = *workers_.front();
  w.loaded_version = -1;
  CONFML_RETURN_IF_ERROR(LoadFlatState(*w.model, global_));
  SlotResult r;
  const ClientContext server{round_ + 1, -1, -1};
  Status s = OkStatus();
  try {
    s = TrainLocal(*w.model, ClientData{setup_.train, &setup_.root_indices}, options_, seed, server,
                   &r);
  } catch (const std::exception& e) {
    return InternalError(std::string("training the runtime's root-dataset update: ") + e.what());
  }
  CONFML_RETURN_IF_ERROR(s);
  *update = FlatState(*w.model);
  for (size_t i = 0; i < global_.size(); ++i) (*update)[i] -= global_[i];
  return OkStatus();
}

Status FederatedEngine::SaveCheckpoint() {
  FlCheckpoint c;
  c.config_hash = config_hash_;
  c.seed = setup_.seed.value();
  c.round = round_;
  c.global = global_;
  c.metrics = history_;
  c.aggregator_state = setup_.aggregator->SaveState();
  Status s = WriteFlCheckpoint(options_.checkpoint_path, c);
  if (!s.ok()) return s.WithContext("writing checkpoint after round " + std::to_string(round_));
  return OkStatus();
}

Status FederatedEngine::Restore() {
  StatusOr<FlCheckpoint> c = ReadFlCheckpoint(options_.checkpoint_path);
  if (!c.ok()) {
    if (c.status().code() == StatusCode::kNotFound) return OkStatus();  // Fresh start.
    return c.status();
  }
  if (c->config_hash != config_hash_ || c->seed != setup_.seed.value()) {
    return FailedPreconditionError(
        "checkpoint '" + options_.checkpoint_path +
        "' was written by another configuration or seed (config hash " +
        std::to_string(c->config_hash) + ", seed " + std::to_string(c->seed) +
        "; this run: " + std::to_string(config_hash_) + ", seed " +
        std::to_string(setup_.seed.value()) + "); remove it or point checkpoint_path elsewhere");
  }
  if (c->global.size() != global_.size() || static_cast<int64_t>(c->metrics.size()) != c->round) {
    return DataLossError("checkpoint '" + options_.checkpoint_path +
                         "' is inconsistent (state or metrics size)");
  }
  if (Status s = setup_.aggregator->LoadState(c->aggregator_state); !s.ok()) {
    return s.WithContext("checkpoint '" + options_.checkpoint_path + "'");
  }
  global_ = std::move(c->global);
  round_ = c->round;
  history_ = std::move(c->metrics);
  for (auto& w : workers_) w->loaded_version = -1;
  return OkStatus();
}

StatusOr<FederatedResult> FederatedEngine::Run(const RoundCallback& on_round, int64_t until_round) {
  ClientExecutor* executor = options_.executor.get();
  if (executor != nullptr && !executor->coordinator()) return ServeRounds();
  StatusOr<FederatedResult> result = RunRounds(on_round, until_round);
  // A Run stopped early by until_round keeps the workers for the next one.
  if (executor != nullptr && (!result.ok() || round_ >= options_.rounds)) {
    executor->EndRun(result.ok() ? OkStatus() : result.status(), global_);
  }
  return result;
}

StatusOr<FederatedResult> FederatedEngine::ServeRounds() {
  LocalTrainFn local = [this](const std::vector<ClientContext>& c, const std::vector<float>& g,
                              std::vector<ClientTrainResult>* r) { return TrainClients(c, g, r); };
  std::vector<float> final_global;
  CONFML_RETURN_IF_ERROR(options_.executor->Serve(local, &final_global));
  if (final_global.size() != global_.size()) {
    return InternalError("the coordinator's final state has " +
                         std::to_string(final_global.size()) + " floats; the model has " +
                         std::to_string(global_.size()));
  }
  global_ = std::move(final_global);
  round_ = options_.rounds;
  FederatedResult result;
  result.state_size = static_cast<int64_t>(global_.size());
  result.final_state_hash = StateHash(global_model());
  result.final_test_accuracy = result.final_test_loss = kNaN;
  return result;
}

StatusOr<FederatedResult> FederatedEngine::RunRounds(const RoundCallback& on_round,
                                                     int64_t until_round) {
  // Hooks (attack code among them) and the server update run LibTorch on
  // this thread; at experiment.threads intra-op threads their last bits, and
  // so attack metrics, would follow the thread count. Client training and
  // evaluation run on the pinned workers and are unaffected.
  OneIntraOpThread one_thread;
  const int64_t until = until_round < 0 ? options_.rounds : std::min(until_round, options_.rounds);
  FederatedResult result;
  if (round_ == 0 && !options_.checkpoint_path.empty()) {
    CONFML_RETURN_IF_ERROR(Restore());
    result.resumed_from_round = round_;
  }
  for (int64_t r = round_ + 1; r <= until; ++r) {
    RoundMetrics m;
    CONFML_RETURN_IF_ERROR(RunRound(r, &m));
    history_.push_back(m);
    for (auto& h : hooks_) h->OnRoundEnd(m, global_);
    if (!options_.checkpoint_path.empty() && (r % options_.checkpoint_every == 0 || r == until)) {
      CONFML_RETURN_IF_ERROR(SaveCheckpoint());
    }
    if (on_round) on_round(m);
  }
  result.rounds = history_;
  result.state_size = static_cast<int64_t>(global_.size());
  result.final_state_hash = StateHash(global_model());
  result.final_test_accuracy = result.final_test_loss = kNaN;
  for (auto it = history_.rbegin(); it != history_.rend(); ++it) {
    if (!std::isnan(it->test_accuracy)) {
      result.final_test_accuracy = it->test_accuracy;
      result.final_test_loss = it->test_loss;
      break;
    }
  }
  return result;
}

}  // namespace confml
