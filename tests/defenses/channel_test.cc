// The attested channel between a verifier and a realm on the simulated CCA
// platform: the handshake admits only a token bound to the realm's key, and
// records resist tampering, replay, reordering and reflection.
#include "confml/defenses/channel.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "confml/defenses/policy.h"
#include "confml/defenses/verifier.h"
#include "confml/tee_sim/sim_backend.h"

namespace confml::defenses {
namespace {

std::vector<uint8_t> Program(uint8_t tag) {
  std::vector<uint8_t> img(5000);
  for (size_t i = 0; i < img.size(); ++i) img[i] = static_cast<uint8_t>(tag * 31 + i * 5);
  return img;
}

struct Ends {
  SecureChannel realm;
  SecureChannel verifier;
};

class ChannelTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto tee = tee_sim::NewSimTeeBackend(tee_sim::SimOptions{});
    ASSERT_TRUE(tee.ok()) << tee.status();
    tee_ = *std::move(tee);
    // The simulated platform's CPAK is the trust anchor, as a verifier would
    // provision a real platform's.
    auto cpak =
        EcKey::FromPublicPoint(EcCurve::kP384, tee_sim::SimPlatform(*tee_)->cpak_public_point());
    ASSERT_TRUE(cpak.ok());
    inputs_.trust_anchors.push_back(*cpak);
    params_.private_memory_bytes = 4096;
    auto realm = tee_->CreateRealm(Program(1), params_);
    ASSERT_TRUE(realm.ok()) << realm.status();
    realm_ = *std::move(realm);
  }

  Bytes Nonce(uint8_t fill) { return Bytes(kChannelNonceSize, fill); }

  // The realm's half of the handshake, run inside the realm.
  StatusOr<RealmHandshake> RealmStart(const Bytes& nonce, RealmChannelOptions o = {}) {
    std::optional<StatusOr<RealmHandshake>> out;
    Status s = realm_->Run([&](RealmContext& ctx) -> Status {
      out.emplace(RealmHandshake::Start(ctx, nonce, o));
      return OkStatus();
    });
    if (!s.ok()) return s;
    return std::move(*out);
  }

  StatusOr<Ends> Connect(const Bytes& nonce, RealmChannelOptions ro = {},
                         VerifierChannelOptions vo = {}) {
    CONFML_ASSIGN_OR_RETURN(RealmHandshake hs, RealmStart(nonce, std::move(ro)));
    CONFML_ASSIGN_OR_RETURN(AcceptedRealm acc, AcceptRealm(hs.hello(), nonce, inputs_, vo));
    CONFML_ASSIGN_OR_RETURN(SecureChannel realm_end, hs.Finish(acc.reply));
    return Ends{std::move(realm_end), std::move(acc.channel)};
  }

  std::unique_ptr<TeeBackend> tee_;
  std::unique_ptr<TeeRealm> realm_;
  RealmParams params_;
  VerifierInputs inputs_;
};

bool HasFinding(const Verdict& v, std::string_view check, bool passed) {
  const Finding* f = v.Find(check);
  return f != nullptr && f->passed == passed;
}

TEST_F(ChannelTest, BothDirectionsWorkAndTheHostSeesOnlyCiphertext) {
  TransportRecorder wire;
  RealmChannelOptions ro;
  ro.transport_log = wire.Hook();
  VerifierChannelOptions vo;
  vo.transport_log = wire.Hook();
  auto ends = Connect(Nonce(0x11), ro, vo);
  ASSERT_TRUE(ends.ok()) << ends.status();
  EXPECT_EQ(ends->realm.transcript_hash(), ends->verifier.transcript_hash());

  const std::string model = "MODEL-WEIGHTS-MARKER-7f3a9c";
  const std::string input = "USER-INPUT-MARKER-b41d02";
  for (int i = 0; i < 3; ++i) {
    auto down = ends->verifier.Seal(AsBytes(model));
    ASSERT_TRUE(down.ok());
    auto got = ends->realm.Open(*down);
    ASSERT_TRUE(got.ok()) << got.status();
    EXPECT_EQ(std::string(got->begin(), got->end()), model);
    auto up = ends->realm.Seal(AsBytes(input));
    ASSERT_TRUE(up.ok());
    auto back = ends->verifier.Open(*up);
    ASSERT_TRUE(back.ok()) << back.status();
    EXPECT_EQ(std::string(back->begin(), back->end()), input);
  }
  // Same plaintext three times, three different records.
  auto entries = wire.entries();
  ASSERT_EQ(entries.size(), 2u + 6u);
  EXPECT_EQ(entries[0].kind, "realm_hello");
  EXPECT_EQ(entries[1].kind, "verifier_reply");
  EXPECT_NE(entries[2].bytes, entries[4].bytes);
  EXPECT_FALSE(wire.Contains(AsBytes(model)));
  EXPECT_FALSE(wire.Contains(AsBytes(input)));
  EXPECT_FALSE(wire.Contains(AsBytes("MARKER")));
  // The recorder itself finds what is there (the check above can fail).
  EXPECT_TRUE(wire.Contains(AsBytes("CMAH")));
  EXPECT_EQ(ends->verifier.records_sent(), 3u);
  EXPECT_EQ(ends->realm.records_received(), 3u);
}

