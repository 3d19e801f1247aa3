// TeeBackend "cca" and its configfs-tsm client against a temporary
// directory playing the kernel (fake_configfs.h), serving the token recorded
// from TF-RMM on Arm's FVP.
#include "confml/cca_backend/cca_backend.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "confml/cca_backend/configfs_tsm.h"
#include "confml/core/cca_token.h"
#include "confml/core/file_util.h"
#include "fake_configfs.h"

namespace confml::cca_backend {
namespace {

using testing::FakeConfigfsTsm;

const std::string kTokenPath = std::string(CONFML_SHARED_DIR) + "/cca-tokens/tf-rmm-fvp-token.cbor";
// The recorded token answers this challenge (see ../shared/cca-tokens/README.md).
const std::vector<uint8_t> kRecordedChallenge(64, 0xab);

std::vector<uint8_t> RecordedToken() {
  auto bytes = ReadFileBytes(kTokenPath);
  EXPECT_TRUE(bytes.ok()) << bytes.status();
  return bytes.ok() ? *bytes : std::vector<uint8_t>{};
}

class CcaBackendTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_FALSE(fake_.root().empty());
    fake_.outblob_bytes = RecordedToken();
    ASSERT_FALSE(fake_.outblob_bytes.empty());
  }

  CcaOptions Options() {
    CcaOptions o;
    o.tsm.root = fake_.root();
    o.tsm.hooks = fake_.Hooks();
    o.measurement_read_challenge = kRecordedChallenge;
    return o;
  }

  std::unique_ptr<TeeRealm> Realm(CcaOptions o) {
    tee_ = NewCcaTeeBackend(std::move(o));
    RealmParams p;
    p.private_memory_bytes = 4096;
    auto realm = tee_->CreateRealm(std::vector<uint8_t>(100, 7), p);
    EXPECT_TRUE(realm.ok()) << realm.status();
    return realm.ok() ? *std::move(realm) : nullptr;
  }

  FakeConfigfsTsm fake_;
  std::unique_ptr<TeeBackend> tee_;
};

TEST_F(CcaBackendTest, TokenComesFromConfigfsAndInstanceIsRemoved) {
  auto realm = Realm(Options());
  ASSERT_NE(realm, nullptr);
  auto token = realm->AttestationToken(kRecordedChallenge);
  ASSERT_TRUE(token.ok()) << token.status();
  EXPECT_EQ(*token, RecordedToken());
  EXPECT_EQ(fake_.last_inblob(), kRecordedChallenge);
  EXPECT_EQ(fake_.reports(), 1);
  EXPECT_TRUE(fake_.Instances().empty());
  EXPECT_EQ(realm->cost().tokens, 1u);
}

