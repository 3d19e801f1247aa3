// Bad input given to the runner leaves nothing that looks like a run: a run
// that fails before it recorded an epoch or a round removes the folder it
// created, and a resume from a damaged checkpoint fails before it rewrites the
// folder's config.yaml and provenance.json. Also a directory given as the
// config file is named as such. The CLI side is bad_input_cli_slow_test.cc;
// the table of cases is docs/errors.md.
#include <gtest/gtest.h>

#include <filesystem>
#include <string>
#include <vector>

#include "confml/core/file_util.h"
#include "confml/experiments/config.h"
#include "run_util.h"

namespace confml::experiments {
namespace {

using testing::ReadAll;
using testing::RunConfigFile;
using testing::TempDir;

const std::string kFederated = testing::SourceDir() + "/experiments/fedavg_synthetic.yaml";
const std::string kCentralized = testing::SourceDir() + "/experiments/synthetic_mlp.yaml";

// Small enough for a quick test: 2 rounds of 5 clients on 300 samples.
std::vector<std::string> SmallFederated(const std::string& out_dir) {
  return {"dataset.num_samples=300", "federated.rounds=2", "federated.workers=1",
          "experiment.output_dir=" + out_dir};
}

int CountEntries(const std::string& dir) {
  if (!std::filesystem::exists(dir)) return 0;
  int n = 0;
  for ([[maybe_unused]] const auto& e : std::filesystem::directory_iterator(dir)) ++n;
  return n;
}

TEST(BadInputTest, MissingInitialModelLeavesNoRunFolder) {
  TempDir tmp;
  const std::string out = tmp.File("runs");
  std::vector<std::string> o = SmallFederated(out);
  o.push_back("federated.initial_model=" + tmp.File("nope.ckpt"));
  StatusOr<RunResult> r = RunConfigFile(kFederated, o);
  ASSERT_FALSE(r.ok());
  EXPECT_TRUE(IsInputError(r.status())) << r.status();
  EXPECT_NE(r.status().message().find("federated.initial_model"), std::string::npos) << r.status();
  EXPECT_EQ(CountEntries(out), 0) << "a failed run left a folder in " << out;
}

TEST(BadInputTest, TruncatedInitialModelLeavesNoRunFolder) {
  TempDir tmp;
  const std::string out = tmp.File("runs");
  StatusOr<RunResult> good = RunConfigFile(kFederated, SmallFederated(out));
  ASSERT_TRUE(good.ok()) << good.status();
  StatusOr<std::vector<uint8_t>> bytes = ReadFileBytes(good->run_dir + "/fl.ckpt");
  ASSERT_TRUE(bytes.ok()) << bytes.status();
  ASSERT_GT(bytes->size(), 100u);
  const std::string truncated = tmp.File("half.ckpt");
  ASSERT_TRUE(
      WriteFileAtomically(truncated, std::string(bytes->begin(), bytes->begin() + 100)).ok());

  std::vector<std::string> o = SmallFederated(out);
  o.push_back("federated.initial_model=" + truncated);
  StatusOr<RunResult> r = RunConfigFile(kFederated, o);
  ASSERT_FALSE(r.ok());
  EXPECT_TRUE(IsInputError(r.status())) << r.status();
  EXPECT_NE(r.status().message().find("half.ckpt"), std::string::npos) << r.status();
  EXPECT_EQ(CountEntries(out), 1) << "only the good run's folder may remain";
}

TEST(BadInputTest, ResumeFromDamagedCheckpointLeavesTheFolderAsItWas) {
  TempDir tmp;
  StatusOr<RunResult> good = RunConfigFile(kFederated, SmallFederated(tmp.File("runs")));
  ASSERT_TRUE(good.ok()) << good.status();
  const std::string dir = good->run_dir;
  StatusOr<std::vector<uint8_t>> bytes = ReadFileBytes(dir + "/fl.ckpt");
  ASSERT_TRUE(bytes.ok()) << bytes.status();
  ASSERT_TRUE(
      WriteFileAtomically(dir + "/fl.ckpt", std::string(bytes->begin(), bytes->end() - 7)).ok());
  const std::string config_before = ReadAll(dir + "/config.yaml");
  const std::string provenance_before = ReadAll(dir + "/provenance.json");

  StatusOr<ExperimentConfig> config =
      LoadExperimentConfig(kFederated, SmallFederated(tmp.File("runs")));
  ASSERT_TRUE(config.ok()) << config.status();
  RunOptions options;
  options.progress = ProgressMode::kNone;
  options.resume_dir = dir;
  StatusOr<RunResult> r = RunExperiment(*config, options);
  ASSERT_FALSE(r.ok());
  EXPECT_TRUE(IsInputError(r.status())) << r.status();
  EXPECT_NE(r.status().message().find("fl.ckpt"), std::string::npos) << r.status();
  EXPECT_EQ(ReadAll(dir + "/config.yaml"), config_before);
  EXPECT_EQ(ReadAll(dir + "/provenance.json"), provenance_before)
      << "a failed resume replaced the run's provenance";
}

// A learning rate a float holds but no model survives diverges in the first
// epoch, after the folder was created: the folder goes with the failure, and
// the message names the loss, the epoch and the learning rate.
TEST(BadInputTest, CentralizedRunFailingInItsFirstEpochLeavesNoRunFolder) {
  TempDir tmp;
  const std::string out = tmp.File("runs");
  StatusOr<RunResult> r =
      RunConfigFile(kCentralized, {"dataset.num_samples=200", "train.epochs=1", "optimizer.lr=1e30",
                                   "experiment.output_dir=" + out});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kFailedPrecondition) << r.status();
  EXPECT_NE(r.status().message().find("loss became"), std::string::npos) << r.status();
  EXPECT_NE(r.status().message().find("at epoch 1 step "), std::string::npos) << r.status();
  EXPECT_NE(r.status().message().find("lower the learning rate (optimizer lr 1e+30)"),
            std::string::npos)
      << r.status();
  EXPECT_EQ(CountEntries(out), 0) << "a failed run left a folder in " << out;
}

// LibTorch turns optimizer hyperparameters into floats and used to fail in
// the first step on one a float cannot hold; now the config is refused,
// naming the key and the float range, before anything runs.
TEST(BadInputTest, OptimizerValuesOutsideTheFloatRangeFailValidation) {
  for (const std::string& override : std::vector<std::string>{
           "optimizer.lr=1e308", "optimizer.lr=3.5e38", "optimizer.weight_decay=1e39"}) {
    StatusOr<ExperimentConfig> c = LoadExperimentConfig(kCentralized, {override});
    ASSERT_FALSE(c.ok()) << override;
    EXPECT_EQ(c.status().code(), StatusCode::kInvalidArgument) << c.status();
    const std::string key = override.substr(0, override.find('='));
    EXPECT_NE(c.status().message().find(key + ": "), std::string::npos) << c.status();
    EXPECT_NE(c.status().message().find("the range of a 32-bit float"), std::string::npos)
        << c.status();
  }
  EXPECT_TRUE(LoadExperimentConfig(kCentralized, {"optimizer.lr=3.4e38"}).ok());
}

// experiment.output_dir under a file can never be created: the user's input
// (exit 2), named with the path, and nothing is created.
TEST(BadInputTest, OutputDirUnderAFileIsAnInputError) {
  TempDir tmp;
  const std::string file = tmp.File("a_file");
  ASSERT_TRUE(WriteFileAtomically(file, "x").ok());
  for (const std::string& out : {file, file + "/runs", file + "/runs/deeper"}) {
    StatusOr<RunResult> r = RunConfigFile(
        kCentralized,
        {"dataset.num_samples=200", "train.epochs=1", "experiment.output_dir=" + out});
    ASSERT_FALSE(r.ok()) << out;
    EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument) << r.status();
    EXPECT_NE(r.status().message().find("experiment.output_dir: cannot create '" + out + "'"),
              std::string::npos)
        << r.status();
    EXPECT_NE(r.status().message().find("'" + file + "' exists and is not a directory"),
              std::string::npos)
        << r.status();
  }
  EXPECT_EQ(CountEntries(tmp.path()), 1) << "only a_file may be there";
  EXPECT_EQ(ReadAll(file), "x");
}

