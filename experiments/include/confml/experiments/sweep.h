// confml/experiments/sweep.h: seeds and parameter grids from one experiment
// file (`confml sweep`, docs/sweeps.md).
//
// An experiment file may end with a `sweep:` section: seeds, and a grid of
// dotted keys (the same keys as command-line overrides) with value lists.
// The sweep runs the Cartesian product of the grid values, each cell under
// every seed, as ordinary runs: a run is exactly `confml run CONFIG
// [overrides] key=value ... experiment.seed=S` with its run folder inside
// the sweep folder.
//
//   sweep:
//     seeds: [1, 2, 3]
//     grid: {aggregator.name: [fedavg, median], attack.malicious_fraction: [0.1, 0.2]}
//
//   StatusOr<SweepPlan> plan = PlanSweep("poison.yaml", {"federated.rounds=2"});
//   if (!plan.ok()) return plan.status();      // names the cell, key and value
//   StatusOr<SweepResult> r = RunSweep(*plan);  // 4 cells x 3 seeds = 12 runs
//   std::cout << SweepSummaryMarkdown(*r);
//
// PlanSweep builds and validates every run's config before anything runs, so
// a bad grid value is an InvalidArgument naming it and nothing is written.
// RunSweep runs sequentially in this process, or with SweepOptions::jobs > 1
// up to that many runs at once as child `confml run` processes, and writes,
// atomically after every finished run, sweep.csv (one row per run, in plan
// order) and summary.md (mean ± sd over seeds per grid cell). Not
// thread-safe (a run sets LibTorch's process-wide thread count).
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "confml/core/status.h"
#include "confml/experiments/config.h"

