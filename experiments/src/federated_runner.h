// federated_runner.h (private to confml::experiments): runs one federated
// experiment from already-validated values. runner.cc calls
// RunFederatedExperiment for `experiment.kind: federated` once the YAML
// schema has the federated section; this header deliberately takes plain
// values, not the config, so that the schema can be wired without touching
// the engine.
//
//   FederatedRunSpec spec;
//   spec.dataset = "fashion_mnist"; spec.model = "small_cnn";
//   spec.partition = "dirichlet"; spec.num_clients = 100; spec.alpha = 0.5;
//   spec.options.rounds = 100; spec.options.workers = 2;
//   spec.run_dir = "runs/fl-...";      // fl_rounds.h5 and fl.ckpt go there
//   StatusOr<FederatedRunOutput> out = RunFederatedExperiment(spec);
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "confml/core/attack.h"
#include "confml/core/dataset.h"
#include "confml/core/federated.h"
#include "confml/core/params.h"
#include "confml/core/partition.h"
#include "confml/core/seed.h"
#include "confml/core/status.h"
#include "confml/core/tee_backend.h"
#include "confml/experiments/parties.h"

namespace confml::experiments {

struct FederatedRunSpec {
  std::string name = "federated";
  uint64_t seed = 1;
  std::string dataset = "fashion_mnist";  // A DatasetRegistry() name.
  std::map<std::string, ParamValue> dataset_params;
  std::string model = "small_cnn";  // A ModelRegistry() name.
  std::map<std::string, ParamValue> model_params;
  std::string partition = "dirichlet";  // "iid", "dirichlet", "shards", "fang" or "owned".
  int64_t num_clients = 100;
  double alpha = 0.5;                 // dirichlet.
  int64_t min_per_client = 1;         // dirichlet.
  int64_t shards_per_client = 2;      // shards.
  double fang_q = 0.5;                // fang.
  // An earlier run's fl.ckpt (or its run folder) whose global model the run
  // starts from; empty: a fresh model.
  std::string initial_model;
  // When set, the initial state comes from here instead (RunOptions::
  // initial_state): called with the model's flat size.
  std::function<StatusOr<std::vector<float>>(int64_t state_size)> initial_state;
  std::string aggregator = "fedavg";  // An AggregatorRegistry() name.
  std::map<std::string, ParamValue> aggregator_params;
  FederatedOptions options;  // checkpoint_path defaults to <run_dir>/fl.ckpt.
  // Where fl_rounds.h5 (and by default the checkpoint) go; empty writes nothing.
  std::string run_dir;
  // When set, the data to use instead of loading `dataset` (borrowed; the
  // config runner loads and truncates it before creating the run folder).
  const TrainTest* data = nullptr;

  // Parties in realms (federation.h): used when `use_deployment` is set (the
  // config has a tee or attestation section).
  bool use_deployment = false;
  std::string tee_backend = "none";
  std::map<std::string, ParamValue> tee_params;
  int64_t realm_memory_mb = 4;
  AttestationMode attestation = AttestationMode::kOff;
  std::vector<std::string> trust_deployed;  // "runtime", "device"
  // An attack module (AttackRegistry name); empty for none.
  std::string attack;
  std::map<std::string, ParamValue> attack_params;
  double malicious_fraction = 0.1;  // device attacks
  int64_t attack_start_round = 1;   // the attack sees no hook of earlier rounds
  bool attackers_every_round = false;  // device attacks: malicious devices in every round
  // FLTrust-style aggregators: samples of the runtime's root dataset.
  int64_t root_dataset_size = 100;
};

struct FederatedRunOutput {
  FederatedResult result;
  std::string results_path;  // <run_dir>/fl_rounds.h5, or empty.
  int64_t train_samples = 0;
  int64_t test_samples = 0;
  int64_t model_parameters = 0;
  std::optional<AttackReport> attack;        // when spec.attack is set
  std::vector<AdmissionRecord> admissions;   // every attestation decision
  std::vector<int64_t> malicious_clients;    // clients whose Program carries the attack
  TeeCost tee_cost;
};

// Builds data (seed root.Child("data")), partition (root.Child("partition")),
// aggregator and engine, runs (resuming from the checkpoint when present) and
// rewrites fl_rounds.h5 atomically after every round. Errors keep the code of
// what failed (NotFound / DataLoss for data, InvalidArgument for
// parameters, FailedPrecondition for a foreign checkpoint), with context.
StatusOr<FederatedRunOutput> RunFederatedExperiment(
    const FederatedRunSpec& spec, const std::vector<std::shared_ptr<FederatedHooks>>& hooks = {},
    const FederatedEngine::RoundCallback& on_round = {});

// The global state of an earlier run to start from: `path` is its fl.ckpt or
// its run folder. NotFound naming the path when absent; DataLoss when not a
// checkpoint; InvalidArgument when its size is not `expected_size` floats.
StatusOr<std::vector<float>> LoadInitialModel(const std::string& path, int64_t expected_size);

// The partition RunFederatedExperiment uses for `train` (seed: the run's
// root.Child("partition")); lets a caller check the partition parameters
// before it creates anything.
StatusOr<Partition> MakeFederatedPartition(const FederatedRunSpec& spec, const Dataset& train,
                                           Seed seed);

// The per-round results file. Layout (root group): datasets of one element per
// completed round: round, clients_sampled, clients_admitted,
// clients_refused, updates_rejected, bytes_down, bytes_up, clients_dropped (int64; files
// without clients_dropped read as 0); test_accuracy, test_loss,
// mean_train_loss, seconds, train_seconds (float64). Attributes: name,
// seed, rounds_planned, complete (int64), final_state_hash (string).
Status WriteFederatedResults(const std::string& path, const std::string& name, uint64_t seed,
                             int64_t rounds_planned, bool complete,
                             const std::vector<RoundMetrics>& rounds,
                             const std::string& final_state_hash);
// Reads the columns back (for tests and notebooks). NotFound / DataLoss.
StatusOr<std::vector<RoundMetrics>> ReadFederatedResults(const std::string& path);
// The final_state_hash attribute ("" until the run completes). NotFound /
// DataLoss.
StatusOr<std::string> ReadFederatedStateHash(const std::string& path);

}  // namespace confml::experiments
