// Out-of-line parts of the TeeBackend interface shared by every backend.
#include "confml/core/tee_backend.h"

#include <cstdio>
#include <string>

namespace confml {

std::string_view RealmHashAlgorithmName(RealmHashAlgorithm algorithm) {
  switch (algorithm) {
    case RealmHashAlgorithm::kSha256:
      return "sha-256";
    case RealmHashAlgorithm::kSha512:
      return "sha-512";
  }
  return "unknown";
}

size_t RealmHashSize(RealmHashAlgorithm algorithm) {
  return algorithm == RealmHashAlgorithm::kSha512 ? 64 : 32;
}

std::string_view TeeFeatureName(TeeFeature feature) {
  switch (feature) {
    case TeeFeature::kIsolation:
      return "isolation";
    case TeeFeature::kMeasurement:
      return "measurement";
    case TeeFeature::kMeasurementExtend:
      return "measurement_extend";
    case TeeFeature::kAttestation:
      return "attestation";
    case TeeFeature::kSealing:
      return "sealing";
    case TeeFeature::kHostMemoryRead:
      return "host_memory_read";
    case TeeFeature::kCostModel:
      return "cost_model";
  }
  return "unknown";
}

size_t RealmMemorySize(size_t image_size, const RealmParams& params) {
  auto granules = [](size_t bytes) { return (bytes + kTeeGranuleSize - 1) / kTeeGranuleSize; };
  return (granules(image_size) + granules(params.private_memory_bytes)) * kTeeGranuleSize;
}

Status ValidateRealmParams(const RealmParams& p, size_t image_size) {
  if (p.hash_algorithm != RealmHashAlgorithm::kSha256 &&
      p.hash_algorithm != RealmHashAlgorithm::kSha512) {
    return InvalidArgumentError("RealmParams.hash_algorithm: must be SHA-256 or SHA-512");
  }
  if (p.ipa_width < 32 || p.ipa_width > 48) {
    return InvalidArgumentError("RealmParams.ipa_width: " + std::to_string(p.ipa_width) +
                                " is outside 32..48");
  }
  if (p.realm_flags & ~uint64_t{0x7}) {
    return InvalidArgumentError("RealmParams.realm_flags: only bits 0..2 (LPA2, SVE, PMU) exist");
  }
  if (p.load_ipa % kTeeGranuleSize != 0) {
    return InvalidArgumentError("RealmParams.load_ipa: not aligned to the 4 KiB granule");
  }
  if (p.num_recs < 1 || p.num_recs > 64) {
    return InvalidArgumentError("RealmParams.num_recs: " + std::to_string(p.num_recs) +
                                " is outside 1..64");
  }
  // The protected IPA space is the lower half; the top bit selects the
  // unprotected (shared) alias.
  const uint64_t protected_top = uint64_t{1} << (p.ipa_width - 1);
  const uint64_t granules = RealmMemorySize(image_size, p) / kTeeGranuleSize;
  if (p.load_ipa >= protected_top || granules > (protected_top - p.load_ipa) / kTeeGranuleSize) {
    char top[32];
    std::snprintf(top, sizeof top, "0x%llx", static_cast<unsigned long long>(protected_top));
    return InvalidArgumentError(
        "RealmParams.load_ipa: image and private memory do not fit below the protected IPA top " +
        std::string(top));
  }
  return OkStatus();
}

namespace {
StatusOr<std::vector<uint8_t>> RunOne(
    TeeRealm& realm, const std::function<StatusOr<std::vector<uint8_t>>(RealmContext&)>& f) {
  std::vector<uint8_t> out;
  CONFML_RETURN_IF_ERROR(realm.Run([&](RealmContext& ctx) -> Status {
    CONFML_ASSIGN_OR_RETURN(out, f(ctx));
    return OkStatus();
  }));
  return out;
}
}  // namespace

StatusOr<std::vector<uint8_t>> TeeRealm::ReadMeasurement(int index) {
  return RunOne(*this, [&](RealmContext& ctx) { return ctx.ReadMeasurement(index); });
}

Status TeeRealm::ExtendMeasurement(int index, std::span<const uint8_t> data) {
  return Run([&](RealmContext& ctx) { return ctx.ExtendMeasurement(index, data); });
}

StatusOr<std::vector<uint8_t>> TeeRealm::AttestationToken(std::span<const uint8_t> challenge) {
  return RunOne(*this, [&](RealmContext& ctx) { return ctx.AttestationToken(challenge); });
}

StatusOr<std::vector<uint8_t>> TeeRealm::Seal(std::span<const uint8_t> plaintext) {
  return RunOne(*this, [&](RealmContext& ctx) { return ctx.Seal(plaintext); });
}

StatusOr<std::vector<uint8_t>> TeeRealm::Unseal(std::span<const uint8_t> blob) {
  return RunOne(*this, [&](RealmContext& ctx) { return ctx.Unseal(blob); });
}

Registry<TeeBackendFactory>& TeeBackendRegistry() {
  static Registry<TeeBackendFactory>* registry = [] {
    auto* r = new Registry<TeeBackendFactory>("tee_backend");
    Status s = r->Add(
        ComponentSpec{
            "tee_backend", "none", "A plain process: nothing isolated, measured or attested.", {}},
        [](const ParamSet&) -> StatusOr<std::unique_ptr<TeeBackend>> {
          return NewNoneTeeBackend();
        });
    (void)s;  // Cannot fail on an empty registry.
    return r;
  }();
  return *registry;
}

StatusOr<std::unique_ptr<TeeBackend>> NewTeeBackend(
    std::string_view name, const std::map<std::string, ParamValue>& given) {
  CONFML_ASSIGN_OR_RETURN(const auto* entry, TeeBackendRegistry().Lookup(name));
  CONFML_ASSIGN_OR_RETURN(ParamSet params, ResolveParams(entry->spec, given));
  return entry->factory(params);
}

}  // namespace confml
