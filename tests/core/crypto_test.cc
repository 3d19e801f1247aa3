// Crypto helpers against published test vectors (FIPS 180, RFC 5869) and
// sign/verify/ECDH/AEAD properties.

#include "confml/core/crypto.h"

#include <gtest/gtest.h>

namespace confml {
namespace {

Bytes Hex(std::string_view h) { return *FromHex(h); }

TEST(CryptoTest, ShaMatchesFips180Vectors) {
  EXPECT_EQ(ToHex(Sha256(AsBytes("abc"))),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(ToHex(Sha384(AsBytes("abc"))),
            "cb00753f45a35e8bb5a03d699ac65007272c32ab0eded1631a8b605a43ff5bed8086072ba1e7cc2358baec"
            "a134c825a7");
  EXPECT_EQ(ToHex(Sha512(AsBytes(""))).substr(0, 32), "cf83e1357eefb8bdf1542850d66d8007");
  EXPECT_EQ(*HashAlgFromName("sha-512"), HashAlg::kSha512);
  EXPECT_FALSE(HashAlgFromName("SHA-256").ok());
  EXPECT_FALSE(HashAlgFromName("sha-1").ok());
}

TEST(CryptoTest, HkdfMatchesRfc5869Case1) {
  auto okm = HkdfSha256(Hex("0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b"),
                        Hex("000102030405060708090a0b0c"), Hex("f0f1f2f3f4f5f6f7f8f9"), 42);
  ASSERT_TRUE(okm.ok()) << okm.status();
  EXPECT_EQ(ToHex(*okm),
            "3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b887185865");
  EXPECT_FALSE(HkdfSha256(Bytes(), Bytes(), Bytes(), 255 * 32 + 1).ok());
}

TEST(CryptoTest, AesGcmRoundTripAndTamperIsDataLoss) {
  const Bytes key(32, 7), nonce(12, 9), aad = {1, 2, 3};
  const Bytes msg = {'h', 'e', 'l', 'l', 'o'};
  auto sealed = Aes256GcmSeal(key, nonce, msg, aad);
  ASSERT_TRUE(sealed.ok());
  EXPECT_EQ(sealed->size(), msg.size() + 16);
  EXPECT_EQ(*Aes256GcmOpen(key, nonce, *sealed, aad), msg);
  for (size_t i = 0; i < sealed->size(); ++i) {
    Bytes t = *sealed;
    t[i] ^= 0x01;
    EXPECT_EQ(Aes256GcmOpen(key, nonce, t, aad).status().code(), StatusCode::kDataLoss) << i;
  }
  EXPECT_EQ(Aes256GcmOpen(key, nonce, *sealed, Bytes{1, 2}).status().code(), StatusCode::kDataLoss);
  EXPECT_EQ(Aes256GcmOpen(key, nonce, Bytes(5), aad).status().code(), StatusCode::kDataLoss);
  EXPECT_EQ(Aes256GcmSeal(Bytes(16), nonce, msg, aad).status().code(),
            StatusCode::kInvalidArgument);
  auto empty = Aes256GcmSeal(key, nonce, Bytes(), Bytes());
  ASSERT_TRUE(empty.ok());
  EXPECT_TRUE(Aes256GcmOpen(key, nonce, *empty, Bytes())->empty());
}

TEST(CryptoTest, SeededKeysAreDeterministicAndDistinct) {
  const Bytes seed(32, 0x5a);
  auto a = EcKey::FromSeed(seed, "cpak");
  auto b = EcKey::FromSeed(seed, "cpak");
  auto c = EcKey::FromSeed(seed, "rak");
  ASSERT_TRUE(a.ok() && b.ok() && c.ok());
  EXPECT_EQ(a->PublicPoint(), b->PublicPoint());
  EXPECT_NE(a->PublicPoint(), c->PublicPoint());
  EXPECT_EQ(a->PublicPoint().size(), 97u);
  EXPECT_FALSE(EcKey::FromSeed(Bytes(8), "short").ok());
}

TEST(CryptoTest, Es384SignVerifyAndRejections) {
  auto key = EcKey::FromSeed(Bytes(32, 1), "signer");
  ASSERT_TRUE(key.ok());
  const Bytes msg = {1, 2, 3};
  auto sig = key->Sign(msg);
  ASSERT_TRUE(sig.ok());
  EXPECT_EQ(sig->size(), 96u);
  EcKey pub = key->PublicOnly();
  EXPECT_FALSE(pub.has_private_key());
  EXPECT_TRUE(pub.Verify(msg, *sig).ok());
  EXPECT_EQ(pub.Verify(Bytes{1, 2, 4}, *sig).code(), StatusCode::kUnauthenticated);
  Bytes bad = *sig;
  bad[50] ^= 0x80;
  EXPECT_EQ(pub.Verify(msg, bad).code(), StatusCode::kUnauthenticated);
  EXPECT_EQ(pub.Verify(msg, Bytes(96, 0)).code(), StatusCode::kUnauthenticated);     // r = s = 0
  EXPECT_EQ(pub.Verify(msg, Bytes(96, 0xff)).code(), StatusCode::kUnauthenticated);  // r, s >= n
  EXPECT_EQ(pub.Verify(msg, Bytes(95, 1)).code(), StatusCode::kUnauthenticated);
  EXPECT_EQ(pub.Sign(msg).status().code(), StatusCode::kFailedPrecondition);
}

TEST(CryptoTest, PemAndPointRoundTrips) {
  auto key = EcKey::Generate(EcCurve::kP384);
  ASSERT_TRUE(key.ok());
  auto priv = EcKey::FromPrivatePem(*key->PrivateKeyPem());
  ASSERT_TRUE(priv.ok()) << priv.status();
  EXPECT_TRUE(priv->SamePublicKey(*key));
  auto pub = EcKey::FromPublicPem(key->PublicKeyPem());
  ASSERT_TRUE(pub.ok()) << pub.status();
  EXPECT_TRUE(pub->SamePublicKey(*key));
  auto from_point = EcKey::FromPublicPoint(EcCurve::kP384, key->PublicPoint());
  ASSERT_TRUE(from_point.ok());
  EXPECT_TRUE(from_point->SamePublicKey(*key));
  Bytes off_curve = key->PublicPoint();
  off_curve[96] ^= 0x01;
  EXPECT_EQ(EcKey::FromPublicPoint(EcCurve::kP384, off_curve).status().code(),
            StatusCode::kInvalidArgument);
  EXPECT_FALSE(
      EcKey::FromPublicPem("-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n").ok());
}

TEST(CryptoTest, P256AndEcdhAgree) {
  for (EcCurve curve : {EcCurve::kP256, EcCurve::kP384}) {
    auto a = EcKey::Generate(curve);
    auto b = EcKey::Generate(curve);
    ASSERT_TRUE(a.ok() && b.ok());
    auto ab = a->DeriveSharedSecret(b->PublicOnly());
    auto ba = b->DeriveSharedSecret(a->PublicOnly());
    ASSERT_TRUE(ab.ok() && ba.ok());
    EXPECT_EQ(*ab, *ba);
    EXPECT_EQ(ab->size(), a->coordinate_size());
    auto sig = a->Sign(AsBytes("m"));
    ASSERT_TRUE(sig.ok());
    EXPECT_EQ(sig->size(), 2 * a->coordinate_size());
    EXPECT_TRUE(a->Verify(AsBytes("m"), *sig).ok());
  }
}

TEST(CryptoTest, HexAndConstantTimeEqual) {
  EXPECT_EQ(ToHex(Bytes{0x00, 0xab, 0xff}), "00abff");
  EXPECT_EQ(*FromHex("00ABff"), Bytes({0x00, 0xab, 0xff}));
  EXPECT_FALSE(FromHex("abc").ok());
  EXPECT_FALSE(FromHex("zz").ok());
  EXPECT_TRUE(ConstantTimeEqual(Bytes{1, 2}, Bytes{1, 2}));
  EXPECT_FALSE(ConstantTimeEqual(Bytes{1, 2}, Bytes{1, 3}));
  EXPECT_FALSE(ConstantTimeEqual(Bytes{1, 2}, Bytes{1, 2, 3}));
  auto r = RandomBytes(64);
  ASSERT_TRUE(r.ok());
  EXPECT_NE(*r, Bytes(64, 0));
}

}  // namespace
}  // namespace confml
