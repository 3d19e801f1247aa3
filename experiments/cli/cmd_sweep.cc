// confml sweep CONFIG.yaml [key.sub=value ...] [--seeds 1,2,3] [--grid key=v1,v2 ...]
//              [--resume SWEEP_DIR] [--jobs N]
#include <sched.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include "commands.h"
#include "confml/experiments/runner.h"
#include "confml/experiments/sweep.h"

namespace confml::cli {
namespace {

constexpr char kSweepUsage[] =
    "usage: confml sweep CONFIG.yaml [section.key=value ...] [--seeds 1,2,3] "
    "[--grid section.key=v1,v2 ...] [--resume SWEEP_DIR] [--jobs N]";

struct SweepRequest {
  bool help = false;
  std::string config_path;
  std::vector<std::string> overrides;
  experiments::SweepArgs args;
  std::string resume_dir;
  int jobs = 1;
};

// The signal that asked a parallel sweep to stop (0: none).
volatile std::sig_atomic_t g_stop_signal = 0;
extern "C" void OnStopSignal(int sig) { g_stop_signal = sig; }

// The cores this process may run on (its affinity mask, which taskset and
// container limits narrow), at least 1.
int UsableCores() {
  cpu_set_t set;
  if (sched_getaffinity(0, sizeof set, &set) == 0) return std::max(1, CPU_COUNT(&set));
  return std::max(1u, std::thread::hardware_concurrency());
}

// Threads one run keeps busy: experiment.threads for LibTorch, or a
// federated run's federated.workers client threads when more.
int64_t RunThreads(const experiments::ExperimentConfig& config) {
  int64_t threads = config.Int("experiment", "threads");
  if (config.kind() == "federated" && config.Has("federated")) {
    threads = std::max(threads, config.Int("federated", "workers"));
  }
  return threads;
}

// Commas inside brackets belong to a list value ("[64, 32]").
std::vector<std::string> SplitValues(const std::string& text) {
  std::vector<std::string> out(1);
  int depth = 0;
  for (char c : text) {
    if (c == '[') ++depth;
    if (c == ']') --depth;
    if (c == ',' && depth == 0) {
      out.emplace_back();
    } else {
      out.back() += c;
    }
  }
  return out;
}

StatusOr<SweepRequest> ParseSweepArgs(int argc, char** argv) {
  SweepRequest req;
  auto value_of = [&](int& i, const std::string& flag) -> StatusOr<std::string> {
    const std::string arg = argv[i];
    if (arg.size() > flag.size() && arg[flag.size()] == '=') return arg.substr(flag.size() + 1);
    if (i + 1 >= argc)
      return InvalidArgumentError("sweep: " + flag + " needs a value; " + kSweepUsage);
    return std::string(argv[++i]);
  };
  auto is_flag = [](const std::string& arg, const std::string& flag) {
    return arg == flag || arg.rfind(flag + "=", 0) == 0;
  };
  for (int i = 0; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--help" || arg == "-h") {
      req.help = true;
      return req;
    }
    if (is_flag(arg, "--seeds")) {
      CONFML_ASSIGN_OR_RETURN(std::string text, value_of(i, "--seeds"));
      std::vector<int64_t> seeds;
      for (const std::string& s : SplitValues(text)) {
        char* end = nullptr;
        const long long v = std::strtoll(s.c_str(), &end, 10);
        if (s.empty() || end != s.c_str() + s.size() || v < 0) {
          return InvalidArgumentError("sweep: --seeds: '" + s +
                                      "' is not a seed (an integer >= 0)");
        }
        seeds.push_back(v);
      }
      req.args.seeds = seeds;
      continue;
    }
    if (is_flag(arg, "--grid")) {
      CONFML_ASSIGN_OR_RETURN(std::string text, value_of(i, "--grid"));
      const size_t eq = text.find('=');
      if (eq == std::string::npos || eq == 0 || text.find('.') > eq) {
        return InvalidArgumentError("sweep: --grid '" + text + "': expected section.key=v1,v2");
      }
      const std::string key = text.substr(0, eq);
      for (const auto& entry : req.args.grid) {
        if (entry.first == key)
          return InvalidArgumentError("sweep: --grid " + key + " given twice");
      }
      std::vector<std::string> values = SplitValues(text.substr(eq + 1));
      for (const std::string& v : values) {
        if (v.empty()) return InvalidArgumentError("sweep: --grid " + key + ": an empty value");
      }
      req.args.grid.emplace_back(key, std::move(values));
      continue;
    }
    if (is_flag(arg, "--resume")) {
      CONFML_ASSIGN_OR_RETURN(req.resume_dir, value_of(i, "--resume"));
      if (req.resume_dir.empty())
        return InvalidArgumentError("sweep: --resume needs a sweep folder");
      continue;
    }
    if (is_flag(arg, "--jobs")) {
      CONFML_ASSIGN_OR_RETURN(std::string text, value_of(i, "--jobs"));
      char* end = nullptr;
      errno = 0;
      const long long v = std::strtoll(text.c_str(), &end, 10);
      if (text.empty() || end != text.c_str() + text.size() || errno == ERANGE || v < 1 ||
          v > INT_MAX) {
        return InvalidArgumentError("sweep: --jobs: '" + text +
                                    "' is not a number of parallel runs (an integer >= 1)");
      }
      req.jobs = static_cast<int>(v);
      continue;
    }
    if (arg.rfind("-", 0) == 0) {
      return InvalidArgumentError("sweep: unknown option '" + arg + "'; " + kSweepUsage);
    }
    if (arg.find('=') != std::string::npos) {
      req.overrides.push_back(arg);
      continue;
    }
    if (!req.config_path.empty()) {
      return InvalidArgumentError("sweep: unexpected argument '" + arg +
                                  "' (overrides look like section.key=value); " + kSweepUsage);
    }
    req.config_path = arg;
  }
  if (req.config_path.empty())
    return InvalidArgumentError(std::string("sweep: no config file; ") + kSweepUsage);
  return req;
}

int Fail(const Status& status) {
  std::string line = status.message();
  for (char& c : line) {
    if (c == '\n' || c == '\r') c = ' ';
  }
  std::fprintf(stderr, "confml: %s\n", line.c_str());
  return experiments::IsInputError(status) ? kExitUsage : kExitFailure;
}

}  // namespace

