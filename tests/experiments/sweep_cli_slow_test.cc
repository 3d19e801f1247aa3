// `confml sweep` through the binary: a small grid x seeds end to end (one
// progress line per run, the summary on stdout, the sweep folder's files),
// bad sweeps exit 2 with one line and write nothing, --resume runs only the
// missing runs, and `run` / `check` on a sweep file. Slow only because each
// confml process spends about a second loading LibTorch.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <ostream>
#include <string>
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
        BadSweepArgs{"unknown_option", {"--seed", "1"}, "unknown option '--seed'"}),
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

}  // namespace
}  // namespace confml::experiments
