#include "confml/experiments/sweep.h"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <iterator>
#include <set>
#include <thread>

#include "confml/core/file_util.h"
#include "confml/experiments/runner.h"
#include "run_dir.h"

namespace confml::experiments {
namespace {

constexpr char kPlanFile[] = "sweep.yaml";
constexpr char kCsvFile[] = "sweep.csv";
constexpr char kSummaryFile[] = "summary.md";
// Children's logs and result files (jobs > 1), inside the sweep folder.
constexpr char kLogDir[] = "logs";
constexpr char kWorkerMagic[] = "confml-sweep-result 1";
// The columns of sweep.csv after cell, the grid keys, and before the outcomes.
constexpr const char* kFixedColumns[] = {"seed", "run_dir", "final_test_accuracy",
                                         "final_test_loss", "wall_seconds"};

std::string CellText(const std::vector<std::string>& keys, const std::vector<std::string>& values) {
  std::string out;
  for (size_t i = 0; i < keys.size(); ++i) out += (i ? " " : "") + keys[i] + "=" + values[i];
  return out.empty() ? "(base)" : out;
}

std::string Number(double v) {
  if (std::isnan(v)) return "nan";
  char buf[40];
  std::snprintf(buf, sizeof buf, "%.17g", v);
  return buf;
}

std::string CsvField(const std::string& s) {
  if (s.find_first_of(",\"\n") == std::string::npos) return s;
  std::string out = "\"";
  for (char c : s) out += c == '"' ? std::string("\"\"") : std::string(1, c);
  return out + "\"";
}

// RFC 4180 fields of one line; false for an unterminated quote.
bool SplitCsvLine(std::string_view line, std::vector<std::string>& fields) {
  fields.assign(1, "");
  bool quoted = false;
  for (size_t i = 0; i < line.size(); ++i) {
    const char c = line[i];
    if (quoted) {
      if (c == '"' && i + 1 < line.size() && line[i + 1] == '"') {
        fields.back() += '"';
        ++i;
      } else if (c == '"') {
        quoted = false;
      } else {
        fields.back() += c;
      }
    } else if (c == '"') {
      quoted = true;
    } else if (c == ',') {
      fields.emplace_back();
    } else {
      fields.back() += c;
    }
  }
  return !quoted;
}

bool ParseDouble(const std::string& s, double& out) {
  if (s.empty()) return false;
  char* end = nullptr;
  out = std::strtod(s.c_str(), &end);
  return end == s.c_str() + s.size();
}

// Where the section was written does not matter, only what it asks.
bool SameSweep(const SweepSection& a, const SweepSection& b) {
  return a.seeds == b.seeds && a.grid == b.grid;
}

Status WriteTables(const std::string& dir, const SweepResult& result) {
  CONFML_RETURN_IF_ERROR(
      WriteFileAtomically(dir + "/" + kCsvFile, SweepCsv(result.grid_keys, result.rows)));
  return WriteFileAtomically(dir + "/" + kSummaryFile, SweepSummaryMarkdown(result));
}

}  // namespace

StatusOr<SweepPlan> PlanSweep(const std::string& path, const std::vector<std::string>& overrides,
                              const SweepArgs& args) {
  StatusOr<std::string> text = ReadFileText(path);
  if (!text.ok()) {
    return Status(text.status().code(), "cannot read config: " + text.status().message());
  }
  StatusOr<ExperimentConfig> base = ParseExperimentConfig(*text, overrides, path);
  if (!base.ok()) return base.status();
  SweepSection sweep = base->sweep.value_or(SweepSection{path, {}, {}});
  if (!base->sweep.has_value() && !args.seeds.has_value() && args.grid.empty()) {
    return InvalidArgumentError(path +
                                ": no sweep section and no --seeds or --grid: nothing to sweep "
                                "(docs/sweeps.md)");
  }
  if (args.seeds.has_value()) {
    if (args.seeds->empty()) return InvalidArgumentError("--seeds: no seed given");
    std::set<int64_t> seen;
    for (int64_t s : *args.seeds) {
      if (s < 0) return InvalidArgumentError("--seeds: seed " + std::to_string(s) + " is negative");
      if (!seen.insert(s).second) {
        return InvalidArgumentError("--seeds: seed " + std::to_string(s) + " is listed twice");
      }
    }
    sweep.seeds = *args.seeds;
  }
  for (const auto& [key, values] : args.grid) {
    if (values.empty()) return InvalidArgumentError("--grid " + key + ": no value given");
    std::set<std::string> seen;
    for (const std::string& v : values) {
      if (!seen.insert(v).second) {
        return InvalidArgumentError("--grid " + key + ": value '" + v + "' is listed twice");
      }
    }
    auto it = std::find_if(sweep.grid.begin(), sweep.grid.end(),
                           [&](const auto& entry) { return entry.first == key; });
    if (it != sweep.grid.end()) {
      it->second = values;
    } else {
      sweep.grid.emplace_back(key, values);
    }
  }
  for (const auto& [key, values] : sweep.grid) {
    if (key == "experiment.seed") {
      return InvalidArgumentError(sweep.where +
                                  ": sweep.grid.experiment.seed: list seeds under "
                                  "sweep.seeds (or --seeds), not in the grid");
    }
    if (key == "experiment.output_dir") {
      return InvalidArgumentError(sweep.where +
                                  ": sweep.grid.experiment.output_dir: every run of a sweep "
                                  "writes into the sweep folder; set it outside the grid");
    }
  }
  if (sweep.seeds.empty()) sweep.seeds = {static_cast<int64_t>(base->seed())};

  SweepPlan plan;
  plan.seeds = sweep.seeds;
  for (const auto& entry : sweep.grid) plan.grid_keys.push_back(entry.first);
  size_t cells = 1;
  for (const auto& entry : sweep.grid) cells *= entry.second.size();
  for (size_t cell = 0; cell < cells; ++cell) {
    std::vector<std::string> values(sweep.grid.size());
    std::vector<std::string> cell_overrides;
    size_t rest = cell;
    // Row-major: the last key varies fastest.
    for (size_t k = sweep.grid.size(); k-- > 0;) {
      const auto& [key, choices] = sweep.grid[k];
      values[k] = choices[rest % choices.size()];
      rest /= choices.size();
    }
    for (size_t k = 0; k < values.size(); ++k) {
      cell_overrides.push_back(plan.grid_keys[k] + "=" + values[k]);
    }
    for (int64_t seed : sweep.seeds) {
      SweepRun run;
      run.cell = cell;
      run.values = values;
      run.seed = seed;
      run.overrides = overrides;
      run.overrides.insert(run.overrides.end(), cell_overrides.begin(), cell_overrides.end());
      run.overrides.push_back("experiment.seed=" + std::to_string(seed));
      StatusOr<ExperimentConfig> config = ParseExperimentConfig(*text, run.overrides, path);
      if (!config.ok()) {
        return Status(config.status().code(), "sweep cell " + std::to_string(cell) + " (" +
                                                  CellText(plan.grid_keys, values) +
                                                  "): " + config.status().message());
      }
      config->sweep.reset();
      run.config = std::move(config).value();
      plan.runs.push_back(std::move(run));
    }
  }
  base->sweep = std::move(sweep);
  plan.base = std::move(base).value();
  return plan;
}

namespace {

// `run`'s label in messages: "sweep cell 1 (aggregator.name=median) seed 2".
std::string RunLabel(const SweepPlan& plan, const SweepRun& run) {
  return "sweep cell " + std::to_string(run.cell) + " (" + CellText(plan.grid_keys, run.values) +
         ") seed " + std::to_string(run.seed);
}

// A value as a YAML single-quoted scalar, so that an override passes any path
// through unchanged (a plain scalar would turn "a: b" or "1e3" into
// something else).
std::string YamlQuoted(const std::string& s) {
  std::string out = "'";
  for (char c : s) out += c == '\'' ? std::string("''") : std::string(1, c);
  return out + "'";
}

// The row of a finished run, its outcome without the names of fixed columns
// (a flow's outcome may repeat final_test_accuracy; the fixed column keeps
// it, so no header names two columns).
SweepRow MakeRow(const SweepRun& run, const std::string& run_dir, double accuracy, double loss,
                 double seconds, const std::map<std::string, double>& outcome) {
  SweepRow row;
  row.cell = run.cell;
  row.values = run.values;
  row.seed = run.seed;
  row.run_dir = std::filesystem::path(run_dir).filename().string();
  row.final_test_accuracy = accuracy;
  row.final_test_loss = loss;
  row.wall_seconds = seconds;
  for (const auto& [name, value] : outcome) {
    if (std::find(std::begin(kFixedColumns), std::end(kFixedColumns), name) ==
        std::end(kFixedColumns)) {
      row.outcome[name] = value;
    }
  }
  return row;
}

// The last "confml: ..." line of a child's log (what `confml run` printed as
// its error), without the prefix; empty when there is none.
std::string ChildErrorLine(const std::string& log) {
  StatusOr<std::string> text = ReadFileText(log);
  if (!text.ok()) return "";
  constexpr std::string_view kPrefix = "confml: ";
  std::string_view rest = *text;
  std::string found;
  while (!rest.empty()) {
    const size_t nl = rest.find('\n');
    const std::string_view line = rest.substr(0, nl);
    if (line.substr(0, kPrefix.size()) == kPrefix) found = line.substr(kPrefix.size());
    rest = nl == std::string_view::npos ? std::string_view() : rest.substr(nl + 1);
  }
  return found;
}

// Starts `argv` with stdin from /dev/null and stdout and stderr into `log`
// (truncated). posix_spawn, never a bare fork: the parent may hold LibTorch
// and OpenMP threads, which a forked copy could deadlock on. SIGINT and
// SIGTERM are reset to their default action in the child, so that a parent
// that ignores them (an embedding interpreter) cannot make a child immune.
StatusOr<pid_t> SpawnWorker(const std::vector<std::string>& argv, const std::string& log) {
  std::vector<char*> args;
  for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  posix_spawn_file_actions_t actions;
  posix_spawnattr_t attr;
  posix_spawn_file_actions_init(&actions);
  posix_spawnattr_init(&attr);
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&actions, 1, log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  posix_spawn_file_actions_adddup2(&actions, 1, 2);
  sigset_t defaults, empty;
  sigemptyset(&defaults);
  sigaddset(&defaults, SIGINT);
  sigaddset(&defaults, SIGTERM);
  sigemptyset(&empty);
  posix_spawnattr_setsigdefault(&attr, &defaults);
  posix_spawnattr_setsigmask(&attr, &empty);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK);
  pid_t pid = -1;
  // ::environ: <unistd.h> declares it (_GNU_SOURCE, which g++ defines).
  const int err = posix_spawn(&pid, args[0], &actions, &attr, args.data(), ::environ);
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attr);
  if (err != 0) {
    return UnavailableError("cannot start '" + argv[0] + "' (log " + log +
                            "): " + std::strerror(err));
  }
  return pid;
}

