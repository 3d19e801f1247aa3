// docs/extending.md, checked: an attack and an aggregator added as one .cc
// file each in this folder, selected by one config, run through the same
// runner as `confml run`.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "confml/core/aggregator.h"
#include "confml/core/attack.h"
#include "confml/experiments/config.h"
#include "confml/experiments/runner.h"

namespace confml::examples {
bool FreeRiderRegistered();
bool MedianOfMeansRegistered();
}  // namespace confml::examples

namespace confml {
namespace {

const std::string kConfig = std::string(CONFML_SOURCE_DIR) + "/tests/extending/free_rider.yaml";

experiments::RunResult RunConfig(const std::vector<std::string>& overrides) {
  StatusOr<experiments::ExperimentConfig> config =
      experiments::LoadExperimentConfig(kConfig, overrides);
  EXPECT_TRUE(config.ok()) << config.status();
  experiments::RunOptions options;
  options.write_run_dir = false;
  options.progress = experiments::ProgressMode::kNone;
  StatusOr<experiments::RunResult> r = experiments::RunExperiment(*config, options);
  EXPECT_TRUE(r.ok()) << r.status();
  return r.ok() ? *r : experiments::RunResult{};
}

TEST(Extending, TheFilesRegisterTheirComponents) {
  ASSERT_TRUE(examples::FreeRiderRegistered());
  ASSERT_TRUE(examples::MedianOfMeansRegistered());
  EXPECT_NE(AttackRegistry().Find("free_rider"), nullptr);
  EXPECT_NE(AggregatorRegistry().Find("median_of_means"), nullptr);
}

TEST(Extending, MedianOfMeansKernelMatchesAHandComputation) {
  // Five updates, 2 groups round-robin: {0, 2, 4} and {1, 3}.
  // Group means: (1 + 3 + 100) / 3 = 34.667 and (2 + 4) / 2 = 3 -> median of
  // two = their mean, 18.833; second coordinate all 1 -> 1.
  std::vector<ClientUpdate> u;
  const float first[] = {1, 2, 3, 4, 100};
  for (int i = 0; i < 5; ++i) u.push_back(ClientUpdate{i, 10, {first[i], 1.0f}});
  StatusOr<AggregatorPtr> a = CreateAggregator("median_of_means", {{"groups", int64_t{2}}});
  ASSERT_TRUE(a.ok()) << a.status();
  std::vector<float> out;
  ASSERT_TRUE((*a)->Aggregate(u, AggregationContext{}, &out).ok());
  EXPECT_NEAR(out[0], (104.0 / 3 + 3.0) / 2, 1e-4);
  EXPECT_NEAR(out[1], 1.0, 1e-6);
  // Three groups: means 1+4=2.5, 2+100=51, 3 -> median 3: the outlier's group is outvoted.
  a = CreateAggregator("median_of_means", {{"groups", int64_t{3}}});
  ASSERT_TRUE(a.ok());
  ASSERT_TRUE((*a)->Aggregate(u, AggregationContext{}, &out).ok());
  EXPECT_NEAR(out[0], 3.0, 1e-6);
  // More groups than updates is an error naming the rule.
  a = CreateAggregator("median_of_means", {{"groups", int64_t{6}}});
  ASSERT_TRUE(a.ok());
  Status s = (*a)->Aggregate(u, AggregationContext{}, &out);
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("median_of_means"), std::string::npos);
}

TEST(Extending, OneConfigRunsBothThroughTheRunner) {
  experiments::RunResult r = RunConfig({});
  ASSERT_EQ(r.rounds.size(), 3u);
  // 2 of 8 devices carry the attack; each sampled round they send zeros.
  EXPECT_GT(r.outcome["attack.free_rides"], 0.0);
  EXPECT_EQ(r.outcome["attack.received_input"], 1.0);
  EXPECT_GT(r.final_test_accuracy, 0.4);  // 3 classes: the federation still learns

  // Each part really acts: one group (the plain mean) or disguised free
  // riders give another model.
  experiments::RunResult mean = RunConfig({"aggregator.groups=1"});
  experiments::RunResult disguised = RunConfig({"attack.noise_std=0.5"});
  EXPECT_NE(r.final_state_hash, mean.final_state_hash);
  EXPECT_NE(r.final_state_hash, disguised.final_state_hash);
  EXPECT_EQ(disguised.outcome["attack.free_rides"], r.outcome["attack.free_rides"]);
  // And the run is reproducible.
  EXPECT_EQ(RunConfig({}).final_state_hash, r.final_state_hash);
}

TEST(Extending, ConfigErrorsNameTheNewParameters) {
  StatusOr<experiments::ExperimentConfig> bad =
      experiments::LoadExperimentConfig(kConfig, {"aggregator.groups=0"});
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("aggregator.groups"), std::string::npos) << bad.status();
  bad = experiments::LoadExperimentConfig(kConfig, {"attack.noise_sdt=1"});
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("noise_std"), std::string::npos) << bad.status();
}

}  // namespace
}  // namespace confml
