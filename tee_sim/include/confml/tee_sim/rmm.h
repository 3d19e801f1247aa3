// confml/tee_sim/rmm.h: a model of the Arm CCA Realm Management Monitor
// (RMM) and its two interfaces, RMI (host -> RMM) and RSI (realm -> RMM),
// after the RMM specification DEN0137 1.0-rel0 (see docs/tee_sim.md).
//
// The model keeps the RMM's objects and rules, not its machine code: granules
// of a simulated physical memory with their Granule Protection state, Realm
// Descriptors with the realm state machine (NEW -> ACTIVE -> SYSTEM_OFF ->
// destroyed), DATA granules and RECs, the RIM and REMs computed exactly as the
// specification does, and attestation tokens issued by the RSI. A call that
// the specification forbids returns the RMI/RSI status code as a value.
//
//   auto rmm = Rmm::Create(RmmOptions{});
//   uint64_t rd = *rmm->HostAllocGranule();        // the host picks granules
//   rmm->GranuleDelegate(rd);
//   RmiRealmParams p;  p.hash_algo = RealmHashAlgorithm::kSha256;
//   RmiStatus st = rmm->RealmCreate(rd, p);        // RMI_SUCCESS
//   ... RttInitRipas, DataCreate (measured), RecCreate, RealmActivate ...
//   rmm->RecEnter(rec, [&](RecContext& cpu) {      // runs "inside" the realm
//     std::array<uint8_t, 64> rim{};
//     cpu.RsiMeasurementRead(0, rim);
//   });
//
// Thread safety: an Rmm is thread-safe (one lock for its state, as the RMM
// serialises on granule locks). RecEnter runs the realm code without the lock
// held, so different RECs run concurrently; a RecContext belongs to the
// thread that RecEnter called it on.
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "confml/core/cca_token.h"
#include "confml/core/status.h"
#include "confml/core/tee_backend.h"

namespace confml::tee_sim {

// RmiStatusCode (DEN0137 1.0-rel0).
enum class RmiStatus : uint8_t {
  kSuccess = 0,
  kErrorInput = 1,  // an input value was invalid
  kErrorRealm = 2,  // a Realm attribute did not match (e.g. its state)
  kErrorRec = 3,    // a REC attribute did not match
  kErrorRtt = 4,    // an RTT walk failed or reached an unexpected entry
};
// RsiCommandReturnCode (DEN0137 1.0-rel0).
enum class RsiStatus : uint8_t {
  kSuccess = 0,
  kErrorInput = 1,
  kErrorState = 2,
  kIncomplete = 3,
};
std::string_view RmiStatusName(RmiStatus status);  // "RMI_ERROR_REALM"
std::string_view RsiStatusName(RsiStatus status);  // "RSI_INCOMPLETE"

// RmmRealmState. "Destroyed" is the absence of the RD.
enum class RealmState : uint8_t { kNew = 0, kActive = 1, kSystemOff = 2 };
std::string_view RealmStateName(RealmState state);  // "REALM_NEW"

// RmmGranuleState: what a physical granule currently is.
enum class GranuleState : uint8_t { kUndelegated, kDelegated, kRd, kRec, kData };

// RmiDataFlags bit 0 and RmiRecCreateFlags bit 0.
inline constexpr uint64_t kRmiDataMeasureContent = 1;
inline constexpr uint64_t kRmiRecRunnable = 1;

// RmiRealmParams: the fields this model uses. The RTT fields (rtt_base,
// rtt_level_start, rtt_num_start) are not modeled: the model maps IPAs
// directly and has no stage-2 tables. Measured into the RIM, as in 1.0-rel0:
// flags, s2sz, sve_vl, num_bps, num_wps, pmu_num_ctrs, hash_algo.
struct RmiRealmParams {
  uint64_t flags = 0;  // RmiRealmFlags: LPA2, SVE, PMU
  uint8_t s2sz = 40;   // IPA width
  uint8_t sve_vl = 0;
  uint8_t num_bps = 0;
  uint8_t num_wps = 0;
  uint8_t pmu_num_ctrs = 0;
  RealmHashAlgorithm hash_algo = RealmHashAlgorithm::kSha256;
  std::array<uint8_t, kTeeRpvSize> rpv{};
  uint16_t vmid = 0;
};

// RmiRecParams. Measured into the RIM: flags, pc, gprs.
struct RmiRecParams {
  uint64_t flags = 0;  // kRmiRecRunnable
  uint64_t mpidr = 0;
  uint64_t pc = 0;
  std::array<uint64_t, 8> gprs{};
};

// How the Realm Attestation Key is scoped.
enum class RakScope {
  // One RAK for the platform's lifetime ("boot"), the platform token fetched
  // once with challenge = hash(RAK) and reused for every realm: what TF-RMM
  // does (it obtains the RAK from EL3 once and caches the platform token).
  kPlatform,
  // A RAK per realm (derived at RMI_REALM_CREATE); each realm's platform
  // token is issued on its first attestation and cached in the realm.
  kPerRealm,
};

struct RmmOptions {
  // Seed of the simulated hardware: the hardware unique key (HUK), the CPAK
  // and every RAK derive from it, so a platform is reproducible. At least 16
  // bytes; default: the bytes of "confml simulated CCA platform v1".
  std::vector<uint8_t> platform_seed;
  RakScope rak_scope = RakScope::kPerRealm;
  // Physical memory available for granules, bytes. Default 1 GiB (granules
  // are allocated lazily, only used ones cost host memory).
  uint64_t physical_memory_bytes = uint64_t{1} << 30;
  // Platform claims: PSA security lifecycle (0x3000 = secured) and the
  // platform profile. Defaults: 0x3000, "tag:arm.com,2023:cca_platform#1.0.0".
  uint32_t lifecycle = 0x3000;
  std::string platform_profile = "tag:arm.com,2023:cca_platform#1.0.0";

