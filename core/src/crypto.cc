// OpenSSL 3 implementation of crypto.h. Every OpenSSL object is owned by a
// unique_ptr with its free function, so early returns cannot leak.

#include "confml/core/crypto.h"

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/ecdsa.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <openssl/obj_mac.h>
#include <openssl/param_build.h>
#include <openssl/pem.h>
#include <openssl/rand.h>

#include <cstring>
#include <limits>
#include <string>

namespace confml {
namespace {

template <typename T, void (*F)(T*)>
struct Deleter {
  void operator()(T* p) const { F(p); }
};
using BioPtr = std::unique_ptr<BIO, Deleter<BIO, BIO_free_all>>;
using BnPtr = std::unique_ptr<BIGNUM, Deleter<BIGNUM, BN_free>>;
using BnCtxPtr = std::unique_ptr<BN_CTX, Deleter<BN_CTX, BN_CTX_free>>;
using CipherCtxPtr = std::unique_ptr<EVP_CIPHER_CTX, Deleter<EVP_CIPHER_CTX, EVP_CIPHER_CTX_free>>;
using EcGroupPtr = std::unique_ptr<EC_GROUP, Deleter<EC_GROUP, EC_GROUP_free>>;
using EcPointPtr = std::unique_ptr<EC_POINT, Deleter<EC_POINT, EC_POINT_free>>;
using EcdsaSigPtr = std::unique_ptr<ECDSA_SIG, Deleter<ECDSA_SIG, ECDSA_SIG_free>>;
using KdfPtr = std::unique_ptr<EVP_KDF, Deleter<EVP_KDF, EVP_KDF_free>>;
using KdfCtxPtr = std::unique_ptr<EVP_KDF_CTX, Deleter<EVP_KDF_CTX, EVP_KDF_CTX_free>>;
using MdCtxPtr = std::unique_ptr<EVP_MD_CTX, Deleter<EVP_MD_CTX, EVP_MD_CTX_free>>;
using ParamBldPtr = std::unique_ptr<OSSL_PARAM_BLD, Deleter<OSSL_PARAM_BLD, OSSL_PARAM_BLD_free>>;
using ParamPtr = std::unique_ptr<OSSL_PARAM, Deleter<OSSL_PARAM, OSSL_PARAM_free>>;
using PkeyCtxPtr = std::unique_ptr<EVP_PKEY_CTX, Deleter<EVP_PKEY_CTX, EVP_PKEY_CTX_free>>;
using PkeyPtr = std::unique_ptr<EVP_PKEY, Deleter<EVP_PKEY, EVP_PKEY_free>>;

// The OpenSSL error queue is per thread; drain it so one failure does not
// show up in the next, unrelated call, and keep the last reason for messages.
std::string DrainOpenSslErrors() {
  std::string last;
  unsigned long code;
  while ((code = ERR_get_error()) != 0) {
    char buf[256];
    ERR_error_string_n(code, buf, sizeof(buf));
    last = buf;
  }
  return last;
}

Status OpenSslError(std::string_view what) {
  std::string reason = DrainOpenSslErrors();
  return InternalError(std::string(what) + (reason.empty() ? "" : ": " + reason));
}

const EVP_MD* MdFor(HashAlg alg) {
  switch (alg) {
    case HashAlg::kSha256:
      return EVP_sha256();
    case HashAlg::kSha384:
      return EVP_sha384();
    case HashAlg::kSha512:
      return EVP_sha512();
  }
  return EVP_sha256();
}

const char* CurveName(EcCurve curve) { return curve == EcCurve::kP384 ? "P-384" : "P-256"; }
int CurveNid(EcCurve curve) {
  return curve == EcCurve::kP384 ? NID_secp384r1 : NID_X9_62_prime256v1;
}
size_t CoordSize(EcCurve curve) { return curve == EcCurve::kP384 ? 48 : 32; }

}  // namespace

// ---- Hashes -----------------------------------------------------------------

std::string_view HashAlgName(HashAlg alg) {
  switch (alg) {
    case HashAlg::kSha256:
      return "sha-256";
    case HashAlg::kSha384:
      return "sha-384";
    case HashAlg::kSha512:
      return "sha-512";
  }
  return "unknown";
}

StatusOr<HashAlg> HashAlgFromName(std::string_view name) {
  if (name == "sha-256") return HashAlg::kSha256;
  if (name == "sha-384") return HashAlg::kSha384;
  if (name == "sha-512") return HashAlg::kSha512;
  return InvalidArgumentError("unsupported hash algorithm '" + std::string(name) +
                              "' (expected sha-256, sha-384 or sha-512)");
}

size_t HashSize(HashAlg alg) {
  switch (alg) {
    case HashAlg::kSha256:
      return 32;
    case HashAlg::kSha384:
      return 48;
    case HashAlg::kSha512:
      return 64;
  }
  return 0;
}

Bytes Hash(HashAlg alg, ByteSpan data) {
  Bytes out(HashSize(alg));
  unsigned int len = 0;
  // EVP_Digest cannot fail for these built-in digests short of memory
  // exhaustion; a failure there aborts in OpenSSL's allocator anyway.
  EVP_Digest(data.data(), data.size(), out.data(), &len, MdFor(alg), nullptr);
  out.resize(len);
  return out;
}

Bytes Sha256(ByteSpan data) { return Hash(HashAlg::kSha256, data); }
Bytes Sha384(ByteSpan data) { return Hash(HashAlg::kSha384, data); }
Bytes Sha512(ByteSpan data) { return Hash(HashAlg::kSha512, data); }

// ---- HKDF, AEAD, randomness -------------------------------------------------

StatusOr<Bytes> HkdfSha256(ByteSpan ikm, ByteSpan salt, ByteSpan info, size_t length) {
  if (length == 0 || length > 255 * 32) {
    return InvalidArgumentError("HKDF-SHA-256 output length " + std::to_string(length) +
                                " not in [1, 8160]");
  }
  KdfPtr kdf(EVP_KDF_fetch(nullptr, "HKDF", nullptr));
  if (!kdf) return OpenSslError("EVP_KDF_fetch(HKDF)");
  KdfCtxPtr ctx(EVP_KDF_CTX_new(kdf.get()));
  if (!ctx) return OpenSslError("EVP_KDF_CTX_new");
  // OSSL_PARAM wants non-const pointers; OpenSSL only reads these buffers.
  // An empty salt/info still needs a valid pointer.
  static uint8_t kEmpty = 0;
  auto ptr = [](ByteSpan s) { return s.empty() ? &kEmpty : const_cast<uint8_t*>(s.data()); };
  char digest[] = "SHA256";
  OSSL_PARAM params[] = {
      OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, digest, 0),
      OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, ptr(ikm), ikm.size()),
      OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT, ptr(salt), salt.size()),
      OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, ptr(info), info.size()),
      OSSL_PARAM_construct_end(),
  };
  Bytes out(length);
  if (EVP_KDF_derive(ctx.get(), out.data(), out.size(), params) != 1)
    return OpenSslError("HKDF derive");
  return out;
}

