// The RMM's measurement structures (DEN0137 1.0-rel0): the measured image of
// RmiRealmParams that initialises the RIM, and the 256-byte measurement
// descriptors (RmmMeasurementDescriptorData / Rec / Ripas) whose hash
// becomes the next RIM. All integers little-endian; the rim and content
// fields are 64 bytes wide, a SHA-256 value zero padded.
#pragma once

#include <array>
#include <cstdint>
#include <span>
#include <vector>

#include "confml/tee_sim/rmm.h"

namespace confml::tee_sim::internal {

inline constexpr size_t kDescriptorSize = 0x100;

std::vector<uint8_t> MeasureHash(RealmHashAlgorithm algorithm, std::span<const uint8_t> data);

// The 4 KiB RmiRealmParams with only the measured fields kept: flags (0x0),
// s2sz (0x8), sve_vl (0x10), num_bps (0x18), num_wps (0x20), pmu_num_ctrs
// (0x28), hash_algo (0x30). The RPV, VMID and RTT fields are zero.
std::array<uint8_t, 4096> MeasuredRealmParams(const RmiRealmParams& params);
// The 4 KiB RmiRecParams with flags (0x0), pc (0x200), gprs[0..7] (0x300) kept.
std::array<uint8_t, 4096> MeasuredRecParams(const RmiRecParams& params);

// desc_type 0: rim 0x10, ipa 0x50, flags 0x58, content 0x60 = H(granule)
// when flags has kRmiDataMeasureContent, else zero.
std::array<uint8_t, kDescriptorSize> DataDescriptor(RealmHashAlgorithm algorithm,
                                                    std::span<const uint8_t> rim, uint64_t ipa,
                                                    uint64_t flags,
                                                    std::span<const uint8_t> granule);
// desc_type 1: rim 0x10, content 0x50 = H(MeasuredRecParams).
std::array<uint8_t, kDescriptorSize> RecDescriptor(RealmHashAlgorithm algorithm,
                                                   std::span<const uint8_t> rim,
                                                   const RmiRecParams& params);
// desc_type 2: rim 0x10, base 0x50, top 0x58.
std::array<uint8_t, kDescriptorSize> RipasDescriptor(std::span<const uint8_t> rim, uint64_t base,
                                                     uint64_t top);

}  // namespace confml::tee_sim::internal
