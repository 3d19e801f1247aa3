// Tests of Dataset::owner (dataset.h) and PartitionOwned (partition.h): the
// samples' owners survive subsetting, are validated, and decide partition
// `owned`.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "confml/core/dataset.h"
#include "confml/core/partition.h"

namespace confml {
namespace {

// Nine 1-feature samples; owners 0 0 0 1 1 2 2 2 2, labels alternate.
Dataset Owned() {
  Dataset d;
  d.name = "owned";
  d.sample_shape = {1};
  d.num_classes = 2;
  for (int i = 0; i < 9; ++i) {
    d.features.push_back(static_cast<float>(i));
    d.labels.push_back(i % 2);
  }
  d.owner = {0, 0, 0, 1, 1, 2, 2, 2, 2};
  return d;
}

TEST(DatasetOwnerTest, SubsetsKeepEachSamplesOwner) {
  const Dataset d = Owned();
  ASSERT_TRUE(d.Validate().ok()) << d.Validate();
  const Dataset sub = d.Subset({8, 0, 4});
  EXPECT_EQ(sub.owner, (std::vector<int32_t>{2, 0, 1}));
  EXPECT_EQ(sub.features, (std::vector<float>{8, 0, 4}));
  // train_limit's stratified cut goes through Subset: owners follow.
  const Dataset cut = StratifiedSubset(d, 4, Seed(1));
  ASSERT_EQ(cut.owner.size(), 4u);
  for (int64_t i = 0; i < cut.size(); ++i) {
    const auto src = static_cast<size_t>(cut.features[static_cast<size_t>(i)]);
    EXPECT_EQ(cut.owner[static_cast<size_t>(i)], d.owner[src]) << "sample " << i;
  }
  // No owners in, none out.
  Dataset plain = d;
  plain.owner.clear();
  EXPECT_TRUE(plain.Subset({1, 2}).owner.empty());
}

TEST(DatasetOwnerTest, ValidateRefusesOwnersThatDoNotMatchTheSamples) {
  Dataset d = Owned();
  d.owner.pop_back();
  Status s = d.Validate();
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("8 owners for 9 samples"), std::string::npos) << s;
  d.owner.push_back(-1);
  s = d.Validate();
  EXPECT_NE(s.message().find("owner -1 of sample 8 is negative"), std::string::npos) << s;
}

TEST(PartitionOwnedTest, ClientIHoldsExactlyTheSamplesDeviceIOwns) {
  StatusOr<Partition> p = PartitionOwned(Owned().owner, 3);
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_EQ(*p, (Partition{{0, 1, 2}, {3, 4}, {5, 6, 7, 8}}));
  // Interleaved owners: still ascending per client.
  p = PartitionOwned({1, 0, 1, 0}, 2);
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_EQ(*p, (Partition{{1, 3}, {0, 2}}));
}

TEST(PartitionOwnedTest, ErrorsNameWhatIsWrong) {
  auto message = [](const std::vector<int32_t>& owner, int64_t clients) {
    StatusOr<Partition> p = PartitionOwned(owner, clients);
    EXPECT_FALSE(p.ok());
    EXPECT_EQ(p.status().code(), StatusCode::kInvalidArgument);
    return std::string(p.status().message());
  };
  EXPECT_NE(message({}, 2).find(
                "partition owned needs a dataset whose samples have owners, e.g. device_words"),
            std::string::npos);
  EXPECT_NE(message(Owned().owner, 2).find("num_clients is 2 but the samples have 3 owners"),
            std::string::npos);
  EXPECT_NE(message(Owned().owner, 4).find("client 3 owns no sample"), std::string::npos);
  EXPECT_NE(message({0, 2}, 3).find("client 1 owns no sample"), std::string::npos);
  EXPECT_NE(message({0, -1}, 2).find("negative owner -1"), std::string::npos);
  EXPECT_NE(message({0}, 0).find("num_clients must be >= 1"), std::string::npos);
}

}  // namespace
}  // namespace confml
