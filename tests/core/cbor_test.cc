// Strict CBOR decoder and deterministic encoder (RFC 8949 appendix A
// examples, and the malformations an attacker would try).

#include "confml/core/cbor.h"

#include <gtest/gtest.h>

namespace confml::cbor {
namespace {

StatusOr<Value> D(std::initializer_list<uint8_t> bytes) {
  Bytes b(bytes);
  return Decode(b);
}

TEST(CborTest, DecodesRfc8949Examples) {
  EXPECT_EQ(D({0x00})->AsInt64(), 0);
  EXPECT_EQ(D({0x17})->AsInt64(), 23);
  EXPECT_EQ(D({0x18, 0x18})->AsInt64(), 24);
  EXPECT_EQ(D({0x19, 0x03, 0xe8})->AsInt64(), 1000);
  EXPECT_EQ(D({0x20})->AsInt64(), -1);
  EXPECT_EQ(D({0x38, 0x63})->AsInt64(), -100);
  EXPECT_EQ(D({0x1b, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff})->argument(), UINT64_MAX);
  EXPECT_FALSE(D({0x1b, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff})->AsInt64().has_value());
  EXPECT_EQ(D({0x64, 'I', 'E', 'T', 'F'})->text(), "IETF");
  EXPECT_EQ(D({0x44, 1, 2, 3, 4})->bytes(), Bytes({1, 2, 3, 4}));
  auto arr = D({0x83, 0x01, 0x82, 0x02, 0x03, 0x82, 0x04, 0x05});
  ASSERT_TRUE(arr.ok());
  EXPECT_EQ(arr->items().size(), 3u);
  auto map = D({0xa2, 0x01, 0x02, 0x03, 0x04});
  ASSERT_TRUE(map.ok());
  EXPECT_EQ(map->Find(3)->AsInt64(), 4);
  EXPECT_EQ(map->Find(5), nullptr);
  EXPECT_TRUE(D({0xf5})->AsBool());
  EXPECT_TRUE(D({0xf6})->is_null());
  EXPECT_EQ(D({0xc1, 0x1a, 0x51, 0x4b, 0x67, 0xb0})->argument(), 1u);
}

TEST(CborTest, RejectsNonPreferredSerialization) {
  EXPECT_FALSE(D({0x18, 0x17}).ok());        // 23 in two bytes
  EXPECT_FALSE(D({0x19, 0x00, 0xff}).ok());  // 255 in three bytes
  EXPECT_FALSE(D({0x58, 0x01, 0xaa}).ok());  // 1-byte string, long length
  EXPECT_FALSE(D({0x1a, 0x00, 0x00, 0xff, 0xff}).ok());
  DecodeOptions lax;
  lax.require_preferred_serialization = false;
  Bytes b = {0x18, 0x17};
  EXPECT_TRUE(Decode(b, lax).ok());
}

TEST(CborTest, RejectsIndefiniteLengthsAndReservedValues) {
  EXPECT_FALSE(D({0x5f, 0x41, 0x01, 0xff}).ok());  // indefinite bstr
  EXPECT_FALSE(D({0x9f, 0x01, 0xff}).ok());        // indefinite array
  EXPECT_FALSE(D({0xbf, 0x01, 0x02, 0xff}).ok());  // indefinite map
  EXPECT_FALSE(D({0xff}).ok());                    // stray break
  EXPECT_FALSE(D({0x1c}).ok());                    // reserved info 28
  EXPECT_FALSE(D({0xf0}).ok());                    // unassigned simple
  EXPECT_FALSE(D({0xf8, 0x20}).ok());              // two-byte simple
}

TEST(CborTest, RejectsTruncationTrailingBytesAndHugeLengths) {
  EXPECT_FALSE(D({}).ok());
  EXPECT_FALSE(D({0x19, 0x03}).ok());
  EXPECT_FALSE(D({0x44, 1, 2, 3}).ok());
  EXPECT_FALSE(D({0x01, 0x02}).ok());
  // A length of 2^64-1 must not allocate or overflow.
  EXPECT_FALSE(D({0x5b, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x00}).ok());
  EXPECT_FALSE(D({0x9b, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x00}).ok());
  EXPECT_FALSE(D({0xbb, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x00}).ok());
  Bytes big(100, 0);
  DecodeOptions small;
  small.max_input_size = 10;
  EXPECT_FALSE(Decode(big, small).ok());
}

TEST(CborTest, RejectsDuplicateAndNonScalarMapKeys) {
  EXPECT_FALSE(D({0xa2, 0x01, 0x02, 0x01, 0x03}).ok());
  EXPECT_FALSE(D({0xa2, 0x61, 'a', 0x02, 0x61, 'a', 0x03}).ok());
  EXPECT_TRUE(D({0xa2, 0x61, 'a', 0x02, 0x01, 0x03}).ok());  // distinct types
  EXPECT_TRUE(D({0xa2, 0x02, 0x02, 0x01, 0x03}).ok());       // unsorted is fine
  EXPECT_FALSE(D({0xa1, 0x41, 0x01, 0x02}).ok());            // bstr key
  EXPECT_FALSE(D({0xa1, 0x80, 0x02}).ok());                  // array key
}

TEST(CborTest, RejectsInvalidUtf8) {
  EXPECT_FALSE(D({0x62, 0xc0, 0x80}).ok());        // overlong
  EXPECT_FALSE(D({0x63, 0xed, 0xa0, 0x80}).ok());  // surrogate
  EXPECT_FALSE(D({0x61, 0xff}).ok());
  EXPECT_FALSE(D({0x62, 0xc3}).ok());       // truncated
  EXPECT_TRUE(D({0x62, 0xc3, 0xbc}).ok());  // U+00FC
}

TEST(CborTest, LimitsNestingDepth) {
  Bytes deep(20, 0x81);
  deep.push_back(0x00);
  EXPECT_FALSE(Decode(deep).ok());
  Bytes ok(16, 0x81);
  ok.push_back(0x00);
  EXPECT_TRUE(Decode(ok).ok());
  // A million nested arrays must fail fast, not blow the stack.
  Bytes very_deep(1'000'000, 0x81);
  EXPECT_FALSE(Decode(very_deep).ok());
}

TEST(CborTest, EncoderIsDeterministicAndRoundTrips) {
  Value v =
      Value::Tag(18, Value::Array({Value::ByteString(Bytes{0xa1, 0x01, 0x38, 0x22}), Value::Map({}),
                                   Value::Int(-35), Value::Int(INT64_MIN), Value::Uint(UINT64_MAX),
                                   Value::Text("sha-256"), Value::Bool(false), Value::Null(),
                                   Value::Map({{Value::Int(24), Value::Int(256)},
                                               {Value::Text("k"), Value::Int(65536)}})}));
  Bytes enc = Encode(v);
  auto back = Decode(enc);
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(*back, v);
  EXPECT_EQ(Encode(*back), enc);
  EXPECT_EQ(Encode(Value::Int(-35)), Bytes({0x38, 0x22}));
  EXPECT_EQ(Encode(Value::Int(44234)), Bytes({0x19, 0xac, 0xca}));
  EXPECT_EQ(Encode(Value::Uint(4294967296ull)), Bytes({0x1b, 0, 0, 0, 1, 0, 0, 0, 0}));
}

}  // namespace
}  // namespace confml::cbor
