// TeeBackend "cca": see cca_backend.h for what is real and what the kernel
// does not expose.
#include "confml/cca_backend/cca_backend.h"

#include <algorithm>
#include <atomic>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "confml/core/cca_token.h"
#include "confml/core/crypto.h"
#include "confml/core/params.h"

namespace confml::cca_backend {
namespace {

constexpr const char* kNoExtend =
    "cca: RSI_MEASUREMENT_EXTEND is not exposed to user space by the Linux kernel "
    "(configfs-tsm offers attestation reports only)";
constexpr const char* kNoSealing =
    "cca: no sealing-key derivation exists in the CCA 1.0 RSI and the kernel exposes none";
constexpr const char* kNoHostRead =
    "cca: confml runs inside the realm and cannot read realm memory as the host; on hardware "
    "the host's access faults (granule protection check)";

class CcaBackend;

// Shared by the backend and its realms: the token source.
class TokenSource {
 public:
  TokenSource(ConfigfsTsmOptions o, std::optional<Bytes> measurement_read_challenge)
      : tsm_(std::move(o)), measurement_read_challenge_(std::move(measurement_read_challenge)) {}

  // A token for `challenge`, decoded and checked to answer that challenge.
  StatusOr<std::pair<Bytes, CcaToken>> Get(ByteSpan challenge) {
    if (challenge.size() != kTeeChallengeSize) {
      return InvalidArgumentError("cca: the attestation challenge must be " +
                                  std::to_string(kTeeChallengeSize) + " bytes, got " +
                                  std::to_string(challenge.size()));
    }
    CONFML_ASSIGN_OR_RETURN(TsmReport report, tsm_.GetReport(challenge));
    StatusOr<CcaToken> token = DecodeCcaToken(report.outblob);
    if (!token.ok()) {
      return DataLossError("cca: " + report.instance +
                           "/outblob is not a CCA attestation token: " + token.status().message());
    }
    // The generation check cannot see a writer who raced us between our
    // generation read and our write; the token's own challenge can.
    if (!ConstantTimeEqual(token->realm.challenge, challenge)) {
      return AbortedError("cca: " + report.instance +
                          "/outblob answers another challenge than the one written (a concurrent "
                          "writer replaced the request)");
    }
    tokens_.fetch_add(1);
    return std::make_pair(std::move(report.outblob), *std::move(token));
  }

  Status Probe() const { return tsm_.Probe(); }
  StatusOr<Bytes> MeasurementReadChallenge() const {
    if (measurement_read_challenge_) return *measurement_read_challenge_;
    return RandomBytes(kTeeChallengeSize);
  }
  uint64_t tokens() const { return tokens_.load(); }

 private:
  ConfigfsTsm tsm_;
  std::optional<Bytes> measurement_read_challenge_;
  std::atomic<uint64_t> tokens_{0};
};

class CcaRealm;

class CcaContext : public RealmContext {
 public:
  explicit CcaContext(CcaRealm& realm) : realm_(realm) {}

  StatusOr<std::vector<uint8_t>> ReadMeasurement(int index) override;
  Status ExtendMeasurement(int index, std::span<const uint8_t>) override {
    if (index < 1 || index > kTeeNumRems) {
      return InvalidArgumentError("cca: REM index " + std::to_string(index) + " is outside 1..4");
    }
    return UnimplementedError(kNoExtend);
  }
  StatusOr<std::vector<uint8_t>> AttestationToken(std::span<const uint8_t> challenge) override;
  StatusOr<std::vector<uint8_t>> Seal(std::span<const uint8_t>) override {
    return UnimplementedError(kNoSealing);
  }
  StatusOr<std::vector<uint8_t>> Unseal(std::span<const uint8_t>) override {
    return UnimplementedError(kNoSealing);
  }
  Status WriteMemory(uint64_t ipa, std::span<const uint8_t> bytes) override;
  StatusOr<std::vector<uint8_t>> ReadMemory(uint64_t ipa, size_t length) override;
  // No shared buffer is under our control here (real I/O goes through the
  // guest kernel's virtio drivers), so crossing the boundary is a copy.
  std::vector<uint8_t> ReceiveFromHost(std::span<const uint8_t> bytes) override {
    return {bytes.begin(), bytes.end()};
  }
  std::vector<uint8_t> SendToHost(std::span<const uint8_t> bytes) override {
    return {bytes.begin(), bytes.end()};
  }
  void ChargeCrypto(size_t) override {}  // no cost model: time is real

 private:
  CcaRealm& realm_;
};

class CcaRealm : public TeeRealm {
 public:
  CcaRealm(TokenSource& tokens, std::span<const uint8_t> image, const RealmParams& params)
      : tokens_(tokens), params_(params) {
    memory_.assign(RealmMemorySize(image.size(), params), 0);
    std::copy(image.begin(), image.end(), memory_.begin());
  }

  Status Run(const RealmWork& work) override {
    CcaContext ctx(*this);
    return work(ctx);
  }
  StatusOr<std::vector<uint8_t>> HostRead(uint64_t, size_t) override {
    return UnimplementedError(kNoHostRead);
  }
  size_t memory_size() const override { return memory_.size(); }
  const RealmParams& params() const override { return params_; }
  TeeCost cost() const override {
    TeeCost c;
    c.tokens = tokens_.tokens();
    return c;
  }

  TokenSource& tokens() { return tokens_; }