namespace {

Status CheckGcmSizes(ByteSpan key, ByteSpan nonce) {
  if (key.size() != kAes256GcmKeySize) {
    return InvalidArgumentError("AES-256-GCM key must be 32 bytes, got " +
                                std::to_string(key.size()));
  }
  if (nonce.size() != kAes256GcmNonceSize) {
    return InvalidArgumentError("AES-256-GCM nonce must be 12 bytes, got " +
                                std::to_string(nonce.size()));
  }
  return OkStatus();
}

bool FitsInt(size_t n) { return n <= static_cast<size_t>(std::numeric_limits<int>::max()); }

}  // namespace

StatusOr<Bytes> Aes256GcmSeal(ByteSpan key, ByteSpan nonce, ByteSpan plaintext, ByteSpan aad) {
  CONFML_RETURN_IF_ERROR(CheckGcmSizes(key, nonce));
  if (!FitsInt(plaintext.size()) || !FitsInt(aad.size()))
    return InvalidArgumentError("AES-256-GCM input too large");
  CipherCtxPtr ctx(EVP_CIPHER_CTX_new());
  if (!ctx) return OpenSslError("EVP_CIPHER_CTX_new");
  Bytes out(plaintext.size() + kAes256GcmTagSize);
  int len = 0;
  if (EVP_EncryptInit_ex(ctx.get(), EVP_aes_256_gcm(), nullptr, key.data(), nonce.data()) != 1 ||
      (!aad.empty() && EVP_EncryptUpdate(ctx.get(), nullptr, &len, aad.data(),
                                         static_cast<int>(aad.size())) != 1)) {
    return OpenSslError("AES-256-GCM init");
  }
  int total = 0;
  if (!plaintext.empty()) {
    if (EVP_EncryptUpdate(ctx.get(), out.data(), &len, plaintext.data(),
                          static_cast<int>(plaintext.size())) != 1) {
      return OpenSslError("AES-256-GCM encrypt");
    }
    total = len;
  }
  if (EVP_EncryptFinal_ex(ctx.get(), out.data() + total, &len) != 1)
    return OpenSslError("AES-256-GCM final");
  total += len;
  if (EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_GET_TAG, kAes256GcmTagSize, out.data() + total) !=
      1) {
    return OpenSslError("AES-256-GCM tag");
  }
  out.resize(static_cast<size_t>(total) + kAes256GcmTagSize);
  return out;
}