TEST_F(ChannelTest, EveryModifiedRecordByteIsRejected) {
  auto probe = Connect(Nonce(0x21));
  ASSERT_TRUE(probe.ok());
  const Bytes plain = {1, 2, 3, 4, 5, 6, 7, 8};
  const size_t size = probe->verifier.Seal(plain)->size();
  for (size_t pos = 0; pos < size; ++pos) {
    auto ends = Connect(Nonce(static_cast<uint8_t>(pos)));
    ASSERT_TRUE(ends.ok());
    Bytes record = *ends->verifier.Seal(plain);
    record[pos] ^= 0x01;
    auto opened = ends->realm.Open(record);
    ASSERT_FALSE(opened.ok()) << "byte " << pos;
    EXPECT_TRUE(opened.status().code() == StatusCode::kDataLoss ||
                opened.status().code() == StatusCode::kAborted)
        << opened.status();
    // Closed for good, even for the genuine record.
    record[pos] ^= 0x01;
    EXPECT_EQ(ends->realm.Open(record).status().code(), StatusCode::kFailedPrecondition);
  }
  // Truncation.
  auto ends = Connect(Nonce(0x22));
  ASSERT_TRUE(ends.ok());
  Bytes record = *ends->realm.Seal(plain);
  record.pop_back();
  EXPECT_EQ(ends->verifier.Open(record).status().code(), StatusCode::kDataLoss);
}

TEST_F(ChannelTest, ReplayedReorderedAndReflectedRecordsAreRejected) {
  auto ends = Connect(Nonce(0x31));
  ASSERT_TRUE(ends.ok());
  Bytes r0 = *ends->verifier.Seal(AsBytes("zero"));
  Bytes r1 = *ends->verifier.Seal(AsBytes("one"));
  ASSERT_TRUE(ends->realm.Open(r0).ok());
  auto replay = ends->realm.Open(r0);
  EXPECT_EQ(replay.status().code(), StatusCode::kAborted);
  EXPECT_NE(replay.status().message().find("replayed"), std::string::npos);

  auto other = Connect(Nonce(0x32));
  ASSERT_TRUE(other.ok());
  Bytes s0 = *other->verifier.Seal(AsBytes("zero"));
  Bytes s1 = *other->verifier.Seal(AsBytes("one"));
  EXPECT_EQ(other->realm.Open(s1).status().code(), StatusCode::kAborted);  // reordered

  auto third = Connect(Nonce(0x33));
  ASSERT_TRUE(third.ok());
  Bytes mine = *third->realm.Seal(AsBytes("to the verifier"));
  EXPECT_EQ(third->realm.Open(mine).status().code(), StatusCode::kDataLoss);  // reflected

  auto fourth = Connect(Nonce(0x34));
  ASSERT_TRUE(fourth.ok());
  // Records of another channel: out of sequence, or in sequence under other keys.
  EXPECT_EQ(fourth->realm.Open(r1).status().code(), StatusCode::kAborted);
  auto fifth = Connect(Nonce(0x35));
  ASSERT_TRUE(fifth.ok());
  EXPECT_EQ(fifth->realm.Open(s0).status().code(), StatusCode::kDataLoss);
}

TEST_F(ChannelTest, TokenBoundToAnotherKeyFailsTheChallengeCheck) {
  // A host in the middle keeps the realm's genuine token but offers its own
  // key, hoping the verifier encrypts to it.
  const Bytes nonce = Nonce(0x41);
  auto hs = RealmStart(nonce);
  ASSERT_TRUE(hs.ok()) << hs.status();
  auto host = RealmHandshake::StartWith(
      [&](ByteSpan) -> StatusOr<Bytes> {
        Bytes hello = hs->hello();  // "CMAH" 1 | u16 | key(97) | u32 | token
        return Bytes(hello.begin() + 4 + 1 + 2 + 97 + 4, hello.end());
      },
      nonce);
  ASSERT_TRUE(host.ok());
  Verdict verdict;
  auto acc = AcceptRealm(host->hello(), nonce, inputs_, {}, &verdict);
  ASSERT_FALSE(acc.ok());
  EXPECT_EQ(acc.status().code(), StatusCode::kUnauthenticated);
  EXPECT_NE(acc.status().message().find("challenge"), std::string::npos) << acc.status();
  EXPECT_EQ(verdict.FailedChecks(), std::vector<std::string>{"challenge"}) << verdict.ToJson();
  // The genuine hello passes with the same inputs.
  EXPECT_TRUE(AcceptRealm(hs->hello(), nonce, inputs_).ok());
}

