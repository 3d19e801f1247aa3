// The RMM model. Layouts and rules follow DEN0137 1.0-rel0; section numbers
// in comments refer to it. TF-RMM was read to understand intent, not copied.
#include "confml/tee_sim/rmm.h"

#include <algorithm>
#include <cstring>
#include <map>
#include <mutex>
#include <set>

#include "confml/core/cca_token.h"
#include "confml/core/crypto.h"
#include "measurement.h"

namespace confml::tee_sim {

std::string_view RmiStatusName(RmiStatus status) {
  switch (status) {
    case RmiStatus::kSuccess:
      return "RMI_SUCCESS";
    case RmiStatus::kErrorInput:
      return "RMI_ERROR_INPUT";
    case RmiStatus::kErrorRealm:
      return "RMI_ERROR_REALM";
    case RmiStatus::kErrorRec:
      return "RMI_ERROR_REC";
    case RmiStatus::kErrorRtt:
      return "RMI_ERROR_RTT";
  }
  return "RMI_UNKNOWN";
}

std::string_view RsiStatusName(RsiStatus status) {
  switch (status) {
    case RsiStatus::kSuccess:
      return "RSI_SUCCESS";
    case RsiStatus::kErrorInput:
      return "RSI_ERROR_INPUT";
    case RsiStatus::kErrorState:
      return "RSI_ERROR_STATE";
    case RsiStatus::kIncomplete:
      return "RSI_INCOMPLETE";
  }
  return "RSI_UNKNOWN";
}

std::string_view RealmStateName(RealmState state) {
  switch (state) {
    case RealmState::kNew:
      return "REALM_NEW";
    case RealmState::kActive:
      return "REALM_ACTIVE";
    case RealmState::kSystemOff:
      return "REALM_SYSTEM_OFF";
  }
  return "REALM_UNKNOWN";
}

namespace {

constexpr uint64_t kGranule = kTeeGranuleSize;
constexpr uint64_t kPhysBase = 0x880000000;  // where the simulated DRAM starts
constexpr int kNumMeasurements = 1 + kTeeNumRems;
constexpr const char kDefaultSeed[] = "confml simulated CCA platform v1";
// Generous bound returned by RSI_ATTESTATION_TOKEN_INIT (TF-RMM returns its
// token buffer size in the same way).
constexpr uint64_t kTokenBufferSize = 4 * kGranule;

using Measurement = std::array<uint8_t, kTeeMaxMeasurementSize>;

struct Granule {
  GranuleState state = GranuleState::kUndelegated;
  std::vector<uint8_t> bytes;  // kGranule bytes once written; empty = zeros
};

enum class AttestState { kNotStarted, kInProgress };

struct Rec {
  uint64_t rd = 0;
  RmiRecParams params;
  bool running = false;
  AttestState attest = AttestState::kNotStarted;
  RealmClaims pending_claims;  // built at INIT
  std::vector<uint8_t> token;  // assembled at the first CONTINUE
  size_t copied = 0;
};

enum class Ripas { kEmpty, kRam, kDestroyed };

struct Rd {
  RealmState state = RealmState::kNew;
  RmiRealmParams params;
  std::array<Measurement, kNumMeasurements> meas{};
  std::map<uint64_t, uint64_t> data;  // ipa -> pa
  std::map<uint64_t, Ripas> ripas;    // per granule ipa; absent = EMPTY
  std::set<uint64_t> recs;
  uint64_t num_recs_created = 0;
  std::optional<EcKey> rak;             // per-realm scope
  std::vector<uint8_t> platform_token;  // per-realm scope cache
};

bool Aligned(uint64_t a) { return a % kGranule == 0; }

}  // namespace

struct Rmm::State {
  RmmOptions opts;
  mutable std::mutex mu;
  std::vector<uint8_t> huk;
  std::optional<EcKey> cpak;
  PlatformClaims platform_claims;  // all but the challenge
  std::optional<EcKey> platform_rak;
  std::vector<uint8_t> platform_token;  // platform-scope cache
  uint64_t platform_tokens_issued = 0;
  std::map<uint64_t, Granule> mem;
  uint64_t next_pa = kPhysBase;
  std::vector<uint64_t> free_pas;
  std::map<uint64_t, Rd> rds;
  std::map<uint64_t, Rec> recs;
  uint64_t realms_created = 0;

