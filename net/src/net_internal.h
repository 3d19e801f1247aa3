// Private to confml::net: the attestation-bound TLS identities (RA-TLS
// style certificates), their appraisal, the gRPC credentials built on them,
// and the start-up every role process shares. Tests include this header to
// drive the wire protocol directly.
#pragma once

#include <grpcpp/grpcpp.h>
#include <grpcpp/security/tls_certificate_verifier.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <fstream>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "confml.grpc.pb.h"
#include "confml/core/crypto.h"
#include "confml/core/fl_hooks.h"
#include "confml/core/params.h"
#include "confml/core/status.h"
#include "confml/defenses/policy.h"
#include "confml/experiments/config.h"
#include "confml/experiments/parties.h"
#include "confml/net/net.h"

namespace confml::net::internal {

// Signed by the verifier over kTicketLabel || nonce.
inline constexpr std::string_view kTicketLabel = "confml-ticket-v1";
inline constexpr size_t kTicketNonceSize = 64;
// The X.509 extension carrying the evidence: an OID in the UUID arc 2.25
// (ITU-T X.667), which needs no registration.
inline constexpr char kEvidenceOid[] = "2.25.250860176914032617413853497126358917412";
inline constexpr std::string_view kEvidenceMagic = "CONFML-RATLS";
inline constexpr uint32_t kEvidenceVersion = 1;

// One line per event, to stderr and (optionally) a file. Thread-safe.
class Logger {
 public:
  Logger(std::string who, const std::string& path);
  void Line(const std::string& text);
  const std::string& who() const { return who_; }

 private:
  std::mutex mu_;
  std::string who_;
  std::ofstream file_;
};

// What a party's certificate says about it. Encoding: magic, u32 version,
// then four u32-length-prefixed fields (role, nonce, ticket signature,
// token); all big-endian; strictly parsed.
struct Evidence {
  std::string role;
  Bytes nonce;             // the verifier's ticket nonce
  Bytes ticket_signature;  // the verifier's signature of it
  Bytes token;             // CCA token, challenge = SHA-512(nonce || TLS public key)
};
Bytes EncodeEvidence(const Evidence& e);
StatusOr<Evidence> DecodeEvidence(ByteSpan bytes);

// A self-signed X.509 certificate (PEM) for `key` (P-384) with CN `name`,
// carrying `evidence` when given (valid for `days`).
StatusOr<std::string> MakeCertificate(const EcKey& key, const std::string& name,
                                      const Evidence* evidence, int days = 2);

struct ParsedCertificate {
  std::string common_name;
  std::optional<EcKey> public_key;   // always set on success
  std::optional<Evidence> evidence;  // absent when the extension is missing
};
// InvalidArgument for anything that is not one PEM certificate with a P-384
// key, or whose evidence extension is malformed.
StatusOr<ParsedCertificate> ParseCertificate(std::string_view pem);

// Checks a ticket's signature and age.
Status CheckTicket(const EcKey& verifier_key, ByteSpan nonce, ByteSpan signature,
                   int64_t ttl_seconds);
// A new ticket: issue time || 56 random bytes, and its signature.
StatusOr<std::pair<Bytes, Bytes>> IssueTicket(const EcKey& verifier_key);

// What a relying party believes: the policy (verified against the pinned
// verifier key) and the platform anchors in it.
struct TrustContext {
  std::string self;
  EcKey verifier_key;  // the pinned verifier certificate's key
  defenses::Policy policy;
  std::vector<EcKey> anchors;
  int64_t ticket_ttl_seconds = 3600;
};

struct Appraisal {
  bool admitted = false;
  std::string peer;           // the certificate's CN
  std::string role;           // the role it claims
  std::string failed_checks;  // comma-separated; empty when admitted
  std::string detail;         // the first failed finding's detail
  std::string Describe() const;
};
// Appraises a peer's certificate: evidence present, role among `roles`,
// ticket signed by the verifier and fresh, then defenses::Verify of the
// token with challenge = ChannelBindingChallenge(nonce, certificate key)
// against the policy for the claimed role. Never accepts what it could not
// check.
Appraisal AppraiseCertificate(const TrustContext& trust, std::string_view pem,
                              const std::vector<std::string>& roles);

// gRPC's hook into the TLS handshake: refuse the handshake unless the peer's
// certificate is admitted. Every decision is logged.
class AttestedPeerVerifier : public grpc::experimental::ExternalCertificateVerifier {
 public:
  AttestedPeerVerifier(std::shared_ptr<const TrustContext> trust, std::vector<std::string> roles,
                       std::shared_ptr<Logger> log)
      : trust_(std::move(trust)), roles_(std::move(roles)), log_(std::move(log)) {}
  bool Verify(grpc::experimental::TlsCustomVerificationCheckRequest* request,
              std::function<void(grpc::Status)> callback, grpc::Status* sync_status) override;
  void Cancel(grpc::experimental::TlsCustomVerificationCheckRequest*) override {}

 private:
  std::shared_ptr<const TrustContext> trust_;
  std::vector<std::string> roles_;
  std::shared_ptr<Logger> log_;
};

// The verifier's certificate is pinned: only that exact certificate passes.
class PinnedCertificateVerifier : public grpc::experimental::ExternalCertificateVerifier {
 public:
  PinnedCertificateVerifier(std::string pinned_pem, std::shared_ptr<Logger> log)
      : pinned_pem_(std::move(pinned_pem)), log_(std::move(log)) {}
  bool Verify(grpc::experimental::TlsCustomVerificationCheckRequest* request,
              std::function<void(grpc::Status)> callback, grpc::Status* sync_status) override;
  void Cancel(grpc::experimental::TlsCustomVerificationCheckRequest*) override {}