// The Status of a child that did not succeed: `confml run` exits 2 for the
// user's input (its config, arguments, data files) and 3 otherwise.
Status ChildFailure(const std::string& label, int wait_status, const std::string& log) {
  std::string what;
  StatusCode code = StatusCode::kInternal;
  if (WIFEXITED(wait_status)) {
    const int exit_code = WEXITSTATUS(wait_status);
    if (exit_code == 2) code = StatusCode::kInvalidArgument;
    what = ChildErrorLine(log);
    if (what.empty()) what = "exited with status " + std::to_string(exit_code);
  } else if (WIFSIGNALED(wait_status)) {
    what = std::string("killed by signal ") + std::to_string(WTERMSIG(wait_status)) + " (" +
           strsignal(WTERMSIG(wait_status)) + ")";
  } else {
    what = "ended with wait status " + std::to_string(wait_status);
  }
  return Status(code, label + ": " + what);
}

// One child `confml run` of a parallel sweep.
struct Child {
  const SweepRun* run = nullptr;
  pid_t pid = -1;
  std::string log;          // Its stdout and stderr.
  std::string result_file;  // WorkerResultText, written when it succeeded.
};

// The row of a child that exited 0, after checking that its run folder lies
// in the sweep folder and holds the planned config: the child read the
// config file anew, and a file edited during the sweep must not pass for the
// planned run.
StatusOr<SweepRow> ChildRow(const SweepPlan& plan, const Child& child, const std::string& dir,
                            const ExperimentConfig& expected) {
  const std::string label = RunLabel(plan, *child.run);
  StatusOr<std::string> text = ReadFileText(child.result_file);
  if (!text.ok()) {
    return DataLossError(label + ": the run exited 0 but left no result file: " +
                         text.status().message() + " (log: " + child.log + ")");
  }
  StatusOr<WorkerResult> r = ParseWorkerResult(*text);
  if (!r.ok())
    return Status(r.status().code(),
                  label + ": " + child.result_file + ": " + r.status().message());
  std::error_code ec;
  if (!std::filesystem::equivalent(std::filesystem::path(r->run_dir).parent_path(), dir, ec)) {
    return DataLossError(label + ": its run folder '" + r->run_dir +
                         "' is not inside the sweep folder " + dir);
  }
  StatusOr<ExperimentConfig> ran = LoadExperimentConfig(r->run_dir + "/config.yaml");
  if (!ran.ok()) return DataLossError(label + ": " + ran.status().message());
  if (!(*ran == expected)) {
    return FailedPreconditionError(label + ": " + r->run_dir +
                                   "/config.yaml differs from the planned run (was " +
                                   plan.base.source + " changed during the sweep?)");
  }
  std::filesystem::remove(child.result_file, ec);
  return MakeRow(*child.run, r->run_dir, r->final_test_accuracy, r->final_test_loss,
                 r->wall_seconds, r->outcome);
}

