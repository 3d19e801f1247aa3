// Robust aggregation kernels against small cases worked out independently.
//
// Expected numbers marked "numpy" come from this script (run with
// /usr/bin/python3, numpy 1.24, scipy 1.10), which re-implements each rule
// from its paper, not from this code:
//
//   import numpy as np
//   def krum_scores(X, f):
//       n = len(X); D = ((X[:, None, :] - X[None, :, :])**2).sum(-1); k = max(n - f - 2, 0)
//       return np.array([np.sort(np.delete(D[i], i))[:k].sum() for i in range(n)])
//   X = np.array([[1,1],[1.1,0.9],[0.9,1.1],[1.0,1.2],[1.2,1.0],[10,10],[-10,5]], float)
//   krum_scores(X, 2)  # [.08 .12 .12 .14 .14 478.88 406.46] -> argmin 0
//   # Bulyan, f=1: theta = n-2f rounds of Krum on the remaining set, then per
//   # coordinate the mean of the beta = theta-2f values closest to the median.
//   B =
//   np.array([[0,1,2],[.2,.8,2.2],[.1,1.3,1.9],[-.1,.9,2.1],[.3,1.1,1.7],[5,-4,9],[.15,1.05,2.05]])
//   f = 1; n = len(B); theta = n - 2*f; rem = list(range(n)); sel = []
//   D = ((B[:, None, :] - B[None, :, :])**2).sum(-1)
//   while len(sel) < theta:
//       k = max(len(rem) - f - 2, 0)
//       sc = [np.sort([D[a, b] for b in rem if b != a])[:k].sum() for a in rem]
//       best = rem[int(np.argmin(sc))]; sel.append(best); rem.remove(best)
//   sel = sorted(sel)  # [0, 1, 2, 3, 6]
//   out = []
//   for j in range(3):
//       v = np.sort(B[sel, j]); med = np.median(v)
//       out.append(v[np.argsort(np.abs(v - med), kind='stable')[:theta - 2*f]].mean())
//   # out == [0.083333333, 0.983333333, 2.05]
//   # FLTrust
//   g0 = np.array([1., 0.]); G = np.array([[2,0],[-3,0],[0,5],[1,1]], float)
//   ts = np.maximum(G @ g0 / np.linalg.norm(G, axis=1) / np.linalg.norm(g0), 0)
//   resc = G * (np.linalg.norm(g0) / np.linalg.norm(G, axis=1))[:, None]
//   (ts[:, None] * resc).sum(0) / ts.sum()  # [0.878679656 0.292893219]
//   # FLAME (deltas, no noise): scipy single linkage on cosine distances (=
//   # HDBSCAN mutual reachability with min_samples=1), condensed with
//   # min_cluster_size n//2+1; keep points whose fall-out lambda is the largest.
//   from scipy.cluster.hierarchy import linkage
//   from scipy.spatial.distance import squareform
//   F =
//   np.array([[1,.1,0],[.9,.2,.1],[1.1,0,.1],[1,.15,.05],[.95,.05,0],[2,.2,.1],[-1,3,0],[0,-2,3]])
//   N = F / np.linalg.norm(F, axis=1)[:, None]; C = np.clip(1 - N @ N.T, 0, 2); np.fill_diagonal(C,
//   0) Z = linkage(squareform(C, checks=False), method='single') # ... walk Z from the root: a
//   child below n//2+1 points falls out at 1/height; # the cluster dissolves when both children are
//   below it. # admitted [0, 1, 3, 4, 5] e = np.linalg.norm(F, axis=1); S = np.median(e)
//   # 1.0584794691 np.mean([F[i] * min(1, S / e[i]) for i in [0,1,3,4,5]], axis=0) # [0.980385071
//   0.121038507 0.040519254]

#include "confml/defenses/robust_aggregation.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "confml/core/seed.h"