  Granule* Find(uint64_t pa) {
    if (!Aligned(pa)) return nullptr;
    auto it = mem.find(pa);
    return it == mem.end() ? nullptr : &it->second;
  }
  Rd* FindRd(uint64_t pa) {
    Granule* g = Find(pa);
    if (g == nullptr || g->state != GranuleState::kRd) return nullptr;
    return &rds.at(pa);
  }
  static uint64_t ProtectedTop(const Rd& rd) { return uint64_t{1} << (rd.params.s2sz - 1); }

  void Extend(Rd& rd, std::span<const uint8_t> descriptor) {
    std::vector<uint8_t> h = internal::MeasureHash(rd.params.hash_algo, descriptor);
    rd.meas[0].fill(0);
    std::copy(h.begin(), h.end(), rd.meas[0].begin());
  }
  std::span<const uint8_t> Rim(const Rd& rd) const {
    return std::span<const uint8_t>(rd.meas[0].data(), RealmHashSize(rd.params.hash_algo));
  }

  // Issues a platform token whose challenge binds `rak` (what HES/EL3 does
  // when the RMM asks for it).
  StatusOr<std::vector<uint8_t>> IssuePlatformToken(const EcKey& rak) {
    RealmClaims probe;
    probe.public_key = rak.PublicPoint();
    if (opts.faults.platform_token_binds_other_key) {
      CONFML_ASSIGN_OR_RETURN(EcKey other, EcKey::FromSeed(huk, "fault/other-key"));
      probe.public_key = other.PublicPoint();
    }
    probe.public_key_hash_algorithm_id = "sha-256";
    PlatformClaims claims = platform_claims;
    CONFML_ASSIGN_OR_RETURN(claims.challenge, RakBinding(probe));
    CONFML_ASSIGN_OR_RETURN(std::vector<uint8_t> token, SignPlatformToken(claims, *cpak));
    ++platform_tokens_issued;
    return token;
  }
};

namespace {

PlatformClaims MakePlatformClaims(const RmmOptions& opts, const std::vector<uint8_t>& cpak_point) {
  PlatformClaims c;
  c.profile = opts.platform_profile;
  // The implementation is the same for every simulated platform; the
  // instance is this platform's CPAK (PSA: 0x01 || hash of the key).
  c.implementation_id = Sha256(AsBytes("confml tee_sim CCA platform implementation v1"));
  c.instance_id.push_back(0x01);
  std::vector<uint8_t> h = Sha256(cpak_point);
  c.instance_id.insert(c.instance_id.end(), h.begin(), h.end());
  c.config = {'s', 'i', 'm', 0x01};
  c.lifecycle = opts.lifecycle;
  const std::vector<uint8_t> signer = Sha256(AsBytes("confml tee_sim firmware signer v1"));
  for (const char* name : {"BL1", "BL2", "BL31", "RMM"}) {
    SwComponent sw;
    sw.measurement_type = name;
    sw.measurement_value = Sha256(AsBytes(std::string("confml tee_sim firmware ") + name + " v1"));
    sw.version = "1.0.0";
    sw.signer_id = signer;
    sw.hash_algorithm_id = "sha-256";
    c.sw_components.push_back(std::move(sw));
  }
  c.verification_service = "https://veraison.example/.well-known/veraison/verification";
  c.hash_algorithm_id = "sha-256";
  return c;
}

class RecContextImpl final : public RecContext {
 public:
  RecContextImpl(Rmm::State& s, uint64_t rec_pa, uint64_t rd_pa)
      : s_(s), rec_pa_(rec_pa), rd_pa_(rd_pa) {}

  RsiStatus RsiMeasurementRead(uint64_t index, std::span<uint8_t, 64> out) override {
    if (index >= static_cast<uint64_t>(kNumMeasurements)) return RsiStatus::kErrorInput;
    std::lock_guard<std::mutex> lock(s_.mu);
    const Rd& rd = s_.rds.at(rd_pa_);
    std::copy(rd.meas[index].begin(), rd.meas[index].end(), out.begin());
    return RsiStatus::kSuccess;
  }

