// confml/core/crypto.h: the few cryptographic primitives confml needs, behind
// an OpenSSL-free interface: hashes, HKDF, AES-256-GCM, random bytes, and
// NIST P-384 / P-256 keys for ES384 / ES256 signatures (COSE, RFC 9053) and
// ECDH.
//
//   StatusOr<EcKey> cpak = EcKey::FromSeed(seed_bytes, "cpak");   // P-384
//   Bytes tbs = ...;
//   StatusOr<Bytes> sig = cpak->Sign(tbs);              // raw r||s, 96 bytes
//   Status ok = cpak->Verify(tbs, *sig);                // OK or Unauthenticated
//   StatusOr<EcKey> pub = EcKey::FromPublicPoint(EcCurve::kP384, cpak->PublicPoint());
//   Bytes digest = Sha384(tbs);
//
// Every function is thread-safe (OpenSSL 3 objects are not shared between
// calls except an EcKey's key, which OpenSSL allows to be used concurrently
// for signing and verification). Nothing here throws.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "confml/core/status.h"

namespace confml {

using Bytes = std::vector<uint8_t>;
using ByteSpan = std::span<const uint8_t>;

inline ByteSpan AsBytes(std::string_view s) {
  return ByteSpan(reinterpret_cast<const uint8_t*>(s.data()), s.size());
}

// ---- Hashes ---------------------------------------------------------------

// Hash algorithms named as in the IANA "Named Information Hash Algorithm"
// registry, which is how CCA tokens name them ("sha-256", "sha-512").
enum class HashAlg { kSha256, kSha384, kSha512 };

// "sha-256", "sha-384", "sha-512".
std::string_view HashAlgName(HashAlg alg);
// Inverse of HashAlgName; InvalidArgument for any other name (exact match,
// case-sensitive, as the registry defines the names).
StatusOr<HashAlg> HashAlgFromName(std::string_view name);
// Digest size in bytes: 32, 48, 64.
size_t HashSize(HashAlg alg);

Bytes Hash(HashAlg alg, ByteSpan data);
Bytes Sha256(ByteSpan data);
Bytes Sha384(ByteSpan data);
Bytes Sha512(ByteSpan data);

// ---- Key derivation, AEAD, randomness --------------------------------------

// RFC 5869 HKDF-SHA-256 (extract then expand). `length` at most 255*32;
// InvalidArgument otherwise.
StatusOr<Bytes> HkdfSha256(ByteSpan ikm, ByteSpan salt, ByteSpan info, size_t length);

inline constexpr size_t kAes256GcmKeySize = 32;
inline constexpr size_t kAes256GcmNonceSize = 12;
inline constexpr size_t kAes256GcmTagSize = 16;

// AES-256-GCM. Seal returns ciphertext || 16-byte tag. The caller owns nonce
// uniqueness per key. InvalidArgument on a wrong key or nonce size.
StatusOr<Bytes> Aes256GcmSeal(ByteSpan key, ByteSpan nonce, ByteSpan plaintext, ByteSpan aad);
// DataLoss when the tag does not verify (wrong key, nonce, aad, or any
// modified byte); InvalidArgument on wrong sizes.
StatusOr<Bytes> Aes256GcmOpen(ByteSpan key, ByteSpan nonce, ByteSpan sealed, ByteSpan aad);

// `n` bytes from OpenSSL's CSPRNG. Internal error if the CSPRNG fails.
StatusOr<Bytes> RandomBytes(size_t n);

// Equality in time independent of where the inputs differ (CRYPTO_memcmp).
// Different lengths compare unequal (length itself is not secret).
bool ConstantTimeEqual(ByteSpan a, ByteSpan b);

// Lower-case hex, and its inverse (InvalidArgument on odd length or non-hex).
std::string ToHex(ByteSpan data);
StatusOr<Bytes> FromHex(std::string_view hex);

// ---- Elliptic-curve keys ---------------------------------------------------

enum class EcCurve { kP256, kP384 };

// An EC key pair, or a public key alone. A value type (copies share the
// immutable OpenSSL key, which is safe). The signature algorithm follows the
// curve: ES384 (ECDSA P-384 with SHA-384, COSE alg -35) on P-384 and ES256
// (P-256 with SHA-256, alg -7) on P-256. Signatures are the COSE form: raw
// big-endian r || s, each padded to the field size (96 or 64 bytes).
class EcKey {
 public:
  // A fresh random key pair.
  static StatusOr<EcKey> Generate(EcCurve curve = EcCurve::kP384);
  // A deterministic key pair: the private scalar is HKDF-SHA-256 of `seed`
  // (salt "confml-eckey-v1", info = curve name || 0x00 || label || counter),
  // retrying with the next counter until it lies in [1, n-1]. Same seed and
  // label give the same key on every machine. `seed` must be >= 16 bytes.
  static StatusOr<EcKey> FromSeed(ByteSpan seed, std::string_view label,
                                  EcCurve curve = EcCurve::kP384);
  // PEM: "PRIVATE KEY" (PKCS#8) or "EC PRIVATE KEY" for FromPrivatePem;
  // "PUBLIC KEY" (SubjectPublicKeyInfo) for FromPublicPem. Only P-256 and
  // P-384 are accepted; InvalidArgument otherwise.
  static StatusOr<EcKey> FromPrivatePem(std::string_view pem);
  static StatusOr<EcKey> FromPublicPem(std::string_view pem);
  // A public key from its SEC1 uncompressed point 0x04 || x || y (97 bytes
  // on P-384, 65 on P-256). InvalidArgument if not a point on the curve.
  static StatusOr<EcKey> FromPublicPoint(EcCurve curve, ByteSpan point);
  // A public key from the affine coordinates (as in a COSE_Key).
  static StatusOr<EcKey> FromPublicCoordinates(EcCurve curve, ByteSpan x, ByteSpan y);

