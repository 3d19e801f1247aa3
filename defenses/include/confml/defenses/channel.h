// confml/defenses/channel.h: the attested channel. A realm proves, with a CCA
// attestation token, that an ephemeral key-exchange key was generated inside
// it; the verifier admits it only if the token passes Verify (verifier.h);
// both then talk through AES-256-GCM under keys derived from that exchange.
// A host on the path sees the handshake and ciphertext only.
//
//   // verifier                                   // realm (inside Run)
//   Bytes nonce = *nonces.Issue();   ----------->
//                                                 auto hs = RealmHandshake::Start(ctx, nonce);
//                                    <----------- hs->hello()
//   auto acc = AcceptRealm(hello, nonce, inputs);
//   if (!acc.ok()) ... // Unauthenticated, names the failing findings
//                                    -----------> acc->reply
//                                                 auto ch = std::move(*hs).Finish(reply);
//   auto rec = acc->channel.Seal(model_bytes) --> ch->Open(rec)
//
// The binding (see docs/channel.md): the realm's 64-byte attestation
// challenge is SHA-512(nonce || realm_public_key), where nonce is the
// verifier's fresh 64-byte nonce and realm_public_key the SEC1 uncompressed
// P-384 point (97 bytes) of the realm's ephemeral ECDH key. Both parts have
// fixed sizes, so the concatenation is unambiguous. A token for another key,
// a token without the binding (challenge = nonce) or a replayed token (for
// an older nonce) fails the verifier's "challenge" check.
//
// Keys: shared = ECDH(P-384); T = SHA-256 transcript of the label, nonce,
// realm key, token and verifier key; HKDF-SHA-256(shared, salt = T) gives
// one AES-256-GCM key per direction and a key-confirmation value the
// verifier returns in its reply. Records carry a 64-bit sequence number in
// the authenticated header; a receiver accepts only the next one, so
// replayed, reordered, dropped or reflected records are rejected.
//
// Authentication is one-sided by default: the verifier knows it talks to the
// attested realm, but the realm does not know who the verifier is (as with a
// TLS server without client certificates, reversed). Pin a verifier identity
// key in the realm (RealmChannelOptions::verifier_identity; it should be part
// of the measured image) to authenticate the verifier's reply too.
//
// Errors: InvalidArgument for malformed handshake messages or a nonce that
// is not 64 bytes; Unauthenticated when attestation, key confirmation or the
// verifier's signature fails; DataLoss for a record that does not
// authenticate (tampered, truncated, reflected); Aborted for a replayed or
// reordered record; FailedPrecondition for any use of a channel after an
// error (a channel that saw a bad record is closed for good);
// ResourceExhausted when the 64-bit sequence space is used up.
//
// Thread safety: the handshake functions are thread-safe; a SecureChannel is
// not (one user per endpoint, or external locking).
#pragma once

#include <cstdint>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "confml/core/crypto.h"
#include "confml/core/status.h"
#include "confml/core/tee_backend.h"
#include "confml/defenses/verifier.h"

namespace confml::defenses {

inline constexpr size_t kChannelNonceSize = 64;
inline constexpr size_t kChannelPublicKeySize = 97;  // SEC1 uncompressed P-384
// Largest plaintext one record carries (records are length-checked on open).
inline constexpr size_t kChannelMaxRecordPlaintext = 64 * 1024 * 1024;

enum class ChannelPeer { kRealm, kVerifier };
std::string_view ChannelPeerName(ChannelPeer peer);  // "realm", "verifier"

// Called with every message an endpoint puts on the wire: what a host on
// the path would see. `kind` is "realm_hello", "verifier_reply" or "record".
using TransportLog = std::function<void(ChannelPeer sender, std::string_view kind, ByteSpan bytes)>;

// A TransportLog that keeps everything, for tests and the flows that search
// the wire for plaintext. Thread-safe.
class TransportRecorder {
 public:
  struct Entry {
    ChannelPeer sender;
    std::string kind;
    Bytes bytes;
  };

  // The hook to pass in the options; valid while this recorder lives.
  TransportLog Hook();
  std::vector<Entry> entries() const;
  // Whether `marker` occurs in any one message on the wire.
  bool Contains(ByteSpan marker) const;
  size_t total_bytes() const;