StatusOr<Bytes> Aes256GcmOpen(ByteSpan key, ByteSpan nonce, ByteSpan sealed, ByteSpan aad) {
  CONFML_RETURN_IF_ERROR(CheckGcmSizes(key, nonce));
  if (sealed.size() < kAes256GcmTagSize) {
    return DataLossError("AES-256-GCM input of " + std::to_string(sealed.size()) +
                         " bytes is shorter than the tag");
  }
  if (!FitsInt(sealed.size()) || !FitsInt(aad.size()))
    return InvalidArgumentError("AES-256-GCM input too large");
  const size_t ct_size = sealed.size() - kAes256GcmTagSize;
  CipherCtxPtr ctx(EVP_CIPHER_CTX_new());
  if (!ctx) return OpenSslError("EVP_CIPHER_CTX_new");
  Bytes out(ct_size);
  int len = 0;
  if (EVP_DecryptInit_ex(ctx.get(), EVP_aes_256_gcm(), nullptr, key.data(), nonce.data()) != 1 ||
      (!aad.empty() && EVP_DecryptUpdate(ctx.get(), nullptr, &len, aad.data(),
                                         static_cast<int>(aad.size())) != 1)) {
    return OpenSslError("AES-256-GCM init");
  }
  int total = 0;
  if (ct_size > 0) {
    if (EVP_DecryptUpdate(ctx.get(), out.data(), &len, sealed.data(), static_cast<int>(ct_size)) !=
        1) {
      return OpenSslError("AES-256-GCM decrypt");
    }
    total = len;
  }
  Bytes tag(sealed.end() - kAes256GcmTagSize, sealed.end());
  if (EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_SET_TAG, kAes256GcmTagSize, tag.data()) != 1) {
    return OpenSslError("AES-256-GCM set tag");
  }
  if (EVP_DecryptFinal_ex(ctx.get(), out.data() + total, &len) != 1) {
    DrainOpenSslErrors();
    // Release nothing of a forgery.
    OPENSSL_cleanse(out.data(), out.size());
    return DataLossError(
        "AES-256-GCM authentication failed (wrong key, nonce, associated data, or tampered data)");
  }
  return out;
}

StatusOr<Bytes> RandomBytes(size_t n) {
  Bytes out(n);
  if (n > 0 && RAND_bytes(out.data(), static_cast<int>(n)) != 1) return OpenSslError("RAND_bytes");
  return out;
}

