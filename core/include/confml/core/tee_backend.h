// confml/core/tee_backend.h: TeeBackend, the one seam between confml and the
// hardware (or its model) that runs a Program inside a confidential realm.
//
// In the style of LevelDB's Env: every hardware-dependent operation goes
// through this interface, so the engine, the attacks and the defenses run
// unchanged on backend "none" (a plain process), "sim" (the CCA RMM/RSI model
// of confml::tee_sim) and "cca" (a real realm, confml::cca_backend).
//
//   StatusOr<std::unique_ptr<TeeBackend>> tee = NewTeeBackend("none");
//   RealmParams params;                        // SHA-256, zero RPV, ...
//   StatusOr<std::unique_ptr<TeeRealm>> realm = (*tee)->CreateRealm(image, params);
//   Status s = (*realm)->Run([&](RealmContext& ctx) -> Status {
//     // Work here runs inside the realm; ctx offers the in-realm services.
//     CONFML_ASSIGN_OR_RETURN(auto token, ctx.AttestationToken(challenge));
//     return OkStatus();
//   });
//   StatusOr<std::vector<uint8_t>> leak = (*realm)->HostRead(ipa, 64);  // as the host
//
// What a backend cannot do is reported, never faked: an operation it does not
// support returns Unimplemented, and capabilities() says so up front.
//
// Ownership: a TeeBackend owns its platform state; each TeeRealm it returns
// must be destroyed before the backend (the realm keeps a pointer to it),
// and only once no Run is in progress. Destroying a TeeRealm tears the realm
// down (RECs, granules, realm).
// Thread safety: TeeBackend and TeeRealm are thread-safe. In "sim" several
// threads may Run in one realm at once up to its number of RECs (one REC per
// running thread, as on hardware); further Runs fail with Unavailable.
// "none" has no RECs and runs any number at once.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "confml/core/params.h"
#include "confml/core/registry.h"
#include "confml/core/status.h"

namespace confml {

// Sizes fixed by the RMM specification (DEN0137 1.0-rel0).
inline constexpr size_t kTeeGranuleSize = 4096;
inline constexpr size_t kTeeRpvSize = 64;        // Realm Personalization Value
inline constexpr size_t kTeeChallengeSize = 64;  // attestation challenge
inline constexpr size_t kTeeMaxMeasurementSize = 64;
inline constexpr size_t kTeeMaxExtendSize = 64;  // RSI_MEASUREMENT_EXTEND data
inline constexpr int kTeeNumRems = 4;            // REM indices 1..4; index 0 is the RIM

// Encoded as RmiHashAlgorithm (the RMM's own encoding).
enum class RealmHashAlgorithm : uint8_t { kSha256 = 0, kSha512 = 1 };
std::string_view RealmHashAlgorithmName(RealmHashAlgorithm algorithm);  // "sha-256", "sha-512"
size_t RealmHashSize(RealmHashAlgorithm algorithm);                     // 32, 64

// How the host creates a realm. Every field that the RMM measures into the
// RIM is marked (measured); changing one changes the RIM.
struct RealmParams {
  // (measured) Measurement algorithm of the RIM and REMs. Default SHA-256.
  RealmHashAlgorithm hash_algorithm = RealmHashAlgorithm::kSha256;
  // Realm Personalization Value: not measured into the RIM (RMM 1.0), but
  // reported in the realm token (claim 44235) and bound into sealing keys.
  // Default all zero.
  std::array<uint8_t, kTeeRpvSize> rpv{};
  // Bound into the sealing key (not an RMM field: confml's sealing policy,
  // e.g. "sealed for this RIM only"). Default 0.
  uint64_t seal_policy_flags = 0;

  // (measured) RmiRealmFlags: bit 0 LPA2, bit 1 SVE, bit 2 PMU. Default 0.
  uint64_t realm_flags = 0;
  // (measured) IPA width in bits, 32..48. Default 40.
  uint8_t ipa_width = 40;
  // (measured) SVE vector length (encoded as the RMM does), breakpoints,
  // watchpoints, PMU counters. Default 0.
  uint8_t sve_vl = 0;
  uint8_t num_bps = 0;
  uint8_t num_wps = 0;
  uint8_t pmu_num_ctrs = 0;