  // Fault injection (LevelDB-style), to test verifiers against a platform
  // that misbehaves. Default: none.
  struct Faults {
    // The platform token's challenge is the hash of another key than the
    // RAK that signs realm tokens (a broken RAK binding).
    bool platform_token_binds_other_key = false;
  } faults;
};

// The view of a REC while it runs: its RSI calls and its memory. Only valid
// inside the RecEnter callback that received it.
class RecContext {
 public:
  virtual ~RecContext() = default;
  // RSI_MEASUREMENT_READ: index 0 (RIM) .. 4; `out` receives the value
  // zero-padded to 64 bytes. RSI_ERROR_INPUT for index > 4.
  virtual RsiStatus RsiMeasurementRead(uint64_t index, std::span<uint8_t, 64> out) = 0;
  // RSI_MEASUREMENT_EXTEND: REM[index] = H(REM[index] || value[0:size]).
  // RSI_ERROR_INPUT for index 0 or > 4, or size > 64.
  virtual RsiStatus RsiMeasurementExtend(uint64_t index, uint64_t size,
                                         std::span<const uint8_t, 64> value) = 0;
  // RSI_ATTESTATION_TOKEN_INIT: starts a token for `challenge` (any ongoing
  // one is abandoned); `max_size` receives an upper bound on its size.
  virtual RsiStatus RsiAttestationTokenInit(std::span<const uint8_t, 64> challenge,
                                            uint64_t* max_size) = 0;
  // RSI_ATTESTATION_TOKEN_CONTINUE: copies the next at most `size` bytes of
  // the token to realm memory at buf_ipa + offset and stores the count in
  // `len`. RSI_INCOMPLETE while bytes remain, RSI_SUCCESS with the last
  // piece. RSI_ERROR_INPUT if buf_ipa is not granule aligned or not RAM of
  // this realm, or offset + size crosses the granule; RSI_ERROR_STATE
  // without a preceding INIT.
  virtual RsiStatus RsiAttestationTokenContinue(uint64_t buf_ipa, uint64_t offset, uint64_t size,
                                                uint64_t* len) = 0;
  // PSCI_SYSTEM_OFF: the realm moves to SYSTEM_OFF; no REC runs again.
  virtual void PsciSystemOff() = 0;
  // Loads and stores of the realm's own protected memory (no RSI involved).
  // OutOfRange when an IPA is not backed by a DATA granule of this realm.
  virtual Status Store(uint64_t ipa, std::span<const uint8_t> bytes) = 0;
  virtual Status Load(uint64_t ipa, std::span<uint8_t> out) = 0;
  // Derives this realm's sealing key material (a model of a CCA "derived
  // sealing key" service; not an RSI command of 1.0-rel0):
  // HKDF-SHA-256(HUK, info = RIM || RPV || policy_flags as 8 LE bytes).
  virtual StatusOr<std::vector<uint8_t>> DeriveSealingKey(uint64_t policy_flags) = 0;
};

class Rmm {
 public:
  // InvalidArgument for a seed shorter than 16 bytes; Internal if a key
  // cannot be derived.
  static StatusOr<std::unique_ptr<Rmm>> Create(RmmOptions options);
  ~Rmm();
  Rmm(const Rmm&) = delete;
  Rmm& operator=(const Rmm&) = delete;