namespace confml::defenses {
namespace {

std::vector<ClientUpdate> Updates(const std::vector<std::vector<float>>& values,
                                  std::vector<int64_t> ids = {}) {
  std::vector<ClientUpdate> u;
  for (size_t i = 0; i < values.size(); ++i) {
    u.push_back(ClientUpdate{ids.empty() ? static_cast<int64_t>(i) : ids[i], 10, values[i]});
  }
  return u;
}

void ExpectNear(const std::vector<float>& got, const std::vector<double>& want, double tol) {
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < want.size(); ++i) EXPECT_NEAR(got[i], want[i], tol) << "index " << i;
}

bool Rejected(const AggregationReport& r, int64_t id, const std::string& needle) {
  for (const auto& [client, reason] : r.rejected) {
    if (client == id && reason.find(needle) != std::string::npos) return true;
  }
  return false;
}

// FLAME on the deltas themselves (no global model) with the given noise level.
FlameOptions DeltaFlame(double lambda) {
  FlameOptions o;
  o.lambda = lambda;
  o.cluster_models = false;
  return o;
}

TEST(Median, OddAndEvenCounts) {
  std::vector<float> out;
  // By hand: columns {1,3,2}, {5,1,9}, {-2,0,4}.
  ASSERT_TRUE(AggregateMedian(Updates({{1, 5, -2}, {3, 1, 0}, {2, 9, 4}}), &out).ok());
  ExpectNear(out, {2, 5, 0}, 0);
  // Even n: the mean of the two middle values, as numpy.median.
  ASSERT_TRUE(AggregateMedian(Updates({{1, 5, -2}, {3, 1, 0}, {2, 9, 4}, {10, 0, 1}}), &out).ok());
  ExpectNear(out, {2.5, 3, 0.5}, 0);
}

TEST(Median, RejectsNonFiniteAndNeverPropagatesThem) {
  const float nan = std::numeric_limits<float>::quiet_NaN();
  const float inf = std::numeric_limits<float>::infinity();
  AggregationReport report;
  std::vector<float> out;
  auto u = Updates({{1, 5}, {1e30f, nan}, {3, 1}, {2, 9}, {-inf, 0}}, {3, 7, 8, 9, 12});
  ASSERT_TRUE(AggregateMedian(u, &out, &report).ok());
  ExpectNear(out, {2, 5}, 0);
  EXPECT_TRUE(Rejected(report, 7, "non-finite value nan at index 1"));
  EXPECT_TRUE(Rejected(report, 12, "non-finite value -inf at index 0"));
  EXPECT_EQ(report.selected_clients, (std::vector<int64_t>{3, 8, 9}));
  // Nothing finite left: an error, not a NaN model.
  Status s = AggregateMedian(Updates({{nan}, {inf}}), &out);
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("non-finite"), std::string::npos) << s;
}

TEST(TrimmedMean, TrimsBetaEachSide) {
  std::vector<float> out;
  // beta 0.2, n 5: k = 1. Column 0 {1,2,3,4,100} -> mean(2,3,4) = 3;
  // column 1 {-50,0,0,1,2} -> mean(0,0,1) = 1/3.
  ASSERT_TRUE(
      AggregateTrimmedMean(Updates({{100, 0}, {2, -50}, {3, 2}, {1, 0}, {4, 1}}), 0.2, &out).ok());
  ExpectNear(out, {3, 1.0 / 3.0}, 1e-6);
  // beta 0.5 trims everything from an even count.
  Status s = AggregateTrimmedMean(Updates({{1}, {2}, {3}, {4}}), 0.5, &out);
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("n=4"), std::string::npos) << s;
  // ... but leaves the median of an odd one.
  ASSERT_TRUE(AggregateTrimmedMean(Updates({{1}, {7}, {3}, {40}, {5}}), 0.5, &out).ok());
  ExpectNear(out, {5}, 0);
}

TEST(Krum, PicksTheHonestClusterAgainstOutliers) {
  auto u =
      Updates({{1, 1}, {1.1f, 0.9f}, {0.9f, 1.1f}, {1.0f, 1.2f}, {1.2f, 1.0f}, {10, 10}, {-10, 5}});
  std::vector<double> dist;
  ASSERT_TRUE(PairwiseSquaredDistances(u, &dist).ok());
  std::vector<double> scores = KrumScores(dist, 7, 2);
  const std::vector<double> want = {0.08, 0.12, 0.12, 0.14, 0.14, 478.88, 406.46};  // numpy
  for (size_t i = 0; i < want.size(); ++i) EXPECT_NEAR(scores[i], want[i], 1e-4) << i;
  AggregationReport report;
  std::vector<float> out;
  ASSERT_TRUE(AggregateKrum(u, 2, &out, &report).ok());
  ExpectNear(out, {1, 1}, 0);
  EXPECT_EQ(report.selected_clients, (std::vector<int64_t>{0}));
  EXPECT_EQ(report.rejected.size(), 6u);
  EXPECT_TRUE(Rejected(report, 5, "not among the 1 krum selections"));
}

