// TeeBackend "sim": tokens, sealing, isolation and the cost model, through
// the same interface the engine uses.
#include "confml/tee_sim/sim_backend.h"

#include <gtest/gtest.h>

#include <vector>

#include "confml/core/cca_token.h"
#include "confml/core/crypto.h"
#include "confml/tee_sim/cost_model.h"

namespace confml::tee_sim {
namespace {

std::vector<uint8_t> Image(size_t n, uint8_t seed) {
  std::vector<uint8_t> img(n);
  for (size_t i = 0; i < n; ++i) img[i] = static_cast<uint8_t>(seed ^ (i * 7));
  return img;
}

std::unique_ptr<TeeBackend> Backend(SimOptions o = {}) {
  auto tee = NewSimTeeBackend(std::move(o));
  EXPECT_TRUE(tee.ok()) << tee.status();
  return tee.ok() ? *std::move(tee) : nullptr;
}

std::unique_ptr<TeeRealm> Realm(TeeBackend& tee, const std::vector<uint8_t>& image,
                                RealmParams p = {}) {
  p.private_memory_bytes = 8192;
  auto realm = tee.CreateRealm(image, p);
  EXPECT_TRUE(realm.ok()) << realm.status();
  return realm.ok() ? *std::move(realm) : nullptr;
}

std::vector<uint8_t> Challenge(uint8_t v) { return std::vector<uint8_t>(64, v); }

TEST(SimBackendTest, TokenDecodesVerifiesAndBindsTheRak) {
  auto tee = Backend();
  RealmParams p;
  p.rpv.fill(0x11);
  auto realm = Realm(*tee, Image(6000, 3), p);
  ASSERT_TRUE(realm->ExtendMeasurement(1, Challenge(0x77)).ok());
  StatusOr<std::vector<uint8_t>> token = realm->AttestationToken(Challenge(0xAB));
  ASSERT_TRUE(token.ok()) << token.status();
  StatusOr<CcaToken> t = DecodeCcaToken(*token);
  ASSERT_TRUE(t.ok()) << t.status();

  EXPECT_EQ(t->realm.challenge, Challenge(0xAB));
  EXPECT_EQ(t->realm.personalization_value, std::vector<uint8_t>(64, 0x11));
  EXPECT_EQ(t->realm.hash_algorithm_id, "sha-256");
  EXPECT_EQ(t->realm.rim, *realm->ReadMeasurement(0));
  EXPECT_EQ(t->realm.rems[0], *realm->ReadMeasurement(1));
  EXPECT_EQ(t->realm.rems[1], std::vector<uint8_t>(32, 0));
  EXPECT_EQ(t->realm.public_key_hash_algorithm_id, "sha-256");
  EXPECT_EQ(t->realm.public_key.size(), 97u);

  Rmm* rmm = SimPlatform(*tee);
  ASSERT_NE(rmm, nullptr);
  StatusOr<EcKey> cpak = EcKey::FromPublicPoint(EcCurve::kP384, rmm->cpak_public_point());
  ASSERT_TRUE(cpak.ok());
  EXPECT_TRUE(VerifyCoseSign1(t->platform_cose, *cpak).ok());
  StatusOr<EcKey> rak = RealmPublicKey(t->realm);
  ASSERT_TRUE(rak.ok());
  EXPECT_TRUE(VerifyCoseSign1(t->realm_cose, *rak).ok());
  EXPECT_EQ(t->platform.challenge, *RakBinding(t->realm));
  EXPECT_TRUE(IsLifecycleSecured(t->platform.lifecycle));
  EXPECT_EQ(t->platform.sw_components.size(), 4u);
  EXPECT_EQ(t->platform.instance_id.size(), 33u);

  // Another platform's CPAK does not verify this platform token.
  SimOptions other;
  other.rmm.platform_seed = std::vector<uint8_t>(32, 0x99);
  auto tee2 = Backend(other);
  StatusOr<EcKey> cpak2 =
      EcKey::FromPublicPoint(EcCurve::kP384, SimPlatform(*tee2)->cpak_public_point());
  EXPECT_FALSE(VerifyCoseSign1(t->platform_cose, *cpak2).ok());
}

TEST(SimBackendTest, Sha512RealmsReport64ByteMeasurements) {
  auto tee = Backend();
  RealmParams p;
  p.hash_algorithm = RealmHashAlgorithm::kSha512;
  auto realm = Realm(*tee, Image(100, 1), p);
  StatusOr<CcaToken> t = DecodeCcaToken(*realm->AttestationToken(Challenge(1)));
  ASSERT_TRUE(t.ok()) << t.status();
  EXPECT_EQ(t->realm.hash_algorithm_id, "sha-512");
  EXPECT_EQ(t->realm.rim.size(), 64u);
  EXPECT_EQ(t->realm.rems[3].size(), 64u);
}

TEST(SimBackendTest, PlatformTokenCachedPerRak) {
  {  // Per-realm RAK: one platform token per realm, reused for its tokens.
    auto tee = Backend();
    Rmm* rmm = SimPlatform(*tee);
    auto a = Realm(*tee, Image(10, 1));
    auto b = Realm(*tee, Image(10, 2));
    StatusOr<CcaToken> a1 = DecodeCcaToken(*a->AttestationToken(Challenge(1)));
    StatusOr<CcaToken> a2 = DecodeCcaToken(*a->AttestationToken(Challenge(2)));
    EXPECT_EQ(rmm->platform_tokens_issued(), 1u);
    StatusOr<CcaToken> b1 = DecodeCcaToken(*b->AttestationToken(Challenge(1)));
    EXPECT_EQ(rmm->platform_tokens_issued(), 2u);
    EXPECT_EQ(a1->platform_cose.signature, a2->platform_cose.signature);  // the cached one
    EXPECT_NE(a1->realm.public_key, b1->realm.public_key);
    EXPECT_NE(a1->platform.challenge, b1->platform.challenge);
  }
  {  // TF-RMM: one RAK per platform, platform token fetched once at boot.
    SimOptions o;
    o.rmm.rak_scope = RakScope::kPlatform;
    auto tee = Backend(o);
    Rmm* rmm = SimPlatform(*tee);
    EXPECT_EQ(rmm->platform_tokens_issued(), 1u);
    auto a = Realm(*tee, Image(10, 1));
    auto b = Realm(*tee, Image(10, 2));
    StatusOr<CcaToken> a1 = DecodeCcaToken(*a->AttestationToken(Challenge(1)));
    StatusOr<CcaToken> b1 = DecodeCcaToken(*b->AttestationToken(Challenge(1)));
    EXPECT_EQ(rmm->platform_tokens_issued(), 1u);
    EXPECT_EQ(a1->realm.public_key, b1->realm.public_key);
    EXPECT_EQ(a1->platform_cose.signature, b1->platform_cose.signature);
    EXPECT_NE(a1->realm.rim, b1->realm.rim);
  }
}

TEST(SimBackendTest, ChallengeAndIndexErrors) {
  auto tee = Backend();
  auto realm = Realm(*tee, Image(10, 1));
  EXPECT_EQ(realm->AttestationToken(std::vector<uint8_t>(32, 0)).status().code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(realm->ExtendMeasurement(0, Challenge(1)).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(realm->ExtendMeasurement(5, Challenge(1)).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(realm->ExtendMeasurement(1, std::vector<uint8_t>(65, 0)).code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(realm->ReadMeasurement(5).status().code(), StatusCode::kInvalidArgument);
  RealmParams bad;
  bad.load_ipa = 0x80000010;
  EXPECT_EQ(tee->CreateRealm(Image(10, 1), bad).status().code(), StatusCode::kInvalidArgument);
}

TEST(SimBackendTest, SealingBindsRimRpvPolicyAndPlatform) {
  auto tee = Backend();
  const std::vector<uint8_t> secret = {'m', 'o', 'd', 'e', 'l', ' ', 'w', 'e', 'i', 'g', 'h', 't'};
  auto realm = Realm(*tee, Image(5000, 4));
  StatusOr<std::vector<uint8_t>> blob = realm->Seal(secret);
  ASSERT_TRUE(blob.ok()) << blob.status();
  EXPECT_EQ(std::vector<uint8_t>(blob->begin(), blob->begin() + 4),
            (std::vector<uint8_t>{'C', 'F', 'S', 'L'}));
  EXPECT_EQ(blob->size(), 28 + secret.size() + 16);
  EXPECT_EQ(*realm->Unseal(*blob), secret);

  // The same Program on the same platform (a restarted realm) unseals.
  auto again = Realm(*tee, Image(5000, 4));
  EXPECT_EQ(*again->Unseal(*blob), secret);

  // Another RIM (one image byte), RPV, policy or platform does not.
  std::vector<uint8_t> changed = Image(5000, 4);
  changed[4999] ^= 1;
  EXPECT_EQ(Realm(*tee, changed)->Unseal(*blob).status().code(), StatusCode::kDataLoss);
  RealmParams rpv;
  rpv.rpv[63] = 1;
  EXPECT_EQ(Realm(*tee, Image(5000, 4), rpv)->Unseal(*blob).status().code(), StatusCode::kDataLoss);
  RealmParams policy;
  policy.seal_policy_flags = 1;
  EXPECT_EQ(Realm(*tee, Image(5000, 4), policy)->Unseal(*blob).status().code(),
            StatusCode::kDataLoss);
  SimOptions other;
  other.rmm.platform_seed = std::vector<uint8_t>(32, 0x42);
  auto tee2 = Backend(other);
  EXPECT_EQ(Realm(*tee2, Image(5000, 4))->Unseal(*blob).status().code(), StatusCode::kDataLoss);

  // Every single-byte change and every truncation is DataLoss.
  for (size_t i = 0; i < blob->size(); ++i) {
    std::vector<uint8_t> t = *blob;
    t[i] ^= 0x20;
    EXPECT_EQ(realm->Unseal(t).status().code(), StatusCode::kDataLoss) << "byte " << i;
  }
  for (size_t n = 0; n < blob->size(); ++n) {
    std::vector<uint8_t> t(blob->begin(), blob->begin() + n);
    EXPECT_EQ(realm->Unseal(t).status().code(), StatusCode::kDataLoss) << "length " << n;
  }
  std::vector<uint8_t> longer = *blob;
  longer.push_back(0);
  EXPECT_EQ(realm->Unseal(longer).status().code(), StatusCode::kDataLoss);
}

TEST(SimBackendTest, HostReadOfRealmMemoryFaults) {
  auto tee = Backend();
  const std::vector<uint8_t> image = Image(5000, 8);
  auto realm = Realm(*tee, image);
  const uint64_t ipa = realm->params().load_ipa;
  const std::vector<uint8_t> secret(100, 0xEE);
  ASSERT_TRUE(realm
                  ->Run([&](RealmContext& ctx) -> Status {
                    CONFML_RETURN_IF_ERROR(ctx.WriteMemory(ipa + 8192, secret));
                    CONFML_ASSIGN_OR_RETURN(std::vector<uint8_t> back,
                                            ctx.ReadMemory(ipa + 8192, secret.size()));
                    EXPECT_EQ(back, secret);
                    CONFML_ASSIGN_OR_RETURN(std::vector<uint8_t> code, ctx.ReadMemory(ipa, 16));
                    EXPECT_EQ(code, std::vector<uint8_t>(image.begin(), image.begin() + 16));
                    EXPECT_EQ(ctx.ReadMemory(ipa + realm->memory_size() - 4, 8).status().code(),
                              StatusCode::kOutOfRange);
                    return OkStatus();
                  })
                  .ok());
  EXPECT_EQ(realm->HostRead(ipa, 16).status().code(), StatusCode::kPermissionDenied);
  EXPECT_EQ(realm->HostRead(ipa + 8192, 100).status().code(), StatusCode::kPermissionDenied);
  EXPECT_EQ(realm->HostRead(ipa + realm->memory_size(), 1).status().code(),
            StatusCode::kOutOfRange);
  EXPECT_FALSE(tee->capabilities().Supports(TeeFeature::kHostMemoryRead));
  EXPECT_TRUE(tee->capabilities().Supports(TeeFeature::kIsolation));
  EXPECT_TRUE(tee->capabilities().Supports(TeeFeature::kAttestation));
}

TEST(SimBackendTest, OneRunPerRec) {
  auto tee = Backend();
  RealmParams p;
  p.num_recs = 2;
  auto realm = Realm(*tee, Image(10, 1), p);
  Status inner, innermost;
  ASSERT_TRUE(realm
                  ->Run([&](RealmContext&) {
                    inner = realm->Run([&](RealmContext&) {
                      innermost = realm->Run([](RealmContext&) { return OkStatus(); });
                      return OkStatus();
                    });
                    return OkStatus();
                  })
                  .ok());
  EXPECT_TRUE(inner.ok()) << inner;
  EXPECT_EQ(innermost.code(), StatusCode::kUnavailable);
  // Work's own status comes back unchanged.
  EXPECT_EQ(realm->Run([](RealmContext&) { return NotFoundError("x"); }).code(),
            StatusCode::kNotFound);
}

TEST(SimBackendTest, CostModelAccumulatesPerRealm) {
  SimOptions o;
  o.cost_profile = "hardware-estimate";
  auto tee = Backend(o);
  StatusOr<CostProfile> prof = FindCostProfile("hardware-estimate");
  ASSERT_TRUE(prof.ok());
  auto realm = Realm(*tee, Image(10, 1));
  auto other = Realm(*tee, Image(10, 2));
  ASSERT_TRUE(realm
                  ->Run([](RealmContext& ctx) {
                    ctx.ReceiveFromHost(std::vector<uint8_t>(1000, 1));
                    ctx.SendToHost(std::vector<uint8_t>(24, 1));
                    ctx.ChargeCrypto(500);
                    return OkStatus();
                  })
                  .ok());
  ASSERT_TRUE(realm->AttestationToken(Challenge(3)).ok());
  ASSERT_TRUE(realm->Seal(std::vector<uint8_t>(100, 0)).ok());
  TeeCost c = realm->cost();
  EXPECT_EQ(c.profile, "hardware-estimate");
  EXPECT_EQ(c.realm_entries, 3u);
  EXPECT_EQ(c.bytes_copied, 1024u);
  EXPECT_EQ(c.bytes_crypted, 600u);
  EXPECT_EQ(c.tokens, 1u);
  EXPECT_DOUBLE_EQ(c.entry_exit_seconds, 3 * prof->entry_exit_seconds);
  EXPECT_DOUBLE_EQ(c.copy_seconds, 1024 * prof->copy_seconds_per_byte);
  EXPECT_DOUBLE_EQ(c.crypto_seconds, 600 * prof->crypto_seconds_per_byte);
  EXPECT_DOUBLE_EQ(c.attestation_seconds, prof->token_seconds);
  EXPECT_DOUBLE_EQ(c.total_seconds(), c.entry_exit_seconds + c.copy_seconds + c.crypto_seconds +
                                          c.attestation_seconds);
  EXPECT_GT(c.total_seconds(), 0);
  EXPECT_EQ(other->cost().realm_entries, 0u);  // per realm
  EXPECT_EQ(FindCostProfile("nope").status().code(), StatusCode::kNotFound);
  o.cost_profile = "nope";
  EXPECT_EQ(NewSimTeeBackend(o).status().code(), StatusCode::kNotFound);
}

TEST(SimBackendTest, RegisteredByName) {
  ASSERT_TRUE(RegisterSimTeeBackend().ok());
  ASSERT_TRUE(RegisterSimTeeBackend().ok());  // idempotent
  auto tee = NewTeeBackend(
      "sim", {{"cost_profile", std::string("zero")}, {"rak_scope", std::string("platform")}});
  ASSERT_TRUE(tee.ok()) << tee.status();
  EXPECT_EQ((*tee)->name(), "sim");
  auto realm = (*tee)->CreateRealm(Image(10, 1), RealmParams{});
  ASSERT_TRUE(realm.ok());
  ASSERT_TRUE((*realm)->AttestationToken(Challenge(1)).ok());
  EXPECT_EQ((*realm)->cost().total_seconds(), 0.0);
  EXPECT_EQ(NewTeeBackend("sim", {{"cost_profil", std::string("zero")}}).status().code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(NewTeeBackend("sim", {{"cost_profile", std::string("warp")}}).status().code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(NewTeeBackend("simm").status().code(), StatusCode::kNotFound);
}

}  // namespace
}  // namespace confml::tee_sim
