// Slow flow tests: server-side inference of a Fashion-MNIST classifier
// (scenario d) and the data leaks around it.
#include <gtest/gtest.h>

#include "confml/experiments/flows.h"

namespace confml::experiments {
namespace {

FlowOptions Inference(const std::string& backend, AttestationMode mode) {
  FlowOptions o;
  o.scenario = "server_inference";
  o.backend = backend;
  o.attestation = mode;
  o.inference_inputs = 200;
  o.classifier_train_samples = 3000;
  o.classifier_epochs = 2;
  return o;
}

TEST(FlowsSlow, ServerSideInferenceClassifiesTheDevicesImages) {
  StatusOr<FlowResult> r = RunFlow(Inference("sim", AttestationMode::kPolicy));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_GT(r->metrics["inference_accuracy"], 0.7);
  EXPECT_EQ(r->metrics["inputs_sent"], 200.0);
  EXPECT_EQ(r->metrics["inputs_leaked"], 0.0);
  EXPECT_EQ(r->metrics["user_input_on_wire"], 0.0);
}

TEST(FlowsSlow, RuntimeHostReadsInputsOnlyWithoutATee) {
  FlowOptions sim = Inference("sim", AttestationMode::kPolicy);
  sim.host_attack = "read_runtime_inputs";
  StatusOr<FlowResult> a = RunFlow(sim);
  ASSERT_TRUE(a.ok()) << a.status();
  EXPECT_EQ(a->metrics["host_read_ok"], 0.0);
  EXPECT_EQ(a->metrics["inputs_leaked"], 0.0);

  FlowOptions none = Inference("none", AttestationMode::kOff);
  none.host_attack = "read_runtime_inputs";
  StatusOr<FlowResult> b = RunFlow(none);
  ASSERT_TRUE(b.ok()) << b.status();
  EXPECT_EQ(b->metrics["host_read_ok"], 1.0);
  EXPECT_EQ(b->metrics["inputs_leaked"], 200.0);
  EXPECT_EQ(b->metrics["user_input_on_wire"], 1.0);
}

TEST(FlowsSlow, MaliciousInferenceRuntimeRefusedUnlessListed) {
  FlowOptions o = Inference("sim", AttestationMode::kPolicy);
  o.runtime_code = "exfiltrate_inputs";
  StatusOr<FlowResult> refused = RunFlow(o);
  ASSERT_TRUE(refused.ok()) << refused.status();
  EXPECT_EQ(refused->metrics["inputs_leaked"], 0.0);
  EXPECT_EQ(refused->metrics["runtime_rim_mismatch"], 1.0);
  o.trust_deployed_runtime = true;
  StatusOr<FlowResult> listed = RunFlow(o);
  ASSERT_TRUE(listed.ok()) << listed.status();
  EXPECT_EQ(listed->metrics["inputs_leaked"], 200.0);
}

}  // namespace
}  // namespace confml::experiments