TEST(Krum, TiesGoToTheLowestClientId) {
  // By hand, f = 0, n = 4, two neighbours: scores of 1 and -1 are both
  // 4 + 16 = 20; of 5 and -5 both 16 + 36 = 52. Client 4 (-1) beats client 9 (1)
  // although it comes second in the input.
  auto u = Updates({{1}, {-1}, {5}, {-5}}, {9, 4, 7, 2});
  AggregationReport report;
  std::vector<float> out;
  ASSERT_TRUE(AggregateKrum(u, 0, &out, &report).ok());
  ExpectNear(out, {-1}, 0);
  EXPECT_EQ(report.selected_clients, (std::vector<int64_t>{4}));
  // Multi-Krum m = 3: the two 20s, then the tie at 52 goes to client 2 (-5).
  report = {};
  ASSERT_TRUE(AggregateMultiKrum(u, 0, 3, &out, &report).ok());
  ExpectNear(out, {-5.0 / 3.0}, 1e-6);
  EXPECT_TRUE(Rejected(report, 7, "not among the 3 multi_krum selections"));
}

TEST(Krum, TooFewUpdatesNamesTheRule) {
  std::vector<float> out;
  auto u = Updates({{1}, {2}, {3}, {4}, {5}, {6}});
  Status s = AggregateKrum(u, 2, &out);
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("krum needs n > 2f+2"), std::string::npos) << s;
  EXPECT_NE(s.message().find("n=6"), std::string::npos) << s;
  EXPECT_NE(s.message().find("f=2"), std::string::npos) << s;
  // Enough updates, but a rejected one brings n below the rule.
  u.push_back(ClientUpdate{6, 1, {std::numeric_limits<float>::quiet_NaN()}});
  s = AggregateKrum(u, 2, &out);
  EXPECT_NE(s.message().find("after rejecting 1 non-finite"), std::string::npos) << s;
  u.back().values = {7};
  EXPECT_TRUE(AggregateKrum(u, 2, &out).ok());
}

TEST(MultiKrum, AveragesTheBestM) {
  auto u =
      Updates({{1, 1}, {1.1f, 0.9f}, {0.9f, 1.1f}, {1.0f, 1.2f}, {1.2f, 1.0f}, {10, 10}, {-10, 5}});
  std::vector<float> out;
  AggregationReport report;
  ASSERT_TRUE(AggregateMultiKrum(u, 2, 3, &out, &report).ok());
  ExpectNear(out, {1, 1}, 1e-6);  // numpy: clients 0, 1, 2
  EXPECT_EQ(report.selected_clients, (std::vector<int64_t>{0, 1, 2}));
  // m = 0 means n - f = 5: exactly the honest five.
  report = {};
  ASSERT_TRUE(AggregateMultiKrum(u, 2, 0, &out, &report).ok());
  EXPECT_EQ(report.selected_clients, (std::vector<int64_t>{0, 1, 2, 3, 4}));
  ExpectNear(out, {1.04, 1.04}, 1e-6);
}

TEST(Bulyan, MatchesNumpyAndNeedsFourFPlusThree) {
  auto u = Updates({{0, 1, 2},
                    {0.2f, 0.8f, 2.2f},
                    {0.1f, 1.3f, 1.9f},
                    {-0.1f, 0.9f, 2.1f},
                    {0.3f, 1.1f, 1.7f},
                    {5, -4, 9},
                    {0.15f, 1.05f, 2.05f}});
  std::vector<float> out;
  AggregationReport report;
  ASSERT_TRUE(AggregateBulyan(u, 1, &out, &report).ok());
  ExpectNear(out, {0.083333333, 0.983333333, 2.05}, 1e-6);
  EXPECT_EQ(report.selected_clients, (std::vector<int64_t>{0, 1, 2, 3, 6}));
  EXPECT_TRUE(Rejected(report, 5, "bulyan"));
  u.pop_back();
  Status s = AggregateBulyan(u, 1, &out);
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("bulyan needs n >= 4f+3"), std::string::npos) << s;
  EXPECT_NE(s.message().find("n=6"), std::string::npos) << s;
}

