// Starting an attack from a trained model: federated.initial_model (an
// earlier run's fl.ckpt or folder), attack.start_round (clean warm-up), and
// the `fang` partitioner in the config language.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "confml/experiments/config.h"
#include "confml/experiments/runner.h"
#include "run_util.h"
#include "test_util.h"

namespace confml::experiments {
namespace {

// A quick federated run on 4-class Gaussian blobs: 8 clients, all per round.
std::vector<std::string> Small(const std::string& out_dir, std::vector<std::string> extra = {}) {
  std::vector<std::string> o = {
      "experiment.output_dir=" + out_dir, "dataset.num_samples=480", "federated.rounds=3",
      "federated.clients_per_round=8",    "federated.workers=1",     "partition.num_clients=8"};
  o.insert(o.end(), extra.begin(), extra.end());
  return o;
}

StatusOr<RunResult> RunYaml(const std::vector<std::string>& overrides) {
  return testing::RunConfigFile(testing::SourceDir() + "/experiments/fedavg_synthetic.yaml",
                                overrides);
}

TEST(InitialModelTest, ContinuesFromAnEarlierRunsModel) {
  testing::TempDir dir;
  StatusOr<RunResult> clean = RunYaml(Small(dir.path(), {"federated.rounds=4"}));
  ASSERT_TRUE(clean.ok()) << clean.status().message();
  // One more round from the trained model beats one round from scratch.
  StatusOr<RunResult> from_trained = RunYaml(
      Small(dir.path(), {"federated.rounds=1", "federated.initial_model=" + clean->run_dir}));
  ASSERT_TRUE(from_trained.ok()) << from_trained.status().message();
  StatusOr<RunResult> from_scratch = RunYaml(Small(dir.path(), {"federated.rounds=1"}));
  ASSERT_TRUE(from_scratch.ok()) << from_scratch.status().message();
  EXPECT_GT(from_trained->final_test_accuracy, from_scratch->final_test_accuracy + 0.05)
      << "trained " << from_trained->final_test_accuracy << " scratch "
      << from_scratch->final_test_accuracy;
  EXPECT_NE(from_trained->final_state_hash, from_scratch->final_state_hash);
  // The checkpoint file itself works as well as its folder.
  StatusOr<RunResult> by_file =
      RunYaml(Small(dir.path(), {"federated.rounds=1",
                                 "federated.initial_model=" + clean->run_dir + "/fl.ckpt"}));
  ASSERT_TRUE(by_file.ok()) << by_file.status().message();
  EXPECT_EQ(by_file->final_state_hash, from_trained->final_state_hash);
}

TEST(InitialModelTest, MissingOrMismatchedFileNamesThePathAndTheProblem) {
  testing::TempDir dir;
  const std::string missing = dir.path() + "/no-such-run";
  StatusOr<RunResult> r = RunYaml(Small(dir.path(), {"federated.initial_model=" + missing}));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kNotFound);
  EXPECT_NE(r.status().message().find(missing), std::string::npos) << r.status().message();

