// Property inference from consecutive global models (Melis et al.) through a
// real FederatedEngine on a small Fashion-MNIST federation: the attacker
// (client 0) and two victims, one holding Bag images (class 8) and one not;
// two participants per round, so whether the attacker's co-participant holds
// the property changes from round to round.
#include "confml/attacks/property_inference.h"

#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <iostream>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "confml/attacks/attacks.h"
#include "confml/core/attack.h"
#include "confml/core/federated.h"

#include "property_inference_fixture.h"

namespace confml::attacks {
namespace {

TEST_F(PropertyInferenceTest, TwoDevicesInferWhenTheBagHolderTakesPart) {
  // 3 devices, 2 per round: the attacker's co-participant is the Bag holder
  // (client 1) or not (client 2).
  AttackReport r = Run(/*clients=*/3, /*per_round=*/2, /*holders=*/1, /*rounds=*/24, false);
  EXPECT_TRUE(r.received_input);
  EXPECT_EQ(r.success_metric, "auc");
  EXPECT_EQ(r.blind_guess, 0.5);
  EXPECT_GE(r.metrics["observed_rounds"], 5);
  EXPECT_GE(r.metrics["positive_rounds"], 1);
  EXPECT_LT(r.metrics["positive_rounds"], r.metrics["observed_rounds"]);
  EXPECT_GT(r.metrics["auc"], 0.85) << r.note;
  EXPECT_GT(r.metrics["accuracy"], 0.7);
  ASSERT_EQ(r.arrays.size(), 3u);
  EXPECT_EQ(r.arrays[1].values.size(), static_cast<size_t>(r.metrics["observed_rounds"]));
  std::cout << "property_inference 2 devices: auc " << r.metrics["auc"] << " accuracy "
            << r.metrics["accuracy"] << " over " << r.metrics["observed_rounds"] << " rounds ("
            << r.metrics["positive_rounds"] << " positive)\n";
}

TEST_F(PropertyInferenceTest, RefusedAttackerGetsNoModelAndReportsTheBlindGuess) {
  AttackReport r = Run(3, 2, 1, 8, /*refuse_attacker=*/true);
  EXPECT_FALSE(r.received_input);
  EXPECT_EQ(r.metrics["auc"], 0.5);
  EXPECT_EQ(r.metrics["observed_rounds"], 0);
  EXPECT_NE(r.note.find("never received"), std::string::npos);
}

TEST_F(PropertyInferenceTest, WithoutAnotherHolderTheAucIsUndefinedAndTheNoteSaysWhy) {
  // No victim holds Bags: every observed round is negative, so an AUC does
  // not exist; the report must say so rather than hand out a bare NaN.
  AttackReport r = Run(3, 2, /*holders=*/0, 8, false);
  ASSERT_TRUE(r.received_input);
  EXPECT_GE(r.metrics["observed_rounds"], 1);
  EXPECT_EQ(r.metrics["positive_rounds"], 0);
  EXPECT_TRUE(std::isnan(r.metrics["auc"]));
  EXPECT_EQ(r.metrics["honest_holders"], 0);
  EXPECT_NE(r.note.find("no device other than the attacker's holds the property"),
            std::string::npos)
      << r.note;
}

TEST_F(PropertyInferenceTest, ReportsHowManyHonestDevicesHoldTheProperty) {
  AttackReport r = Run(5, 3, /*holders=*/3, 6, false);
  ASSERT_TRUE(r.received_input);
  EXPECT_EQ(r.metrics["honest_holders"], 3);  // victims 1, 2 and 3 (ids up to `holders`)
}

TEST_F(PropertyInferenceTest, BadParametersAreRefused) {
  AttackEnv env;
  EXPECT_EQ(CreateAttack("property_inference", {{"features", std::string("middle")}}, env)
                .status()
                .code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(CreateAttack("property_inference", {{"holder_min_fraction", 0.0}}, env).status().code(),
            StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace confml::attacks
