// The RMM model's per-state rules, RSI measurement calls, token pieces and
// granule protection, driven through RMI directly as a host would.
#include "confml/tee_sim/rmm.h"

#include <gtest/gtest.h>
#include <openssl/evp.h>

#include <vector>

#include "confml/core/cca_token.h"

namespace confml::tee_sim {
namespace {

constexpr uint64_t kIpa = 0x80000000;

// A host that builds one realm step by step.
class RmmTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto rmm = Rmm::Create(RmmOptions{});
    ASSERT_TRUE(rmm.ok()) << rmm.status();
    rmm_ = *std::move(rmm);
  }

  uint64_t Delegated() {
    uint64_t pa = *rmm_->HostAllocGranule();
    EXPECT_EQ(rmm_->GranuleDelegate(pa), RmiStatus::kSuccess);
    return pa;
  }

  uint64_t Staged(uint8_t fill) {
    uint64_t pa = *rmm_->HostAllocGranule();
    std::vector<uint8_t> bytes(4096, fill);
    EXPECT_TRUE(rmm_->HostWrite(pa, bytes).ok());
    return pa;
  }

  // NEW realm with RIPAS over 4 granules, one measured DATA granule at kIpa,
  // an unmeasured one after it, and one REC.
  void BuildNewRealm(RealmHashAlgorithm algo = RealmHashAlgorithm::kSha256) {
    rd_ = Delegated();
    RmiRealmParams p;
    p.hash_algo = algo;
    p.rpv[0] = 0x42;
    ASSERT_EQ(rmm_->RealmCreate(rd_, p), RmiStatus::kSuccess);
    ASSERT_EQ(rmm_->RttInitRipas(rd_, kIpa, kIpa + 4 * 4096), RmiStatus::kSuccess);
    data_ = Delegated();
    ASSERT_EQ(rmm_->DataCreate(rd_, data_, kIpa, Staged(0xAB), kRmiDataMeasureContent),
              RmiStatus::kSuccess);
    buf_ = Delegated();
    ASSERT_EQ(rmm_->DataCreateUnknown(rd_, buf_, kIpa + 4096), RmiStatus::kSuccess);
    rec_ = Delegated();
    RmiRecParams rp;
    rp.flags = kRmiRecRunnable;
    rp.pc = kIpa;
    ASSERT_EQ(rmm_->RecCreate(rd_, rec_, rp), RmiStatus::kSuccess);
  }

  std::vector<uint8_t> Read(uint64_t index) {
    std::array<uint8_t, 64> v{};
    RsiStatus st = RsiStatus::kErrorState;
    EXPECT_EQ(rmm_->RecEnter(rec_, [&](RecContext& cpu) { st = cpu.RsiMeasurementRead(index, v); }),
              RmiStatus::kSuccess);
    EXPECT_EQ(st, RsiStatus::kSuccess);
    return {v.begin(), v.end()};
  }

  std::unique_ptr<Rmm> rmm_;
  uint64_t rd_ = 0, data_ = 0, buf_ = 0, rec_ = 0;
};