  StatusOr<RunResult> clean = RunYaml(Small(dir.path(), {"federated.rounds=1"}));
  ASSERT_TRUE(clean.ok()) << clean.status().message();
  StatusOr<RunResult> wider = RunYaml(
      Small(dir.path(), {"model.hidden=[32]", "federated.initial_model=" + clean->run_dir}));
  ASSERT_FALSE(wider.ok());
  EXPECT_EQ(wider.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(wider.status().message().find(clean->run_dir + "/fl.ckpt"), std::string::npos)
      << wider.status().message();
  EXPECT_NE(wider.status().message().find("floats"), std::string::npos);

  const std::string junk = dir.path() + "/junk.ckpt";
  std::ofstream(junk) << "not a checkpoint";
  StatusOr<RunResult> bad = RunYaml(Small(dir.path(), {"federated.initial_model=" + junk}));
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().code(), StatusCode::kDataLoss);
  EXPECT_NE(bad.status().message().find(junk), std::string::npos) << bad.status().message();
}

TEST(AttackStartRoundTest, AttackActsOnlyFromItsStartRound) {
  testing::TempDir dir;
  const std::vector<std::string> attack = {"attack.name=sign_flip", "attack.scale=4",
                                           "attack.malicious_fraction=0.5"};
  auto with = [&](std::vector<std::string> extra) {
    std::vector<std::string> o = attack;
    o.insert(o.end(), extra.begin(), extra.end());
    return RunYaml(Small(dir.path(), o));
  };
  StatusOr<RunResult> clean = RunYaml(Small(dir.path()));
  StatusOr<RunResult> never = with({"attack.start_round=4"});  // after the last round
  StatusOr<RunResult> last = with({"attack.start_round=3"});
  StatusOr<RunResult> always = with({});
  ASSERT_TRUE(clean.ok() && never.ok() && last.ok() && always.ok());
  // Not started: bitwise the clean run, and no malicious participation seen.
  EXPECT_EQ(never->final_state_hash, clean->final_state_hash);
  EXPECT_EQ(never->outcome.at("attack.malicious_participations"), 0.0);
  EXPECT_EQ(never->outcome.at("attack.received_input"), 0.0);
  // From round 3: 4 malicious devices take part once each.
  EXPECT_EQ(last->outcome.at("attack.malicious_participations"), 4.0);
  EXPECT_EQ(always->outcome.at("attack.malicious_participations"), 12.0);
  EXPECT_NE(last->final_state_hash, clean->final_state_hash);
  // A start round is part of the attack's declared configuration.
  StatusOr<RunResult> zero = with({"attack.start_round=0"});
  ASSERT_FALSE(zero.ok());
  EXPECT_NE(zero.status().message().find("start_round"), std::string::npos);
}

// The synthetic config with a `fang` partition section (its own file: the
// base's dirichlet keys cannot be overridden away).
std::string FangConfig(const std::string& dir) {
  const std::string path = dir + "/fang.yaml";
  std::ofstream(path) << "experiment: {name: fang, seed: 1, threads: 1, kind: federated}\n"
                         "dataset: {name: synthetic, num_samples: 480, num_features: 20,\n"
                         "          num_classes: 4, separation: 0.5, noise: 1.0}\n"
                         "model: {name: mlp, hidden: [64]}\n"
                         "optimizer: {name: sgd, lr: 0.05, momentum: 0.9}\n"
                         "federated: {rounds: 3, clients_per_round: 8, workers: 1}\n"
                         "partition: {name: fang, num_clients: 8, q: 0.5}\n"
                         "aggregator: {name: fedavg}\n";
  return path;
}

StatusOr<RunResult> RunFang(const std::string& dir, const std::vector<std::string>& overrides) {
  std::vector<std::string> o = {"experiment.output_dir=" + dir};
  o.insert(o.end(), overrides.begin(), overrides.end());
  return testing::RunConfigFile(FangConfig(dir), o);
}

TEST(FangPartitionConfigTest, RunsAndRejectsClientCountsThatAreNotAMultipleOfClasses) {
  testing::TempDir dir;
  StatusOr<RunResult> ok = RunFang(dir.path(), {});
  ASSERT_TRUE(ok.ok()) << ok.status().message();
  EXPECT_GT(ok->final_test_accuracy, 0.25);
  StatusOr<RunResult> bad =
      RunFang(dir.path(), {"partition.num_clients=6", "federated.clients_per_round=6"});
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("multiple of the number of classes"), std::string::npos)
      << bad.status().message();
  StatusOr<RunResult> bad_q = RunFang(dir.path(), {"partition.q=1.5"});
  ASSERT_FALSE(bad_q.ok());
  EXPECT_NE(bad_q.status().message().find("partition.q"), std::string::npos)
      << bad_q.status().message();
}

}  // namespace
}  // namespace confml::experiments
