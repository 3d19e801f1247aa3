// The RIM of a realm, recomputed here independently of the simulator: the
// descriptor bytes are laid out by hand from DEN0137 1.0-rel0 (RmiRealmParams
// B4.3.9.4, RmmMeasurementDescriptorData/Rec/Ripas) and hashed with OpenSSL.
#include <gtest/gtest.h>
#include <openssl/evp.h>

#include <cstring>
#include <vector>

#include "confml/core/tee_backend.h"
#include "confml/tee_sim/sim_backend.h"

namespace confml::tee_sim {
namespace {

using ByteVec = std::vector<uint8_t>;

ByteVec Digest(const EVP_MD* md, const ByteVec& data) {
  ByteVec out(EVP_MAX_MD_SIZE);
  unsigned int n = 0;
  EXPECT_EQ(EVP_Digest(data.data(), data.size(), out.data(), &n, md, nullptr), 1);
  out.resize(n);
  return out;
}

void Le64(ByteVec& buf, size_t off, uint64_t v) {
  for (int i = 0; i < 8; ++i) buf[off + i] = static_cast<uint8_t>(v >> (8 * i));
}

// A small realm as a VMM loads it: RIPAS over the memory, measured DATA per
// image granule, then one REC.
ByteVec ExpectedRim(const EVP_MD* md, uint8_t algo_code, const ByteVec& image,
                    const RealmParams& p) {
  // RmiRealmParams, 4 KiB, only the measured fields set.
  ByteVec params(4096, 0);
  Le64(params, 0x0, p.realm_flags);
  params[0x8] = p.ipa_width;
  params[0x10] = p.sve_vl;
  params[0x18] = p.num_bps;
  params[0x20] = p.num_wps;
  params[0x28] = p.pmu_num_ctrs;
  params[0x30] = algo_code;
  ByteVec rim = Digest(md, params);

  const size_t image_granules = (image.size() + 4095) / 4096;
  const size_t private_granules = (p.private_memory_bytes + 4095) / 4096;
  const uint64_t top = p.load_ipa + (image_granules + private_granules + 1) * 4096;

  auto descriptor = [&](uint8_t type) {
    ByteVec d(256, 0);
    d[0] = type;
    Le64(d, 0x8, 256);
    std::memcpy(&d[0x10], rim.data(), rim.size());
    return d;
  };
  {  // RIPAS descriptor
    ByteVec d = descriptor(2);
    Le64(d, 0x50, p.load_ipa);
    Le64(d, 0x58, top);
    rim = Digest(md, d);
  }
  for (size_t i = 0; i < image_granules; ++i) {
    ByteVec granule(4096, 0);
    const size_t n = std::min<size_t>(4096, image.size() - i * 4096);
    std::memcpy(granule.data(), image.data() + i * 4096, n);
    ByteVec d = descriptor(0);
    Le64(d, 0x50, p.load_ipa + i * 4096);
    Le64(d, 0x58, 1);  // RMI_MEASURE_CONTENT
    ByteVec content = Digest(md, granule);
    std::memcpy(&d[0x60], content.data(), content.size());
    rim = Digest(md, d);
  }
  {  // REC 0: RmiRecParams with flags (runnable), pc and gprs measured
    ByteVec rec(4096, 0);
    Le64(rec, 0x0, 1);
    Le64(rec, 0x200, p.entry_pc ? p.entry_pc : p.load_ipa);
    for (int i = 0; i < 8; ++i) Le64(rec, 0x300 + 8 * i, p.boot_gprs[i]);
    ByteVec d = descriptor(1);
    ByteVec content = Digest(md, rec);
    std::memcpy(&d[0x50], content.data(), content.size());
    rim = Digest(md, d);
  }
  return rim;
}

ByteVec Image(size_t n, uint8_t seed) {
  ByteVec img(n);
  for (size_t i = 0; i < n; ++i) img[i] = static_cast<uint8_t>(seed + i * 31 + (i >> 7));
  return img;
}

ByteVec SimRim(const ByteVec& image, const RealmParams& p) {
  StatusOr<std::vector<uint8_t>> rim = ComputeReferenceRim(image, p);
  EXPECT_TRUE(rim.ok()) << rim.status();
  return rim.ok() ? *rim : ByteVec{};
}

TEST(RimTest, MatchesIndependentComputationSha256) {
  RealmParams p;
  p.private_memory_bytes = 8192;
  p.boot_gprs = {0x1234, 0, 7, 0, 0, 0, 0, 0xfedcba9876543210};
  p.realm_flags = 0x2;  // SVE
  p.sve_vl = 3;
  const ByteVec image = Image(3 * 4096 + 100, 5);  // last granule zero padded
  const ByteVec expected = ExpectedRim(EVP_sha256(), 0, image, p);
  ASSERT_EQ(expected.size(), 32u);
  EXPECT_EQ(SimRim(image, p), expected);
}

TEST(RimTest, MatchesIndependentComputationSha512) {
  RealmParams p;
  p.hash_algorithm = RealmHashAlgorithm::kSha512;
  p.private_memory_bytes = 4096;
  p.load_ipa = 0x40000000;
  p.entry_pc = 0x40000800;
  const ByteVec image = Image(5000, 9);
  const ByteVec expected = ExpectedRim(EVP_sha512(), 1, image, p);
  ASSERT_EQ(expected.size(), 64u);
  EXPECT_EQ(SimRim(image, p), expected);
}

TEST(RimTest, EveryImageByteCountsAndTheRimIsStable) {
  RealmParams p;
  p.private_memory_bytes = 4096;
  const ByteVec image = Image(2 * 4096, 1);
  const ByteVec rim = SimRim(image, p);
  EXPECT_EQ(SimRim(image, p), rim);  // same image, same RIM
  for (size_t pos : {size_t{0}, size_t{4095}, size_t{4096}, image.size() - 1}) {
    ByteVec changed = image;
    changed[pos] ^= 0x01;
    EXPECT_NE(SimRim(changed, p), rim) << "byte " << pos;
  }
}

TEST(RimTest, MeasuredParametersChangeTheRimButTheRpvDoesNot) {
  RealmParams p;
  p.private_memory_bytes = 4096;
  const ByteVec image = Image(100, 2);
  const ByteVec rim = SimRim(image, p);
  RealmParams q = p;
  q.rpv[0] = 1;  // RMM 1.0: the RPV is reported, not measured
  EXPECT_EQ(SimRim(image, q), rim);
  q = p;
  q.ipa_width = 41;
  EXPECT_NE(SimRim(image, q), rim);
  q = p;
  q.load_ipa += 4096;
  EXPECT_NE(SimRim(image, q), rim);
  q = p;
  q.boot_gprs[0] = 1;
  EXPECT_NE(SimRim(image, q), rim);
  q = p;
  q.num_recs = 2;
  EXPECT_NE(SimRim(image, q), rim);
  q = p;
  q.measure_content = false;  // layout only: content no longer counts
  ByteVec other = image;
  other[0] ^= 0xff;
  EXPECT_NE(SimRim(image, q), rim);
  EXPECT_EQ(SimRim(other, q), SimRim(image, q));
}

}  // namespace
}  // namespace confml::tee_sim