TEST_F(RmmTest, RealmStatesFollowTheSpecification) {
  BuildNewRealm();
  EXPECT_EQ(rmm_->realm_state(rd_), RealmState::kNew);
  // A NEW realm cannot run.
  EXPECT_EQ(rmm_->RecEnter(rec_, [](RecContext&) {}), RmiStatus::kErrorRealm);
  ASSERT_EQ(rmm_->RealmActivate(rd_), RmiStatus::kSuccess);
  EXPECT_EQ(rmm_->realm_state(rd_), RealmState::kActive);
  EXPECT_EQ(rmm_->RealmActivate(rd_), RmiStatus::kErrorRealm);

  // After activation the RIM is frozen: no measured DATA, REC or RIPAS.
  const std::vector<uint8_t> rim = Read(0);
  EXPECT_EQ(rmm_->DataCreate(rd_, Delegated(), kIpa + 2 * 4096, Staged(1), kRmiDataMeasureContent),
            RmiStatus::kErrorRealm);
  RmiRecParams rp;
  rp.flags = kRmiRecRunnable;
  rp.mpidr = 1;
  EXPECT_EQ(rmm_->RecCreate(rd_, Delegated(), rp), RmiStatus::kErrorRealm);
  EXPECT_EQ(rmm_->RttInitRipas(rd_, kIpa + 8 * 4096, kIpa + 9 * 4096), RmiStatus::kErrorRealm);
  EXPECT_EQ(Read(0), rim);
  // Unmeasured memory may still be added to an ACTIVE realm.
  EXPECT_EQ(rmm_->DataCreateUnknown(rd_, Delegated(), kIpa + 2 * 4096), RmiStatus::kSuccess);
  EXPECT_EQ(Read(0), rim);

  // PSCI SYSTEM_OFF from inside: no REC runs again.
  ASSERT_EQ(rmm_->RecEnter(rec_, [](RecContext& cpu) { cpu.PsciSystemOff(); }),
            RmiStatus::kSuccess);
  EXPECT_EQ(rmm_->realm_state(rd_), RealmState::kSystemOff);
  EXPECT_EQ(rmm_->RecEnter(rec_, [](RecContext&) {}), RmiStatus::kErrorRealm);

  // Destroy: only once no REC and no DATA granule is left.
  EXPECT_EQ(rmm_->RealmDestroy(rd_), RmiStatus::kErrorRealm);
  EXPECT_EQ(rmm_->RecDestroy(rec_), RmiStatus::kSuccess);
  EXPECT_EQ(rmm_->RealmDestroy(rd_), RmiStatus::kErrorRealm);
  for (uint64_t ipa : {kIpa, kIpa + 4096, kIpa + 2 * 4096}) {
    EXPECT_EQ(rmm_->DataDestroy(rd_, ipa), RmiStatus::kSuccess);
  }
  EXPECT_EQ(rmm_->DataDestroy(rd_, kIpa), RmiStatus::kErrorRtt);
  EXPECT_EQ(rmm_->RealmDestroy(rd_), RmiStatus::kSuccess);
  EXPECT_EQ(rmm_->realm_state(rd_), std::nullopt);
  EXPECT_EQ(rmm_->granule_state(rd_), GranuleState::kDelegated);
}

TEST_F(RmmTest, InputAndRttErrors) {
  const uint64_t undelegated = *rmm_->HostAllocGranule();
  EXPECT_EQ(rmm_->RealmCreate(undelegated, RmiRealmParams{}), RmiStatus::kErrorInput);
  RmiRealmParams bad;
  bad.s2sz = 60;
  EXPECT_EQ(rmm_->RealmCreate(Delegated(), bad), RmiStatus::kErrorInput);
  EXPECT_EQ(rmm_->GranuleDelegate(undelegated + 8), RmiStatus::kErrorInput);  // unaligned

  BuildNewRealm();
  // Same VMID twice.
  EXPECT_EQ(rmm_->RealmCreate(Delegated(), RmiRealmParams{}), RmiStatus::kErrorInput);
  // Mapping the same IPA twice is an RTT error; an unaligned IPA an input error.
  EXPECT_EQ(rmm_->DataCreate(rd_, Delegated(), kIpa, Staged(2), 0), RmiStatus::kErrorRtt);
  EXPECT_EQ(rmm_->DataCreate(rd_, Delegated(), kIpa + 2 * 4096 + 16, Staged(2), 0),
            RmiStatus::kErrorInput);
  // Source must be non-secure, target delegated, flags known.
  EXPECT_EQ(rmm_->DataCreate(rd_, Delegated(), kIpa + 2 * 4096, Delegated(), 0),
            RmiStatus::kErrorInput);
  EXPECT_EQ(rmm_->DataCreate(rd_, *rmm_->HostAllocGranule(), kIpa + 2 * 4096, Staged(2), 0),
            RmiStatus::kErrorInput);
  EXPECT_EQ(rmm_->DataCreate(rd_, Delegated(), kIpa + 2 * 4096, Staged(2), 2),
            RmiStatus::kErrorInput);
  // IPA in the unprotected half.
  EXPECT_EQ(rmm_->DataCreate(rd_, Delegated(), uint64_t{1} << 39, Staged(2), 0),
            RmiStatus::kErrorInput);
  // RIPAS over mapped memory.
  EXPECT_EQ(rmm_->RttInitRipas(rd_, kIpa, kIpa + 4096), RmiStatus::kErrorRtt);
  // RECs come in MPIDR order.
  RmiRecParams rp;
  rp.mpidr = 5;
  EXPECT_EQ(rmm_->RecCreate(rd_, Delegated(), rp), RmiStatus::kErrorInput);
  // A delegated granule in use cannot be undelegated.
  EXPECT_EQ(rmm_->GranuleUndelegate(data_), RmiStatus::kErrorInput);
}