TEST_F(ChannelTest, ReplayedTokenAndMissingBindingFail) {
  auto old = RealmStart(Nonce(0x51));
  ASSERT_TRUE(old.ok());
  Verdict verdict;
  auto replayed = AcceptRealm(old->hello(), Nonce(0x52), inputs_, {}, &verdict);
  ASSERT_FALSE(replayed.ok());
  EXPECT_NE(replayed.status().message().find("challenge"), std::string::npos);
  EXPECT_TRUE(HasFinding(verdict, kCheckChallenge, false));
  EXPECT_TRUE(HasFinding(verdict, kCheckPlatformSignature, true));

  // A realm that attests the bare nonce, not binding its key.
  const Bytes nonce = Nonce(0x53);
  auto unbound =
      RealmHandshake::StartWith([&](ByteSpan) { return realm_->AttestationToken(nonce); }, nonce);
  ASSERT_TRUE(unbound.ok());
  auto acc = AcceptRealm(unbound->hello(), nonce, inputs_, {}, &verdict);
  ASSERT_FALSE(acc.ok());
  EXPECT_EQ(verdict.FailedChecks(), std::vector<std::string>{"challenge"});
}

TEST_F(ChannelTest, NonceRegistryAdmitsEachHandshakeOnce) {
  NonceRegistry nonces;
  auto nonce = nonces.Issue();
  ASSERT_TRUE(nonce.ok());
  VerifierInputs in = inputs_;
  in.nonce_registry = &nonces;
  auto hs = RealmStart(*nonce);
  ASSERT_TRUE(hs.ok());
  auto first = AcceptRealm(hs->hello(), *nonce, in);
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_EQ(nonces.outstanding(), 0u);
  Verdict verdict;
  auto again = AcceptRealm(hs->hello(), *nonce, in, {}, &verdict);
  ASSERT_FALSE(again.ok());
  EXPECT_EQ(verdict.FailedChecks(), std::vector<std::string>{"channel_nonce"});
  // A nonce the registry never issued.
  auto stranger = RealmStart(Nonce(0x61));
  ASSERT_TRUE(stranger.ok());
  EXPECT_FALSE(AcceptRealm(stranger->hello(), Nonce(0x61), in).ok());
}

TEST_F(ChannelTest, PolicyFailureAndUntrustedPlatformNameTheirFinding) {
  Policy policy;
  policy.roles.push_back({"device", {RealmReference{Bytes(32, 0x00), std::nullopt, std::nullopt}}});
  const Bytes nonce = Nonce(0x71);
  auto hs = RealmStart(nonce);
  ASSERT_TRUE(hs.ok());
  auto token = DecodeCcaToken(Bytes(hs->hello().begin() + 108, hs->hello().end()));
  ASSERT_TRUE(token.ok()) << token.status();
  for (const SwComponent& sw : token->platform.sw_components) {
    policy.accepted_sw_components.push_back(
        {sw.measurement_value, sw.signer_id, std::nullopt, std::nullopt});
  }
  VerifierInputs in = inputs_;
  in.policy = &policy;
  in.claimed_role = "device";
  auto acc = AcceptRealm(hs->hello(), nonce, in);
  ASSERT_FALSE(acc.ok());
  EXPECT_NE(acc.status().message().find("rim:"), std::string::npos) << acc.status();
  // With the reference RIM the same hello is admitted.
  policy.roles[0].realms[0].rim = *tee_sim::ComputeReferenceRim(Program(1), params_);
  EXPECT_TRUE(AcceptRealm(hs->hello(), nonce, in).ok());

  VerifierInputs other;
  other.trust_anchors.push_back(*EcKey::Generate());
  Verdict verdict;
  EXPECT_FALSE(AcceptRealm(hs->hello(), nonce, other, {}, &verdict).ok());
  EXPECT_EQ(verdict.FailedChecks(), std::vector<std::string>{"platform_signature"});
}

