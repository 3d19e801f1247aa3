// Tests of confml/core/aggregator.h: FedAvg and the aggregator registry.
#include "confml/core/aggregator.h"

#include <gtest/gtest.h>

#include <cmath>
#include <memory>
#include <string>
#include <vector>

namespace confml {
namespace {

ClientUpdate Update(int64_t id, int64_t n, std::vector<float> v) {
  ClientUpdate u;
  u.client_id = id;
  u.num_samples = n;
  u.values = std::move(v);
  return u;
}

TEST(AggregateFedAvgTest, WeightsBySampleCount) {
  std::vector<ClientUpdate> ups = {Update(0, 1, {1.0f, -2.0f}), Update(1, 3, {5.0f, 2.0f})};
  std::vector<float> out;
  ASSERT_TRUE(AggregateFedAvg(ups, /*weighted=*/true, &out).ok());
  ASSERT_EQ(out.size(), 2u);
  EXPECT_FLOAT_EQ(out[0], (1.0f * 1 + 5.0f * 3) / 4);   // 4
  EXPECT_FLOAT_EQ(out[1], (-2.0f * 1 + 2.0f * 3) / 4);  // 1
}

TEST(AggregateFedAvgTest, UnweightedIsThePlainMean) {
  std::vector<ClientUpdate> ups = {Update(0, 1, {1.0f}), Update(1, 3, {5.0f}),
                                   Update(2, 0, {0.0f})};
  std::vector<float> out;
  ASSERT_TRUE(AggregateFedAvg(ups, /*weighted=*/false, &out).ok());
  EXPECT_FLOAT_EQ(out[0], 2.0f);
}

TEST(AggregateFedAvgTest, ZeroWeightClientDoesNotCount) {
  std::vector<ClientUpdate> ups = {Update(0, 2, {3.0f}), Update(1, 0, {100.0f})};
  std::vector<float> out;
  ASSERT_TRUE(AggregateFedAvg(ups, true, &out).ok());
  EXPECT_FLOAT_EQ(out[0], 3.0f);
}

TEST(AggregateFedAvgTest, RejectsBadInput) {
  std::vector<float> out;
  EXPECT_EQ(AggregateFedAvg({}, true, &out).code(), StatusCode::kInvalidArgument);
  Status s = AggregateFedAvg({Update(4, 1, {1.0f, 2.0f}), Update(9, 1, {1.0f})}, true, &out);
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("client 9"), std::string::npos) << s;
  EXPECT_EQ(AggregateFedAvg({Update(0, -1, {1.0f})}, true, &out).code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(AggregateFedAvg({Update(0, 0, {1.0f}), Update(1, 0, {2.0f})}, true, &out).code(),
            StatusCode::kInvalidArgument);
}

TEST(AggregateFedAvgTest, AccumulatesInDouble) {
  // 1e8 + 1 - 1e8 loses the 1 in float arithmetic; the mean must keep it.
  std::vector<ClientUpdate> ups = {Update(0, 1, {1e8f}), Update(1, 1, {3.0f}),
                                   Update(2, 1, {-1e8f})};
  std::vector<float> out;
  ASSERT_TRUE(AggregateFedAvg(ups, false, &out).ok());
  EXPECT_FLOAT_EQ(out[0], 1.0f);
}

TEST(AggregateFedAvgTest, NonFiniteValuesPropagate) {
  std::vector<float> out;
  ASSERT_TRUE(AggregateFedAvg({Update(0, 1, {NAN}), Update(1, 1, {1.0f})}, true, &out).ok());
  EXPECT_TRUE(std::isnan(out[0]));
}

TEST(AggregatorRegistryTest, FedAvgIsRegisteredWithItsParameters) {
  const auto* entry = AggregatorRegistry().Find("fedavg");
  ASSERT_NE(entry, nullptr);
  EXPECT_EQ(entry->spec.kind, "aggregator");
  ASSERT_NE(entry->spec.Find("weighted"), nullptr);

  StatusOr<AggregatorPtr> agg = CreateAggregator("fedavg", {{"weighted", false}});
  ASSERT_TRUE(agg.ok()) << agg.status();
  EXPECT_EQ((*agg)->name(), "fedavg");
  EXPECT_EQ((*agg)->config_text(), "fedavg weighted=false");
  std::vector<float> out;
  ASSERT_TRUE((*agg)->Aggregate({Update(0, 1, {0.0f}), Update(1, 9, {4.0f})}, {}, &out).ok());
  EXPECT_FLOAT_EQ(out[0], 2.0f);  // Unweighted as configured.
}

TEST(AggregatorRegistryTest, UnknownNameAndBadParameters) {
  StatusOr<AggregatorPtr> agg = CreateAggregator("fedavgg", {});
  EXPECT_EQ(agg.status().code(), StatusCode::kNotFound);
  EXPECT_NE(agg.status().message().find("did you mean 'fedavg'"), std::string::npos)
      << agg.status();
  agg = CreateAggregator("fedavg", {{"weigthed", true}});
  EXPECT_EQ(agg.status().code(), StatusCode::kInvalidArgument);
}

// A rule added at run time, as the defenses module and Python classes do.
class FirstUpdateAggregator : public Aggregator {
 public:
  std::string name() const override { return "test_first"; }
  Status Aggregate(const std::vector<ClientUpdate>& updates, const AggregationContext&,
                   std::vector<float>* out) override {
    CONFML_RETURN_IF_ERROR(ValidateUpdates(updates, nullptr));
    *out = updates[0].values;
    return OkStatus();
  }
};

TEST(AggregatorRegistryTest, AcceptsNewRulesAtRunTime) {
  Status s = AggregatorRegistry().Add(
      ComponentSpec{"aggregator", "test_first", "Takes the first update.", {}},
      [](const ParamSet&) -> StatusOr<AggregatorPtr> {
        return AggregatorPtr(std::make_shared<FirstUpdateAggregator>());
      });
  ASSERT_TRUE(s.ok()) << s;
  StatusOr<AggregatorPtr> agg = CreateAggregator("test_first", {});
  ASSERT_TRUE(agg.ok()) << agg.status();
  std::vector<float> out;
  ASSERT_TRUE((*agg)->Aggregate({Update(3, 1, {7.0f}), Update(5, 1, {1.0f})}, {}, &out).ok());
  EXPECT_EQ(out, std::vector<float>{7.0f});
  // Stateless by default: empty state round-trips, foreign state is refused.
  EXPECT_TRUE((*agg)->SaveState().empty());
  EXPECT_TRUE((*agg)->LoadState({}).ok());
  EXPECT_EQ((*agg)->LoadState({1, 2}).code(), StatusCode::kDataLoss);
  EXPECT_EQ(AggregatorRegistry().Add(ComponentSpec{"aggregator", "fedavg", "", {}}, {}).code(),
            StatusCode::kAlreadyExists);
}

}  // namespace
}  // namespace confml