 private:
  mutable std::mutex mu_;
  std::vector<Entry> entries_;
};

// The attestation challenge that binds `realm_public_key` to `nonce`.
// InvalidArgument unless nonce is 64 and the key 97 bytes.
StatusOr<Bytes> ChannelBindingChallenge(ByteSpan nonce, ByteSpan realm_public_key);

// One endpoint of an established channel. Move-only.
class SecureChannel {
 public:
  SecureChannel(SecureChannel&&) noexcept = default;
  SecureChannel& operator=(SecureChannel&&) noexcept = default;
  SecureChannel(const SecureChannel&) = delete;
  SecureChannel& operator=(const SecureChannel&) = delete;

  // Encrypts one message into a record for the peer (and logs it).
  StatusOr<Bytes> Seal(ByteSpan plaintext);
  // Decrypts the peer's next record. See the file comment for the errors.
  StatusOr<Bytes> Open(ByteSpan record);

  ChannelPeer self() const { return self_; }
  // SHA-256 of the handshake transcript: equal on both ends of one channel.
  const Bytes& transcript_hash() const { return transcript_hash_; }
  uint64_t records_sent() const { return send_seq_; }
  uint64_t records_received() const { return recv_seq_; }
  bool closed() const { return closed_; }

 private:
  friend struct ChannelAccess;
  SecureChannel() = default;

  ChannelPeer self_ = ChannelPeer::kRealm;
  Bytes send_key_, recv_key_, transcript_hash_;
  uint64_t send_seq_ = 0, recv_seq_ = 0;
  bool closed_ = false;
  TransportLog log_;
};

struct RealmChannelOptions {
  TransportLog transport_log;  // optional
  // If set, the verifier's reply must carry an ES384 signature by this key
  // over the transcript; Finish fails with Unauthenticated otherwise.
  std::optional<EcKey> verifier_identity;
};

// The realm's side. Start runs inside the realm (it needs the RealmContext
// for the token); the ephemeral private key stays in this object.
class RealmHandshake {
 public:
  // Generates the ephemeral P-384 key, gets a token for the binding
  // challenge and builds the hello message (logged as "realm_hello").
  static StatusOr<RealmHandshake> Start(RealmContext& ctx, ByteSpan verifier_nonce,
                                        RealmChannelOptions options = {});
  // The same, with a token source other than a RealmContext (e.g. a host
  // replaying someone else's token, in tests): `attest` maps a challenge to
  // a token.
  static StatusOr<RealmHandshake> StartWith(
      const std::function<StatusOr<Bytes>(ByteSpan challenge)>& attest, ByteSpan verifier_nonce,
      RealmChannelOptions options = {});

  const Bytes& hello() const { return hello_; }
  const Bytes& public_key() const { return public_key_; }

  // Checks the verifier's reply and derives the channel. Single use.
  StatusOr<SecureChannel> Finish(ByteSpan verifier_reply);

 private:
  RealmHandshake(EcKey key, RealmChannelOptions options)
      : key_(std::move(key)), options_(std::move(options)) {}
  EcKey key_;
  RealmChannelOptions options_;
  Bytes nonce_, public_key_, token_, hello_;
  bool finished_ = false;
};

struct VerifierChannelOptions {
  TransportLog transport_log;  // optional
  // If set (with a private key), the reply is signed with it.
  std::optional<EcKey> identity_key;
};

struct AcceptedRealm {
  SecureChannel channel;  // the verifier's endpoint
  Bytes reply;            // send to the realm
  Verdict verdict;        // all checks passed
};

// The verifier's side: parses `hello`, verifies its token with
// `inputs.expected_nonce` replaced by the binding challenge for `nonce` and
// the hello's key, and on success derives the channel. If
// inputs.nonce_registry is set, `nonce` must be outstanding there and is
// consumed once the token passed (a replayed handshake fails). On failure
// the error is Unauthenticated and lists the failed findings ("challenge:
// ..."); `verdict_out`, when given, receives the verdict either way.
StatusOr<AcceptedRealm> AcceptRealm(ByteSpan hello, ByteSpan nonce, const VerifierInputs& inputs,
                                    const VerifierChannelOptions& options = {},
                                    Verdict* verdict_out = nullptr);

}  // namespace confml::defenses
