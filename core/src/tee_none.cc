// Backend "none": the baseline where a realm is just memory of the host
// process. It exists so that every experiment can run without a TEE and show
// what the attacks achieve when nothing stops them.
#include <mutex>
#include <string>

#include "confml/core/tee_backend.h"

namespace confml {
namespace {

Status NoTee(std::string_view what) {
  return UnimplementedError(std::string(what) +
                            " is not available on TEE backend 'none' (no realm, nothing measured)");
}

class NoneRealm;

class NoneContext final : public RealmContext {
 public:
  explicit NoneContext(NoneRealm& realm) : realm_(realm) {}
  StatusOr<std::vector<uint8_t>> ReadMeasurement(int) override { return NoTee("ReadMeasurement"); }
  Status ExtendMeasurement(int, std::span<const uint8_t>) override {
    return NoTee("ExtendMeasurement");
  }
  StatusOr<std::vector<uint8_t>> AttestationToken(std::span<const uint8_t>) override {
    return NoTee("AttestationToken");
  }
  StatusOr<std::vector<uint8_t>> Seal(std::span<const uint8_t>) override { return NoTee("Seal"); }
  StatusOr<std::vector<uint8_t>> Unseal(std::span<const uint8_t>) override {
    return NoTee("Unseal");
  }
  Status WriteMemory(uint64_t ipa, std::span<const uint8_t> bytes) override;
  StatusOr<std::vector<uint8_t>> ReadMemory(uint64_t ipa, size_t length) override;
  std::vector<uint8_t> ReceiveFromHost(std::span<const uint8_t> b) override {
    return {b.begin(), b.end()};
  }
  std::vector<uint8_t> SendToHost(std::span<const uint8_t> b) override {
    return {b.begin(), b.end()};
  }
  void ChargeCrypto(size_t) override {}

 private:
  NoneRealm& realm_;
};

class NoneRealm final : public TeeRealm {
 public:
  NoneRealm(std::span<const uint8_t> image, const RealmParams& params) : params_(params) {
    memory_.assign(RealmMemorySize(image.size(), params), 0);
    std::copy(image.begin(), image.end(), memory_.begin());
  }

  Status Run(const RealmWork& work) override {
    NoneContext ctx(*this);
    return work(ctx);
  }

  StatusOr<std::vector<uint8_t>> HostRead(uint64_t ipa, size_t length) override {
    return Read(ipa, length);
  }

  size_t memory_size() const override { return memory_.size(); }
  const RealmParams& params() const override { return params_; }
  TeeCost cost() const override { return TeeCost{}; }

  Status Write(uint64_t ipa, std::span<const uint8_t> bytes) {
    CONFML_RETURN_IF_ERROR(CheckRange(ipa, bytes.size()));
    std::lock_guard<std::mutex> lock(mu_);
    std::copy(bytes.begin(), bytes.end(), memory_.begin() + (ipa - params_.load_ipa));
    return OkStatus();
  }

  StatusOr<std::vector<uint8_t>> Read(uint64_t ipa, size_t length) {
    CONFML_RETURN_IF_ERROR(CheckRange(ipa, length));
    std::lock_guard<std::mutex> lock(mu_);
    auto begin = memory_.begin() + (ipa - params_.load_ipa);
    return std::vector<uint8_t>(begin, begin + length);
  }

 private:
  Status CheckRange(uint64_t ipa, size_t length) const {
    if (ipa < params_.load_ipa || ipa - params_.load_ipa > memory_.size() ||
        length > memory_.size() - (ipa - params_.load_ipa)) {
      return OutOfRangeError("realm memory access [" + std::to_string(ipa) + ", +" +
                             std::to_string(length) + ") is outside the realm's " +
                             std::to_string(memory_.size()) + " bytes at IPA " +
                             std::to_string(params_.load_ipa));
    }
    return OkStatus();
  }

  RealmParams params_;
  std::mutex mu_;
  std::vector<uint8_t> memory_;
};

Status NoneContext::WriteMemory(uint64_t ipa, std::span<const uint8_t> bytes) {
  return realm_.Write(ipa, bytes);
}
StatusOr<std::vector<uint8_t>> NoneContext::ReadMemory(uint64_t ipa, size_t length) {
  return realm_.Read(ipa, length);
}

class NoneBackend final : public TeeBackend {
 public:
  std::string_view name() const override { return "none"; }

  TeeCapabilities capabilities() const override {
    TeeCapabilities caps;
    caps.backend = "none";
    const std::string why = "backend 'none' runs in the host process";
    caps.features[TeeFeature::kIsolation] = {false, why + "; the host reads everything"};
    caps.features[TeeFeature::kMeasurement] = {false, why};
    caps.features[TeeFeature::kMeasurementExtend] = {false, why};
    caps.features[TeeFeature::kAttestation] = {false, why};
    caps.features[TeeFeature::kSealing] = {false, why};
    caps.features[TeeFeature::kHostMemoryRead] = {true, "plain memory"};
    caps.features[TeeFeature::kCostModel] = {false, "no realm overheads exist"};
    return caps;
  }

  StatusOr<std::unique_ptr<TeeRealm>> CreateRealm(std::span<const uint8_t> image,
                                                  const RealmParams& params) override {
    CONFML_RETURN_IF_ERROR(ValidateRealmParams(params, image.size()));
    return std::unique_ptr<TeeRealm>(new NoneRealm(image, params));
  }
};

}  // namespace

std::unique_ptr<TeeBackend> NewNoneTeeBackend() { return std::make_unique<NoneBackend>(); }

}  // namespace confml