TEST(GeometricMedian, OneDimensionalIsTheMedian) {
  // In one dimension the (weighted) geometric median is the (weighted) median.
  auto u = Updates({{0}, {1}, {10}});
  std::vector<float> out;
  GeometricMedianOptions o;
  o.max_iters = 200;
  o.tolerance = 0;
  o.nu = 1e-9;
  ASSERT_TRUE(AggregateGeometricMedian(u, o, &out).ok());
  EXPECT_NEAR(out[0], 1.0, 1e-4);
  u[2].num_samples = 50;  // More than half the weight sits on 10.
  ASSERT_TRUE(AggregateGeometricMedian(u, o, &out).ok());
  EXPECT_NEAR(out[0], 10.0, 1e-4);
}

TEST(GeometricMedian, SatisfiesTheOptimalityCondition) {
  // At the geometric median of points off it, the unit vectors towards the
  // points sum to zero (the gradient of sum |v - w_i|).
  auto u = Updates({{0, 0}, {4, 0}, {0, 3}, {5, 5}});
  std::vector<float> out;
  GeometricMedianOptions o;
  o.max_iters = 500;
  o.tolerance = 0;
  o.weighted = false;
  int64_t iters = 0;
  ASSERT_TRUE(AggregateGeometricMedian(u, o, &out, nullptr, &iters).ok());
  // Tolerance 0 stops only once an iteration no longer improves at all.
  EXPECT_LE(iters, 500);
  const int64_t tight_iters = iters;
  double gx = 0, gy = 0;
  for (const ClientUpdate& c : u) {
    const double dx = out[0] - c.values[0], dy = out[1] - c.values[1];
    const double r = std::hypot(dx, dy);
    gx += dx / r;
    gy += dy / r;
  }
  EXPECT_LT(std::hypot(gx, gy), 1e-4);
  // A loose tolerance stops early.
  o.tolerance = 1e-2;
  ASSERT_TRUE(AggregateGeometricMedian(u, o, &out, nullptr, &iters).ok());
  EXPECT_LT(iters, tight_iters);
}

TEST(NormClipping, ClipsThenAverages) {
  // By hand: (3,4) has norm 5 -> (1.2,1.6) at tau 2; (0.6,0.8) is kept.
  auto u = Updates({{3, 4}, {0.6f, 0.8f}});
  std::vector<float> out;
  ASSERT_TRUE(AggregateNormClipping(u, 2.0, /*weighted=*/false, &out).ok());
  ExpectNear(out, {0.9, 1.2}, 1e-6);
  u[0].num_samples = 1;
  u[1].num_samples = 3;
  ASSERT_TRUE(AggregateNormClipping(u, 2.0, /*weighted=*/true, &out).ok());
  ExpectNear(out, {0.75, 1.0}, 1e-6);
}

TEST(CenteredClipping, IteratesAroundTheCenter) {
  // By hand, tau 2, center 0: differences 1, 2, 100 clip to 1, 2, 2 -> v = 5/3.
  // Second iteration from 5/3: -2/3, 1/3, 98.33 -> -2/3, 1/3, 2 -> v = 5/3 + 5/9.
  auto u = Updates({{1}, {2}, {100}});
  std::vector<float> center, out;
  ASSERT_TRUE(AggregateCenteredClipping(u, 2.0, 1, &center, &out).ok());
  ExpectNear(out, {5.0 / 3.0}, 1e-6);
  center.clear();
  ASSERT_TRUE(AggregateCenteredClipping(u, 2.0, 2, &center, &out).ok());
  ExpectNear(out, {5.0 / 3.0 + 5.0 / 9.0}, 1e-6);
  ExpectNear(center, {5.0 / 3.0 + 5.0 / 9.0}, 1e-6);
}

