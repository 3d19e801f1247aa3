// confml/core/federated.h: the federated-learning engine (LibTorch).
//
//   FederatedOptions opt;
//   opt.rounds = 100; opt.clients_per_round = 10; opt.local_epochs = 1;
//   opt.local_batch_size = 32; opt.optimizer = {.name = "sgd", .lr = 0.05, .momentum = 0.9};
//   opt.workers = 2; opt.checkpoint_path = "run/fl.ckpt";
//   FederatedSetup setup;
//   setup.model = "small_cnn"; setup.train = &data.train; setup.test = &data.test;
//   setup.partition = *PartitionDirichlet(data.train.labels, 10, 100, 0.5,
//   seed.Child("partition")); setup.seed = Seed(42); StatusOr<std::unique_ptr<FederatedEngine>>
//   engine = FederatedEngine::Create(opt, std::move(setup)); StatusOr<FederatedResult> r =
//   (*engine)->Run();
//
// A round r (1-based): sample `clients_per_round` distinct clients with
// Seed root.Child("fl").Child("round", r).Child("sample"); every sampled
// client loads the global state into a worker's model replica, trains
// `local_epochs` (stopping after `local_steps` minibatch steps when that is
// set) on its partition with a fresh optimizer and the randomness of
// root.Child("fl").Child("round", r).Child("client", id), and sends its delta;
// the runtime admits updates (hooks), aggregates them in ascending client
// order through the Aggregator and adds `server_lr` times the result to the
// global state; then
// the global model is evaluated on the test set.
//
// Determinism: every worker runs LibTorch single-threaded (OpenMP ICV set to
// 1 on the worker thread), clients own no state across rounds, and updates
// are stored per slot and aggregated in a fixed order, so the final state
// (FederatedResult::final_state_hash) is bitwise identical for any worker
// count, and a run resumed from a checkpoint ends where an uninterrupted one
// does.
//
// Memory: the datasets are shared and borrowed; a partition is index lists;
// batches are gathered from the shared tensors. Alive at any time: one model
// replica per worker plus one global, and one delta per sampled client.
//
// Thread-compatible: one Run at a time per engine.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "confml/core/aggregator.h"
#include "confml/core/dataset.h"
#include "confml/core/fl_hooks.h"
#include "confml/core/model.h"
#include "confml/core/partition.h"
#include "confml/core/seed.h"
#include "confml/core/status.h"
#include "confml/core/trainer.h"