TEST_F(RmmTest, RecRules) {
  BuildNewRealm();
  RmiRecParams rp;
  rp.mpidr = 1;  // not runnable
  const uint64_t sleeper = Delegated();
  ASSERT_EQ(rmm_->RecCreate(rd_, sleeper, rp), RmiStatus::kSuccess);
  ASSERT_EQ(rmm_->RealmActivate(rd_), RmiStatus::kSuccess);
  EXPECT_EQ(rmm_->RecEnter(sleeper, [](RecContext&) {}), RmiStatus::kErrorRec);
  RmiStatus nested = RmiStatus::kSuccess, destroy = RmiStatus::kSuccess;
  ASSERT_EQ(rmm_->RecEnter(rec_,
                           [&](RecContext&) {
                             nested = rmm_->RecEnter(rec_, [](RecContext&) {});
                             destroy = rmm_->RecDestroy(rec_);
                           }),
            RmiStatus::kSuccess);
  EXPECT_EQ(nested, RmiStatus::kErrorRec);   // already running
  EXPECT_EQ(destroy, RmiStatus::kErrorRec);  // in use
}

TEST_F(RmmTest, HostCannotReadRealmGranules) {
  BuildNewRealm();
  const uint64_t ns = Staged(0x5A);
  StatusOr<std::vector<uint8_t>> ok = rmm_->HostRead(ns + 10, 4);
  ASSERT_TRUE(ok.ok());
  EXPECT_EQ(*ok, std::vector<uint8_t>(4, 0x5A));
  for (uint64_t pa : {rd_, data_, buf_, rec_}) {
    EXPECT_EQ(rmm_->HostRead(pa, 16).status().code(), StatusCode::kPermissionDenied);
    EXPECT_EQ(rmm_->HostWrite(pa, std::vector<uint8_t>(4, 0)).code(),
              StatusCode::kPermissionDenied);
  }
  // A read straddling a non-secure and a realm granule faults as well.
  const uint64_t left = Staged(0x01);
  const uint64_t right = Delegated();
  ASSERT_EQ(right, left + 4096);
  EXPECT_TRUE(rmm_->HostRead(left + 4000, 96).ok());
  EXPECT_EQ(rmm_->HostRead(left + 4000, 200).status().code(), StatusCode::kPermissionDenied);
  // Back in the non-secure world the contents are scrubbed.
  ASSERT_EQ(rmm_->DataDestroy(rd_, kIpa), RmiStatus::kSuccess);
  ASSERT_EQ(rmm_->GranuleUndelegate(data_), RmiStatus::kSuccess);
  StatusOr<std::vector<uint8_t>> scrubbed = rmm_->HostRead(data_, 4096);
  ASSERT_TRUE(scrubbed.ok());
  EXPECT_EQ(*scrubbed, std::vector<uint8_t>(4096, 0));
}

std::vector<uint8_t> Hash(const EVP_MD* md, const std::vector<uint8_t>& data) {
  std::vector<uint8_t> out(EVP_MAX_MD_SIZE);
  unsigned int n = 0;
  EVP_Digest(data.data(), data.size(), out.data(), &n, md, nullptr);
  out.resize(n);
  return out;
}