// Runs `missing` as child processes, up to options.jobs at once, calling
// `record` for every run that succeeded (in completion order; `record` keeps
// plan order). The first failure stops new runs from starting and is
// returned once the running children finished; `failed_log` then names the
// failed child's log. options.stop_requested, or a child killed by SIGINT
// (the terminal's Ctrl-C reaches the whole process group), terminates the
// running children and gives Cancelled.
Status RunChildren(const SweepPlan& plan, const SweepOptions& options,
                   const std::vector<const SweepRun*>& missing, const std::string& dir,
                   const std::function<ExperimentConfig(const SweepRun&)>& run_config,
                   const std::function<Status(const SweepRun&, const SweepRow&)>& record,
                   std::string& failed_log) {
  std::error_code ec;
  std::filesystem::create_directories(dir + "/" + kLogDir, ec);
  if (ec) return UnavailableError("cannot create " + dir + "/" + kLogDir + ": " + ec.message());
  std::vector<Child> running;
  size_t next = 0;
  size_t finished = 0;
  Status failure;
  bool stopping = false;   // No new run starts.
  bool cancelled = false;  // The running children were sent SIGTERM.
  auto fail = [&](Status s, const std::string& log) {
    if (failure.ok()) {
      failure = std::move(s);
      failed_log = log;
    }
    stopping = true;
  };
  auto cancel = [&] {
    if (cancelled) return;
    cancelled = stopping = true;
    // Reaped children are gone from `running`; an exited but unreaped one is
    // a zombie whose pid cannot be reused, so no stranger gets the signal.
    for (const Child& c : running) ::kill(c.pid, SIGTERM);
  };
  while (true) {
    if (options.stop_requested && options.stop_requested()) cancel();
    while (!stopping && running.size() < static_cast<size_t>(options.jobs) &&
           next < missing.size()) {
      const SweepRun& run = *missing[next++];
      Child child;
      child.run = &run;
      const std::string stem =
          dir + "/" + kLogDir + "/" + std::to_string(run.cell) + "-" + std::to_string(run.seed);
      child.log = stem + ".log";
      child.result_file = stem + ".result";
      std::filesystem::remove(child.result_file, ec);  // left by an interrupted attempt
      std::vector<std::string> argv = {options.worker, "run", plan.base.source};
      argv.insert(argv.end(), run.overrides.begin(), run.overrides.end());
      argv.push_back("experiment.output_dir=" + YamlQuoted(dir));
      argv.push_back("--progress=lines");
      argv.push_back("--sweep-result=" + child.result_file);
      StatusOr<pid_t> pid = SpawnWorker(argv, child.log);
      if (!pid.ok()) {
        fail(Status(pid.status().code(), RunLabel(plan, run) + ": " + pid.status().message()), "");
        break;
      }
      child.pid = *pid;
      running.push_back(std::move(child));
    }
    if (running.empty()) break;
    bool reaped = false;
    for (size_t i = 0; i < running.size();) {
      int status = 0;
      const pid_t got = ::waitpid(running[i].pid, &status, WNOHANG);
      if (got == 0) {
        ++i;
        continue;
      }
      if (got < 0 && errno == EINTR) continue;
      const Child child = running[i];
      running.erase(running.begin() + static_cast<std::ptrdiff_t>(i));
      reaped = true;
      const std::string label = RunLabel(plan, *child.run);
      if (got < 0) {
        // ECHILD: something else reaped it (SIGCHLD set to SIG_IGN).
        fail(InternalError(label + ": cannot wait for its process: " + std::strerror(errno)),
             child.log);
      } else if (WIFEXITED(status) && WEXITSTATUS(status) == 0) {
        // A run that finished counts, even after a stop was asked for.
        StatusOr<SweepRow> row = ChildRow(plan, child, dir, run_config(*child.run));
        Status s = row.ok() ? record(*child.run, *row) : row.status();
        if (s.ok()) {
          ++finished;
        } else {
          fail(s, child.log);
        }
      } else if (WIFSIGNALED(status) && WTERMSIG(status) == SIGINT) {
        cancel();
      } else if (!cancelled) {
        fail(ChildFailure(label, status, child.log), child.log);
      }
    }
    if (!reaped && !running.empty()) std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  if (!failure.ok()) return failure;
  if (cancelled) {
    return CancelledError("sweep interrupted: " + std::to_string(finished) + " of " +
                          std::to_string(missing.size()) +
                          " runs finished in this session; the running ones were terminated");
  }
  return OkStatus();
}

}  // namespace

