// confml/experiments/parties.h: parties running Programs in realms, the
// verifier that admits them, and the links that carry every transfer.
//
// A Deployment is one run's world: a TEE backend, the verifier role with its
// signed policy, the parties (each a Program loaded into a realm), and the
// transport a host on the path can watch. Every transfer between parties
// goes through a Link that the relying party opened with Connect: the
// attester proves, with a token from its realm, what Program it runs; the
// verifier appraises the token against the policy for the role the relying
// party expects; only then does the relying party send anything.
//
//   Deployment::Options o;  o.backend = "sim";  o.attestation = AttestationMode::kPolicy;
//   auto d = Deployment::Create(o);
//   auto runtime_program = HonestProgram("runtime");
//   (*d)->TrustProgram(*runtime_program);          // the audited reference
//   (*d)->SealPolicy();                            // `confml measure` + sign + load
//   Party* device  = *(*d)->Launch("device-1", *HonestProgram("device"));
//   Party* runtime = *(*d)->Launch("runtime", *runtime_program);
//   AdmissionRecord rec;
//   StatusOr<std::unique_ptr<Link>> link = (*d)->Connect(*device, *runtime, "runtime", &rec);
//   if (!link.ok()) ... rec.failed_checks == "rim", nothing was sent
//   StatusOr<Bytes> got = (*link)->ToAttester(user_input);   // ciphertext on the wire
//
// Attestation modes (the config's attestation.mode):
//   off     no attestation: links are plaintext and admit anyone (the
//           traditional-ML baseline; a host on the path reads everything);
//   tokens  realms attest and the verifier checks the token (signatures, RAK
//           binding, freshness, platform) but has no policy: any measurement
//           is admitted ("realms without a policy"); links are encrypted;
//   policy  as tokens, and the RIM must be listed for the expected role in
//           the signed policy.
// On backend `none` there is no attestation evidence: in modes tokens and
// policy every Connect is refused (finding "attestation").
//
// Thread-compatible: one thread drives a Deployment.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "confml/core/crypto.h"
#include "confml/core/params.h"
#include "confml/core/program.h"
#include "confml/core/status.h"
#include "confml/core/tee_backend.h"

namespace confml::defenses {
class TransportRecorder;
}

namespace confml::experiments {

enum class AttestationMode { kOff, kTokens, kPolicy };
std::string_view AttestationModeName(AttestationMode mode);  // "off", "tokens", "policy"
StatusOr<AttestationMode> ParseAttestationMode(std::string_view name);

// One admission decision, as the results log it.
struct AdmissionRecord {
  std::string relying;        // who asked ("device-3")
  std::string attester;       // who was appraised ("runtime")
  std::string expected_role;  // the role the relying party expected
  bool admitted = false;
  std::string failed_checks;  // comma-separated verifier checks; empty when admitted
  std::string detail;         // the first failing finding's detail, or why admitted
};

// A role's Program running in a realm.
class Party {
 public:
  const std::string& name() const { return name_; }
  const Program& program() const { return program_; }
  TeeRealm& realm() { return *realm_; }
  // The realm's initial measurement; empty on a backend without measurement.
  const Bytes& rim() const { return rim_; }

  // Keeps `bytes` in the realm's private memory (the party's asset: a model,
  // user inputs) and returns its IPA. ResourceExhausted when it does not fit.
  StatusOr<uint64_t> StoreAsset(const Bytes& bytes);
  // Reads an asset back from inside the realm.
  StatusOr<Bytes> LoadAsset(uint64_t ipa, size_t size);

 private:
  friend class Deployment;
  Party() = default;
  std::string name_;
  Program program_;
  std::unique_ptr<TeeRealm> realm_;
  Bytes rim_;
  uint64_t next_free_ = 0;  // IPA of the first unused private byte
};

// A connection from a relying party to an admitted attester.
class Link {
 public:
  virtual ~Link() = default;
  // True when the link is an attested channel (a host sees ciphertext).
  virtual bool encrypted() const = 0;
  // Carries `plaintext` from the relying party to the attester, or back;
  // returns what the receiver gets. The wire bytes go to the transport log.
  virtual StatusOr<Bytes> ToAttester(const Bytes& plaintext) = 0;
  virtual StatusOr<Bytes> ToRelying(const Bytes& plaintext) = 0;
};

class Deployment {
 public:
  struct Options {
    std::string backend = "none";  // TeeBackendRegistry name
    std::map<std::string, ParamValue> backend_params;
    AttestationMode attestation = AttestationMode::kPolicy;
    // Every party's realm (private_memory_bytes sizes assets). The policy key
    // and nonces are fresh random values, as a verifier's must be.
    RealmParams realm;
  };

  // NotFound for an unknown backend; InvalidArgument for bad realm params.
  static StatusOr<std::unique_ptr<Deployment>> Create(Options options);
  ~Deployment();

  // Adds `program` to the policy as a trusted program of its role: its
  // reference RIM is computed from its image as `confml measure` does. Only
  // before SealPolicy.
  Status TrustProgram(const Program& program);
  // Signs the policy with a fresh policy key, then loads it back through the
  // signature check (what a verifier does with a policy file). Required
  // before Connect in mode policy; a no-op in the other modes.
  Status SealPolicy();

  // Loads `program` into a new realm. `name` must be unique.
  StatusOr<Party*> Launch(const std::string& name, const Program& program);
  // nullptr when absent.
  Party* Find(std::string_view name);

  // Opens a link from `relying` to `attester`, which must be admitted as
  // `expected_role`. On refusal: Unauthenticated naming the failed checks;
  // nothing was sent. The decision goes to admissions() and `record`.
  StatusOr<std::unique_ptr<Link>> Connect(Party& relying, Party& attester,
                                          std::string_view expected_role,
                                          AdmissionRecord* record = nullptr);

  // The host's view: read `length` bytes of `party`'s realm memory at `ipa`.
  // PermissionDenied on an isolating backend.
  StatusOr<Bytes> HostRead(Party& party, uint64_t ipa, size_t length);

  const Options& options() const { return options_; }
  TeeBackend& backend() { return *backend_; }
  const std::vector<AdmissionRecord>& admissions() const { return admissions_; }
  // Everything every link put on the wire.
  defenses::TransportRecorder& transport() { return *transport_; }
  // The signed policy and its public key (PEM), empty before SealPolicy.
  const Bytes& signed_policy() const { return signed_policy_; }
  // Sum of the modeled TEE costs of every party's realm.
  TeeCost total_cost() const;
  const std::vector<std::unique_ptr<Party>>& parties() const { return parties_; }

 private:
  struct Impl;
  explicit Deployment(Options options);
  Options options_;
  std::unique_ptr<TeeBackend> backend_;
  std::unique_ptr<defenses::TransportRecorder> transport_;
  std::vector<std::unique_ptr<Party>> parties_;
  std::vector<AdmissionRecord> admissions_;
  Bytes signed_policy_;
  std::unique_ptr<Impl> impl_;
};

// The reference RIM of `program` for realms created with `params`: what the
// `measure` command prints and a policy lists. Backend-independent.
StatusOr<Bytes> MeasureProgram(const Program& program, const RealmParams& params);

// Makes sure the sim and cca backends and the built-in attacks and robust
// aggregators are registered (idempotent).
Status RegisterAllComponents();

}  // namespace confml::experiments