TEST(CenteredClipping, StateSurvivesACheckpoint) {
  ASSERT_TRUE(RegisterRobustAggregators().ok());
  auto make = [] {
    return *CreateAggregator("centered_clipping", {{"tau", 2.0}, {"iterations", int64_t{1}}});
  };
  AggregatorPtr a = make();
  EXPECT_EQ(a->config_text(), "centered_clipping iterations=1 tau=2.0");
  auto u = Updates({{1}, {2}, {100}});
  std::vector<float> first, second, resumed;
  ASSERT_TRUE(a->Aggregate(u, AggregationContext{.round = 1}, &first).ok());
  const std::vector<uint8_t> state = a->SaveState();
  ASSERT_TRUE(a->Aggregate(u, AggregationContext{.round = 2}, &second).ok());
  // Round 2 starts at 5/3: differences -2/3, 1/3, 98.33 -> v = 5/3 + 5/9.
  ExpectNear(second, {5.0 / 3.0 + 5.0 / 9.0}, 1e-6);
  AggregatorPtr b = make();
  ASSERT_TRUE(b->LoadState(state).ok());
  ASSERT_TRUE(b->Aggregate(u, AggregationContext{.round = 2}, &resumed).ok());
  EXPECT_EQ(resumed, second);
  std::vector<uint8_t> bad = state;
  bad.pop_back();
  EXPECT_EQ(b->LoadState(bad).code(), StatusCode::kDataLoss);
  bad[0] = 'X';
  EXPECT_EQ(b->LoadState(bad).code(), StatusCode::kDataLoss);
}

TEST(FlTrust, OppositeUpdateGetsZeroWeight) {
  const std::vector<float> server = {1, 0};
  auto u = Updates({{2, 0}, {-3, 0}, {0, 5}, {1, 1}});
  std::vector<float> out;
  std::vector<double> ts;
  AggregationReport report;
  ASSERT_TRUE(AggregateFlTrust(u, server, &out, &report, &ts).ok());
  ExpectNear(out, {0.878679656, 0.292893219}, 1e-6);  // numpy
  EXPECT_NEAR(ts[0], 1.0, 1e-12);
  EXPECT_EQ(ts[1], 0.0);
  EXPECT_EQ(ts[2], 0.0);
  EXPECT_NEAR(ts[3], std::sqrt(0.5), 1e-9);
  EXPECT_EQ(report.selected_clients, (std::vector<int64_t>{0, 3}));
  EXPECT_TRUE(Rejected(report, 1, "cosine -1"));
  // Only opposite updates: nothing is trusted, the aggregate is zero.
  ASSERT_TRUE(AggregateFlTrust(Updates({{-1, 0}, {-5, 1}}), server, &out).ok());
  ExpectNear(out, {0, 0}, 0);
  EXPECT_EQ(AggregateFlTrust(u, {1, 0, 0}, &out).code(), StatusCode::kInvalidArgument);
}

TEST(FlTrust, AggregatorNeedsTheServerUpdate) {
  ASSERT_TRUE(RegisterRobustAggregators().ok());
  AggregatorPtr a = *CreateAggregator("fltrust", {});
  EXPECT_TRUE(a->wants_server_update());
  std::vector<float> out;
  auto u = Updates({{2, 0}, {-3, 0}});
  EXPECT_EQ(a->Aggregate(u, AggregationContext{.round = 1}, &out).code(),
            StatusCode::kFailedPrecondition);
  const std::vector<float> server = {1, 0};
  AggregationContext ctx{.round = 1};
  ctx.server_update = &server;
  ASSERT_TRUE(a->Aggregate(u, ctx, &out).ok());
  ExpectNear(out, {1, 0}, 1e-7);
}

TEST(Hdbscan, KeepsTheTightMajority) {
  // By hand, points 0, .1, .2, .3, 5, 9 on a line, min_cluster_size 4: the
  // root splits at 4.7 into the four close points and {5, 9} (which fall
  // out); the four dissolve together at 0.1 and form the cluster.
  const std::vector<double> x = {0, 0.1, 0.2, 0.3, 5, 9};
  std::vector<double> d(36);
  for (int i = 0; i < 6; ++i)
    for (int j = 0; j < 6; ++j) d[i * 6 + j] = std::abs(x[i] - x[j]);
  EXPECT_EQ(HdbscanMajorityCluster(d, 6, 1), (std::vector<int64_t>{0, 1, 2, 3}));
}

