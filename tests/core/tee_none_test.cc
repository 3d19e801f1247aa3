// Backend "none": nothing isolated, measured or attested; the host sees all.
#include <gtest/gtest.h>

#include <vector>

#include "confml/core/tee_backend.h"

namespace confml {
namespace {

std::vector<uint8_t> Image() {
  std::vector<uint8_t> img(5000);
  for (size_t i = 0; i < img.size(); ++i) img[i] = static_cast<uint8_t>(i * 13);
  return img;
}

TEST(TeeNoneTest, HostReadsImageAndRealmData) {
  std::unique_ptr<TeeBackend> tee = NewNoneTeeBackend();
  EXPECT_EQ(tee->name(), "none");
  RealmParams p;
  p.private_memory_bytes = 4096;
  auto realm = tee->CreateRealm(Image(), p);
  ASSERT_TRUE(realm.ok()) << realm.status();
  const uint64_t ipa = p.load_ipa;
  EXPECT_EQ((*realm)->memory_size(), 3u * 4096);
  const std::vector<uint8_t> secret(64, 0xEE);
  ASSERT_TRUE((*realm)
                  ->Run([&](RealmContext& ctx) -> Status {
                    CONFML_RETURN_IF_ERROR(ctx.WriteMemory(ipa + 8192, secret));
                    EXPECT_EQ(ctx.SendToHost(secret), secret);
                    return OkStatus();
                  })
                  .ok());
  StatusOr<std::vector<uint8_t>> code = (*realm)->HostRead(ipa, 5000);
  ASSERT_TRUE(code.ok()) << code.status();
  EXPECT_EQ(*code, Image());
  StatusOr<std::vector<uint8_t>> data = (*realm)->HostRead(ipa + 8192, 64);
  ASSERT_TRUE(data.ok());
  EXPECT_EQ(*data, secret);
  EXPECT_EQ((*realm)->HostRead(ipa + 3 * 4096 - 10, 11).status().code(), StatusCode::kOutOfRange);
  EXPECT_EQ((*realm)->HostRead(ipa - 1, 1).status().code(), StatusCode::kOutOfRange);
  EXPECT_EQ((*realm)->cost().total_seconds(), 0.0);
}

TEST(TeeNoneTest, NothingIsMeasuredAttestedOrSealed) {
  std::unique_ptr<TeeBackend> tee = NewNoneTeeBackend();
  auto realm = tee->CreateRealm(Image(), RealmParams{});
  ASSERT_TRUE(realm.ok());
  const std::vector<uint8_t> challenge(64, 1);
  EXPECT_EQ((*realm)->ReadMeasurement(0).status().code(), StatusCode::kUnimplemented);
  EXPECT_EQ((*realm)->ExtendMeasurement(1, challenge).code(), StatusCode::kUnimplemented);
  EXPECT_EQ((*realm)->AttestationToken(challenge).status().code(), StatusCode::kUnimplemented);
  EXPECT_EQ((*realm)->Seal(challenge).status().code(), StatusCode::kUnimplemented);
  EXPECT_EQ((*realm)->Unseal(challenge).status().code(), StatusCode::kUnimplemented);

  TeeCapabilities caps = tee->capabilities();
  EXPECT_EQ(caps.backend, "none");
  EXPECT_TRUE(caps.Supports(TeeFeature::kHostMemoryRead));
  for (TeeFeature f :
       {TeeFeature::kIsolation, TeeFeature::kMeasurement, TeeFeature::kMeasurementExtend,
        TeeFeature::kAttestation, TeeFeature::kSealing, TeeFeature::kCostModel}) {
    EXPECT_FALSE(caps.Supports(f)) << TeeFeatureName(f);
    EXPECT_FALSE(caps.features.at(f).note.empty());
  }
}

TEST(TeeNoneTest, RegistryAndParamValidation) {
  auto tee = NewTeeBackend("none");
  ASSERT_TRUE(tee.ok()) << tee.status();
  EXPECT_EQ((*tee)->name(), "none");
  StatusOr<std::unique_ptr<TeeBackend>> missing = NewTeeBackend("nonee");
  EXPECT_EQ(missing.status().code(), StatusCode::kNotFound);
  EXPECT_NE(missing.status().message().find("none"), std::string::npos);

  RealmParams bad;
  bad.load_ipa = 4097;
  EXPECT_EQ((*tee)->CreateRealm(Image(), bad).status().code(), StatusCode::kInvalidArgument);
  bad = RealmParams{};
  bad.ipa_width = 60;
  EXPECT_EQ((*tee)->CreateRealm(Image(), bad).status().code(), StatusCode::kInvalidArgument);
  bad = RealmParams{};
  bad.num_recs = 0;
  EXPECT_EQ((*tee)->CreateRealm(Image(), bad).status().code(), StatusCode::kInvalidArgument);
  bad = RealmParams{};
  bad.realm_flags = 8;
  EXPECT_EQ((*tee)->CreateRealm(Image(), bad).status().code(), StatusCode::kInvalidArgument);
  bad = RealmParams{};
  bad.ipa_width = 32;
  bad.load_ipa = 0x7fff0000;  // 64 KiB below the protected top: too small
  bad.private_memory_bytes = 1 << 20;
  StatusOr<std::unique_ptr<TeeRealm>> r = (*tee)->CreateRealm(Image(), bad);
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(r.status().message().find("load_ipa"), std::string::npos);
}

}  // namespace
}  // namespace confml