int SweepCommand(int argc, char** argv) {
  StatusOr<SweepRequest> req = ParseSweepArgs(argc, argv);
  if (!req.ok()) return Fail(req.status());
  if (req->help) {
    std::printf(
        "%s\n"
        "Runs the config's sweep section (seeds x grid cells; --seeds replaces its seeds,\n"
        "--grid adds or replaces a key) as ordinary runs inside one sweep folder, then prints\n"
        "mean ± sd per cell (summary.md). Every run's config is validated before the first\n"
        "starts. --resume runs only the runs the folder lacks.\n"
        "--jobs N runs up to N runs at once, each a child `confml run` process logging to\n"
        "logs/<cell>-<seed>.log in the sweep folder (default 1: one after another in this\n"
        "process); the numbers do not change. Keep N x experiment.threads within the cores.\n"
        "A failed run stops new ones from starting; Ctrl-C stops the running ones; both\n"
        "leave the sweep resumable. See docs/sweeps.md.\n",
        kSweepUsage);
    return kExitOk;
  }
  StatusOr<experiments::SweepPlan> plan =
      experiments::PlanSweep(req->config_path, req->overrides, req->args);
  if (!plan.ok()) return Fail(plan.status());
  experiments::SweepOptions options;
  options.resume_dir = req->resume_dir;
  options.jobs = req->jobs;
  std::string thread_note;  // Printed after the plan's line.
  if (options.jobs > 1) {
    std::error_code ec;
    const std::filesystem::path self = std::filesystem::read_symlink("/proc/self/exe", ec);
    if (ec)
      return Fail(InternalError("sweep: cannot find the confml executable (/proc/self/exe): " +
                                ec.message()));
    options.worker = self.string();
    // More busy threads than cores only slows every run down (the numbers do
    // not depend on it): say so, once.
    int64_t per_run = 1;
    for (const experiments::SweepRun& run : plan->runs) {
      per_run = std::max(per_run, RunThreads(run.config));
    }
    const int64_t at_once =
        std::min<int64_t>(options.jobs, static_cast<int64_t>(plan->runs.size()));
    const int cores = UsableCores();
    if (at_once * per_run > cores) {
      char buf[200];
      std::snprintf(buf, sizeof buf,
                    "sweep: note: %lld runs at once x %lld threads each > %d cores; the runs "
                    "will compete for cores (same numbers, longer wall times)\n",
                    static_cast<long long>(at_once), static_cast<long long>(per_run), cores);
      thread_note = buf;
    }
    // The children are waited for and terminated by RunSweep, which leaves
    // the sweep folder resumable; the default action would orphan them.
    struct sigaction action {};
    action.sa_handler = OnStopSignal;
    sigemptyset(&action.sa_mask);
    sigaction(SIGINT, &action, nullptr);
    sigaction(SIGTERM, &action, nullptr);
    options.stop_requested = [] { return g_stop_signal != 0; };
  }
  options.command_line = {"confml", "sweep"};
  for (int i = 0; i < argc; ++i) options.command_line.push_back(argv[i]);
  options.on_run = [&](const experiments::SweepRun& run, const experiments::SweepRow& row,
                       size_t done, size_t total) {
    std::string cell;
    for (size_t k = 0; k < plan->grid_keys.size(); ++k) {
      cell += (k ? " " : "") + plan->grid_keys[k] + "=" + run.values[k];
    }
    std::fprintf(stderr, "sweep: %zu/%zu cell %zu%s%s seed %lld: accuracy %.4f in %.1f s\n", done,
                 total, run.cell, cell.empty() ? "" : " ", cell.c_str(),
                 static_cast<long long>(run.seed), row.final_test_accuracy, row.wall_seconds);
  };
  std::fprintf(stderr, "sweep: %zu cells x %zu seeds = %zu runs", plan->cells(), plan->seeds.size(),
               plan->runs.size());
  if (options.jobs > 1) std::fprintf(stderr, ", up to %d at once", options.jobs);
  std::fprintf(stderr, "\n%s", thread_note.c_str());
  StatusOr<experiments::SweepResult> result = experiments::RunSweep(*plan, options);
  if (!result.ok() && result.status().code() == StatusCode::kCancelled) {
    // Exit as a process the signal ended does (128 + its number), after
    // the children were stopped.
    const int sig = g_stop_signal != 0 ? g_stop_signal : SIGINT;
    std::fprintf(stderr, "confml: %s\n", result.status().message().c_str());
    return 128 + sig;
  }
  if (!result.ok()) return Fail(result.status());
  if (result->kept > 0) {
    std::fprintf(stderr, "sweep: kept %zu finished runs of %s\n", result->kept,
                 result->dir.c_str());
  }
  const std::string summary = experiments::SweepSummaryMarkdown(*result);
  std::fwrite(summary.data(), 1, summary.size(), stdout);
  std::printf("sweep folder: %s\n", result->dir.c_str());
  return kExitOk;
}

}  // namespace confml::cli
