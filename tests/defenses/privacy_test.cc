// Tests of the Renyi-DP accountant against published values, and of the
// DP-FedAvg aggregator. Sources of the published numbers: docs/privacy.md.
#include "confml/defenses/privacy.h"

#include <gtest/gtest.h>

#include <cmath>
#include <map>
#include <vector>

#include "confml/core/aggregator.h"

namespace confml::defenses {
namespace {

// The orders TensorFlow Privacy's tutorials pass to compute_rdp.
std::vector<double> TfTutorialOrders() {
  std::vector<double> orders;
  for (int x = 1; x < 100; ++x) orders.push_back(1.0 + x / 10.0);
  for (int a = 12; a < 64; ++a) orders.push_back(a);
  return orders;
}

void ExpectWithinPercent(double actual, double published, double percent) {
  EXPECT_LE(std::fabs(actual - published), published * percent / 100.0)
      << "computed " << actual << ", published " << published;
}

// TensorFlow Privacy tutorials/README.md, "Select Parameters" table: MNIST
// (60000 examples), batch 256, delta 1e-5; the tutorial counts
// 60000 // 256 = 234 steps per epoch. Published to two decimals.
TEST(RdpAccountantTest, MatchesTensorFlowPrivacyTutorialTable) {
  const double q = 256.0 / 60000.0;
  struct Row {
    double sigma;
    int epochs;
    double eps;
  };
  for (const Row& r : {Row{1.12, 60, 2.92}, Row{0.6, 30, 9.74}, Row{1.2, 10, 1.20}}) {
    StatusOr<DpGuarantee> g = DpGuaranteeFor(q, r.sigma, int64_t{234} * r.epochs, 1e-5,
                                             TfTutorialOrders(), RdpConversion::kStandard);
    ASSERT_TRUE(g.ok()) << g.status();
    ExpectWithinPercent(g->epsilon, r.eps, 1.0);
    // And to the published precision (two decimals), allowing the rounding
    // of the last digit.
    EXPECT_NEAR(g->epsilon, r.eps, 0.0075) << "sigma " << r.sigma;
  }
}

// Bu, Dong, Long, Su, "Deep Learning with Gaussian Differential Privacy"
// (Harvard Data Science Review 2020), Figure 4: the moments accountant on
// MNIST (q = 256/60000, delta 1e-5) gives epsilon 1.34 after 20 epochs at
// sigma = 1.3 and 8.68 after 70 epochs at sigma = 0.7. Steps = epochs *
// 60000 / 256, rounded down. (1.3497 vs 1.34 suggests truncation there;
// within 1 %.)
TEST(RdpAccountantTest, MatchesBuEtAlMomentsAccountantValues) {
  const double q = 256.0 / 60000.0;
  ExpectWithinPercent(*DpEpsilon(q, 1.3, 4687, 1e-5, TfTutorialOrders()), 1.34, 1.0);
  ExpectWithinPercent(*DpEpsilon(q, 0.7, 16406, 1e-5, TfTutorialOrders()), 8.68, 1.0);
}

// Values asserted in TensorFlow Privacy's rdp_accountant_test.py.
TEST(RdpAccountantTest, MatchesTensorFlowPrivacyUnitTestValues) {
  // test_compute_rdp_scalar: compute_rdp(0.1, 2, 10, 5) = 0.07737 (5 places).
  StatusOr<std::vector<double>> scalar = ComputeRdp(0.1, 2.0, 10, {5.0});
  ASSERT_TRUE(scalar.ok());
  EXPECT_NEAR((*scalar)[0], 0.07737, 5e-6);

  // test_compute_rdp_sequence: fractional and integer orders, delta 1e-5.
  StatusOr<std::vector<double>> seq = ComputeRdp(0.01, 2.5, 50, {1.5, 2.5, 5, 50, 100});
  ASSERT_TRUE(seq.ok());
  const std::vector<double> expected = {0.00065, 0.001085, 0.00218075, 0.023846, 167.416307};
  for (size_t i = 0; i < expected.size(); ++i) EXPECT_NEAR((*seq)[i], expected[i], 1e-5) << i;

  // test_compute_rdp_no_data / no_sampling.
  EXPECT_EQ(*SampledGaussianRdp(0.0, 10.0, 20.0), 0.0);
  EXPECT_DOUBLE_EQ(*SampledGaussianRdp(1.0, 10.0, 20.0), 0.1);

  // test_check_composition (standard conversion, which that test recorded
  // as eps = 8.509656 at order 2.5 before TF Privacy changed conversions).
  const std::vector<double> orders = {1.25, 1.5, 1.75, 2.,  2.5, 3.,  4.,  5.,  6.,  7.,  8.,
                                      10.,  12., 14.,  16., 20., 24., 28., 32., 64., 256.};
  RdpAccountant acc(orders);
  ASSERT_TRUE(acc.Compose(1e-4, 0.4, 40000).ok());
  ASSERT_TRUE(acc.Compose(0.1, 2.0, 100).ok());
  StatusOr<DpGuarantee> g = acc.Guarantee(1e-5, RdpConversion::kStandard);
  ASSERT_TRUE(g.ok());
  EXPECT_NEAR(g->epsilon, 8.509656, 1e-5);
  EXPECT_EQ(g->order, 2.5);
}

// TF Privacy test_get_privacy_spent_check_target_delta, second part, with
// the conversion its current get_privacy_spent uses (Balle et al. 2020,
// Theorem 21): the Gaussian mechanism with sigma = 4.530877117 is exactly
// (1, 1e-6)-DP, so over a fine grid of orders the bound is epsilon = 1.
TEST(RdpAccountantTest, ImprovedConversionIsTightForTheGaussianMechanism) {
  std::vector<double> orders;
  for (int i = 1001; i < 100000; ++i) orders.push_back(0.001 * i);
  StatusOr<DpGuarantee> g =
      DpGuaranteeFor(1.0, 4.530877117, 1, 1e-6, orders, RdpConversion::kBalle2020);
  ASSERT_TRUE(g.ok());
  EXPECT_NEAR(g->epsilon, 1.0, 1e-6);
  // The standard conversion is looser on the same curve.
  StatusOr<DpGuarantee> s =
      DpGuaranteeFor(1.0, 4.530877117, 1, 1e-6, orders, RdpConversion::kStandard);
  EXPECT_GT(s->epsilon, 1.1);
}

// Abadi et al. 2016, Section 3.1 / 5: q = 0.01, sigma = 4, delta = 1e-5,
// 10000 steps gives epsilon ~ 1.26 with the moments accountant (integer
// moments). RDP over integer orders is the same bound.
TEST(RdpAccountantTest, MatchesAbadiEtAlMomentsAccountantExample) {
  std::vector<double> orders;
  for (int a = 2; a <= 64; ++a) orders.push_back(a);
  StatusOr<double> eps = DpEpsilon(0.01, 4.0, 10000, 1e-5, orders);
  ASSERT_TRUE(eps.ok());
  ExpectWithinPercent(*eps, 1.26, 1.0);
}

// The fractional-order series and the integer binomial expansion are two
// different computations; they must meet at integer orders.
TEST(RdpAccountantTest, FractionalSeriesAgreesWithIntegerExpansion) {
  for (double q : {0.001, 0.01, 0.2}) {
    for (double sigma : {0.7, 1.1, 4.0}) {
      for (double a : {2.0, 5.0, 17.0}) {
        const double at = *SampledGaussianRdp(q, sigma, a);
        const double above = *SampledGaussianRdp(q, sigma, a + 1e-7);
        const double below = *SampledGaussianRdp(q, sigma, a - 1e-7);
        EXPECT_NEAR(above, at, 1e-5 * at + 1e-12) << q << " " << sigma << " " << a;
        EXPECT_NEAR(below, at, 1e-5 * at + 1e-12) << q << " " << sigma << " " << a;
      }
    }
  }
}

TEST(RdpAccountantTest, MonotoneInNoiseStepsAndConversion) {
  const double q = 0.01;
  const double e1 = *DpEpsilon(q, 1.0, 1000, 1e-5);
  const double e2 = *DpEpsilon(q, 2.0, 1000, 1e-5);
  const double e3 = *DpEpsilon(q, 1.0, 4000, 1e-5);
  EXPECT_LT(e2, e1);
  EXPECT_GT(e3, e1);
  const double balle = *DpEpsilon(q, 1.0, 1000, 1e-5, DefaultOrders(), RdpConversion::kBalle2020);
  EXPECT_LT(balle, e1);
  // Zero steps: rdp = 0, so the standard conversion leaves log(1/delta) /
  // (a - 1), smallest at the largest default order 512.
  EXPECT_NEAR(*DpEpsilon(q, 1.0, 0, 1e-5), std::log(1e5) / 511.0, 1e-12);
  EXPECT_TRUE(std::isinf(*DpEpsilon(q, 0.0, 10, 1e-5)));
}

TEST(RdpAccountantTest, RejectsBadArguments) {
  EXPECT_EQ(DpEpsilon(1.5, 1.0, 10, 1e-5).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(DpEpsilon(0.1, -1.0, 10, 1e-5).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(DpEpsilon(0.1, 1.0, -1, 1e-5).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(DpEpsilon(0.1, 1.0, 10, 0.0).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(SampledGaussianRdp(0.1, 1.0, 1.0).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(RdpToDp({2.0, 3.0}, {0.1}, 1e-5).status().code(), StatusCode::kInvalidArgument);
  EXPECT_FALSE(RdpConversionFromName("tight").ok());
}

// ---- DP-FedAvg --------------------------------------------------------------

ClientUpdate Update(int64_t id, std::vector<float> v, int64_t n = 10) {
  return ClientUpdate{id, n, std::move(v)};
}

TEST(DpFedAvgTest, ClipsAndUsesTheFixedDenominator) {
  // Norms 5 and 0.5: the first is scaled to norm 1, the second kept.
  std::vector<ClientUpdate> updates = {Update(1, {3.0f, 4.0f}), Update(2, {0.3f, -0.4f})};
  DpFedAvgOptions o;
  o.clip_norm = 1.0;
  o.noise_multiplier = 0.0;
  o.expected_clients = 4;
  std::vector<float> out;
  DpFedAvgRoundStats st;
  AggregationReport report;
  ASSERT_TRUE(AggregateDpFedAvg(updates, o, Seed(1), &report, &out, &st).ok());
  EXPECT_NEAR(out[0], (0.6 + 0.3) / 4.0, 1e-7);
  EXPECT_NEAR(out[1], (0.8 - 0.4) / 4.0, 1e-7);
  EXPECT_EQ(st.clipped, 1);
  EXPECT_EQ(st.aggregated, 2);
  EXPECT_DOUBLE_EQ(st.max_norm, 5.0);
  EXPECT_EQ(report.selected_clients, (std::vector<int64_t>{1, 2}));

  o.estimator = DpEstimator::kMean;
  ASSERT_TRUE(AggregateDpFedAvg(updates, o, Seed(1), nullptr, &out).ok());
  EXPECT_NEAR(out[0], (0.6 + 0.3) / 2.0, 1e-7);
}

TEST(DpFedAvgTest, NoiseHasTheCalibratedStdAndIsReproducible) {
  const size_t d = 40000;
  std::vector<ClientUpdate> updates = {Update(1, std::vector<float>(d, 0.0f)),
                                       Update(2, std::vector<float>(d, 0.0f))};
  DpFedAvgOptions o;
  o.clip_norm = 2.0;
  o.noise_multiplier = 1.0;
  o.expected_clients = 4;  // std = 1 * 2 / 4 = 0.5
  std::vector<float> a, b, c;
  DpFedAvgRoundStats st;
  ASSERT_TRUE(AggregateDpFedAvg(updates, o, Seed(7), nullptr, &a, &st).ok());
  EXPECT_DOUBLE_EQ(st.noise_std, 0.5);
  double m = 0, sq = 0;
  for (float v : a) m += v;
  m /= d;
  for (float v : a) sq += (v - m) * (v - m);
  const double sd = std::sqrt(sq / (d - 1));
  EXPECT_NEAR(m, 0.0, 5 * 0.5 / std::sqrt(double(d)));
  EXPECT_NEAR(sd, 0.5, 0.5 * 0.03);
  ASSERT_TRUE(AggregateDpFedAvg(updates, o, Seed(7), nullptr, &b).ok());
  ASSERT_TRUE(AggregateDpFedAvg(updates, o, Seed(8), nullptr, &c).ok());
  EXPECT_EQ(a, b);
  EXPECT_NE(a, c);
}

TEST(DpFedAvgTest, RejectsNonFiniteUpdatesWithAReason) {
  std::vector<ClientUpdate> updates = {Update(1, {1.0f, 0.0f, 0.0f, 0.0f}),
                                       Update(2, {0.0f, 0.0f, 0.0f, NAN}),
                                       Update(3, {0.0f, INFINITY, 0.0f, 0.0f})};
  DpFedAvgOptions o;
  o.noise_multiplier = 0.0;
  o.estimator = DpEstimator::kMean;
  AggregationReport report;
  std::vector<float> out;
  ASSERT_TRUE(AggregateDpFedAvg(updates, o, Seed(1), &report, &out).ok());
  EXPECT_EQ(out, (std::vector<float>{1.0f, 0.0f, 0.0f, 0.0f}));
  ASSERT_EQ(report.rejected.size(), 2u);
  EXPECT_EQ(report.rejected[0].first, 2);
  EXPECT_EQ(report.rejected[0].second, "non-finite value at index 3");
  EXPECT_EQ(report.rejected[1].second, "non-finite value at index 1");

  std::vector<ClientUpdate> bad = {Update(2, {NAN})};
  EXPECT_EQ(AggregateDpFedAvg(bad, o, Seed(1), nullptr, &out).code(),
            StatusCode::kFailedPrecondition);
  o.clip_norm = 0.0;
  EXPECT_EQ(AggregateDpFedAvg(updates, o, Seed(1), nullptr, &out).code(),
            StatusCode::kInvalidArgument);
}

TEST(DpFedAvgTest, RegisteredAggregatorCountsRoundsAndReportsEpsilon) {
  ASSERT_TRUE(RegisterPrivacyAggregators().ok());
  ASSERT_TRUE(RegisterPrivacyAggregators().ok());  // idempotent
  StatusOr<AggregatorPtr> agg = CreateAggregator("dp_fedavg", {{"clip_norm", 0.5},
                                                               {"noise_multiplier", 1.1},
                                                               {"sampling_rate", 0.01},
                                                               {"expected_clients", int64_t{3}}});
  ASSERT_TRUE(agg.ok()) << agg.status();
  EXPECT_EQ(CreateAggregator("dp_fedavg", {{"clip_norm", -1.0}}).status().code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(CreateAggregator("dp_fedavg", {{"estimator", std::string("median")}}).status().code(),
            StatusCode::kInvalidArgument);
  auto* dp = dynamic_cast<DpFedAvgAggregator*>(agg->get());
  ASSERT_NE(dp, nullptr);
  std::vector<ClientUpdate> updates = {Update(1, {1.0f, 2.0f}), Update(2, {0.0f, 1.0f})};
  std::vector<float> out;
  for (int r = 1; r <= 3; ++r) {
    AggregationContext ctx;
    ctx.round = r;
    ctx.seed = Seed(99).Child("round", r);
    ASSERT_TRUE((*agg)->Aggregate(updates, ctx, &out).ok());
  }
  EXPECT_EQ(dp->rounds(), 3);
  EXPECT_DOUBLE_EQ(*dp->EpsilonSpent(), *DpEpsilon(0.01, 1.1, 3, 1e-5));
  EXPECT_GT(*dp->EpsilonAfter(100), *dp->EpsilonSpent());

  std::vector<uint8_t> state = (*agg)->SaveState();
  StatusOr<AggregatorPtr> fresh = CreateAggregator("dp_fedavg", {{"sampling_rate", 0.01}});
  ASSERT_TRUE((*fresh)->LoadState(state).ok());
  EXPECT_EQ(dynamic_cast<DpFedAvgAggregator*>(fresh->get())->rounds(), 3);
  state[0] = 'X';
  EXPECT_EQ((*fresh)->LoadState(state).code(), StatusCode::kDataLoss);
  EXPECT_NE((*agg)->config_text().find("noise_multiplier=1.1"), std::string::npos);
}

}  // namespace
}  // namespace confml::defenses
