// Claim-by-claim appraisal of CCA attestation tokens; see verifier.h.

#include "confml/defenses/verifier.h"

#include <cstdio>
#include <cstring>
#include <string>
#include <utility>

#include "confml/core/json.h"

namespace confml::defenses {
namespace {

std::string Fingerprint(const EcKey& key) { return ToHex(Sha256(key.PublicPoint())).substr(0, 16); }

std::string Hex8(uint32_t v) {
  char buf[16];
  std::snprintf(buf, sizeof(buf), "0x%04x", v);
  return buf;
}

bool SwMatches(const SwComponent& sc, const SwComponentReference& ref) {
  if (!ConstantTimeEqual(sc.measurement_value, ref.measurement_value)) return false;
  if (sc.signer_id != ref.signer_id) return false;
  if (ref.measurement_type && sc.measurement_type != ref.measurement_type) return false;
  if (ref.version && sc.version != ref.version) return false;
  return true;
}

bool RemsMatch(const RealmClaims& r, const RealmReference& ref) {
  if (!ref.rems) return true;
  for (size_t i = 0; i < r.rems.size(); ++i) {
    if (!ConstantTimeEqual(r.rems[i], (*ref.rems)[i])) return false;
  }
  return true;
}

bool RpvMatches(const RealmClaims& r, const RealmReference& ref) {
  return !ref.rpv || ConstantTimeEqual(r.personalization_value, *ref.rpv);
}

// The policy part: role, then RIM, REMs, RPV against that role's references.
// Candidates for the REM and RPV checks are the references whose RIM matched
// (or all of the role's references if none did), so that one wrong
// measurement fails exactly one finding.
void CheckMeasurements(const CcaToken& t, const Policy& policy, const std::string& role,
                       Verdict& v) {
  const RolePolicy* rp = role.empty() ? nullptr : policy.FindRole(role);
  if (rp == nullptr) {
    v.Add(kCheckRole, false,
          role.empty() ? "no role claimed; a policy check needs one"
                       : "role '" + role + "' is not in the policy");
    const std::string skip = "not evaluated: no policy entry for the claimed role";
    v.Add(kCheckRim, false, skip);
    v.Add(kCheckRems, false, skip);
    v.Add(kCheckRpv, false, skip);
    return;
  }
  v.Add(kCheckRole, true,
        "role '" + role + "' has " + std::to_string(rp->realms.size()) + " reference realm(s)");

  std::vector<const RealmReference*> by_rim;
  for (const RealmReference& ref : rp->realms) {
    if (ConstantTimeEqual(t.realm.rim, ref.rim)) by_rim.push_back(&ref);
  }
  v.Add(kCheckRim, !by_rim.empty(),
        by_rim.empty()
            ? "RIM " + ToHex(t.realm.rim) + " is not a reference RIM of role '" + role + "'"
            : "RIM matches a reference of role '" + role + "'");
  std::vector<const RealmReference*> candidates = by_rim;
  if (candidates.empty()) {
    for (const RealmReference& ref : rp->realms) candidates.push_back(&ref);
  }
  bool rems_ok = false, rpv_ok = false;
  for (const RealmReference* ref : candidates) {
    rems_ok = rems_ok || RemsMatch(t.realm, *ref);
    rpv_ok = rpv_ok || RpvMatches(t.realm, *ref);
  }
  // Both must hold for one and the same reference.
  bool joint = false;
  for (const RealmReference* ref : candidates)
    joint = joint || (RemsMatch(t.realm, *ref) && RpvMatches(t.realm, *ref));
  if (rems_ok && rpv_ok && !joint) {
    rpv_ok = false;
  }
  v.Add(kCheckRems, rems_ok,
        rems_ok ? "REMs match the reference" : "REMs do not match any reference of the role");
  v.Add(kCheckRpv, rpv_ok,
        rpv_ok ? "personalization value accepted"
               : "personalization value " + ToHex(t.realm.personalization_value) +
                     " is not accepted for the role");
}

}  // namespace

// ---- Verdict ------------------------------------------------------------------

bool Verdict::ok() const {
  if (findings_.empty()) return false;
  for (const Finding& f : findings_) {
    if (!f.passed) return false;
  }
  return true;
}

const Finding* Verdict::Find(std::string_view check) const {
  for (const Finding& f : findings_) {
    if (f.check == check) return &f;
  }
  return nullptr;
}

std::vector<std::string> Verdict::FailedChecks() const {
  std::vector<std::string> out;
  for (const Finding& f : findings_) {
    if (!f.passed) out.push_back(f.check);
  }
  return out;
}

std::string Verdict::ToJson() const {
  std::string j = std::string("{\"ok\":") + (ok() ? "true" : "false") + ",\"findings\":[";
  for (size_t i = 0; i < findings_.size(); ++i) {
    const Finding& f = findings_[i];
    j += i ? ",{" : "{";
    j += "\"check\":" + JsonQuote(f.check) + ",\"passed\":" + (f.passed ? "true" : "false") +
         ",\"detail\":" + JsonQuote(f.detail) + "}";
  }
  return j + "]}";
}

void Verdict::Add(std::string_view check, bool passed, std::string detail) {
  findings_.push_back(Finding{std::string(check), passed, std::move(detail)});
}

// ---- NonceRegistry --------------------------------------------------------------

// std::less<Bytes> compares through std::lexicographical_compare_three_way,
// whose memcmp GCC 12 (-O3, as the release build) bounds by a length range
// it cannot prove non-negative and reports as reading past PTRDIFF_MAX, a
// -Wstringop-overread false positive (GCC PR 103483, ranges-driven
// stringop-overread warnings in GCC 12). Comparing equal sizes with an
// explicit memcmp gives it nothing to misread.
bool NonceRegistry::NonceLess::operator()(const Bytes& a, const Bytes& b) const {
  if (a.size() != b.size()) return a.size() < b.size();
  return !a.empty() && std::memcmp(a.data(), b.data(), a.size()) < 0;
}

StatusOr<Bytes> NonceRegistry::Issue() {
  CONFML_ASSIGN_OR_RETURN(Bytes nonce, RandomBytes(kRealmChallengeSize));
  std::lock_guard<std::mutex> lock(mu_);
  if (capacity_ == 0) return FailedPreconditionError("nonce registry has zero capacity");
  while (outstanding_.size() >= capacity_) {
    auto oldest = by_age_.begin();
    outstanding_.erase(oldest->second);
    by_age_.erase(oldest);
  }
  const uint64_t seq = next_sequence_++;
  // A 64-byte CSPRNG collision is not a practical event; refuse it anyway
  // rather than hand out one nonce twice.
  if (!outstanding_.emplace(nonce, seq).second)
    return InternalError("CSPRNG returned a repeated nonce");
  by_age_.emplace(seq, nonce);
  return nonce;
}

Status NonceRegistry::Consume(ByteSpan nonce) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = outstanding_.find(Bytes(nonce.begin(), nonce.end()));
  if (it == outstanding_.end()) {
    return FailedPreconditionError(
        "nonce was not issued by this verifier, was evicted, or was already used (replay)");
  }
  by_age_.erase(it->second);
  outstanding_.erase(it);
  return OkStatus();
}

