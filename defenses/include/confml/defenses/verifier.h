// confml/defenses/verifier.h: appraisal of a CCA attestation token, claim by
// claim, in the manner of Veraison's CCA verifier; and a registry of fresh
// nonces against replay.
//
//   NonceRegistry nonces;
//   StatusOr<Bytes> nonce = nonces.Issue();           // send to the realm
//   ... realm returns `token` for challenge *nonce ...
//   VerifierInputs in;
//   in.trust_anchors.push_back(cpak_public_key);
//   in.expected_nonce = *nonce;
//   in.nonce_registry = &nonces;                       // each nonce accepted once
//   in.policy = &policy;  in.claimed_role = "device";  // optional
//   Verdict v = Verify(token, in);
//   if (!v.ok()) std::cerr << v.ToJson();              // which check failed, why
//
// Checks, in order, each one Finding (names are stable, see kCheck*):
//   decode              the token parses strictly (cca_token.h)
//   platform_signature  COSE_Sign1 of the platform token verifies with one
//                       of the trust anchors (inputs + policy anchors)
//   realm_signature     the realm token verifies with the RAK it carries
//   rak_binding         platform challenge == Hash(RAK hash alg, RAK claim)
//   challenge           realm challenge == expected nonce (constant time);
//                       with a registry, the nonce is outstanding and is
//                       consumed (only when both signatures and the binding
//                       hold, so forged tokens cannot burn nonces)
//   platform_lifecycle  lifecycle within the policy range (default secured)
// and with a policy:
//   role                the claimed role is in the policy
//   rim, rems, rpv      realm measurements match a reference of that role
//   platform_sw_components  every reported component is accepted
// When decoding fails every other check is reported as failed ("not
// evaluated"), so a verdict always lists the same checks for the same inputs.
//
// Verify never throws and never crashes on any input bytes. It is
// thread-safe; NonceRegistry is internally synchronized.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "confml/core/cca_token.h"
#include "confml/core/crypto.h"
#include "confml/core/status.h"
#include "confml/defenses/policy.h"

namespace confml::defenses {

inline constexpr std::string_view kCheckDecode = "decode";
inline constexpr std::string_view kCheckPlatformSignature = "platform_signature";
inline constexpr std::string_view kCheckRealmSignature = "realm_signature";
inline constexpr std::string_view kCheckRakBinding = "rak_binding";
inline constexpr std::string_view kCheckChallenge = "challenge";
inline constexpr std::string_view kCheckLifecycle = "platform_lifecycle";
inline constexpr std::string_view kCheckRole = "role";
inline constexpr std::string_view kCheckRim = "rim";
inline constexpr std::string_view kCheckRems = "rems";
inline constexpr std::string_view kCheckRpv = "rpv";
inline constexpr std::string_view kCheckSwComponents = "platform_sw_components";

struct Finding {
  std::string check;  // one of kCheck*
  bool passed = false;
  std::string detail;  // why it passed or failed, for people
};

class Verdict {
 public:
  // True only if there is at least one finding and every finding passed.
  bool ok() const;
  const std::vector<Finding>& findings() const { return findings_; }
  // nullptr if that check was not made.
  const Finding* Find(std::string_view check) const;
  // The names of the failed checks, in order.
  std::vector<std::string> FailedChecks() const;
  // {"ok": bool, "findings": [{"check":..., "passed":..., "detail":...}]}
  std::string ToJson() const;

  // The decoded token when decoding succeeded (for reporting claims).
  const std::optional<CcaToken>& token() const { return token_; }

  void Add(std::string_view check, bool passed, std::string detail);
  void set_token(CcaToken token) { token_ = std::move(token); }

 private:
  std::vector<Finding> findings_;
  std::optional<CcaToken> token_;
};

// Issues 64-byte random nonces and accepts each at most once. Remembers at
// most `capacity` outstanding nonces; issuing more evicts the oldest, which
// then can no longer be used (fail closed).
class NonceRegistry {
 public:
  explicit NonceRegistry(size_t capacity = 4096) : capacity_(capacity) {}

  StatusOr<Bytes> Issue();
  // OK and forgets the nonce if it is outstanding; FailedPrecondition if it
  // was never issued, already consumed or evicted.
  Status Consume(ByteSpan nonce);
  size_t outstanding() const;

 private:
  mutable std::mutex mu_;
  size_t capacity_;
  uint64_t next_sequence_ = 0;
  // Size first, then bytes: any order works for a set of nonces, and
  // std::less<Bytes> (vector's operator<=>) makes GCC 12 at -O3 report a
  // bogus -Wstringop-overread in the map's insert (verifier.cc says more).
  struct NonceLess {
    bool operator()(const Bytes& a, const Bytes& b) const;
  };
  std::map<Bytes, uint64_t, NonceLess> outstanding_;  // nonce -> issue sequence number
  std::map<uint64_t, Bytes> by_age_;                  // sequence -> nonce, oldest first
};

struct VerifierInputs {
  // CPAK public keys accepted as platform trust anchors (P-384). Anchors
  // from the policy are added to these. Required: none means the platform
  // signature check fails.
  std::vector<EcKey> trust_anchors;
  // The 64-byte challenge the verifier sent. Unset: the challenge check
  // fails (freshness cannot be established) unless nonce_registry is set.
  std::optional<Bytes> expected_nonce;
  // Optional; not owned. If set, the realm challenge must be one of its
  // outstanding nonces and is consumed on success.
  NonceRegistry* nonce_registry = nullptr;
  // Optional; not owned. Enables the role/rim/rems/rpv/sw-component checks
  // and sets the lifecycle range.
  const Policy* policy = nullptr;
  // The role the attester claims to run as; required with a policy.
  std::string claimed_role;
};

Verdict Verify(ByteSpan token, const VerifierInputs& inputs);

}  // namespace confml::defenses
