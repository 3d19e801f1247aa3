// Tests of a federated run whose parties are realms (federation.h through
// federated_runner.h): attestation decides who takes part, attack code joins
// its role's Program, and a host on the path sees only ciphertext.
#include <gtest/gtest.h>

#include <atomic>
#include <string>

#include "../../experiments/src/federated_runner.h"
#include "confml/core/attack.h"

namespace confml::experiments {
namespace {

// A minimal attack per role that records what the protocol handed it: the
// runtime counts updates received, a device counts global models received,
// the host counts plaintext payloads seen on the wire.
struct Seen {
  std::atomic<int64_t> updates{0}, models{0}, plaintext{0}, ciphertext{0};
};
Seen& Observed() {
  static Seen s;
  return s;
}

class Observer : public Attack {
 public:
  Observer(AttackRole role, std::set<int64_t> malicious)
      : role_(role), malicious_(std::move(malicious)) {}
  std::string name() const override { return "test_observer"; }
  AttackRole role() const override { return role_; }
  std::string config_text() const override {
    return "test_observer role=" + std::string(AttackRoleName(role_));
  }
  void OnUpdatesReceived(int64_t, const std::vector<float>&,
                         const std::vector<ClientUpdate>& updates) override {
    if (role_ == AttackRole::kRuntime) Observed().updates += static_cast<int64_t>(updates.size());
  }
  void OnGlobalModel(const ClientContext& c, const std::vector<float>&) override {
    if (role_ == AttackRole::kDevice && malicious_.count(c.client_id)) ++Observed().models;
  }
  void OnHostEvent(const HostEvent& e) override {
    if (role_ != AttackRole::kHost) return;
    if (e.payload != nullptr) {
      ++Observed().plaintext;
    } else {
      ++Observed().ciphertext;
    }
  }
  StatusOr<AttackReport> ComputeReport() override {
    AttackReport r;
    r.attack = name();
    r.success_metric = "seen";
    r.metrics["seen"] = static_cast<double>(Observed().updates + Observed().models +
                                            Observed().plaintext);
    r.received_input = r.metrics["seen"] > 0;
    return r;
  }

