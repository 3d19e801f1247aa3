// The attested channel: handshake messages, key schedule and records. The
// wire formats are fixed-layout binary (docs/channel.md) so that parsing is a
// handful of bounds checks.
#include "confml/defenses/channel.h"

#include <algorithm>
#include <limits>
#include <string>
#include <utility>

namespace confml::defenses {

namespace {

constexpr std::string_view kLabel = "confml-attested-channel-v1";
constexpr std::string_view kKeyInfo = "confml-attested-channel-v1 keys";
constexpr std::string_view kSignLabel = "confml-attested-channel-v1 verifier";
constexpr uint8_t kVersion = 1;
constexpr size_t kConfirmSize = 32;
constexpr std::string_view kHelloMagic = "CMAH";
constexpr std::string_view kReplyMagic = "CMAR";
constexpr std::string_view kRecordMagic = "CMAD";
// magic(4) version(1) direction(1) sequence(8)
constexpr size_t kRecordHeaderSize = 14;
// Generous bound for a CCA token (real ones are ~1.2 KiB).
constexpr size_t kMaxTokenSize = 64 * 1024;

void PutU16(Bytes& out, size_t v) {
  out.push_back(static_cast<uint8_t>(v >> 8));
  out.push_back(static_cast<uint8_t>(v));
}
void PutU32(Bytes& out, size_t v) {
  for (int s = 24; s >= 0; s -= 8) out.push_back(static_cast<uint8_t>(v >> s));
}
void PutU64(Bytes& out, uint64_t v) {
  for (int s = 56; s >= 0; s -= 8) out.push_back(static_cast<uint8_t>(v >> s));
}
void Append(Bytes& out, ByteSpan b) { out.insert(out.end(), b.begin(), b.end()); }

// Bounds-checked reader over a message.
class Reader {
 public:
  Reader(ByteSpan data, std::string what) : data_(data), what_(std::move(what)) {}
  Status Magic(std::string_view magic) {
    CONFML_ASSIGN_OR_RETURN(ByteSpan m, Take(magic.size()));
    if (!std::equal(m.begin(), m.end(), magic.begin())) return Bad("wrong magic");
    CONFML_ASSIGN_OR_RETURN(uint64_t v, Uint(1));
    if (v != kVersion) return Bad("unsupported version " + std::to_string(v));
    return OkStatus();
  }
  StatusOr<uint64_t> Uint(size_t bytes) {
    CONFML_ASSIGN_OR_RETURN(ByteSpan b, Take(bytes));
    uint64_t v = 0;
    for (uint8_t x : b) v = (v << 8) | x;
    return v;
  }
  StatusOr<ByteSpan> Take(size_t n) {
    if (n > data_.size() - pos_) return Bad("truncated");
    ByteSpan out = data_.subspan(pos_, n);
    pos_ += n;
    return out;
  }
  Status End() { return pos_ == data_.size() ? OkStatus() : Bad("trailing bytes"); }
  Status Bad(const std::string& why) const { return InvalidArgumentError(what_ + ": " + why); }

