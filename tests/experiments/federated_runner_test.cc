// Tests of experiments/src/federated_runner.h: a federated experiment from
// plain values, its per-round HDF5 file and its checkpoint.
#include "../../experiments/src/federated_runner.h"

#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <string>

#include "../common/temp_dir.h"

namespace confml::experiments {
namespace {

FederatedRunSpec SmallSpec(const std::string& dir) {
  FederatedRunSpec s;
  s.name = "fl-synthetic";
  s.seed = 5;
  s.dataset = "synthetic";
  s.dataset_params = {
      {"num_samples", int64_t{300}}, {"num_features", int64_t{8}}, {"num_classes", int64_t{3}}};
  s.model = "mlp";
  s.model_params = {{"hidden", std::vector<int64_t>{16}}};
  s.partition = "dirichlet";
  s.num_clients = 6;
  s.alpha = 1.0;
  s.options.rounds = 3;
  s.options.clients_per_round = 3;
  s.options.local_batch_size = 16;
  s.options.optimizer.lr = 0.05;
  s.options.workers = 2;
  s.run_dir = dir;
  return s;
}

TEST(FederatedRunnerTest, WritesRoundsAndResumes) {
  const confml::testing::TempDir dir;
  const FederatedRunSpec spec = SmallSpec(dir.File("run"));
  int callbacks = 0;
  StatusOr<FederatedRunOutput> out =
      RunFederatedExperiment(spec, {}, [&](const RoundMetrics&) { ++callbacks; });
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_EQ(callbacks, 3);
  EXPECT_EQ(out->results_path, spec.run_dir + "/fl_rounds.h5");
  EXPECT_TRUE(std::filesystem::exists(spec.run_dir + "/fl.ckpt"));
  StatusOr<std::vector<RoundMetrics>> rounds = ReadFederatedResults(out->results_path);
  ASSERT_TRUE(rounds.ok()) << rounds.status();
  ASSERT_EQ(rounds->size(), 3u);
  for (size_t i = 0; i < 3; ++i) {
    EXPECT_EQ((*rounds)[i].round, static_cast<int64_t>(i + 1));
    EXPECT_EQ((*rounds)[i].clients_sampled, 3);
    EXPECT_EQ((*rounds)[i].bytes_up, out->result.rounds[i].bytes_up);
    EXPECT_EQ((*rounds)[i].test_accuracy, out->result.rounds[i].test_accuracy);
  }
  // Running again resumes from the final checkpoint: nothing left to do.
  StatusOr<FederatedRunOutput> again = RunFederatedExperiment(spec);
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(again->result.resumed_from_round, 3);
  EXPECT_EQ(again->result.final_state_hash, out->result.final_state_hash);

  FederatedRunSpec bad = spec;
  bad.partition = "dirichet";
  EXPECT_EQ(RunFederatedExperiment(bad).status().code(), StatusCode::kInvalidArgument);
  bad = spec;
  bad.aggregator = "krum_not_yet";
  EXPECT_EQ(RunFederatedExperiment(bad).status().code(), StatusCode::kNotFound);
  EXPECT_EQ(ReadFederatedResults(dir.File("none.h5")).status().code(), StatusCode::kNotFound);
}

}  // namespace
}  // namespace confml::experiments
