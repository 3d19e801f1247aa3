// `confml serve verifier`: holds the signed policy and issues tickets (signed
// nonces) that parties bind their TLS keys to.
#include <chrono>
#include <thread>

#include "confml/core/file_util.h"
#include "confml/tee_sim/rmm.h"
#include "confml/tee_sim/sim_backend.h"
#include "net_internal.h"
#include "roles.h"

namespace confml::net {
namespace {

using internal::Logger;

class VerifierService final : public confml::v1::Verifier::Service {
 public:
  VerifierService(EcKey key, Bytes signed_policy, std::shared_ptr<Logger> log)
      : key_(std::move(key)), signed_policy_(std::move(signed_policy)), log_(std::move(log)) {}

  grpc::Status GetTicket(grpc::ServerContext*, const confml::v1::TicketRequest* request,
                         confml::v1::Ticket* reply) override {
    if (grpc::Status v = CheckVersion(request->header(), "GetTicket"); !v.ok()) return v;
    StatusOr<std::pair<Bytes, Bytes>> t = internal::IssueTicket(key_);
    if (!t.ok()) return internal::ToGrpc(t.status());
    reply->set_protocol_version(kProtocolVersion);
    reply->set_nonce(std::string(t->first.begin(), t->first.end()));
    reply->set_signature(std::string(t->second.begin(), t->second.end()));
    log_->Line("issued a ticket");
    return grpc::Status::OK;
  }

  grpc::Status GetPolicy(grpc::ServerContext*, const confml::v1::PolicyRequest* request,
                         confml::v1::PolicyReply* reply) override {
    if (grpc::Status v = CheckVersion(request->header(), "GetPolicy"); !v.ok()) return v;
    reply->set_protocol_version(kProtocolVersion);
    reply->set_signed_policy(std::string(signed_policy_.begin(), signed_policy_.end()));
    return grpc::Status::OK;
  }

 private:
  grpc::Status CheckVersion(const confml::v1::Header& h, const std::string& rpc) {
    if (h.protocol_version() == kProtocolVersion) return grpc::Status::OK;
    const std::string msg = rpc + ": protocol version " + std::to_string(h.protocol_version()) +
                            ", this verifier speaks " + std::to_string(kProtocolVersion);
    log_->Line("rejected: " + msg);
    return grpc::Status(grpc::StatusCode::FAILED_PRECONDITION, msg);
  }

  EcKey key_;
  Bytes signed_policy_;
  std::shared_ptr<Logger> log_;
};

}  // namespace

Status ServeVerifier(const VerifierOptions& options, const std::atomic<bool>* stop) {
  auto log =
      std::make_shared<Logger>(options.name.empty() ? "verifier" : options.name, options.log_path);
  if (options.cert_out.empty()) return InvalidArgumentError("--cert-out FILE is required");
  CONFML_ASSIGN_OR_RETURN(internal::Scenario scenario, internal::LoadScenario(options.config_path, options.overrides));

  experiments::Deployment::Options dopt;
  dopt.backend = scenario.backend;
  dopt.backend_params = scenario.backend_params;
  dopt.attestation = experiments::AttestationMode::kPolicy;
  CONFML_ASSIGN_OR_RETURN(std::unique_ptr<experiments::Deployment> deployment,
                          experiments::Deployment::Create(dopt));
  CONFML_ASSIGN_OR_RETURN(Program own,
                          internal::ProcessProgram(kRoleVerifier, options.extra_components));
  CONFML_ASSIGN_OR_RETURN(experiments::Party * self, deployment->Launch("verifier", own));

  // The policy an auditor would sign: the honest programs of the scenario's
  // roles, and this simulated platform's CPAK and firmware.
  defenses::Policy policy;
  tee_sim::Rmm* rmm = tee_sim::SimPlatform(deployment->backend());
  if (rmm == nullptr) return InternalError("the verifier needs the sim backend's platform");
  policy.trust_anchors.push_back(rmm->cpak_public_point());
  for (const SwComponent& sw : rmm->endorsed_sw_components()) {
    policy.accepted_sw_components.push_back(
        {sw.measurement_value, sw.signer_id, sw.measurement_type, sw.version});
  }
  for (std::string_view role : {kRoleDevice, kRoleRuntime, kRoleModelProvider}) {
    CONFML_ASSIGN_OR_RETURN(Program p, internal::ProcessProgram(role));
    CONFML_ASSIGN_OR_RETURN(Bytes rim, experiments::MeasureProgram(p, dopt.realm));
    experiments::PolicyTrust(&policy, std::string(role), rim);
    log->Line("policy lists " + std::string(role) + " RIM " + ToHex(rim).substr(0, 16) + "...");
  }

  // The verifier's key (policy signing, tickets, TLS) is born in its realm.
  std::optional<EcKey> key;
  CONFML_RETURN_IF_ERROR(self->realm().Run([&](RealmContext&) -> Status {
    CONFML_ASSIGN_OR_RETURN(EcKey k, EcKey::Generate(EcCurve::kP384));
    key = std::move(k);
    return OkStatus();
  }));
  CONFML_ASSIGN_OR_RETURN(Bytes signed_policy, defenses::SignPolicy(policy, *key));
  CONFML_RETURN_IF_ERROR(defenses::LoadSignedPolicy(signed_policy, key->PublicOnly()).status());
  internal::TlsIdentity identity;
  CONFML_ASSIGN_OR_RETURN(identity.key_pem, key->PrivateKeyPem());
  CONFML_ASSIGN_OR_RETURN(identity.cert_pem,
                          internal::MakeCertificate(*key, "confml-verifier", nullptr, 30));
  CONFML_RETURN_IF_ERROR(WriteFileAtomically(options.cert_out, identity.cert_pem));

  VerifierService service(*key, signed_policy, log);
  // Verifier messages (a token, a ticket) are small.
  CONFML_ASSIGN_OR_RETURN(internal::ListeningServer listening,
                          internal::StartServer(options.listen, identity, nullptr, &service,
                                                1 << 16, options.ready_file));
  std::unique_ptr<grpc::Server>& server = listening.server;
  log->Line("serving on " + listening.address +
            "; certificate pinned by parties: " + options.cert_out);
  while (!internal::Stopped(stop)) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  server->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(1));
  log->Line("stopped");
  return OkStatus();
}

}  // namespace confml::net
