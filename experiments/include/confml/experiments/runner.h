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
//                    epoch
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
#include <string>
#include <vector>

#include "confml/core/status.h"
#include "confml/experiments/config.h"
#include "confml/experiments/results.h"

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
};

struct RunResult {
  std::string run_dir;  // Empty when write_run_dir is false.
  std::vector<EpochRecord> epochs;
  double final_test_accuracy = 0.0;
  double final_test_loss = 0.0;
  int64_t train_samples = 0;
  int64_t test_samples = 0;
  int64_t model_parameters = 0;
};

StatusOr<RunResult> RunExperiment(const ExperimentConfig& config, const RunOptions& options = {});

// Whether a Status from LoadExperimentConfig or RunExperiment is the user's
// input at fault (config, arguments, data files) rather than confml: the
// command line exits with 2 for those and 3 otherwise.
bool IsInputError(const Status& status);

}  // namespace confml::experiments
