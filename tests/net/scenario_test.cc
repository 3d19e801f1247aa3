// Which configs run as processes, the rule that decides whether a client's
// data is one device's own (no re-deal after a dropout), and the device's
// check that it is handed only its own clients then.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "confml/core/fl_hooks.h"
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

// What a device checks of the tasks the runtime hands it: with owned data
// only its own clients (id % devices == index), whatever the round.
TEST(Scenario, AnOwnedDeviceRefusesAnotherDevicesClient) {
  const std::vector<ClientContext> own = {{.round = 2, .client_id = 1, .slot = 0},
                                          {.round = 2, .client_id = 4, .slot = 1}};
  EXPECT_TRUE(internal::CheckOwnClients(true, 1, 3, own).ok());
  EXPECT_TRUE(internal::CheckOwnClients(true, 1, 3, {}).ok());

  std::vector<ClientContext> dealt = own;
  dealt.push_back({.round = 2, .client_id = 5, .slot = 2});
  const Status s = internal::CheckOwnClients(true, 1, 3, dealt);
  EXPECT_EQ(s.code(), StatusCode::kFailedPrecondition);
  const std::string msg(s.message());
  EXPECT_NE(msg.find("device index 1 of 3 was handed client 5"), std::string::npos) << msg;
  EXPECT_NE(msg.find("partition 'owned'"), std::string::npos) << msg;
  // Device 0 of a pair owns client 0 only: client 1 is refused.
  EXPECT_EQ(internal::CheckOwnClients(true, 0, 2, {{.round = 1, .client_id = 1, .slot = 0}}).code(),
            StatusCode::kFailedPrecondition);
  // Shared data: any device trains any client.
  EXPECT_TRUE(internal::CheckOwnClients(false, 1, 3, dealt).ok());
}

TEST(Scenario, OtherKindsAreRefusedByName) {
  StatusOr<internal::Scenario> s = internal::LoadScenario(Shipped("islet/a_model_delivery.yaml"));
  ASSERT_FALSE(s.ok());
  EXPECT_NE(std::string(s.status().message()).find("kind 'flow'"), std::string::npos)
      << s.status().ToString();
}

}  // namespace
}  // namespace confml::net
