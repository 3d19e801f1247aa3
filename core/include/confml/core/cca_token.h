// confml/core/cca_token.h: the Arm CCA attestation token, decoded strictly
// and issued (signed) for the simulator.
//
// A CCA attestation token is a CBOR tag-399 map {44234: platform token,
// 44241: realm token}; each value is a byte string holding a COSE_Sign1
// (RFC 9052) signed with ES384: the platform token by the CCA Platform
// Attestation Key (CPAK), the realm token by the per-realm Realm Attestation
// Key (RAK). The platform challenge binds the two: it is the hash of the RAK
// claim (draft-ffm-rats-cca-token, RMM spec A7.2). Newer RMMs wrap the same
// two messages in a tag-907 CMW collection; both forms decode. See
// docs/attestation.md.
//
//   StatusOr<CcaToken> token = DecodeCcaToken(bytes);       // strict parse only
//   if (!token.ok()) return token.status();                 // InvalidArgument/DataLoss
//   Status sig = VerifyCoseSign1(token->platform_cose, cpak_public_key);
//   // The full claim-by-claim check is confml::defenses::Verify (verifier.h).
//
// Issuing (what the simulated RMM/HES does):
//   StatusOr<Bytes> realm = SignRealmToken(realm_claims, rak);
//   platform_claims.challenge = *RakBinding(realm_claims);   // hash of the RAK
//   StatusOr<Bytes> platform = SignPlatformToken(platform_claims, cpak);
//   StatusOr<Bytes> token = EncodeCcaToken(*platform, *realm);
//
// Decoding checks syntax and claim types only (no signatures, no policy).
// All functions are thread-safe and never throw; any input bytes give either
// a CcaToken or an error naming the offending field.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "confml/core/crypto.h"
#include "confml/core/status.h"

namespace confml {

// CBOR tag and map keys of the collection (draft-ffm-rats-cca-token sec. 4).
inline constexpr uint64_t kCcaTokenTag = 399;
inline constexpr int64_t kCcaPlatformTokenKey = 44234;
inline constexpr int64_t kCcaRealmTokenKey = 44241;
// The later form (RMM spec after 1.0, draft-ffm-rats-cca-token-02 on): a
// tag-907 CMW collection whose values are CMW records [263, bstr], 263 being
// the CoAP content format of application/eat+cwt. 44258 is the optional
// (unsigned) device token, which confml does not decode. docs/attestation.md.
inline constexpr uint64_t kCcaCmwTokenTag = 907;
inline constexpr uint64_t kCmwEatCwtContentFormat = 263;
inline constexpr int64_t kCcaDeviceTokenKey = 44258;
// COSE_Sign1 tag (RFC 9052) and the only algorithm accepted: ES384.
inline constexpr uint64_t kCoseSign1Tag = 18;
inline constexpr int64_t kCoseAlgEs384 = -35;

// Platform claim keys (CCA platform profile, PSA-derived EAT keys).
inline constexpr int64_t kPlatformProfileKey = 265;               // text
inline constexpr int64_t kPlatformChallengeKey = 10;              // bstr 32/48/64
inline constexpr int64_t kPlatformImplementationIdKey = 2396;     // bstr 32
inline constexpr int64_t kPlatformInstanceIdKey = 256;            // bstr 33 (UEID, type 0x01)
inline constexpr int64_t kPlatformConfigKey = 2401;               // bstr
inline constexpr int64_t kPlatformLifecycleKey = 2395;            // uint 0..0xffff
inline constexpr int64_t kPlatformSwComponentsKey = 2399;         // array of maps
inline constexpr int64_t kPlatformVerificationServiceKey = 2400;  // text
inline constexpr int64_t kPlatformHashAlgorithmIdKey = 2402;      // text
// Software component map keys.
inline constexpr int64_t kSwMeasurementTypeKey = 1;   // text
inline constexpr int64_t kSwMeasurementValueKey = 2;  // bstr
inline constexpr int64_t kSwVersionKey = 4;           // text
inline constexpr int64_t kSwSignerIdKey = 5;          // bstr
inline constexpr int64_t kSwHashAlgorithmIdKey = 6;   // text
// Realm claim keys (RMM specification A7.2.3.1).
inline constexpr int64_t kRealmProfileKey = 265;                     // text, optional
inline constexpr int64_t kRealmChallengeKey = 10;                    // bstr 64
inline constexpr int64_t kRealmPersonalizationValueKey = 44235;      // bstr 64
inline constexpr int64_t kRealmHashAlgorithmIdKey = 44236;           // text
inline constexpr int64_t kRealmPublicKeyKey = 44237;                 // bstr (RAK)
inline constexpr int64_t kRealmInitialMeasurementKey = 44238;        // bstr (RIM)
inline constexpr int64_t kRealmExtensibleMeasurementsKey = 44239;    // [4 x bstr]
inline constexpr int64_t kRealmPublicKeyHashAlgorithmIdKey = 44240;  // text

inline constexpr size_t kRealmChallengeSize = 64;
inline constexpr size_t kRealmPersonalizationValueSize = 64;
inline constexpr size_t kRealmExtensibleMeasurementCount = 4;
// Largest token DecodeCcaToken accepts; a real one is ~1.2 KiB.
inline constexpr size_t kMaxCcaTokenSize = 64 * 1024;

// Lifecycle states that mean "secured" (PSA security lifecycle, 0x3000 with
// any implementation-defined low byte).
inline constexpr uint32_t kLifecycleSecuredMin = 0x3000;
inline constexpr uint32_t kLifecycleSecuredMax = 0x30ff;
inline bool IsLifecycleSecured(uint32_t lifecycle) {
  return lifecycle >= kLifecycleSecuredMin && lifecycle <= kLifecycleSecuredMax;
}

struct SwComponent {
  std::optional<std::string> measurement_type;   // key 1, e.g. "BL"
  Bytes measurement_value;                       // key 2, required
  std::optional<std::string> version;            // key 4
  Bytes signer_id;                               // key 5, required
  std::optional<std::string> hash_algorithm_id;  // key 6, e.g. "sha-256"