namespace confml {

class ClientExecutor;

struct FederatedOptions {
  int64_t rounds = 10;             // >= 1.
  int64_t clients_per_round = 10;  // In [1, number of clients].
  int64_t local_epochs = 1;        // >= 1.
  // >= 0. N >= 1: a client stops after N minibatch steps, counted across its
  // epochs (so local_epochs must cover them; e.g. 1 step per round is
  // FedSGD-like training, as Fang et al.'s attacked gradients). 0: no cap.
  int64_t local_steps = 0;
  int64_t local_batch_size = 32;   // >= 1.
  OptimizerOptions optimizer;      // A fresh optimizer per client and round.
  int64_t workers = 1;             // Threads training clients, each with its own replica. >= 1.
  int64_t eval_every = 1;          // Evaluate every this many rounds (and the last); 0: last only.
  int64_t eval_batch_size = 1000;  // >= 1.
  // Empty: no checkpoints. Otherwise written every `checkpoint_every` rounds
  // (and after the last), and resumed from when it exists at Run().
  std::string checkpoint_path;
  int64_t checkpoint_every = 1;  // >= 1.
  // True when every transfer goes through an attested channel: host events
  // then carry no plaintext payload (the host sees ciphertext only).
  bool transport_encrypted = false;
  // Where the round's clients train. Null (the default): on this process's
  // worker pool. A scale-out backend (scaleout/mpi_executor.h) deals them to
  // other processes; results are the same either way.
  std::shared_ptr<ClientExecutor> executor;
  // Clients sampled in every round (a device that is always online, such as
  // the adversary of Melis et al. who keeps every global model); distinct,
  // in [0, number of clients), at most clients_per_round of them. The other
  // clients_per_round - size() slots are drawn uniformly from the remaining
  // clients with the round's sample seed. Empty (the default): uniform
  // sampling of all slots, exactly as without this field.
  std::vector<int64_t> always_sampled;
  // A round fails (Unavailable, naming the round and the counts) when fewer
  // than this many admitted clients' updates came back; only an executor
  // that reports missing slots (dropouts) can make it bite. 0 (the default):
  // no minimum, so a round where every update is missing leaves the global
  // model unchanged, as one where attestation refused every client. >= 0.
  int64_t min_updates = 0;
  // The runtime's step on the aggregate: global += server_lr * aggregate
  // (FedOpt's server learning rate, Reddi et al., ICLR 2021; 1 is FedAvg).
  // At 1 (the default) the aggregate is added as it is, bitwise as without
  // this field. Finite and > 0.
  double server_lr = 1.0;
};

// What a client's local training runs: Trainer::FitSubset with these options
// on the client's indices, with seed root.Child("fl").Child("round",
// r).Child("client", id). local_* become epochs, max_steps and batch_size;
// one micro-batch per batch (the clients are the parallelism). Attacks that
// simulate an honest device's training use it to train exactly as one.
TrainOptions ClientTrainOptions(const FederatedOptions& options);

// One client's local training as it comes back to the runtime.
struct ClientTrainResult {
  ClientUpdate update;        // Delta from the round's global state; client_id, num_samples set.
  double loss_sum = 0.0;      // Sum over local steps of (batch loss * batch size).
  int64_t samples_seen = 0;   // Samples over all local steps.
  double train_seconds = 0.0;
  // Set by an executor whose device dropped out (its data is its own, so no
  // one else can train the slot): the engine then ignores every other field,
  // shows the slot to no update hook and to no aggregator, and counts it in
  // RoundMetrics::clients_dropped.
  bool missing = false;
};

// Trains `clients` on this process's worker pool from `global` (the round's
// global state); (*results)[i] is clients[i]'s. The error of the first
// failing client in schedule order.
using LocalTrainFn =
    std::function<Status(const std::vector<ClientContext>& clients,
                         const std::vector<float>& global, std::vector<ClientTrainResult>* results)>;

// The seam between the engine and a scale-out backend: WHERE a round's
// clients train. The engine (on the coordinating process) keeps sampling,
// hooks other than ClientTrainingData, aggregation, evaluation and
// checkpoints; the executor only decides which process trains which client.
// Because a client's training depends only on (global state, seed, round,
// client id, data), results do not depend on the executor.
//
// Protocol seen from the engine: on the coordinator, Run calls TrainRound
// once per round and EndRun once when the run fails or completes (not after a
// Run stopped early by `until_round`). On any other process Run calls Serve
// only. Not thread-safe: called from the thread running Run.
class ClientExecutor {
 public:
  virtual ~ClientExecutor() = default;
  // True on the process that runs the rounds; false on a worker process.
  virtual bool coordinator() const = 0;
  // Coordinator: trains the round's participating `clients` (slot order) from
  // `global` and fills (*results)[i] for clients[i]. `work[i]` is clients[i]'s
  // partition size, for balancing. `local` trains any subset here. A client
  // that cannot be trained (its device dropped out) is marked
  // (*results)[i].missing rather than failing the round; the engine decides
  // whether enough updates remain (FederatedOptions::min_updates).
  virtual Status TrainRound(const std::vector<ClientContext>& clients,
                            const std::vector<int64_t>& work, const std::vector<float>& global,
                            const LocalTrainFn& local, std::vector<ClientTrainResult>* results) = 0;
  // Coordinator: the run ended with `status`; `global` is the final state.
  virtual void EndRun(const Status& status, const std::vector<float>& global) = 0;
  // Worker: trains what the coordinator asks through `local` until it ends the
  // run; then *final_global is the coordinator's final state. Returns the
  // coordinator's error when the run failed there.
  virtual Status Serve(const LocalTrainFn& local, std::vector<float>* final_global) = 0;
};

// The rounds-independent part of a run. `train` and `test` are borrowed and
// must outlive the engine; `test` may be null (no evaluation).
struct FederatedSetup {
  std::string model = "mlp";
  std::map<std::string, ParamValue> model_params;
  const Dataset* train = nullptr;
  const Dataset* test = nullptr;
  Partition partition;       // Indices into *train, one list per client.
  AggregatorPtr aggregator;  // Null: fedavg (weighted).
  Seed seed{0};
  // The runtime's root dataset (indices into *train), used only when the
  // aggregator wants_server_update() (FLTrust); trained like a client.
  std::vector<int64_t> root_indices;
  // Empty: the model's seeded initialisation. Otherwise the global state to
  // start from (e.g. a converged clean run's, to attack a trained model);
  // must have the model's flat size. Part of the config hash.
  std::vector<float> initial_state;
};

struct FederatedResult {
  std::vector<RoundMetrics> rounds;  // Every completed round, resumed ones included.
  int64_t resumed_from_round = 0;    // 0 when started fresh.
  std::string final_state_hash;      // StateHash of the final global model.
  double final_test_accuracy = 0.0;  // NaN without a test set.
  double final_test_loss = 0.0;
  int64_t state_size = 0;  // Floats in the flat state.
};

class FederatedEngine {
 public:
  // Validates options and setup and builds the global model and the worker
  // replicas. InvalidArgument naming the bad field; NotFound for an unknown
  // model.
  static StatusOr<std::unique_ptr<FederatedEngine>> Create(FederatedOptions options,
                                                           FederatedSetup setup);
  ~FederatedEngine();
  FederatedEngine(const FederatedEngine&) = delete;
  FederatedEngine& operator=(const FederatedEngine&) = delete;

