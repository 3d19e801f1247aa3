// TeeBackend "sim": drives the RMM model as a VMM (kvmtool-like) would and
// offers the realm's code the RSI services through RealmContext.
#include "confml/tee_sim/sim_backend.h"

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <map>
#include <mutex>

#include "confml/core/crypto.h"
#include "confml/tee_sim/cost_model.h"

namespace confml::tee_sim {
namespace {

constexpr uint64_t kGranule = kTeeGranuleSize;

// Sealed blob: a header in the style of SEAL's SEALHeader, bound as AAD.
//   0  magic "CFSL"   4  version u16 LE (1)   6  reserved u16 (0)
//   8  payload size u64 LE (plaintext bytes)   16 nonce (12 bytes)
//   28 ciphertext || 16-byte GCM tag
constexpr uint8_t kSealMagic[4] = {'C', 'F', 'S', 'L'};
constexpr uint16_t kSealVersion = 1;
constexpr size_t kSealHeaderSize = 28;

Status RmiError(std::string_view what, RmiStatus st) {
  return InternalError(std::string(what) + " failed with " + std::string(RmiStatusName(st)));
}

Status RsiError(std::string_view what, RsiStatus st) {
  return InternalError(std::string(what) + " failed with " + std::string(RsiStatusName(st)));
}

class SimBackend;

class SimRealm final : public TeeRealm {
 public:
  SimRealm(Rmm& rmm, const CostProfile& profile, RealmParams params)
      : rmm_(rmm), params_(std::move(params)), meter_(profile) {}
  ~SimRealm() override { TearDown(); }

  // Builds the realm; on failure what was built is torn down by the destructor.
  Status Load(std::span<const uint8_t> image, uint16_t vmid);

  Status Run(const RealmWork& work) override;
  StatusOr<std::vector<uint8_t>> HostRead(uint64_t ipa, size_t length) override;
  size_t memory_size() const override { return memory_size_; }
  const RealmParams& params() const override { return params_; }
  TeeCost cost() const override { return meter_.Snapshot(); }

  CostMeter& meter() { return meter_; }
  uint64_t buffer_ipa() const { return buffer_ipa_; }

 private:
  StatusOr<uint64_t> NewDelegatedGranule() {
    CONFML_ASSIGN_OR_RETURN(uint64_t pa, rmm_.HostAllocGranule());
    RmiStatus st = rmm_.GranuleDelegate(pa);
    if (st != RmiStatus::kSuccess) return RmiError("RMI_GRANULE_DELEGATE", st);
    granules_.push_back(pa);
    return pa;
  }
  void TearDown();

  Rmm& rmm_;
  const RealmParams params_;
  CostMeter meter_;
  uint64_t rd_ = 0;
  bool realm_created_ = false;
  std::vector<uint64_t> recs_;
  std::map<uint64_t, uint64_t> data_;  // ipa -> pa, as the host tracks it
  std::vector<uint64_t> granules_;     // every granule this realm delegated
  size_t memory_size_ = 0;
  uint64_t buffer_ipa_ = 0;
  std::mutex mu_;
  std::vector<bool> rec_busy_;
};

class SimContext final : public RealmContext {
 public:
  SimContext(RecContext& cpu, SimRealm& realm) : cpu_(cpu), realm_(realm) {}

  StatusOr<std::vector<uint8_t>> ReadMeasurement(int index) override {
    if (index < 0 || index > kTeeNumRems) {
      return InvalidArgumentError("measurement index " + std::to_string(index) +
                                  " is outside 0 (RIM) .. 4");
    }
    std::array<uint8_t, 64> value{};
    RsiStatus st = cpu_.RsiMeasurementRead(static_cast<uint64_t>(index), value);
    if (st != RsiStatus::kSuccess) return RsiError("RSI_MEASUREMENT_READ", st);
    const size_t hs = RealmHashSize(realm_.params().hash_algorithm);
    return std::vector<uint8_t>(value.begin(), value.begin() + hs);
  }