TEST(Hdbscan, CoreDistancesOfMinSamplesChangeTheCluster) {
  // min_samples > 2 is where mutual reachability differs from single linkage.
  // Expected sets from this script (/usr/bin/python3, numpy 1.24), written
  // from the HDBSCAN definition (Campello et al. 2013) rather than from the
  // code: a point falls out of the majority cluster at the lowest level eps
  // where its component in the graph {mutual reachability <= eps} still has
  // n//2+1 points; the cluster is the points that fall out last.
  //
  //   import numpy as np
  //   def majority(D, min_samples):
  //       n = len(D); m = n // 2 + 1
  //       core = np.sort(D, axis=1)[:, min_samples - 1]  # the point itself first
  //       M = np.maximum(np.maximum(D, core[:, None]), core[None, :])
  //       def comp(eps, p):
  //           seen, todo = {p}, [p]
  //           while todo:
  //               q = todo.pop()
  //               for r in np.nonzero(M[q] <= eps)[0]:
  //                   if r not in seen: seen.add(r); todo.append(r)
  //           return seen
  //       e = [min(l for l in np.unique(M) if len(comp(l, p)) >= m) for p in range(n)]
  //       return [p for p in range(n) if e[p] == min(e)]
  //   x = np.array([0.23, 0.24, 0.83, 0.9, 1.1, 1.21, 1.66, 1.99])
  //   D = np.abs(x[:, None] - x[None, :])
  //   majority(D, 1), majority(D, 2), majority(D, 3)
  //   # [2, 3, 4, 5, 6, 7], [2, 3, 4, 5, 6, 7], [2, 3, 4, 5, 6]
  const std::vector<double> x = {0.23, 0.24, 0.83, 0.9, 1.1, 1.21, 1.66, 1.99};
  const int64_t n = static_cast<int64_t>(x.size());
  std::vector<double> d(n * n);
  for (int64_t i = 0; i < n; ++i)
    for (int64_t j = 0; j < n; ++j) d[i * n + j] = std::abs(x[i] - x[j]);
  EXPECT_EQ(HdbscanMajorityCluster(d, n, 1), (std::vector<int64_t>{2, 3, 4, 5, 6, 7}));
  EXPECT_EQ(HdbscanMajorityCluster(d, n, 2), (std::vector<int64_t>{2, 3, 4, 5, 6, 7}));
  EXPECT_EQ(HdbscanMajorityCluster(d, n, 3), (std::vector<int64_t>{2, 3, 4, 5, 6}));
}

TEST(Flame, ClustersClipsAndMatchesNumpy) {
  auto u = Updates({{1, 0.1f, 0},
                    {0.9f, 0.2f, 0.1f},
                    {1.1f, 0, 0.1f},
                    {1, 0.15f, 0.05f},
                    {0.95f, 0.05f, 0},
                    {2, 0.2f, 0.1f},
                    {-1, 3, 0},
                    {0, -2, 3}});
  FlameOptions o = DeltaFlame(0);
  std::vector<float> out;
  AggregationReport report;
  ASSERT_TRUE(AggregateFlame(u, nullptr, o, Seed(1), &out, &report).ok());
  EXPECT_EQ(report.selected_clients, (std::vector<int64_t>{0, 1, 3, 4, 5}));
  EXPECT_TRUE(Rejected(report, 6, "majority cluster"));
  EXPECT_TRUE(Rejected(report, 7, "majority cluster"));
  ExpectNear(out, {0.980385071, 0.121038507, 0.040519254}, 1e-5);
  // Clustering models needs the global model.
  o.cluster_models = true;
  EXPECT_EQ(AggregateFlame(u, nullptr, o, Seed(1), &out).code(), StatusCode::kFailedPrecondition);
}