  RsiStatus RsiMeasurementExtend(uint64_t index, uint64_t size,
                                 std::span<const uint8_t, 64> value) override {
    if (index == 0 || index >= static_cast<uint64_t>(kNumMeasurements) ||
        size > kTeeMaxExtendSize) {
      return RsiStatus::kErrorInput;
    }
    std::lock_guard<std::mutex> lock(s_.mu);
    Rd& rd = s_.rds.at(rd_pa_);
    const size_t hs = RealmHashSize(rd.params.hash_algo);
    std::vector<uint8_t> input(rd.meas[index].begin(), rd.meas[index].begin() + hs);
    input.insert(input.end(), value.begin(), value.begin() + size);
    std::vector<uint8_t> h = internal::MeasureHash(rd.params.hash_algo, input);
    rd.meas[index].fill(0);
    std::copy(h.begin(), h.end(), rd.meas[index].begin());
    return RsiStatus::kSuccess;
  }

  RsiStatus RsiAttestationTokenInit(std::span<const uint8_t, 64> challenge,
                                    uint64_t* max_size) override {
    std::lock_guard<std::mutex> lock(s_.mu);
    Rd& rd = s_.rds.at(rd_pa_);
    Rec& rec = s_.recs.at(rec_pa_);
    // INIT abandons any token in progress, then snapshots the claims: the
    // token reports the measurements as they were at INIT.
    rec.token.clear();
    rec.copied = 0;
    RealmClaims c;
    // No realm profile claim: the RAK is then a raw SEC1 point, the form of
    // the RMM 1.0-eac tokens (and of the recorded FVP token), which is what
    // confml's codec accepts without a profile. See docs/tee_sim.md.
    c.challenge.assign(challenge.begin(), challenge.end());
    c.personalization_value.assign(rd.params.rpv.begin(), rd.params.rpv.end());
    c.hash_algorithm_id = std::string(RealmHashAlgorithmName(rd.params.hash_algo));
    const EcKey& rak = s_.opts.rak_scope == RakScope::kPlatform ? *s_.platform_rak : *rd.rak;
    c.public_key = rak.PublicPoint();
    const size_t hs = RealmHashSize(rd.params.hash_algo);
    c.rim.assign(rd.meas[0].begin(), rd.meas[0].begin() + hs);
    for (int i = 0; i < kTeeNumRems; ++i) {
      c.rems[i].assign(rd.meas[i + 1].begin(), rd.meas[i + 1].begin() + hs);
    }
    c.public_key_hash_algorithm_id = "sha-256";
    rec.pending_claims = std::move(c);
    rec.attest = AttestState::kInProgress;
    *max_size = kTokenBufferSize;
    return RsiStatus::kSuccess;
  }

  RsiStatus RsiAttestationTokenContinue(uint64_t buf_ipa, uint64_t offset, uint64_t size,
                                        uint64_t* len) override {
    *len = 0;
    if (!Aligned(buf_ipa) || offset >= kGranule || size > kGranule - offset) {
      return RsiStatus::kErrorInput;
    }
    std::lock_guard<std::mutex> lock(s_.mu);
    Rd& rd = s_.rds.at(rd_pa_);
    Rec& rec = s_.recs.at(rec_pa_);
    auto mapped = rd.data.find(buf_ipa);
    // TF-RMM exits to the host on an unmapped RAM address so that it can map
    // it; the model has no such exit and reports an input error instead.
    if (mapped == rd.data.end()) return RsiStatus::kErrorInput;
    if (rec.attest != AttestState::kInProgress) return RsiStatus::kErrorState;
    if (rec.token.empty()) {
      // First CONTINUE: sign the realm token and collect it with the
      // platform token (TF-RMM signs here too, across several calls).
      StatusOr<std::vector<uint8_t>> token = BuildToken(rd, rec);
      if (!token.ok()) {
        rec.attest = AttestState::kNotStarted;
        return RsiStatus::kErrorInput;
      }
      rec.token = *std::move(token);
      rec.copied = 0;
    }
    const size_t n = std::min<size_t>(size, rec.token.size() - rec.copied);
    Granule& g = s_.mem.at(mapped->second);
    if (g.bytes.empty()) g.bytes.assign(kGranule, 0);
    std::memcpy(g.bytes.data() + offset, rec.token.data() + rec.copied, n);
    rec.copied += n;
    *len = n;
    if (rec.copied < rec.token.size()) return RsiStatus::kIncomplete;
    rec.attest = AttestState::kNotStarted;
    rec.token.clear();
    rec.copied = 0;
    return RsiStatus::kSuccess;
  }

