// Smoke tests: every config shipped under experiments/ runs at a tiny size
// (overrides cut the data to 256 samples and one epoch, or for federated
// configs two rounds of 4 clients) and writes a complete run folder; the same
// seed gives the same numbers.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>

#include "confml/experiments/config.h"
#include "confml/experiments/results.h"
#include "confml/experiments/runner.h"
#include "test_util.h"

namespace confml::experiments {
namespace {

std::vector<std::string> ShippedConfigs() {
  std::vector<std::string> out;
  for (const auto& e : std::filesystem::directory_iterator(testing::SourceDir() + "/experiments")) {
    if (e.path().extension() == ".yaml") out.push_back(e.path().filename().string());
  }
  std::sort(out.begin(), out.end());
  return out;
}

TEST(SmokeTest, ThereAreConfigs) { EXPECT_GE(ShippedConfigs().size(), 3u); }

// A federated config at a tiny size: 2 rounds, 4 clients, 256 samples.
void RunFederatedSmoke(const std::string& path, const std::string& tmp) {
  const std::vector<std::string> overrides = {"experiment.output_dir=" + tmp + "/runs",
                                              "experiment.threads=1",
                                              "dataset.train_limit=256",
                                              "dataset.test_limit=256",
                                              "federated.rounds=2",
                                              "partition.num_clients=4",
                                              "federated.clients_per_round=2",
                                              "federated.local_epochs=1"};
  StatusOr<ExperimentConfig> config = LoadExperimentConfig(path, overrides);
  ASSERT_TRUE(config.ok()) << config.status();
  RunOptions options;
  options.progress = ProgressMode::kNone;
  options.command_line = {"confml", "run", path};
  StatusOr<RunResult> run = RunExperiment(*config, options);
  ASSERT_TRUE(run.ok()) << run.status();
  EXPECT_TRUE(run->epochs.empty());
  ASSERT_EQ(run->rounds.size(), 2u);
  EXPECT_EQ(run->rounds[1].round, 2);
  EXPECT_LE(run->train_samples, 256);
  EXPECT_GT(run->model_parameters, 0);
  EXPECT_FALSE(run->final_state_hash.empty());
  EXPECT_GE(run->final_test_accuracy, 0.0);
  EXPECT_LE(run->final_test_accuracy, 1.0);
  EXPECT_EQ(run->final_test_accuracy, run->rounds[1].test_accuracy);

  std::vector<std::string> files;
  for (const auto& e : std::filesystem::directory_iterator(run->run_dir))
    files.push_back(e.path().filename());
  std::sort(files.begin(), files.end());
  // With a tee or attestation section, the admissions and the modeled TEE
  // cost go to outcome.h5.
  std::vector<std::string> expected = {"config.yaml", "fl.ckpt", "fl_rounds.h5", "provenance.json"};
  if (config->Has("tee") || config->Has("attestation")) {
    expected.insert(expected.begin() + 3, "outcome.h5");
  }
  EXPECT_EQ(files, expected);
  StatusOr<ExperimentConfig> reloaded = LoadExperimentConfig(run->run_dir + "/config.yaml");
  ASSERT_TRUE(reloaded.ok()) << reloaded.status();
  EXPECT_TRUE(*reloaded == *config);

  options.write_run_dir = false;
  StatusOr<RunResult> again = RunExperiment(*config, options);
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_TRUE(again->run_dir.empty());
  EXPECT_EQ(again->final_state_hash, run->final_state_hash);
}

class SmokeTest : public ::testing::TestWithParam<std::string> {};

TEST_P(SmokeTest, RunsTinyAndWritesRunFolder) {
  testing::TempDir tmp;
  const std::string path = testing::SourceDir() + "/experiments/" + GetParam();
  StatusOr<ExperimentConfig> as_shipped = LoadExperimentConfig(path);
  ASSERT_TRUE(as_shipped.ok()) << as_shipped.status();
  if (as_shipped->kind() == "federated") {
    RunFederatedSmoke(path, tmp.path());
    return;
  }
  // The matrix loads above; its cells run at size tiny in matrix_slow_test.
  if (as_shipped->kind() == "matrix") return;
  const std::vector<std::string> overrides = {"experiment.output_dir=" + tmp.path() + "/runs",
                                              "experiment.threads=1", "dataset.train_limit=256",
                                              "dataset.test_limit=256", "train.epochs=1"};
  StatusOr<ExperimentConfig> config = LoadExperimentConfig(path, overrides);
  ASSERT_TRUE(config.ok()) << config.status();

  RunOptions options;
  options.progress = ProgressMode::kNone;
  options.command_line = {"confml", "run", path};
  StatusOr<RunResult> run = RunExperiment(*config, options);
  ASSERT_TRUE(run.ok()) << run.status();
  EXPECT_EQ(run->epochs.size(), 1u);
  EXPECT_LE(run->train_samples, 256);
  EXPECT_GT(run->model_parameters, 0);
  EXPECT_GE(run->final_test_accuracy, 0.0);
  EXPECT_LE(run->final_test_accuracy, 1.0);

  // The folder: <output_dir>/<name>-<YYYYmmdd-HHMMSS>-<seed>.
  const std::filesystem::path dir(run->run_dir);
  EXPECT_EQ(dir.parent_path(), std::filesystem::path(tmp.path() + "/runs"));
  const std::string folder = dir.filename().string();
  const std::string prefix = config->name() + "-";
  ASSERT_EQ(folder.rfind(prefix, 0), 0u) << folder;
  EXPECT_EQ(folder.size(), prefix.size() + 15 + 1 + std::to_string(config->seed()).size())
      << folder;

  std::vector<std::string> files;
  for (const auto& e : std::filesystem::directory_iterator(dir))
    files.push_back(e.path().filename());
  std::sort(files.begin(), files.end());
  EXPECT_EQ(files, std::vector<std::string>({"config.yaml", "provenance.json", "results.h5"}));

  StatusOr<ExperimentConfig> reloaded = LoadExperimentConfig(run->run_dir + "/config.yaml");
  ASSERT_TRUE(reloaded.ok()) << reloaded.status();
  EXPECT_TRUE(*reloaded == *config);

  const std::string prov = testing::ReadAll(run->run_dir + "/provenance.json");
  for (const char* field :
       {"\"confml_version\": \"", "\"git_commit\": \"", "\"build_type\": \"", "\"compiler\": \"",
        "\"hostname\": \"", "\"start_time\": \"", "\"openmp_max_threads\": "}) {
    EXPECT_NE(prov.find(field), std::string::npos) << field << "\n" << prov;
  }
  EXPECT_NE(prov.find("\"seed\": " + std::to_string(config->seed()) + ","), std::string::npos)
      << prov;
  EXPECT_NE(prov.find("\"torch_threads\": 1,"), std::string::npos) << prov;
  EXPECT_NE(prov.find("\"command_line\": [\"confml\", \"run\", \"" + path + "\"]"),
            std::string::npos)
      << prov;

  StatusOr<RunResults> results = ReadResultsFile(run->run_dir + "/results.h5");
  ASSERT_TRUE(results.ok()) << results.status();
  EXPECT_TRUE(results->complete);
  EXPECT_EQ(results->name, config->name());
  EXPECT_EQ(results->seed, static_cast<int64_t>(config->seed()));
  ASSERT_EQ(results->epochs.size(), 1u);
  EXPECT_EQ(results->epochs[0].epoch, 1);
  EXPECT_DOUBLE_EQ(results->final_test_accuracy, run->final_test_accuracy);
  EXPECT_DOUBLE_EQ(results->epochs[0].train_loss, run->epochs[0].train_loss);
  EXPECT_EQ(results->config_yaml, config->ToYaml());

  // Same seed, same numbers; nothing written when asked not to.
  options.write_run_dir = false;
  StatusOr<RunResult> again = RunExperiment(*config, options);
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_TRUE(again->run_dir.empty());
  EXPECT_EQ(again->final_test_accuracy, run->final_test_accuracy);
  EXPECT_EQ(again->epochs[0].train_loss, run->epochs[0].train_loss);
}

INSTANTIATE_TEST_SUITE_P(Shipped, SmokeTest, ::testing::ValuesIn(ShippedConfigs()),
                         [](const ::testing::TestParamInfo<std::string>& info) {
                           return info.param.substr(0, info.param.size() - 5);
                         });

TEST(RunnerTest, DifferentSeedsDiffer) {
  testing::TempDir tmp;
  const std::string path = testing::SourceDir() + "/experiments/synthetic_mlp.yaml";
  RunOptions options;
  options.progress = ProgressMode::kNone;
  options.write_run_dir = false;
  std::vector<double> losses;
  for (const char* seed : {"experiment.seed=1", "experiment.seed=2"}) {
    StatusOr<ExperimentConfig> c =
        LoadExperimentConfig(path, {seed, "train.epochs=1", "dataset.num_samples=200"});
    ASSERT_TRUE(c.ok()) << c.status();
    StatusOr<RunResult> r = RunExperiment(*c, options);
    ASSERT_TRUE(r.ok()) << r.status();
    losses.push_back(r->epochs[0].train_loss);
  }
  EXPECT_NE(losses[0], losses[1]);
}

TEST(RunnerTest, RunFoldersAreUnique) {
  testing::TempDir tmp;
  const std::string path = testing::SourceDir() + "/experiments/synthetic_mlp.yaml";
  StatusOr<ExperimentConfig> c = LoadExperimentConfig(
      path, {"experiment.output_dir=" + tmp.path(), "train.epochs=1", "dataset.num_samples=100"});
  ASSERT_TRUE(c.ok()) << c.status();
  RunOptions options;
  options.progress = ProgressMode::kNone;
  StatusOr<RunResult> a = RunExperiment(*c, options);
  StatusOr<RunResult> b = RunExperiment(*c, options);
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_NE(a->run_dir, b->run_dir);
  EXPECT_TRUE(std::filesystem::exists(a->run_dir + "/results.h5"));
  EXPECT_TRUE(std::filesystem::exists(b->run_dir + "/results.h5"));
}

}  // namespace
}  // namespace confml::experiments