TEST(Flame, ClusteringModelsMatchesExplicitModels) {
  // The model Gram matrix is derived from the deltas' Gram matrix and the
  // global model; check its clustering against cosine distances computed here
  // on explicit models G + delta.
  const std::vector<float> global = {0.5f, -1.0f, 2.0f};
  auto u = Updates({{1, 0.1f, 0},
                    {0.9f, 0.2f, 0.1f},
                    {1.1f, 0, 0.1f},
                    {1, 0.15f, 0.05f},
                    {0.95f, 0.05f, 0},
                    {2, 0.2f, 0.1f},
                    {-1, 3, 0},
                    {0, -2, 3}});
  const int64_t n = static_cast<int64_t>(u.size());
  std::vector<double> cd(n * n, 0.0);
  for (int64_t a = 0; a < n; ++a) {
    for (int64_t b = 0; b < n; ++b) {
      double ab = 0, aa = 0, bb = 0;
      for (int k = 0; k < 3; ++k) {
        const double x = global[k] + u[a].values[k], y = global[k] + u[b].values[k];
        ab += x * y;
        aa += x * x;
        bb += y * y;
      }
      cd[a * n + b] = a == b ? 0.0 : std::max(0.0, 1.0 - ab / std::sqrt(aa * bb));
    }
  }
  const std::vector<int64_t> want = HdbscanMajorityCluster(cd, n, 1);
  FlameOptions o;
  o.lambda = 0;
  AggregationReport report;
  std::vector<float> out;
  ASSERT_TRUE(AggregateFlame(u, &global, o, Seed(1), &out, &report).ok());
  EXPECT_EQ(report.selected_clients, want);
  EXPECT_GE(want.size(), static_cast<size_t>(n / 2 + 1));
}

TEST(Flame, NoiseIsSeededAndScaledToTheMedianNorm) {
  // 2 updates of norm 1 along one axis each; S_t = 1, sigma = lambda = 0.5.
  const size_t d = 20000;
  std::vector<float> a(d, 0), b(d, 0), c(d, 0);
  a[0] = 1;
  b[0] = 1;
  c[0] = 1;
  auto u = Updates({a, b, c});
  const FlameOptions o = DeltaFlame(0.5);
  std::vector<float> x, y, z;
  ASSERT_TRUE(AggregateFlame(u, nullptr, o, Seed(7), &x).ok());
  ASSERT_TRUE(AggregateFlame(u, nullptr, o, Seed(7), &y).ok());
  ASSERT_TRUE(AggregateFlame(u, nullptr, o, Seed(8), &z).ok());
  EXPECT_EQ(x, y);
  EXPECT_NE(x, z);
  double ss = 0;
  for (size_t i = 1; i < d; ++i) ss += static_cast<double>(x[i]) * x[i];
  EXPECT_NEAR(std::sqrt(ss / (d - 1)), 0.5, 0.02);
}

TEST(Flame, ClippingBoundIsTheMedianOverAllUpdatesNotOnlyTheAdmitted) {
  // By hand: norms 1, 2, 4 along x (cosine distance 0 among them) and 8, 16
  // along y (distance 1 to the others). n = 5, min_cluster_size 3: the root
  // splits at distance 1 into {0, 1, 2}, the cluster, and {3, 4}, rejected.
  // S_t = median(1, 2, 4, 8, 16) = 4 (the median over the admitted three
  // would be 2, as an early zhmzm/FLAME re-implementation took it; its
  // maintainer fixed it to all uploaded models, issue #3). Nothing exceeds 4,
  // so the mean is (1 + 2 + 4) / 3 = 7/3 (with S_t = 2 it would be 5/3), and
  // the noise has sigma = lambda * S_t = 0.25 * 4 = 1 (0.5 with S_t = 2).
  const size_t d = 20000;
  std::vector<std::vector<float>> v(5, std::vector<float>(d, 0.0f));
  v[0][0] = 1;
  v[1][0] = 2;
  v[2][0] = 4;
  v[3][1] = 8;
  v[4][1] = 16;
  auto u = Updates(v);
  std::vector<float> out;
  AggregationReport report;
  ASSERT_TRUE(AggregateFlame(u, nullptr, DeltaFlame(0), Seed(3), &out, &report).ok());
  EXPECT_EQ(report.selected_clients, (std::vector<int64_t>{0, 1, 2}));
  EXPECT_TRUE(Rejected(report, 3, "majority cluster"));
  EXPECT_TRUE(Rejected(report, 4, "majority cluster"));
  EXPECT_NEAR(out[0], 7.0 / 3.0, 1e-6);
  EXPECT_EQ(out[1], 0.0f);
  ASSERT_TRUE(AggregateFlame(u, nullptr, DeltaFlame(0.25), Seed(3), &out).ok());
  double ss = 0;
  for (size_t i = 2; i < d; ++i) ss += static_cast<double>(out[i]) * out[i];
  EXPECT_NEAR(std::sqrt(ss / (d - 2)), 1.0, 0.03);
}