  Status ExtendMeasurement(int index, std::span<const uint8_t> data) override {
    if (index < 1 || index > kTeeNumRems) {
      return InvalidArgumentError("REM index " + std::to_string(index) + " is outside 1..4");
    }
    if (data.size() > kTeeMaxExtendSize) {
      return InvalidArgumentError("measurement extension of " + std::to_string(data.size()) +
                                  " bytes; RSI_MEASUREMENT_EXTEND takes at most 64");
    }
    std::array<uint8_t, 64> value{};
    std::copy(data.begin(), data.end(), value.begin());
    RsiStatus st = cpu_.RsiMeasurementExtend(static_cast<uint64_t>(index), data.size(), value);
    if (st != RsiStatus::kSuccess) return RsiError("RSI_MEASUREMENT_EXTEND", st);
    return OkStatus();
  }

  StatusOr<std::vector<uint8_t>> AttestationToken(std::span<const uint8_t> challenge) override {
    if (challenge.size() != kTeeChallengeSize) {
      return InvalidArgumentError("attestation challenge of " + std::to_string(challenge.size()) +
                                  " bytes; CCA requires exactly 64");
    }
    std::array<uint8_t, 64> c{};
    std::copy(challenge.begin(), challenge.end(), c.begin());
    uint64_t max_size = 0;
    RsiStatus st = cpu_.RsiAttestationTokenInit(c, &max_size);
    if (st != RsiStatus::kSuccess) return RsiError("RSI_ATTESTATION_TOKEN_INIT", st);
    // The realm hands the RMM one granule at a time and assembles the token
    // from the pieces, as a guest kernel's RSI driver does.
    std::vector<uint8_t> token;
    std::vector<uint8_t> piece(kGranule);
    const uint64_t buf = realm_.buffer_ipa();
    for (;;) {
      uint64_t len = 0;
      st = cpu_.RsiAttestationTokenContinue(buf, 0, kGranule, &len);
      if (st != RsiStatus::kSuccess && st != RsiStatus::kIncomplete) {
        return RsiError("RSI_ATTESTATION_TOKEN_CONTINUE", st);
      }
      CONFML_RETURN_IF_ERROR(cpu_.Load(buf, std::span<uint8_t>(piece.data(), len)));
      token.insert(token.end(), piece.begin(), piece.begin() + len);
      if (token.size() > max_size) return InternalError("token exceeds the size INIT announced");
      if (st == RsiStatus::kSuccess) break;
    }
    realm_.meter().ChargeToken();
    return token;
  }

  StatusOr<std::vector<uint8_t>> Seal(std::span<const uint8_t> plaintext) override {
    CONFML_ASSIGN_OR_RETURN(std::vector<uint8_t> key,
                            cpu_.DeriveSealingKey(realm_.params().seal_policy_flags));
    CONFML_ASSIGN_OR_RETURN(std::vector<uint8_t> nonce, RandomBytes(kAes256GcmNonceSize));
    std::vector<uint8_t> blob(kSealMagic, kSealMagic + 4);
    blob.push_back(kSealVersion & 0xff);
    blob.push_back(kSealVersion >> 8);
    blob.push_back(0);
    blob.push_back(0);
    for (int i = 0; i < 8; ++i)
      blob.push_back(static_cast<uint8_t>(uint64_t{plaintext.size()} >> (8 * i)));
    blob.insert(blob.end(), nonce.begin(), nonce.end());
    CONFML_ASSIGN_OR_RETURN(std::vector<uint8_t> sealed,
                            Aes256GcmSeal(key, nonce, plaintext, blob));
    blob.insert(blob.end(), sealed.begin(), sealed.end());
    realm_.meter().ChargeCrypto(plaintext.size());
    return blob;
  }