  // IPA where the image's first granule is mapped; granule aligned, inside
  // the protected half of the IPA space. (measured through the DATA
  // descriptors' ipa field.) Default 0x80000000 (kvmtool's RAM base).
  uint64_t load_ipa = 0x80000000;
  // Hash each image granule's content into the RIM (RmiDataFlags bit 0).
  // Default true; false measures only the layout.
  bool measure_content = true;
  // (measured) Number of RECs (virtual CPUs), all runnable; Run uses a free
  // one. Default 1.
  uint32_t num_recs = 1;
  // (measured) Entry point of every REC; 0 means load_ipa.
  uint64_t entry_pc = 0;
  // (measured) x0..x7 of REC 0 at reset (a kernel's boot arguments).
  std::array<uint64_t, 8> boot_gprs{};
  // Zero-filled, unmeasured private memory after the image (bytes, rounded up
  // to granules) where work inside the realm keeps its data. Default 64 KiB.
  size_t private_memory_bytes = 64 * 1024;
};

// InvalidArgument naming the first bad field: ipa_width outside 32..48,
// load_ipa not granule aligned or outside the protected half of the IPA
// space, image + private memory not fitting there, num_recs outside 1..64,
// realm_flags with bits other than LPA2/SVE/PMU set.
Status ValidateRealmParams(const RealmParams& params, size_t image_size);

// Bytes of realm memory for an image of `image_size` bytes: the image's
// granules (the last one zero padded) followed by the private memory, rounded
// up to whole granules.
size_t RealmMemorySize(size_t image_size, const RealmParams& params);

// One feature a backend may or may not offer.
enum class TeeFeature {
  kIsolation,          // host reads of realm memory fail
  kMeasurement,        // RIM computed at creation; ReadMeasurement
  kMeasurementExtend,  // REMs
  kAttestation,        // AttestationToken
  kSealing,            // Seal / Unseal
  kHostMemoryRead,     // HostRead returns the bytes (the host can see them)
  kCostModel,          // modeled overheads in TeeCost
};
std::string_view TeeFeatureName(TeeFeature feature);

struct TeeCapability {
  bool supported = false;
  std::string note;  // why not, or which variant ("simulated CPAK", ...)
};

struct TeeCapabilities {
  std::string backend;  // "none", "sim", "cca"
  std::map<TeeFeature, TeeCapability> features;
  bool Supports(TeeFeature f) const {
    auto it = features.find(f);
    return it != features.end() && it->second.supported;
  }
};

// Modeled realm overheads, accumulated per realm. Kept apart from measured
// wall time: the simulator does not slow anything down, it reports what the
// same work would have cost on the profiled platform.
struct TeeCost {
  std::string profile;         // cost profile name ("" for backends without one)
  uint64_t realm_entries = 0;  // REC enter/exit round trips
  uint64_t bytes_copied = 0;   // through shared (unprotected) memory
  uint64_t bytes_crypted = 0;  // encrypted or decrypted inside the realm
  uint64_t tokens = 0;         // attestation tokens generated
  double entry_exit_seconds = 0;
  double copy_seconds = 0;
  double crypto_seconds = 0;
  double attestation_seconds = 0;
  double total_seconds() const {
    return entry_exit_seconds + copy_seconds + crypto_seconds + attestation_seconds;
  }
};

// The services a realm's own code can call (RSI calls on CCA). Only valid
// during the Run that handed it out.
class RealmContext {
 public:
  virtual ~RealmContext() = default;

