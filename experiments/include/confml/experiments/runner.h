// confml/experiments/runner.h: runs a validated experiment config and writes
// its run folder.
//
//   StatusOr<ExperimentConfig> config = LoadExperimentConfig("experiments/fashion_mnist_cnn.yaml");
//   RunOptions options;
//   options.command_line = {"confml", "run", "experiments/fashion_mnist_cnn.yaml"};
//   StatusOr<RunResult> r = RunExperiment(*config, options);
//   if (r.ok()) std::cout << r->final_test_accuracy << " in " << r->run_dir << "\n";
//
// The run folder is <experiment.output_dir>/<name>-<YYYYmmdd-HHMMSS>-<seed>
// (with "-2", "-3", ... appended when that exists) and holds:
//   config.yaml      the resolved config (every default filled in)
//   provenance.json  version, git commit, build type, compiler, seed, thread
//                    counts, host, start time, command line
//   results.h5       per-epoch metrics (see results.h), rewritten after every
//                    epoch (kind centralized)
//   fl_rounds.h5     per-round metrics and the final state hash, rewritten after
//                    every round (kind federated; see docs/federated.md)
//   fl.ckpt          the federated checkpoint: RunOptions::resume_dir set to
//                    this folder continues the run from it (kind federated)
//   outcome.h5       named outcomes, attestation decisions, attack arrays and
//                    events (kind flow; federated runs with a tee,
//                    attestation or attack section)
// Nothing is created until the config's components are built and the dataset
// is loaded, so an input error leaves no folder behind. Every file is written
// to a temporary name and renamed, so a killed run leaves only complete files.
//
// Errors: the Status of whatever failed, unchanged in code (NotFound or
// DataLoss for a missing or corrupt dataset file, InvalidArgument for a model
// that does not fit the data, Unavailable for I/O), with context. Not
// thread-safe: a run sets LibTorch's process-wide thread count.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "confml/core/status.h"
#include "confml/core/tee_backend.h"
#include "confml/experiments/config.h"
#include "confml/experiments/parties.h"
#include "confml/experiments/results.h"

namespace confml {
class ClientExecutor;  // confml/core/federated.h
}  // namespace confml

namespace confml::experiments {

enum class ProgressMode {
  kAuto,   // A bar when stderr is a terminal, log lines otherwise.
  kBar,    // A progress bar on stderr, redrawn in place.
  kLines,  // One log line per epoch on stderr.
  kNone,   // Silent.
};

struct RunOptions {
  ProgressMode progress = ProgressMode::kAuto;
  // Recorded in provenance.json; default empty.
  std::vector<std::string> command_line;
  // When false, nothing is written (a notebook that only wants the numbers).
  // Default true.
  bool write_run_dir = true;
  // Kind federated only: continue the run in this existing run folder (from
  // its fl.ckpt) instead of creating a new one. The checkpoint must come from
  // the same configuration (FailedPrecondition otherwise); federated.rounds,
  // workers, eval_every and checkpoint_every may differ. Default empty.
  std::string resume_dir;
  // Kind federated only: where the round's clients train (FederatedOptions::
  // executor); null, the default, trains them in this process.
  std::shared_ptr<ClientExecutor> client_executor;
  // Kind federated only: when set, supplies the initial global state in place
  // of the model's seeded initialisation and of federated.initial_model (a
  // model-provider process delivers it in net/). Called once, before the
  // engine is built, with the model's flat size; an error it returns ends the
  // run, and a result of another size is refused (InvalidArgument). The state
  // enters the checkpoint's config hash, as federated.initial_model's does.
  // Default null.
  std::function<StatusOr<std::vector<float>>(int64_t state_size)> initial_state;
};

// One federated round (kind federated).
struct RoundRecord {
  int64_t round = 0;             // 1-based.
  double mean_train_loss = 0.0;  // Over the round's clients and local steps.
  double test_loss = 0.0;        // NaN for rounds without evaluation.
  double test_accuracy = 0.0;    // NaN for rounds without evaluation.
  int64_t clients_admitted = 0;
  int64_t clients_refused = 0;
  double seconds = 0.0;
  int64_t clients_dropped = 0;  // Admitted, but the device dropped out before its update came.
};

struct RunResult {
  std::string run_dir;  // Empty when write_run_dir is false.
  std::vector<EpochRecord> epochs;  // Kind centralized; empty for federated.
  std::vector<RoundRecord> rounds;  // Kind federated, resumed rounds included.
  std::string final_state_hash;     // Kind federated: hash of the final global model.
  double final_test_accuracy = 0.0;
  double final_test_loss = 0.0;
  int64_t train_samples = 0;
  int64_t test_samples = 0;
  int64_t model_parameters = 0;
  // Kind flow, and federated runs with a tee, attestation or attack section:
  // named outcomes (e.g. inputs_leaked, attack.psnr), every attestation
  // decision, and what happened, for people. Also in outcome.h5.
  std::map<std::string, double> outcome;
  std::vector<AdmissionRecord> admissions;
  std::vector<std::string> events;
  TeeCost tee_cost;  // modeled overheads of every realm (zero without realms)
};

StatusOr<RunResult> RunExperiment(const ExperimentConfig& config, const RunOptions& options = {});

// Whether a Status from LoadExperimentConfig or RunExperiment is the user's
// input at fault (config, arguments, data files) rather than confml: the
// command line exits with 2 for those and 3 otherwise.
bool IsInputError(const Status& status);

}  // namespace confml::experiments
