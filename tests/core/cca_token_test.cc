// The CCA token codec against the token TF-RMM produced on Arm's FVP
// (../shared/cca-tokens), plus issue/decode round trips.

#include "confml/core/cca_token.h"

#include <gtest/gtest.h>

#include <string>

#include "confml/core/cbor.h"
#include "confml/core/file_util.h"

namespace confml {
namespace {

const std::string kTokenPath = std::string(CONFML_SHARED_DIR) + "/cca-tokens/tf-rmm-fvp-token.cbor";
const std::string kCpakPath =
    std::string(CONFML_SHARED_DIR) + "/cca-tokens/tf-rmm-fvp-cpak.pub.pem";

Bytes RecordedToken() {
  auto bytes = ReadFileBytes(kTokenPath);
  EXPECT_TRUE(bytes.ok()) << bytes.status();
  return bytes.ok() ? *bytes : Bytes();
}

EcKey RecordedCpak() {
  auto pem = ReadFileText(kCpakPath);
  EXPECT_TRUE(pem.ok()) << pem.status();
  auto key = EcKey::FromPublicPem(*pem);
  EXPECT_TRUE(key.ok()) << key.status();
  return *key;
}

TEST(CcaTokenTest, RecordedTokenDecodesEveryClaim) {
  auto token = DecodeCcaToken(RecordedToken());
  ASSERT_TRUE(token.ok()) << token.status();
  const PlatformClaims& p = token->platform;
  EXPECT_EQ(p.profile, "http://arm.com/CCA-SSD/1.0.0");
  EXPECT_EQ(p.lifecycle, 0x3003u);
  EXPECT_TRUE(IsLifecycleSecured(p.lifecycle));
  EXPECT_EQ(p.hash_algorithm_id, "sha-256");
  EXPECT_EQ(p.challenge.size(), 32u);
  EXPECT_EQ(p.implementation_id.size(), 32u);
  EXPECT_EQ(p.instance_id.size(), 33u);
  EXPECT_EQ(p.instance_id[0], 0x01);
  EXPECT_EQ(p.verification_service, std::optional<std::string>("whatever.com"));
  ASSERT_EQ(p.sw_components.size(), 4u);
  EXPECT_EQ(p.sw_components[0].measurement_type, std::optional<std::string>("BL"));
  EXPECT_EQ(p.sw_components[0].version, std::optional<std::string>("3.4.2"));
  EXPECT_EQ(p.sw_components[0].hash_algorithm_id, std::optional<std::string>("sha-256"));
  EXPECT_EQ(p.sw_components[1].measurement_type, std::optional<std::string>("M1"));
  EXPECT_EQ(p.sw_components[3].measurement_type, std::optional<std::string>("M3"));
  for (const SwComponent& sc : p.sw_components) {
    EXPECT_EQ(sc.measurement_value.size(), 32u);
    EXPECT_EQ(sc.signer_id.size(), 32u);
  }

  const RealmClaims& r = token->realm;
  EXPECT_FALSE(r.profile.has_value());
  EXPECT_EQ(r.challenge, Bytes(64, 0xab));
  const std::string rpv(r.personalization_value.begin(), r.personalization_value.end());
  EXPECT_EQ(rpv.substr(0, 44), "The quick brown fox jumps over 13 lazy dogs.");
  EXPECT_EQ(r.hash_algorithm_id, "sha-256");
  EXPECT_EQ(r.public_key_hash_algorithm_id, "sha-256");
  EXPECT_EQ(r.public_key.size(), 97u);
  EXPECT_EQ(r.public_key[0], 0x04);
  EXPECT_EQ(r.rim, Bytes(32, 0));
  for (const Bytes& rem : r.rems) EXPECT_EQ(rem, Bytes(32, 0));

  EXPECT_TRUE(token->platform_cose.tagged);
  EXPECT_TRUE(token->realm_cose.tagged);
  EXPECT_EQ(token->platform_cose.algorithm, kCoseAlgEs384);
}

TEST(CcaTokenTest, RecordedTokenSignaturesAndBindingVerify) {
  auto token = DecodeCcaToken(RecordedToken());
  ASSERT_TRUE(token.ok()) << token.status();
  EXPECT_TRUE(VerifyCoseSign1(token->platform_cose, RecordedCpak()).ok());
  auto rak = RealmPublicKey(token->realm);
  ASSERT_TRUE(rak.ok()) << rak.status();
  EXPECT_TRUE(VerifyCoseSign1(token->realm_cose, *rak).ok());
  auto binding = RakBinding(token->realm);
  ASSERT_TRUE(binding.ok());
  EXPECT_EQ(*binding, token->platform.challenge);
  // The RAK does not verify the platform token, nor the CPAK the realm token.
  EXPECT_EQ(VerifyCoseSign1(token->platform_cose, *rak).code(), StatusCode::kUnauthenticated);
  EXPECT_EQ(VerifyCoseSign1(token->realm_cose, RecordedCpak()).code(),
            StatusCode::kUnauthenticated);
}

TEST(CcaTokenTest, ReencodingClaimsReproducesTheRecordedPayloads) {
  // Our encoder uses the same key order and preferred serialization as
  // TF-RMM, so the payloads re-encode byte for byte.
  auto token = DecodeCcaToken(RecordedToken());
  ASSERT_TRUE(token.ok());
  auto p = EncodePlatformClaims(token->platform);
  auto r = EncodeRealmClaims(token->realm);
  ASSERT_TRUE(p.ok()) << p.status();
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(*p, token->platform_cose.payload);
  EXPECT_EQ(*r, token->realm_cose.payload);
}

TEST(CcaTokenTest, RejectsTrailingBytesAndEveryTruncation) {
  Bytes token = RecordedToken();
  Bytes longer = token;
  longer.push_back(0x00);
  EXPECT_EQ(DecodeCcaToken(longer).status().code(), StatusCode::kInvalidArgument);
  for (size_t n = 0; n < token.size(); ++n) {
    EXPECT_FALSE(DecodeCcaToken(ByteSpan(token.data(), n)).ok())
        << "prefix of " << n << " bytes accepted";
  }
}

TEST(CcaTokenTest, RejectsWrongTagAndStructure) {
  Bytes token = RecordedToken();
  Bytes t = token;
  t[2] = 0x90;  // tag 400
  EXPECT_FALSE(DecodeCcaToken(t).ok());
  // Untagged collection.
  EXPECT_FALSE(DecodeCcaToken(ByteSpan(token.data() + 3, token.size() - 3)).ok());
  // Oversized input is refused before parsing.
  Bytes huge(kMaxCcaTokenSize + 1, 0);
  EXPECT_NE(DecodeCcaToken(huge).status().message().find("exceeds"), std::string::npos);
}

// Builds claims like a simulator would, signs with deterministic keys, and
// checks that decode returns exactly what was issued.
class IssueTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const Bytes seed(32, 0x42);
    auto cpak = EcKey::FromSeed(seed, "cpak");
    auto rak = EcKey::FromSeed(seed, "rak");
    ASSERT_TRUE(cpak.ok() && rak.ok());
    cpak_.emplace(*cpak);
    rak_.emplace(*rak);
    realm_.challenge = Bytes(64, 0x11);
    realm_.personalization_value = Bytes(64, 0x22);
    realm_.hash_algorithm_id = "sha-512";
    realm_.public_key = rak_->PublicPoint();
    realm_.public_key_hash_algorithm_id = "sha-256";
    realm_.rim = Bytes(64, 0x33);
    for (size_t i = 0; i < 4; ++i) realm_.rems[i] = Bytes(64, static_cast<uint8_t>(0x40 + i));
    platform_.profile = "http://arm.com/CCA-SSD/1.0.0";
    platform_.challenge = *RakBinding(realm_);
    platform_.implementation_id = Bytes(32, 0x55);
    platform_.instance_id = Bytes(33, 0x66);
    platform_.instance_id[0] = 0x01;
    platform_.config = {0xcf};
    platform_.lifecycle = 0x3000;
    platform_.sw_components = {
        SwComponent{"RMM", Bytes(32, 0x77), "1.0", Bytes(32, 0x88), "sha-256"},
        SwComponent{std::nullopt, Bytes(48, 0x99), std::nullopt, Bytes(48, 0xaa), std::nullopt}};
    platform_.hash_algorithm_id = "sha-256";
  }

