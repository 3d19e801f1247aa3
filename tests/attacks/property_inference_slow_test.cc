// Property inference (Melis et al.) against the number of devices per round:
// 2, 5 and 10 participants out of 2k-1 devices, one victim holding Bag
// images, so about half of the observed rounds have the holder among the
// attacker's co-participants. Prints the AUC for docs/attacks/property_inference.md.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <iostream>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "confml/attacks/attacks.h"
#include "confml/attacks/property_inference.h"
#include "confml/core/attack.h"
#include "confml/core/federated.h"

#include "property_inference_fixture.h"

namespace confml::attacks {
namespace {

class PropertyInferenceDevicesTest : public PropertyInferenceTest,
                                     public ::testing::WithParamInterface<int64_t> {};

TEST_P(PropertyInferenceDevicesTest, AucAgainstDevicesPerRound) {
  const int64_t k = GetParam();
  double sum = 0.0, lo = 1.0, hi = 0.0;
  for (uint64_t seed : {3, 13, 23}) {
    AttackReport r =
        Run(/*clients=*/2 * k - 1, /*per_round=*/k, /*holders=*/1, /*rounds=*/60, false, {}, seed);
    ASSERT_TRUE(r.received_input);
    const double auc = r.metrics["auc"];
    std::cout << "property_inference devices=" << k << " seed=" << seed << ": auc " << auc
              << " accuracy " << r.metrics["accuracy"] << " over " << r.metrics["observed_rounds"]
              << " rounds (" << r.metrics["positive_rounds"] << " positive)\n";
    sum += auc;
    lo = std::min(lo, auc);
    hi = std::max(hi, auc);
  }
  const double mean = sum / 3.0;
  std::cout << "property_inference devices=" << k << ": mean auc " << mean << " [" << lo << ", "
            << hi << "]\n";
  // Mixing the holder's update with more co-participants dilutes the signal;
  // the attack must still beat the blind guess clearly, and reach 0.9 with 2.
  EXPECT_GE(mean, k == 2 ? 0.9 : 0.7);
}

INSTANTIATE_TEST_SUITE_P(Devices, PropertyInferenceDevicesTest, ::testing::Values(2, 5, 10));

}  // namespace
}  // namespace confml::attacks
