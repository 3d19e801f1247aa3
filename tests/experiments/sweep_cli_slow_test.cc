// `confml sweep` through the binary: a small grid x seeds end to end (one
// progress line per run, the summary on stdout, the sweep folder's files),
// bad sweeps exit 2 with one line and write nothing, --resume runs only the
// missing runs, and `run` / `check` on a sweep file. With --jobs: resume,
// and SIGTERM / Ctrl-C stopping the children and leaving a resumable sweep.
// Slow only because each confml process spends about a second loading
// LibTorch.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sched.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <ostream>
#include <string>
#include <thread>
#include <vector>

#include "test_util.h"

namespace confml::experiments {
namespace {

using testing::CountLines;
using testing::ReadAll;
using testing::RunConfml;
using testing::TempDir;

constexpr char kTiny[] = R"(experiment: {name: tiny_sweep, seed: 7, threads: 1, kind: federated}
dataset: {name: synthetic, num_samples: 240, num_features: 8, num_classes: 3}
model: {name: mlp, hidden: [8]}
optimizer: {name: sgd, lr: 0.05}
federated: {rounds: 1, clients_per_round: 2, local_epochs: 1, batch_size: 16, workers: 1}
partition: {name: iid, num_clients: 4}
aggregator: {name: fedavg}
sweep:
  seeds: [1, 2]
  grid: {aggregator.name: [fedavg, median]}
)";

std::string WriteTiny(const TempDir& dir) {
  const std::string path = dir.File("tiny.yaml");
  std::ofstream(path) << kTiny;
  return path;
}

std::vector<std::string> SweepFolders(const std::string& out) {
  std::vector<std::string> found;
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator(out, ec)) {
    found.push_back(e.path().string());
  }
  return found;
}

TEST(SweepCliTest, RunsGridTimesSeedsAndResumesOnlyMissingRuns) {
  TempDir tmp;
  const std::string config = WriteTiny(tmp);
  const std::string out = tmp.File("runs");
  testing::CliResult r = RunConfml({"sweep", config, "experiment.output_dir=" + out, "--grid",
                                    "optimizer.lr=0.05,0.1", "--seeds", "3,4"},
                                   tmp.path());
  ASSERT_EQ(r.exit_code, 0) << r.err;
  // 2 aggregators x 2 lrs x 2 seeds: a header line and one line per run.
  EXPECT_EQ(CountLines(r.err), 1 + 8) << r.err;
  EXPECT_NE(
      r.err.find("sweep: 8/8 cell 3 aggregator.name=median optimizer.lr=0.1 seed 4: accuracy"),
      std::string::npos)
      << r.err;
  EXPECT_NE(r.out.find("| 3 | median | 0.1 | 3, 4 |"), std::string::npos) << r.out;
  const std::vector<std::string> folders = SweepFolders(out);
  ASSERT_EQ(folders.size(), 1u);
  const std::string sweep = folders[0];
  EXPECT_NE(r.out.find("sweep folder: " + sweep), std::string::npos) << r.out;
  EXPECT_EQ(ReadAll(sweep + "/summary.md"), r.out.substr(0, r.out.find("sweep folder: ")));
  const std::string csv = ReadAll(sweep + "/sweep.csv");
  EXPECT_EQ(CountLines(csv), 1 + 8) << csv;
  size_t run_dirs = 0;
  for (const auto& e : std::filesystem::directory_iterator(sweep)) {
    if (e.is_directory()) {
      ++run_dirs;
      EXPECT_TRUE(std::filesystem::is_regular_file(e.path() / "fl_rounds.h5")) << e.path();
    }
  }
  EXPECT_EQ(run_dirs, 8u);

  // Lose one run: --resume with the same command runs that one alone.
  const std::string line = csv.substr(csv.find('\n') + 1);
  const std::string first_run = line.substr(0, line.find('\n'));
  // cell,aggregator.name,optimizer.lr,seed,run_dir,...
  std::vector<std::string> fields;
  size_t start = 0;
  for (int i = 0; i < 5; ++i) {
    const size_t comma = first_run.find(',', start);
    fields.push_back(first_run.substr(start, comma - start));
    start = comma + 1;
  }
  std::filesystem::remove_all(sweep + "/" + fields[4]);
  r = RunConfml({"sweep", config, "experiment.output_dir=" + out, "--grid", "optimizer.lr=0.05,0.1",
                 "--seeds", "3,4", "--resume", sweep},
                tmp.path());
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.err.find("sweep: 8/8 cell 0 aggregator.name=fedavg optimizer.lr=0.05 seed 3"),
            std::string::npos)
      << r.err;
  EXPECT_NE(r.err.find("kept 7 finished runs"), std::string::npos) << r.err;
  EXPECT_EQ(CountLines(r.err), 1 + 1 + 1) << r.err;
  EXPECT_EQ(SweepFolders(out).size(), 1u);

  // Resuming with other seeds is refused: exit 2, nothing run.
  r = RunConfml({"sweep", config, "experiment.output_dir=" + out, "--grid", "optimizer.lr=0.05,0.1",
                 "--resume", sweep},
                tmp.path());
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_NE(r.err.find("differs from the one recorded"), std::string::npos) << r.err;
}