  StatusOr<Bytes> Issue() {
    CONFML_ASSIGN_OR_RETURN(Bytes r, SignRealmToken(realm_, *rak_));
    CONFML_ASSIGN_OR_RETURN(Bytes p, SignPlatformToken(platform_, *cpak_));
    return EncodeCcaToken(p, r);
  }

  std::optional<EcKey> cpak_, rak_;
  RealmClaims realm_;
  PlatformClaims platform_;
};

TEST_F(IssueTest, RoundTrip) {
  auto bytes = Issue();
  ASSERT_TRUE(bytes.ok()) << bytes.status();
  auto token = DecodeCcaToken(*bytes);
  ASSERT_TRUE(token.ok()) << token.status();
  EXPECT_EQ(token->platform, platform_);
  EXPECT_EQ(token->realm, realm_);
  EXPECT_TRUE(VerifyCoseSign1(token->platform_cose, cpak_->PublicOnly()).ok());
  EXPECT_TRUE(VerifyCoseSign1(token->realm_cose, *RealmPublicKey(token->realm)).ok());
}

TEST_F(IssueTest, RejectsClaimsThatWouldNotDecode) {
  realm_.challenge = Bytes(63, 0);
  EXPECT_EQ(SignRealmToken(realm_, *rak_).status().code(), StatusCode::kInvalidArgument);
  realm_.challenge = Bytes(64, 0);
  realm_.rim = Bytes(32, 0);  // sha-512 realm with a 32-byte RIM
  EXPECT_EQ(SignRealmToken(realm_, *rak_).status().code(), StatusCode::kInvalidArgument);
  platform_.sw_components.clear();
  EXPECT_EQ(SignPlatformToken(platform_, *cpak_).status().code(), StatusCode::kInvalidArgument);
  platform_.sw_components = {
      SwComponent{std::nullopt, Bytes(32, 1), std::nullopt, Bytes(32, 2), std::nullopt}};
  platform_.lifecycle = 0x7000;
  EXPECT_EQ(SignPlatformToken(platform_, *cpak_).status().code(), StatusCode::kInvalidArgument);
}

