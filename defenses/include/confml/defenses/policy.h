// confml/defenses/policy.h: the attestation policy (Certifier-framework
// style): which platforms are trusted (CPAK trust anchors), which platform
// software and lifecycle states are accepted, and which realm measurements
// (RIM, REMs, RPV) each role may run. A policy is signed by a policy key;
// loading checks that signature before anything in it is believed.
//
//   Policy policy;
//   policy.trust_anchors.push_back(cpak.PublicPoint());
//   policy.roles.push_back({"device", {RealmReference{rim, std::nullopt, std::nullopt}}});
//   policy.accepted_sw_components.push_back({measurement, signer, "RMM", std::nullopt});
//   StatusOr<Bytes> signed_policy = SignPolicy(policy, policy_key);
//   StatusOr<Policy> loaded = LoadSignedPolicy(*signed_policy, policy_key.PublicOnly());
//   // tampered bytes or another key: Unauthenticated
//
// Wire format: an ES384 COSE_Sign1 (tag 18) whose payload is a CBOR map with
// text keys: "format": "confml-attestation-policy", "version": 1,
// "trust_anchors": [bstr SEC1 P-384 point], "roles": [{"role": text,
// "realms": [{"rim": bstr, ? "rems": [4*bstr], ? "rpv": bstr}]}],
// "sw_components": [{"measurement_value": bstr, "signer_id": bstr,
// ? "measurement_type": text, ? "version": text}], "lifecycle_min": uint,
// "lifecycle_max": uint. Signed policies are limited to 64 KiB.
// Values are plain data; functions are thread-safe.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "confml/core/cca_token.h"
#include "confml/core/crypto.h"
#include "confml/core/status.h"

namespace confml::defenses {

inline constexpr uint32_t kPolicyFormatVersion = 1;

// One accepted realm configuration. `rim` must match; `rems` and `rpv`, when
// set, must match exactly too (all four REMs); when unset, any value is
// accepted for them.
struct RealmReference {
  Bytes rim;
  std::optional<std::array<Bytes, kRealmExtensibleMeasurementCount>> rems;
  std::optional<Bytes> rpv;

  friend bool operator==(const RealmReference&, const RealmReference&) = default;
};

struct RolePolicy {
  std::string role;                    // e.g. "device", "runtime"
  std::vector<RealmReference> realms;  // any one of them is accepted

  friend bool operator==(const RolePolicy&, const RolePolicy&) = default;
};

// An accepted platform software component: the token's component matches
// when measurement value and signer id are equal and, where set here, the
// measurement type and version too.
struct SwComponentReference {
  Bytes measurement_value;
  Bytes signer_id;
  std::optional<std::string> measurement_type;
  std::optional<std::string> version;

  friend bool operator==(const SwComponentReference&, const SwComponentReference&) = default;
};

struct Policy {
  // CPAK public keys (SEC1 uncompressed P-384 points) of trusted platforms.
  std::vector<Bytes> trust_anchors;
  std::vector<RolePolicy> roles;
  // Every software component the platform reports must match one of these.
  // Default-deny: an empty list accepts no platform.
  std::vector<SwComponentReference> accepted_sw_components;
  // Accepted PSA security lifecycle range; default: secured (0x3000-0x30ff).
  uint32_t lifecycle_min = kLifecycleSecuredMin;
  uint32_t lifecycle_max = kLifecycleSecuredMax;

  const RolePolicy* FindRole(std::string_view role) const;
  friend bool operator==(const Policy&, const Policy&) = default;
};

// InvalidArgument when a field is malformed (anchor not a P-384 point,
// measurement not 32/48/64 bytes, empty or duplicate role name, rpv not 64
// bytes, lifecycle_min > lifecycle_max or above 0xffff).
Status ValidatePolicy(const Policy& policy);

// Deterministic CBOR of the payload (see top of file), and its strict
// inverse (InvalidArgument on any unknown key, wrong type or wrong format
// name/version). Both validate.
StatusOr<Bytes> EncodePolicy(const Policy& policy);
StatusOr<Policy> DecodePolicy(ByteSpan payload);

// COSE_Sign1 ES384 over EncodePolicy(policy), with a P-384 private key.
StatusOr<Bytes> SignPolicy(const Policy& policy, const EcKey& policy_key);
// Unauthenticated when the envelope is not a well-formed ES384 COSE_Sign1
// or its signature does not verify with `policy_public_key` (a tampered or
// foreign policy); InvalidArgument only when a correctly signed payload is
// malformed. The payload is parsed only after the signature verified.
StatusOr<Policy> LoadSignedPolicy(ByteSpan signed_policy, const EcKey& policy_public_key);
// Convenience: reads both files (policy blob, PEM public key).
StatusOr<Policy> LoadSignedPolicyFile(const std::string& policy_path,
                                      const std::string& policy_key_pem_path);

}  // namespace confml::defenses