TEST_F(CcaBackendTest, MeasurementsAreTheTokensRealmClaims) {
  auto realm = Realm(Options());
  ASSERT_NE(realm, nullptr);
  auto decoded = DecodeCcaToken(RecordedToken());
  ASSERT_TRUE(decoded.ok());
  auto rim = realm->ReadMeasurement(0);
  ASSERT_TRUE(rim.ok()) << rim.status();
  EXPECT_EQ(*rim, decoded->realm.rim);
  for (int i = 1; i <= 4; ++i) {
    auto rem = realm->ReadMeasurement(i);
    ASSERT_TRUE(rem.ok()) << rem.status();
    EXPECT_EQ(*rem, decoded->realm.rems[static_cast<size_t>(i - 1)]);
  }
  EXPECT_EQ(realm->ReadMeasurement(5).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(fake_.reports(), 5);
}

TEST_F(CcaBackendTest, WhatTheKernelDoesNotExposeIsUnimplemented) {
  auto realm = Realm(Options());
  ASSERT_NE(realm, nullptr);
  TeeCapabilities caps = tee_->capabilities();
  EXPECT_EQ(caps.backend, "cca");
  EXPECT_TRUE(caps.Supports(TeeFeature::kAttestation));
  EXPECT_TRUE(caps.Supports(TeeFeature::kMeasurement));
  EXPECT_FALSE(caps.Supports(TeeFeature::kMeasurementExtend));
  EXPECT_FALSE(caps.Supports(TeeFeature::kSealing));
  EXPECT_FALSE(caps.Supports(TeeFeature::kHostMemoryRead));
  EXPECT_FALSE(caps.Supports(TeeFeature::kCostModel));
  const std::vector<uint8_t> data(8, 1);
  EXPECT_EQ(realm->ExtendMeasurement(1, data).code(), StatusCode::kUnimplemented);
  EXPECT_EQ(realm->Seal(data).status().code(), StatusCode::kUnimplemented);
  EXPECT_EQ(realm->Unseal(data).status().code(), StatusCode::kUnimplemented);
  EXPECT_EQ(realm->HostRead(realm->params().load_ipa, 8).status().code(),
            StatusCode::kUnimplemented);
  EXPECT_EQ(fake_.reports(), 0);  // nothing pretended to go through the kernel
}

TEST_F(CcaBackendTest, PrivateMemoryHoldsTheImageAndIsBoundsChecked) {
  auto realm = Realm(Options());
  ASSERT_NE(realm, nullptr);
  const uint64_t base = realm->params().load_ipa;
  EXPECT_EQ(realm->memory_size(), 2 * kTeeGranuleSize);
  Status s = realm->Run([&](RealmContext& ctx) -> Status {
    CONFML_ASSIGN_OR_RETURN(auto head, ctx.ReadMemory(base, 4));
    EXPECT_EQ(head, std::vector<uint8_t>(4, 7));
    CONFML_RETURN_IF_ERROR(ctx.WriteMemory(base + 5000, std::vector<uint8_t>{1, 2, 3}));
    CONFML_ASSIGN_OR_RETURN(auto back, ctx.ReadMemory(base + 5000, 3));
    EXPECT_EQ(back, (std::vector<uint8_t>{1, 2, 3}));
    EXPECT_EQ(ctx.ReadMemory(base + 8190, 3).status().code(), StatusCode::kOutOfRange);
    EXPECT_EQ(ctx.ReadMemory(base - 1, 1).status().code(), StatusCode::kOutOfRange);
    return OkStatus();
  });
  EXPECT_TRUE(s.ok()) << s;
}

TEST_F(CcaBackendTest, MissingRootIsUnavailableNamingThePath) {
  CcaOptions o = Options();
  o.tsm.root = fake_.root() + "/no-such-tsm";
  auto tee = NewCcaTeeBackend(o);
  auto realm = tee->CreateRealm(std::vector<uint8_t>(10), RealmParams{});
  ASSERT_FALSE(realm.ok());
  EXPECT_EQ(realm.status().code(), StatusCode::kUnavailable);
  EXPECT_NE(realm.status().message().find(o.tsm.root + "/report"), std::string::npos)
      << realm.status();
  auto report = ConfigfsTsm(o.tsm).GetReport(kRecordedChallenge);
  EXPECT_EQ(report.status().code(), StatusCode::kUnavailable);
}

TEST_F(CcaBackendTest, WrongProviderIsFailedPreconditionNamingIt) {
  fake_.provider = "tdx_guest";
  auto realm = Realm(Options());
  ASSERT_NE(realm, nullptr);
  auto token = realm->AttestationToken(kRecordedChallenge);
  ASSERT_FALSE(token.ok());
  EXPECT_EQ(token.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(token.status().message().find("tdx_guest"), std::string::npos) << token.status();
  EXPECT_EQ(fake_.reports(), 0);  // refused before writing the challenge
  EXPECT_TRUE(fake_.Instances().empty());
}

TEST_F(CcaBackendTest, DirectoryWithoutAttributesIsNotConfigfs) {
  // No after_mkdir: the instance stays an empty directory, as a plain file
  // system (not configfs) would leave it. The backend must say so and clean up.
  CcaOptions o = Options();
  o.tsm.hooks.after_mkdir = nullptr;
  auto report = ConfigfsTsm(o.tsm).GetReport(kRecordedChallenge);
  ASSERT_FALSE(report.ok());
  EXPECT_EQ(report.status().code(), StatusCode::kFailedPrecondition) << report.status();
  EXPECT_NE(report.status().message().find("provider"), std::string::npos);
  EXPECT_TRUE(fake_.Instances().empty());
}

TEST_F(CcaBackendTest, ConcurrentWriterIsAborted) {
  fake_.generation_step = 2;  // someone else wrote once more in our instance
  auto realm = Realm(Options());
  ASSERT_NE(realm, nullptr);
  auto token = realm->AttestationToken(kRecordedChallenge);
  EXPECT_EQ(token.status().code(), StatusCode::kAborted) << token.status();
  EXPECT_NE(token.status().message().find("generation"), std::string::npos);
  fake_.generation_step = 0;  // or our write did not count
  EXPECT_EQ(realm->AttestationToken(kRecordedChallenge).status().code(), StatusCode::kAborted);
  EXPECT_TRUE(fake_.Instances().empty());
}

TEST_F(CcaBackendTest, OutblobForAnotherChallengeIsAborted) {
  auto realm = Realm(Options());
  ASSERT_NE(realm, nullptr);
  const std::vector<uint8_t> other(64, 0x01);
  auto token = realm->AttestationToken(other);
  EXPECT_EQ(token.status().code(), StatusCode::kAborted) << token.status();
  EXPECT_EQ(fake_.last_inblob(), other);
}

TEST_F(CcaBackendTest, GarbageOrEmptyOutblobIsDataLoss) {
  auto realm = Realm(Options());
  ASSERT_NE(realm, nullptr);
  fake_.outblob_bytes = {0xd9, 0x01, 0x8f, 0xa0, 0x00};  // tag 399, then junk
  EXPECT_EQ(realm->AttestationToken(kRecordedChallenge).status().code(), StatusCode::kDataLoss);
  std::vector<uint8_t> truncated = RecordedToken();
  truncated.resize(truncated.size() - 1);
  fake_.outblob_bytes = truncated;
  EXPECT_EQ(realm->AttestationToken(kRecordedChallenge).status().code(), StatusCode::kDataLoss);
  fake_.outblob_bytes.clear();
  EXPECT_EQ(realm->AttestationToken(kRecordedChallenge).status().code(), StatusCode::kDataLoss);
  fake_.outblob_bytes.assign(kTsmOutblobMax + 1, 0);
  EXPECT_EQ(realm->AttestationToken(kRecordedChallenge).status().code(), StatusCode::kDataLoss);
  EXPECT_TRUE(fake_.Instances().empty());
}

TEST_F(CcaBackendTest, ChallengeMustBe64Bytes) {
  auto realm = Realm(Options());
  ASSERT_NE(realm, nullptr);
  EXPECT_EQ(realm->AttestationToken(std::vector<uint8_t>(63, 0xab)).status().code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(realm->AttestationToken({}).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(fake_.reports(), 0);
  // The configfs client itself accepts 1..64 bytes, as the ABI does.
  ConfigfsTsm tsm(Options().tsm);
  EXPECT_EQ(tsm.GetReport(std::vector<uint8_t>(65, 1)).status().code(),
            StatusCode::kInvalidArgument);
  auto ok = tsm.GetReport(std::vector<uint8_t>(32, 1));
  ASSERT_TRUE(ok.ok()) << ok.status();
  EXPECT_EQ(fake_.last_inblob(), std::vector<uint8_t>(32, 1));
  EXPECT_EQ(ok->provider, "arm_cca_guest");
  EXPECT_EQ(ok->generation, 1u);
}

TEST_F(CcaBackendTest, RegisteredAsCcaWithConfigfsRootParameter) {
  ASSERT_TRUE(RegisterCcaTeeBackend().ok());
  ASSERT_TRUE(RegisterCcaTeeBackend().ok());  // idempotent
  auto tee = NewTeeBackend("cca", {{"configfs_root", std::string(fake_.root())}});
  ASSERT_TRUE(tee.ok()) << tee.status();
  EXPECT_EQ((*tee)->name(), "cca");
  // No hooks through the registry: the plain directory is not configfs.
  auto realm = (*tee)->CreateRealm(std::vector<uint8_t>(10), RealmParams{});
  ASSERT_TRUE(realm.ok()) << realm.status();
  EXPECT_EQ((*realm)->AttestationToken(kRecordedChallenge).status().code(),
            StatusCode::kFailedPrecondition);
  auto missing = NewTeeBackend("cca", {{"configfs_root", std::string("/nonexistent/tsm")}});
  ASSERT_TRUE(missing.ok());
  EXPECT_EQ((*missing)->CreateRealm(std::vector<uint8_t>(10), RealmParams{}).status().code(),
            StatusCode::kUnavailable);
}

TEST_F(CcaBackendTest, BadRealmParamsAreInvalidArgument) {
  tee_ = NewCcaTeeBackend(Options());
  RealmParams p;
  p.ipa_width = 60;
  EXPECT_EQ(tee_->CreateRealm(std::vector<uint8_t>(10), p).status().code(),
            StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace confml::cca_backend