struct BadSweepArgs {
  std::string name;
  std::vector<std::string> args;
  std::string expect;
};

// Names the case in test listings (ctest) instead of dumping its bytes.
void PrintTo(const BadSweepArgs& c, std::ostream* os) { *os << c.name; }

class BadSweepCliTest : public ::testing::TestWithParam<BadSweepArgs> {};

TEST_P(BadSweepCliTest, ExitsTwoWithOneLineAndWritesNothing) {
  TempDir tmp;
  const std::string out = tmp.File("runs");
  std::vector<std::string> args = {"sweep", WriteTiny(tmp), "experiment.output_dir=" + out};
  args.insert(args.end(), GetParam().args.begin(), GetParam().args.end());
  testing::CliResult r = RunConfml(args, tmp.path());
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_EQ(CountLines(r.err), 1) << r.err;
  EXPECT_NE(r.err.find(GetParam().expect), std::string::npos) << r.err;
  EXPECT_TRUE(r.out.empty()) << r.out;
  EXPECT_FALSE(std::filesystem::exists(out)) << "a bad sweep created " << out;
}

INSTANTIATE_TEST_SUITE_P(
    Corpus, BadSweepCliTest,
    ::testing::Values(
        BadSweepArgs{
            "bad_value", {"--grid", "aggregator.name=fedavg,medain"}, "aggregator.name=medain"},
        BadSweepArgs{"bad_key", {"--grid", "optimizer.rl=0.1"}, "optimizer.rl"},
        BadSweepArgs{"duplicate_seeds", {"--seeds", "1,1"}, "seed 1 is listed twice"},
        BadSweepArgs{"bad_seed", {"--seeds", "1,x"}, "'x' is not a seed"},
        BadSweepArgs{"empty_value", {"--grid", "optimizer.lr=0.1,"}, "an empty value"},
        BadSweepArgs{"bad_override", {"federated.rounds=0"}, "federated.rounds"},
        BadSweepArgs{"unknown_option", {"--seed", "1"}, "unknown option '--seed'"},
        BadSweepArgs{"jobs_zero", {"--jobs", "0"}, "--jobs: '0' is not a number of parallel runs"},
        BadSweepArgs{"jobs_negative", {"--jobs=-2"}, "--jobs: '-2' is not"},
        BadSweepArgs{"jobs_text", {"--jobs", "two"}, "--jobs: 'two' is not"},
        BadSweepArgs{"jobs_fraction", {"--jobs=1.5"}, "--jobs: '1.5' is not"},
        BadSweepArgs{"jobs_empty", {"--jobs="}, "--jobs: '' is not"},
        BadSweepArgs{"jobs_huge", {"--jobs", "99999999999"}, "'99999999999' is not"},
        BadSweepArgs{"jobs_no_value", {"--jobs"}, "--jobs needs a value"}),
    [](const ::testing::TestParamInfo<BadSweepArgs>& info) { return info.param.name; });

