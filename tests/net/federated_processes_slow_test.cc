// The federated flow as 1 verifier + 1 runtime + 1 model-provider + N device
// processes: the model-provider releases the initial model, the runtime runs
// an ordinary `kind: federated` config through the engine from it and the
// devices train its clients; the final model must be bitwise the one
// `confml run` computes in one process.
#include <gtest/gtest.h>

#include <regex>

#include "net_common.h"
#include "net_internal.h"
#include "process_util.h"

namespace confml::net {
namespace {

// A small federated experiment with its parties in sim realms: a few seconds
// per process on two busy cores.
std::string WriteFederatedConfig(const testing::Cluster& c, int rounds = 3) {
  const std::string path = c.Path("federated.yaml");
  std::ofstream out(path);
  out << "experiment: {name: net_fl, seed: 7, threads: 1, kind: federated, output_dir: "
      << c.Path("runs") << "}\n"
      << "dataset: {name: synthetic, num_samples: 600, num_features: 16, num_classes: 4}\n"
         "model: {name: mlp, hidden: [32]}\n"
         "optimizer: {name: sgd, lr: 0.05, momentum: 0.9}\n"
      << "federated: {rounds: " << rounds
      << ", clients_per_round: 5, local_epochs: 1, batch_size: 16, workers: 1}\n"
         "partition: {name: dirichlet, num_clients: 10, alpha: 1.0}\n"
         "aggregator: {name: fedavg}\n"
         "tee: {name: sim}\n"
         "attestation: {mode: policy}\n";
  return path;
}

TEST(FederatedProcesses, FinalModelEqualsTheSingleProcessRun) {
  testing::Cluster c;
  const std::string config = WriteFederatedConfig(c);

  // The reference: `confml run` in one process.
  const testing::SingleRun ref = testing::RunInOneProcess(c, config);
  ASSERT_TRUE(ref.error.empty()) << ref.error;

  // The same config as processes.
  const testing::FlowParties f = testing::StartVerifierAndRuntime(
      c, config, 2, {"--results", c.Path("results.json"), "--linger", "20"});
  ASSERT_FALSE(f.runtime.empty()) << testing::ReadAll(c.Path("verifier.log"))
                                  << testing::ReadAll(c.Path("runtime.log"));
  const std::vector<std::string>& link = f.link;
  const pid_t runtime_pid = f.runtime_pid;
  const std::optional<std::string> runtime = f.runtime;
  const pid_t provider = testing::StartProvider(c, link, *runtime, "model-provider.log");
  std::vector<pid_t> devices;
  for (int i = 0; i < 2; ++i) {
    devices.push_back(
        c.Start(testing::DeviceArgs(f, i, 2), "device-" + std::to_string(i + 1) + ".log"));
  }
  // The model-provider released the initial model and was acknowledged.
  std::optional<int> prc = c.WaitExit(provider, 120);
  const std::string plog = testing::ReadAll(c.Path("model-provider.log"));
  ASSERT_TRUE(prc) << plog;
  EXPECT_EQ(*prc, 0) << plog;
  EXPECT_NE(plog.find("released the initial model to the attested runtime"), std::string::npos)
      << plog;
  for (size_t i = 0; i < devices.size(); ++i) {
    const std::string log = "device-" + std::to_string(i + 1) + ".log";
    std::optional<int> rc = c.WaitExit(devices[i], 120);
    const std::string text = testing::ReadAll(c.Path(log));
    ASSERT_TRUE(rc) << text;
    EXPECT_EQ(*rc, 0) << text;
    // Each device ends with the run's final model, having trained some clients.
    EXPECT_NE(text.find("final model " + ref.hash), std::string::npos) << text;
    EXPECT_EQ(text.find("trained 0 clients"), std::string::npos) << text;
  }
  std::optional<int> rc = c.WaitExit(runtime_pid, 60);
  const std::string rlog = testing::ReadAll(c.Path("runtime.log"));
  ASSERT_TRUE(rc) << rlog;
  EXPECT_EQ(*rc, 0) << rlog;
  const std::string results = testing::ReadAll(c.Path("results.json"));
  EXPECT_EQ(testing::JsonHash(results), ref.hash) << results;
  EXPECT_NE(results.find("\"dropouts\": []"), std::string::npos) << results;
  // The runtime wrote a run folder as `confml run` does, with the same model.
  std::smatch m;
  ASSERT_TRUE(std::regex_search(results, m, std::regex("\"run_dir\": \"([^\"]+)\""))) << results;
  EXPECT_NE(m[1].str(), ref.run_dir);
  StatusOr<std::string> written = experiments::ReadFederatedStateHash(m[1].str() + "/fl_rounds.h5");
  ASSERT_TRUE(written.ok()) << written.status().ToString();
  EXPECT_EQ(*written, ref.hash);
  // Clients were dealt by id mod 2: device-1 trained only even ids.
  EXPECT_NE(rlog.find("device device-1 joined as index 0 of 2"), std::string::npos) << rlog;
  EXPECT_NE(rlog.find("device device-2 joined as index 1 of 2"), std::string::npos) << rlog;
  EXPECT_NE(rlog.find("received the initial model from model-provider"), std::string::npos) << rlog;
}

// A device killed during the run is a dropout: recorded, its clients re-dealt
// to the device left, and the run still ends with the single-process model.
TEST(FederatedProcesses, KilledDeviceIsADropoutAndTheResultIsUnchanged) {
  testing::Cluster c;
  const std::string config = WriteFederatedConfig(c, 8);
  const testing::SingleRun ref = testing::RunInOneProcess(c, config);
  ASSERT_TRUE(ref.error.empty()) << ref.error;

  const testing::FlowParties f = testing::StartVerifierAndRuntime(
      c, config, 2,
      {"--round-timeout", "3", "--results", c.Path("results.json"), "--linger", "10"});
  ASSERT_FALSE(f.runtime.empty()) << testing::ReadAll(c.Path("verifier.log"))
                                  << testing::ReadAll(c.Path("runtime.log"));
  const std::vector<std::string>& link = f.link;
  const pid_t runtime_pid = f.runtime_pid;
  const std::optional<std::string> runtime = f.runtime;
  std::vector<pid_t> devices;
  for (int i = 0; i < 2; ++i) {
    devices.push_back(
        c.Start(testing::DeviceArgs(f, i, 2), "device-" + std::to_string(i + 1) + ".log"));
  }
  // device-2 is frozen once it has joined and killed once round 1 has gone
  // out to it, so it dies holding work whatever the machine's speed: the
  // rounds cannot start before the provider, started only after the freeze,
  // delivers the initial model.
  ASSERT_TRUE(c.WaitForLog("runtime.log", "device device-2 joined", 90))
      << testing::ReadAll(c.Path("runtime.log"));
  ::kill(devices[1], SIGSTOP);
  testing::StartProvider(c, link, *runtime, "model-provider.log");
  ASSERT_TRUE(c.WaitForLog("runtime.log", "clients to device-2", 90))
      << testing::ReadAll(c.Path("runtime.log"));
  ::kill(devices[1], SIGKILL);
  std::optional<int> rc1 = c.WaitExit(devices[0], 120);
  const std::string d1 = testing::ReadAll(c.Path("device-1.log"));
  ASSERT_TRUE(rc1) << d1;
  EXPECT_EQ(*rc1, 0) << d1;
  EXPECT_NE(d1.find("final model " + ref.hash), std::string::npos) << d1;
  std::optional<int> rc = c.WaitExit(runtime_pid, 60);
  const std::string rlog = testing::ReadAll(c.Path("runtime.log"));
  ASSERT_TRUE(rc) << rlog;
  EXPECT_EQ(*rc, 0) << rlog;
  EXPECT_NE(rlog.find("device device-2 dropped out"), std::string::npos) << rlog;
  const std::string results = testing::ReadAll(c.Path("results.json"));
  EXPECT_EQ(testing::JsonHash(results), ref.hash) << results;
  EXPECT_NE(results.find("\"dropouts\": [\"device-2\"]"), std::string::npos) << results;
}

// A device whose Program carries code the policy does not list never
// completes the TLS handshake with the runtime: no work is handed to it, and
// the failing finding is in the runtime's log.
TEST(FederatedProcesses, UnadmittedDeviceIsRefusedInTheHandshake) {
  testing::Cluster c;
  const std::string config = WriteFederatedConfig(c);
  const testing::FlowParties f = testing::StartVerifierAndRuntime(c, config, 1);
  ASSERT_FALSE(f.runtime.empty()) << testing::ReadAll(c.Path("verifier.log"))
                                  << testing::ReadAll(c.Path("runtime.log"));
  const std::optional<std::string> runtime = f.runtime;

  pid_t device =
      c.Start(testing::DeviceArgs(
                  f, 0, 1, {"--component", "attacks=exfiltrate_updates", "--connect-timeout", "6"}),
              "device.log");
  std::optional<int> rc = c.WaitExit(device, 90);
  const std::string log = testing::ReadAll(c.Path("device.log"));
  ASSERT_TRUE(rc) << log;
  EXPECT_NE(*rc, 0) << log;
  const std::string rlog = testing::ReadAll(c.Path("runtime.log"));
  EXPECT_NE(rlog.find("TLS handshake: refused 'device-1' as device: rim:"), std::string::npos)
      << rlog;
  EXPECT_EQ(rlog.find("joined"), std::string::npos) << rlog;
  EXPECT_EQ(rlog.find("clients to device-1"), std::string::npos) << rlog;
}

// The runtime takes the initial model only from an admitted model-provider
// of the same model: a provider whose Program carries code the policy does
// not list never completes the TLS handshake (the finding is in the
// runtime's log), a state of another size is refused by name, and without a
// delivery the run ends after --model-timeout with an error that says why.
TEST(FederatedProcesses, InitialModelOnlyFromAnAdmittedProviderOfTheSameModel) {
  testing::Cluster c;
  const std::string config = WriteFederatedConfig(c);
  const testing::FlowParties f =
      testing::StartVerifierAndRuntime(c, config, 1, {"--model-timeout", "12"});
  ASSERT_FALSE(f.runtime.empty()) << testing::ReadAll(c.Path("verifier.log"))
                                  << testing::ReadAll(c.Path("runtime.log"));
  const std::vector<std::string>& link = f.link;
  const pid_t runtime_pid = f.runtime_pid;
  const std::optional<std::string> runtime = f.runtime;

  const pid_t bad =
      testing::StartProvider(c, link, *runtime, "model-provider.log",
                             {"--component", "attacks=leak_model", "--connect-timeout", "5"});

  // This test process is an honest, attested model-provider of the same
  // config, delivering a state one float short.
  ModelProviderOptions o;
  o.config_path = config;
  o.name = "probe-provider";
  o.verifier = f.verifier;
  o.verifier_cert = c.Path("verifier.pem");
  StatusOr<internal::PartyProcess> p =
      internal::StartParty(o, o, std::string(kRoleModelProvider), nullptr, 30);
  ASSERT_TRUE(p.ok()) << p.status().ToString();
  auto check =
      grpc::experimental::ExternalCertificateVerifier::Create<internal::AttestedPeerVerifier>(
          p->trust, std::vector<std::string>{std::string(kRoleRuntime)}, p->log);
  auto stub = confml::v1::Runtime::NewStub(grpc::CreateCustomChannel(
      *runtime, internal::ChannelCredentials(p->identity, check), internal::ChannelArgs(8 << 20)));
  // One float short of what the runtime's engine asks for.
  ASSERT_TRUE(c.WaitForLog("runtime.log", "floats) from the model-provider", 60))
      << testing::ReadAll(c.Path("runtime.log"));
  std::smatch m;
  const std::string waiting = testing::ReadAll(c.Path("runtime.log"));
  ASSERT_TRUE(std::regex_search(waiting, m, std::regex("initial model \\((\\d+) floats\\)")))
      << waiting;
  const int64_t size = std::stoll(m[1].str());
  const std::vector<float> short_state(static_cast<size_t>(size - 1), 0.5f);
  confml::v1::ModelChunk meta;
  const Bytes digest = internal::ConfigDigest(*p->scenario.experiment);
  meta.set_config_digest(std::string(digest.begin(), digest.end()));
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
  confml::v1::Ack ack;
  auto writer = stub->DeliverModel(&ctx, &ack);
  ASSERT_TRUE(internal::SendModel(writer.get(), short_state, 0, false, 4096, &meta).ok());
  writer->WritesDone();
  const grpc::Status refused = writer->Finish();
  EXPECT_EQ(refused.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << refused.error_message();
  EXPECT_NE(refused.error_message().find("has " + std::to_string(size - 1) +
                                         " floats, but this run's model 'mlp' has " +
                                         std::to_string(size)),
            std::string::npos)
      << refused.error_message();

  std::optional<int> brc = c.WaitExit(bad, 60);
  const std::string blog = testing::ReadAll(c.Path("model-provider.log"));
  ASSERT_TRUE(brc) << blog;
  EXPECT_NE(*brc, 0) << blog;
  std::optional<int> rrc = c.WaitExit(runtime_pid, 60);
  const std::string rlog = testing::ReadAll(c.Path("runtime.log"));
  ASSERT_TRUE(rrc) << rlog;
  EXPECT_NE(*rrc, 0) << rlog;
  EXPECT_NE(rlog.find("TLS handshake: refused 'model-provider' as model-provider: rim:"),
            std::string::npos)
      << rlog;
  EXPECT_NE(rlog.find("rejected DeliverModel from probe-provider"), std::string::npos) << rlog;
  EXPECT_EQ(rlog.find("received the initial model"), std::string::npos) << rlog;
  EXPECT_EQ(rlog.find("round 1 open"), std::string::npos) << rlog;
  EXPECT_NE(rlog.find("no model-provider delivered the initial model within 12 s"),
            std::string::npos)
      << rlog;
}

// Devices that would not compute the same experiment are refused by name
// before any work is handed out: another resolved config, another device
// count.
TEST(FederatedProcesses, DeviceWithAnotherConfigOrCountIsRefused) {
  testing::Cluster c;
  const std::string config = WriteFederatedConfig(c);
  const testing::FlowParties f = testing::StartVerifierAndRuntime(c, config, 2);
  ASSERT_FALSE(f.runtime.empty()) << testing::ReadAll(c.Path("verifier.log"))
                                  << testing::ReadAll(c.Path("runtime.log"));
  const std::optional<std::string> runtime = f.runtime;

  pid_t a = c.Start(testing::DeviceArgs(f, 0, 2, {"--set", "federated.rounds=4"}), "device-1.log");
  pid_t b = c.Start(testing::DeviceArgs(f, 1, 3), "device-2.log");
  for (pid_t pid : {a, b}) {
    std::optional<int> rc = c.WaitExit(pid, 60);
    ASSERT_TRUE(rc);
    EXPECT_NE(*rc, 0);
  }
  const std::string rlog = testing::ReadAll(c.Path("runtime.log"));
  EXPECT_NE(rlog.find("rejected GetWork from device-1"), std::string::npos) << rlog;
  EXPECT_NE(rlog.find("differs from the runtime's"), std::string::npos) << rlog;
  EXPECT_NE(rlog.find("--of must equal --devices"), std::string::npos) << rlog;
  EXPECT_EQ(rlog.find("joined"), std::string::npos) << rlog;
  EXPECT_NE(testing::ReadAll(c.Path("device-1.log")).find("differs from the runtime's"),
            std::string::npos);
}

}  // namespace
}  // namespace confml::net
