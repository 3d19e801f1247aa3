// confml/defenses/secure_aggregation.h: pairwise-mask secure aggregation
// after Bonawitz et al., "Practical Secure Aggregation for Privacy-Preserving
// Machine Learning" (CCS 2017), honest-but-curious variant, simulated in one
// process with the real cryptography: P-256 ECDH key agreement, HKDF-SHA-256,
// AES-256-CTR mask expansion, AES-256-GCM for the shares the server relays,
// and t-of-n Shamir secret sharing over GF(2^61 - 1) so that the server can
// still unmask the sum when clients drop out after masking.
//
//   SecAggOptions opt;  opt.dim = d;  opt.threshold = 3;  opt.range = 1.0;
//   auto round = SecAggRound::Create(opt).value();
//   for (int64_t id : {1, 2, 3, 4, 5}) CONFML_RETURN_IF_ERROR(round->AddClient(id));
//   CONFML_RETURN_IF_ERROR(round->ShareKeys());
//   for (...) round->MaskedInput(id, update_of[id]);   // what the server receives
//   round->DropOut(4);                                   // after masking: still summed
//   StatusOr<std::vector<double>> sum = round->UnmaskSum();
//
//   // As the engine's aggregator (the mean of the updates, computed only
//   // from masked inputs): CreateAggregator("secure_fedavg", {{"range", 0.5}})
//
// What the server (the runtime) sees is SecAggServerView: public keys,
// ciphertexts of shares, masked inputs that are uniform in Z_2^32 to anyone
// without the mask seeds, and at the end only the shares needed for the
// sum. Threat model (docs/secure_aggregation.md): an honest-but-curious
// server and up to t - 1 colluding clients learn nothing beyond the sum of
// the surviving clients' inputs. Active attacks (a server lying about who
// dropped, to ask for both shares of one client) are NOT covered: the
// signatures and consistency round of the malicious-secure variant are not
// implemented.
//
// Quantisation: each coordinate is clipped to [-range, range] and encoded as
// round(x * scale) in two's complement mod 2^32, with scale = 2^k the largest
// power of two with n * range * scale <= 2^31 - 1, so the sum of n inputs
// never wraps. The decoded sum differs from the exact sum of the clipped
// inputs by at most n / (2 * scale) per coordinate.
//
// Not thread-safe. Errors: InvalidArgument for bad options, unknown or
// duplicate clients and wrong update sizes; FailedPrecondition for calls out
// of protocol order and for too many dropouts (fewer than `threshold`
// clients left); DataLoss when a share fails authentication or shares are
// inconsistent (tampered), naming the clients involved.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "confml/core/aggregator.h"
#include "confml/core/crypto.h"
#include "confml/core/seed.h"
#include "confml/core/status.h"

namespace confml::defenses {

// ---- Building blocks (exposed for tests and teaching) ----------------------

// Shamir secret sharing over the prime field GF(2^61 - 1). A byte secret is
// cut into 7-byte chunks, each shared with its own random polynomial of
// degree threshold - 1; a share holds one field element per chunk.
inline constexpr uint64_t kShamirPrime = (uint64_t{1} << 61) - 1;

struct ShamirShare {
  uint64_t x = 0;           // evaluation point, 1 <= x < p, distinct per holder
  std::vector<uint64_t> y;  // one value per 7-byte chunk
};

// Shares `secret` (1..1024 bytes) for the holders at points `xs` (distinct,
// non-zero); any `threshold` of them reconstruct it. The polynomial
// coefficients come from an AES-256-CTR stream keyed by the 32-byte
// `coin_key` (a fresh random key in real use). InvalidArgument on bad sizes,
// threshold outside [1, xs.size()] or repeated/zero points.
StatusOr<std::vector<ShamirShare>> ShamirSplit(ByteSpan secret, int threshold,
                                               const std::vector<uint64_t>& xs, ByteSpan coin_key);

// Reconstructs a `secret_size`-byte secret by Lagrange interpolation from
// the first `threshold` shares, then checks that every further share lies on
// the same polynomials. FailedPrecondition for fewer than `threshold`
// shares; DataLoss when a further share disagrees or a chunk decodes out of
// range (a tampered share); InvalidArgument for malformed shares.
StatusOr<Bytes> ShamirReconstruct(const std::vector<ShamirShare>& shares, int threshold,
                                  size_t secret_size);

// The mask PRG: `count` 32-bit words of the AES-256-CTR keystream under the
// 32-byte `seed` (zero IV). InvalidArgument for another seed size.
StatusOr<std::vector<uint32_t>> ExpandMask(ByteSpan seed, size_t count);

// Fixed-point codec for Z_2^32 (see the header comment).
class FixedPointCodec {
 public:
  // InvalidArgument unless range > 0 and 1 <= max_clients, and the scale is
  // at least 1 (range * max_clients < 2^31).
  static StatusOr<FixedPointCodec> Create(double range, int64_t max_clients);

  double range() const { return range_; }
  double scale() const { return scale_; }
  // Clips to [-range, range] and encodes; NaN encodes as 0 (callers reject
  // non-finite updates before encoding).
  uint32_t Encode(float value) const;
  // The two's-complement value of a sum of at most max_clients encodings.
  double Decode(uint32_t sum) const;
  // Worst-case |decoded sum - exact sum of clipped inputs| for n inputs.
  double SumErrorBound(int64_t n) const { return static_cast<double>(n) * 0.5 / scale_; }

