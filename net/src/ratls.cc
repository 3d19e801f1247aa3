// Attestation-bound TLS identities: certificates carrying CCA evidence, their
// appraisal, and the gRPC credentials and handshake verifiers built on them.
#include <openssl/asn1.h>
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <ctime>
#include <iostream>

#include "confml/core/file_util.h"
#include "confml/defenses/channel.h"
#include "confml/defenses/verifier.h"
#include "net_internal.h"

namespace confml::net::internal {
namespace {

template <typename T, void (*F)(T*)>
struct Deleter {
  void operator()(T* p) const { F(p); }
};
void FreeBio(BIO* b) { BIO_free(b); }
using BioPtr = std::unique_ptr<BIO, Deleter<BIO, FreeBio>>;
using X509Ptr = std::unique_ptr<X509, Deleter<X509, X509_free>>;
using PkeyPtr = std::unique_ptr<EVP_PKEY, Deleter<EVP_PKEY, EVP_PKEY_free>>;
using ObjPtr = std::unique_ptr<ASN1_OBJECT, Deleter<ASN1_OBJECT, ASN1_OBJECT_free>>;
using OctetPtr =
    std::unique_ptr<ASN1_OCTET_STRING, Deleter<ASN1_OCTET_STRING, ASN1_OCTET_STRING_free>>;
using ExtPtr = std::unique_ptr<X509_EXTENSION, Deleter<X509_EXTENSION, X509_EXTENSION_free>>;
using BnPtr = std::unique_ptr<BIGNUM, Deleter<BIGNUM, BN_free>>;

std::string BioText(BIO* bio) {
  char* data = nullptr;
  long n = BIO_get_mem_data(bio, &data);
  return n > 0 ? std::string(data, static_cast<size_t>(n)) : std::string();
}

void PutU32(Bytes& out, uint32_t v) {
  for (int s = 24; s >= 0; s -= 8) out.push_back(static_cast<uint8_t>(v >> s));
}
void PutField(Bytes& out, ByteSpan field) {
  PutU32(out, static_cast<uint32_t>(field.size()));
  out.insert(out.end(), field.begin(), field.end());
}

int64_t NowSeconds() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string Join(const std::vector<std::string>& v) {
  std::string out;
  for (const std::string& s : v) out += (out.empty() ? "" : ",") + s;
  return out;
}

}  // namespace

Logger::Logger(std::string who, const std::string& path) : who_(std::move(who)) {
  if (!path.empty()) file_.open(path, std::ios::app);
}

void Logger::Line(const std::string& text) {
  std::time_t t = std::time(nullptr);
  char stamp[32];
  std::strftime(stamp, sizeof(stamp), "%H:%M:%S", std::gmtime(&t));
  std::string line = std::string(stamp) + " [" + who_ + "] " + text + "\n";
  std::lock_guard<std::mutex> lock(mu_);
  std::cerr << line << std::flush;
  if (file_.is_open()) file_ << line << std::flush;
}

Bytes EncodeEvidence(const Evidence& e) {
  Bytes out(kEvidenceMagic.begin(), kEvidenceMagic.end());
  PutU32(out, kEvidenceVersion);
  PutField(out, ByteSpan(reinterpret_cast<const uint8_t*>(e.role.data()), e.role.size()));
  PutField(out, e.nonce);
  PutField(out, e.ticket_signature);
  PutField(out, e.token);
  return out;
}

StatusOr<Evidence> DecodeEvidence(ByteSpan bytes) {
  size_t pos = 0;
  auto u32 = [&](uint32_t* v) {
    if (bytes.size() - pos < 4) return false;
    *v = (uint32_t{bytes[pos]} << 24) | (uint32_t{bytes[pos + 1]} << 16) |
         (uint32_t{bytes[pos + 2]} << 8) | uint32_t{bytes[pos + 3]};
    pos += 4;
    return true;
  };
  auto field = [&](Bytes* out, size_t max) {
    uint32_t n = 0;
    if (!u32(&n) || n > max || bytes.size() - pos < n) return false;
    out->assign(bytes.begin() + static_cast<std::ptrdiff_t>(pos),
                bytes.begin() + static_cast<std::ptrdiff_t>(pos + n));
    pos += n;
    return true;
  };
  if (bytes.size() < kEvidenceMagic.size() ||
      std::memcmp(bytes.data(), kEvidenceMagic.data(), kEvidenceMagic.size()) != 0) {
    return InvalidArgumentError("certificate evidence: bad magic (not a confml RA-TLS extension)");
  }
  pos = kEvidenceMagic.size();
  uint32_t version = 0;
  if (!u32(&version)) return InvalidArgumentError("certificate evidence: truncated header");
  if (version != kEvidenceVersion) {
    return InvalidArgumentError("certificate evidence: version " + std::to_string(version) +
                                ", this build reads version " + std::to_string(kEvidenceVersion));
  }
  Evidence e;
  Bytes role;
  if (!field(&role, 64) || !field(&e.nonce, 1024) || !field(&e.ticket_signature, 1024) ||
      !field(&e.token, 64 * 1024)) {
    return InvalidArgumentError("certificate evidence: truncated or oversized field");
  }
  if (pos != bytes.size()) return InvalidArgumentError("certificate evidence: trailing bytes");
  e.role.assign(role.begin(), role.end());
  return e;
}

StatusOr<std::string> MakeCertificate(const EcKey& key, const std::string& name,
                                      const Evidence* evidence, int days) {
  CONFML_ASSIGN_OR_RETURN(std::string key_pem, key.PrivateKeyPem());
  BioPtr kbio(BIO_new_mem_buf(key_pem.data(), static_cast<int>(key_pem.size())));
  PkeyPtr pkey(kbio ? PEM_read_bio_PrivateKey(kbio.get(), nullptr, nullptr, nullptr) : nullptr);
  X509Ptr x(X509_new());
  if (!pkey || !x) return InternalError("certificate: cannot load the key");
  Bytes serial(16);
  if (RAND_bytes(serial.data(), static_cast<int>(serial.size())) != 1) {
    return InternalError("certificate: no randomness for the serial number");
  }
  serial[0] &= 0x7f;  // positive
  BnPtr bn(BN_bin2bn(serial.data(), static_cast<int>(serial.size()), nullptr));
  bool ok = bn && X509_set_version(x.get(), 2) == 1 &&
            BN_to_ASN1_INTEGER(bn.get(), X509_get_serialNumber(x.get())) != nullptr &&
            X509_gmtime_adj(X509_getm_notBefore(x.get()), -300) != nullptr &&
            X509_gmtime_adj(X509_getm_notAfter(x.get()), int64_t{days} * 86400) != nullptr &&
            X509_set_pubkey(x.get(), pkey.get()) == 1;
  X509_NAME* subject = X509_get_subject_name(x.get());
  ok = ok &&
       X509_NAME_add_entry_by_txt(subject, "CN", MBSTRING_UTF8,
                                  reinterpret_cast<const unsigned char*>(name.c_str()), -1, -1,
                                  0) == 1 &&
       X509_set_issuer_name(x.get(), subject) == 1;
  if (ok && evidence != nullptr) {
    Bytes body = EncodeEvidence(*evidence);
    OctetPtr inner(ASN1_OCTET_STRING_new());
    ok = inner && ASN1_OCTET_STRING_set(inner.get(), body.data(), static_cast<int>(body.size()));
    // The extension's value is the DER of an OCTET STRING holding the evidence.
    unsigned char* der = nullptr;
    int der_len = ok ? i2d_ASN1_OCTET_STRING(inner.get(), &der) : -1;
    OctetPtr value(ASN1_OCTET_STRING_new());
    ok = der_len > 0 && value && ASN1_OCTET_STRING_set(value.get(), der, der_len) == 1;
    OPENSSL_free(der);
    ObjPtr obj(OBJ_txt2obj(kEvidenceOid, 1));
    ExtPtr ext(ok && obj ? X509_EXTENSION_create_by_OBJ(nullptr, obj.get(), 0, value.get())
                         : nullptr);
    ok = ext && X509_add_ext(x.get(), ext.get(), -1) == 1;
  }
  ok = ok && X509_sign(x.get(), pkey.get(), EVP_sha384()) > 0;
  BioPtr out(BIO_new(BIO_s_mem()));
  if (!ok || !out || PEM_write_bio_X509(out.get(), x.get()) != 1) {
    return InternalError("certificate: OpenSSL could not build the certificate for '" + name + "'");
  }
  return BioText(out.get());
}

StatusOr<ParsedCertificate> ParseCertificate(std::string_view pem) {
  BioPtr bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  X509Ptr x(bio ? PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr) : nullptr);
  if (!x) return InvalidArgumentError("peer certificate: not a PEM X.509 certificate");
  ParsedCertificate out;
  char cn[256] = {0};
  if (X509_NAME_get_text_by_NID(X509_get_subject_name(x.get()), NID_commonName, cn, sizeof(cn)) >
      0) {
    out.common_name = cn;
  }
  EVP_PKEY* pub = X509_get0_pubkey(x.get());
  BioPtr pbio(BIO_new(BIO_s_mem()));
  if (pub == nullptr || !pbio || PEM_write_bio_PUBKEY(pbio.get(), pub) != 1) {
    return InvalidArgumentError("peer certificate: unreadable public key");
  }
  StatusOr<EcKey> key = EcKey::FromPublicPem(BioText(pbio.get()));
  if (!key.ok() || key->curve() != EcCurve::kP384) {
    return InvalidArgumentError("peer certificate: the key is not a P-384 EC key");
  }
  out.public_key = *key;
  ObjPtr obj(OBJ_txt2obj(kEvidenceOid, 1));
  const int at = obj ? X509_get_ext_by_OBJ(x.get(), obj.get(), -1) : -1;
  if (at >= 0) {
    ASN1_OCTET_STRING* value = X509_EXTENSION_get_data(X509_get_ext(x.get(), at));
    const unsigned char* p = ASN1_STRING_get0_data(value);
    OctetPtr inner(d2i_ASN1_OCTET_STRING(nullptr, &p, ASN1_STRING_length(value)));
    if (!inner) return InvalidArgumentError("peer certificate: evidence extension is not DER");
    CONFML_ASSIGN_OR_RETURN(
        Evidence e, DecodeEvidence(ByteSpan(ASN1_STRING_get0_data(inner.get()),
                                            static_cast<size_t>(ASN1_STRING_length(inner.get())))));
    out.evidence = std::move(e);
  }
  return out;
}

