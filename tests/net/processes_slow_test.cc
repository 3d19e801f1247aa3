// The Islet federated word scenario as 1 verifier + 1 runtime + 1
// model-provider + N device processes on loopback.
#include <gtest/gtest.h>

#include "process_util.h"

namespace confml::net {
namespace {

struct ProcessRun {
  testing::Cluster c;
  std::string config, verifier, runtime;
  pid_t runtime_pid = 0;
  std::vector<pid_t> devices;

  std::vector<std::string> Link() const {
    return {"--config", config, "--verifier", verifier, "--verifier-cert", c.Path("verifier.pem")};
  }
  void Start(const std::string& cfg, int n, const std::vector<std::string>& runtime_flags) {
    config = cfg;
    verifier = c.StartVerifier(config);
    ASSERT_FALSE(verifier.empty()) << testing::ReadAll(c.Path("verifier.log"));
    std::vector<std::string> rt{"serve",        "runtime",
                                "--listen",     "127.0.0.1:0",
                                "--ready-file", c.Path("runtime.addr"),
                                "--devices",    std::to_string(n),
                                "--results",    c.Path("results.json"),
                                "--linger",     "20"};
    rt.insert(rt.end(), runtime_flags.begin(), runtime_flags.end());
    for (const std::string& a : Link()) rt.push_back(a);
    runtime_pid = c.Start(rt, "runtime.log");
    std::optional<std::string> addr = c.WaitForFile("runtime.addr", 60);
    ASSERT_TRUE(addr) << testing::ReadAll(c.Path("runtime.log"));
    runtime = *addr;
    std::vector<std::string> mp{"serve", "model-provider", "--runtime",
                                runtime, "--chunk-bytes",  "1024"};
    for (const std::string& a : Link()) mp.push_back(a);
    c.Start(mp, "provider.log");
    for (int i = 0; i < n; ++i) {
      std::vector<std::string> dev{
          "device",          "--runtime",       runtime,
          "--index",         std::to_string(i), "--of",
          std::to_string(n), "--name",          "device-" + std::to_string(i + 1)};
      for (const std::string& a : Link()) dev.push_back(a);
      devices.push_back(c.Start(dev, "device-" + std::to_string(i + 1) + ".log"));
    }
  }
};

// Acceptance: after FedAvg each device completes the other device's words.
TEST(Processes, WordScenarioEachDevicePredictsTheOthersWords) {
  ProcessRun r;
  r.Start(testing::FlWordsConfig(), 2, {});
  if (HasFatalFailure()) return;
  for (size_t i = 0; i < r.devices.size(); ++i) {
    const std::string log = "device-" + std::to_string(i + 1) + ".log";
    std::optional<int> rc = r.c.WaitExit(r.devices[i], 180);
    const std::string text = testing::ReadAll(r.c.Path(log));
    ASSERT_TRUE(rc) << text;
    EXPECT_EQ(*rc, 0) << text;
    EXPECT_NE(text.find("others_accuracy=1.000000"), std::string::npos) << text;
  }
  // Device 1 typed about/house/plant; device 2 green/stone/lucky.
  EXPECT_NE(testing::ReadAll(r.c.Path("device-1.log")).find("gre -> green"), std::string::npos);
  EXPECT_NE(testing::ReadAll(r.c.Path("device-2.log")).find("abo -> about"), std::string::npos);
  std::optional<int> rt = r.c.WaitExit(r.runtime_pid, 60);
  ASSERT_TRUE(rt) << testing::ReadAll(r.c.Path("runtime.log"));
  EXPECT_EQ(*rt, 0);
  const std::string results = testing::ReadAll(r.c.Path("results.json"));
  EXPECT_NE(results.find("\"rounds_completed\": 10"), std::string::npos) << results;
  EXPECT_NE(results.find("\"dropouts\": []"), std::string::npos) << results;
  EXPECT_NE(testing::ReadAll(r.c.Path("provider.log")).find("bytes acknowledged"),
            std::string::npos);
}

// Acceptance: one of 4 devices is killed mid-run; the runtime finishes with
// the dropout recorded and the rest keep training.
TEST(Processes, KilledDeviceIsADropoutAndTheRunFinishes) {
  ProcessRun r;
  // Enough local work per round that the kill lands mid-run, not after the end.
  const std::string cfg = r.c.Config("fl_rounds: 6, fl_local_epochs: 150");
  r.Start(cfg, 4, {"--min-clients", "2", "--round-timeout", "5"});
  if (HasFatalFailure()) return;
  ASSERT_TRUE(r.c.WaitForLog("device-3.log", "round 0: update sent", 120))
      << testing::ReadAll(r.c.Path("device-3.log"));
  ::kill(r.devices[2], SIGKILL);
  std::optional<int> rt = r.c.WaitExit(r.runtime_pid, 150);
  const std::string rlog = testing::ReadAll(r.c.Path("runtime.log"));
  ASSERT_TRUE(rt) << rlog;
  EXPECT_EQ(*rt, 0) << rlog;
  const std::string results = testing::ReadAll(r.c.Path("results.json"));
  EXPECT_NE(results.find("\"rounds_completed\": 6"), std::string::npos) << results;
  EXPECT_NE(results.find("\"dropouts\": [\"device-3\"]"), std::string::npos) << results;
  EXPECT_NE(rlog.find("device device-3 dropped out"), std::string::npos) << rlog;
  for (size_t i : {0u, 1u, 3u}) {
    std::optional<int> rc = r.c.WaitExit(r.devices[i], 60);
    ASSERT_TRUE(rc);
    EXPECT_EQ(*rc, 0) << testing::ReadAll(r.c.Path("device-" + std::to_string(i + 1) + ".log"));
  }
}

// With fewer devices left than min_clients, a round is retried, and after
// max_retries the runtime gives up with a clear error instead of aggregating.
TEST(Processes, TooFewDevicesLeftRetriesThenFails) {
  ProcessRun r;
  const std::string cfg = r.c.Config("fl_rounds: 6, fl_local_epochs: 150");
  r.Start(cfg, 2, {"--min-clients", "2", "--round-timeout", "3", "--max-retries", "2"});
  if (HasFatalFailure()) return;
  ASSERT_TRUE(r.c.WaitForLog("device-2.log", "round 0: update sent", 120));
  ::kill(r.devices[1], SIGKILL);
  std::optional<int> rt = r.c.WaitExit(r.runtime_pid, 120);
  const std::string log = testing::ReadAll(r.c.Path("runtime.log"));
  ASSERT_TRUE(rt) << log;
  EXPECT_NE(*rt, 0) << log;
  EXPECT_NE(log.find("fewer than min_clients 2; retrying"), std::string::npos) << log;
  EXPECT_NE(log.find("failed 3 times: not enough devices"), std::string::npos) << log;
  EXPECT_NE(testing::ReadAll(r.c.Path("results.json")).find("\"dropouts\": [\"device-2\"]"),
            std::string::npos);
}

// A runtime killed after a round and restarted from its checkpoint on the
// same address resumes there; the devices reconnect (re-appraising its new
// certificate) and the run completes. The first runtime pauses before round
// 2 (--pause-before-round), so the kill always lands with rounds 0 and 1
// checkpointed, whatever the machine's speed.
TEST(Processes, RuntimeRestartedFromItsCheckpointResumes) {
  ProcessRun r;
  const std::string cfg = r.c.Config("fl_rounds: 6");
  r.Start(cfg, 2, {"--checkpoint", r.c.Path("runtime.ckpt"), "--pause-before-round", "2"});
  if (HasFatalFailure()) return;
  ASSERT_TRUE(r.c.WaitForLog("runtime.log", "pausing before round 2", 120))
      << testing::ReadAll(r.c.Path("runtime.log"));
  ::kill(r.runtime_pid, SIGKILL);
  ASSERT_TRUE(r.c.WaitExit(r.runtime_pid, 10));
  EXPECT_EQ(testing::ReadAll(r.c.Path("runtime.log")).find("round 2 open"), std::string::npos);
  std::vector<std::string> rt{"serve",        "runtime",
                              "--listen",     r.runtime,
                              "--devices",    "2",
                              "--results",    r.c.Path("results.json"),
                              "--checkpoint", r.c.Path("runtime.ckpt"),
                              "--linger",     "20"};
  for (const std::string& a : r.Link()) rt.push_back(a);
  pid_t again = r.c.Start(rt, "runtime2.log");
  std::optional<int> code = r.c.WaitExit(again, 150);
  const std::string log2 = testing::ReadAll(r.c.Path("runtime2.log"));
  ASSERT_TRUE(code) << log2;
  EXPECT_EQ(*code, 0) << log2;
  EXPECT_NE(log2.find("resumed from checkpoint " + r.c.Path("runtime.ckpt") + " at round 2"),
            std::string::npos)
      << log2;
  EXPECT_EQ(log2.find("round 1 open"), std::string::npos) << log2;  // not run again
  EXPECT_NE(log2.find("round 2 open"), std::string::npos) << log2;
  const std::string results = testing::ReadAll(r.c.Path("results.json"));
  EXPECT_NE(results.find("\"rounds_completed\": 6"), std::string::npos) << results;
  for (size_t i = 0; i < r.devices.size(); ++i) {
    std::optional<int> rc = r.c.WaitExit(r.devices[i], 60);
    ASSERT_TRUE(rc);
    EXPECT_EQ(*rc, 0) << testing::ReadAll(r.c.Path("device-" + std::to_string(i + 1) + ".log"));
  }
}

}  // namespace
}  // namespace confml::net
