// The verifier against the TF-RMM FVP token and against tokens issued here,
// one wrong claim at a time; the signed policy; the nonce registry.

#include "confml/defenses/verifier.h"

#include <gtest/gtest.h>

#include <string>

#include "confml/core/file_util.h"
#include "confml/defenses/policy.h"

namespace confml::defenses {
namespace {

const std::string kDir = std::string(CONFML_SHARED_DIR) + "/cca-tokens/";

Bytes RecordedToken() { return *ReadFileBytes(kDir + "tf-rmm-fvp-token.cbor"); }
EcKey RecordedCpak() {
  return *EcKey::FromPublicPem(*ReadFileText(kDir + "tf-rmm-fvp-cpak.pub.pem"));
}

VerifierInputs RecordedInputs() {
  VerifierInputs in;
  in.trust_anchors.push_back(RecordedCpak());
  in.expected_nonce = Bytes(64, 0xab);
  return in;
}

bool Passed(const Verdict& v, std::string_view check) {
  const Finding* f = v.Find(check);
  return f != nullptr && f->passed;
}

TEST(VerifierRecordedTest, RecordedTokenPassesEveryCheck) {
  Verdict v = Verify(RecordedToken(), RecordedInputs());
  EXPECT_TRUE(v.ok()) << v.ToJson();
  for (auto c : {kCheckDecode, kCheckPlatformSignature, kCheckRealmSignature, kCheckRakBinding,
                 kCheckChallenge, kCheckLifecycle}) {
    EXPECT_TRUE(Passed(v, c)) << c;
  }
  ASSERT_TRUE(v.token().has_value());
  EXPECT_EQ(v.token()->platform.sw_components.size(), 4u);
}

TEST(VerifierRecordedTest, AnyOtherKeyFailsOnlyThePlatformSignature) {
  VerifierInputs in = RecordedInputs();
  in.trust_anchors = {EcKey::FromSeed(Bytes(32, 9), "not-the-cpak")->PublicOnly()};
  Verdict v = Verify(RecordedToken(), in);
  EXPECT_FALSE(v.ok());
  EXPECT_EQ(v.FailedChecks(), std::vector<std::string>{"platform_signature"});
  in.trust_anchors.clear();
  EXPECT_EQ(Verify(RecordedToken(), in).FailedChecks(),
            std::vector<std::string>{"platform_signature"});
  // Several anchors: one right one suffices.
  in.trust_anchors = {EcKey::FromSeed(Bytes(32, 9), "other")->PublicOnly(), RecordedCpak()};
  EXPECT_TRUE(Verify(RecordedToken(), in).ok());
}

TEST(VerifierRecordedTest, NonceMustMatchAndBeGiven) {
  VerifierInputs in = RecordedInputs();
  in.expected_nonce = Bytes(64, 0xac);
  EXPECT_EQ(Verify(RecordedToken(), in).FailedChecks(), std::vector<std::string>{"challenge"});
  in.expected_nonce.reset();
  EXPECT_EQ(Verify(RecordedToken(), in).FailedChecks(), std::vector<std::string>{"challenge"});
  in.expected_nonce = Bytes(32, 0xab);
  EXPECT_EQ(Verify(RecordedToken(), in).FailedChecks(), std::vector<std::string>{"challenge"});
}

// A sample of single-byte changes (every 7th position); the exhaustive sweep
// over every position, three values and every truncation is in
// verifier_slow_test.cc.
TEST(VerifierRecordedTest, SampledByteChangesAreRejected) {
  const Bytes token = RecordedToken();
  const VerifierInputs in = RecordedInputs();
  for (size_t i = 0; i < token.size(); i += 7) {
    Bytes t = token;
    t[i] ^= 0x01;
    Verdict v = Verify(t, in);
    ASSERT_FALSE(v.ok()) << "byte " << i << " accepted: " << v.ToJson();
  }
}

// ---- Tokens issued here, with a policy -----------------------------------------

class PolicyVerifierTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const Bytes seed(32, 0x17);
    cpak_.emplace(*EcKey::FromSeed(seed, "cpak"));
    rak_.emplace(*EcKey::FromSeed(seed, "rak"));
    policy_key_.emplace(*EcKey::FromSeed(seed, "policy"));
    nonce_ = Bytes(64, 0x5c);
    realm_.challenge = nonce_;
    realm_.personalization_value = Bytes(64, 0x01);
    realm_.hash_algorithm_id = "sha-256";
    realm_.public_key = rak_->PublicPoint();
    realm_.public_key_hash_algorithm_id = "sha-256";
    realm_.rim = Bytes(32, 0x0a);
    for (size_t i = 0; i < 4; ++i) realm_.rems[i] = Bytes(32, static_cast<uint8_t>(i));
    platform_.profile = "tag:arm.com,2023:cca_platform#1.0.0";
    platform_.implementation_id = Bytes(32, 0x10);
    platform_.instance_id = Bytes(33, 0x11);
    platform_.instance_id[0] = 0x01;
    platform_.config = {0x00, 0x01};
    platform_.lifecycle = 0x3000;
    platform_.sw_components = {
        SwComponent{"RMM", Bytes(32, 0x20), "1.0", Bytes(32, 0x21), "sha-256"},
        SwComponent{"BL2", Bytes(32, 0x30), "2.0", Bytes(32, 0x31), std::nullopt}};
    platform_.hash_algorithm_id = "sha-256";