StatusOr<std::pair<Bytes, Bytes>> IssueTicket(const EcKey& verifier_key) {
  Bytes nonce(kTicketNonceSize);
  const uint64_t now = static_cast<uint64_t>(NowSeconds());
  for (int i = 0; i < 8; ++i)
    nonce[static_cast<size_t>(i)] = static_cast<uint8_t>(now >> (56 - 8 * i));
  if (RAND_bytes(nonce.data() + 8, static_cast<int>(nonce.size() - 8)) != 1) {
    return InternalError("ticket: no randomness");
  }
  Bytes message(kTicketLabel.begin(), kTicketLabel.end());
  message.insert(message.end(), nonce.begin(), nonce.end());
  CONFML_ASSIGN_OR_RETURN(Bytes sig, verifier_key.Sign(message));
  return std::make_pair(std::move(nonce), std::move(sig));
}

Status CheckTicket(const EcKey& verifier_key, ByteSpan nonce, ByteSpan signature,
                   int64_t ttl_seconds) {
  if (nonce.size() != kTicketNonceSize) {
    return UnauthenticatedError("ticket nonce has " + std::to_string(nonce.size()) +
                                " bytes, expected " + std::to_string(kTicketNonceSize));
  }
  Bytes message(kTicketLabel.begin(), kTicketLabel.end());
  message.insert(message.end(), nonce.begin(), nonce.end());
  if (!verifier_key.Verify(message, signature).ok()) {
    return UnauthenticatedError("ticket not signed by the pinned verifier");
  }
  uint64_t issued = 0;
  for (int i = 0; i < 8; ++i) issued = (issued << 8) | nonce[static_cast<size_t>(i)];
  const int64_t age = NowSeconds() - static_cast<int64_t>(issued);
  if (age < -300 || age > ttl_seconds) {
    return UnauthenticatedError("ticket is " + std::to_string(age) + " s old, limit " +
                                std::to_string(ttl_seconds) + " s");
  }
  return OkStatus();
}

