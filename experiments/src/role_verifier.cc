// The verifier role: reference values (the policy) and appraisal.
#include <algorithm>

#include "roles.h"

namespace confml::experiments {

void PolicyTrust(defenses::Policy* policy, const std::string& role, const Bytes& rim) {
  auto it = std::find_if(policy->roles.begin(), policy->roles.end(),
                         [&](const defenses::RolePolicy& r) { return r.role == role; });
  if (it == policy->roles.end()) {
    policy->roles.push_back({role, {}});
    it = policy->roles.end() - 1;
  }
  defenses::RealmReference ref{rim, std::nullopt, std::nullopt};
  if (std::find(it->realms.begin(), it->realms.end(), ref) == it->realms.end()) {
    it->realms.push_back(std::move(ref));
  }
}

Status PolicySealAndLoad(const defenses::Policy& policy, Bytes* signed_policy,
                         defenses::Policy* loaded) {
  CONFML_ASSIGN_OR_RETURN(EcKey key, EcKey::Generate(EcCurve::kP384));
  CONFML_ASSIGN_OR_RETURN(*signed_policy, defenses::SignPolicy(policy, key));
  CONFML_ASSIGN_OR_RETURN(*loaded, defenses::LoadSignedPolicy(*signed_policy, key.PublicOnly()));
  return OkStatus();
}

StatusOr<defenses::AcceptedRealm> VerifierAppraise(const Bytes& hello, const Bytes& nonce,
                                                   const std::vector<EcKey>& anchors,
                                                   defenses::NonceRegistry* nonces,
                                                   const defenses::Policy* policy,
                                                   const std::string& expected_role,
                                                   const defenses::TransportLog& log,
                                                   defenses::Verdict* verdict) {
  defenses::VerifierInputs in;
  in.trust_anchors = anchors;
  in.nonce_registry = nonces;
  in.policy = policy;
  in.claimed_role = expected_role;
  defenses::VerifierChannelOptions vo;
  vo.transport_log = log;
  return defenses::AcceptRealm(hello, nonce, in, vo, verdict);
}

}  // namespace confml::experiments