  // ---- Host-side memory (not RMM commands: what the host does itself) ----
  // A fresh non-secure granule; ResourceExhausted when memory is used up.
  StatusOr<uint64_t> HostAllocGranule();
  // Returns an undelegated granule to the host's pool.
  Status HostFreeGranule(uint64_t pa);
  // Host CPU accesses to physical memory. PermissionDenied (a granule
  // protection fault) for any granule that is not in the non-secure PAS;
  // NotFound for an address the host never allocated.
  Status HostWrite(uint64_t pa, std::span<const uint8_t> bytes);
  StatusOr<std::vector<uint8_t>> HostRead(uint64_t pa, size_t length);

  // ---- RMI ----
  RmiStatus GranuleDelegate(uint64_t pa);
  RmiStatus GranuleUndelegate(uint64_t pa);
  RmiStatus RealmCreate(uint64_t rd, const RmiRealmParams& params);
  // Extends the RIM with a RIPAS descriptor for [base, top). Realm NEW only.
  RmiStatus RttInitRipas(uint64_t rd, uint64_t base, uint64_t top);
  // Copies the non-secure granule `src` into the delegated granule `data`,
  // maps it at `ipa` and, realm NEW only, extends the RIM with its DATA
  // descriptor (content hashed when flags has kRmiDataMeasureContent).
  RmiStatus DataCreate(uint64_t rd, uint64_t data, uint64_t ipa, uint64_t src, uint64_t flags);
  // Maps a zero-filled, unmeasured DATA granule (allowed in any state).
  RmiStatus DataCreateUnknown(uint64_t rd, uint64_t data, uint64_t ipa);
  // Unmaps the granule at `ipa` (back to DELEGATED, contents scrubbed); in
  // an ACTIVE realm its RIPAS becomes DESTROYED.
  RmiStatus DataDestroy(uint64_t rd, uint64_t ipa);
  // Creates a REC and, realm NEW only, extends the RIM with its descriptor.
  RmiStatus RecCreate(uint64_t rd, uint64_t rec, const RmiRecParams& params);
  RmiStatus RecDestroy(uint64_t rec);
  RmiStatus RealmActivate(uint64_t rd);
  // RMI_ERROR_REALM while the realm still has RECs or DATA granules.
  RmiStatus RealmDestroy(uint64_t rd);
  // Runs `realm_code` as the REC. RMI_ERROR_REALM unless the realm is
  // ACTIVE; RMI_ERROR_REC if the REC is not runnable or already running.
  RmiStatus RecEnter(uint64_t rec, const std::function<void(RecContext&)>& realm_code);

  // ---- Observation for tests and reports (not RMI commands) ----
  std::optional<RealmState> realm_state(uint64_t rd) const;
  std::optional<GranuleState> granule_state(uint64_t pa) const;
  // Number of platform tokens issued so far (cache behaviour).
  uint64_t platform_tokens_issued() const;
  // The simulated CPAK public key (SEC1 uncompressed P-384 point), the trust
  // anchor a verifier is given, and as PEM.
  std::vector<uint8_t> cpak_public_point() const;
  std::string cpak_public_pem() const;
  // The platform software components this platform reports, as its vendor
  // would publish them as endorsements (a verifier's reference values).
  std::vector<SwComponent> endorsed_sw_components() const;

  struct State;  // defined in rmm.cc

 private:
  explicit Rmm(std::unique_ptr<State> state);
  std::unique_ptr<State> s_;
};

}  // namespace confml::tee_sim