size_t NonceRegistry::outstanding() const {
  std::lock_guard<std::mutex> lock(mu_);
  return outstanding_.size();
}

// ---- Verify ---------------------------------------------------------------------

Verdict Verify(ByteSpan token_bytes, const VerifierInputs& in) {
  Verdict v;
  auto decoded = DecodeCcaToken(token_bytes);
  if (!decoded.ok()) {
    v.Add(kCheckDecode, false, decoded.status().message());
    const std::string skip = "not evaluated: token does not decode";
    for (std::string_view c : {kCheckPlatformSignature, kCheckRealmSignature, kCheckRakBinding,
                               kCheckChallenge, kCheckLifecycle}) {
      v.Add(c, false, skip);
    }
    if (in.policy != nullptr) {
      for (std::string_view c :
           {kCheckRole, kCheckRim, kCheckRems, kCheckRpv, kCheckSwComponents}) {
        v.Add(c, false, skip);
      }
    }
    return v;
  }
  const CcaToken& t = *decoded;
  v.Add(kCheckDecode, true, "CCA token decoded (profile " + t.platform.profile + ")");

  // Platform signature against the trust anchors.
  std::vector<EcKey> anchors = in.trust_anchors;
  std::string anchor_errors;
  if (in.policy != nullptr) {
    for (const Bytes& point : in.policy->trust_anchors) {
      auto key = EcKey::FromPublicPoint(EcCurve::kP384, point);
      if (key.ok()) {
        anchors.push_back(*std::move(key));
      } else {
        anchor_errors += " (a policy trust anchor is not a valid P-384 point and was ignored)";
      }
    }
  }
  bool platform_ok = false;
  std::string platform_detail = anchors.empty() ? "no trust anchor configured" : "";
  for (size_t i = 0; i < anchors.size() && !platform_ok; ++i) {
    if (VerifyCoseSign1(t.platform_cose, anchors[i]).ok()) {
      platform_ok = true;
      platform_detail =
          "verified with trust anchor " + Fingerprint(anchors[i]) + " (SHA-256 of the point)";
    }
  }
  if (!platform_ok && !anchors.empty()) {
    platform_detail = "ES384 signature does not verify with any of " +
                      std::to_string(anchors.size()) + " trust anchor(s)";
  }
  v.Add(kCheckPlatformSignature, platform_ok, platform_detail + anchor_errors);

  // Realm signature with the RAK the realm token carries.
  bool realm_ok = false;
  auto rak = RealmPublicKey(t.realm);
  if (!rak.ok()) {
    v.Add(kCheckRealmSignature, false, "RAK is not a usable P-384 key: " + rak.status().message());
  } else {
    Status s = VerifyCoseSign1(t.realm_cose, *rak);
    realm_ok = s.ok();
    v.Add(kCheckRealmSignature, realm_ok,
          realm_ok ? "verified with the RAK " + Fingerprint(*rak) : s.message());
  }

  // The binding: the platform token vouches for this RAK.
  bool binding_ok = false;
  auto binding = RakBinding(t.realm);
  if (!binding.ok()) {
    v.Add(kCheckRakBinding, false, binding.status().message());
  } else {
    binding_ok = ConstantTimeEqual(*binding, t.platform.challenge);
    v.Add(kCheckRakBinding, binding_ok,
          binding_ok ? "platform challenge equals " + t.realm.public_key_hash_algorithm_id + "(RAK)"
                     : "platform challenge " + ToHex(t.platform.challenge) + " is not " +
                           t.realm.public_key_hash_algorithm_id + "(RAK) = " + ToHex(*binding));
  }

  // Freshness.
  if (!in.expected_nonce && in.nonce_registry == nullptr) {
    v.Add(kCheckChallenge, false, "no expected nonce given: freshness cannot be established");
  } else if (in.expected_nonce && !ConstantTimeEqual(t.realm.challenge, *in.expected_nonce)) {
    v.Add(kCheckChallenge, false, "realm challenge does not equal the expected nonce");
  } else if (in.nonce_registry != nullptr) {
    if (!(platform_ok && realm_ok && binding_ok)) {
      v.Add(kCheckChallenge, false, "nonce not consumed: the token is not authentic");
    } else {
      Status s = in.nonce_registry->Consume(t.realm.challenge);
      v.Add(kCheckChallenge, s.ok(), s.ok() ? "fresh nonce, now consumed" : s.message());
    }
  } else {
    v.Add(kCheckChallenge, true, "realm challenge equals the expected nonce");
  }

  // Lifecycle.
  const uint32_t lmin = in.policy ? in.policy->lifecycle_min : kLifecycleSecuredMin;
  const uint32_t lmax = in.policy ? in.policy->lifecycle_max : kLifecycleSecuredMax;
  const bool life_ok = t.platform.lifecycle >= lmin && t.platform.lifecycle <= lmax;
  v.Add(kCheckLifecycle, life_ok,
        "lifecycle " + Hex8(t.platform.lifecycle) + (life_ok ? " within " : " outside ") +
            Hex8(lmin) + "-" + Hex8(lmax) +
            (lmin == kLifecycleSecuredMin && lmax == kLifecycleSecuredMax ? " (secured)" : ""));

  if (in.policy != nullptr) {
    CheckMeasurements(t, *in.policy, in.claimed_role, v);
    const auto& accepted = in.policy->accepted_sw_components;
    std::string bad;
    for (size_t i = 0; i < t.platform.sw_components.size(); ++i) {
      const SwComponent& sc = t.platform.sw_components[i];
      bool found = false;
      for (const SwComponentReference& ref : accepted) found = found || SwMatches(sc, ref);
      if (!found) {
        bad += (bad.empty() ? "" : ", ") + std::to_string(i) +
               (sc.measurement_type ? " (" + *sc.measurement_type + ")" : std::string());
      }
    }
    const bool sw_ok = bad.empty();
    v.Add(kCheckSwComponents, sw_ok,
          sw_ok ? "all " + std::to_string(t.platform.sw_components.size()) +
                      " software components accepted"
                : "software components not in the policy: " + bad);
  }
  v.set_token(std::move(decoded).value());
  return v;
}

}  // namespace confml::defenses