  Status CheckRange(uint64_t ipa, size_t length) const {
    if (ipa < params_.load_ipa || ipa - params_.load_ipa > memory_.size() ||
        length > memory_.size() - (ipa - params_.load_ipa)) {
      return OutOfRangeError("cca: realm memory access [" + std::to_string(ipa) + ", +" +
                             std::to_string(length) + ") is outside the realm's private memory");
    }
    return OkStatus();
  }
  Status Write(uint64_t ipa, std::span<const uint8_t> bytes) {
    CONFML_RETURN_IF_ERROR(CheckRange(ipa, bytes.size()));
    std::lock_guard<std::mutex> lock(mu_);
    std::copy(bytes.begin(), bytes.end(), memory_.begin() + (ipa - params_.load_ipa));
    return OkStatus();
  }
  StatusOr<std::vector<uint8_t>> Read(uint64_t ipa, size_t length) {
    CONFML_RETURN_IF_ERROR(CheckRange(ipa, length));
    std::lock_guard<std::mutex> lock(mu_);
    auto begin = memory_.begin() + static_cast<std::ptrdiff_t>(ipa - params_.load_ipa);
    return std::vector<uint8_t>(begin, begin + static_cast<std::ptrdiff_t>(length));
  }

 private:
  TokenSource& tokens_;
  RealmParams params_;
  std::mutex mu_;
  std::vector<uint8_t> memory_;
};

StatusOr<std::vector<uint8_t>> CcaContext::ReadMeasurement(int index) {
  if (index < 0 || index > kTeeNumRems) {
    return InvalidArgumentError("cca: measurement index " + std::to_string(index) +
                                " is outside 0..4");
  }
  // RSI_MEASUREMENT_READ is not reachable from user space, but the token
  // carries the same values.
  CONFML_ASSIGN_OR_RETURN(Bytes challenge, realm_.tokens().MeasurementReadChallenge());
  CONFML_ASSIGN_OR_RETURN(auto token, realm_.tokens().Get(challenge));
  const RealmClaims& claims = token.second.realm;
  return index == 0 ? claims.rim : claims.rems[static_cast<size_t>(index - 1)];
}

StatusOr<std::vector<uint8_t>> CcaContext::AttestationToken(std::span<const uint8_t> challenge) {
  CONFML_ASSIGN_OR_RETURN(auto token, realm_.tokens().Get(challenge));
  return std::move(token.first);
}

Status CcaContext::WriteMemory(uint64_t ipa, std::span<const uint8_t> bytes) {
  return realm_.Write(ipa, bytes);
}

StatusOr<std::vector<uint8_t>> CcaContext::ReadMemory(uint64_t ipa, size_t length) {
  return realm_.Read(ipa, length);
}

class CcaBackend : public TeeBackend {
 public:
  explicit CcaBackend(CcaOptions o)
      : root_(o.tsm.root), tokens_(std::move(o.tsm), std::move(o.measurement_read_challenge)) {}

  std::string_view name() const override { return "cca"; }

  TeeCapabilities capabilities() const override {
    TeeCapabilities caps;
    caps.backend = "cca";
    caps.features[TeeFeature::kIsolation] = {
        true, "enforced by the RME hardware (granule protection), not by confml"};
    caps.features[TeeFeature::kMeasurement] = {
        true, "RIM/REMs read from the claims of a fresh attestation token"};
    caps.features[TeeFeature::kMeasurementExtend] = {false, kNoExtend};
    caps.features[TeeFeature::kAttestation] = {
        true, "configfs-tsm at " + root_ + " (provider arm_cca_guest)"};
    caps.features[TeeFeature::kSealing] = {false, kNoSealing};
    caps.features[TeeFeature::kHostMemoryRead] = {false, kNoHostRead};
    caps.features[TeeFeature::kCostModel] = {false, "real hardware: measured times are real"};
    return caps;
  }

  StatusOr<std::unique_ptr<TeeRealm>> CreateRealm(std::span<const uint8_t> image,
                                                  const RealmParams& params) override {
    CONFML_RETURN_IF_ERROR(ValidateRealmParams(params, image.size()));
    CONFML_RETURN_IF_ERROR(tokens_.Probe());
    return std::unique_ptr<TeeRealm>(new CcaRealm(tokens_, image, params));
  }

 private:
  std::string root_;
  TokenSource tokens_;
};

}  // namespace

std::unique_ptr<TeeBackend> NewCcaTeeBackend(CcaOptions options) {
  return std::make_unique<CcaBackend>(std::move(options));
}

Status RegisterCcaTeeBackend() {
  static std::once_flag once;
  static Status result;
  std::call_once(once, [] {
    ComponentSpec spec{
        "tee_backend",
        "cca",
        "A real Arm CCA realm (confml runs inside it): tokens from Linux configfs-tsm; no "
        "measurement extend, sealing or host reads (the kernel does not expose them).",
        {Param::String("configfs_root", std::string(kDefaultConfigfsTsmRoot),
                       "configfs-tsm mount point (tests point it at a directory).")}};
    result = TeeBackendRegistry().Add(
        std::move(spec), [](const ParamSet& p) -> StatusOr<std::unique_ptr<TeeBackend>> {
          CcaOptions o;
          o.tsm.root = p.String("configfs_root");
          return NewCcaTeeBackend(std::move(o));
        });
  });
  return result;
}

}  // namespace confml::cca_backend
