// Federated experiments from YAML (experiment.kind: federated): per-round
// results, a run folder, results independent of the worker count, resuming
// into an existing folder, and the per-kind section rules.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <string>
#include <vector>

#include "../../experiments/src/federated_runner.h"
#include "confml/experiments/config.h"
#include "confml/experiments/runner.h"
#include "test_util.h"

namespace confml::experiments {
namespace {

const std::string& SyntheticConfig() {
  static const std::string path = testing::SourceDir() + "/experiments/fedavg_synthetic.yaml";
  return path;
}

// Small enough for a quick test; 3 rounds of 3 of 6 clients.
std::vector<std::string> Small(const std::string& out_dir, std::vector<std::string> extra = {}) {
  std::vector<std::string> o = {"experiment.output_dir=" + out_dir, "dataset.num_samples=400",
                                "federated.rounds=3", "federated.clients_per_round=3",
                                "partition.num_clients=6"};
  o.insert(o.end(), extra.begin(), extra.end());
  return o;
}

StatusOr<RunResult> RunYaml(const std::vector<std::string>& overrides, RunOptions options = {}) {
  StatusOr<ExperimentConfig> config = LoadExperimentConfig(SyntheticConfig(), overrides);
  if (!config.ok()) return config.status();
  options.progress = ProgressMode::kNone;
  return RunExperiment(*config, options);
}

TEST(FederatedConfigTest, RunWritesFolderAndPerRoundMetrics) {
  testing::TempDir tmp;
  StatusOr<RunResult> run = RunYaml(Small(tmp.path() + "/runs"));
  ASSERT_TRUE(run.ok()) << run.status();
  ASSERT_EQ(run->rounds.size(), 3u);
  for (size_t i = 0; i < 3; ++i) {
    EXPECT_EQ(run->rounds[i].round, static_cast<int64_t>(i + 1));
    EXPECT_EQ(run->rounds[i].clients_admitted, 3);
    EXPECT_GE(run->rounds[i].test_accuracy, 0.0);
    EXPECT_LE(run->rounds[i].test_accuracy, 1.0);
    EXPECT_TRUE(std::isfinite(run->rounds[i].mean_train_loss));
  }
  EXPECT_EQ(run->final_test_accuracy, run->rounds.back().test_accuracy);
  EXPECT_EQ(run->final_test_loss, run->rounds.back().test_loss);
  EXPECT_EQ(run->train_samples + run->test_samples, 400);

  ASSERT_FALSE(run->run_dir.empty());
  for (const char* f : {"config.yaml", "provenance.json", "fl_rounds.h5", "fl.ckpt"}) {
    EXPECT_TRUE(std::filesystem::exists(run->run_dir + "/" + f)) << f;
  }
  EXPECT_FALSE(std::filesystem::exists(run->run_dir + "/results.h5"));
  const std::string yaml = testing::ReadAll(run->run_dir + "/config.yaml");
  EXPECT_NE(yaml.find("kind: 'federated'"), std::string::npos) << yaml;
  EXPECT_NE(yaml.find("clients_per_round: 3"), std::string::npos) << yaml;
  EXPECT_NE(testing::ReadAll(run->run_dir + "/provenance.json").find("\"seed\": 1,"),
            std::string::npos);

  StatusOr<std::vector<RoundMetrics>> rounds = ReadFederatedResults(run->run_dir + "/fl_rounds.h5");
  ASSERT_TRUE(rounds.ok()) << rounds.status();
  ASSERT_EQ(rounds->size(), 3u);
  for (size_t i = 0; i < 3; ++i) {
    EXPECT_EQ((*rounds)[i].test_accuracy, run->rounds[i].test_accuracy);
    EXPECT_EQ((*rounds)[i].mean_train_loss, run->rounds[i].mean_train_loss);
  }
  StatusOr<std::string> hash = ReadFederatedStateHash(run->run_dir + "/fl_rounds.h5");
  ASSERT_TRUE(hash.ok()) << hash.status();
  EXPECT_EQ(*hash, run->final_state_hash);
  EXPECT_FALSE(hash->empty());
}

TEST(FederatedConfigTest, WorkerCountDoesNotChangeResults) {
  testing::TempDir tmp;
  StatusOr<RunResult> one = RunYaml(Small(tmp.path() + "/a", {"federated.workers=1"}));
  StatusOr<RunResult> two = RunYaml(Small(tmp.path() + "/b", {"federated.workers=2"}));
  ASSERT_TRUE(one.ok()) << one.status();
  ASSERT_TRUE(two.ok()) << two.status();
  StatusOr<std::string> h1 = ReadFederatedStateHash(one->run_dir + "/fl_rounds.h5");
  StatusOr<std::string> h2 = ReadFederatedStateHash(two->run_dir + "/fl_rounds.h5");
  ASSERT_TRUE(h1.ok() && h2.ok());
  EXPECT_EQ(*h1, *h2);
  EXPECT_EQ(one->final_state_hash, two->final_state_hash);
  EXPECT_EQ(one->final_test_accuracy, two->final_test_accuracy);
  ASSERT_EQ(one->rounds.size(), two->rounds.size());
  for (size_t i = 0; i < one->rounds.size(); ++i) {
    EXPECT_EQ(one->rounds[i].mean_train_loss, two->rounds[i].mean_train_loss);
    EXPECT_EQ(one->rounds[i].test_loss, two->rounds[i].test_loss);
  }
  // A different seed takes another trajectory, so the hash is not vacuous.
  RunOptions no_folder;
  no_folder.write_run_dir = false;
  StatusOr<RunResult> other = RunYaml(Small(tmp.path() + "/c", {"experiment.seed=2"}), no_folder);
  ASSERT_TRUE(other.ok()) << other.status();
  EXPECT_NE(other->final_state_hash, one->final_state_hash);
}

TEST(FederatedConfigTest, ResumeContinuesInTheSameFolder) {
  testing::TempDir tmp;
  StatusOr<RunResult> full = RunYaml(Small(tmp.path() + "/full", {"federated.rounds=4"}));
  ASSERT_TRUE(full.ok()) << full.status();
  StatusOr<RunResult> first = RunYaml(Small(tmp.path() + "/part", {"federated.rounds=2"}));
  ASSERT_TRUE(first.ok()) << first.status();
  ASSERT_EQ(first->rounds.size(), 2u);

  RunOptions resume;
  resume.resume_dir = first->run_dir;
  StatusOr<RunResult> rest = RunYaml(Small(tmp.path() + "/unused", {"federated.rounds=4"}), resume);
  ASSERT_TRUE(rest.ok()) << rest.status();
  EXPECT_EQ(rest->run_dir, first->run_dir);
  EXPECT_FALSE(std::filesystem::exists(tmp.path() + "/unused"));
  ASSERT_EQ(rest->rounds.size(), 4u);
  EXPECT_EQ(rest->final_state_hash, full->final_state_hash);
  EXPECT_EQ(rest->rounds[1].mean_train_loss, first->rounds[1].mean_train_loss);

  // Another configuration may not continue this folder, and leaves it as it was.
  const std::string before = testing::ReadAll(first->run_dir + "/config.yaml");
  StatusOr<RunResult> foreign =
      RunYaml(Small(tmp.path() + "/unused", {"federated.rounds=5", "partition.alpha=0.2"}), resume);
  ASSERT_FALSE(foreign.ok());
  EXPECT_EQ(foreign.status().code(), StatusCode::kFailedPrecondition) << foreign.status();
  EXPECT_NE(foreign.status().message().find("differs from this config in partition"),
            std::string::npos)
      << foreign.status();
  EXPECT_EQ(testing::ReadAll(first->run_dir + "/config.yaml"), before);

  resume.resume_dir = tmp.path() + "/nothing-here";
  StatusOr<RunResult> missing = RunYaml(Small(tmp.path() + "/unused"), resume);
  EXPECT_EQ(missing.status().code(), StatusCode::kNotFound) << missing.status();
}

TEST(FederatedConfigTest, SectionsFollowTheKind) {
  StatusOr<ExperimentConfig> c = LoadExperimentConfig(SyntheticConfig());
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->kind(), "federated");
  EXPECT_EQ(c->section("partition").component, "dirichlet");
  EXPECT_EQ(c->Double("partition", "alpha"), 1.0);
  EXPECT_EQ(c->section("aggregator").component, "fedavg");
  EXPECT_FALSE(c->Has("train"));
  // Round-trips through the resolved YAML.
  StatusOr<ExperimentConfig> again = ParseExperimentConfig(c->ToYaml());
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_TRUE(*again == *c);