  StatusOr<std::vector<uint8_t>> Unseal(std::span<const uint8_t> blob) override {
    if (blob.size() < kSealHeaderSize + kAes256GcmTagSize) {
      return DataLossError("sealed blob of " + std::to_string(blob.size()) +
                           " bytes is shorter than its header and tag");
    }
    if (!std::equal(kSealMagic, kSealMagic + 4, blob.begin())) {
      return DataLossError("sealed blob does not start with the magic 'CFSL'");
    }
    const uint16_t version = static_cast<uint16_t>(blob[4] | (blob[5] << 8));
    if (version != kSealVersion || blob[6] != 0 || blob[7] != 0) {
      return DataLossError("sealed blob has version " + std::to_string(version) +
                           " (or reserved bits set); this build reads version 1");
    }
    uint64_t size = 0;
    for (int i = 0; i < 8; ++i) size |= uint64_t{blob[8 + i]} << (8 * i);
    if (size != blob.size() - kSealHeaderSize - kAes256GcmTagSize) {
      return DataLossError("sealed blob says " + std::to_string(size) +
                           " payload bytes but holds " +
                           std::to_string(blob.size() - kSealHeaderSize - kAes256GcmTagSize));
    }
    CONFML_ASSIGN_OR_RETURN(std::vector<uint8_t> key,
                            cpu_.DeriveSealingKey(realm_.params().seal_policy_flags));
    StatusOr<std::vector<uint8_t>> plain =
        Aes256GcmOpen(key, blob.subspan(16, kAes256GcmNonceSize), blob.subspan(kSealHeaderSize),
                      blob.first(kSealHeaderSize));
    if (!plain.ok()) {
      return DataLossError(
          "sealed blob does not authenticate: sealed by another realm (RIM, RPV or policy), "
          "another platform, or modified");
    }
    realm_.meter().ChargeCrypto(plain->size());
    return plain;
  }

  Status WriteMemory(uint64_t ipa, std::span<const uint8_t> bytes) override {
    CONFML_RETURN_IF_ERROR(CheckRange(ipa, bytes.size()));
    return cpu_.Store(ipa, bytes);
  }

  StatusOr<std::vector<uint8_t>> ReadMemory(uint64_t ipa, size_t length) override {
    CONFML_RETURN_IF_ERROR(CheckRange(ipa, length));
    std::vector<uint8_t> out(length);
    CONFML_RETURN_IF_ERROR(cpu_.Load(ipa, out));
    return out;
  }

  std::vector<uint8_t> ReceiveFromHost(std::span<const uint8_t> bytes) override {
    realm_.meter().ChargeCopy(bytes.size());
    return {bytes.begin(), bytes.end()};
  }
  std::vector<uint8_t> SendToHost(std::span<const uint8_t> bytes) override {
    realm_.meter().ChargeCopy(bytes.size());
    return {bytes.begin(), bytes.end()};
  }
  void ChargeCrypto(size_t bytes) override { realm_.meter().ChargeCrypto(bytes); }

 private:
  Status CheckRange(uint64_t ipa, size_t length) const {
    const uint64_t base = realm_.params().load_ipa;
    const size_t size = realm_.memory_size();
    if (ipa < base || ipa - base > size || length > size - (ipa - base)) {
      return OutOfRangeError("realm memory access [0x" + ToHex(ipa) + ", +" +
                             std::to_string(length) + ") is outside the realm's " +
                             std::to_string(size) + " bytes at IPA 0x" + ToHex(base));
    }
    return OkStatus();
  }
  static std::string ToHex(uint64_t v) {
    char buf[20];
    std::snprintf(buf, sizeof buf, "%llx", static_cast<unsigned long long>(v));
    return buf;
  }