  // Hooks run in the order added; the engine shares ownership.
  void AddHooks(std::shared_ptr<FederatedHooks> hooks);

  using RoundCallback = std::function<void(const RoundMetrics&)>;
  // Resumes from options.checkpoint_path when the file exists
  // (FailedPrecondition when it belongs to another configuration, DataLoss
  // when corrupt), then runs rounds up to `until_round` (-1: options.rounds).
  // A client whose loss turns non-finite fails the run with
  // FailedPrecondition naming the round and client.
  // With a worker-process executor (options.executor, coordinator() false),
  // Run only serves the coordinator's rounds and returns once it ends the run:
  // the result then holds the final global model (hash and size) and no
  // per-round metrics; nothing is checkpointed.
  StatusOr<FederatedResult> Run(const RoundCallback& on_round = {}, int64_t until_round = -1);

  const std::vector<float>& global_state() const { return global_; }
  int64_t completed_rounds() const { return round_; }
  // The aggregator's report of the last round (selected/rejected clients).
  const AggregationReport& last_aggregation_report() const { return last_report_; }
  // The global model (weights as of the last completed round).
  Model& global_model();
  // Hash of what shapes the trajectory: model and parameters, partition,
  // dataset shapes and sizes, the local-training options, clients per round,
  // aggregator name, seed. Not rounds, workers, evaluation or checkpointing,
  // which may change on resume.
  uint64_t config_hash() const { return config_hash_; }
  int64_t num_clients() const { return static_cast<int64_t>(setup_.partition.size()); }
  // Client id -> indices into the training set.
  const Partition& partition() const { return setup_.partition; }

 private:
  struct Worker;
  struct Pool;
  FederatedEngine(FederatedOptions options, FederatedSetup setup);
  Status Init();
  Status Restore();
  Status RunRound(int64_t round, RoundMetrics* metrics);
  StatusOr<FederatedResult> RunRounds(const RoundCallback& on_round, int64_t until_round);
  StatusOr<FederatedResult> ServeRounds();
  // Trains `clients` from `global` on the worker pool (the LocalTrainFn).
  Status TrainClients(const std::vector<ClientContext>& clients, const std::vector<float>& global,
                      std::vector<ClientTrainResult>* results);
  Status EvaluateGlobal(double* loss, double* accuracy);
  // The runtime trains the global model on setup_.root_indices (FLTrust).
  Status TrainServerUpdate(Seed seed, std::vector<float>* update);
  Status SaveCheckpoint();
  // Runs job(worker index, item) for items [0, n) on the worker threads.
  Status ParallelFor(int64_t n, const std::function<Status(Worker&, int64_t)>& job);

  FederatedOptions options_;
  FederatedSetup setup_;
  ModelContext context_;
  uint64_t config_hash_ = 0;
  std::vector<std::unique_ptr<Worker>> workers_;
  ModelPtr global_model_;
  std::vector<float> global_;
  int64_t round_ = 0;
  std::vector<RoundMetrics> history_;
  std::vector<std::shared_ptr<FederatedHooks>> hooks_;
  AggregationReport last_report_;
  std::unique_ptr<Pool> pool_;  // The worker threads serve its job board.
};

}  // namespace confml
