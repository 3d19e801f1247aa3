#include "measurement.h"

#include <algorithm>

#include "confml/core/crypto.h"

namespace confml::tee_sim::internal {
namespace {

void PutU64(std::span<uint8_t> buf, size_t offset, uint64_t v) {
  for (int i = 0; i < 8; ++i) buf[offset + i] = static_cast<uint8_t>(v >> (8 * i));
}

void PutBytes(std::span<uint8_t> buf, size_t offset, std::span<const uint8_t> bytes) {
  std::copy(bytes.begin(), bytes.end(), buf.begin() + offset);
}

std::array<uint8_t, kDescriptorSize> Header(uint8_t type, std::span<const uint8_t> rim) {
  std::array<uint8_t, kDescriptorSize> d{};
  d[0] = type;
  PutU64(d, 0x8, kDescriptorSize);
  PutBytes(d, 0x10, rim);
  return d;
}

}  // namespace

std::vector<uint8_t> MeasureHash(RealmHashAlgorithm algorithm, std::span<const uint8_t> data) {
  return Hash(algorithm == RealmHashAlgorithm::kSha512 ? HashAlg::kSha512 : HashAlg::kSha256, data);
}

std::array<uint8_t, 4096> MeasuredRealmParams(const RmiRealmParams& p) {
  std::array<uint8_t, 4096> page{};
  PutU64(page, 0x0, p.flags);
  page[0x8] = p.s2sz;
  page[0x10] = p.sve_vl;
  page[0x18] = p.num_bps;
  page[0x20] = p.num_wps;
  page[0x28] = p.pmu_num_ctrs;
  page[0x30] = static_cast<uint8_t>(p.hash_algo);
  return page;
}

std::array<uint8_t, 4096> MeasuredRecParams(const RmiRecParams& p) {
  std::array<uint8_t, 4096> page{};
  PutU64(page, 0x0, p.flags);
  PutU64(page, 0x200, p.pc);
  for (size_t i = 0; i < p.gprs.size(); ++i) PutU64(page, 0x300 + 8 * i, p.gprs[i]);
  return page;
}

std::array<uint8_t, kDescriptorSize> DataDescriptor(RealmHashAlgorithm algorithm,
                                                    std::span<const uint8_t> rim, uint64_t ipa,
                                                    uint64_t flags,
                                                    std::span<const uint8_t> granule) {
  std::array<uint8_t, kDescriptorSize> d = Header(0, rim);
  PutU64(d, 0x50, ipa);
  PutU64(d, 0x58, flags);
  if (flags & kRmiDataMeasureContent) PutBytes(d, 0x60, MeasureHash(algorithm, granule));
  return d;
}

std::array<uint8_t, kDescriptorSize> RecDescriptor(RealmHashAlgorithm algorithm,
                                                   std::span<const uint8_t> rim,
                                                   const RmiRecParams& params) {
  std::array<uint8_t, kDescriptorSize> d = Header(1, rim);
  PutBytes(d, 0x50, MeasureHash(algorithm, MeasuredRecParams(params)));
  return d;
}

std::array<uint8_t, kDescriptorSize> RipasDescriptor(std::span<const uint8_t> rim, uint64_t base,
                                                     uint64_t top) {
  std::array<uint8_t, kDescriptorSize> d = Header(2, rim);
  PutU64(d, 0x50, base);
  PutU64(d, 0x58, top);
  return d;
}

}  // namespace confml::tee_sim::internal
