// confml run CONFIG.yaml [key.sub=value ...] [--progress=auto|bar|lines|none] [--resume RUN_DIR]
// confml check CONFIG.yaml [key.sub=value ...]
// confml config-reference [--output=FILE]
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "commands.h"
#include "confml/core/file_util.h"
#include "confml/experiments/config.h"
#include "confml/experiments/matrix.h"
#include "confml/experiments/runner.h"
#include "confml/experiments/sweep.h"
#ifdef CONFML_WITH_MPI
#include "confml/scaleout/mpi_executor.h"
#endif

namespace confml::cli {
namespace {

// Errors go out as exactly one line, whatever the message holds.
int Fail(int code, const std::string& message) {
  std::string line = message;
  for (char& c : line) {
    if (c == '\n' || c == '\r') c = ' ';
  }
  std::fprintf(stderr, "confml: %s\n", line.c_str());
  return code;
}

int FailStatus(const Status& status) {
  return Fail(experiments::IsInputError(status) ? kExitUsage : kExitFailure, status.message());
}

constexpr char kRunUsage[] =
    "usage: confml run CONFIG.yaml [section.key=value ...] [--progress=auto|bar|lines|none] "
    "[--resume RUN_DIR]";
constexpr char kCheckUsage[] =
    "usage: confml check CONFIG.yaml [section.key=value ...] [--resume RUN_DIR]";

}  // namespace

namespace {

// What `confml run` was asked: parsed before anything runs.
struct RunRequest {
  bool help = false;
  std::string config_path;
  std::vector<std::string> overrides;
  experiments::RunOptions options;
  // --sweep-result=FILE, left out of the usage: `confml sweep --jobs N`
  // starts each run as `confml run ... --sweep-result=FILE` and reads the
  // result back from FILE (experiments::WorkerResultText, sweep.h).
  std::string sweep_result;
};

// InvalidArgument (exit 2) for a bad command line; `command` ("run" or
// "check") names the subcommand in the messages.
StatusOr<RunRequest> ParseRunArgs(const std::string& command, int argc, char** argv) {
  const std::string usage = command == "check" ? kCheckUsage : kRunUsage;
  RunRequest req;
  experiments::RunOptions& options = req.options;
  options.command_line.push_back("confml");
  options.command_line.push_back("run");
  for (int i = 0; i < argc; ++i) {
    const std::string arg = argv[i];
    options.command_line.push_back(arg);
    if (arg == "--help" || arg == "-h") {
      req.help = true;
      return req;
    }
    if (arg.rfind("--progress=", 0) == 0) {
      const std::string mode = arg.substr(11);
      if (mode == "auto")
        options.progress = experiments::ProgressMode::kAuto;
      else if (mode == "bar")
        options.progress = experiments::ProgressMode::kBar;
      else if (mode == "lines")
        options.progress = experiments::ProgressMode::kLines;
      else if (mode == "none")
        options.progress = experiments::ProgressMode::kNone;
      else
        return InvalidArgumentError(command + ": unknown progress mode '" + mode +
                                    "' (auto, bar, lines, none)");
      continue;
    }
    if (command == "run" && arg.rfind("--sweep-result=", 0) == 0) {
      req.sweep_result = arg.substr(15);
      if (req.sweep_result.empty()) return InvalidArgumentError("run: --sweep-result needs a file");
      continue;
    }
    // A federated run continues in RUN_DIR from its checkpoint.
    if (arg == "--resume" || arg.rfind("--resume=", 0) == 0) {
      if (arg == "--resume") {
        if (i + 1 >= argc)
          return InvalidArgumentError(command + ": --resume needs a run folder; " + usage);
        options.resume_dir = argv[++i];
        options.command_line.push_back(options.resume_dir);
      } else {
        options.resume_dir = arg.substr(9);
      }
      if (options.resume_dir.empty()) {
        return InvalidArgumentError(command + ": --resume needs a run folder; " + usage);
      }
      continue;
    }
    if (arg.rfind("-", 0) == 0) {
      return InvalidArgumentError(command + ": unknown option '" + arg + "'; " + usage);
    }
    if (arg.find('=') != std::string::npos) {
      req.overrides.push_back(arg);
      continue;
    }
    if (!req.config_path.empty()) {
      return InvalidArgumentError(command + ": unexpected argument '" + arg +
                                  "' (overrides look like section.key=value); " + usage);
    }
    req.config_path = arg;
  }
  if (req.config_path.empty()) return InvalidArgumentError(command + ": no config file; " + usage);
  return req;
}

void PrintRunResult(const experiments::ExperimentConfig& config,
                    const experiments::RunResult& result) {
  for (const std::string& e : result.events) std::printf("%s\n", e.c_str());
  for (const experiments::AdmissionRecord& a : result.admissions) {
    if (a.admitted) continue;
    std::printf("refused: %s refused %s as %s: %s: %s\n", a.relying.c_str(), a.attester.c_str(),
                a.expected_role.c_str(), a.failed_checks.c_str(), a.detail.c_str());
  }
  for (const auto& [name, value] : result.outcome) std::printf("%s: %.6g\n", name.c_str(), value);
  if (config.kind() != "flow" && config.kind() != "matrix") {
    std::printf("final test accuracy: %.4f\n", result.final_test_accuracy);
  }
  if (result.tee_cost.total_seconds() > 0) {
    std::printf("modeled TEE overhead: %.6f s (%s profile; not included in wall time)\n",
                result.tee_cost.total_seconds(), result.tee_cost.profile.c_str());
  }
  std::printf("run folder: %s\n", result.run_dir.c_str());
}

#ifdef CONFML_WITH_MPI
// What cannot run over several ranks is refused by name rather than run
// differently from the single-process run.
Status CheckDistributable(const experiments::ExperimentConfig& config, int ranks) {
  const std::string where = "mpirun with " + std::to_string(ranks) + " ranks: ";
  if (config.kind() != "federated") {
    return FailedPreconditionError(where + "experiment.kind '" + config.kind() +
                                   "' runs in one process; the MPI backend distributes only "
                                   "federated runs (run it without mpirun, or with -np 1)");
  }
  for (const char* section : {"tee", "attestation"}) {
    if (config.Has(section)) {
      return FailedPreconditionError(
          where + "the '" + section +
          "' section (parties in realms with attestation) cannot run distributed: the realms, "
          "their attested channels and the verifier live in one process (run it without "
          "mpirun, or with -np 1)");
    }
  }
  return OkStatus();
}

// `mpirun -np K confml run ...`: every rank builds the experiment; rank 0
// runs the rounds and alone writes the run folder and prints; an error is
// printed once, by the rank that had it first, which alone exits non-zero
// (a worker that merely followed the coordinator's error prints nothing).
int RunUnderMpi(RunRequest req) {
  StatusOr<std::shared_ptr<scaleout::MpiExecutor>> mpi = scaleout::MpiExecutor::Create();
  if (!mpi.ok()) return FailStatus(mpi.status());
  scaleout::MpiExecutor& executor = **mpi;
  StatusOr<experiments::ExperimentConfig> config =
      experiments::LoadExperimentConfig(req.config_path, req.overrides);
  if (executor.size() == 1) {
    // One rank is the plain single-process run, every kind allowed.
    if (!config.ok()) return FailStatus(config.status());
    StatusOr<experiments::RunResult> result = experiments::RunExperiment(*config, req.options);
    if (!result.ok()) return FailStatus(result.status());
    PrintRunResult(*config, *result);
    return kExitOk;
  }
  Status local = config.status();
  if (local.ok()) local = CheckDistributable(*config, executor.size());
  StatusOr<experiments::RunResult> result = InternalError("the run did not start");
  if (local.ok()) {
    experiments::RunOptions options = req.options;
    options.client_executor = *mpi;
    options.command_line.insert(options.command_line.begin(),
                                {"mpirun", "-np", std::to_string(executor.size())});
    if (!executor.coordinator()) {
      options.write_run_dir = false;
      options.resume_dir.clear();
      options.progress = experiments::ProgressMode::kNone;
    }
    result = experiments::RunExperiment(*config, options);
    local = result.status();
  }
  const scaleout::MpiExecutor::Outcome outcome = executor.Conclude(local);
  // Only the reporting rank exits non-zero: mpirun returns its code, and it
  // kills the job as soon as any rank exits non-zero, which could cut the
  // reporting rank short before it printed.
  if (!outcome.report) return kExitOk;
  if (!outcome.status.ok()) return FailStatus(outcome.status);
  PrintRunResult(*config, *result);
  return kExitOk;
}
#endif

}  // namespace

int RunCommand(int argc, char** argv) {
  StatusOr<RunRequest> req = ParseRunArgs("run", argc, argv);
  if (!req.ok()) return FailStatus(req.status());
  if (req->help) {
    std::printf("%s\n", kRunUsage);
    return kExitOk;
  }
#ifdef CONFML_WITH_MPI
  // A sweep's child is one plain process even when the sweep itself was
  // started under mpirun (it inherits the launcher's environment).
  if (req->sweep_result.empty() && scaleout::LaunchedByMpi()) {
    return RunUnderMpi(std::move(*req));
  }
#endif
  StatusOr<experiments::ExperimentConfig> config =
      experiments::LoadExperimentConfig(req->config_path, req->overrides);
  if (!config.ok()) return FailStatus(config.status());
  // One run of a sweep file is its base config: `run` reproduces a sweep's
  // run when given that run's overrides (docs/sweeps.md). The sweep's own
  // children know.
  if (config->sweep.has_value() && req->sweep_result.empty()) {
    std::fprintf(stderr,
                 "confml: note: the sweep section is ignored by `run` (one run of the "
                 "base config); `confml sweep` runs it\n");
  }
  const auto start = std::chrono::steady_clock::now();
  StatusOr<experiments::RunResult> result = experiments::RunExperiment(*config, req->options);
  if (!result.ok()) return FailStatus(result.status());
  if (!req->sweep_result.empty()) {
    // Timed as the in-process sweep times a run, so wall_seconds means the
    // same with and without --jobs.
    experiments::WorkerResult w;
    w.run_dir = result->run_dir;
    w.final_test_accuracy = result->final_test_accuracy;
    w.final_test_loss = result->final_test_loss;
    w.wall_seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    w.outcome = result->outcome;
    Status s = WriteFileAtomically(req->sweep_result, experiments::WorkerResultText(w));
    if (!s.ok()) return Fail(kExitFailure, "run: --sweep-result: " + s.message());
  }
  PrintRunResult(*config, *result);
  return kExitOk;
}

// Takes exactly what `run` takes, so a documented command line is checked by
// replacing `run` with `check`. A matrix is checked cell by cell, as the run
// would load each cell before running it.
int CheckCommand(int argc, char** argv) {
  StatusOr<RunRequest> req = ParseRunArgs("check", argc, argv);
  if (!req.ok()) return FailStatus(req.status());
  if (req->help) {
    std::printf(
        "%s\n"
        "Loads and validates the config with the overrides, as `confml run` would, and prints\n"
        "the resolved config; runs nothing and writes nothing. Exit 0 valid, 2 invalid.\n",
        kCheckUsage);
    return kExitOk;
  }
  StatusOr<experiments::ExperimentConfig> config =
      experiments::LoadExperimentConfig(req->config_path, req->overrides);
  if (!config.ok()) return FailStatus(config.status());
  size_t cells = 0;
  if (config->kind() == "matrix") {
    StatusOr<std::vector<experiments::ExperimentConfig>> all =
        experiments::MatrixCellConfigs(*config);
    if (!all.ok()) return FailStatus(all.status());
    cells = all->size();
  }
  size_t sweep_runs = 0;
  if (config->sweep.has_value()) {
    StatusOr<experiments::SweepPlan> plan =
        experiments::PlanSweep(req->config_path, req->overrides);
    if (!plan.ok()) return FailStatus(plan.status());
    sweep_runs = plan->runs.size();
  }
  const std::string& resume = req->options.resume_dir;
  std::error_code ec;
  if (!resume.empty() && !std::filesystem::is_directory(resume, ec)) {
    return Fail(kExitUsage, "check: --resume " + resume + ": no such run folder");
  }
  const std::string yaml = config->ToYaml();
  std::fwrite(yaml.data(), 1, yaml.size(), stdout);
  if (cells > 0) std::printf("# %zu matrix cells valid\n", cells);
  if (sweep_runs > 0) std::printf("# %zu sweep runs valid\n", sweep_runs);
  return kExitOk;
}

int ConfigReferenceCommand(int argc, char** argv) {
  std::string output;
  for (int i = 0; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--help" || arg == "-h") {
      std::printf(
          "usage: confml config-reference [--output=FILE]   (every config key, as Markdown)\n");
      return kExitOk;
    }
    if (arg.rfind("--output=", 0) == 0 && arg.size() > 9) {
      output = arg.substr(9);
    } else {
      return Fail(kExitUsage, "config-reference: unexpected argument '" + arg +
                                  "'; usage: confml config-reference [--output=FILE]");
    }
  }
  const std::string md = experiments::ConfigReferenceMarkdown();
  if (output.empty()) {
    std::fwrite(md.data(), 1, md.size(), stdout);
    return kExitOk;
  }
  // The atomic write would fail only at its rename, after writing a temporary
  // file beside a directory given as --output.
  std::error_code ec;
  if (std::filesystem::is_directory(output, ec)) {
    return Fail(kExitUsage, "config-reference: --output " + output + " is a directory, not a file");
  }
  Status s = WriteFileAtomically(output, md);
  if (!s.ok()) return Fail(kExitFailure, "config-reference: --output: " + s.message());
  return kExitOk;
}

}  // namespace confml::cli