    policy_.trust_anchors = {cpak_->PublicPoint()};
    policy_.roles = {
        RolePolicy{"device",
                   {RealmReference{realm_.rim, realm_.rems, realm_.personalization_value}}},
        RolePolicy{"runtime", {RealmReference{Bytes(32, 0x0b), std::nullopt, std::nullopt}}}};
    for (const SwComponent& sc : platform_.sw_components) {
      policy_.accepted_sw_components.push_back(
          {sc.measurement_value, sc.signer_id, sc.measurement_type, sc.version});
    }
  }

  Bytes Issue(bool bind = true) {
    Bytes r = *SignRealmToken(realm_, *rak_);
    if (bind) platform_.challenge = *RakBinding(realm_);
    Bytes p = *SignPlatformToken(platform_, *cpak_);
    return *EncodeCcaToken(p, r);
  }

  VerifierInputs Inputs() {
    VerifierInputs in;
    in.expected_nonce = nonce_;
    in.policy = &policy_;
    in.claimed_role = "device";
    return in;
  }

  std::optional<EcKey> cpak_, rak_, policy_key_;
  Bytes nonce_;
  RealmClaims realm_;
  PlatformClaims platform_;
  Policy policy_;
};

TEST_F(PolicyVerifierTest, HonestRealmIsAdmitted) {
  Verdict v = Verify(Issue(), Inputs());
  EXPECT_TRUE(v.ok()) << v.ToJson();
  EXPECT_EQ(v.findings().size(), 11u);
}

TEST_F(PolicyVerifierTest, EachWrongInputFailsExactlyItsFinding) {
  using Checks = std::vector<std::string>;
  const Bytes honest = Issue();
  {
    VerifierInputs in = Inputs();
    in.expected_nonce = Bytes(64, 0x5d);
    EXPECT_EQ(Verify(honest, in).FailedChecks(), Checks{"challenge"});
  }
  {
    Policy other = policy_;
    other.trust_anchors = {EcKey::FromSeed(Bytes(32, 1), "x")->PublicPoint()};
    VerifierInputs in = Inputs();
    in.policy = &other;
    EXPECT_EQ(Verify(honest, in).FailedChecks(), Checks{"platform_signature"});
  }
  {
    VerifierInputs in = Inputs();
    in.claimed_role = "runtime";  // its reference RIM differs
    EXPECT_EQ(Verify(honest, in).FailedChecks(), Checks{"rim"});
    in.claimed_role = "host";
    EXPECT_EQ(Verify(honest, in).FailedChecks(), (Checks{"role", "rim", "rems", "rpv"}));
  }
  realm_.rim[0] ^= 1;
  EXPECT_EQ(Verify(Issue(), Inputs()).FailedChecks(), Checks{"rim"});
  realm_.rim[0] ^= 1;
  realm_.rems[2][31] ^= 1;
  EXPECT_EQ(Verify(Issue(), Inputs()).FailedChecks(), Checks{"rems"});
  realm_.rems[2][31] ^= 1;
  realm_.personalization_value[5] ^= 1;
  EXPECT_EQ(Verify(Issue(), Inputs()).FailedChecks(), Checks{"rpv"});
  realm_.personalization_value[5] ^= 1;
  // Binding: the platform token vouches for another RAK.
  platform_.challenge = Sha256(EcKey::FromSeed(Bytes(32, 2), "evil")->PublicPoint());
  EXPECT_EQ(Verify(Issue(/*bind=*/false), Inputs()).FailedChecks(), Checks{"rak_binding"});
  // A realm token signed by a key other than the RAK it names.
  {
    Bytes r = *SignRealmToken(realm_, *EcKey::FromSeed(Bytes(32, 3), "not-rak"));
    platform_.challenge = *RakBinding(realm_);
    Bytes t = *EncodeCcaToken(*SignPlatformToken(platform_, *cpak_), r);
    EXPECT_EQ(Verify(t, Inputs()).FailedChecks(), Checks{"realm_signature"});
  }
  platform_.lifecycle = 0x2000;  // provisioning, not secured
  EXPECT_EQ(Verify(Issue(), Inputs()).FailedChecks(), Checks{"platform_lifecycle"});
  platform_.lifecycle = 0x3000;
  platform_.sw_components[1].version = "2.1";
  EXPECT_EQ(Verify(Issue(), Inputs()).FailedChecks(), Checks{"platform_sw_components"});
}

