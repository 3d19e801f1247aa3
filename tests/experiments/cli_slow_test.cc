// The confml binary end to end: every config under tests/configs/bad/ exits
// with 2, exactly one line on stderr containing the text of its "# expect: "
// first line, and nothing written under the output directory; bad arguments
// likewise; a good run prints its accuracy and folder; a run killed with
// SIGKILL leaves only complete files. Slow only because each confml process
// spends about a second loading LibTorch.
#include <gtest/gtest.h>
#include <signal.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <thread>

#include "confml/experiments/config.h"
#include "confml/experiments/results.h"
#include "test_util.h"

namespace confml::experiments {
namespace {

using testing::BadConfigs;
using testing::CountLines;
using testing::ReadAll;
using testing::RunConfml;
using testing::TempDir;

class BadConfigTest : public ::testing::TestWithParam<std::string> {};

TEST_P(BadConfigTest, ExitsTwoWithOneLineAndWritesNothing) {
  const std::string path = testing::SourceDir() + "/tests/configs/bad/" + GetParam();
  const std::string text = ReadAll(path);
  const std::string expect = testing::ExpectedError(text);
  ASSERT_FALSE(expect.empty()) << path << " must start with '# expect: <text>'";

  TempDir tmp;
  const std::string out_dir = tmp.path() + "/runs";
  testing::CliResult r = RunConfml({"run", path, "experiment.output_dir=" + out_dir}, tmp.path());
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_EQ(CountLines(r.err), 1) << r.err;
  EXPECT_EQ(r.err.rfind("confml: ", 0), 0u) << r.err;
  EXPECT_NE(r.err.find(expect), std::string::npos) << "stderr: " << r.err << "expected: " << expect;
  EXPECT_TRUE(r.out.empty()) << r.out;
  EXPECT_FALSE(std::filesystem::exists(out_dir)) << "a bad config created " << out_dir;
}

INSTANTIATE_TEST_SUITE_P(Corpus, BadConfigTest, ::testing::ValuesIn(BadConfigs()),
                         [](const ::testing::TestParamInfo<std::string>& info) {
                           std::string name = info.param.substr(0, info.param.size() - 5);
                           std::replace(name.begin(), name.end(), '-', '_');
                           return name;
                         });

struct BadArgs {
  std::string name;
  std::vector<std::string> args;
  std::string expect;
};

class BadArgsTest : public ::testing::TestWithParam<BadArgs> {};

TEST_P(BadArgsTest, ExitsTwoWithOneLine) {
  TempDir tmp;
  testing::CliResult r = RunConfml(GetParam().args, tmp.path());
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_EQ(CountLines(r.err), 1) << r.err;
  EXPECT_NE(r.err.find(GetParam().expect), std::string::npos) << r.err;
}

const std::string kGood = testing::SourceDir() + "/experiments/synthetic_mlp.yaml";

INSTANTIATE_TEST_SUITE_P(
    Cli, BadArgsTest,
    ::testing::Values(
        BadArgs{"NoConfig", {"run"}, "run: no config file"},
        BadArgs{"MissingConfig", {"run", "/nonexistent/x.yaml"}, "cannot read config"},
        BadArgs{"UnknownOption", {"run", kGood, "--fast"}, "unknown option '--fast'"},
        BadArgs{"TwoConfigs", {"run", kGood, kGood}, "unexpected argument"},
        BadArgs{"OverrideWithoutSection", {"run", kGood, "epochs=3"}, "expected section.key=value"},
        BadArgs{"OverrideUnknownKey",
                {"run", kGood, "train.epoch=3"},
                "<override>: train.epoch: unknown key (did you mean 'train.epochs'?)"},
        BadArgs{"OverrideBadValue",
                {"run", kGood, "train.epochs=0"},
                "<override>: train.epochs: 0 is out of range"},
        BadArgs{"OverrideMalformed",
                {"run", kGood, "model.hidden=[1, 2"},
                "<override>: model.hidden: malformed value"},
        BadArgs{"BadProgress", {"run", kGood, "--progress=fancy"}, "unknown progress mode"},
        BadArgs{"UnknownCommand", {"rnu"}, "unknown command"},
        BadArgs{"ReferenceArg", {"config-reference", "x"}, "unexpected argument"}),
    [](const ::testing::TestParamInfo<BadArgs>& info) { return info.param.name; });

std::vector<std::string> FilesIn(const std::string& dir) {
  std::vector<std::string> out;
  for (const auto& e : std::filesystem::directory_iterator(dir)) out.push_back(e.path().filename());
  std::sort(out.begin(), out.end());
  return out;
}

TEST(CliRunTest, PrintsAccuracyAndRunFolder) {
  TempDir tmp;
  const std::string out_dir = tmp.path() + "/runs";
  testing::CliResult r = RunConfml({"run", kGood, "experiment.output_dir=" + out_dir,
                                    "dataset.num_samples=300", "train.epochs=2"},
                                   tmp.path());
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out.rfind("final test accuracy: ", 0), 0u) << r.out;
  // stderr is not a terminal here: one plain log line per epoch.
  EXPECT_EQ(CountLines(r.err), 2) << r.err;
  EXPECT_NE(r.err.find("confml: epoch 2/2"), std::string::npos) << r.err;
  const size_t at = r.out.find("run folder: ");
  ASSERT_NE(at, std::string::npos) << r.out;
  std::string dir = r.out.substr(at + 12);
  dir = dir.substr(0, dir.find('\n'));
  EXPECT_EQ(dir.rfind(out_dir + "/synthetic_mlp-", 0), 0u) << dir;
  EXPECT_EQ(FilesIn(dir),
            std::vector<std::string>({"config.yaml", "provenance.json", "results.h5"}));
  StatusOr<RunResults> results = ReadResultsFile(dir + "/results.h5");
  ASSERT_TRUE(results.ok()) << results.status();
  EXPECT_TRUE(results->complete);
  EXPECT_EQ(results->epochs.size(), 2u);
  char shown[32];
  std::snprintf(shown, sizeof(shown), "%.4f", results->final_test_accuracy);
  EXPECT_NE(r.out.find(shown), std::string::npos) << r.out;
}

TEST(CliRunTest, KilledRunLeavesOnlyCompleteFiles) {
  TempDir tmp;
  const std::string out_dir = tmp.path() + "/runs";
  pid_t pid = ::fork();
  if (pid == 0) {
    int null_fd = ::open("/dev/null", O_WRONLY);
    ::dup2(null_fd, 1);
    ::dup2(null_fd, 2);
    std::vector<std::string> args = {testing::ConfmlBinary(),
                                     "run",
                                     kGood,
                                     "experiment.output_dir=" + out_dir,
                                     "dataset.num_samples=200",
                                     "train.epochs=100000",
                                     "train.batch_size=8"};
    std::vector<char*> argv;
    for (std::string& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    ::execv(argv[0], argv.data());
    ::_exit(127);
  }
  // Wait until a few epochs are on disk, then kill without warning.
  std::string run_dir;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (std::chrono::steady_clock::now() < deadline) {
    if (run_dir.empty() && std::filesystem::exists(out_dir) && !FilesIn(out_dir).empty()) {
      run_dir = out_dir + "/" + FilesIn(out_dir)[0];
    }
    if (!run_dir.empty()) {
      StatusOr<RunResults> r = ReadResultsFile(run_dir + "/results.h5");
      if (r.ok() && r->epochs.size() >= 3) break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  ASSERT_FALSE(run_dir.empty()) << "no run folder appeared";
  // Kill mid-epoch, so that a rewrite of results.h5 may be in flight.
  std::this_thread::sleep_for(std::chrono::milliseconds(37));
  ::kill(pid, SIGKILL);
  int status = 0;
  ::waitpid(pid, &status, 0);
  ASSERT_TRUE(WIFSIGNALED(status));

  // Every file under its final name is complete; a temporary file from the
  // interrupted rewrite may remain beside it and is ignored by readers.
  for (const std::string& f : FilesIn(run_dir)) {
    if (f.find(".tmp.") != std::string::npos) {
      EXPECT_EQ(f.rfind("results.h5.tmp.", 0), 0u) << f;
      continue;
    }
    EXPECT_TRUE(f == "config.yaml" || f == "provenance.json" || f == "results.h5") << f;
  }
  StatusOr<ExperimentConfig> config = LoadExperimentConfig(run_dir + "/config.yaml");
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->Int("train", "epochs"), 100000);
  const std::string prov = ReadAll(run_dir + "/provenance.json");
  EXPECT_EQ(prov.substr(prov.size() - 2), "}\n");
  StatusOr<RunResults> results = ReadResultsFile(run_dir + "/results.h5");
  ASSERT_TRUE(results.ok()) << results.status();
  EXPECT_FALSE(results->complete);
  EXPECT_TRUE(std::isnan(results->final_test_accuracy));
  EXPECT_GE(results->epochs.size(), 3u);
  for (size_t i = 0; i < results->epochs.size(); ++i) {
    EXPECT_EQ(results->epochs[i].epoch, static_cast<int64_t>(i + 1));
  }
}

}  // namespace
}  // namespace confml::experiments
