// `confml check CONFIG [overrides]`: validates as `confml run` would, prints
// the resolved config, runs and writes nothing. Slow only because each confml
// process spends about a second loading LibTorch.
#include <gtest/gtest.h>

#include <filesystem>
#include <sstream>
#include <string>
#include <vector>

#include "confml/experiments/config.h"
#include "test_util.h"

namespace confml::experiments {
namespace {

using testing::CountLines;
using testing::RunConfml;
using testing::TempDir;

const std::string kGood = testing::SourceDir() + "/experiments/synthetic_mlp.yaml";

TEST(CheckCli, PrintsTheResolvedConfigAndWritesNothing) {
  TempDir tmp;
  const std::string out_dir = tmp.path() + "/runs";
  testing::CliResult r =
      RunConfml({"check", kGood, "train.epochs=3", "experiment.output_dir=" + out_dir}, tmp.path());
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(r.err.empty()) << r.err;
  // The printed YAML is the config `run` would use: it parses back to the same
  // values, the override applied and every default filled in.
  StatusOr<ExperimentConfig> printed = ParseExperimentConfig(r.out, {}, "stdout");
  ASSERT_TRUE(printed.ok()) << printed.status().message() << "\n" << r.out;
  StatusOr<ExperimentConfig> loaded =
      LoadExperimentConfig(kGood, {"train.epochs=3", "experiment.output_dir=" + out_dir});
  ASSERT_TRUE(loaded.ok());
  EXPECT_TRUE(*printed == *loaded) << r.out;
  EXPECT_EQ(printed->Int("train", "epochs"), 3);
  EXPECT_FALSE(std::filesystem::exists(out_dir));
}

TEST(CheckCli, ABadKeyExitsTwoWithTheMessageRunGives) {
  TempDir tmp;
  const std::vector<std::string> args = {kGood, "train.epoch=3",
                                         "experiment.output_dir=" + tmp.path() + "/runs"};
  std::vector<std::string> check = {"check"}, run = {"run"};
  check.insert(check.end(), args.begin(), args.end());
  run.insert(run.end(), args.begin(), args.end());
  testing::CliResult c = RunConfml(check, tmp.path());
  testing::CliResult r = RunConfml(run, tmp.path());
  EXPECT_EQ(c.exit_code, 2);
  EXPECT_EQ(CountLines(c.err), 1) << c.err;
  EXPECT_NE(c.err.find("epochs"), std::string::npos) << c.err;  // the nearest valid key
  EXPECT_EQ(c.err, r.err);
  EXPECT_TRUE(c.out.empty()) << c.out;
}

TEST(CheckCli, AMatrixIsCheckedCellByCell) {
  TempDir tmp;
  const std::string matrix = testing::SourceDir() + "/experiments/confidential_matrix.yaml";
  testing::CliResult ok = RunConfml({"check", matrix}, tmp.path());
  ASSERT_EQ(ok.exit_code, 0) << ok.err;
  EXPECT_NE(ok.out.find("# 40 matrix cells valid"), std::string::npos) << ok.out;

  // A column override that only a cell's config can reject.
  testing::CliResult bad = RunConfml(
      {"check", matrix,
       "matrix.columns=[\"no TEE: tee.name=none attestation.mode=off aggregator.beta=0.9\"]"},
      tmp.path());
  EXPECT_EQ(bad.exit_code, 2) << bad.out;
  EXPECT_EQ(CountLines(bad.err), 1) << bad.err;
  EXPECT_NE(bad.err.find("aggregator.beta"), std::string::npos) << bad.err;
}

TEST(CheckCli, BadArguments) {
  TempDir tmp;
  EXPECT_EQ(RunConfml({"check"}, tmp.path()).exit_code, 2);
  EXPECT_EQ(RunConfml({"check", "/nonexistent/x.yaml"}, tmp.path()).exit_code, 2);
  testing::CliResult resume =
      RunConfml({"check", kGood, "--resume", tmp.path() + "/no_such_run"}, tmp.path());
  EXPECT_EQ(resume.exit_code, 2);
  EXPECT_NE(resume.err.find("no such run folder"), std::string::npos) << resume.err;
  testing::CliResult help = RunConfml({"check", "--help"}, tmp.path());
  EXPECT_EQ(help.exit_code, 0);
  EXPECT_NE(help.out.find("usage: confml check"), std::string::npos);
}

// `confml COMMAND --help` prints a usage on stdout and succeeds, for every
// command `confml help` lists.
TEST(CheckCli, EveryCommandAnswersHelp) {
  TempDir tmp;
  testing::CliResult list = RunConfml({"help"}, tmp.path());
  ASSERT_EQ(list.exit_code, 0);
  std::vector<std::string> commands;
  std::istringstream lines(list.out.substr(list.out.find("commands:")));
  std::string line;
  std::getline(lines, line);
  while (std::getline(lines, line)) {
    std::istringstream words(line);
    std::string name;
    if (words >> name) commands.push_back(name);
  }
  ASSERT_GE(commands.size(), 8u) << list.out;
  for (const std::string& command : commands) {
    testing::CliResult help = RunConfml({command, "--help"}, tmp.path());
    EXPECT_EQ(help.exit_code, 0) << command << ": " << help.err;
    EXPECT_NE(help.out.find("usage"), std::string::npos) << command << ": " << help.out;
  }
}

}  // namespace
}  // namespace confml::experiments