  // Index 0 is the RIM, 1..4 the REMs; the result has the realm's hash size.
  // InvalidArgument for another index.
  virtual StatusOr<std::vector<uint8_t>> ReadMeasurement(int index) = 0;
  // REM[index] = H(REM[index] || data). index 1..4, data at most 64 bytes,
  // else InvalidArgument.
  virtual Status ExtendMeasurement(int index, std::span<const uint8_t> data) = 0;
  // A CCA attestation token (tag 399 collection) for a 64-byte challenge;
  // InvalidArgument for another size.
  virtual StatusOr<std::vector<uint8_t>> AttestationToken(std::span<const uint8_t> challenge) = 0;
  // Authenticated encryption under a key only this realm (same RIM, RPV and
  // seal policy flags on the same platform) can derive.
  virtual StatusOr<std::vector<uint8_t>> Seal(std::span<const uint8_t> plaintext) = 0;
  // DataLoss for a blob sealed by another realm, tampered or truncated.
  virtual StatusOr<std::vector<uint8_t>> Unseal(std::span<const uint8_t> blob) = 0;
  // The realm's private memory: [load_ipa, load_ipa + memory_size()).
  // OutOfRange outside it.
  virtual Status WriteMemory(uint64_t ipa, std::span<const uint8_t> bytes) = 0;
  virtual StatusOr<std::vector<uint8_t>> ReadMemory(uint64_t ipa, size_t length) = 0;
  // Data crossing the realm boundary through shared memory (the copy and
  // the cost model's charge for it). Returns the bytes as seen on the other side.
  virtual std::vector<uint8_t> ReceiveFromHost(std::span<const uint8_t> bytes) = 0;
  virtual std::vector<uint8_t> SendToHost(std::span<const uint8_t> bytes) = 0;
  // Charges encryption/decryption of `bytes` done by the realm's own code
  // (e.g. its attested channel) to the cost model.
  virtual void ChargeCrypto(size_t bytes) = 0;
};

using RealmWork = std::function<Status(RealmContext&)>;

// A realm running one Program image. See the file comment for ownership.
class TeeRealm {
 public:
  virtual ~TeeRealm() = default;

  // Enters the realm on a free REC, runs `work` there and exits; returns
  // what `work` returns. Unavailable when every REC is busy,
  // FailedPrecondition when the realm no longer runs (it called SystemOff).
  virtual Status Run(const RealmWork& work) = 0;

  // The host reads the memory backing realm IPA [ipa, ipa+length).
  // sim/cca: PermissionDenied (granule protection fault). none: the bytes.
  virtual StatusOr<std::vector<uint8_t>> HostRead(uint64_t ipa, size_t length) = 0;

  // Size of the realm's memory (image granules + private memory), bytes.
  virtual size_t memory_size() const = 0;
  virtual const RealmParams& params() const = 0;
  virtual TeeCost cost() const = 0;

  // Conveniences for a single in-realm call: each enters the realm once.
  StatusOr<std::vector<uint8_t>> ReadMeasurement(int index);
  Status ExtendMeasurement(int index, std::span<const uint8_t> data);
  StatusOr<std::vector<uint8_t>> AttestationToken(std::span<const uint8_t> challenge);
  StatusOr<std::vector<uint8_t>> Seal(std::span<const uint8_t> plaintext);
  StatusOr<std::vector<uint8_t>> Unseal(std::span<const uint8_t> blob);
};

class TeeBackend {
 public:
  virtual ~TeeBackend() = default;

  virtual std::string_view name() const = 0;
  virtual TeeCapabilities capabilities() const = 0;

  // Loads `image` into a new realm (one 4 KiB DATA granule per image granule,
  // the last one zero padded), creates its RECs and activates it.
  // InvalidArgument for bad params (the message names the field);
  // ResourceExhausted when the platform is out of realm memory.
  virtual StatusOr<std::unique_ptr<TeeRealm>> CreateRealm(std::span<const uint8_t> image,
                                                          const RealmParams& params) = 0;
};

// Backend "none": a plain process. Nothing is isolated (HostRead returns the
// bytes), measured or attested: ReadMeasurement, ExtendMeasurement,
// AttestationToken, Seal and Unseal return Unimplemented, because no
// mechanism behind them exists (not FailedPrecondition: no state of the
// system would make them work).
std::unique_ptr<TeeBackend> NewNoneTeeBackend();

// Registry of backends by name ("none" is built in; confml::tee_sim adds
// "sim" with RegisterSimTeeBackend(), confml::cca_backend adds "cca").
using TeeBackendFactory = std::function<StatusOr<std::unique_ptr<TeeBackend>>(const ParamSet&)>;
Registry<TeeBackendFactory>& TeeBackendRegistry();

// Resolves `given` against the backend's declared parameters and builds it.
// NotFound (naming the known backends) for an unknown name.
StatusOr<std::unique_ptr<TeeBackend>> NewTeeBackend(
    std::string_view name, const std::map<std::string, ParamValue>& given = {});

}  // namespace confml
