// Tests of experiments/parties.h: parties in realms, the verifier's
// admission by policy, and links whose wire a host can watch.
#include "confml/experiments/parties.h"

#include <gtest/gtest.h>

#include <string>

#include "confml/defenses/channel.h"

namespace confml::experiments {
namespace {

Bytes Marker() {
  const std::string m = "USER-SECRET-MARKER-7f3a";
  return Bytes(m.begin(), m.end());
}

struct World {
  std::unique_ptr<Deployment> d;
  Party* device = nullptr;
  Party* runtime = nullptr;
};

// An honest device and a runtime (honest, or with attack code), the policy
// listing the honest programs (and the deployed runtime when asked).
World Make(const std::string& backend, AttestationMode mode, bool malicious_runtime,
           bool trust_deployed = false) {
  Deployment::Options o;
  o.backend = backend;
  o.attestation = mode;
  World w;
  auto d = Deployment::Create(o);
  EXPECT_TRUE(d.ok()) << d.status();
  w.d = std::move(*d);
  Program device = *HonestProgram("device");
  Program honest = *HonestProgram("runtime");
  Program runtime = honest;
  if (malicious_runtime) runtime.components.push_back({"attacks", "exfiltrate_inputs"});
  EXPECT_TRUE(w.d->TrustProgram(device).ok());
  EXPECT_TRUE(w.d->TrustProgram(honest).ok());
  if (trust_deployed) {
    EXPECT_TRUE(w.d->TrustProgram(runtime).ok());
  }
  EXPECT_TRUE(w.d->SealPolicy().ok());
  w.device = *w.d->Launch("device", device);
  w.runtime = *w.d->Launch("runtime", runtime);
  return w;
}

TEST(Parties, RimOfALaunchedPartyIsItsProgramsReferenceRim) {
  World w = Make("sim", AttestationMode::kPolicy, false);
  StatusOr<Bytes> ref = MeasureProgram(w.runtime->program(), w.d->options().realm);
  ASSERT_TRUE(ref.ok()) << ref.status();
  EXPECT_EQ(w.runtime->rim(), *ref);
  EXPECT_NE(w.runtime->rim(), w.device->rim());
  // Attack code changes the measurement.
  Program bad = w.runtime->program();
  bad.components.push_back({"attacks", "exfiltrate_inputs"});
  EXPECT_NE(*MeasureProgram(bad, w.d->options().realm), *ref);
}

TEST(Parties, AdmittedRuntimeGetsDataOverAnEncryptedLink) {
  World w = Make("sim", AttestationMode::kPolicy, false);
  AdmissionRecord rec;
  auto link = w.d->Connect(*w.device, *w.runtime, "runtime", &rec);
  ASSERT_TRUE(link.ok()) << link.status();
  EXPECT_TRUE(rec.admitted);
  EXPECT_TRUE((*link)->encrypted());
  auto got = (*link)->ToAttester(Marker());
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(*got, Marker());
  auto back = (*link)->ToRelying(Marker());
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(*back, Marker());
  EXPECT_GT(w.d->transport().total_bytes(), 0u);
  EXPECT_FALSE(w.d->transport().Contains(Marker()));
  EXPECT_GT(w.d->total_cost().bytes_crypted, 0u);
}

TEST(Parties, UnlistedRuntimeIsRefusedWithTheRimFindingAndGetsNothing) {
  World w = Make("sim", AttestationMode::kPolicy, true);
  AdmissionRecord rec;
  auto link = w.d->Connect(*w.device, *w.runtime, "runtime", &rec);
  ASSERT_FALSE(link.ok());
  EXPECT_EQ(link.status().code(), StatusCode::kUnauthenticated);
  EXPECT_FALSE(rec.admitted);
  EXPECT_EQ(rec.failed_checks, "rim");
  EXPECT_NE(link.status().message().find("rim"), std::string::npos);
  ASSERT_EQ(w.d->admissions().size(), 1u);
  EXPECT_FALSE(w.d->admissions()[0].admitted);
  // Only the handshake crossed the wire.
  for (const auto& e : w.d->transport().entries()) EXPECT_NE(e.kind, "record");
}

TEST(Parties, WronglyListedRuntimeIsAdmitted) {
  World w = Make("sim", AttestationMode::kPolicy, true, /*trust_deployed=*/true);
  EXPECT_TRUE(w.d->Connect(*w.device, *w.runtime, "runtime").ok());
}

TEST(Parties, RoleMustMatch) {
  World w = Make("sim", AttestationMode::kPolicy, false);
  AdmissionRecord rec;
  // The runtime's RIM is not listed for role device.
  EXPECT_FALSE(w.d->Connect(*w.device, *w.runtime, "device", &rec).ok());
  EXPECT_EQ(rec.failed_checks, "rim");
}

TEST(Parties, TokensModeAdmitsAnyMeasurementButStillEncrypts) {
  World w = Make("sim", AttestationMode::kTokens, true);
  auto link = w.d->Connect(*w.device, *w.runtime, "runtime");
  ASSERT_TRUE(link.ok()) << link.status();
  EXPECT_TRUE((*link)->encrypted());
  ASSERT_TRUE((*link)->ToAttester(Marker()).ok());
  EXPECT_FALSE(w.d->transport().Contains(Marker()));
}

TEST(Parties, AttestationOffSendsPlaintextTheHostCanRead) {
  World w = Make("sim", AttestationMode::kOff, true);
  auto link = w.d->Connect(*w.device, *w.runtime, "runtime");
  ASSERT_TRUE(link.ok());
  EXPECT_FALSE((*link)->encrypted());
  ASSERT_TRUE((*link)->ToAttester(Marker()).ok());
  EXPECT_TRUE(w.d->transport().Contains(Marker()));
}

TEST(Parties, BackendNoneCannotAttest) {
  World w = Make("none", AttestationMode::kPolicy, false);
  AdmissionRecord rec;
  auto link = w.d->Connect(*w.device, *w.runtime, "runtime", &rec);
  ASSERT_FALSE(link.ok());
  EXPECT_EQ(rec.failed_checks, "attestation");
  EXPECT_TRUE(w.runtime->rim().empty());
}

TEST(Parties, HostReadsAssetsOnNoneButNotInASimRealm) {
  for (const std::string backend : {"none", "sim"}) {
    World w = Make(backend, AttestationMode::kOff, false);
    StatusOr<uint64_t> ipa = w.device->StoreAsset(Marker());
    ASSERT_TRUE(ipa.ok()) << ipa.status();
    EXPECT_EQ(*w.device->LoadAsset(*ipa, Marker().size()), Marker());
    StatusOr<Bytes> read = w.d->HostRead(*w.device, *ipa, Marker().size());
    if (backend == "none") {
      ASSERT_TRUE(read.ok()) << read.status();
      EXPECT_EQ(*read, Marker());
    } else {
      EXPECT_EQ(read.status().code(), StatusCode::kPermissionDenied) << read.status();
    }
  }
}

TEST(Parties, AssetsThatDoNotFitAreResourceExhausted) {
  World w = Make("none", AttestationMode::kOff, false);
  Bytes big(w.device->realm().memory_size() + 1, 0x5a);
  EXPECT_EQ(w.device->StoreAsset(big).status().code(), StatusCode::kResourceExhausted);
}

TEST(Parties, PolicyIsSignedAndNamesAreUnique) {
  World w = Make("sim", AttestationMode::kPolicy, false);
  EXPECT_FALSE(w.d->signed_policy().empty());
  EXPECT_EQ(w.d->Launch("device", *HonestProgram("device")).status().code(),
            StatusCode::kAlreadyExists);
  EXPECT_EQ(w.d->SealPolicy().code(), StatusCode::kFailedPrecondition);
  EXPECT_EQ(ParseAttestationMode("polcy").status().code(), StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace confml::experiments