  void PsciSystemOff() override {
    std::lock_guard<std::mutex> lock(s_.mu);
    s_.rds.at(rd_pa_).state = RealmState::kSystemOff;
  }

  Status Store(uint64_t ipa, std::span<const uint8_t> bytes) override {
    std::lock_guard<std::mutex> lock(s_.mu);
    return Access(ipa, bytes.size(), [&](Granule& g, size_t off, size_t n, size_t done) {
      if (g.bytes.empty()) g.bytes.assign(kGranule, 0);
      std::memcpy(g.bytes.data() + off, bytes.data() + done, n);
    });
  }

  Status Load(uint64_t ipa, std::span<uint8_t> out) override {
    std::lock_guard<std::mutex> lock(s_.mu);
    return Access(ipa, out.size(), [&](Granule& g, size_t off, size_t n, size_t done) {
      if (g.bytes.empty()) {
        std::memset(out.data() + done, 0, n);
      } else {
        std::memcpy(out.data() + done, g.bytes.data() + off, n);
      }
    });
  }

  StatusOr<std::vector<uint8_t>> DeriveSealingKey(uint64_t policy_flags) override {
    std::vector<uint8_t> info;
    {
      std::lock_guard<std::mutex> lock(s_.mu);
      const Rd& rd = s_.rds.at(rd_pa_);
      std::span<const uint8_t> rim = s_.Rim(rd);
      info.assign(rim.begin(), rim.end());
      info.insert(info.end(), rd.params.rpv.begin(), rd.params.rpv.end());
    }
    for (int i = 0; i < 8; ++i) info.push_back(static_cast<uint8_t>(policy_flags >> (8 * i)));
    return HkdfSha256(s_.huk, AsBytes("confml tee_sim sealing key v1"), info, 32);
  }

 private:
  template <typename F>
  Status Access(uint64_t ipa, size_t length, F&& f) {
    Rd& rd = s_.rds.at(rd_pa_);
    size_t done = 0;
    while (done < length) {
      const uint64_t a = ipa + done;
      if (a < ipa) return OutOfRangeError("realm memory access wraps around");
      const uint64_t base = a - a % kGranule;
      auto it = rd.data.find(base);
      if (it == rd.data.end()) {
        return OutOfRangeError("realm IPA 0x" + ToHexU64(a) + " is not backed by a DATA granule");
      }
      const size_t off = a - base;
      const size_t n = std::min<size_t>(length - done, kGranule - off);
      f(s_.mem.at(it->second), off, n, done);
      done += n;
    }
    return OkStatus();
  }

  static std::string ToHexU64(uint64_t v) {
    char buf[20];
    std::snprintf(buf, sizeof buf, "%llx", static_cast<unsigned long long>(v));
    return buf;
  }

  StatusOr<std::vector<uint8_t>> BuildToken(Rd& rd, Rec& rec) {
    const EcKey* rak;
    std::vector<uint8_t>* platform_token;
    if (s_.opts.rak_scope == RakScope::kPlatform) {
      rak = &*s_.platform_rak;
      platform_token = &s_.platform_token;
    } else {
      rak = &*rd.rak;
      platform_token = &rd.platform_token;
    }
    if (platform_token->empty()) {
      CONFML_ASSIGN_OR_RETURN(*platform_token, s_.IssuePlatformToken(*rak));
    }
    CONFML_ASSIGN_OR_RETURN(std::vector<uint8_t> realm_token,
                            SignRealmToken(rec.pending_claims, *rak));
    return EncodeCcaToken(*platform_token, realm_token);
  }