bool ConstantTimeEqual(ByteSpan a, ByteSpan b) {
  if (a.size() != b.size()) return false;
  if (a.empty()) return true;
  return CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

std::string ToHex(ByteSpan data) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  out.reserve(data.size() * 2);
  for (uint8_t b : data) {
    out.push_back(kDigits[b >> 4]);
    out.push_back(kDigits[b & 0xf]);
  }
  return out;
}

StatusOr<Bytes> FromHex(std::string_view hex) {
  if (hex.size() % 2 != 0)
    return InvalidArgumentError("hex string has odd length " + std::to_string(hex.size()));
  auto nibble = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  Bytes out(hex.size() / 2);
  for (size_t i = 0; i < out.size(); ++i) {
    int hi = nibble(hex[2 * i]), lo = nibble(hex[2 * i + 1]);
    if (hi < 0 || lo < 0)
      return InvalidArgumentError("non-hex character at position " + std::to_string(2 * i));
    out[i] = static_cast<uint8_t>(hi << 4 | lo);
  }
  return out;
}

// ---- EcKey ------------------------------------------------------------------

struct EcKey::Impl {
  EVP_PKEY* pkey = nullptr;  // owned
  EcCurve curve = EcCurve::kP384;
  bool has_private = false;
  Bytes point;  // cached SEC1 uncompressed public point

  ~Impl() { EVP_PKEY_free(pkey); }
};

