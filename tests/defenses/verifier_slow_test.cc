// Exhaustive tamper sweeps (slow label): every single-byte change (three
// values per position) and every truncation of the recorded FVP token, and
// every bit-0 flip of a signed policy. Run under ASan+UBSan as well (see
// docs/attestation.md for the command).

#include <gtest/gtest.h>

#include <string>

#include "confml/core/file_util.h"
#include "confml/defenses/policy.h"
#include "confml/defenses/verifier.h"

namespace confml::defenses {
namespace {

const std::string kDir = std::string(CONFML_SHARED_DIR) + "/cca-tokens/";

TEST(VerifierSweepTest, EverySingleByteChangeAndTruncationIsRejected) {
  const Bytes token = *ReadFileBytes(kDir + "tf-rmm-fvp-token.cbor");
  VerifierInputs in;
  in.trust_anchors.push_back(
      *EcKey::FromPublicPem(*ReadFileText(kDir + "tf-rmm-fvp-cpak.pub.pem")));
  in.expected_nonce = Bytes(64, 0xab);
  ASSERT_TRUE(Verify(token, in).ok());
  size_t decode_failures = 0, finding_failures = 0;
  for (size_t i = 0; i < token.size(); ++i) {
    for (uint8_t x : {0x01, 0x80, 0xff}) {
      Bytes t = token;
      t[i] ^= x;
      Verdict v = Verify(t, in);
      ASSERT_FALSE(v.ok()) << "byte " << i << " ^ " << int(x) << " accepted: " << v.ToJson();
      const Finding* decode = v.Find(kCheckDecode);
      ASSERT_NE(decode, nullptr);
      (decode->passed ? finding_failures : decode_failures)++;
    }
  }
  for (size_t n = 0; n < token.size(); ++n) {
    Verdict v = Verify(ByteSpan(token.data(), n), in);
    ASSERT_FALSE(v.ok()) << "truncation to " << n;
    ASSERT_FALSE(v.Find(kCheckDecode)->passed) << "truncation to " << n << " decoded";
  }
  // Both layers do work: changes to structure break the strict parse, and
  // changes inside byte strings (claims, signatures) fail a finding.
  EXPECT_GT(decode_failures, 100u);
  EXPECT_GT(finding_failures, 100u);
  std::printf(
      "token sweep: %zu changes rejected by decode, %zu by a failed finding, %zu truncations\n",
      decode_failures, finding_failures, token.size());
}

TEST(PolicySweepTest, EveryByteFlipOfASignedPolicyIsUnauthenticated) {
  const Bytes seed(32, 0x33);
  EcKey key = *EcKey::FromSeed(seed, "policy");
  Policy p;
  p.trust_anchors = {EcKey::FromSeed(seed, "cpak")->PublicPoint()};
  p.roles = {RolePolicy{"device", {RealmReference{Bytes(32, 1), std::nullopt, Bytes(64, 2)}}}};
  p.accepted_sw_components = {SwComponentReference{Bytes(32, 3), Bytes(32, 4), "RMM", "1.0"}};
  const Bytes signed_policy = *SignPolicy(p, key);
  for (size_t i = 0; i < signed_policy.size(); ++i) {
    Bytes t = signed_policy;
    t[i] ^= 0x01;
    auto r = LoadSignedPolicy(t, key.PublicOnly());
    ASSERT_EQ(r.status().code(), StatusCode::kUnauthenticated) << "flip at " << i;
  }
}

}  // namespace
}  // namespace confml::defenses