  RecContext& cpu_;
  SimRealm& realm_;
};

Status SimRealm::Load(std::span<const uint8_t> image, uint16_t vmid) {
  RmiRealmParams rp;
  rp.flags = params_.realm_flags;
  rp.s2sz = params_.ipa_width;
  rp.sve_vl = params_.sve_vl;
  rp.num_bps = params_.num_bps;
  rp.num_wps = params_.num_wps;
  rp.pmu_num_ctrs = params_.pmu_num_ctrs;
  rp.hash_algo = params_.hash_algorithm;
  rp.rpv = params_.rpv;
  rp.vmid = vmid;

  CONFML_ASSIGN_OR_RETURN(rd_, NewDelegatedGranule());
  RmiStatus st = rmm_.RealmCreate(rd_, rp);
  if (st != RmiStatus::kSuccess) return RmiError("RMI_REALM_CREATE", st);
  realm_created_ = true;

  const uint64_t image_granules = (image.size() + kGranule - 1) / kGranule;
  const uint64_t private_granules = (params_.private_memory_bytes + kGranule - 1) / kGranule;
  memory_size_ = (image_granules + private_granules) * kGranule;
  buffer_ipa_ = params_.load_ipa + memory_size_;
  const uint64_t top = buffer_ipa_ + kGranule;
  if (top > (uint64_t{1} << (params_.ipa_width - 1))) {
    return InvalidArgumentError(
        "RealmParams: no room for the RSI buffer granule below the "
        "protected IPA top");
  }
  st = rmm_.RttInitRipas(rd_, params_.load_ipa, top);
  if (st != RmiStatus::kSuccess) return RmiError("RMI_RTT_INIT_RIPAS", st);

  const uint64_t flags = params_.measure_content ? kRmiDataMeasureContent : 0;
  for (uint64_t i = 0; i < image_granules; ++i) {
    // The host stages each granule in its own memory, as a VMM does.
    CONFML_ASSIGN_OR_RETURN(uint64_t src, rmm_.HostAllocGranule());
    const size_t off = i * kGranule;
    const size_t n = std::min<size_t>(kGranule, image.size() - off);
    std::vector<uint8_t> chunk(kGranule, 0);
    std::copy(image.begin() + off, image.begin() + off + n, chunk.begin());
    Status w = rmm_.HostWrite(src, chunk);
    StatusOr<uint64_t> data = w.ok() ? NewDelegatedGranule() : StatusOr<uint64_t>(w);
    if (data.ok()) {
      st = rmm_.DataCreate(rd_, *data, params_.load_ipa + off, src, flags);
      if (st == RmiStatus::kSuccess) data_[params_.load_ipa + off] = *data;
    }
    CONFML_RETURN_IF_ERROR(rmm_.HostFreeGranule(src));
    if (!data.ok()) return data.status();
    if (st != RmiStatus::kSuccess) return RmiError("RMI_DATA_CREATE", st);
  }
  for (uint64_t ipa = params_.load_ipa + image_granules * kGranule; ipa < top; ipa += kGranule) {
    CONFML_ASSIGN_OR_RETURN(uint64_t data, NewDelegatedGranule());
    st = rmm_.DataCreateUnknown(rd_, data, ipa);
    if (st != RmiStatus::kSuccess) return RmiError("RMI_DATA_CREATE_UNKNOWN", st);
    data_[ipa] = data;
  }
  const uint64_t pc = params_.entry_pc != 0 ? params_.entry_pc : params_.load_ipa;
  for (uint32_t i = 0; i < params_.num_recs; ++i) {
    CONFML_ASSIGN_OR_RETURN(uint64_t rec, NewDelegatedGranule());
    RmiRecParams rec_params;
    rec_params.flags = kRmiRecRunnable;
    rec_params.mpidr = i;
    rec_params.pc = pc;
    if (i == 0) rec_params.gprs = params_.boot_gprs;
    st = rmm_.RecCreate(rd_, rec, rec_params);
    if (st != RmiStatus::kSuccess) return RmiError("RMI_REC_CREATE", st);
    recs_.push_back(rec);
  }
  rec_busy_.assign(recs_.size(), false);
  st = rmm_.RealmActivate(rd_);
  if (st != RmiStatus::kSuccess) return RmiError("RMI_REALM_ACTIVATE", st);
  return OkStatus();
}

void SimRealm::TearDown() {
  // The order the RMM demands: DATA and RECs before the RD, then every
  // granule back to the non-secure world.
  for (const auto& [ipa, pa] : data_) (void)rmm_.DataDestroy(rd_, ipa);
  for (uint64_t rec : recs_) (void)rmm_.RecDestroy(rec);
  if (realm_created_) (void)rmm_.RealmDestroy(rd_);
  for (uint64_t pa : granules_) {
    (void)rmm_.GranuleUndelegate(pa);
    (void)rmm_.HostFreeGranule(pa);
  }
  data_.clear();
  recs_.clear();
  granules_.clear();
}

Status SimRealm::Run(const RealmWork& work) {
  size_t idx = recs_.size();
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (size_t i = 0; i < rec_busy_.size(); ++i) {
      if (!rec_busy_[i]) {
        idx = i;
        rec_busy_[i] = true;
        break;
      }
    }
  }
  if (idx == recs_.size()) {
    return UnavailableError("all " + std::to_string(recs_.size()) +
                            " RECs of the realm are running");
  }
  Status result;
  RmiStatus st = rmm_.RecEnter(recs_[idx], [&](RecContext& cpu) {
    SimContext ctx(cpu, *this);
    result = work(ctx);
  });
  {
    std::lock_guard<std::mutex> lock(mu_);
    rec_busy_[idx] = false;
  }
  if (st == RmiStatus::kErrorRealm) {
    return FailedPreconditionError("RMI_REC_ENTER: the realm is not ACTIVE (it was switched off)");
  }
  if (st != RmiStatus::kSuccess) return RmiError("RMI_REC_ENTER", st);
  meter_.ChargeEntryExit();
  return result;
}

StatusOr<std::vector<uint8_t>> SimRealm::HostRead(uint64_t ipa, size_t length) {
  const uint64_t base = params_.load_ipa;
  if (ipa < base || ipa - base > memory_size_ || length > memory_size_ - (ipa - base)) {
    return OutOfRangeError("host read outside the realm's memory");
  }
  // The host knows which physical granule backs each IPA (it donated them);
  // it reads those physical addresses directly, and the GPC decides.
  std::vector<uint8_t> out;
  size_t done = 0;
  while (done < length) {
    const uint64_t a = ipa + done;
    const uint64_t g = a - a % kGranule;
    const size_t n = std::min<size_t>(length - done, kGranule - (a - g));
    CONFML_ASSIGN_OR_RETURN(std::vector<uint8_t> part, rmm_.HostRead(data_.at(g) + (a - g), n));
    out.insert(out.end(), part.begin(), part.end());
    done += n;
  }
  return out;
}

class SimBackend final : public TeeBackend {
 public:
  SimBackend(std::unique_ptr<Rmm> rmm, CostProfile profile, RakScope scope)
      : rmm_(std::move(rmm)), profile_(std::move(profile)), scope_(scope) {}

