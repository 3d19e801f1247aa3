#include "confml/experiments/parties.h"

#include <algorithm>
#include <mutex>

#include "confml/attacks/attacks.h"
#include "confml/cca_backend/cca_backend.h"
#include "confml/defenses/channel.h"
#include "confml/defenses/policy.h"
#include "confml/defenses/privacy.h"
#include "confml/defenses/robust_aggregation.h"
#include "confml/defenses/verifier.h"
#include "confml/tee_sim/sim_backend.h"
#include "device_words.h"
#include "roles.h"

namespace confml::experiments {
namespace {

using defenses::AcceptedRealm;
using defenses::ChannelPeer;
using defenses::RealmHandshake;
using defenses::SecureChannel;
using defenses::TransportLog;
using defenses::Verdict;

constexpr size_t kAssetAlignment = 64;

uint64_t AlignUp(uint64_t v, uint64_t a) { return (v + a - 1) / a * a; }

// No attestation: bytes cross in the clear and the host on the path logs them.
class PlainLink final : public Link {
 public:
  PlainLink(TransportLog log, Party& relying, Party& attester)
      : log_(std::move(log)), relying_(relying), attester_(attester) {}
  bool encrypted() const override { return false; }
  StatusOr<Bytes> ToAttester(const Bytes& plaintext) override {
    return Carry(relying_, attester_, ChannelPeer::kVerifier, plaintext);
  }
  StatusOr<Bytes> ToRelying(const Bytes& plaintext) override {
    return Carry(attester_, relying_, ChannelPeer::kRealm, plaintext);
  }

 private:
  StatusOr<Bytes> Carry(Party& from, Party& to, ChannelPeer sender, const Bytes& bytes) {
    Bytes wire;
    CONFML_RETURN_IF_ERROR(from.realm().Run([&](RealmContext& ctx) -> Status {
      wire = ctx.SendToHost(bytes);
      return OkStatus();
    }));
    if (log_) log_(sender, "plaintext", wire);
    Bytes received;
    CONFML_RETURN_IF_ERROR(to.realm().Run([&](RealmContext& ctx) -> Status {
      received = ctx.ReceiveFromHost(wire);
      return OkStatus();
    }));
    return received;
  }
  TransportLog log_;
  Party& relying_;
  Party& attester_;
};

// An attested channel: the relying party holds the verifier's endpoint, the
// attester's realm the other. Encryption and the shared-memory copies are
// charged to both realms' cost models.
class ChannelLink final : public Link {
 public:
  ChannelLink(SecureChannel relying_end, SecureChannel attester_end, Party& relying,
              Party& attester)
      : relying_end_(std::move(relying_end)),
        attester_end_(std::move(attester_end)),
        relying_(relying),
        attester_(attester) {}
  bool encrypted() const override { return true; }
  StatusOr<Bytes> ToAttester(const Bytes& plaintext) override {
    return Carry(relying_, relying_end_, attester_, attester_end_, plaintext);
  }
  StatusOr<Bytes> ToRelying(const Bytes& plaintext) override {
    return Carry(attester_, attester_end_, relying_, relying_end_, plaintext);
  }