StatusOr<SweepResult> RunSweep(const SweepPlan& plan, const SweepOptions& options) {
  if (options.jobs < 1) {
    return InvalidArgumentError("sweep: jobs must be an integer >= 1, got " +
                                std::to_string(options.jobs));
  }
  if (options.jobs > 1) {
    if (options.worker.empty()) {
      return InvalidArgumentError(
          "sweep: jobs > 1 runs child processes and needs the confml executable (worker)");
    }
    if (::access(options.worker.c_str(), X_OK) != 0) {
      return InvalidArgumentError("sweep: worker '" + options.worker +
                                  "' is not an executable file: " + std::strerror(errno));
    }
  }
  SweepResult result;
  result.grid_keys = plan.grid_keys;
  const std::string plan_yaml = plan.base.ToYaml();
  std::vector<SweepRow> recorded;
  std::optional<internal::RunDirGuard> guard;
  if (!options.resume_dir.empty()) {
    result.dir = options.resume_dir;
    StatusOr<std::string> text = ReadFileText(result.dir + "/" + kPlanFile);
    if (!text.ok()) {
      return Status(text.status().code(),
                    "--resume " + result.dir + ": not a sweep folder: " + text.status().message());
    }
    StatusOr<ExperimentConfig> was = ParseExperimentConfig(*text, {}, result.dir + "/" + kPlanFile);
    if (!was.ok()) return DataLossError("--resume: " + was.status().message());
    if (!(*was == plan.base) || !was->sweep.has_value() ||
        !SameSweep(*was->sweep, *plan.base.sweep)) {
      return FailedPreconditionError(
          "--resume " + result.dir + ": the config or its sweep differs from the one recorded in " +
          kPlanFile + " (resume with the same file, overrides, --seeds and --grid)");
    }
    StatusOr<std::string> csv = ReadFileText(result.dir + "/" + kCsvFile);
    if (csv.ok()) {
      StatusOr<std::vector<SweepRow>> rows = ParseSweepCsv(*csv, plan.grid_keys);
      if (!rows.ok()) return rows.status();
      recorded = std::move(rows).value();
    } else if (csv.status().code() != StatusCode::kNotFound) {
      return csv.status();
    }
  } else {
    StatusOr<std::string> dir = internal::CreateRunDir(
        plan.base.String("experiment", "output_dir"), plan.base.name() + "-sweep",
        static_cast<uint64_t>(plan.seeds.front()), std::chrono::system_clock::now());
    if (!dir.ok()) return dir.status();
    result.dir = *dir;
    guard.emplace(result.dir);
    CONFML_RETURN_IF_ERROR(WriteFileAtomically(result.dir + "/" + kPlanFile, plan_yaml));
  }

  // A recorded run counts as finished only while its run folder is there.
  auto find_recorded = [&](const SweepRun& run) -> const SweepRow* {
    for (const SweepRow& row : recorded) {
      std::error_code ec;
      if (row.cell == run.cell && row.seed == run.seed && row.values == run.values &&
          std::filesystem::is_directory(result.dir + "/" + row.run_dir, ec)) {
        return &row;
      }
    }
    return nullptr;
  };
  std::vector<const SweepRun*> missing;
  for (const SweepRun& run : plan.runs) {
    if (const SweepRow* row = find_recorded(run)) {
      result.rows.push_back(*row);
      ++result.kept;
    } else {
      missing.push_back(&run);
    }
  }
  // Every run's config as the sweep runs it: inside the sweep folder.
  auto run_config = [&](const SweepRun& run) {
    ExperimentConfig config = run.config;
    config.sections.at("experiment").keys.Set("output_dir", ParamValue(result.dir));
    return config;
  };
  // Records a finished run: its row in plan order, whatever order the runs
  // finished in, and both tables rewritten.
  auto record = [&](const SweepRun& run, const SweepRow& row) -> Status {
    auto pos = std::find_if(result.rows.begin(), result.rows.end(), [&](const SweepRow& other) {
      return other.cell > row.cell ||
             (other.cell == row.cell &&
              std::find(plan.seeds.begin(), plan.seeds.end(), other.seed) >
                  std::find(plan.seeds.begin(), plan.seeds.end(), row.seed));
    });
    result.rows.insert(pos, row);
    CONFML_RETURN_IF_ERROR(WriteTables(result.dir, result));
    if (guard.has_value()) {
      guard->Keep();
      guard.reset();
    }
    if (options.on_run) options.on_run(run, row, result.rows.size(), plan.runs.size());
    return OkStatus();
  };

  if (options.jobs == 1) {
    for (const SweepRun* run : missing) {
      RunOptions run_options;
      run_options.progress = ProgressMode::kNone;
      run_options.command_line = options.command_line;
      const auto start = std::chrono::steady_clock::now();
      StatusOr<RunResult> r = RunExperiment(run_config(*run), run_options);
      if (!r.ok()) {
        return Status(r.status().code(), RunLabel(plan, *run) + ": " + r.status().message());
      }
      const double seconds =
          std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      CONFML_RETURN_IF_ERROR(record(*run, MakeRow(*run, r->run_dir, r->final_test_accuracy,
                                                  r->final_test_loss, seconds, r->outcome)));
    }
  } else if (!missing.empty()) {
    std::string failed_log;
    Status s = RunChildren(plan, options, missing, result.dir, run_config, record, failed_log);
    // The log is worth naming only while the folder stays: a new sweep folder
    // with no finished run goes, logs included.
    if (!s.ok() && !failed_log.empty() && !guard.has_value()) {
      s = Status(s.code(), s.message() + " (log: " + failed_log + ")");
    }
    if (s.code() == StatusCode::kCancelled) {
      s = CancelledError(s.message() + (guard.has_value()
                                            ? "; no run had finished, so the new sweep folder "
                                              "is removed"
                                            : "; the same arguments with --resume " + result.dir +
                                                  " continue the sweep"));
    }
    CONFML_RETURN_IF_ERROR(s);
  }
  // A resume with nothing left to run still leaves both tables current.
  if (missing.empty()) CONFML_RETURN_IF_ERROR(WriteTables(result.dir, result));
  return result;
}