 private:
  std::string pinned_pem_;
  std::shared_ptr<Logger> log_;
};

// A TLS identity: a private key (PEM) and its certificate (PEM).
struct TlsIdentity {
  std::string key_pem;
  std::string cert_pem;
};

// Server credentials presenting `identity`; with `client_verifier`, a client
// certificate is required and must pass it.
std::shared_ptr<grpc::ServerCredentials> ServerCredentials(
    const TlsIdentity& identity,
    std::shared_ptr<grpc::experimental::CertificateVerifier> client_verifier);
// A started server: gRPC's handle and the address it listens on, with the
// port the system chose when `listen` asked for port 0.
struct ListeningServer {
  std::unique_ptr<grpc::Server> server;
  std::string address;
};
// Builds and starts a TLS server for `service` on `listen` (host:port),
// presenting `identity` and checking clients with `client_verifier` (may be
// null), with both message size limits at `max_message_bytes`. When
// `ready_file` is not empty the address is written there atomically once the
// server listens (scripts and tests wait for it).
StatusOr<ListeningServer> StartServer(
    const std::string& listen, const TlsIdentity& identity,
    std::shared_ptr<grpc::experimental::CertificateVerifier> client_verifier,
    grpc::Service* service, int64_t max_message_bytes, const std::string& ready_file);
// Channel credentials presenting `identity` (if any), checking the server
// with `server_verifier`.
std::shared_ptr<grpc::ChannelCredentials> ChannelCredentials(
    const std::optional<TlsIdentity>& identity,
    std::shared_ptr<grpc::experimental::CertificateVerifier> server_verifier);
// Channel arguments every connection uses (message size limits, backoff).
grpc::ChannelArguments ChannelArgs(int64_t max_message_bytes);

// The experiment config every role process runs (kind federated only) and
// what the processes need of it.
struct Scenario {
  std::shared_ptr<const experiments::ExperimentConfig> experiment;
  std::string backend = "sim";
  std::map<std::string, ParamValue> backend_params;
  // A client's data is one device's own (partition `owned`: client i is
  // device i's samples), so no other device may train it. Every other
  // partition cuts a dataset that each process loads whole, so any device
  // can train any client and a lost device's clients are re-dealt.
  bool owned_clients = false;
};
// With owned data (`owned_clients`) device `index` of `count` holds only the
// clients whose id % count == index, so a task for any other client is a
// runtime that deals wrongly: FailedPrecondition naming the client, rather
// than quietly training what this device should not have. Without owned data
// any device may train any client.
Status CheckOwnClients(bool owned_clients, int64_t index, int64_t count,
                       const std::vector<ClientContext>& tasks);
// InvalidArgument naming the file when the config is not a federated one
// (the in-process flow fl_words is pointed to fl_words_federated.yaml), its
// tee is not sim, or its attestation mode is not policy.
StatusOr<Scenario> LoadScenario(const std::string& config_path,
                                const std::vector<std::string>& overrides = {});
// SHA-256 of the resolved config: every process of a federated flow must
// run the same one.
Bytes ConfigDigest(const experiments::ExperimentConfig& config);

// The Program a role process runs: the role's honest Program plus the `net`
// code module (this directory and proto/, digested at build time like every
// module), so a party's RIM also covers the networking code that speaks for
// it; then `extra`.
StatusOr<Program> ProcessProgram(std::string_view role, std::vector<ProgramComponent> extra = {});

// A started role process: its realm, its attested TLS identity, the policy.
struct PartyProcess {
  std::shared_ptr<Logger> log;
  Scenario scenario;
  std::unique_ptr<experiments::Deployment> deployment;
  experiments::Party* party = nullptr;
  std::shared_ptr<const TrustContext> trust;
  TlsIdentity identity;
};
// Launches `role`'s Program (plus options.extra_components) in a sim realm,
// fetches the signed policy and a ticket from the verifier over the pinned
// channel, generates the TLS key inside the realm and binds it into a token.
StatusOr<PartyProcess> StartParty(const CommonOptions& options, const VerifierLink& link,
                                  const std::string& role, const std::atomic<bool>* stop,
                                  double timeout_seconds = 60);

// The model-provider's release: streams `values` to
// the runtime's DeliverModel (`meta`'s fields on the first chunk) until the
// runtime acknowledges them, retrying while it is unreachable or not ready
// for up to `timeout_seconds`; DataLoss when the acknowledged byte count is
// not what was sent.
Status ReleaseModel(const PartyProcess& party, const std::string& runtime,
                    const std::vector<float>& values, const confml::v1::ModelChunk& meta,
                    int64_t chunk_bytes, double timeout_seconds, const std::atomic<bool>* stop);
// A stub for the runtime at `runtime` that admits it in the TLS handshake
// only as role runtime.
std::unique_ptr<confml::v1::Runtime::Stub> RuntimeStub(const PartyProcess& party,
                                                       const std::string& runtime);

// Helpers.
// Whether a failed call is worth retrying: the peer was unreachable, not
// ready yet, or the call ran out of time.
bool Retryable(const grpc::Status& status);
// A gRPC deadline `seconds` from now.
std::chrono::system_clock::time_point In(double seconds);
Status FromGrpc(const grpc::Status& status, const std::string& what);
grpc::Status ToGrpc(const Status& status);
bool Stopped(const std::atomic<bool>* stop);
// The role a peer's certificate claims (from the call's auth context); empty
// when absent.
std::string PeerRole(const grpc::ServerContext& context, std::string* name);

}  // namespace confml::net::internal