  std::string_view name() const override { return "sim"; }

  TeeCapabilities capabilities() const override {
    TeeCapabilities caps;
    caps.backend = "sim";
    caps.features[TeeFeature::kIsolation] = {true, "granule protection modeled per 4 KiB granule"};
    caps.features[TeeFeature::kMeasurement] = {true, "RIM per RMM 1.0-rel0"};
    caps.features[TeeFeature::kMeasurementExtend] = {true, "4 REMs"};
    caps.features[TeeFeature::kAttestation] = {
        true, std::string("CCA token, simulated CPAK, RAK scope ") +
                  (scope_ == RakScope::kPlatform ? "platform" : "per realm")};
    caps.features[TeeFeature::kSealing] = {true,
                                           "HKDF-SHA-256(HUK; RIM, RPV, policy), AES-256-GCM"};
    caps.features[TeeFeature::kHostMemoryRead] = {false, "granule protection fault"};
    caps.features[TeeFeature::kCostModel] = {true, "profile " + profile_.name};
    return caps;
  }

  StatusOr<std::unique_ptr<TeeRealm>> CreateRealm(std::span<const uint8_t> image,
                                                  const RealmParams& params) override {
    CONFML_RETURN_IF_ERROR(ValidateRealmParams(params, image.size()));
    auto realm = std::make_unique<SimRealm>(*rmm_, profile_, params);
    const uint16_t vmid = static_cast<uint16_t>(1 + next_vmid_++ % 0xfffe);
    CONFML_RETURN_IF_ERROR(realm->Load(image, vmid));
    return std::unique_ptr<TeeRealm>(std::move(realm));
  }