namespace {

// Identifies the curve of an EC EVP_PKEY; InvalidArgument if not P-256/P-384.
StatusOr<EcCurve> CurveOf(EVP_PKEY* pkey) {
  if (EVP_PKEY_get_base_id(pkey) != EVP_PKEY_EC)
    return InvalidArgumentError("key is not an EC key");
  char name[64] = {0};
  size_t len = 0;
  if (EVP_PKEY_get_utf8_string_param(pkey, OSSL_PKEY_PARAM_GROUP_NAME, name, sizeof(name), &len) !=
      1) {
    DrainOpenSslErrors();
    return InvalidArgumentError("EC key has no named curve");
  }
  std::string_view n(name, len);
  if (n == "secp384r1" || n == "P-384") return EcCurve::kP384;
  if (n == "prime256v1" || n == "P-256" || n == "secp256r1") return EcCurve::kP256;
  return InvalidArgumentError("unsupported EC curve '" + std::string(n) +
                              "' (expected P-256 or P-384)");
}

// Reads x and y as fixed-width big-endian and builds 0x04 || x || y.
StatusOr<Bytes> UncompressedPoint(EVP_PKEY* pkey, EcCurve curve) {
  BIGNUM* x = nullptr;
  BIGNUM* y = nullptr;
  if (EVP_PKEY_get_bn_param(pkey, OSSL_PKEY_PARAM_EC_PUB_X, &x) != 1 ||
      EVP_PKEY_get_bn_param(pkey, OSSL_PKEY_PARAM_EC_PUB_Y, &y) != 1) {
    BN_free(x);
    BN_free(y);
    return OpenSslError("reading the EC public point");
  }
  BnPtr xp(x), yp(y);
  const size_t n = CoordSize(curve);
  Bytes out(1 + 2 * n);
  out[0] = 0x04;
  if (BN_bn2binpad(x, out.data() + 1, static_cast<int>(n)) < 0 ||
      BN_bn2binpad(y, out.data() + 1 + n, static_cast<int>(n)) < 0) {
    return OpenSslError("encoding the EC public point");
  }
  return out;
}

// Builds an EVP_PKEY from a group, a public point and optionally a private
// scalar; OpenSSL checks the point lies on the curve when importing it.
StatusOr<PkeyPtr> PkeyFromData(EcCurve curve, ByteSpan point, const BIGNUM* priv) {
  ParamBldPtr bld(OSSL_PARAM_BLD_new());
  if (!bld) return OpenSslError("OSSL_PARAM_BLD_new");
  if (OSSL_PARAM_BLD_push_utf8_string(bld.get(), OSSL_PKEY_PARAM_GROUP_NAME, CurveName(curve), 0) !=
          1 ||
      OSSL_PARAM_BLD_push_octet_string(bld.get(), OSSL_PKEY_PARAM_PUB_KEY, point.data(),
                                       point.size()) != 1 ||
      (priv != nullptr && OSSL_PARAM_BLD_push_BN(bld.get(), OSSL_PKEY_PARAM_PRIV_KEY, priv) != 1)) {
    return OpenSslError("building EC key parameters");
  }
  ParamPtr params(OSSL_PARAM_BLD_to_param(bld.get()));
  if (!params) return OpenSslError("OSSL_PARAM_BLD_to_param");
  PkeyCtxPtr ctx(EVP_PKEY_CTX_new_from_name(nullptr, "EC", nullptr));
  if (!ctx || EVP_PKEY_fromdata_init(ctx.get()) != 1) return OpenSslError("EVP_PKEY_fromdata_init");
  EVP_PKEY* raw = nullptr;
  const int selection = priv != nullptr ? EVP_PKEY_KEYPAIR : EVP_PKEY_PUBLIC_KEY;
  if (EVP_PKEY_fromdata(ctx.get(), &raw, selection, params.get()) != 1 || raw == nullptr) {
    std::string reason = DrainOpenSslErrors();
    return InvalidArgumentError(std::string("not a valid ") + CurveName(curve) + " public point" +
                                (reason.empty() ? "" : " (" + reason + ")"));
  }
  PkeyPtr pkey(raw);
  // Public-key validation: on the curve and not the point at infinity. The
  // full check's extra n*Q == O test is redundant on P-256/P-384, whose
  // cofactor is 1 (SEC 1 v2 sec. 3.2.2.1), and costs a scalar multiplication
  // on every token verified.
  PkeyCtxPtr check(EVP_PKEY_CTX_new_from_pkey(nullptr, pkey.get(), nullptr));
  if (!check || EVP_PKEY_public_check_quick(check.get()) != 1) {
    DrainOpenSslErrors();
    return InvalidArgumentError(std::string("not a valid ") + CurveName(curve) + " public key");
  }
  return pkey;
}

StatusOr<PkeyPtr> ReadPem(std::string_view pem, bool private_key) {
  if (pem.size() > (1u << 20)) return InvalidArgumentError("PEM input larger than 1 MiB");
  BioPtr bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  if (!bio) return OpenSslError("BIO_new_mem_buf");
  EVP_PKEY* raw = private_key ? PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr)
                              : PEM_read_bio_PUBKEY(bio.get(), nullptr, nullptr, nullptr);
  if (raw == nullptr) {
    std::string reason = DrainOpenSslErrors();
    return InvalidArgumentError(std::string("cannot parse PEM ") +
                                (private_key ? "private" : "public") + " key" +
                                (reason.empty() ? "" : " (" + reason + ")"));
  }
  return PkeyPtr(raw);
}

}  // namespace

EcKey::EcKey(std::shared_ptr<const Impl> impl) : impl_(std::move(impl)) {}
EcKey::EcKey(const EcKey&) = default;
EcKey& EcKey::operator=(const EcKey&) = default;
EcKey::EcKey(EcKey&&) noexcept = default;
EcKey& EcKey::operator=(EcKey&&) noexcept = default;
EcKey::~EcKey() = default;

namespace {
StatusOr<std::shared_ptr<const EcKey::Impl>> MakeImpl(PkeyPtr pkey, bool has_private) {
  CONFML_ASSIGN_OR_RETURN(EcCurve curve, CurveOf(pkey.get()));
  CONFML_ASSIGN_OR_RETURN(Bytes point, UncompressedPoint(pkey.get(), curve));
  auto impl = std::make_shared<EcKey::Impl>();
  impl->pkey = pkey.release();
  impl->curve = curve;
  impl->has_private = has_private;
  impl->point = std::move(point);
  return std::shared_ptr<const EcKey::Impl>(std::move(impl));
}
}  // namespace