 private:
  static StatusOr<Bytes> Carry(Party& from, SecureChannel& from_end, Party& to,
                               SecureChannel& to_end, const Bytes& plaintext) {
    Bytes wire;
    CONFML_RETURN_IF_ERROR(from.realm().Run([&](RealmContext& ctx) -> Status {
      CONFML_ASSIGN_OR_RETURN(Bytes record, from_end.Seal(plaintext));  // logs the record
      ctx.ChargeCrypto(plaintext.size());
      wire = ctx.SendToHost(record);
      return OkStatus();
    }));
    Bytes received;
    CONFML_RETURN_IF_ERROR(to.realm().Run([&](RealmContext& ctx) -> Status {
      Bytes in = ctx.ReceiveFromHost(wire);
      CONFML_ASSIGN_OR_RETURN(received, to_end.Open(in));
      ctx.ChargeCrypto(received.size());
      return OkStatus();
    }));
    return received;
  }
  SecureChannel relying_end_, attester_end_;
  Party& relying_;
  Party& attester_;
};

std::string JoinChecks(const std::vector<std::string>& checks) {
  std::string out;
  for (const std::string& c : checks) out += (out.empty() ? "" : ",") + c;
  return out;
}

}  // namespace

struct Deployment::Impl {
  defenses::Policy policy;     // being built (TrustProgram)
  defenses::Policy loaded;     // what the verifier believes (after the signature check)
  bool sealed = false;
  std::vector<EcKey> anchors;  // platform trust anchors
  defenses::NonceRegistry nonces;
};

std::string_view AttestationModeName(AttestationMode mode) {
  switch (mode) {
    case AttestationMode::kOff:
      return "off";
    case AttestationMode::kTokens:
      return "tokens";
    case AttestationMode::kPolicy:
      return "policy";
  }
  return "unknown";
}

StatusOr<AttestationMode> ParseAttestationMode(std::string_view name) {
  if (name == "off") return AttestationMode::kOff;
  if (name == "tokens") return AttestationMode::kTokens;
  if (name == "policy") return AttestationMode::kPolicy;
  return InvalidArgumentError("unknown attestation mode '" + std::string(name) +
                              "'; modes: off, tokens, policy");
}

Status RegisterAllComponents() {
  CONFML_RETURN_IF_ERROR(tee_sim::RegisterSimTeeBackend());
  CONFML_RETURN_IF_ERROR(cca_backend::RegisterCcaTeeBackend());
  CONFML_RETURN_IF_ERROR(attacks::RegisterBuiltinAttacks());
  CONFML_RETURN_IF_ERROR(defenses::RegisterRobustAggregators());
  CONFML_RETURN_IF_ERROR(defenses::RegisterPrivacyAggregators());
  CONFML_RETURN_IF_ERROR(RegisterDeviceWordsDataset());
  return OkStatus();
}

StatusOr<Bytes> MeasureProgram(const Program& program, const RealmParams& params) {
  CONFML_ASSIGN_OR_RETURN(std::vector<uint8_t> image, program.Image());
  return tee_sim::ComputeReferenceRim(image, params);
}

StatusOr<uint64_t> Party::StoreAsset(const Bytes& bytes) {
  const uint64_t ipa = next_free_;
  const uint64_t end = realm_->params().load_ipa + realm_->memory_size();
  if (bytes.size() > end - ipa) {
    return ResourceExhaustedError("party '" + name_ + "': an asset of " +
                                  std::to_string(bytes.size()) + " bytes does not fit in the " +
                                  std::to_string(end - ipa) +
                                  " bytes of realm memory left (raise the realm's private memory)");
  }
  CONFML_RETURN_IF_ERROR(
      realm_->Run([&](RealmContext& ctx) { return ctx.WriteMemory(ipa, bytes); }));
  next_free_ = AlignUp(ipa + bytes.size(), kAssetAlignment);
  return ipa;
}

StatusOr<Bytes> Party::LoadAsset(uint64_t ipa, size_t size) {
  Bytes out;
  CONFML_RETURN_IF_ERROR(realm_->Run([&](RealmContext& ctx) -> Status {
    CONFML_ASSIGN_OR_RETURN(out, ctx.ReadMemory(ipa, size));
    return OkStatus();
  }));
  return out;
}

Deployment::Deployment(Options options)
    : options_(std::move(options)),
      transport_(std::make_unique<defenses::TransportRecorder>()),
      impl_(std::make_unique<Impl>()) {}

Deployment::~Deployment() {
  parties_.clear();  // realms before their backend
}

StatusOr<std::unique_ptr<Deployment>> Deployment::Create(Options options) {
  CONFML_RETURN_IF_ERROR(RegisterAllComponents());
  std::unique_ptr<Deployment> d(new Deployment(std::move(options)));
  CONFML_ASSIGN_OR_RETURN(d->backend_,
                          NewTeeBackend(d->options_.backend, d->options_.backend_params));
  if (tee_sim::Rmm* rmm = tee_sim::SimPlatform(*d->backend_)) {
    CONFML_ASSIGN_OR_RETURN(EcKey cpak,
                            EcKey::FromPublicPoint(EcCurve::kP384, rmm->cpak_public_point()));
    d->impl_->anchors.push_back(cpak);
    d->impl_->policy.trust_anchors.push_back(rmm->cpak_public_point());
    for (const SwComponent& sw : rmm->endorsed_sw_components()) {
      d->impl_->policy.accepted_sw_components.push_back(
          {sw.measurement_value, sw.signer_id, sw.measurement_type, sw.version});
    }
  } else if (d->options_.attestation != AttestationMode::kOff &&
             d->backend_->capabilities().Supports(TeeFeature::kAttestation)) {
    // A real platform's CPAK comes from its vendor's endorsements, which a
    // deployment config cannot name yet: refuse rather than trust blindly.
    return UnimplementedError("backend '" + d->options_.backend +
                              "': deployments verify tokens against the simulated platform's "
                              "CPAK only; real-platform trust anchors are not configurable yet");
  }
  return d;
}

Status Deployment::TrustProgram(const Program& program) {
  if (impl_->sealed) return FailedPreconditionError("the policy is already sealed");
  CONFML_ASSIGN_OR_RETURN(Bytes rim, MeasureProgram(program, options_.realm));
  PolicyTrust(&impl_->policy, program.role, rim);
  return OkStatus();
}

Status Deployment::SealPolicy() {
  if (impl_->sealed) return FailedPreconditionError("the policy is already sealed");
  impl_->sealed = true;
  if (options_.attestation != AttestationMode::kPolicy) return OkStatus();
  return PolicySealAndLoad(impl_->policy, &signed_policy_, &impl_->loaded);
}

StatusOr<Party*> Deployment::Launch(const std::string& name, const Program& program) {
  if (Find(name) != nullptr) return AlreadyExistsError("party '" + name + "' already exists");
  CONFML_ASSIGN_OR_RETURN(std::vector<uint8_t> image, program.Image());
  auto party = std::unique_ptr<Party>(new Party());
  party->name_ = name;
  party->program_ = program;
  StatusOr<std::unique_ptr<TeeRealm>> realm = backend_->CreateRealm(image, options_.realm);
  if (!realm.ok()) return realm.status().WithContext("launching party '" + name + "'");
  party->realm_ = std::move(*realm);
  if (backend_->capabilities().Supports(TeeFeature::kMeasurement)) {
    CONFML_ASSIGN_OR_RETURN(party->rim_, party->realm_->ReadMeasurement(0));
  }
  party->next_free_ = options_.realm.load_ipa + AlignUp(image.size(), kTeeGranuleSize);
  parties_.push_back(std::move(party));
  return parties_.back().get();
}

Party* Deployment::Find(std::string_view name) {
  for (auto& p : parties_) {
    if (p->name() == name) return p.get();
  }
  return nullptr;
}

StatusOr<std::unique_ptr<Link>> Deployment::Connect(Party& relying, Party& attester,
                                                    std::string_view expected_role,
                                                    AdmissionRecord* record_out) {
  AdmissionRecord rec{relying.name(), attester.name(), std::string(expected_role), false, "", ""};
  auto finish = [&](StatusOr<std::unique_ptr<Link>> result) {
    admissions_.push_back(rec);
    if (record_out) *record_out = rec;
    return result;
  };
  auto refuse = [&](std::string checks, std::string detail) {
    rec.failed_checks = std::move(checks);
    rec.detail = std::move(detail);
    return finish(UnauthenticatedError(relying.name() + " refused " + attester.name() + " as " +
                                       rec.expected_role + ": " + rec.failed_checks + ": " +
                                       rec.detail));
  };
  TransportLog log = transport_->Hook();
  if (options_.attestation == AttestationMode::kOff) {
    rec.admitted = true;
    rec.detail = "attestation off: admitted without evidence";
    return finish(std::unique_ptr<Link>(std::make_unique<PlainLink>(log, relying, attester)));
  }
  if (options_.attestation == AttestationMode::kPolicy && !impl_->sealed) {
    return FailedPreconditionError("Connect before SealPolicy in attestation mode policy");
  }
  if (!backend_->capabilities().Supports(TeeFeature::kAttestation)) {
    return refuse("attestation", "backend '" + options_.backend +
                                     "' produces no attestation evidence, so nothing can be "
                                     "verified");
  }
  CONFML_ASSIGN_OR_RETURN(Bytes nonce, impl_->nonces.Issue());
  std::optional<RealmHandshake> handshake;
  Status started = attester.realm().Run([&](RealmContext& ctx) -> Status {
    defenses::RealmChannelOptions ro;
    ro.transport_log = log;
    CONFML_ASSIGN_OR_RETURN(RealmHandshake hs, RealmHandshake::Start(ctx, nonce, ro));
    handshake.emplace(std::move(hs));
    return OkStatus();
  });
  if (!started.ok()) return refuse("attestation", started.ToString());

  Verdict verdict;
  StatusOr<AcceptedRealm> accepted = VerifierAppraise(
      handshake->hello(), nonce, impl_->anchors, &impl_->nonces,
      options_.attestation == AttestationMode::kPolicy ? &impl_->loaded : nullptr,
      rec.expected_role, log, &verdict);
  if (!accepted.ok()) {
    std::vector<std::string> failed = verdict.FailedChecks();
    std::string detail = accepted.status().message();
    if (!failed.empty()) {
      if (const defenses::Finding* f = verdict.Find(failed.front())) detail = f->detail;
    }
    return refuse(failed.empty() ? std::string("attestation") : JoinChecks(failed), detail);
  }
  StatusOr<SecureChannel> realm_end = handshake->Finish(accepted->reply);
  if (!realm_end.ok()) return refuse("key_confirmation", realm_end.status().message());
  rec.admitted = true;
  rec.detail = options_.attestation == AttestationMode::kPolicy
                   ? "token verified; RIM listed for role " + rec.expected_role
                   : "token verified; no policy (any measurement admitted)";
  return finish(std::unique_ptr<Link>(std::make_unique<ChannelLink>(
      std::move(accepted->channel), std::move(*realm_end), relying, attester)));
}

StatusOr<Bytes> Deployment::HostRead(Party& party, uint64_t ipa, size_t length) {
  return party.realm().HostRead(ipa, length);
}

TeeCost Deployment::total_cost() const {
  TeeCost total;
  for (const auto& p : parties_) {
    TeeCost c = p->realm_->cost();
    total.profile = c.profile;
    total.realm_entries += c.realm_entries;
    total.bytes_copied += c.bytes_copied;
    total.bytes_crypted += c.bytes_crypted;
    total.tokens += c.tokens;
    total.entry_exit_seconds += c.entry_exit_seconds;
    total.copy_seconds += c.copy_seconds;
    total.crypto_seconds += c.crypto_seconds;
    total.attestation_seconds += c.attestation_seconds;
  }
  return total;
}

}  // namespace confml::experiments