  Rmm& rmm() { return *rmm_; }

 private:
  std::unique_ptr<Rmm> rmm_;
  CostProfile profile_;
  RakScope scope_;
  std::atomic<uint32_t> next_vmid_{0};
};

}  // namespace

StatusOr<std::unique_ptr<TeeBackend>> NewSimTeeBackend(SimOptions options) {
  CONFML_ASSIGN_OR_RETURN(CostProfile profile, FindCostProfile(options.cost_profile));
  const RakScope scope = options.rmm.rak_scope;
  CONFML_ASSIGN_OR_RETURN(std::unique_ptr<Rmm> rmm, Rmm::Create(std::move(options.rmm)));
  return std::unique_ptr<TeeBackend>(new SimBackend(std::move(rmm), std::move(profile), scope));
}

Rmm* SimPlatform(TeeBackend& backend) {
  auto* sim = dynamic_cast<SimBackend*>(&backend);
  return sim == nullptr ? nullptr : &sim->rmm();
}

StatusOr<std::vector<uint8_t>> ComputeReferenceRim(std::span<const uint8_t> image,
                                                   const RealmParams& params) {
  // The RIM depends on the image and the measured parameters only, not on
  // the platform, so a private default platform gives the reference value.
  CONFML_ASSIGN_OR_RETURN(std::unique_ptr<TeeBackend> tee, NewSimTeeBackend(SimOptions{}));
  CONFML_ASSIGN_OR_RETURN(std::unique_ptr<TeeRealm> realm, tee->CreateRealm(image, params));
  return realm->ReadMeasurement(0);
}

Status RegisterSimTeeBackend() {
  static std::once_flag once;
  static Status result;
  std::call_once(once, [] {
    std::vector<std::string> profiles = CostProfileNames();
    ComponentSpec spec{
        "tee_backend",
        "sim",
        "Simulated Arm CCA platform (RMM 1.0-rel0 model): measured realms, CCA tokens, "
        "sealing, isolation, modeled costs.",
        {Param::String("cost_profile", "fvp", "Cost model profile (see docs/tee_sim.md).")
             .OneOf(profiles),
         Param::String("rak_scope", "realm",
                       "'realm': a RAK per realm; 'platform': one RAK per platform as TF-RMM.")
             .OneOf({"realm", "platform"}),
         Param::String("platform_seed", "",
                       "Seed text of the simulated hardware (HUK, CPAK); empty for the default. "
                       "At least 16 characters.")}};
    result = TeeBackendRegistry().Add(
        std::move(spec), [](const ParamSet& p) -> StatusOr<std::unique_ptr<TeeBackend>> {
          SimOptions o;
          o.cost_profile = p.String("cost_profile");
          o.rmm.rak_scope =
              p.String("rak_scope") == "platform" ? RakScope::kPlatform : RakScope::kPerRealm;
          const std::string& seed = p.String("platform_seed");
          o.rmm.platform_seed.assign(seed.begin(), seed.end());
          return NewSimTeeBackend(std::move(o));
        });
  });
  return result;
}

}  // namespace confml::tee_sim
