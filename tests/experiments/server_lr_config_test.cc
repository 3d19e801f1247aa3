// federated.server_lr through the config: declared once (config.cc), read
// into FederatedOptions::server_lr by the runner, and refused when not > 0.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "run_util.h"

namespace confml::experiments {
namespace {

using testing::RunConfigFile;

StatusOr<RunResult> RunSmall(const std::vector<std::string>& extra) {
  std::vector<std::string> o = {"dataset.num_samples=300", "federated.rounds=2",
                                "federated.clients_per_round=3", "partition.num_clients=6"};
  o.insert(o.end(), extra.begin(), extra.end());
  return RunConfigFile(testing::SourceDir() + "/experiments/fedavg_synthetic.yaml", o,
                       /*write_run_dir=*/false);
}

TEST(ServerLrConfigTest, ReachesTheEngine) {
  StatusOr<RunResult> plain = RunSmall({});
  StatusOr<RunResult> one = RunSmall({"federated.server_lr=1.0"});
  StatusOr<RunResult> half = RunSmall({"federated.server_lr=0.5"});
  ASSERT_TRUE(plain.ok()) << plain.status();
  ASSERT_TRUE(one.ok()) << one.status();
  ASSERT_TRUE(half.ok()) << half.status();
  EXPECT_EQ(one->final_state_hash, plain->final_state_hash);
  EXPECT_NE(half->final_state_hash, plain->final_state_hash);
}

TEST(ServerLrConfigTest, NonPositiveOrNanIsRefusedNamingTheKey) {
  for (const std::string bad : {"0", "-1", ".nan"}) {
    StatusOr<RunResult> r = RunSmall({"federated.server_lr=" + bad});
    ASSERT_FALSE(r.ok()) << bad;
    EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument) << r.status();
    EXPECT_NE(r.status().message().find("server_lr"), std::string::npos) << r.status();
  }
}

}  // namespace
}  // namespace confml::experiments