std::string WorkerResultText(const WorkerResult& result) {
  std::string out = kWorkerMagic;
  out += "\nrun_dir\t" + result.run_dir;
  out += "\nfinal_test_accuracy\t" + Number(result.final_test_accuracy);
  out += "\nfinal_test_loss\t" + Number(result.final_test_loss);
  out += "\nwall_seconds\t" + Number(result.wall_seconds);
  for (const auto& [name, value] : result.outcome)
    out += "\noutcome\t" + name + "\t" + Number(value);
  return out + "\n";
}

StatusOr<WorkerResult> ParseWorkerResult(std::string_view text) {
  WorkerResult r;
  std::set<std::string> seen;
  size_t line_no = 0;
  while (!text.empty()) {
    const size_t nl = text.find('\n');
    if (nl == std::string_view::npos) return DataLossError("unterminated last line (truncated?)");
    const std::string line(text.substr(0, nl));
    text.remove_prefix(nl + 1);
    const std::string where = "line " + std::to_string(++line_no) + ": ";
    if (line_no == 1) {
      if (line != kWorkerMagic) {
        return DataLossError(where + "expected '" + std::string(kWorkerMagic) + "'");
      }
      continue;
    }
    const size_t tab = line.find('\t');
    if (tab == std::string::npos) return DataLossError(where + "no tab");
    const std::string key = line.substr(0, tab), value = line.substr(tab + 1);
    if (key == "outcome") {
      const size_t tab2 = value.find('\t');
      double v = 0;
      if (tab2 == std::string::npos || tab2 == 0 || !ParseDouble(value.substr(tab2 + 1), v)) {
        return DataLossError(where + "expected outcome<TAB>name<TAB>number");
      }
      if (!r.outcome.emplace(value.substr(0, tab2), v).second) {
        return DataLossError(where + "outcome '" + value.substr(0, tab2) + "' given twice");
      }
      continue;
    }
    if (!seen.insert(key).second) return DataLossError(where + "'" + key + "' given twice");
    if (key == "run_dir") {
      if (value.empty()) return DataLossError(where + "empty run_dir");
      r.run_dir = value;
      continue;
    }
    double* field = key == "final_test_accuracy" ? &r.final_test_accuracy
                    : key == "final_test_loss"   ? &r.final_test_loss
                    : key == "wall_seconds"      ? &r.wall_seconds
                                                 : nullptr;
    if (field == nullptr) return DataLossError(where + "unknown field '" + key + "'");
    if (!ParseDouble(value, *field)) return DataLossError(where + key + ": not a number");
  }
  for (const char* key : {"run_dir", "final_test_accuracy", "final_test_loss", "wall_seconds"}) {
    if (seen.count(key) == 0) return DataLossError(std::string("missing '") + key + "'");
  }
  return r;
}