StatusOr<EcKey> EcKey::Generate(EcCurve curve) {
  EVP_PKEY* raw = EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", CurveName(curve));
  if (raw == nullptr) return OpenSslError("EC key generation");
  CONFML_ASSIGN_OR_RETURN(auto impl, MakeImpl(PkeyPtr(raw), true));
  return EcKey(std::move(impl));
}

StatusOr<EcKey> EcKey::FromSeed(ByteSpan seed, std::string_view label, EcCurve curve) {
  if (seed.size() < 16) {
    return InvalidArgumentError("EC key seed must be at least 16 bytes, got " +
                                std::to_string(seed.size()));
  }
  EcGroupPtr group(EC_GROUP_new_by_curve_name(CurveNid(curve)));
  BnCtxPtr bn_ctx(BN_CTX_new());
  if (!group || !bn_ctx) return OpenSslError("EC group");
  const BIGNUM* order = EC_GROUP_get0_order(group.get());
  static constexpr std::string_view kSalt = "confml-eckey-v1";
  for (int counter = 0; counter < 256; ++counter) {
    Bytes info(AsBytes(CurveName(curve)).begin(), AsBytes(CurveName(curve)).end());
    info.push_back(0x00);
    info.insert(info.end(), label.begin(), label.end());
    info.push_back(static_cast<uint8_t>(counter));
    CONFML_ASSIGN_OR_RETURN(Bytes scalar, HkdfSha256(seed, AsBytes(kSalt), info, CoordSize(curve)));
    BnPtr d(BN_bin2bn(scalar.data(), static_cast<int>(scalar.size()), nullptr));
    OPENSSL_cleanse(scalar.data(), scalar.size());
    if (!d) return OpenSslError("BN_bin2bn");
    // Rejection sampling keeps the scalar uniform in [1, n-1].
    if (BN_is_zero(d.get()) || BN_cmp(d.get(), order) >= 0) continue;
    EcPointPtr pub(EC_POINT_new(group.get()));
    if (!pub ||
        EC_POINT_mul(group.get(), pub.get(), d.get(), nullptr, nullptr, bn_ctx.get()) != 1) {
      return OpenSslError("EC_POINT_mul");
    }
    Bytes point(1 + 2 * CoordSize(curve));
    if (EC_POINT_point2oct(group.get(), pub.get(), POINT_CONVERSION_UNCOMPRESSED, point.data(),
                           point.size(), bn_ctx.get()) != point.size()) {
      return OpenSslError("EC_POINT_point2oct");
    }
    auto pkey = PkeyFromData(curve, point, d.get());
    BN_clear(d.get());
    if (!pkey.ok()) return pkey.status();
    CONFML_ASSIGN_OR_RETURN(auto impl, MakeImpl(std::move(*pkey), true));
    return EcKey(std::move(impl));
  }
  return InternalError("EC key derivation found no valid scalar in 256 attempts");
}

StatusOr<EcKey> EcKey::FromPrivatePem(std::string_view pem) {
  CONFML_ASSIGN_OR_RETURN(PkeyPtr pkey, ReadPem(pem, true));
  CONFML_ASSIGN_OR_RETURN(auto impl, MakeImpl(std::move(pkey), true));
  return EcKey(std::move(impl));
}

StatusOr<EcKey> EcKey::FromPublicPem(std::string_view pem) {
  CONFML_ASSIGN_OR_RETURN(PkeyPtr pkey, ReadPem(pem, false));
  CONFML_ASSIGN_OR_RETURN(EcCurve curve, CurveOf(pkey.get()));
  CONFML_ASSIGN_OR_RETURN(Bytes point, UncompressedPoint(pkey.get(), curve));
  // Re-import through the validating path, so a PEM key gets the same
  // on-curve/order checks as a raw point.
  return FromPublicPoint(curve, point);
}