  friend bool operator==(const SwComponent&, const SwComponent&) = default;
};

struct PlatformClaims {
  std::string profile;                     // "http://arm.com/CCA-SSD/1.0.0" or
                                           // "tag:arm.com,2023:cca_platform#1.0.0"
  Bytes challenge;                         // hash of the RAK claim (32, 48 or 64 B)
  Bytes implementation_id;                 // 32 B
  Bytes instance_id;                       // 33 B, first byte 0x01
  Bytes config;                            // any length (may be empty)
  uint32_t lifecycle = 0;                  // 0..0xffff
  std::vector<SwComponent> sw_components;  // at least one
  std::optional<std::string> verification_service;
  std::string hash_algorithm_id;  // e.g. "sha-256"

  friend bool operator==(const PlatformClaims&, const PlatformClaims&) = default;
};

struct RealmClaims {
  std::optional<std::string> profile;  // absent in RMM 1.0-eac tokens
  Bytes challenge;                     // 64 B
  Bytes personalization_value;         // 64 B (RPV)
  std::string hash_algorithm_id;       // RIM/REM hash, "sha-256" or "sha-512"
  // The RAK claim bytes exactly as in the token: a SEC1 uncompressed P-384
  // point (97 B, 0x04 || x || y), which is what TF-RMM emits and what the
  // recorded FVP token holds. The RAK binding hashes these bytes.
  Bytes public_key;
  Bytes rim;  // 32 or 64 B, per hash_algorithm_id
  std::array<Bytes, kRealmExtensibleMeasurementCount> rems;
  std::string public_key_hash_algorithm_id;  // hash used for the RAK binding

  friend bool operator==(const RealmClaims&, const RealmClaims&) = default;
};

// One COSE_Sign1 as it was on the wire, kept so signatures are checked over
// the exact bytes received (never re-encoded).
struct CoseSign1 {
  bool tagged = false;     // whether it carried tag 18
  Bytes protected_header;  // contents of the protected bstr (a CBOR map)
  int64_t algorithm = 0;   // protected header label 1
  Bytes payload;           // contents of the payload bstr (claims map)
  Bytes signature;         // raw r || s

