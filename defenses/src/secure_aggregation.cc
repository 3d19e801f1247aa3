// Pairwise-mask secure aggregation (Bonawitz et al. CCS 2017), honest-but-
// curious variant, with its Shamir sharing, mask PRG and fixed-point codec.
#include "confml/defenses/secure_aggregation.h"

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <set>
#include <string>
#include <utility>
#include <vector>

namespace confml::defenses {
namespace {

// ---- GF(2^61 - 1) ------------------------------------------------------------

constexpr uint64_t kP = kShamirPrime;
constexpr size_t kChunkBytes = 7;  // 56 bits < 61: every chunk is a field element.

uint64_t Reduce(unsigned __int128 v) {
  // 2^61 = 1 (mod p): fold the high bits onto the low ones.
  uint64_t lo = static_cast<uint64_t>(v & kP);
  uint64_t hi = static_cast<uint64_t>(v >> 61);
  uint64_t r = lo + hi;  // < 2^62 + small, fold once more
  r = (r & kP) + (r >> 61);
  return r >= kP ? r - kP : r;
}
uint64_t AddMod(uint64_t a, uint64_t b) {
  uint64_t r = a + b;  // < 2^62, no overflow
  return r >= kP ? r - kP : r;
}
uint64_t SubMod(uint64_t a, uint64_t b) { return a >= b ? a - b : a + kP - b; }
uint64_t MulMod(uint64_t a, uint64_t b) { return Reduce(static_cast<unsigned __int128>(a) * b); }
uint64_t PowMod(uint64_t a, uint64_t e) {
  uint64_t r = 1;
  while (e) {
    if (e & 1) r = MulMod(r, a);
    a = MulMod(a, a);
    e >>= 1;
  }
  return r;
}
uint64_t InvMod(uint64_t a) { return PowMod(a, kP - 2); }  // Fermat; a != 0

// Lagrange basis values at `at` for the points xs: l_i(at).
std::vector<uint64_t> LagrangeAt(const std::vector<uint64_t>& xs, uint64_t at) {
  std::vector<uint64_t> l(xs.size());
  for (size_t i = 0; i < xs.size(); ++i) {
    uint64_t num = 1, den = 1;
    for (size_t j = 0; j < xs.size(); ++j) {
      if (j == i) continue;
      num = MulMod(num, SubMod(at, xs[j]));
      den = MulMod(den, SubMod(xs[i], xs[j]));
    }
    l[i] = MulMod(num, InvMod(den));
  }
  return l;
}

void PutLe(Bytes* b, uint64_t v, int n) {
  for (int i = 0; i < n; ++i) b->push_back(static_cast<uint8_t>(v >> (8 * i)));
}
uint64_t GetLe(const uint8_t* p, int n) {
  uint64_t v = 0;
  for (int i = 0; i < n; ++i) v |= static_cast<uint64_t>(p[i]) << (8 * i);
  return v;
}

Bytes Label(std::string_view s) { return Bytes(s.begin(), s.end()); }

const Bytes& Salt() {
  static const Bytes* salt = new Bytes(Label("confml-secagg-v1"));
  return *salt;
}

// info = label || min(u, v) || max(u, v): one key per unordered pair.
Bytes PairInfo(std::string_view label, int64_t u, int64_t v) {
  Bytes info = Label(label);
  PutLe(&info, static_cast<uint64_t>(std::min(u, v)), 8);
  PutLe(&info, static_cast<uint64_t>(std::max(u, v)), 8);
  return info;
}

StatusOr<Bytes> PairKey(const EcKey& own, const EcKey& peer, std::string_view label, int64_t u,
                        int64_t v) {
  CONFML_ASSIGN_OR_RETURN(Bytes shared, own.DeriveSharedSecret(peer));
  return HkdfSha256(shared, Salt(), PairInfo(label, u, v), 32);
}

std::string Id(int64_t id) { return std::to_string(id); }

}  // namespace

// ---- Shamir ------------------------------------------------------------------

StatusOr<std::vector<ShamirShare>> ShamirSplit(ByteSpan secret, int threshold,
                                               const std::vector<uint64_t>& xs, ByteSpan coin_key) {
  if (secret.empty() || secret.size() > 1024) {
    return InvalidArgumentError("Shamir secret must have 1..1024 bytes, got " +
                                std::to_string(secret.size()));
  }
  if (threshold < 1 || static_cast<size_t>(threshold) > xs.size()) {
    return InvalidArgumentError("Shamir threshold " + std::to_string(threshold) + " outside [1, " +
                                std::to_string(xs.size()) + "]");
  }
  std::set<uint64_t> seen;
  for (uint64_t x : xs) {
    if (x == 0 || x >= kP || !seen.insert(x).second) {
      return InvalidArgumentError("Shamir share points must be distinct and in [1, p), got " +
                                  std::to_string(x));
    }
  }
  const size_t chunks = (secret.size() + kChunkBytes - 1) / kChunkBytes;
  const size_t needed = chunks * static_cast<size_t>(threshold - 1);
  // Two 32-bit words per candidate; a candidate is rejected only when its 61
  // low bits equal p (probability 2^-61), so 8 spare candidates suffice.
  CONFML_ASSIGN_OR_RETURN(std::vector<uint32_t> words, ExpandMask(coin_key, 2 * (needed + 8)));
  size_t next = 0;
  auto draw = [&]() -> StatusOr<uint64_t> {
    while (next + 1 < words.size()) {
      uint64_t v =
          (static_cast<uint64_t>(words[next]) | (static_cast<uint64_t>(words[next + 1]) << 32)) &
          kP;
      next += 2;
      if (v < kP) return v;
    }
    return InternalError("Shamir coin stream exhausted");
  };
  std::vector<ShamirShare> shares(xs.size());
  for (size_t h = 0; h < xs.size(); ++h) {
    shares[h].x = xs[h];
    shares[h].y.resize(chunks);
  }
  std::vector<uint64_t> coef(static_cast<size_t>(threshold));
  for (size_t c = 0; c < chunks; ++c) {
    const size_t len = std::min(kChunkBytes, secret.size() - c * kChunkBytes);
    coef[0] = GetLe(secret.data() + c * kChunkBytes, static_cast<int>(len));
    for (int k = 1; k < threshold; ++k) {
      CONFML_ASSIGN_OR_RETURN(coef[static_cast<size_t>(k)], draw());
    }
    for (size_t h = 0; h < xs.size(); ++h) {
      uint64_t acc = 0;  // Horner
      for (int k = threshold - 1; k >= 0; --k) {
        acc = AddMod(MulMod(acc, xs[h]), coef[static_cast<size_t>(k)]);
      }
      shares[h].y[c] = acc;
    }
  }
  return shares;
}

StatusOr<Bytes> ShamirReconstruct(const std::vector<ShamirShare>& shares, int threshold,
                                  size_t secret_size) {
  if (threshold < 1) return InvalidArgumentError("Shamir threshold must be >= 1");
  if (secret_size == 0 || secret_size > 1024) {
    return InvalidArgumentError("Shamir secret size must be 1..1024 bytes");
  }
  if (shares.size() < static_cast<size_t>(threshold)) {
    return FailedPreconditionError("only " + std::to_string(shares.size()) +
                                   " Shamir shares available; " + std::to_string(threshold) +
                                   " are needed");
  }
  const size_t chunks = (secret_size + kChunkBytes - 1) / kChunkBytes;
  std::set<uint64_t> seen;
  for (const ShamirShare& s : shares) {
    if (s.x == 0 || s.x >= kP || !seen.insert(s.x).second) {
      return InvalidArgumentError("Shamir share point " + std::to_string(s.x) +
                                  " is zero, out of the field or repeated");
    }
    if (s.y.size() != chunks) {
      return InvalidArgumentError("Shamir share at x=" + std::to_string(s.x) + " has " +
                                  std::to_string(s.y.size()) + " values, expected " +
                                  std::to_string(chunks));
    }
    for (uint64_t y : s.y) {
      if (y >= kP) {
        return DataLossError("Shamir share at x=" + std::to_string(s.x) +
                             " holds a value outside the field");
      }
    }
  }
  std::vector<uint64_t> xs(static_cast<size_t>(threshold));
  for (size_t i = 0; i < xs.size(); ++i) xs[i] = shares[i].x;
  const std::vector<uint64_t> at_zero = LagrangeAt(xs, 0);
  // Any share beyond the first t must lie on the interpolated polynomials;
  // one that does not was corrupted (or the first t contain a bad one).
  for (size_t k = static_cast<size_t>(threshold); k < shares.size(); ++k) {
    const std::vector<uint64_t> l = LagrangeAt(xs, shares[k].x);
    for (size_t c = 0; c < chunks; ++c) {
      uint64_t v = 0;
      for (int i = 0; i < threshold; ++i) {
        v = AddMod(v, MulMod(l[static_cast<size_t>(i)], shares[static_cast<size_t>(i)].y[c]));
      }
      if (v != shares[k].y[c]) {
        return DataLossError(
            "Shamir shares are inconsistent: the share at x=" + std::to_string(shares[k].x) +
            " does not lie on the polynomial of "
            "the first " +
            std::to_string(threshold) + " (a tampered or corrupted share)");
      }
    }
  }
  Bytes secret;
  for (size_t c = 0; c < chunks; ++c) {
    uint64_t v = 0;
    for (int i = 0; i < threshold; ++i) {
      v = AddMod(v, MulMod(at_zero[static_cast<size_t>(i)], shares[static_cast<size_t>(i)].y[c]));
    }
    const size_t len = std::min(kChunkBytes, secret_size - c * kChunkBytes);
    if (len < 8 && (v >> (8 * len)) != 0) {
      return DataLossError("Shamir reconstruction gave an out-of-range chunk (a tampered share)");
    }
    PutLe(&secret, v, static_cast<int>(len));
  }
  return secret;
}

// ---- PRG and codec ---------------------------------------------------------------

StatusOr<std::vector<uint32_t>> ExpandMask(ByteSpan seed, size_t count) {
  if (seed.size() != 32) {
    return InvalidArgumentError("mask seed must be 32 bytes, got " + std::to_string(seed.size()));
  }
  std::vector<uint32_t> out(count);
  if (count == 0) return out;
  // GCM encrypts with AES-CTR, so the ciphertext of zeros is the CTR
  // keystream (the tag is dropped). Each seed keys its own stream, so the
  // fixed IV never repeats under one key for different purposes.
  const Bytes zeros(4 * count, 0);
  const Bytes iv(kAes256GcmNonceSize, 0);
  CONFML_ASSIGN_OR_RETURN(Bytes ks, Aes256GcmSeal(seed, iv, zeros, {}));
  if constexpr (std::endian::native == std::endian::little) {
    std::memcpy(out.data(), ks.data(), 4 * count);
  } else {
    for (size_t i = 0; i < count; ++i) out[i] = static_cast<uint32_t>(GetLe(ks.data() + 4 * i, 4));
  }
  return out;
}

StatusOr<FixedPointCodec> FixedPointCodec::Create(double range, int64_t max_clients) {
  if (!(range > 0.0) || std::isinf(range)) {
    return InvalidArgumentError("secure aggregation range must be finite and > 0, got " +
                                std::to_string(range));
  }
  if (max_clients < 1) {
    return InvalidArgumentError("secure aggregation needs >= 1 client, got " +
                                std::to_string(max_clients));
  }
  // n * (range * scale + 1/2) <= 2^31 - 1 keeps every sum of n rounded
  // encodings inside int32, so decoding never sees a wrap-around.
  const double n = static_cast<double>(max_clients);
  const double bound = ((2147483647.0 / n) - 0.5) / range;
  if (!(bound >= 1.0)) {
    return InvalidArgumentError("secure aggregation range " + std::to_string(range) + " with " +
                                std::to_string(max_clients) +
                                " clients does not fit 32-bit fixed point");
  }
  const int k = std::min(52, static_cast<int>(std::floor(std::log2(bound))));
  return FixedPointCodec(range, std::ldexp(1.0, k));
}

uint32_t FixedPointCodec::Encode(float value) const {
  double v = static_cast<double>(value);
  if (std::isnan(v)) v = 0.0;
  v = std::clamp(v, -range_, range_);
  const int64_t q = static_cast<int64_t>(std::nearbyint(v * scale_));
  return static_cast<uint32_t>(q);
}

double FixedPointCodec::Decode(uint32_t sum) const {
  return static_cast<double>(static_cast<int32_t>(sum)) / scale_;
}

// ---- The protocol --------------------------------------------------------------

namespace {

// A client's secrets and mailbox; the server never reads these except
// through what the client sends.
struct Client {
  int64_t id = 0;
  std::optional<EcKey> channel_key;  // for the encrypted shares
  std::optional<EcKey> mask_key;     // for the pairwise mask seeds
  Bytes mask_key_seed;               // Shamir-shared: regenerates mask_key
  Bytes self_mask_seed;              // Shamir-shared: b_u
  Bytes coins;                       // Shamir polynomial randomness
  std::map<int64_t, Bytes> inbox;    // ciphertexts relayed to it, by sender
  ShamirShare own_key_share, own_self_share;
  bool sent_input = false;
  bool dropped = false;
};

}  // namespace

struct SecAggRound::State {
  enum class Phase { kAdvertise, kMasking, kDone };
  SecAggOptions options;
  Phase phase = Phase::kAdvertise;
  std::map<int64_t, Client> clients;
  std::vector<int64_t> roster;        // U1, ascending
  std::map<int64_t, uint64_t> point;  // Shamir x of each client
  int64_t threshold = 0;
  std::optional<FixedPointCodec> codec;
  SecAggServerView view;
  std::vector<int64_t> summed;
  std::set<std::pair<int64_t, int64_t>> corrupt;  // (holder, owner)
};

SecAggRound::SecAggRound(std::unique_ptr<State> state) : state_(std::move(state)) {}
SecAggRound::~SecAggRound() = default;

StatusOr<std::unique_ptr<SecAggRound>> SecAggRound::Create(const SecAggOptions& options) {
  if (options.dim == 0) return InvalidArgumentError("secure aggregation: dim must be > 0");
  if (!(options.range > 0.0) || std::isinf(options.range)) {
    return InvalidArgumentError("secure aggregation: range must be finite and > 0");
  }
  if (options.threshold < 0) {
    return InvalidArgumentError("secure aggregation: threshold must be >= 0 (0 = majority)");
  }
  auto state = std::make_unique<State>();
  state->options = options;
  return std::unique_ptr<SecAggRound>(new SecAggRound(std::move(state)));
}

Status SecAggRound::AddClient(int64_t client_id) {
  State& s = *state_;
  if (s.phase != State::Phase::kAdvertise) {
    return FailedPreconditionError("secure aggregation: client " + Id(client_id) +
                                   " joins after the keys were shared");
  }
  if (s.clients.count(client_id) || s.view.channel_public_keys.count(client_id)) {
    return InvalidArgumentError("secure aggregation: client " + Id(client_id) +
                                " was already added");
  }
  Bytes master;
  if (s.options.simulation_seed.has_value()) {
    Rng rng = Seed(*s.options.simulation_seed)
                  .Child("secagg_client", static_cast<uint64_t>(client_id))
                  .MakeRng();
    for (int i = 0; i < 4; ++i) PutLe(&master, rng.NextU64(), 8);
  } else {
    CONFML_ASSIGN_OR_RETURN(master, RandomBytes(32));
  }
  Client c;
  c.id = client_id;
  CONFML_ASSIGN_OR_RETURN(Bytes channel_seed, HkdfSha256(master, Salt(), Label("channel"), 32));
  CONFML_ASSIGN_OR_RETURN(c.mask_key_seed, HkdfSha256(master, Salt(), Label("mask-key"), 32));
  CONFML_ASSIGN_OR_RETURN(c.self_mask_seed, HkdfSha256(master, Salt(), Label("self-mask"), 32));
  CONFML_ASSIGN_OR_RETURN(c.coins, HkdfSha256(master, Salt(), Label("coins"), 32));
  CONFML_ASSIGN_OR_RETURN(EcKey ck,
                          EcKey::FromSeed(channel_seed, "secagg-channel", EcCurve::kP256));
  CONFML_ASSIGN_OR_RETURN(EcKey mk,
                          EcKey::FromSeed(c.mask_key_seed, "secagg-mask", EcCurve::kP256));
  s.view.channel_public_keys[client_id] = ck.PublicPoint();
  s.view.mask_public_keys[client_id] = mk.PublicPoint();
  c.channel_key = std::move(ck);
  c.mask_key = std::move(mk);
  s.clients.emplace(client_id, std::move(c));
  return OkStatus();
}

Status SecAggRound::ShareKeys() {
  State& s = *state_;
  if (s.phase != State::Phase::kAdvertise) {
    return FailedPreconditionError("secure aggregation: keys were already shared");
  }
  const int64_t n = static_cast<int64_t>(s.clients.size());
  if (n < 2) {
    return FailedPreconditionError("secure aggregation needs at least 2 clients, has " +
                                   std::to_string(n));
  }
  s.threshold = s.options.threshold == 0 ? n / 2 + 1 : s.options.threshold;
  if (s.threshold > n) {
    return InvalidArgumentError("secure aggregation: threshold " + std::to_string(s.threshold) +
                                " exceeds the " + std::to_string(n) + " clients");
  }
  CONFML_ASSIGN_OR_RETURN(FixedPointCodec codec, FixedPointCodec::Create(s.options.range, n));
  s.codec = codec;
  std::vector<uint64_t> xs;
  for (const auto& [id, c] : s.clients) {
    s.roster.push_back(id);
    s.point[id] = static_cast<uint64_t>(s.roster.size());
    xs.push_back(s.point[id]);
  }
  const int t = static_cast<int>(s.threshold);
  for (int64_t u : s.roster) {
    Client& cu = s.clients.at(u);
    CONFML_ASSIGN_OR_RETURN(Bytes coins_key, HkdfSha256(cu.coins, Salt(), Label("key-share"), 32));
    CONFML_ASSIGN_OR_RETURN(Bytes coins_self,
                            HkdfSha256(cu.coins, Salt(), Label("self-share"), 32));
    CONFML_ASSIGN_OR_RETURN(std::vector<ShamirShare> key_shares,
                            ShamirSplit(cu.mask_key_seed, t, xs, coins_key));
    CONFML_ASSIGN_OR_RETURN(std::vector<ShamirShare> self_shares,
                            ShamirSplit(cu.self_mask_seed, t, xs, coins_self));
    s.view.self_mask_commitments[u] = Sha256(cu.self_mask_seed);
    for (size_t h = 0; h < s.roster.size(); ++h) {
      const int64_t v = s.roster[h];
      if (v == u) {
        cu.own_key_share = key_shares[h];
        cu.own_self_share = self_shares[h];
        continue;
      }
      Client& cv = s.clients.at(v);
      Bytes plain;
      PutLe(&plain, static_cast<uint64_t>(u), 8);
      PutLe(&plain, static_cast<uint64_t>(v), 8);
      for (uint64_t y : key_shares[h].y) PutLe(&plain, y, 8);
      for (uint64_t y : self_shares[h].y) PutLe(&plain, y, 8);
      CONFML_ASSIGN_OR_RETURN(
          Bytes key, PairKey(*cu.channel_key, cv.channel_key->PublicOnly(), "share-channel", u, v));
      Bytes nonce;
      PutLe(&nonce, static_cast<uint64_t>(u), 8);  // one key per pair, one nonce per direction
      PutLe(&nonce, 0, 4);
      const Bytes aad = PairInfo("secagg-share", u, v);
      CONFML_ASSIGN_OR_RETURN(Bytes ct, Aes256GcmSeal(key, nonce, plain, aad));
      s.view.relayed_shares.push_back(RelayedShare{u, v, ct});
      cv.inbox[u] = std::move(ct);
    }
  }
  s.phase = State::Phase::kMasking;
  return OkStatus();
}

StatusOr<std::vector<uint32_t>> SecAggRound::MaskedInput(int64_t client_id,
                                                         const std::vector<float>& update) {
  State& s = *state_;
  if (s.phase != State::Phase::kMasking) {
    return FailedPreconditionError("secure aggregation: masked input of client " + Id(client_id) +
                                   " outside the masking round");
  }
  auto it = s.clients.find(client_id);
  if (it == s.clients.end() || !s.point.count(client_id)) {
    return InvalidArgumentError("secure aggregation: unknown client " + Id(client_id));
  }
  Client& cu = it->second;
  if (cu.dropped) {
    return FailedPreconditionError("secure aggregation: client " + Id(client_id) +
                                   " has dropped out");
  }
  if (cu.sent_input) {
    return FailedPreconditionError("secure aggregation: client " + Id(client_id) +
                                   " already sent its masked input");
  }
  const size_t d = s.options.dim;
  if (update.size() != d) {
    return InvalidArgumentError("secure aggregation: client " + Id(client_id) + "'s update has " +
                                std::to_string(update.size()) + " values, expected " +
                                std::to_string(d));
  }
  for (size_t i = 0; i < d; ++i) {
    if (!std::isfinite(update[i])) {
      return InvalidArgumentError("secure aggregation: client " + Id(client_id) +
                                  "'s update has a non-finite value at index " + std::to_string(i));
    }
  }
  std::vector<uint32_t> y(d);
  for (size_t i = 0; i < d; ++i) y[i] = s.codec->Encode(update[i]);
  CONFML_ASSIGN_OR_RETURN(std::vector<uint32_t> self_mask, ExpandMask(cu.self_mask_seed, d));
  for (size_t i = 0; i < d; ++i) y[i] += self_mask[i];
  for (int64_t v : s.roster) {
    if (v == client_id) continue;
    CONFML_ASSIGN_OR_RETURN(
        Bytes seed, PairKey(*cu.mask_key, s.clients.at(v).mask_key->PublicOnly(), "pairwise-mask",
                            client_id, v));
    CONFML_ASSIGN_OR_RETURN(std::vector<uint32_t> mask, ExpandMask(seed, d));
    // The smaller id adds, the larger subtracts: the pair cancels in the sum.
    if (client_id < v) {
      for (size_t i = 0; i < d; ++i) y[i] += mask[i];
    } else {
      for (size_t i = 0; i < d; ++i) y[i] -= mask[i];
    }
  }
  cu.sent_input = true;
  s.view.masked_inputs[client_id] = y;
  return y;
}

Status SecAggRound::DropOut(int64_t client_id) {
  State& s = *state_;
  auto it = s.clients.find(client_id);
  if (it == s.clients.end()) {
    return InvalidArgumentError("secure aggregation: unknown client " + Id(client_id));
  }
  switch (s.phase) {
    case State::Phase::kAdvertise:
      // Gone before sharing: it simply takes no part (its advertised keys
      // stay in the server's view).
      s.clients.erase(it);
      return OkStatus();
    case State::Phase::kMasking:
      it->second.dropped = true;
      return OkStatus();
    case State::Phase::kDone:
      break;
  }
  return FailedPreconditionError("secure aggregation: the round is over");
}

StatusOr<std::vector<double>> SecAggRound::UnmaskSum() {
  State& s = *state_;
  if (s.phase != State::Phase::kMasking) {
    return FailedPreconditionError(
        "secure aggregation: UnmaskSum needs a round whose keys were "
        "shared and that was not unmasked yet");
  }
  const int t = static_cast<int>(s.threshold);
  std::vector<int64_t> u2, gone, responders;
  for (int64_t id : s.roster) {
    const Client& c = s.clients.at(id);
    (c.sent_input ? u2 : gone).push_back(id);
    if (c.sent_input && !c.dropped) responders.push_back(id);
  }
  const std::string of_n = " of " + std::to_string(s.roster.size());
  if (static_cast<int64_t>(u2.size()) < s.threshold) {
    return FailedPreconditionError("secure aggregation: only " + std::to_string(u2.size()) + of_n +
                                   " clients sent masked inputs; the threshold is " +
                                   std::to_string(t));
  }
  if (static_cast<int64_t>(responders.size()) < s.threshold) {
    return FailedPreconditionError("secure aggregation: only " + std::to_string(responders.size()) +
                                   of_n + " clients answered the unmasking round (" +
                                   std::to_string(s.roster.size() - responders.size()) +
                                   " dropped out); at least threshold " + std::to_string(t) +
                                   " are needed to reconstruct the masks");
  }
  // Shares each owner's secret collects: key shares of clients gone before
  // masking, self-mask shares of clients whose inputs are summed. An honest
  // client never reveals both for the same owner.
  std::map<int64_t, std::vector<ShamirShare>> key_shares, self_shares;
  const size_t chunks = (32 + kChunkBytes - 1) / kChunkBytes;
  for (int64_t w : responders) {
    Client& cw = s.clients.at(w);
    auto reveal = [&](int64_t owner, const ShamirShare& key, const ShamirShare& self) {
      const bool summed = std::binary_search(u2.begin(), u2.end(), owner);
      ShamirShare share = summed ? self : key;
      if (s.corrupt.count({w, owner})) share.y[0] = AddMod(share.y[0], 1);
      if (summed) {
        self_shares[owner].push_back(std::move(share));
        ++s.view.revealed_self_mask_shares;
      } else {
        key_shares[owner].push_back(std::move(share));
        ++s.view.revealed_key_shares;
      }
    };
    for (int64_t owner : s.roster) {
      if (owner == w) {
        reveal(owner, cw.own_key_share, cw.own_self_share);
        continue;
      }
      auto in = cw.inbox.find(owner);
      if (in == cw.inbox.end()) continue;
      CONFML_ASSIGN_OR_RETURN(
          Bytes key, PairKey(*cw.channel_key, s.clients.at(owner).channel_key->PublicOnly(),
                             "share-channel", owner, w));
      Bytes nonce;
      PutLe(&nonce, static_cast<uint64_t>(owner), 8);
      PutLe(&nonce, 0, 4);
      StatusOr<Bytes> plain =
          Aes256GcmOpen(key, nonce, in->second, PairInfo("secagg-share", owner, w));
      if (!plain.ok() || plain->size() != 16 + 16 * chunks ||
          GetLe(plain->data(), 8) != static_cast<uint64_t>(owner) ||
          GetLe(plain->data() + 8, 8) != static_cast<uint64_t>(w)) {
        return DataLossError("secure aggregation: the share client " + Id(owner) +
                             " sent to client " + Id(w) +
                             " fails authentication (modified in transit)");
      }
      ShamirShare ks{s.point.at(w), {}}, ss{s.point.at(w), {}};
      for (size_t c = 0; c < chunks; ++c) ks.y.push_back(GetLe(plain->data() + 16 + 8 * c, 8));
      for (size_t c = 0; c < chunks; ++c) {
        ss.y.push_back(GetLe(plain->data() + 16 + 8 * (chunks + c), 8));
      }
      reveal(owner, ks, ss);
    }
  }

  const size_t d = s.options.dim;
  std::vector<uint32_t> acc(d, 0);
  for (int64_t u : u2) {
    const std::vector<uint32_t>& y = s.view.masked_inputs.at(u);
    for (size_t i = 0; i < d; ++i) acc[i] += y[i];
  }
  for (int64_t u : u2) {
    StatusOr<Bytes> b = ShamirReconstruct(self_shares[u], t, 32);
    if (!b.ok()) {
      return b.status().WithContext("secure aggregation: self-mask seed of client " + Id(u));
    }
    if (!ConstantTimeEqual(Sha256(*b), s.view.self_mask_commitments.at(u))) {
      return DataLossError("secure aggregation: the reconstructed self-mask seed of client " +
                           Id(u) + " does not match its commitment (a tampered share)");
    }
    CONFML_ASSIGN_OR_RETURN(std::vector<uint32_t> mask, ExpandMask(*b, d));
    for (size_t i = 0; i < d; ++i) acc[i] -= mask[i];
  }
  for (int64_t v : gone) {
    StatusOr<Bytes> seed = ShamirReconstruct(key_shares[v], t, 32);
    if (!seed.ok()) {
      return seed.status().WithContext("secure aggregation: mask key of dropped client " + Id(v));
    }
    CONFML_ASSIGN_OR_RETURN(EcKey key, EcKey::FromSeed(*seed, "secagg-mask", EcCurve::kP256));
    if (!ConstantTimeEqual(key.PublicPoint(), s.view.mask_public_keys.at(v))) {
      return DataLossError("secure aggregation: the reconstructed mask key of dropped client " +
                           Id(v) + " does not match its advertised public key (a tampered share)");
    }
    for (int64_t u : u2) {
      CONFML_ASSIGN_OR_RETURN(
          EcKey pub_u, EcKey::FromPublicPoint(EcCurve::kP256, s.view.mask_public_keys.at(u)));
      CONFML_ASSIGN_OR_RETURN(Bytes pair_seed, PairKey(key, pub_u, "pairwise-mask", u, v));
      CONFML_ASSIGN_OR_RETURN(std::vector<uint32_t> mask, ExpandMask(pair_seed, d));
      // Undo what u applied for the pair (u, v).
      if (u < v) {
        for (size_t i = 0; i < d; ++i) acc[i] -= mask[i];
      } else {
        for (size_t i = 0; i < d; ++i) acc[i] += mask[i];
      }
    }
  }
  std::vector<double> sum(d);
  for (size_t i = 0; i < d; ++i) sum[i] = s.codec->Decode(acc[i]);
  s.summed = u2;
  s.phase = State::Phase::kDone;
  return sum;
}

const std::vector<int64_t>& SecAggRound::summed_clients() const { return state_->summed; }
int64_t SecAggRound::threshold() const { return state_->threshold; }
const SecAggServerView& SecAggRound::server_view() const { return state_->view; }
const std::optional<FixedPointCodec>& SecAggRound::codec() const { return state_->codec; }

Status SecAggRound::TamperRelayedShare(int64_t from, int64_t to) {
  State& s = *state_;
  auto c = s.clients.find(to);
  if (c == s.clients.end() || !c->second.inbox.count(from)) {
    return NotFoundError("secure aggregation: no share relayed from client " + Id(from) +
                         " to client " + Id(to));
  }
  c->second.inbox[from][0] ^= 0x01;
  for (RelayedShare& r : s.view.relayed_shares) {
    if (r.from == from && r.to == to) r.ciphertext[0] ^= 0x01;
  }
  return OkStatus();
}

Status SecAggRound::CorruptRevealedShare(int64_t holder, int64_t owner) {
  State& s = *state_;
  if (!s.clients.count(holder) || !s.clients.count(owner)) {
    return NotFoundError("secure aggregation: no share of client " + Id(owner) +
                         " held by client " + Id(holder));
  }
  s.corrupt.insert({holder, owner});
  return OkStatus();
}

// ---- Aggregator ----------------------------------------------------------------

Status AggregateSecureFedAvg(const std::vector<ClientUpdate>& updates,
                             const SecureFedAvgOptions& options, Seed seed,
                             AggregationReport* report, std::vector<float>* out,
                             SecAggServerView* view) {
  size_t dim = 0;
  CONFML_RETURN_IF_ERROR(ValidateUpdates(updates, &dim));
  if (dim == 0) return InvalidArgumentError("secure_fedavg: updates are empty");
  std::vector<const ClientUpdate*> finite;
  for (const ClientUpdate& u : updates) {
    size_t bad = dim;
    for (size_t i = 0; i < dim && bad == dim; ++i) {
      if (!std::isfinite(u.values[i])) bad = i;
    }
    if (bad != dim) {
      // An honest client checks its own update before masking; the server
      // could not see the NaN afterwards.
      if (report != nullptr) {
        report->rejected.emplace_back(u.client_id, "non-finite value at index " +
                                                       std::to_string(bad) +
                                                       "; refused by the client before masking");
      }
      continue;
    }
    finite.push_back(&u);
  }
  // Public per-client weights, announced by the server before masking.
  std::map<int64_t, double> weight;
  if (options.weighted) {
    double total = 0.0;
    for (const ClientUpdate* u : finite) total += static_cast<double>(u->num_samples);
    if (!finite.empty() && total <= 0.0) {
      return InvalidArgumentError("weighted secure_fedavg over updates that all have zero samples");
    }
    const double mean = total / static_cast<double>(std::max<size_t>(1, finite.size()));
    for (const ClientUpdate* u : finite)
      weight[u->client_id] = static_cast<double>(u->num_samples) / mean;
  } else {
    for (const ClientUpdate* u : finite) weight[u->client_id] = 1.0;
  }
  SecAggOptions so;
  so.dim = dim;
  so.threshold = options.threshold;
  so.range = options.range;
  so.simulation_seed = seed.Child("secure_fedavg").value();
  CONFML_ASSIGN_OR_RETURN(std::unique_ptr<SecAggRound> round, SecAggRound::Create(so));
  for (const ClientUpdate* u : finite) CONFML_RETURN_IF_ERROR(round->AddClient(u->client_id));
  CONFML_RETURN_IF_ERROR(round->ShareKeys());
  std::vector<float> scaled(dim);
  for (const ClientUpdate* u : finite) {
    const double w = weight.at(u->client_id);
    for (size_t i = 0; i < dim; ++i) {
      scaled[i] = static_cast<float>(w * static_cast<double>(u->values[i]));
    }
    CONFML_RETURN_IF_ERROR(round->MaskedInput(u->client_id, scaled).status());
  }
  CONFML_ASSIGN_OR_RETURN(std::vector<double> sum, round->UnmaskSum());
  double total_weight = 0.0;
  for (int64_t id : round->summed_clients()) total_weight += weight.at(id);
  out->resize(dim);
  for (size_t i = 0; i < dim; ++i) (*out)[i] = static_cast<float>(sum[i] / total_weight);
  if (report != nullptr) {
    for (int64_t id : round->summed_clients()) report->selected_clients.push_back(id);
  }
  if (view != nullptr) *view = round->server_view();
  return OkStatus();
}

std::string SecureFedAvgAggregator::config_text() const {
  char buf[128];
  std::snprintf(buf, sizeof buf, "secure_fedavg range=%.17g threshold=%lld weighted=%s",
                options_.range, static_cast<long long>(options_.threshold),
                options_.weighted ? "true" : "false");
  return buf;
}

Status SecureFedAvgAggregator::Aggregate(const std::vector<ClientUpdate>& updates,
                                         const AggregationContext& context,
                                         std::vector<float>* out) {
  Status s =
      AggregateSecureFedAvg(updates, options_, context.seed, context.report, out, &last_view_);
  if (!s.ok()) return s.WithContext("secure_fedavg, round " + std::to_string(context.round));
  return s;
}

Status RegisterSecureAggregator() {
  return AggregatorRegistry().Add(
      ComponentSpec{
          "aggregator",
          "secure_fedavg",
          "FedAvg under pairwise-mask secure aggregation (Bonawitz et al. 2017): the runtime "
          "only sees masked inputs in Z_2^32 and learns only the sum; tolerates dropouts down to "
          "the Shamir threshold.",
          {Param::Double("range", 1.0,
                         "Each (weighted) update coordinate is clipped to [-range, range] before "
                         "fixed-point encoding.")
               .GreaterThan(0),
           Param::Int("threshold", 0,
                      "Shamir threshold t (shares needed to unmask); 0 = floor(n/2) + 1.")
               .AtLeast(0),
           Param::Bool("weighted", true,
                       "Weight each update by its client's sample count (public weights); "
                       "false takes the plain mean.")}},
      [](const ParamSet& p) -> StatusOr<AggregatorPtr> {
        SecureFedAvgOptions o;
        o.range = p.Double("range");
        o.threshold = p.Int("threshold");
        o.weighted = p.Bool("weighted");
        return AggregatorPtr(std::make_shared<SecureFedAvgAggregator>(o));
      });
}

}  // namespace confml::defenses