  // A missing federated section is filled with defaults except where required.
  StatusOr<ExperimentConfig> bare = ParseExperimentConfig(
      "experiment: {name: x, kind: federated}\n"
      "dataset: {name: synthetic}\nmodel: {name: mlp}\noptimizer: {name: sgd, lr: 0.1}\n"
      "partition: {name: shards, num_clients: 10}\naggregator: {name: fedavg}\n");
  ASSERT_TRUE(bare.ok()) << bare.status();
  EXPECT_EQ(bare->Int("federated", "clients_per_round"), 10);
  EXPECT_EQ(bare->Int("partition", "shards_per_client"), 2);

  StatusOr<ExperimentConfig> no_partition = ParseExperimentConfig(
      "experiment: {name: x, kind: federated}\n"
      "dataset: {name: synthetic}\nmodel: {name: mlp}\noptimizer: {name: sgd, lr: 0.1}\n"
      "aggregator: {name: fedavg}\n");
  ASSERT_FALSE(no_partition.ok());
  EXPECT_NE(no_partition.status().message().find("partition.name: missing required key"),
            std::string::npos)
      << no_partition.status();

  StatusOr<ExperimentConfig> unknown_agg = ParseExperimentConfig(
      "experiment: {name: x, kind: federated}\n"
      "dataset: {name: synthetic}\nmodel: {name: mlp}\noptimizer: {name: sgd, lr: 0.1}\n"
      "partition: {name: iid, num_clients: 4}\naggregator: {name: fedavgg}\n");
  ASSERT_FALSE(unknown_agg.ok());
  EXPECT_NE(unknown_agg.status().message().find("did you mean 'fedavg'"), std::string::npos)
      << unknown_agg.status();

  const std::string md = ConfigReferenceMarkdown();
  for (const char* s : {"## `federated`", "### partition `dirichlet`", "### aggregator `fedavg`",
                        "`partition.num_clients`", "`federated.clients_per_round`"}) {
    EXPECT_NE(md.find(s), std::string::npos) << s;
  }
}

}  // namespace
}  // namespace confml::experiments