std::string SweepCsv(const std::vector<std::string>& grid_keys, const std::vector<SweepRow>& rows) {
  std::set<std::string> outcome_names;
  for (const SweepRow& row : rows) {
    for (const auto& [name, value] : row.outcome) outcome_names.insert(name);
  }
  // Appended piecewise: `"," + temporary` draws a bogus -Wstringop-overflow
  // from GCC 12 at -O3 (GCC PR 105545).
  std::string out = "cell";
  auto field = [&out](const std::string& text) {
    out += ',';
    out += text;
  };
  for (const std::string& k : grid_keys) field(CsvField(k));
  for (const char* c : kFixedColumns) field(c);
  for (const std::string& name : outcome_names) field(CsvField(name));
  out += "\n";
  for (const SweepRow& row : rows) {
    out += std::to_string(row.cell);
    for (const std::string& v : row.values) field(CsvField(v));
    field(std::to_string(row.seed));
    field(CsvField(row.run_dir));
    field(Number(row.final_test_accuracy));
    field(Number(row.final_test_loss));
    field(Number(row.wall_seconds));
    for (const std::string& name : outcome_names) {
      auto it = row.outcome.find(name);
      field(it == row.outcome.end() ? std::string() : Number(it->second));
    }
    out += "\n";
  }
  return out;
}