  EcKey(const EcKey&);
  EcKey& operator=(const EcKey&);
  EcKey(EcKey&&) noexcept;
  EcKey& operator=(EcKey&&) noexcept;
  ~EcKey();

  EcCurve curve() const;
  bool has_private_key() const;
  // Field / coordinate size in bytes: 48 (P-384) or 32 (P-256).
  size_t coordinate_size() const;
  // The COSE algorithm identifier this key signs with: -35 or -7.
  int cose_algorithm() const;

  // SEC1 uncompressed point 0x04 || x || y.
  Bytes PublicPoint() const;
  std::string PublicKeyPem() const;
  // PKCS#8 PEM of the private key; FailedPrecondition for a public key.
  StatusOr<std::string> PrivateKeyPem() const;
  // The same public key without the private part.
  EcKey PublicOnly() const;

  // Signs SHA-384(message) (P-384) or SHA-256(message) (P-256); raw r||s.
  // FailedPrecondition for a public-only key.
  StatusOr<Bytes> Sign(ByteSpan message) const;
  // OK if `signature` (raw r||s of exactly 2*coordinate_size() bytes) is a
  // valid signature of `message`; Unauthenticated otherwise (including any
  // malformed signature). Never crashes on any input.
  Status Verify(ByteSpan message, ByteSpan signature) const;

  // ECDH: the shared x coordinate with `peer` (same curve; FailedPrecondition
  // without a private key, InvalidArgument on a curve mismatch).
  StatusOr<Bytes> DeriveSharedSecret(const EcKey& peer) const;

  // Same curve and same public point.
  bool SamePublicKey(const EcKey& other) const;

  struct Impl;  // OpenSSL EVP_PKEY holder, defined in crypto.cc.

 private:
  explicit EcKey(std::shared_ptr<const Impl> impl);
  std::shared_ptr<const Impl> impl_;
};

}  // namespace confml
