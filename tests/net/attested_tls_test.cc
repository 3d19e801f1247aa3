// The attestation-bound TLS identities: evidence encoding, certificate
// appraisal (in process), and a device refusing an unadmitted runtime in the
// handshake (processes).
#include <gtest/gtest.h>

#include "confml/defenses/channel.h"
#include "confml/tee_sim/sim_backend.h"
#include "net_internal.h"
#include "process_util.h"
#include "roles.h"

namespace confml::net {
namespace {

using internal::AppraiseCertificate;
using internal::Evidence;

TEST(Evidence, RoundTripsAndRejectsDamage) {
  Evidence e{"device", Bytes(64, 7), Bytes(96, 1), Bytes(300, 9)};
  Bytes enc = internal::EncodeEvidence(e);
  StatusOr<Evidence> back = internal::DecodeEvidence(enc);
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(back->role, "device");
  EXPECT_EQ(back->token, e.token);
  for (size_t cut : {size_t{0}, size_t{5}, enc.size() - 1}) {
    EXPECT_FALSE(internal::DecodeEvidence(ByteSpan(enc.data(), cut)).ok()) << cut;
  }
  Bytes wrong_version = enc;
  wrong_version[internal::kEvidenceMagic.size() + 3] = 2;
  EXPECT_FALSE(internal::DecodeEvidence(wrong_version).ok());
  Bytes trailing = enc;
  trailing.push_back(0);
  EXPECT_FALSE(internal::DecodeEvidence(trailing).ok());
}

// A policy listing the honest device on a sim platform, a realm of
// `program`, and a certificate made the way StartParty makes it.
struct World {
  std::unique_ptr<experiments::Deployment> d;
  std::shared_ptr<internal::TrustContext> trust;
  EcKey verifier_key = *EcKey::Generate();