StatusOr<std::vector<SweepRow>> ParseSweepCsv(std::string_view text,
                                              const std::vector<std::string>& grid_keys) {
  std::vector<SweepRow> rows;
  std::vector<std::string> header, fields;
  size_t line_no = 0;
  const size_t fixed = 1 + grid_keys.size() + std::size(kFixedColumns);
  while (!text.empty()) {
    const size_t nl = text.find('\n');
    const std::string_view line = text.substr(0, nl);
    text = nl == std::string_view::npos ? std::string_view() : text.substr(nl + 1);
    ++line_no;
    const std::string where = std::string(kCsvFile) + ":" + std::to_string(line_no) + ": ";
    if (!SplitCsvLine(line, fields)) return DataLossError(where + "unterminated quote");
    if (line_no == 1) {
      std::vector<std::string> expected = {"cell"};
      expected.insert(expected.end(), grid_keys.begin(), grid_keys.end());
      expected.insert(expected.end(), std::begin(kFixedColumns), std::end(kFixedColumns));
      if (fields.size() < fixed || !std::equal(expected.begin(), expected.end(), fields.begin())) {
        return DataLossError(where + "header does not match this sweep's grid keys");
      }
      header = fields;
      continue;
    }
    if (fields.size() != header.size()) {
      return DataLossError(where + std::to_string(fields.size()) + " fields, header has " +
                           std::to_string(header.size()));
    }
    SweepRow row;
    double cell = 0, seed = 0;
    size_t i = 0;
    bool ok = ParseDouble(fields[i++], cell);
    for (size_t k = 0; k < grid_keys.size(); ++k) row.values.push_back(fields[i++]);
    ok = ok && ParseDouble(fields[i++], seed);
    row.run_dir = fields[i++];
    ok = ok && ParseDouble(fields[i++], row.final_test_accuracy) &&
         ParseDouble(fields[i++], row.final_test_loss) &&
         ParseDouble(fields[i++], row.wall_seconds);
    for (; ok && i < fields.size(); ++i) {
      if (fields[i].empty()) continue;
      ok = ParseDouble(fields[i], row.outcome[header[i]]);
    }
    if (!ok || cell < 0 || seed < 0 || row.run_dir.empty()) {
      return DataLossError(where + "malformed row");
    }
    row.cell = static_cast<size_t>(cell);
    row.seed = static_cast<int64_t>(seed);
    rows.push_back(std::move(row));
  }
  if (header.empty()) return DataLossError(std::string(kCsvFile) + ": empty file");
  return rows;
}