TEST_F(RmmTest, MeasurementExtendAndRead) {
  for (RealmHashAlgorithm algo : {RealmHashAlgorithm::kSha256, RealmHashAlgorithm::kSha512}) {
    SetUp();
    BuildNewRealm(algo);
    ASSERT_EQ(rmm_->RealmActivate(rd_), RmiStatus::kSuccess);
    const EVP_MD* md = algo == RealmHashAlgorithm::kSha256 ? EVP_sha256() : EVP_sha512();
    const size_t hs = algo == RealmHashAlgorithm::kSha256 ? 32 : 64;
    EXPECT_EQ(Read(2), std::vector<uint8_t>(64, 0));  // REMs start at zero

    std::array<uint8_t, 64> value{};
    for (size_t i = 0; i < 64; ++i) value[i] = static_cast<uint8_t>(i + 1);
    std::vector<RsiStatus> st;
    ASSERT_EQ(rmm_->RecEnter(rec_,
                             [&](RecContext& cpu) {
                               st.push_back(cpu.RsiMeasurementExtend(2, 10, value));
                               st.push_back(cpu.RsiMeasurementExtend(2, 64, value));
                               st.push_back(cpu.RsiMeasurementExtend(0, 10, value));  // RIM
                               st.push_back(cpu.RsiMeasurementExtend(5, 10, value));
                               st.push_back(cpu.RsiMeasurementExtend(1, 65, value));
                               std::array<uint8_t, 64> out{};
                               st.push_back(cpu.RsiMeasurementRead(5, out));
                             }),
              RmiStatus::kSuccess);
    EXPECT_EQ(st, (std::vector<RsiStatus>{RsiStatus::kSuccess, RsiStatus::kSuccess,
                                          RsiStatus::kErrorInput, RsiStatus::kErrorInput,
                                          RsiStatus::kErrorInput, RsiStatus::kErrorInput}));
    // REM = H(REM || data), over the hash-size prefix of the old value.
    std::vector<uint8_t> rem(hs, 0);
    std::vector<uint8_t> in = rem;
    in.insert(in.end(), value.begin(), value.begin() + 10);
    rem = Hash(md, in);
    in = rem;
    in.insert(in.end(), value.begin(), value.end());
    rem = Hash(md, in);
    rem.resize(64, 0);
    EXPECT_EQ(Read(2), rem);
    EXPECT_EQ(Read(1), std::vector<uint8_t>(64, 0));  // other REMs untouched
  }
}

TEST_F(RmmTest, AttestationTokenComesInPieces) {
  BuildNewRealm();
  ASSERT_EQ(rmm_->RealmActivate(rd_), RmiStatus::kSuccess);
  std::array<uint8_t, 64> challenge{};
  challenge.fill(0xC5);
  std::vector<uint8_t> token;
  std::vector<RsiStatus> errors;
  int pieces = 0;
  const uint64_t buf = kIpa + 4096;
  ASSERT_EQ(
      rmm_->RecEnter(rec_,
                     [&](RecContext& cpu) {
                       uint64_t len = 0;
                       // Without INIT: state error. Bad buffers: input errors.
                       errors.push_back(cpu.RsiAttestationTokenContinue(buf, 0, 4096, &len));
                       uint64_t max = 0;
                       ASSERT_EQ(cpu.RsiAttestationTokenInit(challenge, &max), RsiStatus::kSuccess);
                       errors.push_back(cpu.RsiAttestationTokenContinue(buf + 8, 0, 100, &len));
                       errors.push_back(cpu.RsiAttestationTokenContinue(buf, 4000, 100, &len));
                       errors.push_back(cpu.RsiAttestationTokenContinue(kIpa + 3 * 4096, 0, 100,
                                                                        &len));  // not mapped
                       RsiStatus st;
                       do {
                         // 200-byte pieces at a moving offset within one granule.
                         const uint64_t off = (pieces % 10) * 300;
                         st = cpu.RsiAttestationTokenContinue(buf, off, 200, &len);
                         ASSERT_TRUE(st == RsiStatus::kSuccess || st == RsiStatus::kIncomplete);
                         std::vector<uint8_t> piece(len);
                         ASSERT_TRUE(cpu.Load(buf + off, piece).ok());
                         token.insert(token.end(), piece.begin(), piece.end());
                         ++pieces;
                       } while (st == RsiStatus::kIncomplete);
                       EXPECT_LE(token.size(), max);
                       // Done: a further CONTINUE needs a new INIT.
                       errors.push_back(cpu.RsiAttestationTokenContinue(buf, 0, 4096, &len));
                     }),
      RmiStatus::kSuccess);
  EXPECT_EQ(errors, (std::vector<RsiStatus>{RsiStatus::kErrorState, RsiStatus::kErrorInput,
                                            RsiStatus::kErrorInput, RsiStatus::kErrorInput,
                                            RsiStatus::kErrorState}));
  EXPECT_GT(pieces, 3);
  StatusOr<CcaToken> decoded = DecodeCcaToken(token);
  ASSERT_TRUE(decoded.ok()) << decoded.status();
  EXPECT_EQ(decoded->realm.challenge, std::vector<uint8_t>(64, 0xC5));
  EXPECT_EQ(decoded->realm.personalization_value[0], 0x42);
  std::vector<uint8_t> rim = Read(0);
  rim.resize(32);
  EXPECT_EQ(decoded->realm.rim, rim);
}

}  // namespace
}  // namespace confml::tee_sim
