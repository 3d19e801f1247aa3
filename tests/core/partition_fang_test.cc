// Tests of PartitionFang (confml/core/partition.h) against the definition in
// Fang et al. 2020, Section 5.1: groups of clients per class, a sample of
// label l in group l with probability q, otherwise in another group
// uniformly, and a uniformly random client inside the group.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <vector>

#include "confml/core/partition.h"

namespace confml {
namespace {

constexpr int64_t kClasses = 10;

std::vector<int64_t> Labels(int64_t per_class) {
  std::vector<int64_t> labels(kClasses * per_class);
  for (size_t i = 0; i < labels.size(); ++i) labels[i] = static_cast<int64_t>(i) % kClasses;
  return labels;
}

// counts[g][l]: samples of label l held by group g's clients.
std::vector<std::vector<int64_t>> GroupCounts(const Partition& p, const std::vector<int64_t>& labels,
                                              int64_t group_size) {
  std::vector<std::vector<int64_t>> counts(kClasses, std::vector<int64_t>(kClasses, 0));
  for (size_t c = 0; c < p.size(); ++c) {
    for (int64_t i : p[c]) ++counts[c / group_size][labels[i]];
  }
  return counts;
}

TEST(PartitionFangTest, UsesEverySampleOnceInAscendingOrder) {
  const std::vector<int64_t> labels = Labels(300);
  StatusOr<Partition> p = PartitionFang(labels, kClasses, 100, 0.5, Seed(3));
  ASSERT_TRUE(p.ok()) << p.status().message();
  ASSERT_EQ(p->size(), 100u);
  std::vector<int> seen(labels.size(), 0);
  for (const auto& client : *p) {
    for (size_t k = 0; k < client.size(); ++k) {
      ASSERT_GE(client[k], 0);
      ASSERT_LT(client[k], static_cast<int64_t>(labels.size()));
      ++seen[client[k]];
      if (k > 0) {
        EXPECT_LT(client[k - 1], client[k]);
      }
    }
  }
  for (size_t i = 0; i < seen.size(); ++i) EXPECT_EQ(seen[i], 1) << "sample " << i;
}

TEST(PartitionFangTest, GroupLabelSharesFollowQ) {
  const std::vector<int64_t> labels = Labels(6000);  // Fashion-MNIST's size.
  for (double q : {0.5, 0.8}) {
    StatusOr<Partition> p = PartitionFang(labels, kClasses, 100, q, Seed(11));
    ASSERT_TRUE(p.ok()) << p.status().message();
    const auto counts = GroupCounts(*p, labels, 10);
    const double other = (1.0 - q) / (kClasses - 1);
    int64_t home = 0;
    for (int64_t l = 0; l < kClasses; ++l) {
      home += counts[l][l];
      // The share of label l's samples that land in group g: q at home,
      // (1-q)/(C-1) elsewhere. 6,000 draws: standard error <= 0.0065.
      for (int64_t g = 0; g < kClasses; ++g) {
        const double share = static_cast<double>(counts[g][l]) / 6000.0;
        EXPECT_NEAR(share, g == l ? q : other, 0.03) << "q " << q << " label " << l << " group " << g;
      }
    }
    EXPECT_NEAR(static_cast<double>(home) / static_cast<double>(labels.size()), q, 0.01);
  }
}

TEST(PartitionFangTest, QOfOneOverClassesIsIidAndClientsInAGroupAreBalanced) {
  const std::vector<int64_t> labels = Labels(6000);
  StatusOr<Partition> p = PartitionFang(labels, kClasses, 100, 0.1, Seed(5));
  ASSERT_TRUE(p.ok()) << p.status().message();
  const auto counts = GroupCounts(*p, labels, 10);
  for (int64_t g = 0; g < kClasses; ++g) {
    for (int64_t l = 0; l < kClasses; ++l) {
      EXPECT_NEAR(static_cast<double>(counts[g][l]) / 6000.0, 0.1, 0.03);
    }
  }
  // Every client draws 1/100 of the data in expectation (600 samples,
  // binomial standard deviation about 24).
  for (size_t c = 0; c < p->size(); ++c) {
    EXPECT_NEAR(static_cast<double>((*p)[c].size()), 600.0, 120.0) << "client " << c;
  }
}

TEST(PartitionFangTest, QOfOneKeepsEveryLabelInItsGroup) {
  const std::vector<int64_t> labels = Labels(50);
  StatusOr<Partition> p = PartitionFang(labels, kClasses, 20, 1.0, Seed(2));
  ASSERT_TRUE(p.ok()) << p.status().message();
  for (size_t c = 0; c < p->size(); ++c) {
    for (int64_t i : (*p)[c]) EXPECT_EQ(labels[i], static_cast<int64_t>(c / 2)) << "client " << c;
  }
}

TEST(PartitionFangTest, SeededDeterminism) {
  const std::vector<int64_t> labels = Labels(200);
  StatusOr<Partition> a = PartitionFang(labels, kClasses, 50, 0.5, Seed(7));
  StatusOr<Partition> b = PartitionFang(labels, kClasses, 50, 0.5, Seed(7));
  StatusOr<Partition> c = PartitionFang(labels, kClasses, 50, 0.5, Seed(8));
  ASSERT_TRUE(a.ok() && b.ok() && c.ok());
  EXPECT_EQ(*a, *b);
  EXPECT_NE(*a, *c);
}

TEST(PartitionFangTest, InvalidArguments) {
  const std::vector<int64_t> labels = Labels(100);
  for (double q : {0.0, -0.1, 1.5, std::numeric_limits<double>::quiet_NaN()}) {
    StatusOr<Partition> p = PartitionFang(labels, kClasses, 100, q, Seed(1));
    ASSERT_FALSE(p.ok()) << "q " << q;
    EXPECT_EQ(p.status().code(), StatusCode::kInvalidArgument);
    EXPECT_NE(p.status().message().find("q must be in (0, 1]"), std::string::npos);
  }
  StatusOr<Partition> uneven = PartitionFang(labels, kClasses, 15, 0.5, Seed(1));
  ASSERT_FALSE(uneven.ok());
  EXPECT_EQ(uneven.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(uneven.status().message().find("multiple of the number of classes"),
            std::string::npos)
      << uneven.status().message();
  std::vector<int64_t> bad = labels;
  bad[17] = kClasses;
  StatusOr<Partition> out_of_range = PartitionFang(bad, kClasses, 10, 0.5, Seed(1));
  ASSERT_FALSE(out_of_range.ok());
  EXPECT_NE(out_of_range.status().message().find("sample 17"), std::string::npos);
  EXPECT_FALSE(PartitionFang(labels, 1, 10, 0.5, Seed(1)).ok());
  EXPECT_FALSE(PartitionFang(labels, kClasses, 0, 0.5, Seed(1)).ok());
}

}  // namespace
}  // namespace confml