TEST(PairwiseDistances, GramMatchesDirectLoopAndIgnoresThreadCount) {
  // 40000 coordinates span three super-blocks and a partial block.
  const size_t d = 40000;
  Rng rng(123);
  std::vector<std::vector<float>> v(9, std::vector<float>(d));
  for (auto& x : v)
    for (float& e : x) e = static_cast<float>(rng.Normal());
  v[4] = v[2];  // An exact duplicate: distance 0 after clamping.
  std::vector<const float*> p;
  for (const auto& x : v) p.push_back(x.data());
  std::vector<double> one, two, direct;
  ASSERT_TRUE(PairwiseSquaredDistances(p, d, &one, 1).ok());
  ASSERT_TRUE(PairwiseSquaredDistances(p, d, &two, 2).ok());
  PairwiseSquaredDistancesDirect(p, d, &direct);
  EXPECT_EQ(one, two);  // Bitwise.
  for (size_t i = 0; i < direct.size(); ++i) {
    EXPECT_NEAR(one[i], direct[i], 1e-5 * (1 + direct[i])) << i;
    EXPECT_GE(one[i], 0.0);
  }
  EXPECT_LT(one[2 * 9 + 4], 1e-2);
}

TEST(RobustAggregatorRegistry, EveryRuleRejectsNonFiniteUpdates) {
  ASSERT_TRUE(RegisterRobustAggregators().ok());
  ASSERT_TRUE(RegisterRobustAggregators().ok());  // Idempotent.
  const float nan = std::numeric_limits<float>::quiet_NaN();
  // Nine finite updates near (1, 1) and one with a NaN.
  std::vector<std::vector<float>> v;
  for (int i = 0; i < 9; ++i) v.push_back({1.0f + 0.01f * i, 1.0f - 0.01f * i});
  v.push_back({nan, 1});
  auto u = Updates(v);
  const std::vector<float> global = {0.5f, 0.5f};
  const std::vector<float> server = {1, 1};
  for (const char* name :
       {"median", "trimmed_mean", "krum", "multi_krum", "bulyan", "geometric_median",
        "norm_clipping", "centered_clipping", "fltrust", "flame"}) {
    SCOPED_TRACE(name);
    StatusOr<AggregatorPtr> a = CreateAggregator(name, {});
    ASSERT_TRUE(a.ok()) << a.status();
    AggregationReport report;
    AggregationContext ctx{.round = 1, .global = &global, .seed = Seed(3)};
    ctx.server_update = &server;
    ctx.report = &report;
    std::vector<float> out;
    ASSERT_TRUE((*a)->Aggregate(u, ctx, &out).ok());
    ASSERT_EQ(out.size(), 2u);
    EXPECT_TRUE(std::isfinite(out[0]) && std::isfinite(out[1]));
    EXPECT_TRUE(Rejected(report, 9, "non-finite value nan at index 0"));
    for (int64_t id : report.selected_clients) EXPECT_NE(id, 9);
  }
}

TEST(RobustAggregatorRegistry, ParametersAreDeclaredAndChecked) {
  ASSERT_TRUE(RegisterRobustAggregators().ok());
  StatusOr<AggregatorPtr> k =
      CreateAggregator("multi_krum", {{"f", int64_t{2}}, {"m", int64_t{3}}});
  ASSERT_TRUE(k.ok()) << k.status();
  EXPECT_EQ((*k)->config_text(), "multi_krum f=2 m=3");
  EXPECT_EQ(CreateAggregator("krum", {{"f", int64_t{-1}}}).status().code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(CreateAggregator("trimmed_mean", {{"bta", 0.1}}).status().code(),
            StatusCode::kInvalidArgument);
  std::vector<float> out;
  Status s = (*k)->Aggregate(Updates({{1}, {2}, {3}}), AggregationContext{.round = 4}, &out);
  EXPECT_NE(s.message().find("round 4"), std::string::npos) << s;
}

}  // namespace
}  // namespace confml::defenses
