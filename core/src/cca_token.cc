// CCA attestation token codec. The layout follows draft-ffm-rats-cca-token
// and the RMM specification's attestation token chapter; the sizes checked
// here are those of the PSA token profile that the CCA platform token
// derives from. docs/attestation.md cites each rule.

#include "confml/core/cca_token.h"

#include <cstdio>
#include <string>
#include <utility>

#include "confml/core/cbor.h"
#include "confml/core/json.h"

namespace confml {
namespace {

using cbor::Value;

constexpr std::string_view kPlatformProfileLegacy = "http://arm.com/CCA-SSD/1.0.0";
constexpr std::string_view kPlatformProfile2023 = "tag:arm.com,2023:cca_platform#1.0.0";
constexpr std::string_view kRealmProfile2023 = "tag:arm.com,2023:realm#1.0.0";

// Nesting inside one claims set: map -> sw components array -> component
// map -> value is 3 deep; 16 leaves room for well-formed unknown claims
// while bounding recursion.
cbor::DecodeOptions StrictOptions() {
  cbor::DecodeOptions o;
  o.max_depth = 16;
  o.max_input_size = kMaxCcaTokenSize;
  o.require_preferred_serialization = true;
  o.allow_floats = true;  // only unknown claims could hold one; they are ignored
  return o;
}

Status Bad(const std::string& where, const std::string& what) {
  return InvalidArgumentError(where + ": " + what);
}

std::string KeyName(int64_t key) { return "claim " + std::to_string(key); }

bool IsHashSize(size_t n) { return n == 32 || n == 48 || n == 64; }

// The content of a CMW record [263, bstr] of the tag-907 collection.
StatusOr<const Value*> CmwEatCwtContent(const Value& record, const std::string& where) {
  if (!record.is_array() || record.items().size() != 2) {
    return Bad(where, "CMW record must be a two-element array [263, bstr]");
  }
  const Value& type = record.items()[0];
  if (!type.is_unsigned() || type.argument() != kCmwEatCwtContentFormat) {
    return Bad(where, "CMW record type must be CoAP content format 263 (application/eat+cwt)");
  }
  return &record.items()[1];
}

// ---- Claim readers -----------------------------------------------------------

Status ReadBytes(const Value& v, const std::string& where, Bytes& out) {
  if (!v.is_bytes()) return Bad(where, "expected a byte string");
  out = v.bytes();
  return OkStatus();
}

Status ReadText(const Value& v, const std::string& where, std::string& out) {
  if (!v.is_text()) return Bad(where, "expected a text string");
  out.assign(v.text());
  return OkStatus();
}

Status ReadHash(const Value& v, const std::string& where, Bytes& out) {
  CONFML_RETURN_IF_ERROR(ReadBytes(v, where, out));
  if (!IsHashSize(out.size())) {
    return Bad(where, "expected 32, 48 or 64 bytes, got " + std::to_string(out.size()));
  }
  return OkStatus();
}

Status ReadNonEmptyText(const Value& v, const std::string& where, std::string& out) {
  CONFML_RETURN_IF_ERROR(ReadText(v, where, out));
  if (out.empty()) return Bad(where, "empty text string");
  return OkStatus();
}

Status ReadExactBytes(const Value& v, const std::string& where, size_t size, Bytes& out) {
  CONFML_RETURN_IF_ERROR(ReadBytes(v, where, out));
  if (out.size() != size) {
    return Bad(where,
               "expected " + std::to_string(size) + " bytes, got " + std::to_string(out.size()));
  }
  return OkStatus();
}

// PSA security lifecycle: the high byte names the state (unknown, assembly
// and test, PSA RoT provisioning, secured, non-PSA-RoT debug, recoverable
// PSA-RoT debug, decommissioned); the low byte is implementation defined.
bool IsKnownLifecycle(uint64_t v) {
  if (v > 0xffff) return false;
  const uint64_t state = v >> 8;
  return state == 0x00 || state == 0x10 || state == 0x20 || state == 0x30 || state == 0x40 ||
         state == 0x50 || state == 0x60;
}

StatusOr<SwComponent> ReadSwComponent(const Value& v, const std::string& where) {
  if (!v.is_map()) return Bad(where, "software component is not a map");
  SwComponent sc;
  bool has_value = false, has_signer = false;
  for (const auto& [key, value] : v.entries()) {
    std::optional<int64_t> k = key.AsInt64();
    if (!k) continue;  // text-keyed extensions are ignored
    const std::string at = where + "." + std::to_string(*k);
    switch (*k) {
      case kSwMeasurementTypeKey: {
        std::string s;
        CONFML_RETURN_IF_ERROR(ReadText(value, at, s));
        sc.measurement_type = std::move(s);
        break;
      }
      case kSwMeasurementValueKey:
        CONFML_RETURN_IF_ERROR(ReadHash(value, at, sc.measurement_value));
        has_value = true;
        break;
      case kSwVersionKey: {
        std::string s;
        CONFML_RETURN_IF_ERROR(ReadText(value, at, s));
        sc.version = std::move(s);
        break;
      }
      case kSwSignerIdKey:
        CONFML_RETURN_IF_ERROR(ReadHash(value, at, sc.signer_id));
        has_signer = true;
        break;
      case kSwHashAlgorithmIdKey: {
        std::string s;
        CONFML_RETURN_IF_ERROR(ReadNonEmptyText(value, at, s));
        sc.hash_algorithm_id = std::move(s);
        break;
      }
      default:
        break;
    }
  }
  if (!has_value) return Bad(where, "missing mandatory measurement value (key 2)");
  if (!has_signer) return Bad(where, "missing mandatory signer id (key 5)");
  return sc;
}

// COSE_Key (RFC 9052 sec. 7, RFC 9053 sec. 7.1.1) EC2 P-384 public key ->
// SEC1 uncompressed point.
StatusOr<Bytes> CoseKeyToPoint(ByteSpan encoded, const std::string& where) {
  auto decoded = cbor::Decode(encoded, StrictOptions());
  if (!decoded.ok()) return Bad(where, "RAK is not a CBOR COSE_Key: " + decoded.status().message());
  const Value& key = *decoded;
  if (!key.is_map()) return Bad(where, "RAK COSE_Key is not a map");
  const Value* kty = key.Find(1);
  const Value* crv = key.Find(-1);
  const Value* x = key.Find(-2);
  const Value* y = key.Find(-3);
  if (kty == nullptr || kty->AsInt64() != 2) return Bad(where, "RAK COSE_Key kty is not EC2 (2)");
  if (crv == nullptr || crv->AsInt64() != 2) return Bad(where, "RAK COSE_Key crv is not P-384 (2)");
  if (x == nullptr || !x->is_bytes() || x->bytes().size() != 48)
    return Bad(where, "RAK COSE_Key x is not 48 bytes");
  if (y == nullptr || !y->is_bytes() || y->bytes().size() != 48) {
    return Bad(where, "RAK COSE_Key y is not 48 bytes (compressed points are not accepted)");
  }
  if (key.Find(-4) != nullptr) return Bad(where, "RAK COSE_Key carries a private key (label -4)");
  Bytes point;
  point.reserve(97);
  point.push_back(0x04);
  point.insert(point.end(), x->bytes().begin(), x->bytes().end());
  point.insert(point.end(), y->bytes().begin(), y->bytes().end());
  return point;
}

StatusOr<Value> DecodeClaimsMap(ByteSpan payload, const std::string& where) {
  auto v = cbor::Decode(payload, StrictOptions());
  if (!v.ok()) return Bad(where, v.status().message());
  if (!v->is_map()) return Bad(where, "claims set is not a map");
  return std::move(v).value();
}

// ---- COSE_Sign1 ----------------------------------------------------------------

StatusOr<CoseSign1> DecodeCoseSign1Impl(ByteSpan bytes, const std::string& where) {
  auto decoded = cbor::Decode(bytes, StrictOptions());
  if (!decoded.ok()) return Bad(where, decoded.status().message());
  CoseSign1 cose;
  const Value* msg = &*decoded;
  if (msg->is_tag()) {
    if (msg->argument() != kCoseSign1Tag) {
      return Bad(where,
                 "tag " + std::to_string(msg->argument()) + " where COSE_Sign1 (18) was expected");
    }
    cose.tagged = true;
    msg = &msg->tag_content();
  }
  if (!msg->is_array() || msg->items().size() != 4)
    return Bad(where, "COSE_Sign1 is not an array of 4 items");
  const Value& prot = msg->items()[0];
  const Value& unprot = msg->items()[1];
  const Value& payload = msg->items()[2];
  const Value& sig = msg->items()[3];
  if (!prot.is_bytes()) return Bad(where, "COSE protected header is not a byte string");
  if (!unprot.is_map()) return Bad(where, "COSE unprotected header is not a map");
  if (!payload.is_bytes())
    return Bad(where, "COSE payload is not a byte string (detached payloads are not accepted)");
  if (!sig.is_bytes()) return Bad(where, "COSE signature is not a byte string");

  if (prot.bytes().empty())
    return Bad(where, "COSE protected header is empty (alg must be protected)");
  auto headers = cbor::Decode(prot.bytes(), StrictOptions());
  if (!headers.ok()) return Bad(where, "COSE protected header: " + headers.status().message());
  if (!headers->is_map()) return Bad(where, "COSE protected header is not a map");
  // We understand no critical header parameter, so any "crit" must fail
  // (RFC 9052 sec. 3.1).
  if (headers->Find(2) != nullptr || unprot.Find(2) != nullptr) {
    return Bad(where, "COSE crit header parameter present; none is understood");
  }
  const Value* alg = headers->Find(1);
  if (alg == nullptr) return Bad(where, "COSE protected header has no alg (1)");
  if (alg->AsInt64() != kCoseAlgEs384) return Bad(where, "COSE alg is not ES384 (-35)");
  // A label may appear in one bucket only (RFC 9052 sec. 3).
  if (unprot.Find(1) != nullptr)
    return Bad(where, "COSE alg also present in the unprotected header");
  if (sig.bytes().size() != 96) {
    return Bad(where, "ES384 signature must be 96 bytes (r || s), got " +
                          std::to_string(sig.bytes().size()));
  }
  cose.protected_header = prot.bytes();
  cose.algorithm = kCoseAlgEs384;
  cose.payload = payload.bytes();
  cose.signature = sig.bytes();
  return cose;
}

Bytes ProtectedEs384() {
  return cbor::Encode(Value::Map({{Value::Int(1), Value::Int(kCoseAlgEs384)}}));
}

StatusOr<Bytes> SignPayload(ByteSpan payload, const EcKey& key, const char* what) {
  if (key.curve() != EcCurve::kP384)
    return FailedPreconditionError(std::string(what) + " key must be P-384 (ES384)");
  if (!key.has_private_key())
    return FailedPreconditionError(std::string(what) + " key has no private part");
  CoseSign1 cose;
  cose.tagged = true;
  cose.protected_header = ProtectedEs384();
  cose.algorithm = kCoseAlgEs384;
  cose.payload.assign(payload.begin(), payload.end());
  CONFML_ASSIGN_OR_RETURN(Bytes sig, key.Sign(cose.ToBeSigned()));
  Value msg = Value::Tag(kCoseSign1Tag,
                         Value::Array({Value::ByteString(cose.protected_header), Value::Map({}),
                                       Value::ByteString(std::move(cose.payload)),
                                       Value::ByteString(std::move(sig))}));
  return cbor::Encode(msg);
}

// ---- JSON rendering ------------------------------------------------------------

std::string JsonHex(ByteSpan b) { return "\"" + ToHex(b) + "\""; }

}  // namespace

// ---- Public API ------------------------------------------------------------------

Bytes CoseSign1::ToBeSigned() const {
  // ["Signature1", bstr protected, bstr external_aad (empty), bstr payload]
  Bytes out;
  out.reserve(protected_header.size() + payload.size() + 32);
  cbor::EncodeHead(cbor::Major::kArray, 4, out);
  static constexpr std::string_view kContext = "Signature1";
  cbor::EncodeHead(cbor::Major::kText, kContext.size(), out);
  out.insert(out.end(), kContext.begin(), kContext.end());
  cbor::EncodeHead(cbor::Major::kBytes, protected_header.size(), out);
  out.insert(out.end(), protected_header.begin(), protected_header.end());
  cbor::EncodeHead(cbor::Major::kBytes, 0, out);
  cbor::EncodeHead(cbor::Major::kBytes, payload.size(), out);
  out.insert(out.end(), payload.begin(), payload.end());
  return out;
}

StatusOr<PlatformClaims> DecodePlatformClaims(ByteSpan payload) {
  const std::string where = "platform token";
  CONFML_ASSIGN_OR_RETURN(Value map, DecodeClaimsMap(payload, where));
  PlatformClaims c;
  bool seen[9] = {false};
  enum { kProfile, kChallenge, kImpl, kInst, kConfig, kLife, kSw, kVsi, kHash };
  for (const auto& [key, value] : map.entries()) {
    std::optional<int64_t> k = key.AsInt64();
    if (!k) continue;
    const std::string at = where + ": " + KeyName(*k);
    switch (*k) {
      case kPlatformProfileKey:
        CONFML_RETURN_IF_ERROR(ReadText(value, at, c.profile));
        if (c.profile != kPlatformProfileLegacy && c.profile != kPlatformProfile2023) {
          return Bad(at, "unknown platform profile '" + c.profile + "'");
        }
        seen[kProfile] = true;
        break;
      case kPlatformChallengeKey:
        CONFML_RETURN_IF_ERROR(ReadHash(value, at, c.challenge));
        seen[kChallenge] = true;
        break;
      case kPlatformImplementationIdKey:
        CONFML_RETURN_IF_ERROR(ReadExactBytes(value, at, 32, c.implementation_id));
        seen[kImpl] = true;
        break;
      case kPlatformInstanceIdKey:
        CONFML_RETURN_IF_ERROR(ReadExactBytes(value, at, 33, c.instance_id));
        // EAT UEID type 0x01 (RAND): the instance id is the hash of the IAK.
        if (c.instance_id[0] != 0x01)
          return Bad(at, "instance id is not a UEID of type RAND (0x01)");
        seen[kInst] = true;
        break;
      case kPlatformConfigKey:
        CONFML_RETURN_IF_ERROR(ReadBytes(value, at, c.config));
        seen[kConfig] = true;
        break;
      case kPlatformLifecycleKey:
        if (!value.is_unsigned() || !IsKnownLifecycle(value.argument())) {
          return Bad(at, "lifecycle is not a PSA security lifecycle state (uint 0x0000..0x60ff)");
        }
        c.lifecycle = static_cast<uint32_t>(value.argument());
        seen[kLife] = true;
        break;
      case kPlatformSwComponentsKey: {
        if (!value.is_array()) return Bad(at, "software components is not an array");
        if (value.items().empty())
          return Bad(at, "software components is empty (at least one required)");
        for (size_t i = 0; i < value.items().size(); ++i) {
          CONFML_ASSIGN_OR_RETURN(
              SwComponent sc,
              ReadSwComponent(value.items()[i], at + "[" + std::to_string(i) + "]"));
          c.sw_components.push_back(std::move(sc));
        }
        seen[kSw] = true;
        break;
      }
      case kPlatformVerificationServiceKey: {
        std::string s;
        CONFML_RETURN_IF_ERROR(ReadText(value, at, s));
        c.verification_service = std::move(s);
        seen[kVsi] = true;
        break;
      }
      case kPlatformHashAlgorithmIdKey:
        CONFML_RETURN_IF_ERROR(ReadNonEmptyText(value, at, c.hash_algorithm_id));
        seen[kHash] = true;
        break;
      default:
        break;  // EAT: unknown claims are ignored (they are still signed)
    }
  }
  static constexpr struct {
    int slot;
    int64_t key;
    const char* name;
  } kMandatory[] = {
      {kProfile, kPlatformProfileKey, "profile"},
      {kChallenge, kPlatformChallengeKey, "challenge"},
      {kImpl, kPlatformImplementationIdKey, "implementation id"},
      {kInst, kPlatformInstanceIdKey, "instance id"},
      {kConfig, kPlatformConfigKey, "config"},
      {kLife, kPlatformLifecycleKey, "lifecycle"},
      {kSw, kPlatformSwComponentsKey, "software components"},
      {kHash, kPlatformHashAlgorithmIdKey, "hash algorithm id"},
  };
  for (const auto& m : kMandatory) {
    if (!seen[m.slot])
      return Bad(where, std::string("missing mandatory claim ") + m.name + " (" +
                            std::to_string(m.key) + ")");
  }
  return c;
}

StatusOr<RealmClaims> DecodeRealmClaims(ByteSpan payload) {
  const std::string where = "realm token";
  CONFML_ASSIGN_OR_RETURN(Value map, DecodeClaimsMap(payload, where));
  RealmClaims c;
  bool seen[7] = {false};
  enum { kChallenge, kRpv, kHash, kRak, kRim, kRems, kRakHash };
  for (const auto& [key, value] : map.entries()) {
    std::optional<int64_t> k = key.AsInt64();
    if (!k) continue;
    const std::string at = where + ": " + KeyName(*k);
    switch (*k) {
      case kRealmProfileKey: {
        std::string s;
        CONFML_RETURN_IF_ERROR(ReadText(value, at, s));
        if (s != kRealmProfile2023) return Bad(at, "unknown realm profile '" + s + "'");
        c.profile = std::move(s);
        break;
      }
      case kRealmChallengeKey:
        CONFML_RETURN_IF_ERROR(ReadExactBytes(value, at, kRealmChallengeSize, c.challenge));
        seen[kChallenge] = true;
        break;
      case kRealmPersonalizationValueKey:
        CONFML_RETURN_IF_ERROR(
            ReadExactBytes(value, at, kRealmPersonalizationValueSize, c.personalization_value));
        seen[kRpv] = true;
        break;
      case kRealmHashAlgorithmIdKey:
        CONFML_RETURN_IF_ERROR(ReadNonEmptyText(value, at, c.hash_algorithm_id));
        seen[kHash] = true;
        break;
      case kRealmPublicKeyKey:
        CONFML_RETURN_IF_ERROR(ReadBytes(value, at, c.public_key));
        seen[kRak] = true;
        break;
      case kRealmInitialMeasurementKey:
        CONFML_RETURN_IF_ERROR(ReadHash(value, at, c.rim));
        seen[kRim] = true;
        break;
      case kRealmExtensibleMeasurementsKey:
        if (!value.is_array() || value.items().size() != kRealmExtensibleMeasurementCount) {
          return Bad(at, "expected an array of exactly 4 measurements");
        }
        for (size_t i = 0; i < kRealmExtensibleMeasurementCount; ++i) {
          CONFML_RETURN_IF_ERROR(
              ReadHash(value.items()[i], at + "[" + std::to_string(i) + "]", c.rems[i]));
        }
        seen[kRems] = true;
        break;
      case kRealmPublicKeyHashAlgorithmIdKey:
        CONFML_RETURN_IF_ERROR(ReadNonEmptyText(value, at, c.public_key_hash_algorithm_id));
        seen[kRakHash] = true;
        break;
      default:
        break;
    }
  }
  static constexpr struct {
    int slot;
    int64_t key;
    const char* name;
  } kMandatory[] = {
      {kChallenge, kRealmChallengeKey, "challenge"},
      {kRpv, kRealmPersonalizationValueKey, "personalization value"},
      {kHash, kRealmHashAlgorithmIdKey, "hash algorithm id"},
      {kRak, kRealmPublicKeyKey, "public key"},
      {kRim, kRealmInitialMeasurementKey, "initial measurement"},
      {kRems, kRealmExtensibleMeasurementsKey, "extensible measurements"},
      {kRakHash, kRealmPublicKeyHashAlgorithmIdKey, "public key hash algorithm id"},
  };
  for (const auto& m : kMandatory) {
    if (!seen[m.slot])
      return Bad(where, std::string("missing mandatory claim ") + m.name + " (" +
                            std::to_string(m.key) + ")");
  }
  // RIM and REMs are digests of the realm's hash algorithm: their size must
  // agree with it when the algorithm is one we know.
  if (auto alg = HashAlgFromName(c.hash_algorithm_id); alg.ok()) {
    const size_t n = HashSize(*alg);
    if (c.rim.size() != n)
      return Bad(where, "RIM size does not match hash algorithm " + c.hash_algorithm_id);
    for (size_t i = 0; i < c.rems.size(); ++i) {
      if (c.rems[i].size() != n) {
        return Bad(where, "REM[" + std::to_string(i) + "] size does not match hash algorithm " +
                              c.hash_algorithm_id);
      }
    }
  }
  // The RAK encoding depends on the profile: the pre-profile (RMM 1.0-eac)
  // form is a raw SEC1 point, the 2023 profile a COSE_Key.
  const std::string at = where + ": " + KeyName(kRealmPublicKeyKey);
  if (!c.profile) {
    if (c.public_key.size() != 97 || c.public_key[0] != 0x04) {
      return Bad(at, "RAK must be an uncompressed P-384 point (97 bytes starting 0x04)");
    }
  } else {
    CONFML_RETURN_IF_ERROR(CoseKeyToPoint(c.public_key, at).status());
  }
  return c;
}

StatusOr<CcaToken> DecodeCcaToken(ByteSpan bytes) {
  if (bytes.size() > kMaxCcaTokenSize) {
    return InvalidArgumentError("CCA token of " + std::to_string(bytes.size()) +
                                " bytes exceeds the limit of " + std::to_string(kMaxCcaTokenSize));
  }
  auto top = cbor::Decode(bytes, StrictOptions());
  if (!top.ok()) return Bad("CCA token", top.status().message());
  if (!top->is_tag() ||
      (top->argument() != kCcaTokenTag && top->argument() != kCcaCmwTokenTag)) {
    return Bad("CCA token", "not a CBOR tag 399 or tag 907 (CMW) collection");
  }
  const bool cmw = top->argument() == kCcaCmwTokenTag;
  const Value& coll = top->tag_content();
  if (!coll.is_map()) return Bad("CCA token", "collection is not a map");
  if (cmw && coll.Find(kCcaDeviceTokenKey) != nullptr) {
    return Bad("CCA token: 44258", "device token (RMM device assignment) is not supported");
  }
  if (coll.entries().size() != 2) {
    return Bad("CCA token", "collection must be a map with exactly two entries (44234, 44241)");
  }
  const Value* platform = coll.Find(kCcaPlatformTokenKey);
  const Value* realm = coll.Find(kCcaRealmTokenKey);
  if (platform == nullptr || realm == nullptr) {
    return Bad("CCA token", "collection must hold keys 44234 (platform) and 44241 (realm)");
  }
  if (cmw) {
    // Each CMW record must be exactly [263, bstr]: the CCA profile of CMW
    // admits no indicator element and no other content format.
    CONFML_ASSIGN_OR_RETURN(platform, CmwEatCwtContent(*platform, "CCA token: 44234"));
    CONFML_ASSIGN_OR_RETURN(realm, CmwEatCwtContent(*realm, "CCA token: 44241"));
  }
  if (!platform->is_bytes()) return Bad("CCA token: 44234", "platform token is not a byte string");
  if (!realm->is_bytes()) return Bad("CCA token: 44241", "realm token is not a byte string");

  CcaToken token;
  CONFML_ASSIGN_OR_RETURN(token.platform_cose,
                          DecodeCoseSign1Impl(platform->bytes(), "platform token"));
  CONFML_ASSIGN_OR_RETURN(token.realm_cose, DecodeCoseSign1Impl(realm->bytes(), "realm token"));
  CONFML_ASSIGN_OR_RETURN(token.platform, DecodePlatformClaims(token.platform_cose.payload));
  CONFML_ASSIGN_OR_RETURN(token.realm, DecodeRealmClaims(token.realm_cose.payload));
  token.collection_tag = top->argument();
  return token;
}

StatusOr<Bytes> EncodePlatformClaims(const PlatformClaims& c) {
  std::vector<Value> components;
  for (const SwComponent& sc : c.sw_components) {
    std::vector<Value::Entry> e;
    if (sc.measurement_type)
      e.emplace_back(Value::Int(kSwMeasurementTypeKey), Value::Text(*sc.measurement_type));
    e.emplace_back(Value::Int(kSwSignerIdKey), Value::ByteString(sc.signer_id));
    if (sc.version) e.emplace_back(Value::Int(kSwVersionKey), Value::Text(*sc.version));
    e.emplace_back(Value::Int(kSwMeasurementValueKey), Value::ByteString(sc.measurement_value));
    if (sc.hash_algorithm_id)
      e.emplace_back(Value::Int(kSwHashAlgorithmIdKey), Value::Text(*sc.hash_algorithm_id));
    components.push_back(Value::Map(std::move(e)));
  }
  std::vector<Value::Entry> e;
  e.emplace_back(Value::Int(kPlatformProfileKey), Value::Text(c.profile));
  e.emplace_back(Value::Int(kPlatformChallengeKey), Value::ByteString(c.challenge));
  e.emplace_back(Value::Int(kPlatformImplementationIdKey), Value::ByteString(c.implementation_id));
  e.emplace_back(Value::Int(kPlatformInstanceIdKey), Value::ByteString(c.instance_id));
  e.emplace_back(Value::Int(kPlatformConfigKey), Value::ByteString(c.config));
  e.emplace_back(Value::Int(kPlatformLifecycleKey), Value::Uint(c.lifecycle));
  e.emplace_back(Value::Int(kPlatformHashAlgorithmIdKey), Value::Text(c.hash_algorithm_id));
  e.emplace_back(Value::Int(kPlatformSwComponentsKey), Value::Array(std::move(components)));
  if (c.verification_service) {
    e.emplace_back(Value::Int(kPlatformVerificationServiceKey),
                   Value::Text(*c.verification_service));
  }
  Bytes out = cbor::Encode(Value::Map(std::move(e)));
  // Round-trip through the strict decoder: what we issue must verify.
  auto check = DecodePlatformClaims(out);
  if (!check.ok())
    return InvalidArgumentError("cannot encode platform claims: " + check.status().message());
  return out;
}

StatusOr<Bytes> EncodeRealmClaims(const RealmClaims& c) {
  std::vector<Value> rems;
  for (const Bytes& rem : c.rems) rems.push_back(Value::ByteString(rem));
  std::vector<Value::Entry> e;
  if (c.profile) e.emplace_back(Value::Int(kRealmProfileKey), Value::Text(*c.profile));
  e.emplace_back(Value::Int(kRealmChallengeKey), Value::ByteString(c.challenge));
  e.emplace_back(Value::Int(kRealmHashAlgorithmIdKey), Value::Text(c.hash_algorithm_id));
  e.emplace_back(Value::Int(kRealmPublicKeyHashAlgorithmIdKey),
                 Value::Text(c.public_key_hash_algorithm_id));
  e.emplace_back(Value::Int(kRealmPersonalizationValueKey),
                 Value::ByteString(c.personalization_value));
  e.emplace_back(Value::Int(kRealmPublicKeyKey), Value::ByteString(c.public_key));
  e.emplace_back(Value::Int(kRealmInitialMeasurementKey), Value::ByteString(c.rim));
  e.emplace_back(Value::Int(kRealmExtensibleMeasurementsKey), Value::Array(std::move(rems)));
  Bytes out = cbor::Encode(Value::Map(std::move(e)));
  auto check = DecodeRealmClaims(out);
  if (!check.ok())
    return InvalidArgumentError("cannot encode realm claims: " + check.status().message());
  return out;
}

StatusOr<Bytes> SignPlatformToken(const PlatformClaims& claims, const EcKey& cpak) {
  CONFML_ASSIGN_OR_RETURN(Bytes payload, EncodePlatformClaims(claims));
  return SignPayload(payload, cpak, "CPAK");
}

StatusOr<Bytes> SignRealmToken(const RealmClaims& claims, const EcKey& rak) {
  CONFML_ASSIGN_OR_RETURN(Bytes payload, EncodeRealmClaims(claims));
  return SignPayload(payload, rak, "RAK");
}

StatusOr<Bytes> EncodeCcaToken(ByteSpan platform_cose_sign1, ByteSpan realm_cose_sign1) {
  CONFML_RETURN_IF_ERROR(DecodeCoseSign1Impl(platform_cose_sign1, "platform token").status());
  CONFML_RETURN_IF_ERROR(DecodeCoseSign1Impl(realm_cose_sign1, "realm token").status());
  Value coll = Value::Tag(
      kCcaTokenTag, Value::Map({
                        {Value::Int(kCcaPlatformTokenKey), Value::ByteString(platform_cose_sign1)},
                        {Value::Int(kCcaRealmTokenKey), Value::ByteString(realm_cose_sign1)},
                    }));
  return cbor::Encode(coll);
}

StatusOr<Bytes> EncodeCcaCmwToken(ByteSpan platform_cose_sign1, ByteSpan realm_cose_sign1) {
  CONFML_RETURN_IF_ERROR(DecodeCoseSign1Impl(platform_cose_sign1, "platform token").status());
  CONFML_RETURN_IF_ERROR(DecodeCoseSign1Impl(realm_cose_sign1, "realm token").status());
  auto record = [](ByteSpan cose) {
    return Value::Array({Value::Uint(kCmwEatCwtContentFormat), Value::ByteString(cose)});
  };
  Value coll = Value::Tag(kCcaCmwTokenTag,
                          Value::Map({
                              {Value::Int(kCcaPlatformTokenKey), record(platform_cose_sign1)},
                              {Value::Int(kCcaRealmTokenKey), record(realm_cose_sign1)},
                          }));
  return cbor::Encode(coll);
}

StatusOr<Bytes> SignCoseSign1(ByteSpan payload, const EcKey& key) {
  return SignPayload(payload, key, "signing");
}

StatusOr<CoseSign1> DecodeCoseSign1(ByteSpan bytes, std::string_view what) {
  return DecodeCoseSign1Impl(bytes, std::string(what));
}

StatusOr<Bytes> RakBinding(const RealmClaims& realm) {
  CONFML_ASSIGN_OR_RETURN(HashAlg alg, HashAlgFromName(realm.public_key_hash_algorithm_id));
  return Hash(alg, realm.public_key);
}

StatusOr<EcKey> RealmPublicKey(const RealmClaims& realm) {
  if (!realm.profile) return EcKey::FromPublicPoint(EcCurve::kP384, realm.public_key);
  CONFML_ASSIGN_OR_RETURN(Bytes point, CoseKeyToPoint(realm.public_key, "realm token: RAK"));
  return EcKey::FromPublicPoint(EcCurve::kP384, point);
}

Status VerifyCoseSign1(const CoseSign1& cose, const EcKey& key) {
  if (cose.algorithm != key.cose_algorithm()) {
    return UnauthenticatedError("COSE alg " + std::to_string(cose.algorithm) +
                                " does not match the key's alg " +
                                std::to_string(key.cose_algorithm()));
  }
  return key.Verify(cose.ToBeSigned(), cose.signature);
}

std::string CcaTokenClaimsToJson(const CcaToken& t) {
  const PlatformClaims& p = t.platform;
  const RealmClaims& r = t.realm;
  std::string j = "{\"platform\":{";
  j += "\"profile\":" + JsonQuote(p.profile);
  j += ",\"challenge\":" + JsonHex(p.challenge);
  j += ",\"implementation_id\":" + JsonHex(p.implementation_id);
  j += ",\"instance_id\":" + JsonHex(p.instance_id);
  j += ",\"config\":" + JsonHex(p.config);
  char life[16];
  std::snprintf(life, sizeof(life), "0x%04x", p.lifecycle);
  j += ",\"lifecycle\":" + JsonQuote(life);
  j += ",\"sw_components\":[";
  for (size_t i = 0; i < p.sw_components.size(); ++i) {
    const SwComponent& sc = p.sw_components[i];
    j += i ? ",{" : "{";
    j += "\"measurement_value\":" + JsonHex(sc.measurement_value);
    j += ",\"signer_id\":" + JsonHex(sc.signer_id);
    if (sc.measurement_type) j += ",\"measurement_type\":" + JsonQuote(*sc.measurement_type);
    if (sc.version) j += ",\"version\":" + JsonQuote(*sc.version);
    if (sc.hash_algorithm_id) j += ",\"hash_algorithm_id\":" + JsonQuote(*sc.hash_algorithm_id);
    j += "}";
  }
  j += "]";
  if (p.verification_service)
    j += ",\"verification_service\":" + JsonQuote(*p.verification_service);
  j += ",\"hash_algorithm_id\":" + JsonQuote(p.hash_algorithm_id);
  j += "},\"realm\":{";
  if (r.profile) j += "\"profile\":" + JsonQuote(*r.profile) + ",";
  j += "\"challenge\":" + JsonHex(r.challenge);
  j += ",\"personalization_value\":" + JsonHex(r.personalization_value);
  j += ",\"hash_algorithm_id\":" + JsonQuote(r.hash_algorithm_id);
  j += ",\"public_key\":" + JsonHex(r.public_key);
  j += ",\"public_key_hash_algorithm_id\":" + JsonQuote(r.public_key_hash_algorithm_id);
  j += ",\"rim\":" + JsonHex(r.rim);
  j += ",\"rems\":[";
  for (size_t i = 0; i < r.rems.size(); ++i) j += (i ? "," : "") + JsonHex(r.rems[i]);
  j += "]}}";
  return j;
}

}  // namespace confml
