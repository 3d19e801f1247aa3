// Simulator tokens through confml's verifier (confml::defenses): a genuine
// token passes every check; each kind of wrong input fails exactly its one
// check. Built as its own executable (see CMakeLists.txt) so the simulator's
// own suite does not depend on the defenses module.
#include <gtest/gtest.h>

#include <algorithm>
#include <vector>

#include "confml/core/cca_token.h"
#include "confml/defenses/verifier.h"
#include "confml/tee_sim/sim_backend.h"

namespace confml::tee_sim {
namespace {

using defenses::Policy;
using defenses::Verdict;
using defenses::VerifierInputs;

std::vector<uint8_t> Program(uint8_t tag) {
  std::vector<uint8_t> img(6000);
  for (size_t i = 0; i < img.size(); ++i) img[i] = static_cast<uint8_t>(tag + i * 3);
  return img;
}

class SimTokenVerifyTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto tee = NewSimTeeBackend(SimOptions{});
    ASSERT_TRUE(tee.ok()) << tee.status();
    tee_ = *std::move(tee);
    Rmm* rmm = SimPlatform(*tee_);
    auto cpak = EcKey::FromPublicPoint(EcCurve::kP384, rmm->cpak_public_point());
    ASSERT_TRUE(cpak.ok());
    cpak_ = *cpak;
    params_.private_memory_bytes = 4096;
    params_.rpv.fill(0x5E);
    auto realm = tee_->CreateRealm(Program(1), params_);
    ASSERT_TRUE(realm.ok()) << realm.status();
    realm_ = *std::move(realm);
    ASSERT_TRUE(realm_->ExtendMeasurement(1, std::vector<uint8_t>(16, 0x01)).ok());
    nonce_.assign(64, 0x3C);

    // The policy: reference RIM computed as the `measure` tool would.
    auto rim = ComputeReferenceRim(Program(1), params_);
    ASSERT_TRUE(rim.ok());
    std::array<Bytes, kRealmExtensibleMeasurementCount> rems;
    for (int i = 0; i < 4; ++i) rems[i] = *realm_->ReadMeasurement(i + 1);
    policy_.trust_anchors.push_back(cpak_.PublicPoint());
    policy_.roles.push_back(
        {"device",
         {defenses::RealmReference{*rim, rems, Bytes(params_.rpv.begin(), params_.rpv.end())}}});
    auto token = realm_->AttestationToken(nonce_);
    ASSERT_TRUE(token.ok());
    auto decoded = DecodeCcaToken(*token);
    ASSERT_TRUE(decoded.ok());
    for (const SwComponent& sw : decoded->platform.sw_components) {
      policy_.accepted_sw_components.push_back(
          {sw.measurement_value, sw.signer_id, sw.measurement_type, sw.version});
    }
  }

  Verdict Check(const Bytes& token, const Policy& policy, const EcKey& anchor, const Bytes& nonce) {
    VerifierInputs in;
    in.trust_anchors.push_back(anchor);
    in.expected_nonce = nonce;
    in.policy = &policy;
    in.claimed_role = "device";
    return defenses::Verify(token, in);
  }

  std::vector<std::string> Failed(const Verdict& v) { return v.FailedChecks(); }

  std::unique_ptr<TeeBackend> tee_;
  std::unique_ptr<TeeRealm> realm_;
  EcKey cpak_ = *EcKey::Generate();
  RealmParams params_;
  Policy policy_;
  Bytes nonce_;
};

TEST_F(SimTokenVerifyTest, GenuineTokenPassesEveryCheck) {
  Verdict v = Check(*realm_->AttestationToken(nonce_), policy_, cpak_, nonce_);
  EXPECT_TRUE(v.ok()) << v.ToJson();
}

TEST_F(SimTokenVerifyTest, EachWrongInputFailsItsOwnCheck) {
  const Bytes token = *realm_->AttestationToken(nonce_);
  {  // Wrong nonce.
    Verdict v = Check(token, policy_, cpak_, Bytes(64, 0x00));
    EXPECT_EQ(Failed(v), std::vector<std::string>{"challenge"}) << v.ToJson();
  }
  {  // Another platform's CPAK as the only trust anchor.
    Policy p = policy_;
    p.trust_anchors.clear();
    Verdict v = Check(token, p, *EcKey::Generate(), nonce_);
    EXPECT_EQ(Failed(v), std::vector<std::string>{"platform_signature"}) << v.ToJson();
  }
  {  // A realm running another Program: its RIM is not in the policy.
    auto other = tee_->CreateRealm(Program(2), params_);
    ASSERT_TRUE(other.ok());
    ASSERT_TRUE((*other)->ExtendMeasurement(1, std::vector<uint8_t>(16, 0x01)).ok());
    Verdict v = Check(*(*other)->AttestationToken(nonce_), policy_, cpak_, nonce_);
    EXPECT_EQ(Failed(v), std::vector<std::string>{"rim"}) << v.ToJson();
  }
  {  // A REM extended beyond the reference.
    ASSERT_TRUE(realm_->ExtendMeasurement(2, std::vector<uint8_t>(8, 0xAA)).ok());
    Verdict v = Check(*realm_->AttestationToken(nonce_), policy_, cpak_, nonce_);
    EXPECT_EQ(Failed(v), std::vector<std::string>{"rems"}) << v.ToJson();
  }
  {  // A platform whose token binds another key than the RAK.
    SimOptions o;
    o.rmm.faults.platform_token_binds_other_key = true;
    auto tee = NewSimTeeBackend(o);
    ASSERT_TRUE(tee.ok());
    auto realm = (*tee)->CreateRealm(Program(1), params_);
    ASSERT_TRUE(realm.ok());
    ASSERT_TRUE((*realm)->ExtendMeasurement(1, std::vector<uint8_t>(16, 0x01)).ok());
    // Same seed, same CPAK: only the binding is wrong.
    Verdict v = Check(*(*realm)->AttestationToken(nonce_), policy_, cpak_, nonce_);
    EXPECT_EQ(Failed(v), std::vector<std::string>{"rak_binding"}) << v.ToJson();
  }
}

}  // namespace
}  // namespace confml::tee_sim