  // RFC 9052 sec. 4.4 Sig_structure for Signature1 with empty external_aad:
  // ["Signature1", protected, h'', payload], CBOR-encoded.
  Bytes ToBeSigned() const;
};

struct CcaToken {
  PlatformClaims platform;
  RealmClaims realm;
  CoseSign1 platform_cose;
  CoseSign1 realm_cose;
  uint64_t collection_tag = kCcaTokenTag;  // 399, or 907 for the CMW form
};

// Strict decode of a whole token, either form: tag 399 {44234: bstr,
// 44241: bstr} or tag 907 {44234: [263, bstr], 44241: [263, bstr]} (exactly
// these two entries; a device token 44258 is refused as unsupported).
// InvalidArgument (with the path of the
// field, e.g. "realm token: claim 44239[2]: ...") for anything malformed:
// indefinite lengths, non-minimal integer/length encodings, wrong types or
// sizes, duplicate or unknown-typed map keys, missing mandatory claims,
// trailing bytes (at any level), nesting deeper than 16, input larger than
// kMaxCcaTokenSize, a protected header whose alg is not -35, or critical
// header parameters. Unknown claim keys are ignored (EAT extensibility)
// only when their values are well-formed CBOR.
StatusOr<CcaToken> DecodeCcaToken(ByteSpan bytes);

// Decode one claims set (the payload of a COSE_Sign1), same rules.
StatusOr<PlatformClaims> DecodePlatformClaims(ByteSpan payload);
StatusOr<RealmClaims> DecodeRealmClaims(ByteSpan payload);

// Deterministic CBOR encodings of the claims sets (map keys in the order the
// recorded TF-RMM token uses, preferred serialization). InvalidArgument when
// a claim violates the size/type rules the decoder enforces, so that
// everything issued also decodes.
StatusOr<Bytes> EncodePlatformClaims(const PlatformClaims& claims);
StatusOr<Bytes> EncodeRealmClaims(const RealmClaims& claims);

// COSE_Sign1 (tag 18, protected {1: -35}, empty unprotected) over the encoded
// claims. The key must be P-384 with a private part (FailedPrecondition
// otherwise).
StatusOr<Bytes> SignPlatformToken(const PlatformClaims& claims, const EcKey& cpak);
StatusOr<Bytes> SignRealmToken(const RealmClaims& claims, const EcKey& rak);

// The tag-399 collection {44234: bstr(platform), 44241: bstr(realm)}; the
// inputs are the COSE_Sign1 encodings returned by the Sign* functions.
// InvalidArgument if either is not a well-formed ES384 COSE_Sign1.
StatusOr<Bytes> EncodeCcaToken(ByteSpan platform_cose_sign1, ByteSpan realm_cose_sign1);
// The same two messages in the tag-907 CMW collection form.
StatusOr<Bytes> EncodeCcaCmwToken(ByteSpan platform_cose_sign1, ByteSpan realm_cose_sign1);

// The value the platform challenge must equal: Hash(public_key_hash_algorithm_id,
// public_key). InvalidArgument on an unknown hash algorithm name.
StatusOr<Bytes> RakBinding(const RealmClaims& realm);

// The RAK as a usable public key (P-384). InvalidArgument if the claim is
// not a valid P-384 point.
StatusOr<EcKey> RealmPublicKey(const RealmClaims& realm);

// Generic ES384 COSE_Sign1 (tag 18, protected {1: -35}) over any payload,
// and its strict decoder (same rules as the token's two messages: tagged or
// untagged, alg -35 protected, no crit, 96-byte signature). Used for signed
// attestation policies. `what` prefixes error messages.
StatusOr<Bytes> SignCoseSign1(ByteSpan payload, const EcKey& key);
StatusOr<CoseSign1> DecodeCoseSign1(ByteSpan bytes, std::string_view what);

// OK if `cose.signature` verifies over cose.ToBeSigned() with `key` and the
// algorithm matches the key; Unauthenticated otherwise.
Status VerifyCoseSign1(const CoseSign1& cose, const EcKey& key);

// Human/JSON-friendly rendering of all claims (hex for byte strings), used by
// `confml token verify`. Returns a JSON object text.
std::string CcaTokenClaimsToJson(const CcaToken& token);

}  // namespace confml
