// Which configs run as processes, and the rule that decides whether a
// client's data is one device's own (no re-deal after a dropout).
#include <gtest/gtest.h>

#include "net_internal.h"
#include "process_util.h"

namespace confml::net {
namespace {

std::string Shipped(const std::string& name) {
  return std::string(CONFML_SOURCE_DIR) + "/experiments/" + name;
}

// The in-process word flow is not a process config: one line says which
// config is.
TEST(Scenario, WordFlowPointsToItsFederatedConfig) {
  StatusOr<internal::Scenario> s = internal::LoadScenario(Shipped("islet/fl_words.yaml"));
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.status().code(), StatusCode::kInvalidArgument);
  const std::string msg(s.status().message());
  EXPECT_NE(msg.find("experiments/islet/fl_words_federated.yaml"), std::string::npos) << msg;
  EXPECT_EQ(msg.find('\n'), std::string::npos) << msg;
}

TEST(Scenario, OwnedPartitionMeansDeviceOwnedClients) {
  StatusOr<internal::Scenario> words = internal::LoadScenario(testing::FlWordsConfig());
  ASSERT_TRUE(words.ok()) << words.status().ToString();
  EXPECT_TRUE(words->owned_clients);
  StatusOr<internal::Scenario> shared = internal::LoadScenario(Shipped("fl_processes.yaml"));
  ASSERT_TRUE(shared.ok()) << shared.status().ToString();
  EXPECT_FALSE(shared->owned_clients);
  // The same words dealt by another partition are shared data again.
  StatusOr<internal::Scenario> iid =
      internal::LoadScenario(testing::FlWordsConfig(), {"partition.name=iid"});
  ASSERT_TRUE(iid.ok()) << iid.status().ToString();
  EXPECT_FALSE(iid->owned_clients);
}

TEST(Scenario, OtherKindsAreRefusedByName) {
  StatusOr<internal::Scenario> s = internal::LoadScenario(Shipped("islet/a_model_delivery.yaml"));
  ASSERT_FALSE(s.ok());
  EXPECT_NE(std::string(s.status().message()).find("kind 'flow'"), std::string::npos)
      << s.status().ToString();
}

}  // namespace
}  // namespace confml::net