TEST_F(PolicyVerifierTest, NonceRegistryRejectsReplayAndForgeriesDoNotBurnNonces) {
  NonceRegistry nonces(8);
  auto nonce = nonces.Issue();
  ASSERT_TRUE(nonce.ok());
  realm_.challenge = *nonce;
  const Bytes token = Issue();
  VerifierInputs in = Inputs();
  in.expected_nonce.reset();
  in.nonce_registry = &nonces;
  // A forgery (wrong CPAK) carrying the outstanding nonce must not use it up.
  Bytes forged =
      *EncodeCcaToken(*SignPlatformToken(platform_, *EcKey::FromSeed(Bytes(32, 4), "fake-cpak")),
                      *SignRealmToken(realm_, *rak_));
  Verdict f = Verify(forged, in);
  EXPECT_FALSE(Passed(f, kCheckChallenge));
  EXPECT_EQ(nonces.outstanding(), 1u);

  EXPECT_TRUE(Verify(token, in).ok());
  Verdict replay = Verify(token, in);
  EXPECT_EQ(replay.FailedChecks(), std::vector<std::string>{"challenge"});
  EXPECT_EQ(nonces.outstanding(), 0u);
}

TEST(NonceRegistryTest, EvictsOldestAndNeverAcceptsUnknown) {
  NonceRegistry nonces(2);
  Bytes a = *nonces.Issue(), b = *nonces.Issue(), c = *nonces.Issue();
  EXPECT_EQ(a.size(), 64u);
  EXPECT_NE(a, b);
  EXPECT_EQ(nonces.outstanding(), 2u);
  EXPECT_FALSE(nonces.Consume(a).ok());  // evicted
  EXPECT_TRUE(nonces.Consume(c).ok());
  EXPECT_FALSE(nonces.Consume(c).ok());
  EXPECT_TRUE(nonces.Consume(b).ok());
  EXPECT_FALSE(nonces.Consume(Bytes(64, 0)).ok());
  // Interleaved issue/consume keeps the registry bounded.
  for (int i = 0; i < 1000; ++i) ASSERT_TRUE(nonces.Consume(*nonces.Issue()).ok());
  EXPECT_EQ(nonces.outstanding(), 0u);
}

TEST_F(PolicyVerifierTest, SignedPolicyRoundTripsAndTamperingIsUnauthenticated) {
  auto signed_policy = SignPolicy(policy_, *policy_key_);
  ASSERT_TRUE(signed_policy.ok()) << signed_policy.status();
  auto loaded = LoadSignedPolicy(*signed_policy, policy_key_->PublicOnly());
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  EXPECT_EQ(*loaded, policy_);
  EXPECT_EQ(LoadSignedPolicy(*signed_policy, cpak_->PublicOnly()).status().code(),
            StatusCode::kUnauthenticated);
  // Every 5th byte here; all bytes in verifier_slow_test.cc.
  for (size_t i = 0; i < signed_policy->size(); i += 5) {
    Bytes t = *signed_policy;
    t[i] ^= 0x01;
    auto r = LoadSignedPolicy(t, policy_key_->PublicOnly());
    ASSERT_FALSE(r.ok()) << "flip at " << i << " accepted";
    EXPECT_EQ(r.status().code(), StatusCode::kUnauthenticated) << i;
  }
  // A correctly signed but invalid payload is refused at encode time.
  Policy bad = policy_;
  bad.roles.push_back(bad.roles[0]);
  EXPECT_EQ(SignPolicy(bad, *policy_key_).status().code(), StatusCode::kInvalidArgument);
}

TEST_F(PolicyVerifierTest, EmptySwComponentListAcceptsNoPlatform) {
  policy_.accepted_sw_components.clear();
  EXPECT_EQ(Verify(Issue(), Inputs()).FailedChecks(),
            std::vector<std::string>{"platform_sw_components"});
}

TEST(VerdictTest, JsonEscapesAndEmptyVerdictIsNotOk) {
  Verdict v;
  EXPECT_FALSE(v.ok());
  v.Add("x", true, "a \"quoted\"\nline");
  EXPECT_TRUE(v.ok());
  EXPECT_EQ(v.ToJson(),
            "{\"ok\":true,\"findings\":[{\"check\":\"x\",\"passed\":true,\"detail\":\"a "
            "\\\"quoted\\\"\\nline\"}]}");
}

}  // namespace
}  // namespace confml::defenses