  Rmm::State& s_;
  uint64_t rec_pa_;
  uint64_t rd_pa_;
};

}  // namespace

StatusOr<std::unique_ptr<Rmm>> Rmm::Create(RmmOptions options) {
  if (options.platform_seed.empty()) {
    options.platform_seed.assign(kDefaultSeed, kDefaultSeed + sizeof(kDefaultSeed) - 1);
  }
  if (options.platform_seed.size() < 16) {
    return InvalidArgumentError(
        "RmmOptions.platform_seed: " + std::to_string(options.platform_seed.size()) +
        " bytes, at least 16 needed");
  }
  if (options.lifecycle > 0xffff) {
    return InvalidArgumentError("RmmOptions.lifecycle: above 0xffff");
  }
  auto s = std::make_unique<State>();
  s->opts = std::move(options);
  CONFML_ASSIGN_OR_RETURN(s->huk, HkdfSha256(s->opts.platform_seed, AsBytes("confml tee_sim"),
                                             AsBytes("hardware unique key"), 32));
  CONFML_ASSIGN_OR_RETURN(EcKey cpak, EcKey::FromSeed(s->huk, "cpak"));
  s->cpak = std::move(cpak);
  s->platform_claims = MakePlatformClaims(s->opts, s->cpak->PublicPoint());
  if (s->opts.rak_scope == RakScope::kPlatform) {
    // As TF-RMM at boot: get the RAK once and the platform token bound to it.
    CONFML_ASSIGN_OR_RETURN(EcKey rak, EcKey::FromSeed(s->huk, "rak/platform"));
    s->platform_rak = std::move(rak);
    CONFML_ASSIGN_OR_RETURN(s->platform_token, s->IssuePlatformToken(*s->platform_rak));
  }
  return std::unique_ptr<Rmm>(new Rmm(std::move(s)));
}

Rmm::Rmm(std::unique_ptr<State> state) : s_(std::move(state)) {}
Rmm::~Rmm() = default;

StatusOr<uint64_t> Rmm::HostAllocGranule() {
  std::lock_guard<std::mutex> lock(s_->mu);
  uint64_t pa;
  if (!s_->free_pas.empty()) {
    pa = s_->free_pas.back();
    s_->free_pas.pop_back();
  } else {
    if (s_->next_pa - kPhysBase + kGranule > s_->opts.physical_memory_bytes) {
      return ResourceExhaustedError("simulated physical memory (" +
                                    std::to_string(s_->opts.physical_memory_bytes) +
                                    " bytes) is used up");
    }
    pa = s_->next_pa;
    s_->next_pa += kGranule;
  }
  s_->mem[pa] = Granule{};
  return pa;
}

Status Rmm::HostFreeGranule(uint64_t pa) {
  std::lock_guard<std::mutex> lock(s_->mu);
  Granule* g = s_->Find(pa);
  if (g == nullptr) return NotFoundError("no host granule at this physical address");
  if (g->state != GranuleState::kUndelegated) {
    return FailedPreconditionError("granule is delegated to the realm world; undelegate it first");
  }
  s_->mem.erase(pa);
  s_->free_pas.push_back(pa);
  return OkStatus();
}

Status Rmm::HostWrite(uint64_t pa, std::span<const uint8_t> bytes) {
  std::lock_guard<std::mutex> lock(s_->mu);
  const uint64_t base = pa - pa % kGranule;
  Granule* g = s_->Find(base);
  if (g == nullptr) return NotFoundError("host write to an unallocated physical address");
  if (g->state != GranuleState::kUndelegated) {
    return PermissionDeniedError("granule protection fault: host write to a Realm PAS granule");
  }
  if (pa - base + bytes.size() > kGranule) {
    return OutOfRangeError("host write crosses the granule boundary");
  }
  if (g->bytes.empty()) g->bytes.assign(kGranule, 0);
  std::copy(bytes.begin(), bytes.end(), g->bytes.begin() + (pa - base));
  return OkStatus();
}

StatusOr<std::vector<uint8_t>> Rmm::HostRead(uint64_t pa, size_t length) {
  std::lock_guard<std::mutex> lock(s_->mu);
  std::vector<uint8_t> out;
  out.reserve(length);
  size_t done = 0;
  while (done < length) {
    const uint64_t a = pa + done;
    const uint64_t base = a - a % kGranule;
    Granule* g = s_->Find(base);
    if (g == nullptr) return NotFoundError("host read of an unallocated physical address");
    if (g->state != GranuleState::kUndelegated) {
      // The GPC checks every access of the non-secure world: a granule in the
      // Realm PAS faults, whatever the host's page tables say.
      return PermissionDeniedError("granule protection fault: host read of a Realm PAS granule");
    }
    const size_t off = a - base;
    const size_t n = std::min<size_t>(length - done, kGranule - off);
    if (g->bytes.empty()) {
      out.insert(out.end(), n, 0);
    } else {
      out.insert(out.end(), g->bytes.begin() + off, g->bytes.begin() + off + n);
    }
    done += n;
  }
  return out;
}

RmiStatus Rmm::GranuleDelegate(uint64_t pa) {
  std::lock_guard<std::mutex> lock(s_->mu);
  Granule* g = s_->Find(pa);
  if (g == nullptr || g->state != GranuleState::kUndelegated) return RmiStatus::kErrorInput;
  g->state = GranuleState::kDelegated;
  g->bytes.clear();  // scrubbed on the way into the Realm PAS
  return RmiStatus::kSuccess;
}

RmiStatus Rmm::GranuleUndelegate(uint64_t pa) {
  std::lock_guard<std::mutex> lock(s_->mu);
  Granule* g = s_->Find(pa);
  if (g == nullptr || g->state != GranuleState::kDelegated) return RmiStatus::kErrorInput;
  g->state = GranuleState::kUndelegated;
  g->bytes.clear();
  return RmiStatus::kSuccess;
}

RmiStatus Rmm::RealmCreate(uint64_t rd_pa, const RmiRealmParams& params) {
  std::lock_guard<std::mutex> lock(s_->mu);
  Granule* g = s_->Find(rd_pa);
  if (g == nullptr || g->state != GranuleState::kDelegated) return RmiStatus::kErrorInput;
  if (params.hash_algo != RealmHashAlgorithm::kSha256 &&
      params.hash_algo != RealmHashAlgorithm::kSha512) {
    return RmiStatus::kErrorInput;
  }
  if (params.s2sz < 32 || params.s2sz > 48 || (params.flags & ~uint64_t{0x7})) {
    return RmiStatus::kErrorInput;
  }
  for (const auto& [pa, other] : s_->rds) {
    if (other.params.vmid == params.vmid) return RmiStatus::kErrorInput;
  }
  Rd rd;
  rd.params = params;
  // B4.3.9.4: RIM initialised to the hash of the measured realm parameters.
  std::array<uint8_t, kTeeGranuleSize> page = internal::MeasuredRealmParams(params);
  std::vector<uint8_t> h = internal::MeasureHash(params.hash_algo, page);
  std::copy(h.begin(), h.end(), rd.meas[0].begin());
  if (s_->opts.rak_scope == RakScope::kPerRealm) {
    StatusOr<EcKey> rak =
        EcKey::FromSeed(s_->huk, "rak/realm/" + std::to_string(s_->realms_created));
    if (!rak.ok()) return RmiStatus::kErrorInput;
    rd.rak = *std::move(rak);
  }
  ++s_->realms_created;
  g->state = GranuleState::kRd;
  s_->rds[rd_pa] = std::move(rd);
  return RmiStatus::kSuccess;
}

RmiStatus Rmm::RttInitRipas(uint64_t rd_pa, uint64_t base, uint64_t top) {
  std::lock_guard<std::mutex> lock(s_->mu);
  Rd* rd = s_->FindRd(rd_pa);
  if (rd == nullptr) return RmiStatus::kErrorInput;
  if (!Aligned(base) || !Aligned(top) || top <= base || top > State::ProtectedTop(*rd)) {
    return RmiStatus::kErrorInput;
  }
  if (rd->state != RealmState::kNew) return RmiStatus::kErrorRealm;
  for (uint64_t a = base; a < top; a += kGranule) {
    if (rd->data.count(a)) return RmiStatus::kErrorRtt;  // RTTE not UNASSIGNED
  }
  for (uint64_t a = base; a < top; a += kGranule) rd->ripas[a] = Ripas::kRam;
  s_->Extend(*rd, internal::RipasDescriptor(s_->Rim(*rd), base, top));
  return RmiStatus::kSuccess;
}

RmiStatus Rmm::DataCreate(uint64_t rd_pa, uint64_t data_pa, uint64_t ipa, uint64_t src_pa,
                          uint64_t flags) {
  std::lock_guard<std::mutex> lock(s_->mu);
  Rd* rd = s_->FindRd(rd_pa);
  Granule* data = s_->Find(data_pa);
  Granule* src = s_->Find(src_pa);
  if (rd == nullptr || data == nullptr || data->state != GranuleState::kDelegated ||
      src == nullptr || src->state != GranuleState::kUndelegated) {
    return RmiStatus::kErrorInput;
  }
  if (!Aligned(ipa) || ipa >= State::ProtectedTop(*rd) || (flags & ~kRmiDataMeasureContent)) {
    return RmiStatus::kErrorInput;
  }
  // The RIM may only grow while the realm is NEW: after activation it is
  // frozen, so measured content can no longer be added.
  if (rd->state != RealmState::kNew) return RmiStatus::kErrorRealm;
  if (rd->data.count(ipa)) return RmiStatus::kErrorRtt;
  data->bytes = src->bytes.empty() ? std::vector<uint8_t>(kGranule, 0) : src->bytes;
  data->state = GranuleState::kData;
  rd->data[ipa] = data_pa;
  rd->ripas[ipa] = Ripas::kRam;
  s_->Extend(*rd,
             internal::DataDescriptor(rd->params.hash_algo, s_->Rim(*rd), ipa, flags, data->bytes));
  return RmiStatus::kSuccess;
}

RmiStatus Rmm::DataCreateUnknown(uint64_t rd_pa, uint64_t data_pa, uint64_t ipa) {
  std::lock_guard<std::mutex> lock(s_->mu);
  Rd* rd = s_->FindRd(rd_pa);
  Granule* data = s_->Find(data_pa);
  if (rd == nullptr || data == nullptr || data->state != GranuleState::kDelegated) {
    return RmiStatus::kErrorInput;
  }
  if (!Aligned(ipa) || ipa >= State::ProtectedTop(*rd)) return RmiStatus::kErrorInput;
  if (rd->data.count(ipa)) return RmiStatus::kErrorRtt;
  data->bytes.clear();
  data->state = GranuleState::kData;
  rd->data[ipa] = data_pa;
  return RmiStatus::kSuccess;
}

RmiStatus Rmm::DataDestroy(uint64_t rd_pa, uint64_t ipa) {
  std::lock_guard<std::mutex> lock(s_->mu);
  Rd* rd = s_->FindRd(rd_pa);
  if (rd == nullptr || !Aligned(ipa)) return RmiStatus::kErrorInput;
  auto it = rd->data.find(ipa);
  if (it == rd->data.end()) return RmiStatus::kErrorRtt;
  Granule& g = s_->mem.at(it->second);
  g.bytes.clear();
  g.state = GranuleState::kDelegated;
  rd->data.erase(it);
  if (rd->state != RealmState::kNew) rd->ripas[ipa] = Ripas::kDestroyed;
  return RmiStatus::kSuccess;
}

RmiStatus Rmm::RecCreate(uint64_t rd_pa, uint64_t rec_pa, const RmiRecParams& params) {
  std::lock_guard<std::mutex> lock(s_->mu);
  Rd* rd = s_->FindRd(rd_pa);
  Granule* g = s_->Find(rec_pa);
  if (rd == nullptr || g == nullptr || g->state != GranuleState::kDelegated ||
      (params.flags & ~kRmiRecRunnable)) {
    return RmiStatus::kErrorInput;
  }
  if (rd->state != RealmState::kNew) return RmiStatus::kErrorRealm;
  // RECs are created in MPIDR order: the n-th REC has affinity index n.
  if (params.mpidr != rd->num_recs_created) return RmiStatus::kErrorInput;
  Rec rec;
  rec.rd = rd_pa;
  rec.params = params;
  g->state = GranuleState::kRec;
  s_->recs[rec_pa] = std::move(rec);
  rd->recs.insert(rec_pa);
  ++rd->num_recs_created;
  s_->Extend(*rd, internal::RecDescriptor(rd->params.hash_algo, s_->Rim(*rd), params));
  return RmiStatus::kSuccess;
}

RmiStatus Rmm::RecDestroy(uint64_t rec_pa) {
  std::lock_guard<std::mutex> lock(s_->mu);
  Granule* g = s_->Find(rec_pa);
  if (g == nullptr || g->state != GranuleState::kRec) return RmiStatus::kErrorInput;
  Rec& rec = s_->recs.at(rec_pa);
  if (rec.running) return RmiStatus::kErrorRec;
  s_->rds.at(rec.rd).recs.erase(rec_pa);
  s_->recs.erase(rec_pa);
  g->state = GranuleState::kDelegated;
  g->bytes.clear();
  return RmiStatus::kSuccess;
}

RmiStatus Rmm::RealmActivate(uint64_t rd_pa) {
  std::lock_guard<std::mutex> lock(s_->mu);
  Rd* rd = s_->FindRd(rd_pa);
  if (rd == nullptr) return RmiStatus::kErrorInput;
  if (rd->state != RealmState::kNew) return RmiStatus::kErrorRealm;
  rd->state = RealmState::kActive;
  return RmiStatus::kSuccess;
}

RmiStatus Rmm::RealmDestroy(uint64_t rd_pa) {
  std::lock_guard<std::mutex> lock(s_->mu);
  Rd* rd = s_->FindRd(rd_pa);
  if (rd == nullptr) return RmiStatus::kErrorInput;
  if (!rd->recs.empty() || !rd->data.empty()) return RmiStatus::kErrorRealm;
  s_->rds.erase(rd_pa);
  Granule& g = s_->mem.at(rd_pa);
  g.state = GranuleState::kDelegated;
  g.bytes.clear();
  return RmiStatus::kSuccess;
}

RmiStatus Rmm::RecEnter(uint64_t rec_pa, const std::function<void(RecContext&)>& realm_code) {
  uint64_t rd_pa;
  {
    std::lock_guard<std::mutex> lock(s_->mu);
    Granule* g = s_->Find(rec_pa);
    if (g == nullptr || g->state != GranuleState::kRec) return RmiStatus::kErrorInput;
    Rec& rec = s_->recs.at(rec_pa);
    rd_pa = rec.rd;
    if (s_->rds.at(rd_pa).state != RealmState::kActive) return RmiStatus::kErrorRealm;
    if (!(rec.params.flags & kRmiRecRunnable) || rec.running) return RmiStatus::kErrorRec;
    rec.running = true;
  }
  RecContextImpl ctx(*s_, rec_pa, rd_pa);
  realm_code(ctx);
  std::lock_guard<std::mutex> lock(s_->mu);
  s_->recs.at(rec_pa).running = false;
  return RmiStatus::kSuccess;
}

std::optional<RealmState> Rmm::realm_state(uint64_t rd) const {
  std::lock_guard<std::mutex> lock(s_->mu);
  auto it = s_->rds.find(rd);
  if (it == s_->rds.end()) return std::nullopt;
  return it->second.state;
}

std::optional<GranuleState> Rmm::granule_state(uint64_t pa) const {
  std::lock_guard<std::mutex> lock(s_->mu);
  auto it = s_->mem.find(pa);
  if (it == s_->mem.end()) return std::nullopt;
  return it->second.state;
}

uint64_t Rmm::platform_tokens_issued() const {
  std::lock_guard<std::mutex> lock(s_->mu);
  return s_->platform_tokens_issued;
}

std::vector<uint8_t> Rmm::cpak_public_point() const { return s_->cpak->PublicPoint(); }
std::string Rmm::cpak_public_pem() const { return s_->cpak->PublicKeyPem(); }

std::vector<SwComponent> Rmm::endorsed_sw_components() const {
  return s_->platform_claims.sw_components;
}

}  // namespace confml::tee_sim