std::string Appraisal::Describe() const {
  std::string who = "'" + peer + "'" + (role.empty() ? "" : " as " + role);
  if (admitted) return "admitted " + who + ": token verified, RIM listed for its role";
  return "refused " + who + ": " + failed_checks + ": " + detail;
}

Appraisal AppraiseCertificate(const TrustContext& trust, std::string_view pem,
                              const std::vector<std::string>& roles) {
  Appraisal a;
  auto fail = [&](std::string checks, std::string detail) {
    a.failed_checks = std::move(checks);
    a.detail = std::move(detail);
    return a;
  };
  StatusOr<ParsedCertificate> cert = ParseCertificate(pem);
  if (!cert.ok()) return fail("certificate", std::string(cert.status().message()));
  a.peer = cert->common_name;
  if (!cert->evidence) return fail("evidence", "the certificate carries no attestation evidence");
  const Evidence& ev = *cert->evidence;
  a.role = ev.role;
  if (std::find(roles.begin(), roles.end(), ev.role) == roles.end()) {
    return fail("role", "claims role '" + ev.role + "', this service admits " + Join(roles));
  }
  Status ticket =
      CheckTicket(trust.verifier_key, ev.nonce, ev.ticket_signature, trust.ticket_ttl_seconds);
  if (!ticket.ok()) return fail("ticket", std::string(ticket.message()));
  StatusOr<Bytes> challenge =
      defenses::ChannelBindingChallenge(ev.nonce, cert->public_key->PublicPoint());
  if (!challenge.ok()) return fail("binding", std::string(challenge.status().message()));
  defenses::VerifierInputs in;
  in.trust_anchors = trust.anchors;
  in.expected_nonce = *challenge;
  in.policy = &trust.policy;
  in.claimed_role = ev.role;
  defenses::Verdict v = defenses::Verify(ev.token, in);
  if (!v.ok()) {
    std::vector<std::string> failed = v.FailedChecks();
    std::string detail = "verifier refused";
    if (!failed.empty()) {
      if (const defenses::Finding* f = v.Find(failed.front())) detail = f->detail;
    }
    return fail(failed.empty() ? "attestation" : Join(failed), detail);
  }
  a.admitted = true;
  return a;
}

