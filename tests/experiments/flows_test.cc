// Tests of experiments/flows.h: the Islet example's flows (scenarios a-g of
// the roles issue) and the outcome each must show, from mechanism.
#include "confml/experiments/flows.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "confml/experiments/config.h"
#include "confml/experiments/runner.h"
#include "run_util.h"
#include "test_util.h"

namespace confml::experiments {
namespace {

FlowOptions Small(const std::string& scenario, const std::string& backend, AttestationMode mode) {
  FlowOptions o;
  o.scenario = scenario;
  o.backend = backend;
  o.attestation = mode;
  return o;
}

// Runs experiments/islet/<name>.yaml as `confml run` would (no run folder).
RunResult RunConfig(const std::string& name, const std::vector<std::string>& overrides = {}) {
  return testing::RunShippedConfig("islet/" + name, overrides);
}

std::string Events(const RunResult& r) { return testing::EventsText(r); }

const AdmissionRecord* Decision(const RunResult& r, const std::string& relying,
                                const std::string& attester) {
  for (const AdmissionRecord& a : r.admissions) {
    if (a.relying == relying && a.attester == attester) return &a;
  }
  return nullptr;
}

// a. model delivery, acknowledged, ciphertext only on the wire.
TEST(Flows, ModelDeliveryIsAcknowledged) {
  RunResult r = RunConfig("a_model_delivery");
  EXPECT_EQ(r.outcome["model_delivered"], 1.0) << Events(r);
  EXPECT_EQ(r.outcome["model_identical"], 1.0);
  EXPECT_GT(r.outcome["model_bytes_acked"], 0.0);
  EXPECT_EQ(r.outcome["model_on_wire"], 0.0);
  EXPECT_GT(r.tee_cost.tokens, 0u);
  const AdmissionRecord* a = Decision(r, "model-provider", "runtime");
  ASSERT_NE(a, nullptr);
  EXPECT_TRUE(a->admitted);
}

// b. on-device inference: the model goes only to an admitted device realm,
// whose memory its host cannot read.
TEST(Flows, OnDeviceModelCannotBeReadByTheHostOfASimRealm) {
  RunResult r = RunConfig("b_on_device_inference");
  EXPECT_EQ(r.outcome["model_delivered"], 1.0) << Events(r);
  EXPECT_EQ(r.outcome["model_identical"], 1.0);
  // The Islet pre-training words pair up on their first 3 letters (which and
  // white, there and their), so at most half can be completed.
  EXPECT_EQ(r.outcome["word_accuracy"], 0.5) << Events(r);
  EXPECT_EQ(r.outcome["host_read_ok"], 0.0);
  // The host's own guess agrees with the model only by chance.
  EXPECT_LT(r.outcome["stolen_model_agreement"], 0.5);
}

// c. server-side training on the words the user typed improves the device's
// completions ("abo" -> "about").
TEST(Flows, ServerTrainingImprovesTheDevicesCompletions) {
  RunResult r = RunConfig("c_server_training");
  EXPECT_LT(r.outcome["word_accuracy_before"], r.outcome["word_accuracy_after"]) << Events(r);
  EXPECT_EQ(r.outcome["word_accuracy_after"], 1.0) << Events(r);
  EXPECT_EQ(r.outcome["inputs_sent"], 3.0);
  EXPECT_EQ(r.outcome["inputs_leaked"], 0.0);
  EXPECT_EQ(r.outcome["user_input_on_wire"], 0.0);
  EXPECT_EQ(r.outcome["model_on_wire"], 0.0);
  bool saw_about = false;
  for (const std::string& p : r.events) saw_about |= p == "after: abo -> about";
  EXPECT_TRUE(saw_about) << Events(r);
}

// e. a malicious runtime not in the policy: refused on its RIM, nothing leaks.
TEST(Flows, MaliciousRuntimeOutsideThePolicyIsRefused) {
  RunResult r = RunConfig("e_malicious_runtime_refused");
  EXPECT_EQ(r.outcome["runtime_rim_mismatch"], 1.0) << Events(r);
  EXPECT_EQ(r.outcome["inputs_sent"], 0.0);
  EXPECT_EQ(r.outcome["inputs_leaked"], 0.0);
  const AdmissionRecord* a = Decision(r, "device", "runtime");
  ASSERT_NE(a, nullptr) << Events(r);
  EXPECT_FALSE(a->admitted);
  EXPECT_EQ(a->failed_checks, "rim");
  EXPECT_NE(a->detail.find("RIM"), std::string::npos) << a->detail;
}

// f. the same runtime wrongly listed in the policy: the leak succeeds.
TEST(Flows, MaliciousRuntimeWronglyListedLeaksEveryInput) {
  RunResult r = RunConfig("f_malicious_runtime_listed");
  EXPECT_EQ(r.outcome["inputs_sent"], 3.0) << Events(r);
  EXPECT_EQ(r.outcome["inputs_leaked"], 3.0);
  EXPECT_EQ(r.outcome["leak_fraction"], 1.0);
  EXPECT_EQ(r.outcome["user_input_on_wire"], 0.0);  // the channel still hides it from the host
}

// g. backend none: the host copies the on-device model, and the runtime
// (and the wire) see the user's inputs.
TEST(Flows, WithoutATeeTheModelAndTheDataLeak) {
  RunResult r = RunConfig("g_no_tee_model_leak");
  EXPECT_EQ(r.outcome["host_read_ok"], 1.0) << Events(r);
  EXPECT_EQ(r.outcome["stolen_model_agreement"], 1.0);
  EXPECT_EQ(r.outcome["model_on_wire"], 1.0);

  RunResult s = RunConfig("g_no_tee_data_leak");
  EXPECT_EQ(s.outcome["inputs_leaked"], 3.0) << Events(s);
  EXPECT_EQ(s.outcome["user_input_on_wire"], 1.0);
  EXPECT_EQ(s.tee_cost.tokens, 0u);
}

// The Islet FL word scenario: each device predicts the other's words after
// FedAvg.
TEST(Flows, FederatedWordsEachDevicePredictsTheOthersWords) {
  RunResult r = RunConfig("fl_words");
  EXPECT_EQ(r.outcome["fl_updates_admitted"], 20.0) << Events(r);
  EXPECT_EQ(r.outcome["device1_predicts_device2_accuracy"], 1.0) << Events(r);
  EXPECT_EQ(r.outcome["device2_predicts_device1_accuracy"], 1.0) << Events(r);
}

TEST(Flows, BadOptionsAreInvalidArgument) {
  FlowOptions o = Small("server_trainig", "sim", AttestationMode::kPolicy);
  StatusOr<FlowResult> r = RunFlow(o);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(r.status().message().find("server_training"), std::string::npos);
  o = Small("server_training", "simm", AttestationMode::kPolicy);
  EXPECT_EQ(RunFlow(o).status().code(), StatusCode::kNotFound);
  o = Small("server_training", "sim", AttestationMode::kPolicy);
  o.host_attack = "read_everything";
  EXPECT_EQ(RunFlow(o).status().code(), StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace confml::experiments
