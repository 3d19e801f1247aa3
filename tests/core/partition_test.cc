// Tests of confml/core/partition.h: coverage, balance and label skew of the
// IID, Dirichlet and shard partitioners, and their seeded determinism.
#include "confml/core/partition.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <numeric>
#include <vector>

namespace confml {
namespace {

// `per_class` samples of each of `classes` classes, interleaved as in a
// shuffled dataset file.
std::vector<int64_t> BalancedLabels(int64_t classes, int64_t per_class) {
  std::vector<int64_t> labels(classes * per_class);
  for (size_t i = 0; i < labels.size(); ++i) labels[i] = static_cast<int64_t>(i) % classes;
  return labels;
}

// Every index in [0, n) appears at most once; returns how many appear.
int64_t CheckDisjoint(const Partition& p, int64_t n) {
  std::vector<int> seen(n, 0);
  int64_t used = 0;
  for (const auto& client : p) {
    for (int64_t i : client) {
      EXPECT_GE(i, 0);
      EXPECT_LT(i, n);
      if (i < 0 || i >= n) continue;
      EXPECT_EQ(seen[i], 0) << "index " << i << " given twice";
      ++seen[i];
      ++used;
    }
  }
  return used;
}

// Mean over clients of the share of the client's most frequent class.
double MeanMaxClassFraction(const Partition& p, const std::vector<int64_t>& labels,
                            int64_t classes) {
  double total = 0;
  int counted = 0;
  for (const auto& counts : PartitionLabelCounts(p, labels, classes)) {
    const int64_t size = std::accumulate(counts.begin(), counts.end(), int64_t{0});
    if (size == 0) continue;
    total += static_cast<double>(*std::max_element(counts.begin(), counts.end())) / size;
    ++counted;
  }
  return total / counted;
}

TEST(PartitionIidTest, UsesEverySampleOnceWithBalancedSizes) {
  const std::vector<int64_t> labels = BalancedLabels(10, 103);  // 1030 samples
  StatusOr<Partition> p = PartitionIid(labels, 7, Seed(1));
  ASSERT_TRUE(p.ok()) << p.status();
  ASSERT_EQ(p->size(), 7u);
  EXPECT_EQ(CheckDisjoint(*p, 1030), 1030);
  size_t lo = 1030, hi = 0;
  for (const auto& c : *p) {
    lo = std::min(lo, c.size());
    hi = std::max(hi, c.size());
    EXPECT_TRUE(std::is_sorted(c.begin(), c.end()));
  }
  EXPECT_LE(hi - lo, 1u);
  EXPECT_EQ(lo, 1030u / 7);
  // IID: every client's class mix is close to uniform (147 samples, 10
  // classes: the most frequent class stays well below a third).
  EXPECT_LT(MeanMaxClassFraction(*p, labels, 10), 0.2);
}

TEST(PartitionIidTest, SeededDeterminism) {
  const std::vector<int64_t> labels = BalancedLabels(4, 50);
  StatusOr<Partition> a = PartitionIid(labels, 5, Seed(9));
  StatusOr<Partition> b = PartitionIid(labels, 5, Seed(9));
  StatusOr<Partition> c = PartitionIid(labels, 5, Seed(10));
  ASSERT_TRUE(a.ok() && b.ok() && c.ok());
  EXPECT_EQ(*a, *b);
  EXPECT_NE(*a, *c);
}

TEST(PartitionIidTest, InvalidArguments) {
  const std::vector<int64_t> labels = BalancedLabels(2, 5);
  EXPECT_EQ(PartitionIid(labels, 0, Seed(1)).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(PartitionIid(labels, -3, Seed(1)).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(PartitionIid(labels, 11, Seed(1)).status().code(), StatusCode::kInvalidArgument);
  StatusOr<Partition> one_each = PartitionIid(labels, 10, Seed(1));
  ASSERT_TRUE(one_each.ok());
  for (const auto& c : *one_each) EXPECT_EQ(c.size(), 1u);
}

TEST(PartitionDirichletTest, UsesEverySampleOnce) {
  const std::vector<int64_t> labels = BalancedLabels(10, 200);
  StatusOr<Partition> p = PartitionDirichlet(labels, 10, 20, 0.5, Seed(3));
  ASSERT_TRUE(p.ok()) << p.status();
  ASSERT_EQ(p->size(), 20u);
  EXPECT_EQ(CheckDisjoint(*p, 2000), 2000);
  for (const auto& c : *p) EXPECT_GE(c.size(), 1u);
}

TEST(PartitionDirichletTest, LargeAlphaIsNearUniformSmallAlphaConcentrated) {
  const std::vector<int64_t> labels = BalancedLabels(10, 600);  // 6000 samples
  StatusOr<Partition> flat = PartitionDirichlet(labels, 10, 10, 1000.0, Seed(5));
  StatusOr<Partition> skew = PartitionDirichlet(labels, 10, 10, 0.05, Seed(5));
  ASSERT_TRUE(flat.ok()) << flat.status();
  ASSERT_TRUE(skew.ok()) << skew.status();
  const double flat_max = MeanMaxClassFraction(*flat, labels, 10);
  const double skew_max = MeanMaxClassFraction(*skew, labels, 10);
  // Uniform mixes have max fraction ~0.1 (0.103..0.106 over 200 seeds);
  // Dirichlet(0.05) puts most of a client's data in one class (0.54..0.83
  // over 200 seeds).
  EXPECT_LT(flat_max, 0.12);
  EXPECT_GT(skew_max, 0.45);

  // With alpha 1000 every client gets about 60 samples of every class.
  for (const auto& counts : PartitionLabelCounts(*flat, labels, 10)) {
    for (int64_t n : counts) {
      EXPECT_GT(n, 40);
      EXPECT_LT(n, 80);
    }
  }
}

TEST(PartitionDirichletTest, MinPerClientIsHonoured) {
  const std::vector<int64_t> labels = BalancedLabels(10, 100);
  StatusOr<Partition> p = PartitionDirichlet(labels, 10, 20, 0.3, Seed(8), 10);
  ASSERT_TRUE(p.ok()) << p.status();
  for (const auto& c : *p) EXPECT_GE(c.size(), 10u);
  EXPECT_EQ(CheckDisjoint(*p, 1000), 1000);
  // 20 clients x 60 > 1000 samples: impossible.
  EXPECT_EQ(PartitionDirichlet(labels, 10, 20, 0.3, Seed(8), 60).status().code(),
            StatusCode::kFailedPrecondition);
  // Possible in principle, but no Dirichlet(0.001) draw gives all 100 clients 9 samples.
  EXPECT_EQ(PartitionDirichlet(labels, 10, 100, 0.001, Seed(8), 9).status().code(),
            StatusCode::kFailedPrecondition);
}

TEST(PartitionDirichletTest, SeededDeterminism) {
  const std::vector<int64_t> labels = BalancedLabels(5, 100);
  StatusOr<Partition> a = PartitionDirichlet(labels, 5, 8, 0.5, Seed(21));
  StatusOr<Partition> b = PartitionDirichlet(labels, 5, 8, 0.5, Seed(21));
  StatusOr<Partition> c = PartitionDirichlet(labels, 5, 8, 0.5, Seed(22));
  ASSERT_TRUE(a.ok() && b.ok() && c.ok());
  EXPECT_EQ(*a, *b);
  EXPECT_NE(*a, *c);
}

TEST(PartitionDirichletTest, InvalidArguments) {
  const std::vector<int64_t> labels = BalancedLabels(3, 10);
  auto code = [&](int64_t classes, int64_t clients, double alpha, int64_t min_per_client) {
    return PartitionDirichlet(labels, classes, clients, alpha, Seed(1), min_per_client)
        .status()
        .code();
  };
  EXPECT_EQ(code(3, 0, 1.0, 1), StatusCode::kInvalidArgument);
  EXPECT_EQ(code(3, 31, 1.0, 1), StatusCode::kInvalidArgument);
  EXPECT_EQ(code(3, 3, 0.0, 1), StatusCode::kInvalidArgument);
  EXPECT_EQ(code(3, 3, -1.0, 1), StatusCode::kInvalidArgument);
  EXPECT_EQ(code(3, 3, 1.0, -1), StatusCode::kInvalidArgument);
  EXPECT_EQ(code(2, 3, 1.0, 1), StatusCode::kInvalidArgument);  // Label 2 out of range.
  EXPECT_EQ(code(0, 3, 1.0, 1), StatusCode::kInvalidArgument);
  EXPECT_EQ(code(3, 3, 1.0, 1), StatusCode::kOk);
}

TEST(PartitionShardsTest, EachClientSeesAtMostItsShardCountOfClasses) {
  // McMahan et al.'s pathological non-IID split at 1/10 scale: 10 classes of
  // 600, 100 clients x 2 shards of 30.
  const std::vector<int64_t> labels = BalancedLabels(10, 600);
  StatusOr<Partition> p = PartitionShards(labels, 100, 2, Seed(4));
  ASSERT_TRUE(p.ok()) << p.status();
  ASSERT_EQ(p->size(), 100u);
  EXPECT_EQ(CheckDisjoint(*p, 6000), 6000);
  int two_class_clients = 0;
  for (const auto& counts : PartitionLabelCounts(*p, labels, 10)) {
    const int64_t classes =
        std::count_if(counts.begin(), counts.end(), [](int64_t n) { return n > 0; });
    EXPECT_GE(classes, 1);
    EXPECT_LE(classes, 2);
    two_class_clients += classes == 2;
    // Whole shards: every class count is a multiple of the shard size.
    for (int64_t n : counts) EXPECT_EQ(n % 30, 0);
  }
  EXPECT_GT(two_class_clients, 50);  // Random shard pairs usually differ.
  for (const auto& c : *p) EXPECT_EQ(c.size(), 60u);
}

TEST(PartitionShardsTest, UnevenSizesStillUseEverySample) {
  const std::vector<int64_t> labels = BalancedLabels(3, 35);  // 105 samples, 8 shards
  StatusOr<Partition> p = PartitionShards(labels, 4, 2, Seed(2));
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_EQ(CheckDisjoint(*p, 105), 105);
  for (const auto& c : *p) {
    EXPECT_GE(c.size(), 26u);
    EXPECT_LE(c.size(), 28u);
  }
}

TEST(PartitionShardsTest, SeededDeterminismAndInvalidArguments) {
  const std::vector<int64_t> labels = BalancedLabels(10, 60);
  StatusOr<Partition> a = PartitionShards(labels, 10, 3, Seed(6));
  StatusOr<Partition> b = PartitionShards(labels, 10, 3, Seed(6));
  StatusOr<Partition> c = PartitionShards(labels, 10, 3, Seed(7));
  ASSERT_TRUE(a.ok() && b.ok() && c.ok());
  EXPECT_EQ(*a, *b);
  EXPECT_NE(*a, *c);

  EXPECT_EQ(PartitionShards(labels, 0, 2, Seed(1)).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(PartitionShards(labels, 10, 0, Seed(1)).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(PartitionShards(labels, 601, 1, Seed(1)).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(PartitionShards(labels, 300, 3, Seed(1)).status().code(),
            StatusCode::kInvalidArgument);  // 900 shards > 600 samples.
}

TEST(PartitionLabelCountsTest, CountsPerClientAndClass) {
  const std::vector<int64_t> labels = {0, 1, 1, 2, 2, 2};
  const Partition p = {{0, 3}, {1, 2, 4, 5}, {}};
  const auto counts = PartitionLabelCounts(p, labels, 3);
  ASSERT_EQ(counts.size(), 3u);
  EXPECT_EQ(counts[0], (std::vector<int64_t>{1, 0, 1}));
  EXPECT_EQ(counts[1], (std::vector<int64_t>{0, 2, 2}));
  EXPECT_EQ(counts[2], (std::vector<int64_t>{0, 0, 0}));
}

}  // namespace
}  // namespace confml
