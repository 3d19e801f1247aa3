// What every role process does at start-up: read the scenario, launch its
// Program in a sim realm, learn the policy from the pinned verifier, and
// make its attestation-bound TLS identity.
#include <chrono>
#include <thread>

#include "confml/core/file_util.h"
#include "confml/defenses/channel.h"
#include "confml/experiments/config.h"
#include "net_internal.h"

namespace confml::net::internal {

bool Stopped(const std::atomic<bool>* stop) { return stop != nullptr && stop->load(); }

Status FromGrpc(const grpc::Status& status, const std::string& what) {
  if (status.ok()) return OkStatus();
  const std::string msg = what + ": " + status.error_message();
  switch (status.error_code()) {
    case grpc::StatusCode::UNAVAILABLE:
    case grpc::StatusCode::DEADLINE_EXCEEDED:
      return UnavailableError(msg);
    case grpc::StatusCode::UNAUTHENTICATED:
      return UnauthenticatedError(msg);
    case grpc::StatusCode::INVALID_ARGUMENT:
      return InvalidArgumentError(msg);
    case grpc::StatusCode::FAILED_PRECONDITION:
      return FailedPreconditionError(msg);
    case grpc::StatusCode::RESOURCE_EXHAUSTED:
      return ResourceExhaustedError(msg);
    case grpc::StatusCode::PERMISSION_DENIED:
      return PermissionDeniedError(msg);
    case grpc::StatusCode::ABORTED:
      return AbortedError(msg);
    case grpc::StatusCode::ALREADY_EXISTS:
      return AlreadyExistsError(msg);
    case grpc::StatusCode::CANCELLED:
      return CancelledError(msg);
    default:
      return InternalError(msg + " (gRPC code " + std::to_string(status.error_code()) + ")");
  }
}

grpc::Status ToGrpc(const Status& status) {
  if (status.ok()) return grpc::Status::OK;
  grpc::StatusCode code = grpc::StatusCode::INTERNAL;
  switch (status.code()) {
    case StatusCode::kInvalidArgument:
      code = grpc::StatusCode::INVALID_ARGUMENT;
      break;
    case StatusCode::kFailedPrecondition:
      code = grpc::StatusCode::FAILED_PRECONDITION;
      break;
    case StatusCode::kResourceExhausted:
      code = grpc::StatusCode::RESOURCE_EXHAUSTED;
      break;
    case StatusCode::kPermissionDenied:
      code = grpc::StatusCode::PERMISSION_DENIED;
      break;
    case StatusCode::kUnauthenticated:
      code = grpc::StatusCode::UNAUTHENTICATED;
      break;
    case StatusCode::kUnavailable:
      code = grpc::StatusCode::UNAVAILABLE;
      break;
    case StatusCode::kAborted:
      code = grpc::StatusCode::ABORTED;
      break;
    case StatusCode::kAlreadyExists:
      code = grpc::StatusCode::ALREADY_EXISTS;
      break;
    case StatusCode::kCancelled:
      code = grpc::StatusCode::CANCELLED;
      break;
    case StatusCode::kNotFound:
      code = grpc::StatusCode::NOT_FOUND;
      break;
    default:
      break;
  }
  return grpc::Status(code, std::string(status.message()));
}

std::string PeerRole(const grpc::ServerContext& context, std::string* name) {
  std::shared_ptr<const grpc::AuthContext> auth = context.auth_context();
  if (!auth) return "";
  std::vector<grpc::string_ref> pems = auth->FindPropertyValues("x509_pem_cert");
  if (pems.empty()) return "";
  StatusOr<ParsedCertificate> cert =
      ParseCertificate(std::string_view(pems.front().data(), pems.front().size()));
  if (!cert.ok() || !cert->evidence) return "";
  if (name != nullptr) *name = cert->common_name;
  return cert->evidence->role;
}

StatusOr<Program> ProcessProgram(std::string_view role, std::vector<ProgramComponent> extra) {
  extra.insert(extra.begin(), ProgramComponent{"net", ""});
  return HonestProgram(role, std::move(extra));
}

Bytes ConfigDigest(const experiments::ExperimentConfig& config) {
  const std::string yaml = config.ToYaml();
  return Sha256(ByteSpan(reinterpret_cast<const uint8_t*>(yaml.data()), yaml.size()));
}

StatusOr<Scenario> LoadScenario(const std::string& config_path,
                                const std::vector<std::string>& overrides) {
  if (config_path.empty()) return InvalidArgumentError("--config is required");
  CONFML_ASSIGN_OR_RETURN(experiments::ExperimentConfig config,
                          experiments::LoadExperimentConfig(config_path, overrides));
  // The word scenario runs as processes from its federated config only: one
  // config (its dataset, partition and training) and one round loop, rather
  // than a second, silent translation of the flow's keys.
  if (config.kind() == "flow" && config.Has("flow") &&
      config.section("flow").keys.String("scenario") == "fl_words") {
    return InvalidArgumentError(
        config_path +
        ": the flow fl_words runs in one process (`confml run`); as processes the word "
        "scenario is experiments/islet/fl_words_federated.yaml (kind federated)");
  }
  if (config.kind() != "federated") {
    return InvalidArgumentError(config_path +
                                ": roles as processes run experiment.kind 'federated' "
                                "configs; this is kind '" +
                                config.kind() + "'");
  }
  Scenario s;
  if (config.Has("tee")) {
    const experiments::SectionConfig& tee = config.section("tee");
    s.backend = tee.component;
    s.backend_params.insert(tee.params.values().begin(), tee.params.values().end());
  }
  if (s.backend != "sim") {
    return InvalidArgumentError(config_path +
                                ": tee must be 'sim' (each process simulates its "
                                "realm on the same simulated platform)");
  }
  if (config.Has("attestation") && config.section("attestation").keys.String("mode") != "policy") {
    return InvalidArgumentError(config_path +
                                ": attestation.mode must be 'policy' (TLS "
                                "sessions are admitted by the policy)");
  }
  s.owned_clients = config.section("partition").component == "owned";
  s.experiment = std::make_shared<const experiments::ExperimentConfig>(std::move(config));
  return s;
}

namespace {

// One RPC to the verifier, retried while it is not up yet.
template <typename Call>
grpc::Status CallVerifier(const Call& call, const std::atomic<bool>* stop, double timeout_seconds) {
  const auto deadline = std::chrono::steady_clock::now() +
                        std::chrono::milliseconds(static_cast<int64_t>(timeout_seconds * 1000));
  while (true) {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
    ctx.set_wait_for_ready(true);
    grpc::Status s = call(ctx);
    if (s.ok() || (s.error_code() != grpc::StatusCode::UNAVAILABLE &&
                   s.error_code() != grpc::StatusCode::DEADLINE_EXCEEDED)) {
      return s;
    }
    if (Stopped(stop) || std::chrono::steady_clock::now() > deadline) return s;
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
}

}  // namespace

StatusOr<PartyProcess> StartParty(const CommonOptions& options, const VerifierLink& link,
                                  const std::string& role, const std::atomic<bool>* stop,
                                  double timeout_seconds) {
  PartyProcess p;
  const std::string name = options.name.empty() ? role : options.name;
  p.log = std::make_shared<Logger>(name, options.log_path);
  CONFML_ASSIGN_OR_RETURN(p.scenario, LoadScenario(options.config_path, options.overrides));
  if (link.verifier.empty() || link.verifier_cert.empty()) {
    return InvalidArgumentError("--verifier ADDR and --verifier-cert FILE are required");
  }
  // Both failures name the flag and file, which the messages alone do not.
  StatusOr<std::string> pinned = ReadFileText(link.verifier_cert);
  StatusOr<ParsedCertificate> parsed =
      pinned.ok() ? ParseCertificate(*pinned) : StatusOr<ParsedCertificate>(pinned.status());
  if (!parsed.ok()) return parsed.status().WithContext("--verifier-cert " + link.verifier_cert);
  ParsedCertificate verifier_cert = *std::move(parsed);

  // The realm: this role's Program on the scenario's simulated platform.
  experiments::Deployment::Options dopt;
  dopt.backend = p.scenario.backend;
  dopt.backend_params = p.scenario.backend_params;
  dopt.attestation = experiments::AttestationMode::kPolicy;
  CONFML_ASSIGN_OR_RETURN(p.deployment, experiments::Deployment::Create(dopt));
  CONFML_ASSIGN_OR_RETURN(Program program, ProcessProgram(role, options.extra_components));
  CONFML_ASSIGN_OR_RETURN(p.party, p.deployment->Launch(name, program));
  p.log->Line("realm launched: " + role + " Program, RIM " + ToHex(p.party->rim()).substr(0, 16) +
              "...");

  // The verifier, authenticated by its pinned certificate.
  auto verifier_check =
      grpc::experimental::ExternalCertificateVerifier::Create<PinnedCertificateVerifier>(*pinned,
                                                                                         p.log);
  auto channel = grpc::CreateCustomChannel(
      link.verifier, ChannelCredentials(std::nullopt, verifier_check), ChannelArgs(1 << 20));
  auto stub = confml::v1::Verifier::NewStub(channel);
  confml::v1::PolicyRequest preq;
  preq.mutable_header()->set_protocol_version(kProtocolVersion);
  confml::v1::PolicyReply preply;
  CONFML_RETURN_IF_ERROR(FromGrpc(
      CallVerifier([&](grpc::ClientContext& c) { return stub->GetPolicy(&c, preq, &preply); }, stop,
                   timeout_seconds),
      "fetching the policy from the verifier at " + link.verifier));
  StatusOr<defenses::Policy> policy = defenses::LoadSignedPolicy(
      ByteSpan(reinterpret_cast<const uint8_t*>(preply.signed_policy().data()),
               preply.signed_policy().size()),
      *verifier_cert.public_key);
  if (!policy.ok()) return policy.status().WithContext("the verifier's policy");
  auto trust = std::make_shared<TrustContext>(
      TrustContext{name, *verifier_cert.public_key, *policy, {}, 3600});
  for (const Bytes& anchor : policy->trust_anchors) {
    CONFML_ASSIGN_OR_RETURN(EcKey k, EcKey::FromPublicPoint(EcCurve::kP384, anchor));
    trust->anchors.push_back(std::move(k));
  }
  p.trust = trust;

  confml::v1::TicketRequest treq;
  treq.mutable_header()->set_protocol_version(kProtocolVersion);
  confml::v1::Ticket ticket;
  CONFML_RETURN_IF_ERROR(FromGrpc(
      CallVerifier([&](grpc::ClientContext& c) { return stub->GetTicket(&c, treq, &ticket); }, stop,
                   timeout_seconds),
      "getting a ticket from the verifier"));
  Evidence ev;
  ev.role = role;
  ev.nonce.assign(ticket.nonce().begin(), ticket.nonce().end());
  ev.ticket_signature.assign(ticket.signature().begin(), ticket.signature().end());
  CONFML_RETURN_IF_ERROR(
      CheckTicket(trust->verifier_key, ev.nonce, ev.ticket_signature, trust->ticket_ttl_seconds));

  // The TLS key is born inside the realm, and the realm's token binds it.
  std::optional<EcKey> tls_key;
  CONFML_RETURN_IF_ERROR(p.party->realm().Run([&](RealmContext& ctx) -> Status {
    CONFML_ASSIGN_OR_RETURN(EcKey key, EcKey::Generate(EcCurve::kP384));
    CONFML_ASSIGN_OR_RETURN(Bytes challenge,
                            defenses::ChannelBindingChallenge(ev.nonce, key.PublicPoint()));
    CONFML_ASSIGN_OR_RETURN(ev.token, ctx.AttestationToken(challenge));
    tls_key = std::move(key);
    return OkStatus();
  }));
  CONFML_ASSIGN_OR_RETURN(p.identity.key_pem, tls_key->PrivateKeyPem());
  CONFML_ASSIGN_OR_RETURN(p.identity.cert_pem, MakeCertificate(*tls_key, name, &ev));
  p.log->Line("TLS identity ready: key generated in the realm, token (" +
              std::to_string(ev.token.size()) + " bytes) binds it to the verifier's ticket");
  return p;
}

}  // namespace confml::net::internal