TEST(SweepCliTest, RunIgnoresTheSweepWithANoteAndCheckValidatesIt) {
  TempDir tmp;
  const std::string config = WriteTiny(tmp);
  const std::string out = tmp.File("runs");
  testing::CliResult r = RunConfml({"run", config, "experiment.output_dir=" + out}, tmp.path());
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.err.find("sweep section is ignored"), std::string::npos) << r.err;
  EXPECT_EQ(SweepFolders(out).size(), 1u);  // one plain run folder

  r = RunConfml({"check", config}, tmp.path());
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("# 4 sweep runs valid"), std::string::npos) << r.out;

  const std::string bad = tmp.File("bad.yaml");
  std::string text = kTiny;
  const std::string grid = "grid: {aggregator.name: [fedavg, median]}";
  text.replace(text.find(grid), grid.size(), "grid: {optimizer.lr: [0.1, -2]}");
  std::ofstream(bad) << text;
  r = RunConfml({"check", bad}, tmp.path());
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_NE(r.err.find("optimizer.lr=-2"), std::string::npos) << r.err;
}

// The sweep folder under `out`, or "" while there is none.
std::string OnlySweepFolder(const std::string& out) {
  const std::vector<std::string> folders = SweepFolders(out);
  return folders.size() == 1 ? folders[0] : "";
}

// Lines of sweep.csv after the header (0 while it does not exist).
int CsvRows(const std::string& sweep) {
  if (sweep.empty()) return 0;
  const std::string csv = ReadAll(sweep + "/sweep.csv");
  return csv.empty() ? 0 : CountLines(csv) - 1;
}

// Each run on as many threads as there are cores, two at once: the sweep
// notes the oversubscription once and runs anyway.
TEST(SweepCliJobsTest, TwoJobsLogEveryRunAndResumeOnlyMissingRuns) {
  TempDir tmp;
  const std::string config = WriteTiny(tmp);
  const std::string out = tmp.File("runs");
  cpu_set_t set;
  ASSERT_EQ(sched_getaffinity(0, sizeof set, &set), 0);
  const int cores = CPU_COUNT(&set);
  const std::string threads = "experiment.threads=" + std::to_string(cores);
  testing::CliResult r = RunConfml(
      {"sweep", config, "experiment.output_dir=" + out, threads, "--jobs", "2"}, tmp.path());
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(
      r.err.find("sweep: 2 cells x 2 seeds = 4 runs, up to 2 at once\n"
                 "sweep: note: 2 runs at once x " +
                 std::to_string(cores) + " threads each > " + std::to_string(cores) + " cores"),
      std::string::npos)
      << r.err;
  for (int done = 1; done <= 4; ++done) {
    EXPECT_NE(r.err.find("sweep: " + std::to_string(done) + "/4 cell "), std::string::npos)
        << r.err;
  }
  EXPECT_NE(r.out.find("| 1 | median | 1, 2 |"), std::string::npos) << r.out;
  const std::string sweep = OnlySweepFolder(out);
  ASSERT_FALSE(sweep.empty());
  for (const char* log : {"0-1", "0-2", "1-1", "1-2"}) {
    EXPECT_NE(ReadAll(sweep + "/logs/" + log + ".log").find("final test accuracy"),
              std::string::npos)
        << log;
  }
  // The children's own provenance: each is the `confml run` it was.
  const std::string csv = ReadAll(sweep + "/sweep.csv");
  EXPECT_EQ(CountLines(csv), 1 + 4) << csv;
  const std::string line = csv.substr(csv.find('\n') + 1);
  const std::string first_run = line.substr(0, line.find('\n'));
  // cell,aggregator.name,seed,run_dir,...
  std::string run_dir = first_run;
  for (int i = 0; i < 3; ++i) run_dir = run_dir.substr(run_dir.find(',') + 1);
  run_dir = run_dir.substr(0, run_dir.find(','));
  const std::string provenance = ReadAll(sweep + "/" + run_dir + "/provenance.json");
  EXPECT_NE(provenance.find("\"aggregator.name=fedavg\", \"experiment.seed=1\""), std::string::npos)
      << provenance;

  std::filesystem::remove_all(sweep + "/" + run_dir);
  r = RunConfml(
      {"sweep", config, "experiment.output_dir=" + out, threads, "--resume", sweep, "--jobs=2"},
      tmp.path());
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.err.find("sweep: 4/4 cell 0 aggregator.name=fedavg seed 1: accuracy"),
            std::string::npos)
      << r.err;
  EXPECT_NE(r.err.find("kept 3 finished runs"), std::string::npos) << r.err;
  EXPECT_EQ(r.err.find("sweep: 3/4"), std::string::npos) << r.err;  // nothing else ran
  EXPECT_EQ(CsvRows(sweep), 4);
  EXPECT_EQ(SweepFolders(out).size(), 1u);
}