// A path that fails part-way (here a name longer than NAME_MAX, after a new
// parent folder) removes the folders it created on the way.
TEST(BadInputTest, OutputDirFailingPartWayLeavesNothing) {
  TempDir tmp;
  const std::string out = tmp.File("new_parent") + "/" + std::string(300, 'x');
  StatusOr<RunResult> f = RunConfigFile(kFederated, SmallFederated(out));
  ASSERT_FALSE(f.ok());
  EXPECT_EQ(f.status().code(), StatusCode::kInvalidArgument) << f.status();
  EXPECT_NE(f.status().message().find("experiment.output_dir: cannot create output directory"),
            std::string::npos)
      << f.status();
  EXPECT_EQ(CountEntries(tmp.path()), 0) << "new_parent was left behind";
}

TEST(BadInputTest, GoodRunsKeepTheirFolders) {
  TempDir tmp;
  const std::string out = tmp.File("runs");
  StatusOr<RunResult> c = RunConfigFile(
      kCentralized, {"dataset.num_samples=200", "train.epochs=1", "experiment.output_dir=" + out});
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_TRUE(std::filesystem::exists(c->run_dir + "/results.h5"));
  StatusOr<RunResult> f = RunConfigFile(kFederated, SmallFederated(out));
  ASSERT_TRUE(f.ok()) << f.status();
  EXPECT_TRUE(std::filesystem::exists(f->run_dir + "/fl.ckpt"));
  EXPECT_EQ(CountEntries(out), 2);
}

TEST(BadInputTest, DirectoryAsConfigIsNamed) {
  TempDir tmp;
  StatusOr<ExperimentConfig> c = LoadExperimentConfig(tmp.path());
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.status().code(), StatusCode::kInvalidArgument) << c.status();
  EXPECT_NE(c.status().message().find("is a directory"), std::string::npos) << c.status();
}

}  // namespace
}  // namespace confml::experiments