 private:
  ByteSpan data_;
  size_t pos_ = 0;
  std::string what_;
};

struct Hello {
  Bytes public_key;
  Bytes token;
};

Bytes EncodeHello(ByteSpan public_key, ByteSpan token) {
  Bytes out(kHelloMagic.begin(), kHelloMagic.end());
  out.push_back(kVersion);
  PutU16(out, public_key.size());
  Append(out, public_key);
  PutU32(out, token.size());
  Append(out, token);
  return out;
}

StatusOr<Hello> DecodeHello(ByteSpan bytes) {
  Reader r(bytes, "realm hello");
  CONFML_RETURN_IF_ERROR(r.Magic(kHelloMagic));
  CONFML_ASSIGN_OR_RETURN(uint64_t key_len, r.Uint(2));
  if (key_len != kChannelPublicKeySize) return r.Bad("public key is not a P-384 point");
  CONFML_ASSIGN_OR_RETURN(ByteSpan key, r.Take(key_len));
  CONFML_ASSIGN_OR_RETURN(uint64_t token_len, r.Uint(4));
  if (token_len == 0 || token_len > kMaxTokenSize) return r.Bad("token length out of range");
  CONFML_ASSIGN_OR_RETURN(ByteSpan token, r.Take(token_len));
  CONFML_RETURN_IF_ERROR(r.End());
  return Hello{Bytes(key.begin(), key.end()), Bytes(token.begin(), token.end())};
}

struct Reply {
  Bytes public_key;
  Bytes confirm;
  Bytes signature;  // empty when unsigned
};

Bytes EncodeReply(const Reply& reply) {
  Bytes out(kReplyMagic.begin(), kReplyMagic.end());
  out.push_back(kVersion);
  PutU16(out, reply.public_key.size());
  Append(out, reply.public_key);
  Append(out, reply.confirm);
  PutU16(out, reply.signature.size());
  Append(out, reply.signature);
  return out;
}

StatusOr<Reply> DecodeReply(ByteSpan bytes) {
  Reader r(bytes, "verifier reply");
  CONFML_RETURN_IF_ERROR(r.Magic(kReplyMagic));
  Reply reply;
  CONFML_ASSIGN_OR_RETURN(uint64_t key_len, r.Uint(2));
  if (key_len != kChannelPublicKeySize) return r.Bad("public key is not a P-384 point");
  CONFML_ASSIGN_OR_RETURN(ByteSpan key, r.Take(key_len));
  CONFML_ASSIGN_OR_RETURN(ByteSpan confirm, r.Take(kConfirmSize));
  CONFML_ASSIGN_OR_RETURN(uint64_t sig_len, r.Uint(2));
  if (sig_len != 0 && sig_len != 96) return r.Bad("signature is not an ES384 r||s");
  CONFML_ASSIGN_OR_RETURN(ByteSpan sig, r.Take(sig_len));
  CONFML_RETURN_IF_ERROR(r.End());
  reply.public_key.assign(key.begin(), key.end());
  reply.confirm.assign(confirm.begin(), confirm.end());
  reply.signature.assign(sig.begin(), sig.end());
  return reply;
}

Bytes TranscriptHash(ByteSpan nonce, ByteSpan realm_key, ByteSpan token, ByteSpan verifier_key) {
  Bytes t(kLabel.begin(), kLabel.end());
  Append(t, nonce);
  Append(t, realm_key);
  PutU32(t, token.size());
  Append(t, token);
  Append(t, verifier_key);
  return Sha256(t);
}

struct KeySchedule {
  Bytes realm_to_verifier, verifier_to_realm, confirm;
};

StatusOr<KeySchedule> DeriveKeys(ByteSpan shared, ByteSpan transcript) {
  CONFML_ASSIGN_OR_RETURN(Bytes okm, HkdfSha256(shared, transcript, AsBytes(kKeyInfo),
                                                2 * kAes256GcmKeySize + kConfirmSize));
  KeySchedule k;
  k.realm_to_verifier.assign(okm.begin(), okm.begin() + kAes256GcmKeySize);
  k.verifier_to_realm.assign(okm.begin() + kAes256GcmKeySize, okm.begin() + 2 * kAes256GcmKeySize);
  k.confirm.assign(okm.begin() + 2 * kAes256GcmKeySize, okm.end());
  return k;
}

Bytes SignedPart(ByteSpan transcript) {
  Bytes m(kSignLabel.begin(), kSignLabel.end());
  Append(m, transcript);
  return m;
}

uint8_t DirectionOf(ChannelPeer sender) { return sender == ChannelPeer::kRealm ? 0 : 1; }

Bytes GcmNonce(uint8_t direction, uint64_t seq) {
  Bytes n(4, 0);
  n[3] = direction;
  PutU64(n, seq);
  return n;
}

}  // namespace

// Builds SecureChannel objects (its constructor is private).
struct ChannelAccess {
  static SecureChannel Make(ChannelPeer self, const KeySchedule& k, Bytes transcript,
                            TransportLog log) {
    SecureChannel c;
    c.self_ = self;
    c.send_key_ = self == ChannelPeer::kRealm ? k.realm_to_verifier : k.verifier_to_realm;
    c.recv_key_ = self == ChannelPeer::kRealm ? k.verifier_to_realm : k.realm_to_verifier;
    c.transcript_hash_ = std::move(transcript);
    c.log_ = std::move(log);
    return c;
  }
};

std::string_view ChannelPeerName(ChannelPeer peer) {
  return peer == ChannelPeer::kRealm ? "realm" : "verifier";
}

// ---- TransportRecorder -------------------------------------------------------

TransportLog TransportRecorder::Hook() {
  return [this](ChannelPeer sender, std::string_view kind, ByteSpan bytes) {
    std::lock_guard<std::mutex> lock(mu_);
    entries_.push_back(Entry{sender, std::string(kind), Bytes(bytes.begin(), bytes.end())});
  };
}

std::vector<TransportRecorder::Entry> TransportRecorder::entries() const {
  std::lock_guard<std::mutex> lock(mu_);
  return entries_;
}

bool TransportRecorder::Contains(ByteSpan marker) const {
  std::lock_guard<std::mutex> lock(mu_);
  for (const Entry& e : entries_) {
    if (std::search(e.bytes.begin(), e.bytes.end(), marker.begin(), marker.end()) !=
        e.bytes.end()) {
      return true;
    }
  }
  return false;
}

size_t TransportRecorder::total_bytes() const {
  std::lock_guard<std::mutex> lock(mu_);
  size_t n = 0;
  for (const Entry& e : entries_) n += e.bytes.size();
  return n;
}

// ---- Binding -----------------------------------------------------------------

StatusOr<Bytes> ChannelBindingChallenge(ByteSpan nonce, ByteSpan realm_public_key) {
  if (nonce.size() != kChannelNonceSize) {
    return InvalidArgumentError("channel nonce must be " + std::to_string(kChannelNonceSize) +
                                " bytes, got " + std::to_string(nonce.size()));
  }
  if (realm_public_key.size() != kChannelPublicKeySize) {
    return InvalidArgumentError("realm public key must be a 97-byte SEC1 P-384 point, got " +
                                std::to_string(realm_public_key.size()) + " bytes");
  }
  Bytes m(nonce.begin(), nonce.end());
  Append(m, realm_public_key);
  return Sha512(m);
}

// ---- SecureChannel -----------------------------------------------------------

StatusOr<Bytes> SecureChannel::Seal(ByteSpan plaintext) {
  if (closed_) return FailedPreconditionError("channel is closed after an earlier error");
  if (plaintext.size() > kChannelMaxRecordPlaintext) {
    return InvalidArgumentError("record plaintext of " + std::to_string(plaintext.size()) +
                                " bytes exceeds the channel's limit");
  }
  if (send_seq_ == std::numeric_limits<uint64_t>::max()) {
    closed_ = true;
    return ResourceExhaustedError("channel sequence numbers exhausted; re-establish it");
  }
  Bytes record(kRecordMagic.begin(), kRecordMagic.end());
  record.push_back(kVersion);
  record.push_back(DirectionOf(self_));
  PutU64(record, send_seq_);
  CONFML_ASSIGN_OR_RETURN(
      Bytes sealed, Aes256GcmSeal(send_key_, GcmNonce(DirectionOf(self_), send_seq_), plaintext,
                                  ByteSpan(record.data(), kRecordHeaderSize)));
  Append(record, sealed);
  ++send_seq_;
  if (log_) log_(self_, "record", record);
  return record;
}

StatusOr<Bytes> SecureChannel::Open(ByteSpan record) {
  if (closed_) return FailedPreconditionError("channel is closed after an earlier error");
  // Any bad record closes the channel: a stream that lost integrity is not
  // resumed (as TLS treats a bad record as fatal).
  closed_ = true;
  if (record.size() < kRecordHeaderSize + kAes256GcmTagSize ||
      record.size() - kRecordHeaderSize - kAes256GcmTagSize > kChannelMaxRecordPlaintext) {
    return DataLossError("channel record of " + std::to_string(record.size()) +
                         " bytes: truncated or oversized");
  }
  Reader r(record, "channel record");
  if (Status s = r.Magic(kRecordMagic); !s.ok()) return DataLossError(s.message());
  const uint8_t peer_direction =
      DirectionOf(self_ == ChannelPeer::kRealm ? ChannelPeer::kVerifier : ChannelPeer::kRealm);
  const uint64_t direction = *r.Uint(1);
  if (direction != peer_direction) {
    return DataLossError("channel record travels the other direction (reflected to its sender)");
  }
  const uint64_t seq = *r.Uint(8);
  if (seq != recv_seq_) {
    return AbortedError("channel record has sequence " + std::to_string(seq) + ", expected " +
                        std::to_string(recv_seq_) +
                        (seq < recv_seq_ ? " (replayed)" : " (reordered or dropped)"));
  }
  StatusOr<Bytes> plain =
      Aes256GcmOpen(recv_key_, GcmNonce(static_cast<uint8_t>(direction), seq),
                    record.subspan(kRecordHeaderSize), record.first(kRecordHeaderSize));
  if (!plain.ok()) {
    return DataLossError("channel record " + std::to_string(seq) +
                         " does not authenticate (tampered, or not from this channel)");
  }
  ++recv_seq_;
  closed_ = false;
  return plain;
}

// ---- Realm side --------------------------------------------------------------

StatusOr<RealmHandshake> RealmHandshake::StartWith(
    const std::function<StatusOr<Bytes>(ByteSpan challenge)>& attest, ByteSpan verifier_nonce,
    RealmChannelOptions options) {
  if (verifier_nonce.size() != kChannelNonceSize) {
    return InvalidArgumentError("channel nonce must be " + std::to_string(kChannelNonceSize) +
                                " bytes, got " + std::to_string(verifier_nonce.size()));
  }
  CONFML_ASSIGN_OR_RETURN(EcKey key, EcKey::Generate(EcCurve::kP384));
  RealmHandshake hs(std::move(key), std::move(options));
  hs.nonce_.assign(verifier_nonce.begin(), verifier_nonce.end());
  hs.public_key_ = hs.key_.PublicPoint();
  CONFML_ASSIGN_OR_RETURN(Bytes challenge, ChannelBindingChallenge(hs.nonce_, hs.public_key_));
  StatusOr<Bytes> token = attest(challenge);
  if (!token.ok()) return token.status().WithContext("attested channel: realm token");
  if (token->empty() || token->size() > kMaxTokenSize) {
    return InvalidArgumentError("attested channel: token of " + std::to_string(token->size()) +
                                " bytes");
  }
  hs.token_ = *std::move(token);
  hs.hello_ = EncodeHello(hs.public_key_, hs.token_);
  if (hs.options_.transport_log) {
    hs.options_.transport_log(ChannelPeer::kRealm, "realm_hello", hs.hello_);
  }
  return hs;
}

StatusOr<RealmHandshake> RealmHandshake::Start(RealmContext& ctx, ByteSpan verifier_nonce,
                                               RealmChannelOptions options) {
  return StartWith([&ctx](ByteSpan challenge) { return ctx.AttestationToken(challenge); },
                   verifier_nonce, std::move(options));
}

StatusOr<SecureChannel> RealmHandshake::Finish(ByteSpan verifier_reply) {
  if (finished_) return FailedPreconditionError("attested channel: handshake already finished");
  finished_ = true;
  CONFML_ASSIGN_OR_RETURN(Reply reply, DecodeReply(verifier_reply));
  StatusOr<EcKey> peer = EcKey::FromPublicPoint(EcCurve::kP384, reply.public_key);
  if (!peer.ok()) return peer.status().WithContext("verifier reply: public key");
  CONFML_ASSIGN_OR_RETURN(Bytes shared, key_.DeriveSharedSecret(*peer));
  Bytes transcript = TranscriptHash(nonce_, public_key_, token_, reply.public_key);
  CONFML_ASSIGN_OR_RETURN(KeySchedule keys, DeriveKeys(shared, transcript));
  if (!ConstantTimeEqual(keys.confirm, reply.confirm)) {
    return UnauthenticatedError(
        "attested channel: verifier reply fails key confirmation (not derived from this "
        "handshake)");
  }
  if (options_.verifier_identity) {
    if (reply.signature.empty()) {
      return UnauthenticatedError(
          "attested channel: verifier reply is unsigned, but a verifier "
          "identity is pinned");
    }
    Status s = options_.verifier_identity->Verify(SignedPart(transcript), reply.signature);
    if (!s.ok()) {
      return UnauthenticatedError(
          "attested channel: verifier reply is not signed by the pinned verifier identity");
    }
  }
  return ChannelAccess::Make(ChannelPeer::kRealm, keys, std::move(transcript),
                             options_.transport_log);
}

// ---- Verifier side -----------------------------------------------------------

StatusOr<AcceptedRealm> AcceptRealm(ByteSpan hello_bytes, ByteSpan nonce,
                                    const VerifierInputs& inputs,
                                    const VerifierChannelOptions& options, Verdict* verdict_out) {
  CONFML_ASSIGN_OR_RETURN(Hello hello, DecodeHello(hello_bytes));
  CONFML_ASSIGN_OR_RETURN(Bytes challenge, ChannelBindingChallenge(nonce, hello.public_key));
  StatusOr<EcKey> realm_key = EcKey::FromPublicPoint(EcCurve::kP384, hello.public_key);
  if (!realm_key.ok()) return realm_key.status().WithContext("realm hello: public key");

  // The registry holds the raw nonce, the token the binding challenge; so
  // the verifier compares against the challenge and consumes the nonce here.
  VerifierInputs in = inputs;
  in.expected_nonce = challenge;
  in.nonce_registry = nullptr;
  Verdict verdict = Verify(hello.token, in);
  if (verdict.ok() && inputs.nonce_registry != nullptr) {
    Status consumed = inputs.nonce_registry->Consume(nonce);
    verdict.Add("channel_nonce", consumed.ok(),
                consumed.ok()
                    ? "nonce was outstanding and is now consumed"
                    : "nonce is not outstanding (replayed handshake): " + consumed.message());
  }
  if (verdict_out != nullptr) *verdict_out = verdict;
  if (!verdict.ok()) {
    std::string why;
    for (const Finding& f : verdict.findings()) {
      if (f.passed) continue;
      if (!why.empty()) why += "; ";
      why += f.check + ": " + f.detail;
    }
    return UnauthenticatedError("attested channel: realm not admitted: " + why);
  }

  CONFML_ASSIGN_OR_RETURN(EcKey ephemeral, EcKey::Generate(EcCurve::kP384));
  CONFML_ASSIGN_OR_RETURN(Bytes shared, ephemeral.DeriveSharedSecret(*realm_key));
  Reply reply;
  reply.public_key = ephemeral.PublicPoint();
  Bytes transcript = TranscriptHash(nonce, hello.public_key, hello.token, reply.public_key);
  CONFML_ASSIGN_OR_RETURN(KeySchedule keys, DeriveKeys(shared, transcript));
  reply.confirm = keys.confirm;
  if (options.identity_key) {
    CONFML_ASSIGN_OR_RETURN(reply.signature, options.identity_key->Sign(SignedPart(transcript)));
  }
  Bytes reply_bytes = EncodeReply(reply);
  if (options.transport_log)
    options.transport_log(ChannelPeer::kVerifier, "verifier_reply", reply_bytes);
  return AcceptedRealm{ChannelAccess::Make(ChannelPeer::kVerifier, keys, std::move(transcript),
                                           options.transport_log),
                       std::move(reply_bytes), std::move(verdict)};
}

}  // namespace confml::defenses
