// Tests of pairwise-mask secure aggregation: exact unmasking within the
// quantisation bound, dropout tolerance down to the threshold, tamper
// detection, and that the server's view of an input looks like noise.
#include "confml/defenses/secure_aggregation.h"

#include <gtest/gtest.h>

#include <cmath>
#include <map>
#include <vector>

#include "confml/core/aggregator.h"
#include "confml/core/seed.h"
#include "confml/defenses/privacy.h"

namespace confml::defenses {
namespace {

std::vector<float> RandomUpdate(uint64_t seed, size_t d, double scale) {
  Rng rng(seed);
  std::vector<float> v(d);
  for (float& x : v) x = static_cast<float>(scale * (2.0 * rng.Uniform() - 1.0));
  return v;
}

Bytes Secret32(uint8_t start) {
  Bytes s(32);
  for (size_t i = 0; i < s.size(); ++i) s[i] = static_cast<uint8_t>(start + 7 * i);
  return s;
}

TEST(ShamirTest, AnyThresholdSubsetReconstructs) {
  const Bytes secret = Secret32(3);
  const Bytes coins(32, 0x42);
  StatusOr<std::vector<ShamirShare>> shares = ShamirSplit(secret, 3, {1, 2, 3, 4, 5}, coins);
  ASSERT_TRUE(shares.ok()) << shares.status();
  for (size_t a = 0; a < 5; ++a) {
    for (size_t b = a + 1; b < 5; ++b) {
      for (size_t c = b + 1; c < 5; ++c) {
        StatusOr<Bytes> r = ShamirReconstruct({(*shares)[a], (*shares)[b], (*shares)[c]}, 3, 32);
        ASSERT_TRUE(r.ok()) << r.status();
        EXPECT_EQ(*r, secret);
      }
    }
  }
  // Fewer than t: refused. (Two shares of a degree-2 polynomial say nothing.)
  EXPECT_EQ(ShamirReconstruct({(*shares)[0], (*shares)[1]}, 3, 32).status().code(),
            StatusCode::kFailedPrecondition);
  // All five: the extra two are checked against the polynomial.
  EXPECT_EQ(*ShamirReconstruct(*shares, 3, 32), secret);
  std::vector<ShamirShare> bad = *shares;
  bad[4].y[2] = (bad[4].y[2] + 1) % kShamirPrime;
  EXPECT_EQ(ShamirReconstruct(bad, 3, 32).status().code(), StatusCode::kDataLoss);
  // With exactly t shares a corrupted one cannot be detected here: the
  // result is simply wrong (the protocol checks it against a commitment).
  StatusOr<Bytes> wrong = ShamirReconstruct({bad[4], bad[0], bad[1]}, 3, 32);
  EXPECT_TRUE(!wrong.ok() || *wrong != secret);
  // Bad arguments.
  EXPECT_FALSE(ShamirSplit(secret, 6, {1, 2, 3, 4, 5}, coins).ok());
  EXPECT_FALSE(ShamirSplit(secret, 2, {1, 1, 3}, coins).ok());
  EXPECT_FALSE(ShamirSplit(secret, 2, {0, 1, 3}, coins).ok());
}

TEST(FixedPointCodecTest, ScaleIsAPowerOfTwoThatCannotWrap) {
  StatusOr<FixedPointCodec> c = FixedPointCodec::Create(1.0, 10);
  ASSERT_TRUE(c.ok());
  // floor(log2((2^31 - 1) / 10 - 0.5)) = 27.
  EXPECT_EQ(c->scale(), std::ldexp(1.0, 27));
  uint32_t sum = 0;
  for (int i = 0; i < 10; ++i) sum += c->Encode(-1.0f);
  EXPECT_DOUBLE_EQ(c->Decode(sum), -10.0);
  sum = 0;
  for (int i = 0; i < 10; ++i) sum += c->Encode(5.0f);  // clipped to 1
  EXPECT_DOUBLE_EQ(c->Decode(sum), 10.0);
  EXPECT_NEAR(c->Decode(c->Encode(0.123456f)), 0.123456f, 0.5 / c->scale());
  EXPECT_FALSE(FixedPointCodec::Create(1e9, 10).ok());
  EXPECT_FALSE(FixedPointCodec::Create(0.0, 10).ok());
}

struct Inputs {
  std::map<int64_t, std::vector<float>> updates;
};

Inputs MakeInputs(const std::vector<int64_t>& ids, size_t d) {
  Inputs in;
  for (int64_t id : ids) in.updates[id] = RandomUpdate(100 + id, d, 0.5);
  return in;
}

std::unique_ptr<SecAggRound> Start(const std::vector<int64_t>& ids, size_t d, int64_t t) {
  SecAggOptions o;
  o.dim = d;
  o.threshold = t;
  o.range = 1.0;
  o.simulation_seed = 2024;
  auto round = SecAggRound::Create(o);
  EXPECT_TRUE(round.ok());
  for (int64_t id : ids) EXPECT_TRUE((*round)->AddClient(id).ok());
  EXPECT_TRUE((*round)->ShareKeys().ok());
  return std::move(*round);
}

void ExpectSumOf(const std::vector<double>& sum, const Inputs& in, const std::vector<int64_t>& ids,
                 double bound) {
  for (size_t i = 0; i < sum.size(); ++i) {
    double exact = 0.0;
    for (int64_t id : ids) exact += in.updates.at(id)[i];
    ASSERT_LE(std::fabs(sum[i] - exact), bound) << "coordinate " << i;
  }
}

TEST(SecAggRoundTest, UnmaskedSumEqualsPlainSumWithinQuantisationBound) {
  const std::vector<int64_t> ids = {3, 5, 8, 13, 21, 34};
  const size_t d = 2000;
  Inputs in = MakeInputs(ids, d);
  auto round = Start(ids, d, 4);
  for (int64_t id : ids) ASSERT_TRUE(round->MaskedInput(id, in.updates[id]).ok());
  StatusOr<std::vector<double>> sum = round->UnmaskSum();
  ASSERT_TRUE(sum.ok()) << sum.status();
  const double bound = round->codec()->SumErrorBound(6);
  EXPECT_LT(bound, 1e-7);
  ExpectSumOf(*sum, in, ids, bound);
  EXPECT_EQ(round->summed_clients(), ids);
  // Every client revealed one self-mask share per summed client, no key shares.
  EXPECT_EQ(round->server_view().revealed_self_mask_shares, 36);
  EXPECT_EQ(round->server_view().revealed_key_shares, 0);
  EXPECT_EQ(round->server_view().relayed_shares.size(), 30u);
}

TEST(SecAggRoundTest, RecoversWithUpToNMinusTDropouts) {
  const std::vector<int64_t> ids = {1, 2, 3, 4, 5, 6, 7};
  const size_t d = 500;
  Inputs in = MakeInputs(ids, d);
  auto round = Start(ids, d, 4);  // n - t = 3 may drop
  // Client 2 drops before masking: its input is left out and its pairwise
  // masks are reconstructed away. Clients 5 and 6 drop after masking: their
  // inputs still count.
  ASSERT_TRUE(round->DropOut(2).ok());
  for (int64_t id : ids) {
    if (id == 2) continue;
    ASSERT_TRUE(round->MaskedInput(id, in.updates[id]).ok());
  }
  EXPECT_EQ(round->MaskedInput(2, in.updates[2]).status().code(), StatusCode::kFailedPrecondition);
  ASSERT_TRUE(round->DropOut(5).ok());
  ASSERT_TRUE(round->DropOut(6).ok());
  StatusOr<std::vector<double>> sum = round->UnmaskSum();
  ASSERT_TRUE(sum.ok()) << sum.status();
  const std::vector<int64_t> summed = {1, 3, 4, 5, 6, 7};
  EXPECT_EQ(round->summed_clients(), summed);
  ExpectSumOf(*sum, in, summed, round->codec()->SumErrorBound(7));
  EXPECT_EQ(round->server_view().revealed_key_shares, 4);  // one per responder, of client 2
}

TEST(SecAggRoundTest, MoreThanNMinusTDropoutsFailClearly) {
  const std::vector<int64_t> ids = {1, 2, 3, 4, 5};
  const size_t d = 64;
  Inputs in = MakeInputs(ids, d);
  {
    auto round = Start(ids, d, 3);
    for (int64_t id : ids) ASSERT_TRUE(round->MaskedInput(id, in.updates[id]).ok());
    for (int64_t id : {1, 2, 3}) ASSERT_TRUE(round->DropOut(id).ok());
    Status s = round->UnmaskSum().status();
    EXPECT_EQ(s.code(), StatusCode::kFailedPrecondition);
    EXPECT_NE(s.message().find("only 2 of 5 clients answered"), std::string::npos) << s;
    EXPECT_NE(s.message().find("threshold 3"), std::string::npos) << s;
  }
  {
    auto round = Start(ids, d, 3);
    for (int64_t id : {1, 2}) ASSERT_TRUE(round->MaskedInput(id, in.updates[id]).ok());
    Status s = round->UnmaskSum().status();
    EXPECT_EQ(s.code(), StatusCode::kFailedPrecondition);
    EXPECT_NE(s.message().find("only 2 of 5 clients sent masked inputs"), std::string::npos) << s;
  }
}

TEST(SecAggRoundTest, ShareTamperedInTransitIsDetected) {
  const std::vector<int64_t> ids = {1, 2, 3, 4};
  const size_t d = 32;
  Inputs in = MakeInputs(ids, d);
  auto round = Start(ids, d, 3);
  ASSERT_TRUE(round->TamperRelayedShare(2, 4).ok());
  for (int64_t id : ids) ASSERT_TRUE(round->MaskedInput(id, in.updates[id]).ok());
  Status s = round->UnmaskSum().status();
  EXPECT_EQ(s.code(), StatusCode::kDataLoss);
  EXPECT_NE(s.message().find("client 2 sent to client 4 fails authentication"), std::string::npos)
      << s;
  EXPECT_EQ(round->TamperRelayedShare(9, 4).code(), StatusCode::kNotFound);
}

TEST(SecAggRoundTest, CorruptedRevealedShareIsDetected) {
  const std::vector<int64_t> ids = {1, 2, 3, 4, 5};
  const size_t d = 32;
  Inputs in = MakeInputs(ids, d);
  {
    // More responders than t: the extra shares expose the inconsistency.
    auto round = Start(ids, d, 3);
    ASSERT_TRUE(round->CorruptRevealedShare(4, 2).ok());
    for (int64_t id : ids) ASSERT_TRUE(round->MaskedInput(id, in.updates[id]).ok());
    Status s = round->UnmaskSum().status();
    EXPECT_EQ(s.code(), StatusCode::kDataLoss);
    EXPECT_NE(s.message().find("self-mask seed of client 2"), std::string::npos) << s;
  }
  {
    // Exactly t responders, corrupted share of a dropped client's mask key:
    // caught by the advertised public key.
    auto round = Start(ids, d, 3);
    ASSERT_TRUE(round->DropOut(1).ok());
    for (int64_t id : {2, 3, 4, 5}) ASSERT_TRUE(round->MaskedInput(id, in.updates[id]).ok());
    ASSERT_TRUE(round->DropOut(5).ok());
    ASSERT_TRUE(round->CorruptRevealedShare(3, 1).ok());
    Status s = round->UnmaskSum().status();
    EXPECT_EQ(s.code(), StatusCode::kDataLoss);
    EXPECT_NE(s.message().find("client 1"), std::string::npos) << s;
  }
  {
    // Exactly t responders, corrupted self-mask share: caught by the commitment.
    auto round = Start(ids, d, 3);
    for (int64_t id : ids) ASSERT_TRUE(round->MaskedInput(id, in.updates[id]).ok());
    ASSERT_TRUE(round->DropOut(4).ok());
    ASSERT_TRUE(round->DropOut(5).ok());
    ASSERT_TRUE(round->CorruptRevealedShare(2, 3).ok());
    Status s = round->UnmaskSum().status();
    EXPECT_EQ(s.code(), StatusCode::kDataLoss);
    EXPECT_NE(s.message().find("client 3"), std::string::npos) << s;
  }
}

// The server's view of one client: its masked input. Decoded as the server
// would decode a sum, it must be uncorrelated with the update and uniform.
TEST(SecAggRoundTest, MaskedInputLooksLikeNoise) {
  const std::vector<int64_t> ids = {1, 2, 3};
  const size_t d = 20000;
  std::map<int64_t, std::vector<float>> updates;
  // A very structured update: a ramp, so that any leak would correlate.
  std::vector<float> ramp(d);
  for (size_t i = 0; i < d; ++i) ramp[i] = static_cast<float>(-0.9 + 1.8 * i / d);
  auto round = Start(ids, d, 2);
  StatusOr<std::vector<uint32_t>> y = round->MaskedInput(1, ramp);
  ASSERT_TRUE(y.ok());
  double mx = 0, my = 0;
  std::vector<double> masked(d);
  int64_t top_bit = 0;
  for (size_t i = 0; i < d; ++i) {
    masked[i] = static_cast<double>(static_cast<int32_t>((*y)[i]));
    mx += ramp[i];
    my += masked[i];
    top_bit += (*y)[i] >> 31;
  }
  mx /= d;
  my /= d;
  double sxy = 0, sxx = 0, syy = 0;
  for (size_t i = 0; i < d; ++i) {
    sxy += (ramp[i] - mx) * (masked[i] - my);
    sxx += (ramp[i] - mx) * (ramp[i] - mx);
    syy += (masked[i] - my) * (masked[i] - my);
  }
  const double r = sxy / std::sqrt(sxx * syy);
  EXPECT_LT(std::fabs(r), 0.03);  // 4 standard errors of r at d = 20000
  // Half the words have the top bit set, as for uniform words (4 sigma).
  EXPECT_NEAR(static_cast<double>(top_bit) / d, 0.5, 4 * 0.5 / std::sqrt(double(d)));
  // Without masks the encoding correlates perfectly with the ramp.
  std::vector<double> plain(d);
  for (size_t i = 0; i < d; ++i) plain[i] = static_cast<int32_t>(round->codec()->Encode(ramp[i]));
  double px = 0;
  for (double v : plain) px += v;
  px /= d;
  double pxy = 0, pyy = 0;
  for (size_t i = 0; i < d; ++i) {
    pxy += (ramp[i] - mx) * (plain[i] - px);
    pyy += (plain[i] - px) * (plain[i] - px);
  }
  EXPECT_GT(pxy / std::sqrt(sxx * pyy), 0.999);
}

TEST(SecAggRoundTest, EnforcesProtocolOrder) {
  SecAggOptions o;
  o.dim = 4;
  o.simulation_seed = 1;
  auto round = std::move(*SecAggRound::Create(o));
  ASSERT_TRUE(round->AddClient(1).ok());
  EXPECT_EQ(round->AddClient(1).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(round->ShareKeys().code(), StatusCode::kFailedPrecondition);  // one client
  ASSERT_TRUE(round->AddClient(2).ok());
  EXPECT_EQ(round->MaskedInput(1, {0, 0, 0, 0}).status().code(), StatusCode::kFailedPrecondition);
  ASSERT_TRUE(round->ShareKeys().ok());
  EXPECT_EQ(round->threshold(), 2);
  EXPECT_EQ(round->AddClient(3).code(), StatusCode::kFailedPrecondition);
  EXPECT_EQ(round->MaskedInput(1, {0, 0, 0}).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(round->MaskedInput(1, {0, NAN, 0, 0}).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(round->MaskedInput(7, {0, 0, 0, 0}).status().code(), StatusCode::kInvalidArgument);
  ASSERT_TRUE(round->MaskedInput(1, {0.25f, 0, 0, 0}).ok());
  EXPECT_EQ(round->MaskedInput(1, {0, 0, 0, 0}).status().code(), StatusCode::kFailedPrecondition);
  ASSERT_TRUE(round->MaskedInput(2, {0.5f, 0, 0, -1}).ok());
  StatusOr<std::vector<double>> sum = round->UnmaskSum();
  ASSERT_TRUE(sum.ok());
  EXPECT_EQ(*sum, (std::vector<double>{0.75, 0, 0, -1}));
  EXPECT_EQ(round->UnmaskSum().status().code(), StatusCode::kFailedPrecondition);
  SecAggOptions bad;
  EXPECT_EQ(SecAggRound::Create(bad).status().code(), StatusCode::kInvalidArgument);
}

TEST(SecureFedAvgTest, MatchesFedAvgAndRejectsNonFinite) {
  const size_t d = 300;
  std::vector<ClientUpdate> updates;
  for (int64_t id = 1; id <= 5; ++id) {
    updates.push_back(ClientUpdate{id, 10 * id, RandomUpdate(7 * id, d, 0.1)});
  }
  for (bool weighted : {true, false}) {
    std::vector<float> secure, plain;
    SecureFedAvgOptions o;
    o.weighted = weighted;
    SecAggServerView view;
    AggregationReport report;
    ASSERT_TRUE(AggregateSecureFedAvg(updates, o, Seed(5), &report, &secure, &view).ok());
    ASSERT_TRUE(AggregateFedAvg(updates, weighted, &plain).ok());
    for (size_t i = 0; i < d; ++i) EXPECT_NEAR(secure[i], plain[i], 1e-6) << i;
    EXPECT_EQ(view.masked_inputs.size(), 5u);
    EXPECT_EQ(report.selected_clients.size(), 5u);
  }
  updates[2].values[17] = NAN;
  std::vector<float> out;
  AggregationReport report;
  ASSERT_TRUE(AggregateSecureFedAvg(updates, {}, Seed(5), &report, &out).ok());
  ASSERT_EQ(report.rejected.size(), 1u);
  EXPECT_EQ(report.rejected[0].first, 3);
  EXPECT_NE(report.rejected[0].second.find("index 17"), std::string::npos);
  for (float v : out) EXPECT_TRUE(std::isfinite(v));
}

TEST(SecureFedAvgTest, RegisteredAsAnAggregator) {
  ASSERT_TRUE(RegisterPrivacyAggregators().ok());
  StatusOr<AggregatorPtr> agg =
      CreateAggregator("secure_fedavg", {{"range", 0.5}, {"weighted", false}});
  ASSERT_TRUE(agg.ok()) << agg.status();
  std::vector<ClientUpdate> updates = {ClientUpdate{1, 1, {0.25f, -0.5f}},
                                       ClientUpdate{2, 1, {0.25f, 0.5f}},
                                       ClientUpdate{3, 1, {0.25f, 0.25f}}};
  std::vector<float> out;
  AggregationContext ctx;
  ctx.round = 1;
  ctx.seed = Seed(3);
  ASSERT_TRUE((*agg)->Aggregate(updates, ctx, &out).ok());
  EXPECT_NEAR(out[0], 0.25f, 1e-7);
  EXPECT_NEAR(out[1], 0.25f / 3, 1e-7);
  auto* sa = dynamic_cast<SecureFedAvgAggregator*>(agg->get());
  ASSERT_NE(sa, nullptr);
  EXPECT_EQ(sa->last_view().masked_inputs.size(), 3u);
  EXPECT_EQ(CreateAggregator("secure_fedavg", {{"range", 0.0}}).status().code(),
            StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace confml::defenses