 private:
  AttackRole role_;
  std::set<int64_t> malicious_;
};

void RegisterObserver() {
  static bool done = [] {
    Status s = AttackRegistry().Add(
        ComponentSpec{"attack",
                      "test_observer",
                      "Records what the protocol hands its role (tests only).",
                      {Param::String("role", "runtime", "runtime, device or host")}},
        [](const ParamSet& p, const AttackEnv& env) -> StatusOr<AttackPtr> {
          const std::string& r = p.String("role");
          AttackRole role = r == "device" ? AttackRole::kDevice
                            : r == "host" ? AttackRole::kHost
                                          : AttackRole::kRuntime;
          return AttackPtr(std::make_shared<Observer>(role, env.malicious_clients));
        });
    EXPECT_TRUE(s.ok()) << s;
    return true;
  }();
  (void)done;
}

FederatedRunSpec Spec() {
  FederatedRunSpec s;
  s.name = "attested-fl";
  s.seed = 9;
  s.dataset = "synthetic";
  s.dataset_params = {
      {"num_samples", int64_t{240}}, {"num_features", int64_t{8}}, {"num_classes", int64_t{3}}};
  s.model = "mlp";
  s.model_params = {{"hidden", std::vector<int64_t>{8}}};
  s.partition = "iid";
  s.num_clients = 6;
  s.options.rounds = 2;
  s.options.clients_per_round = 4;
  s.options.local_batch_size = 16;
  s.options.optimizer.lr = 0.05;
  return s;
}

FederatedRunOutput RunSpec(FederatedRunSpec s) {
  StatusOr<FederatedRunOutput> out = RunFederatedExperiment(s);
  EXPECT_TRUE(out.ok()) << out.status();
  return out.ok() ? std::move(*out) : FederatedRunOutput{};
}

int64_t Admitted(const FederatedRunOutput& o) {
  int64_t n = 0;
  for (const RoundMetrics& m : o.result.rounds) n += m.clients_admitted;
  return n;
}

TEST(AttestedFl, RealmsAndChannelsDoNotChangeTheMath) {
  FederatedRunOutput plain = RunSpec(Spec());
  FederatedRunSpec s = Spec();
  s.use_deployment = true;
  s.tee_backend = "sim";
  s.attestation = AttestationMode::kPolicy;
  s.realm_memory_mb = 1;
  FederatedRunOutput attested = RunSpec(s);
  EXPECT_EQ(plain.result.final_state_hash, attested.result.final_state_hash);
  EXPECT_EQ(Admitted(attested), 8);
  // 6 clients at most, two links each (device -> runtime, runtime -> device).
  EXPECT_LE(attested.admissions.size(), 12u);
  for (const AdmissionRecord& a : attested.admissions) EXPECT_TRUE(a.admitted) << a.detail;
  EXPECT_GT(attested.tee_cost.tokens, 0u);
  EXPECT_GT(attested.tee_cost.bytes_crypted, 0u);
}

// A runtime carrying attack code: refused by every device under a policy, so
// it receives no update at all; admitted without a policy.
TEST(AttestedFl, RuntimeAttackGetsUpdatesOnlyWithoutAPolicy) {
  RegisterObserver();
  for (AttestationMode mode :
       {AttestationMode::kPolicy, AttestationMode::kTokens, AttestationMode::kOff}) {
    Observed().updates = 0;
    FederatedRunSpec s = Spec();
    s.use_deployment = true;
    s.tee_backend = mode == AttestationMode::kOff ? "none" : "sim";
    s.attestation = mode;
    s.realm_memory_mb = 1;
    s.attack = "test_observer";
    s.attack_params = {{"role", std::string("runtime")}};
    FederatedRunOutput out = RunSpec(s);
    ASSERT_TRUE(out.attack.has_value());
    if (mode == AttestationMode::kPolicy) {
      EXPECT_EQ(Observed().updates, 0);
      EXPECT_EQ(Admitted(out), 0);
      EXPECT_FALSE(out.attack->received_input);
      bool rim = false;
      for (const AdmissionRecord& a : out.admissions) rim |= !a.admitted && a.failed_checks == "rim";
      EXPECT_TRUE(rim);
    } else {
      EXPECT_EQ(Observed().updates, 8) << AttestationModeName(mode);
      EXPECT_TRUE(out.attack->received_input);
    }
  }
}

// Devices whose Program carries attack code are refused by the runtime;
// the honest ones still take part.
TEST(AttestedFl, MaliciousDevicesAreShutOutUnderAPolicy) {
  RegisterObserver();
  Observed().models = 0;
  FederatedRunSpec s = Spec();
  s.use_deployment = true;
  s.tee_backend = "sim";
  s.attestation = AttestationMode::kPolicy;
  s.realm_memory_mb = 1;
  s.attack = "test_observer";
  s.attack_params = {{"role", std::string("device")}};
  s.malicious_fraction = 0.5;
  FederatedRunOutput out = RunSpec(s);
  EXPECT_EQ(out.malicious_clients.size(), 3u);
  EXPECT_EQ(Observed().models, 0);
  int64_t refused = 0;
  for (const RoundMetrics& m : out.result.rounds) refused += m.clients_refused;
  EXPECT_GT(refused, 0);
  EXPECT_GT(Admitted(out), 0);

  // Wrongly listed: the malicious devices take part and see the models.
  s.trust_deployed = {"device"};
  RunSpec(s);
  EXPECT_GT(Observed().models, 0);
}

// A host on the path sees plaintext only without attested channels.
TEST(AttestedFl, HostSeesPlaintextOnlyWithoutChannels) {
  RegisterObserver();
  for (bool attested : {false, true}) {
    Observed().plaintext = 0;
    Observed().ciphertext = 0;
    FederatedRunSpec s = Spec();
    s.use_deployment = true;
    s.tee_backend = attested ? "sim" : "none";
    s.attestation = attested ? AttestationMode::kTokens : AttestationMode::kOff;
    s.realm_memory_mb = 1;
    s.attack = "test_observer";
    s.attack_params = {{"role", std::string("host")}};
    RunSpec(s);
    if (attested) {
      EXPECT_EQ(Observed().plaintext, 0);
      EXPECT_GT(Observed().ciphertext, 0);
    } else {
      EXPECT_GT(Observed().plaintext, 0);
    }
  }
}

}  // namespace
}  // namespace confml::experiments