StatusOr<EcKey> EcKey::FromPublicPoint(EcCurve curve, ByteSpan point) {
  const size_t n = CoordSize(curve);
  if (point.size() != 1 + 2 * n || point[0] != 0x04) {
    return InvalidArgumentError(
        std::string("a ") + CurveName(curve) + " public point must be 0x04 || x || y (" +
        std::to_string(1 + 2 * n) + " bytes), got " + std::to_string(point.size()) + " bytes");
  }
  CONFML_ASSIGN_OR_RETURN(PkeyPtr pkey, PkeyFromData(curve, point, nullptr));
  CONFML_ASSIGN_OR_RETURN(auto impl, MakeImpl(std::move(pkey), false));
  return EcKey(std::move(impl));
}

StatusOr<EcKey> EcKey::FromPublicCoordinates(EcCurve curve, ByteSpan x, ByteSpan y) {
  const size_t n = CoordSize(curve);
  if (x.size() != n || y.size() != n) {
    return InvalidArgumentError(std::string(CurveName(curve)) + " coordinates must be " +
                                std::to_string(n) + " bytes each");
  }
  Bytes point;
  point.reserve(1 + 2 * n);
  point.push_back(0x04);
  point.insert(point.end(), x.begin(), x.end());
  point.insert(point.end(), y.begin(), y.end());
  return FromPublicPoint(curve, point);
}

EcCurve EcKey::curve() const { return impl_->curve; }
bool EcKey::has_private_key() const { return impl_->has_private; }
size_t EcKey::coordinate_size() const { return CoordSize(impl_->curve); }
int EcKey::cose_algorithm() const { return impl_->curve == EcCurve::kP384 ? -35 : -7; }
Bytes EcKey::PublicPoint() const { return impl_->point; }

std::string EcKey::PublicKeyPem() const {
  BioPtr bio(BIO_new(BIO_s_mem()));
  if (!bio || PEM_write_bio_PUBKEY(bio.get(), impl_->pkey) != 1) {
    DrainOpenSslErrors();
    return std::string();
  }
  char* data = nullptr;
  long len = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, static_cast<size_t>(len));
}

StatusOr<std::string> EcKey::PrivateKeyPem() const {
  if (!impl_->has_private)
    return FailedPreconditionError("EcKey::PrivateKeyPem on a public-only key");
  BioPtr bio(BIO_new(BIO_s_mem()));
  if (!bio || PEM_write_bio_PrivateKey(bio.get(), impl_->pkey, nullptr, nullptr, 0, nullptr,
                                       nullptr) != 1) {
    return OpenSslError("PEM_write_bio_PrivateKey");
  }
  char* data = nullptr;
  long len = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, static_cast<size_t>(len));
}

EcKey EcKey::PublicOnly() const {
  if (!impl_->has_private) return *this;
  auto key = FromPublicPoint(impl_->curve, impl_->point);
  // Our own cached point always re-imports; fall back to sharing otherwise.
  return key.ok() ? *std::move(key) : *this;
}

