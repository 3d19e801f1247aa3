// The tag-907 CMW form of the CCA token (RMM specification after 1.0,
// draft-ffm-rats-cca-token-02 and later). No recorded 907 token exists in
// ../shared/cca-tokens, so the tests rewrap the two COSE_Sign1 messages of
// the recorded TF-RMM (tag 399) token into a 907 collection: the signatures
// cover only the COSE payloads, so the rewrapped token must verify with the
// same CPAK, and every byte of its new wrapper must matter.

#include <gtest/gtest.h>

#include <string>

#include "confml/core/cbor.h"
#include "confml/core/cca_token.h"
#include "confml/core/file_util.h"

namespace confml {
namespace {

const std::string kDir = std::string(CONFML_SHARED_DIR) + "/cca-tokens/";

struct Recorded {
  Bytes token;     // tag 399, as recorded
  Bytes platform;  // the COSE_Sign1 bytes inside 44234
  Bytes realm;     // the COSE_Sign1 bytes inside 44241
};

Recorded LoadRecorded() {
  Recorded r;
  auto bytes = ReadFileBytes(kDir + "tf-rmm-fvp-token.cbor");
  EXPECT_TRUE(bytes.ok()) << bytes.status();
  if (!bytes.ok()) return r;
  r.token = *bytes;
  auto top = cbor::Decode(r.token);
  EXPECT_TRUE(top.ok()) << top.status();
  if (!top.ok()) return r;
  const cbor::Value& coll = top->tag_content();
  r.platform = coll.Find(kCcaPlatformTokenKey)->bytes();
  r.realm = coll.Find(kCcaRealmTokenKey)->bytes();
  return r;
}

EcKey RecordedCpak() {
  auto pem = ReadFileText(kDir + "tf-rmm-fvp-cpak.pub.pem");
  EXPECT_TRUE(pem.ok()) << pem.status();
  auto key = EcKey::FromPublicPem(pem.ok() ? *pem : std::string());
  EXPECT_TRUE(key.ok()) << key.status();
  return *key;
}

cbor::Value Record(uint64_t type, ByteSpan cose) {
  return cbor::Value::Array({cbor::Value::Uint(type), cbor::Value::ByteString(cose)});
}

Bytes Wrap(uint64_t tag, std::vector<cbor::Value::Entry> entries) {
  return cbor::Encode(cbor::Value::Tag(tag, cbor::Value::Map(std::move(entries))));
}

// Decodes and runs the three cryptographic checks a verifier makes (platform
// signature with the CPAK, realm signature with the RAK, RAK binding).
bool Accepted(ByteSpan bytes, const EcKey& cpak) {
  auto token = DecodeCcaToken(bytes);
  if (!token.ok()) return false;
  if (!VerifyCoseSign1(token->platform_cose, cpak).ok()) return false;
  auto rak = RealmPublicKey(token->realm);
  if (!rak.ok() || !VerifyCoseSign1(token->realm_cose, *rak).ok()) return false;
  auto binding = RakBinding(token->realm);
  return binding.ok() && *binding == token->platform.challenge;
}

TEST(CcaCmwTokenTest, RewrappedRecordedTokenDecodesToTheSameClaimsAndVerifies) {
  const Recorded r = LoadRecorded();
  auto cmw = EncodeCcaCmwToken(r.platform, r.realm);
  ASSERT_TRUE(cmw.ok()) << cmw.status();
  // The encoder writes exactly the CDDL of the RMM specification.
  EXPECT_EQ(
      *cmw,
      Wrap(kCcaCmwTokenTag,
           {{cbor::Value::Int(kCcaPlatformTokenKey), Record(kCmwEatCwtContentFormat, r.platform)},
            {cbor::Value::Int(kCcaRealmTokenKey), Record(kCmwEatCwtContentFormat, r.realm)}}));
  EXPECT_EQ((*cmw)[0], 0xd9);  // tag, two-byte argument
  EXPECT_EQ((*cmw)[1], 0x03);  // 907 = 0x038b
  EXPECT_EQ((*cmw)[2], 0x8b);

  auto legacy = DecodeCcaToken(r.token);
  auto modern = DecodeCcaToken(*cmw);
  ASSERT_TRUE(legacy.ok()) << legacy.status();
  ASSERT_TRUE(modern.ok()) << modern.status();
  EXPECT_EQ(legacy->collection_tag, kCcaTokenTag);
  EXPECT_EQ(modern->collection_tag, kCcaCmwTokenTag);
  EXPECT_EQ(modern->platform_cose.payload, legacy->platform_cose.payload);
  EXPECT_EQ(modern->realm_cose.payload, legacy->realm_cose.payload);
  EXPECT_EQ(modern->realm.rim, legacy->realm.rim);
  EXPECT_EQ(modern->platform.sw_components.size(), legacy->platform.sw_components.size());
  EXPECT_EQ(CcaTokenClaimsToJson(*modern), CcaTokenClaimsToJson(*legacy));

  const EcKey cpak = RecordedCpak();
  EXPECT_TRUE(Accepted(r.token, cpak));
  EXPECT_TRUE(Accepted(*cmw, cpak));
  // Another key fails the platform signature in the 907 form as in 399.
  auto other = EcKey::Generate(EcCurve::kP384);
  ASSERT_TRUE(other.ok()) << other.status();
  EXPECT_FALSE(Accepted(*cmw, *other));
}

TEST(CcaCmwTokenTest, RejectsMalformedRecordsAndCollections) {
  const Recorded r = LoadRecorded();
  const auto P = [&](cbor::Value v) {
    return cbor::Value::Entry{cbor::Value::Int(kCcaPlatformTokenKey), std::move(v)};
  };
  const auto R = [&](cbor::Value v) {
    return cbor::Value::Entry{cbor::Value::Int(kCcaRealmTokenKey), std::move(v)};
  };
  const cbor::Value good_p = Record(kCmwEatCwtContentFormat, r.platform);
  const cbor::Value good_r = Record(kCmwEatCwtContentFormat, r.realm);
  ASSERT_TRUE(DecodeCcaToken(Wrap(kCcaCmwTokenTag, {P(good_p), R(good_r)})).ok());

  struct Case {
    const char* what;
    Bytes bytes;
    const char* message;  // a piece of the expected error
  };
  const std::vector<Case> cases = {
      {"399 layout under tag 907",
       Wrap(kCcaCmwTokenTag,
            {P(cbor::Value::ByteString(r.platform)), R(cbor::Value::ByteString(r.realm))}),
       "CMW record"},
      {"907 layout under tag 399", Wrap(kCcaTokenTag, {P(good_p), R(good_r)}), "byte string"},
      {"content format 264", Wrap(kCcaCmwTokenTag, {P(Record(264, r.platform)), R(good_r)}), "263"},
      {"content format as text",
       Wrap(kCcaCmwTokenTag, {P(cbor::Value::Array({cbor::Value::Text("application/eat+cwt"),
                                                    cbor::Value::ByteString(r.platform)})),
                              R(good_r)}),
       "263"},
      {"record with an indicator",
       Wrap(kCcaCmwTokenTag,
            {P(good_p),
             R(cbor::Value::Array({cbor::Value::Uint(kCmwEatCwtContentFormat),
                                   cbor::Value::ByteString(r.realm), cbor::Value::Uint(4)}))}),
       "two-element"},
      {"record content not bytes",
       Wrap(kCcaCmwTokenTag, {P(cbor::Value::Array({cbor::Value::Uint(kCmwEatCwtContentFormat),
                                                    cbor::Value::Text("x")})),
                              R(good_r)}),
       "not a byte string"},
      {"device token present",
       Wrap(kCcaCmwTokenTag, {P(good_p),
                              R(good_r),
                              {cbor::Value::Int(kCcaDeviceTokenKey), Record(601, Bytes{0xa0})}}),
       "device token"},
      {"extra entry",
       Wrap(kCcaCmwTokenTag, {P(good_p), R(good_r), {cbor::Value::Int(44251), good_r}}),
       "exactly two"},
      {"realm record missing", Wrap(kCcaCmwTokenTag, {P(good_p)}), "exactly two"},
      {"platform and realm swapped",
       Wrap(kCcaCmwTokenTag, {P(Record(kCmwEatCwtContentFormat, r.realm)),
                              R(Record(kCmwEatCwtContentFormat, r.platform))}),
       ""},
      {"tag 906", Wrap(906, {P(good_p), R(good_r)}), "tag 399 or tag 907"},
  };
  for (const Case& c : cases) {
    auto t = DecodeCcaToken(c.bytes);
    ASSERT_FALSE(t.ok()) << c.what << " accepted";
    EXPECT_EQ(t.status().code(), StatusCode::kInvalidArgument) << c.what;
    EXPECT_NE(t.status().message().find(c.message), std::string::npos)
        << c.what << ": " << t.status().message();
  }
  // Untagged collection.
  Bytes cmw = *EncodeCcaCmwToken(r.platform, r.realm);
  EXPECT_FALSE(DecodeCcaToken(ByteSpan(cmw.data() + 3, cmw.size() - 3)).ok());
  // The encoder refuses what is not an ES384 COSE_Sign1.
  EXPECT_FALSE(EncodeCcaCmwToken(Bytes{0x01}, r.realm).ok());
}

// Every single-byte change (two values per position) and every truncation
// of the 907 token is refused by the decoder or fails a cryptographic check;
// only the unchanged token is accepted.
TEST(CcaCmwTokenTest, EveryByteChangeAndTruncationIsRejected) {
  const Recorded r = LoadRecorded();
  const EcKey cpak = RecordedCpak();
  const Bytes cmw = *EncodeCcaCmwToken(r.platform, r.realm);
  ASSERT_TRUE(Accepted(cmw, cpak));
  for (size_t i = 0; i < cmw.size(); ++i) {
    for (uint8_t x : {uint8_t{0x01}, uint8_t{0xff}}) {
      Bytes t = cmw;
      t[i] ^= x;
      ASSERT_FALSE(Accepted(t, cpak)) << "byte " << i << " ^ " << int(x) << " accepted";
    }
  }
  for (size_t n = 0; n < cmw.size(); ++n) {
    ASSERT_FALSE(DecodeCcaToken(ByteSpan(cmw.data(), n)).ok()) << "prefix " << n << " accepted";
  }
  Bytes longer = cmw;
  longer.push_back(0x00);
  EXPECT_EQ(DecodeCcaToken(longer).status().code(), StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace confml