 private:
  FixedPointCodec(double range, double scale) : range_(range), scale_(scale) {}
  double range_;
  double scale_;
};

// ---- The protocol ------------------------------------------------------------

struct SecAggOptions {
  size_t dim = 0;  // Required, > 0: length of every input.
  // t: shares needed to reconstruct a client's secrets, 1 <= t <= n (n = the
  // clients at ShareKeys). 0 picks floor(n / 2) + 1, the honest-majority
  // choice of Bonawitz et al.
  int64_t threshold = 0;
  double range = 1.0;  // > 0: inputs are clipped to [-range, range].
  // Derive every client's secrets from this seed instead of OpenSSL's CSPRNG,
  // for reproducible simulations only: whoever knows the seed can unmask.
  std::optional<uint64_t> simulation_seed;
};

// A share relayed by the server: AES-256-GCM ciphertext from one client to
// another under their pairwise ECDH channel key.
struct RelayedShare {
  int64_t from = 0;
  int64_t to = 0;
  Bytes ciphertext;
};

// Everything the server receives during a round.
struct SecAggServerView {
  std::map<int64_t, Bytes> channel_public_keys;  // SEC1 P-256 points
  std::map<int64_t, Bytes> mask_public_keys;
  std::map<int64_t, Bytes> self_mask_commitments;  // SHA-256 of each self-mask seed
  std::vector<RelayedShare> relayed_shares;
  std::map<int64_t, std::vector<uint32_t>> masked_inputs;
  // Unmasking: shares of dropped clients' mask keys and of survivors' self-mask seeds.
  int64_t revealed_key_shares = 0;
  int64_t revealed_self_mask_shares = 0;
};

class SecAggRound {
 public:
  static StatusOr<std::unique_ptr<SecAggRound>> Create(const SecAggOptions& options);
  ~SecAggRound();
  SecAggRound(const SecAggRound&) = delete;
  SecAggRound& operator=(const SecAggRound&) = delete;

  // Round 0 (advertise keys): the client generates its channel and mask
  // P-256 key pairs; the server records the public keys.
  Status AddClient(int64_t client_id);
  // Round 1 (share keys): every client Shamir-shares its mask-key seed and
  // its self-mask seed among all clients and sends the shares, encrypted per
  // recipient, through the server. Fixes n, t and the codec scale.
  Status ShareKeys();
  // Round 2 (masked input): the client's quantised update plus its self mask
  // plus the pairwise masks with every other client, in Z_2^32. Returns (and
  // records) what the server receives.
  StatusOr<std::vector<uint32_t>> MaskedInput(int64_t client_id, const std::vector<float>& update);
  // The client stops responding. Before its masked input: its input is left
  // out and its pairwise masks are removed at unmasking. After: its input is
  // still in the sum.
  Status DropOut(int64_t client_id);
  // Rounds 3-4 (unmasking): surviving clients reveal shares; the server
  // reconstructs the seeds it needs and returns the sum over the clients
  // whose masked inputs it received (decoded, in double).
  StatusOr<std::vector<double>> UnmaskSum();

  // Clients whose inputs the sum covers (valid after UnmaskSum).
  const std::vector<int64_t>& summed_clients() const;
  int64_t threshold() const;
  const SecAggServerView& server_view() const;
  // Valid after ShareKeys.
  const std::optional<FixedPointCodec>& codec() const;

  // Fault injection for tests: flips one bit of the relayed ciphertext from
  // `from` to `to` (a server or network tampering in transit), or makes
  // `holder` reveal a corrupted share of `owner`'s secret at unmasking (a
  // faulty client). NotFound if there is no such share.
  Status TamperRelayedShare(int64_t from, int64_t to);
  Status CorruptRevealedShare(int64_t holder, int64_t owner);

  struct State;  // Defined in secure_aggregation.cc.

 private:
  explicit SecAggRound(std::unique_ptr<State> state);
  std::unique_ptr<State> state_;
};

// ---- As an aggregator -----------------------------------------------------------

struct SecureFedAvgOptions {
  double range = 1.0;     // > 0, the quantisation clipping range per coordinate
  int64_t threshold = 0;  // t; 0 = floor(n / 2) + 1
  // Weight client k by num_samples_k / mean(num_samples) (public weights the
  // server announces), as FedAvg does; false takes the plain mean.
  bool weighted = true;
};

// Runs one SecAggRound over the updates (client secrets derived from `seed`)
// and writes the (weighted) mean of the unmasked sum. Updates holding NaN or
// Inf are refused by their clients before masking (reported as rejected, as
// dropouts before masking). `view`, if not null, receives the server's view.
// Errors as SecAggRound, plus InvalidArgument for mismatched update sizes and
// FailedPrecondition when fewer than threshold clients remain.
Status AggregateSecureFedAvg(const std::vector<ClientUpdate>& updates,
                             const SecureFedAvgOptions& options, Seed seed,
                             AggregationReport* report, std::vector<float>* out,
                             SecAggServerView* view = nullptr);

// "secure_fedavg": AggregateSecureFedAvg with the round's seed. The runtime's
// view of each round is last_view(): masked inputs, never a client's update.
class SecureFedAvgAggregator : public Aggregator {
 public:
  explicit SecureFedAvgAggregator(SecureFedAvgOptions options) : options_(options) {}
  std::string name() const override { return "secure_fedavg"; }
  std::string config_text() const override;
  Status Aggregate(const std::vector<ClientUpdate>& updates, const AggregationContext& context,
                   std::vector<float>* out) override;
  const SecAggServerView& last_view() const { return last_view_; }

 private:
  SecureFedAvgOptions options_;
  SecAggServerView last_view_;
};

// Adds "secure_fedavg" to AggregatorRegistry(); AlreadyExists on a second
// call. RegisterPrivacyAggregators() (privacy.h) calls it idempotently.
Status RegisterSecureAggregator();

}  // namespace confml::defenses