bool AttestedPeerVerifier::Verify(grpc::experimental::TlsCustomVerificationCheckRequest* request,
                                  std::function<void(grpc::Status)>, grpc::Status* sync_status) {
  grpc::string_ref pem = request->peer_cert();
  Appraisal a = AppraiseCertificate(*trust_, std::string_view(pem.data(), pem.size()), roles_);
  log_->Line("TLS handshake: " + a.Describe());
  *sync_status = a.admitted ? grpc::Status::OK
                            : grpc::Status(grpc::StatusCode::UNAUTHENTICATED,
                                           "attestation refused: " + a.failed_checks);
  return true;
}

bool PinnedCertificateVerifier::Verify(
    grpc::experimental::TlsCustomVerificationCheckRequest* request,
    std::function<void(grpc::Status)>, grpc::Status* sync_status) {
  grpc::string_ref pem = request->peer_cert();
  auto der = [](std::string_view text) -> Bytes {
    BioPtr bio(BIO_new_mem_buf(text.data(), static_cast<int>(text.size())));
    X509Ptr x(bio ? PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr) : nullptr);
    if (!x) return {};
    unsigned char* out = nullptr;
    const int n = i2d_X509(x.get(), &out);
    Bytes b;
    if (n > 0) b.assign(out, out + n);
    OPENSSL_free(out);
    return b;
  };
  Bytes peer = der(std::string_view(pem.data(), pem.size()));
  const bool same = !peer.empty() && peer == der(pinned_pem_);
  if (!same) log_->Line("TLS handshake: refused the verifier: not the pinned certificate");
  *sync_status = same ? grpc::Status::OK
                      : grpc::Status(grpc::StatusCode::UNAUTHENTICATED,
                                     "verifier certificate is not the pinned one");
  return true;
}

