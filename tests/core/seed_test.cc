// Tests of confml/core/seed.h: stream derivation and the distributions of
// our own Rng (moments checked at several standard errors, fixed seeds).
#include "confml/core/seed.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <numeric>
#include <set>
#include <vector>

namespace confml {
namespace {

struct Moments {
  double mean = 0;
  double var = 0;
};
template <typename F>
Moments Sample(int n, F draw) {
  double sum = 0, sq = 0;
  for (int i = 0; i < n; ++i) {
    const double x = draw();
    sum += x;
    sq += x * x;
  }
  Moments m;
  m.mean = sum / n;
  m.var = sq / n - m.mean * m.mean;
  return m;
}

TEST(SeedTest, SameSeedSameStream) {
  Rng a(123), b(123), c(124);
  bool all_equal_c = true;
  for (int i = 0; i < 100; ++i) {
    const uint64_t x = a.NextU64();
    EXPECT_EQ(x, b.NextU64());
    all_equal_c = all_equal_c && x == c.NextU64();
  }
  EXPECT_FALSE(all_equal_c);
}

TEST(SeedTest, ChildStreamsAreDistinctAndStable) {
  const Seed root(42);
  EXPECT_EQ(root.Child("data").value(), Seed(42).Child("data").value());
  EXPECT_NE(root.Child("data").value(), root.Child("model").value());
  EXPECT_NE(root.Child("data").value(), root.value());
  EXPECT_NE(root.Child("data").value(), Seed(43).Child("data").value());
  EXPECT_NE(root.Child("client", 1).value(), root.Child("client", 2).value());
  EXPECT_NE(root.Child("client", 0).value(), root.Child("client").value());
  // Nesting order matters: a/b is not b/a.
  EXPECT_NE(root.Child("a").Child("b").value(), root.Child("b").Child("a").value());

  std::set<uint64_t> seen;
  for (uint64_t round = 0; round < 20; ++round) {
    for (uint64_t client = 0; client < 50; ++client) {
      seen.insert(root.Child("round", round).Child("client", client).value());
    }
  }
  EXPECT_EQ(seen.size(), 1000u);

  Rng x = root.Child("x").MakeRng();
  Rng y = root.Child("y").MakeRng();
  int same = 0;
  for (int i = 0; i < 64; ++i) same += x.NextU64() == y.NextU64();
  EXPECT_EQ(same, 0);
}

TEST(SeedTest, UniformInUnitIntervalWithMeanHalf) {
  Rng rng(1);
  double lo = 1, hi = 0;
  Moments m = Sample(200000, [&] {
    const double u = rng.Uniform();
    lo = std::min(lo, u);
    hi = std::max(hi, u);
    return u;
  });
  EXPECT_GE(lo, 0.0);
  EXPECT_LT(hi, 1.0);
  EXPECT_NEAR(m.mean, 0.5, 0.005);  // se = 0.29 / sqrt(2e5) = 0.00065
  EXPECT_NEAR(m.var, 1.0 / 12.0, 0.002);
}

TEST(SeedTest, UniformIntIsUnbiased) {
  Rng rng(2);
  std::vector<int> counts(7, 0);
  const int n = 70000;
  for (int i = 0; i < n; ++i) {
    const uint64_t k = rng.UniformInt(7);
    ASSERT_LT(k, 7u);
    ++counts[k];
  }
  // Chi-square with 6 degrees of freedom; 22.5 is its 0.999 quantile.
  double chi2 = 0;
  for (int c : counts) chi2 += std::pow(c - n / 7.0, 2) / (n / 7.0);
  EXPECT_LT(chi2, 22.5);
  EXPECT_EQ(rng.UniformInt(1), 0u);
}

TEST(SeedTest, NormalHasZeroMeanUnitVariance) {
  Rng rng(3);
  double tail = 0;
  Moments m = Sample(200000, [&] {
    const double x = rng.Normal();
    tail += std::fabs(x) > 1.96;
    return x;
  });
  EXPECT_NEAR(m.mean, 0.0, 0.01);  // se = 0.0022
  EXPECT_NEAR(m.var, 1.0, 0.015);
  EXPECT_NEAR(tail / 200000, 0.05, 0.003);
}

TEST(SeedTest, GammaMeanAndVarianceEqualShape) {
  for (double shape : {0.05, 0.5, 1.0, 2.5, 10.0}) {
    Rng rng(static_cast<uint64_t>(shape * 1000));
    Moments m = Sample(100000, [&] {
      const double g = rng.Gamma(shape);
      EXPECT_GE(g, 0.0);
      return g;
    });
    // se of the mean is sqrt(shape / n).
    EXPECT_NEAR(m.mean, shape, 6 * std::sqrt(shape / 100000.0) + 1e-3) << "shape " << shape;
    EXPECT_NEAR(m.var, shape, 0.08 * shape + 0.01) << "shape " << shape;
  }
}

TEST(SeedTest, DirichletSumsToOneWithMeanOneOverK) {
  Rng rng(4);
  std::vector<double> mean(5, 0);
  for (int i = 0; i < 20000; ++i) {
    std::vector<double> p = rng.Dirichlet(0.7, 5);
    ASSERT_EQ(p.size(), 5u);
    EXPECT_NEAR(std::accumulate(p.begin(), p.end(), 0.0), 1.0, 1e-9);
    for (int k = 0; k < 5; ++k) mean[k] += p[k] / 20000;
  }
  for (double m : mean) EXPECT_NEAR(m, 0.2, 0.01);
}

TEST(SeedTest, PermutationIsAPermutation) {
  Rng rng(5);
  std::vector<int64_t> p = rng.Permutation(1000);
  std::vector<int64_t> sorted = p;
  std::sort(sorted.begin(), sorted.end());
  std::vector<int64_t> iota(1000);
  std::iota(iota.begin(), iota.end(), 0);
  EXPECT_EQ(sorted, iota);
  EXPECT_NE(p, iota);
  EXPECT_TRUE(rng.Permutation(0).empty());
  EXPECT_EQ(Rng(5).Permutation(1000), p);

  // Every position is equally likely to hold element 0.
  std::vector<int> where(4, 0);
  for (int i = 0; i < 8000; ++i) {
    std::vector<int64_t> q = rng.Permutation(4);
    ++where[std::find(q.begin(), q.end(), 0) - q.begin()];
  }
  for (int w : where) EXPECT_NEAR(w, 2000, 200);
}

TEST(SeedTest, SampleWithoutReplacementIsDistinct) {
  Rng rng(6);
  std::vector<int64_t> s = rng.SampleWithoutReplacement(100, 30);
  ASSERT_EQ(s.size(), 30u);
  std::set<int64_t> unique(s.begin(), s.end());
  EXPECT_EQ(unique.size(), 30u);
  for (int64_t x : s) {
    EXPECT_GE(x, 0);
    EXPECT_LT(x, 100);
  }
  EXPECT_EQ(rng.SampleWithoutReplacement(5, 5).size(), 5u);
  EXPECT_TRUE(rng.SampleWithoutReplacement(5, 0).empty());
}

}  // namespace
}  // namespace confml
