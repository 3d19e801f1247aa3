// Tutorial 04: attestation and policy.
//
// A party releases its data or model only to a peer whose code it trusts.
// The peer proves what it runs with a CCA attestation token: a platform token
// signed by the platform's attestation key (CPAK) and a realm token, signed by
// a realm attestation key (RAK) the platform vouches for, that carries the
// RIM, the REMs and the verifier's fresh challenge. The verifier checks it
// claim by claim against a policy signed by the policy owner.
//
// What you learn: the verifier's checks and its verdict, the signed policy,
// replay protection with nonces, and a realm running attack code refused for
// its measurement alone.
#include <cstdio>
#include <string>
#include <vector>

#include "confml/core/cca_token.h"
#include "confml/core/tee_backend.h"
#include "confml/defenses/policy.h"
#include "confml/defenses/verifier.h"
#include "confml/tee_sim/sim_backend.h"
#include "tutorial.h"

using namespace confml;
using namespace confml::tutorials;

namespace {

Bytes ProgramImage(const std::string& modules) {
  std::string text = "confml program image v1\nmodules: " + modules + "\n";
  Bytes image(text.begin(), text.end());
  image.resize(2 * kTeeGranuleSize, 0x5a);
  return image;
}

void PrintVerdict(const defenses::Verdict& v) {
  for (const auto& f : v.findings()) {
    std::printf("  %-4s %-22s %s\n", f.passed ? "pass" : "FAIL", f.check.c_str(), f.detail.c_str());
  }
  std::printf("  => %s\n", v.ok() ? "ADMITTED" : "REFUSED");
}

}  // namespace

int main() {
  Banner("Tutorial 04: attestation and policy");
  Must(tee_sim::RegisterSimTeeBackend(), "registering the sim backend");
  std::unique_ptr<TeeBackend> tee = Must(NewTeeBackend("sim"), "sim backend");
  tee_sim::Rmm* platform = tee_sim::SimPlatform(*tee);
  const EcKey cpak =
      Must(EcKey::FromPublicPoint(EcCurve::kP384, platform->cpak_public_point()), "CPAK");

  const Bytes honest_image = ProgramImage("device/train=1.0");
  const Bytes attack_image = ProgramImage("device/train=1.0 attack/inference=0.3");
  RealmParams params;

  Section("1. The policy owner writes and signs the policy");
  Say("It trusts this platform's CPAK, the platform software the platform reports, and, for "
      "the role 'device', the RIM computed from the honest image. It signs the policy with "
      "its own key so that nobody on the way can add a RIM.");
  defenses::Policy policy;
  policy.trust_anchors.push_back(cpak.PublicPoint());
  const Bytes honest_rim =
      Must(tee_sim::ComputeReferenceRim(honest_image, params), "reference RIM");
  policy.roles.push_back(
      {"device", {defenses::RealmReference{honest_rim, std::nullopt, std::nullopt}}});
  {
    // The sim platform's software components (RMM, firmware) as its tokens report them; a
    // real deployment takes them from the platform vendor's endorsements.
    auto probe = Must(tee->CreateRealm(honest_image, params), "probe realm");
    CcaToken t =
        Must(DecodeCcaToken(Must(probe->AttestationToken(Bytes(64, 0)), "probe token")), "decode");
    for (const SwComponent& sc : t.platform.sw_components) {
      policy.accepted_sw_components.push_back(
          {sc.measurement_value, sc.signer_id, sc.measurement_type, sc.version});
    }
  }
  const EcKey policy_key = Must(EcKey::Generate(), "policy key");
  const Bytes signed_policy = Must(defenses::SignPolicy(policy, policy_key), "signing the policy");
  std::printf("  signed policy: %zu bytes (COSE_Sign1, ES384)\n", signed_policy.size());
  const defenses::Policy loaded = Must(
      defenses::LoadSignedPolicy(signed_policy, policy_key.PublicOnly()), "loading the policy");
  Bytes forged = signed_policy;
  forged[forged.size() / 2] ^= 0x01;
  StatusOr<defenses::Policy> forged_load =
      defenses::LoadSignedPolicy(forged, policy_key.PublicOnly());
  Expect(!forged_load.ok() && forged_load.status().code() == StatusCode::kUnauthenticated,
         "a policy changed on the way is refused (Unauthenticated)");

  Section("2. An honest device attests");
  Say("The verifier sends a fresh 64-byte nonce; the realm asks the RMM for a token over it.");
  defenses::NonceRegistry nonces;
  Bytes nonce = Must(nonces.Issue(), "nonce");
  auto honest = Must(tee->CreateRealm(honest_image, params), "honest realm");
  Bytes token = Must(honest->AttestationToken(nonce), "token");
  CcaToken claims = Must(DecodeCcaToken(token), "decoding");
  std::printf("  token %zu bytes; realm RIM %s, platform lifecycle 0x%04x\n", token.size(),
              ShortHex(claims.realm.rim).c_str(), claims.platform.lifecycle);
  defenses::VerifierInputs in;
  in.expected_nonce = nonce;
  in.nonce_registry = &nonces;
  in.policy = &loaded;
  in.claimed_role = "device";
  defenses::Verdict verdict = defenses::Verify(token, in);
  PrintVerdict(verdict);
  Expect(verdict.ok(), "the honest device is admitted");

  Section("3. The same token again is a replay");
  defenses::Verdict replay = defenses::Verify(token, in);
  std::printf("  failed checks:");
  for (const auto& c : replay.FailedChecks()) std::printf(" %s", c.c_str());
  std::printf("\n");
  Expect(!replay.ok() && replay.FailedChecks() == std::vector<std::string>{"challenge"},
         "a replayed token fails the 'challenge' check only");

  Section("4. A device running attack code");
  Say("The same device software plus an inference-attack module. Its token is genuine: right "
      "platform, valid signatures, fresh nonce. Only its measurement differs.");
  nonce = Must(nonces.Issue(), "nonce");
  in.expected_nonce = nonce;
  auto attacker = Must(tee->CreateRealm(attack_image, params), "attacker realm");
  defenses::Verdict refused =
      defenses::Verify(Must(attacker->AttestationToken(nonce), "token"), in);
  PrintVerdict(refused);
  Expect(!refused.ok() && refused.FailedChecks() == std::vector<std::string>{"rim"},
         "the attacker is refused by the 'rim' check alone");

  Section("5. A token signed by an unknown platform");
  tee_sim::SimOptions other_options;
  other_options.rmm.platform_seed = Bytes(32, 0x77);
  auto other_tee = Must(tee_sim::NewSimTeeBackend(other_options), "another platform");
  nonce = Must(nonces.Issue(), "nonce");
  in.expected_nonce = nonce;
  auto elsewhere = Must(other_tee->CreateRealm(honest_image, params), "realm elsewhere");
  defenses::Verdict unknown =
      defenses::Verify(Must(elsewhere->AttestationToken(nonce), "token"), in);
  Expect(!unknown.ok() && unknown.Find("platform_signature") != nullptr &&
             !unknown.Find("platform_signature")->passed,
         "the honest image on an untrusted platform fails 'platform_signature'");
  elsewhere.reset();

  Section("Verdict as JSON");
  std::printf("%s\n", refused.ToJson().c_str());
  Say("Tutorial 05 shows the other half of confidentiality: data sealed by a realm that only "
      "the same code on the same platform can open.");
  return 0;
}