std::shared_ptr<grpc::ServerCredentials> ServerCredentials(
    const TlsIdentity& identity,
    std::shared_ptr<grpc::experimental::CertificateVerifier> client_verifier) {
  auto provider = std::make_shared<grpc::experimental::StaticDataCertificateProvider>(
      std::vector<grpc::experimental::IdentityKeyCertPair>{{identity.key_pem, identity.cert_pem}});
  grpc::experimental::TlsServerCredentialsOptions options(provider);
  options.watch_identity_key_cert_pairs();
  if (client_verifier) {
    // Chain validation is meaningless for self-signed RA-TLS certificates;
    // the attestation verifier decides instead.
    options.set_cert_request_type(GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_BUT_DONT_VERIFY);
    options.set_certificate_verifier(std::move(client_verifier));
  } else {
    options.set_cert_request_type(GRPC_SSL_DONT_REQUEST_CLIENT_CERTIFICATE);
  }
  return grpc::experimental::TlsServerCredentials(options);
}

StatusOr<ListeningServer> StartServer(
    const std::string& listen, const TlsIdentity& identity,
    std::shared_ptr<grpc::experimental::CertificateVerifier> client_verifier,
    grpc::Service* service, int64_t max_message_bytes, const std::string& ready_file) {
  grpc::ServerBuilder builder;
  int port = 0;
  builder.AddListeningPort(listen, ServerCredentials(identity, std::move(client_verifier)), &port);
  builder.RegisterService(service);
  builder.SetMaxReceiveMessageSize(static_cast<int>(max_message_bytes));
  builder.SetMaxSendMessageSize(static_cast<int>(max_message_bytes));
  ListeningServer out;
  out.server = builder.BuildAndStart();
  if (!out.server || port == 0) return UnavailableError("cannot listen on " + listen);
  out.address = listen.substr(0, listen.rfind(':')) + ":" + std::to_string(port);
  if (!ready_file.empty()) CONFML_RETURN_IF_ERROR(WriteFileAtomically(ready_file, out.address));
  return out;
}

std::shared_ptr<grpc::ChannelCredentials> ChannelCredentials(
    const std::optional<TlsIdentity>& identity,
    std::shared_ptr<grpc::experimental::CertificateVerifier> server_verifier) {
  grpc::experimental::TlsChannelCredentialsOptions options;
  if (identity) {
    auto provider = std::make_shared<grpc::experimental::StaticDataCertificateProvider>(
        std::vector<grpc::experimental::IdentityKeyCertPair>{
            {identity->key_pem, identity->cert_pem}});
    options.set_certificate_provider(provider);
    options.watch_identity_key_cert_pairs();
  }
  options.set_verify_server_certs(false);
  options.set_check_call_host(false);
  options.set_certificate_verifier(std::move(server_verifier));
  return grpc::experimental::TlsCredentials(options);
}

grpc::ChannelArguments ChannelArgs(int64_t max_message_bytes) {
  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(static_cast<int>(max_message_bytes));
  args.SetMaxSendMessageSize(static_cast<int>(max_message_bytes));
  // Reconnect quickly: a restarted runtime should be found within a second.
  args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 200);
  args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 1000);
  args.SetInt(GRPC_ARG_MIN_RECONNECT_BACKOFF_MS, 200);
  return args;
}

}  // namespace confml::net::internal