TEST_F(ChannelTest, PinnedVerifierIdentityAuthenticatesTheReply) {
  auto identity = EcKey::Generate();
  auto impostor = EcKey::Generate();
  ASSERT_TRUE(identity.ok() && impostor.ok());
  RealmChannelOptions ro;
  ro.verifier_identity = identity->PublicOnly();
  VerifierChannelOptions vo;
  vo.identity_key = *identity;
  EXPECT_TRUE(Connect(Nonce(0x81), ro, vo).ok());
  vo.identity_key = *impostor;
  EXPECT_EQ(Connect(Nonce(0x82), ro, vo).status().code(), StatusCode::kUnauthenticated);
  EXPECT_EQ(Connect(Nonce(0x83), ro, {}).status().code(), StatusCode::kUnauthenticated);
}

TEST_F(ChannelTest, SubstitutedVerifierKeyFailsKeyConfirmation) {
  const Bytes nonce = Nonce(0x91);
  auto hs = RealmStart(nonce);
  ASSERT_TRUE(hs.ok());
  auto acc = AcceptRealm(hs->hello(), nonce, inputs_);
  ASSERT_TRUE(acc.ok());
  Bytes reply = acc->reply;
  Bytes host_key = EcKey::Generate()->PublicPoint();
  std::copy(host_key.begin(), host_key.end(), reply.begin() + 7);  // after magic, version, u16
  auto ch = hs->Finish(reply);
  EXPECT_EQ(ch.status().code(), StatusCode::kUnauthenticated) << ch.status();
  EXPECT_EQ(hs->Finish(acc->reply).status().code(), StatusCode::kFailedPrecondition);
}

TEST_F(ChannelTest, MalformedMessagesAreInvalidArgument) {
  const Bytes nonce = Nonce(0xA1);
  auto hs = RealmStart(nonce);
  ASSERT_TRUE(hs.ok());
  Bytes hello = hs->hello();
  EXPECT_EQ(AcceptRealm(Bytes(hello.begin(), hello.end() - 1), nonce, inputs_).status().code(),
            StatusCode::kInvalidArgument);
  Bytes longer = hello;
  longer.push_back(0);
  EXPECT_EQ(AcceptRealm(longer, nonce, inputs_).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(AcceptRealm({}, nonce, inputs_).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(AcceptRealm(hello, Bytes(32, 1), inputs_).status().code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(RealmStart(Bytes(63, 1)).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(hs->Finish(Bytes(10, 0)).status().code(), StatusCode::kInvalidArgument);
  // The binding is SHA-512(nonce || key), 64 bytes.
  auto c = ChannelBindingChallenge(nonce, hs->public_key());
  ASSERT_TRUE(c.ok());
  Bytes m = nonce;
  m.insert(m.end(), hs->public_key().begin(), hs->public_key().end());
  EXPECT_EQ(*c, Sha512(m));
}

TEST_F(ChannelTest, EveryTruncatedOrAlteredHandshakeMessageIsRejected) {
  const Bytes nonce = Nonce(0xB1);
  auto hs = RealmStart(nonce);
  ASSERT_TRUE(hs.ok());
  const Bytes hello = hs->hello();
  for (size_t n = 0; n < hello.size(); ++n) {
    EXPECT_FALSE(AcceptRealm(ByteSpan(hello).first(n), nonce, inputs_).ok()) << n;
  }
  // Header, key, token length, and the first bytes of the token.
  for (size_t pos = 0; pos < 140; ++pos) {
    Bytes altered = hello;
    altered[pos] ^= 0x40;
    EXPECT_FALSE(AcceptRealm(altered, nonce, inputs_).ok()) << pos;
  }
  auto acc = AcceptRealm(hello, nonce, inputs_);
  ASSERT_TRUE(acc.ok());
  const size_t reply_size = acc->reply.size();
  for (size_t pos = 0; pos < reply_size; ++pos) {
    auto fresh = RealmStart(nonce);
    ASSERT_TRUE(fresh.ok());
    auto accepted = AcceptRealm(fresh->hello(), nonce, inputs_);
    ASSERT_TRUE(accepted.ok());
    Bytes reply = accepted->reply;
    reply[pos] ^= 0x01;
    EXPECT_FALSE(fresh->Finish(reply).ok()) << pos;
    auto again = RealmStart(nonce);
    ASSERT_TRUE(again.ok());
    auto accepted2 = AcceptRealm(again->hello(), nonce, inputs_);
    ASSERT_TRUE(accepted2.ok());
    EXPECT_FALSE(again->Finish(ByteSpan(accepted2->reply).first(pos)).ok()) << pos;
  }
}

}  // namespace
}  // namespace confml::defenses