  std::string Certificate(const Program& program, const std::string& role, bool bind_key = true,
                          bool good_ticket = true) {
    experiments::Party* party = *d->Launch(program.role + std::to_string(n++), program);
    auto ticket = *internal::IssueTicket(good_ticket ? verifier_key : *EcKey::Generate());
    Evidence ev{role, ticket.first, ticket.second, {}};
    EcKey tls = *EcKey::Generate();
    EcKey other = *EcKey::Generate();
    EXPECT_TRUE(party->realm()
                    .Run([&](RealmContext& ctx) -> Status {
                      CONFML_ASSIGN_OR_RETURN(
                          Bytes c, defenses::ChannelBindingChallenge(
                                       ev.nonce, (bind_key ? tls : other).PublicPoint()));
                      CONFML_ASSIGN_OR_RETURN(ev.token, ctx.AttestationToken(c));
                      return OkStatus();
                    })
                    .ok());
    return *internal::MakeCertificate(tls, program.role, &ev);
  }
  int n = 0;
};

World MakeWorld() {
  World w;
  experiments::Deployment::Options o;
  o.backend = "sim";
  w.d = *experiments::Deployment::Create(o);
  defenses::Policy policy;
  tee_sim::Rmm* rmm = tee_sim::SimPlatform(w.d->backend());
  policy.trust_anchors.push_back(rmm->cpak_public_point());
  for (const SwComponent& sw : rmm->endorsed_sw_components()) {
    policy.accepted_sw_components.push_back(
        {sw.measurement_value, sw.signer_id, sw.measurement_type, sw.version});
  }
  Program device = *HonestProgram(kRoleDevice);
  experiments::PolicyTrust(&policy, "device", *experiments::MeasureProgram(device, o.realm));
  w.trust = std::make_shared<internal::TrustContext>(
      internal::TrustContext{"test", w.verifier_key.PublicOnly(), policy, {}, 3600});
  w.trust->anchors.push_back(*EcKey::FromPublicPoint(EcCurve::kP384, rmm->cpak_public_point()));
  return w;
}

TEST(Appraisal, AdmitsTheHonestDeviceAndNamesEachFailure) {
  World w = MakeWorld();
  Program honest = *HonestProgram(kRoleDevice);
  internal::Appraisal ok =
      AppraiseCertificate(*w.trust, w.Certificate(honest, "device"), {"device"});
  EXPECT_TRUE(ok.admitted) << ok.Describe();

  Program malicious = honest;
  malicious.components.push_back({"attacks", "exfiltrate_inputs"});
  internal::Appraisal rim =
      AppraiseCertificate(*w.trust, w.Certificate(malicious, "device"), {"device"});
  EXPECT_FALSE(rim.admitted);
  EXPECT_EQ(rim.failed_checks, "rim") << rim.Describe();

  // A token for another key than the certificate's: the challenge check fails.
  internal::Appraisal unbound = AppraiseCertificate(
      *w.trust, w.Certificate(honest, "device", /*bind_key=*/false), {"device"});
  EXPECT_FALSE(unbound.admitted);
  EXPECT_NE(unbound.failed_checks.find("challenge"), std::string::npos) << unbound.Describe();

  internal::Appraisal ticket = AppraiseCertificate(
      *w.trust, w.Certificate(honest, "device", true, /*good_ticket=*/false), {"device"});
  EXPECT_EQ(ticket.failed_checks, "ticket");

  internal::Appraisal role =
      AppraiseCertificate(*w.trust, w.Certificate(honest, "device"), {"runtime"});
  EXPECT_EQ(role.failed_checks, "role");

  EcKey plain = *EcKey::Generate();
  internal::Appraisal bare =
      AppraiseCertificate(*w.trust, *internal::MakeCertificate(plain, "x", nullptr), {"device"});
  EXPECT_EQ(bare.failed_checks, "evidence");
  EXPECT_EQ(AppraiseCertificate(*w.trust, "not a certificate", {"device"}).failed_checks,
            "certificate");
}

// Acceptance: a device pointed at a runtime whose RIM is not admitted fails
// the handshake, and the failing finding is in its log.
TEST(Processes, DeviceRefusesUnadmittedRuntimeInTheHandshake) {
  testing::Cluster c;
  const std::string config = testing::FlWordsConfig();
  const std::string verifier = c.StartVerifier(config);
  ASSERT_FALSE(verifier.empty()) << testing::ReadAll(c.Path("verifier.log"));
  const std::vector<std::string> link{
      "--config", config, "--verifier", verifier, "--verifier-cert", c.Path("verifier.pem")};
  std::vector<std::string> rt{"serve",        "runtime",
                              "--listen",     "127.0.0.1:0",
                              "--ready-file", c.Path("runtime.addr"),
                              "--component",  "attacks=exfiltrate_inputs"};
  rt.insert(rt.end(), link.begin(), link.end());
  c.Start(rt, "runtime.log");
  std::optional<std::string> runtime = c.WaitForFile("runtime.addr", 60);
  ASSERT_TRUE(runtime) << testing::ReadAll(c.Path("runtime.log"));

  std::vector<std::string> dev{"device", "--runtime", *runtime,   "--index",           "0", "--of",
                               "2",      "--name",    "device-1", "--connect-timeout", "6"};
  dev.insert(dev.end(), link.begin(), link.end());
  pid_t device = c.Start(dev, "device.log");
  std::optional<int> rc = c.WaitExit(device, 60);
  const std::string log = testing::ReadAll(c.Path("device.log"));
  ASSERT_TRUE(rc) << log;
  EXPECT_NE(*rc, 0) << log;
  EXPECT_NE(log.find("refused 'runtime' as runtime: rim:"), std::string::npos) << log;
  // The runtime never served it anything: no round opened, no update taken.
  const std::string rlog = testing::ReadAll(c.Path("runtime.log"));
  EXPECT_EQ(rlog.find("joined"), std::string::npos) << rlog;
}

}  // namespace
}  // namespace confml::net