TEST_F(IssueTest, SigningNeedsAPrivateP384Key) {
  EXPECT_EQ(SignRealmToken(realm_, rak_->PublicOnly()).status().code(),
            StatusCode::kFailedPrecondition);
  auto p256 = EcKey::FromSeed(Bytes(32, 1), "x", EcCurve::kP256);
  ASSERT_TRUE(p256.ok());
  EXPECT_EQ(SignPlatformToken(platform_, *p256).status().code(), StatusCode::kFailedPrecondition);
}

TEST_F(IssueTest, RealmProfile2023CarriesACoseKey) {
  const Bytes point = rak_->PublicPoint();
  cbor::Value cose_key = cbor::Value::Map({
      {cbor::Value::Int(1), cbor::Value::Int(2)},
      {cbor::Value::Int(-1), cbor::Value::Int(2)},
      {cbor::Value::Int(-2), cbor::Value::ByteString(ByteSpan(point.data() + 1, 48))},
      {cbor::Value::Int(-3), cbor::Value::ByteString(ByteSpan(point.data() + 49, 48))},
  });
  realm_.profile = "tag:arm.com,2023:realm#1.0.0";
  realm_.public_key = cbor::Encode(cose_key);
  platform_.challenge = *RakBinding(realm_);
  auto bytes = Issue();
  ASSERT_TRUE(bytes.ok()) << bytes.status();
  auto token = DecodeCcaToken(*bytes);
  ASSERT_TRUE(token.ok()) << token.status();
  auto rak = RealmPublicKey(token->realm);
  ASSERT_TRUE(rak.ok()) << rak.status();
  EXPECT_TRUE(rak->SamePublicKey(*rak_));
  // A raw point under the 2023 profile is refused.
  realm_.public_key = point;
  EXPECT_FALSE(SignRealmToken(realm_, *rak_).ok());
}

TEST(CoseSign1Test, SigStructureMatchesRfc9052Layout) {
  CoseSign1 c;
  c.protected_header = {0xa1, 0x01, 0x38, 0x22};
  c.payload = {0x01, 0x02};
  const Bytes expected = {0x84, 0x6a, 'S',  'i',  'g',  'n',  'a',  't',  'u',  'r', 'e',
                          '1',  0x44, 0xa1, 0x01, 0x38, 0x22, 0x40, 0x42, 0x01, 0x02};
  EXPECT_EQ(c.ToBeSigned(), expected);
}

}  // namespace
}  // namespace confml