// Processes whose command line mentions `text` (the sweep's children name
// the sweep folder in theirs).
int ProcessesMentioning(const std::string& text) {
  int n = 0;
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator("/proc", ec)) {
    const std::string cmdline = ReadAll(e.path().string() + "/cmdline");
    if (cmdline.find(text) != std::string::npos) ++n;
  }
  return n;
}

struct Interrupt {
  std::string name;
  int signal;
  bool whole_group;  // as a terminal's Ctrl-C; else the parent alone (kill PID)
  int exit_code;
};

void PrintTo(const Interrupt& c, std::ostream* os) { *os << c.name; }

class SweepCliInterruptTest : public ::testing::TestWithParam<Interrupt> {};

// Eight runs of about a second each, two at a time: once the first row is
// written, the signal stops the sweep; the children are gone when it exits,
// the finished rows stay, and --resume runs exactly the rest.
TEST_P(SweepCliInterruptTest, StopsChildrenAndLeavesAResumableSweep) {
  TempDir tmp;
  const std::string config = WriteTiny(tmp);
  const std::string out = tmp.File("runs");
  const std::vector<std::string> args = {"sweep",
                                         config,
                                         "experiment.output_dir=" + out,
                                         "dataset.num_samples=3000",
                                         "federated.rounds=10",
                                         "--seeds",
                                         "1,2,3,4",
                                         "--jobs",
                                         "2"};
  std::vector<std::string> argv = {testing::ConfmlBinary()};
  argv.insert(argv.end(), args.begin(), args.end());
  const pid_t pid = testing::StartProgram(argv, tmp.path(), {}, /*own_process_group=*/true);
  ASSERT_GT(pid, 0);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::minutes(3);
  while (CsvRows(OnlySweepFolder(out)) < 1 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  const std::string sweep = OnlySweepFolder(out);
  ASSERT_FALSE(sweep.empty());
  ::kill(GetParam().whole_group ? -pid : pid, GetParam().signal);
  testing::CliResult r = testing::FinishProgram(pid, tmp.path());
  EXPECT_EQ(r.exit_code, GetParam().exit_code) << r.err;
  EXPECT_NE(r.err.find("sweep interrupted"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("--resume " + sweep + " continue the sweep"), std::string::npos) << r.err;
  EXPECT_EQ(ProcessesMentioning(sweep), 0) << "a child outlived the sweep";
  const int kept = CsvRows(sweep);
  EXPECT_GE(kept, 1);
  EXPECT_LT(kept, 8) << "the sweep finished before the signal; make the runs longer";

  std::vector<std::string> resume = args;
  resume.insert(resume.end(), {"--resume", sweep});
  r = RunConfml(resume, tmp.path());
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.err.find("kept " + std::to_string(kept) + " finished runs"), std::string::npos)
      << r.err;
  EXPECT_EQ(CsvRows(sweep), 8);
}

INSTANTIATE_TEST_SUITE_P(Signals, SweepCliInterruptTest,
                         ::testing::Values(Interrupt{"sigterm_parent", SIGTERM, false, 128 + 15},
                                           Interrupt{"ctrl_c_group", SIGINT, true, 128 + 2}),
                         [](const ::testing::TestParamInfo<Interrupt>& info) {
                           return info.param.name;
                         });

}  // namespace
}  // namespace confml::experiments