StatusOr<Bytes> EcKey::Sign(ByteSpan message) const {
  if (!impl_->has_private) return FailedPreconditionError("EcKey::Sign on a public-only key");
  const EVP_MD* md = impl_->curve == EcCurve::kP384 ? EVP_sha384() : EVP_sha256();
  MdCtxPtr ctx(EVP_MD_CTX_new());
  if (!ctx || EVP_DigestSignInit(ctx.get(), nullptr, md, nullptr, impl_->pkey) != 1) {
    return OpenSslError("EVP_DigestSignInit");
  }
  size_t der_len = 0;
  if (EVP_DigestSign(ctx.get(), nullptr, &der_len, message.data(), message.size()) != 1) {
    return OpenSslError("EVP_DigestSign (size)");
  }
  Bytes der(der_len);
  if (EVP_DigestSign(ctx.get(), der.data(), &der_len, message.data(), message.size()) != 1) {
    return OpenSslError("EVP_DigestSign");
  }
  const uint8_t* p = der.data();
  EcdsaSigPtr sig(d2i_ECDSA_SIG(nullptr, &p, static_cast<long>(der_len)));
  if (!sig) return OpenSslError("d2i_ECDSA_SIG");
  const size_t n = CoordSize(impl_->curve);
  Bytes out(2 * n);
  if (BN_bn2binpad(ECDSA_SIG_get0_r(sig.get()), out.data(), static_cast<int>(n)) < 0 ||
      BN_bn2binpad(ECDSA_SIG_get0_s(sig.get()), out.data() + n, static_cast<int>(n)) < 0) {
    return OpenSslError("encoding r || s");
  }
  return out;
}

Status EcKey::Verify(ByteSpan message, ByteSpan signature) const {
  const size_t n = CoordSize(impl_->curve);
  if (signature.size() != 2 * n) {
    return UnauthenticatedError("signature must be " + std::to_string(2 * n) +
                                " bytes (r || s), got " + std::to_string(signature.size()));
  }
  BnPtr r(BN_bin2bn(signature.data(), static_cast<int>(n), nullptr));
  BnPtr s(BN_bin2bn(signature.data() + n, static_cast<int>(n), nullptr));
  EcdsaSigPtr sig(ECDSA_SIG_new());
  if (!r || !s || !sig) return OpenSslError("allocating the ECDSA signature");
  if (ECDSA_SIG_set0(sig.get(), r.get(), s.get()) != 1) return OpenSslError("ECDSA_SIG_set0");
  r.release();  // now owned by sig
  s.release();
  uint8_t* der = nullptr;
  const int der_len = i2d_ECDSA_SIG(sig.get(), &der);
  if (der_len <= 0) return OpenSslError("i2d_ECDSA_SIG");
  std::unique_ptr<uint8_t, void (*)(uint8_t*)> der_owner(der, [](uint8_t* q) { OPENSSL_free(q); });
  const EVP_MD* md = impl_->curve == EcCurve::kP384 ? EVP_sha384() : EVP_sha256();
  MdCtxPtr ctx(EVP_MD_CTX_new());
  if (!ctx || EVP_DigestVerifyInit(ctx.get(), nullptr, md, nullptr, impl_->pkey) != 1) {
    return OpenSslError("EVP_DigestVerifyInit");
  }
  const int rc = EVP_DigestVerify(ctx.get(), der, static_cast<size_t>(der_len), message.data(),
                                  message.size());
  DrainOpenSslErrors();
  if (rc != 1) return UnauthenticatedError("ECDSA signature does not verify");
  return OkStatus();
}

StatusOr<Bytes> EcKey::DeriveSharedSecret(const EcKey& peer) const {
  if (!impl_->has_private) return FailedPreconditionError("ECDH needs a private key");
  if (peer.curve() != curve()) return InvalidArgumentError("ECDH peer key is on a different curve");
  PkeyCtxPtr ctx(EVP_PKEY_CTX_new_from_pkey(nullptr, impl_->pkey, nullptr));
  if (!ctx || EVP_PKEY_derive_init(ctx.get()) != 1 ||
      EVP_PKEY_derive_set_peer(ctx.get(), peer.impl_->pkey) != 1) {
    return OpenSslError("ECDH init");
  }
  size_t len = 0;
  if (EVP_PKEY_derive(ctx.get(), nullptr, &len) != 1) return OpenSslError("ECDH size");
  Bytes out(len);
  if (EVP_PKEY_derive(ctx.get(), out.data(), &len) != 1) return OpenSslError("ECDH derive");
  out.resize(len);
  return out;
}

bool EcKey::SamePublicKey(const EcKey& other) const {
  return impl_->curve == other.impl_->curve && impl_->point == other.impl_->point;
}

}  // namespace confml