namespace confml::experiments {

// What the command line adds to the file's sweep section.
struct SweepArgs {
  // Replaces sweep.seeds when set (--seeds 1,2,3). Default unset.
  std::optional<std::vector<int64_t>> seeds;
  // Each entry replaces the file's values of that key, or adds the key at
  // the end of the grid (--grid key=v1,v2). Default empty.
  std::vector<std::pair<std::string, std::vector<std::string>>> grid;
};

// One run of the sweep.
struct SweepRun {
  size_t cell = 0;                  // Grid cell, 0-based, row-major over the grid keys.
  std::vector<std::string> values;  // One per grid key, as override text.
  int64_t seed = 0;
  std::vector<std::string> overrides;  // The base overrides, then key=value..., experiment.seed=S.
  ExperimentConfig config;             // Validated, with no sweep section.
};

struct SweepPlan {
  // The config with the base overrides and the effective sweep (the file's
  // merged with SweepArgs, seeds always filled in).
  ExperimentConfig base;
  std::vector<std::string> grid_keys;
  std::vector<int64_t> seeds;
  std::vector<SweepRun> runs;  // Cell by cell, seeds inside.
  size_t cells() const { return seeds.empty() ? 0 : runs.size() / seeds.size(); }
};

// Loads `path` with `overrides`, merges `args` into its sweep section and
// validates every run's config. InvalidArgument when the file has no sweep
// and `args` gives none, for a duplicate seed, an empty value list, a grid
// key that the seeds or the sweep folder own (experiment.seed,
// experiment.output_dir), and for any run whose config is invalid (the
// message names the key=value at fault).
StatusOr<SweepPlan> PlanSweep(const std::string& path, const std::vector<std::string>& overrides,
                              const SweepArgs& args = {});

// One finished run, as a row of sweep.csv.
struct SweepRow {
  size_t cell = 0;
  std::vector<std::string> values;  // One per grid key.
  int64_t seed = 0;
  std::string run_dir;  // Relative to the sweep folder.
  double final_test_accuracy = 0.0;
  double final_test_loss = 0.0;
  double wall_seconds = 0.0;
  std::map<std::string, double> outcome;  // RunResult::outcome.
};

struct SweepOptions {
  // Continue the sweep in this existing sweep folder: runs listed in its
  // sweep.csv whose run folder exists are kept, the others run. The plan
  // must equal the one recorded in its sweep.yaml (FailedPrecondition
  // otherwise). Default empty: a new sweep folder.
  std::string resume_dir;
  // Recorded in every run's provenance.json. Default empty.
  std::vector<std::string> command_line;
  // Called after every finished run with its row, the runs finished so far
  // (kept ones included) and the total. May be empty.
  std::function<void(const SweepRun&, const SweepRow&, size_t done, size_t total)> on_run;
  // How many runs go at once. 1, the default, runs them one after another in
  // this process. N > 1 runs up to N at once, each as a child process
  // `<worker> run CONFIG <the run's overrides> experiment.output_dir=<sweep
  // folder>`: runs cannot share a process (LibTorch's thread count and RNG
  // are process-wide). Each child's stdout and stderr go to
  // logs/<cell>-<seed>.log in the sweep folder. Results do not depend on it.
  // Must be >= 1 (InvalidArgument).
  int jobs = 1;
  // The confml executable the children run; required when jobs > 1
  // (InvalidArgument when empty or not executable). The CLI passes its own
  // (/proc/self/exe); default empty.
  std::string worker;
  // Polled about every 20 ms while children run (jobs > 1 only): once it
  // returns true, no new run starts, the running children get SIGTERM and
  // are waited for, and RunSweep returns Cancelled; finished runs stay
  // recorded, so the folder resumes. May be empty.
  std::function<bool()> stop_requested;
};

struct SweepResult {
  std::string dir;  // The sweep folder.
  std::vector<std::string> grid_keys;
  std::vector<SweepRow> rows;  // In plan order.
  size_t kept = 0;             // Rows taken over from the resumed folder.
};

// Creates <base output_dir>/<name>-sweep-<YYYYmmdd-HHMMSS>-<first seed>
// (or reuses options.resume_dir), writes sweep.yaml (the resolved base config
// with its sweep), then runs every missing run in plan order. A run's error
// ends the sweep with that Status (code unchanged, message naming the run);
// the finished runs stay recorded. A new sweep folder with no finished run
// is removed again.
//
// With jobs > 1 a child that fails stops new runs from starting; the running
// ones finish and are recorded, then RunSweep returns the first failure:
// InvalidArgument when the child exited 2 (`confml run`'s input error),
// Internal for exit 3 or a signal, the message naming the run, the child's
// error line and (while the folder stays) its log file. A child's result
// reaches the parent through a small file (WorkerResultText); a run folder
// whose config.yaml is not the planned config (the file changed during the
// sweep) is FailedPrecondition. options.stop_requested, or a child killed by
// SIGINT (a terminal's Ctrl-C reaches the whole process group), gives
// Cancelled once the running children were terminated and waited for.
StatusOr<SweepResult> RunSweep(const SweepPlan& plan, const SweepOptions& options = {});

// sweep.csv: cell, the grid keys, seed, run_dir, final_test_accuracy,
// final_test_loss, wall_seconds, then every outcome name of any row (sorted;
// empty where a row lacks it). Numbers with 17 significant digits, so that
// ParseSweepCsv gives the rows back exactly.
std::string SweepCsv(const std::vector<std::string>& grid_keys, const std::vector<SweepRow>& rows);
// DataLoss naming the line for a file SweepCsv did not write for these keys.
StatusOr<std::vector<SweepRow>> ParseSweepCsv(std::string_view text,
                                              const std::vector<std::string>& grid_keys);

// Mean and sample standard deviation (n - 1); sd is NaN when n < 2 and both
// are NaN when n == 0. NaN inputs are skipped.
struct MeanSd {
  double mean = 0.0;
  double sd = 0.0;
  size_t n = 0;
};
MeanSd MeanAndSd(const std::vector<double>& values);

// The worker protocol of jobs > 1, not for users: `confml run ...
// --sweep-result=FILE` writes WorkerResultText of its result and the run's
// wall seconds to FILE (atomically, after the run succeeded), and RunSweep
// reads it back with ParseWorkerResult. Text, one field a line:
//   confml-sweep-result 1
//   run_dir\t<path>
//   final_test_accuracy\t<%.17g>    final_test_loss, wall_seconds alike
//   outcome\t<name>\t<%.17g>       one line per RunResult::outcome entry
// The numbers read back exactly, so a child's row equals the in-process
// one. ParseWorkerResult: DataLoss naming the line for anything else.
struct WorkerResult {
  std::string run_dir;
  double final_test_accuracy = 0.0;
  double final_test_loss = 0.0;
  double wall_seconds = 0.0;
  std::map<std::string, double> outcome;
};
std::string WorkerResultText(const WorkerResult& result);
StatusOr<WorkerResult> ParseWorkerResult(std::string_view text);

// summary.md: one table row per grid cell with its values, the seeds run and
// "mean ± sd" of final test accuracy, final test loss and every outcome.
std::string SweepSummaryMarkdown(const SweepResult& result);

}  // namespace confml::experiments