MeanSd MeanAndSd(const std::vector<double>& values) {
  MeanSd out;
  double sum = 0.0;
  for (double v : values) {
    if (std::isnan(v)) continue;
    sum += v;
    ++out.n;
  }
  const double nan = std::nan("");
  if (out.n == 0) return {nan, nan, 0};
  out.mean = sum / static_cast<double>(out.n);
  if (out.n < 2) {
    out.sd = nan;
    return out;
  }
  double squares = 0.0;
  for (double v : values) {
    if (!std::isnan(v)) squares += (v - out.mean) * (v - out.mean);
  }
  out.sd = std::sqrt(squares / static_cast<double>(out.n - 1));
  return out;
}

std::string SweepSummaryMarkdown(const SweepResult& result) {
  std::set<std::string> outcome_names;
  std::vector<size_t> cells;
  for (const SweepRow& row : result.rows) {
    for (const auto& [name, value] : row.outcome) outcome_names.insert(name);
    if (std::find(cells.begin(), cells.end(), row.cell) == cells.end()) cells.push_back(row.cell);
  }
  auto format = [](const MeanSd& m) -> std::string {
    if (m.n == 0) return "n/a";
    char buf[80];
    if (std::isnan(m.sd)) {
      std::snprintf(buf, sizeof buf, "%.4g", m.mean);
    } else {
      std::snprintf(buf, sizeof buf, "%.4g ± %.2g", m.mean, m.sd);
    }
    return buf;
  };
  std::string out =
      "# Sweep summary\n\nMean ± sample standard deviation over the seeds of each "
      "grid cell (one value: no sd). Every run: sweep.csv.\n\n| cell |";
  std::string rule = "|---|";
  for (const std::string& k : result.grid_keys) {
    out += ' ';
    out += k;
    out += " |";
    rule += "---|";
  }
  out += " seeds | final test accuracy | final test loss |";
  rule += "---|---|---|";
  for (const std::string& name : outcome_names) {
    out += ' ';
    out += name;
    out += " |";
    rule += "---|";
  }
  out += '\n';
  out += rule;
  out += '\n';
  for (size_t cell : cells) {
    std::vector<const SweepRow*> rows;
    for (const SweepRow& row : result.rows) {
      if (row.cell == cell) rows.push_back(&row);
    }
    auto column = [&](const std::function<double(const SweepRow&)>& get) {
      std::vector<double> v;
      for (const SweepRow* row : rows) v.push_back(get(*row));
      return format(MeanAndSd(v));
    };
    // One cell per call, appended piecewise (see SweepCsv).
    auto cell_text = [&out](const std::string& text) {
      out += ' ';
      out += text;
      out += " |";
    };
    out += '|';
    cell_text(std::to_string(cell));
    for (const std::string& v : rows.front()->values) cell_text(v);
    std::string seeds;
    for (const SweepRow* row : rows) {
      if (!seeds.empty()) seeds += ", ";
      seeds += std::to_string(row->seed);
    }
    cell_text(seeds);
    cell_text(column([](const SweepRow& r) { return r.final_test_accuracy; }));
    cell_text(column([](const SweepRow& r) { return r.final_test_loss; }));
    for (const std::string& name : outcome_names) {
      cell_text(column([&](const SweepRow& r) {
        auto it = r.outcome.find(name);
        return it == r.outcome.end() ? std::nan("") : it->second;
      }));
    }
    out += "\n";
  }
  return out;
}

}  // namespace confml::experiments
