// The Islet federated word scenario (experiments/islet/fl_words_federated.yaml:
// dataset device_words, partition owned) as 1 verifier + 1 runtime + 1
// model-provider + 2 device processes. Device i's words are client i's data,
// so device i trains client i only, and a client whose device is lost is
// missing from the round rather than re-dealt.
#include <gtest/gtest.h>
#include <signal.h>

#include <filesystem>
#include <regex>
#include <string>
#include <utility>
#include <vector>

#include "process_util.h"

namespace confml::net {
namespace {

constexpr int kRounds = 10;  // fl_words_federated.yaml's

// The shipped config with its run folders under the cluster's directory;
// every process and the reference `confml run` get the same overrides.
std::vector<std::string> Overrides(const testing::Cluster& c,
                                   const std::vector<std::string>& extra = {}) {
  std::vector<std::string> o{"experiment.output_dir=" + c.Path("runs")};
  o.insert(o.end(), extra.begin(), extra.end());
  return o;
}

// The word scenario's parties: verifier and runtime (with `runtime_flags`),
// the model-provider and both devices. Devices are device-1 and device-2.
struct WordsRun {
  testing::FlowParties f;
  std::vector<pid_t> devices;
};

// Without `provider` no round starts until the test starts the
// model-provider itself.
WordsRun StartWords(testing::Cluster& c, const std::vector<std::string>& overrides,
                    const std::vector<std::string>& runtime_flags, bool provider = true) {
  WordsRun w;
  w.f = testing::StartVerifierAndRuntime(c, testing::FlWordsConfig(), 2, runtime_flags, overrides);
  if (w.f.runtime.empty()) return w;
  if (provider) testing::StartProvider(c, w.f.link, w.f.runtime, "model-provider.log");
  for (int i = 0; i < 2; ++i) {
    w.devices.push_back(
        c.Start(testing::DeviceArgs(w.f, i, 2), "device-" + std::to_string(i + 1) + ".log"));
  }
  return w;
}

// device-2 joined and frozen, then the model-provider started: round 1
// cannot start before the freeze, so device-2 is handed round 1's client and
// is SIGKILLed holding it, however fast or loaded the machine is.
::testing::AssertionResult KillDevice2HoldingRound1(testing::Cluster& c, const WordsRun& w) {
  if (!c.WaitForLog("runtime.log", "device device-2 joined", 90)) {
    return ::testing::AssertionFailure() << testing::ReadAll(c.Path("runtime.log"));
  }
  ::kill(w.devices[1], SIGSTOP);
  testing::StartProvider(c, w.f.link, w.f.runtime, "model-provider.log");
  if (!c.WaitForLog("runtime.log", "round 1: 1 clients to device-2", 90)) {
    return ::testing::AssertionFailure() << testing::ReadAll(c.Path("runtime.log"));
  }
  ::kill(w.devices[1], SIGKILL);
  if (!c.WaitExit(w.devices[1], 10)) return ::testing::AssertionFailure() << "device-2 lives on";
  return ::testing::AssertionSuccess();
}

// The per-round record of a results.json ("records": one line per round).
std::vector<std::string> Records(const std::string& results) {
  std::vector<std::string> out;
  static const std::regex kRecord("\\{\"round\": [^\\n]*");
  for (auto it = std::sregex_iterator(results.begin(), results.end(), kRecord);
       it != std::sregex_iterator(); ++it) {
    out.push_back(it->str());
  }
  return out;
}

std::string RunDir(const std::string& results) {
  std::smatch m;
  static const std::regex kDir("\"run_dir\": \"([^\"]+)\"");
  return std::regex_search(results, m, kDir) ? m[1].str() : "";
}

// How often `needle` occurs in `text`.
size_t Count(const std::string& text, const std::string& needle) {
  size_t n = 0;
  for (size_t at = text.find(needle); at != std::string::npos; at = text.find(needle, at + 1)) ++n;
  return n;
}

// Acceptance: both devices train their own words every round, the run ends
// with the model `confml run` computes in one process, and its test accuracy
// (next letters of every device's words) is 1: each device's model completes
// the other's words.
TEST(WordProcesses, EachDeviceTrainsItsOwnWordsAndTheModelIsTheSingleProcessOne) {
  testing::Cluster c;
  const testing::SingleRun ref =
      testing::RunInOneProcess(c, testing::FlWordsConfig(), Overrides(c));
  ASSERT_TRUE(ref.error.empty()) << ref.error;

  WordsRun w = StartWords(c, Overrides(c), {"--results", c.Path("results.json"), "--linger", "20"});
  ASSERT_FALSE(w.f.runtime.empty())
      << testing::ReadAll(c.Path("verifier.log")) << testing::ReadAll(c.Path("runtime.log"));
  for (size_t i = 0; i < w.devices.size(); ++i) {
    std::optional<int> rc = c.WaitExit(w.devices[i], 180);
    const std::string text = testing::ReadAll(c.Path("device-" + std::to_string(i + 1) + ".log"));
    ASSERT_TRUE(rc) << text;
    EXPECT_EQ(*rc, 0) << text;
    EXPECT_NE(text.find("trained " + std::to_string(kRounds) + " clients in " +
                        std::to_string(kRounds) + " rounds"),
              std::string::npos)
        << text;
    EXPECT_NE(text.find("final model " + ref.hash), std::string::npos) << text;
  }
  std::optional<int> rc = c.WaitExit(w.f.runtime_pid, 60);
  const std::string rlog = testing::ReadAll(c.Path("runtime.log"));
  ASSERT_TRUE(rc) << rlog;
  EXPECT_EQ(*rc, 0) << rlog;
  EXPECT_NE(rlog.find("owned data: device i trains client i only"), std::string::npos) << rlog;
  const std::string results = testing::ReadAll(c.Path("results.json"));
  EXPECT_EQ(testing::JsonHash(results), ref.hash) << results;
  EXPECT_NE(results.find("\"owned_clients\": true"), std::string::npos) << results;
  EXPECT_NE(results.find("\"final_test_accuracy\": 1,"), std::string::npos) << results;
  EXPECT_NE(results.find("\"dropouts\": []"), std::string::npos) << results;
  EXPECT_EQ(Count(results, "\"trained\": {\"device-1\": [0], \"device-2\": [1]}"),
            static_cast<size_t>(kRounds))
      << results;
}

// A device killed with SIGKILL during the run is a dropout; its client's
// data is its own, so nobody trains it in its place: every round after the
// kill has it missing (clients_dropped in fl_rounds.h5), the run completes
// with the other device's updates, and the final model is not the
// single-process one.
TEST(WordProcesses, KilledDeviceLeavesItsClientMissing) {
  testing::Cluster c;
  WordsRun w =
      StartWords(c, Overrides(c),
                 {"--round-timeout", "3", "--results", c.Path("results.json"), "--linger", "10"});
  ASSERT_FALSE(w.f.runtime.empty())
      << testing::ReadAll(c.Path("verifier.log")) << testing::ReadAll(c.Path("runtime.log"));
  ASSERT_TRUE(c.WaitForLog("runtime.log", "round 3: 1 clients to device-2", 120))
      << testing::ReadAll(c.Path("runtime.log"));
  ::kill(w.devices[1], SIGKILL);
  std::optional<int> rc1 = c.WaitExit(w.devices[0], 150);
  const std::string d1 = testing::ReadAll(c.Path("device-1.log"));
  ASSERT_TRUE(rc1) << d1;
  EXPECT_EQ(*rc1, 0) << d1;
  EXPECT_NE(d1.find("trained " + std::to_string(kRounds) + " clients"), std::string::npos) << d1;
  std::optional<int> rc = c.WaitExit(w.f.runtime_pid, 60);
  const std::string rlog = testing::ReadAll(c.Path("runtime.log"));
  ASSERT_TRUE(rc) << rlog;
  EXPECT_EQ(*rc, 0) << rlog;
  EXPECT_NE(rlog.find("device device-2 dropped out"), std::string::npos) << rlog;
  EXPECT_NE(rlog.find("client 1 is missing (device index 1 absent"), std::string::npos) << rlog;
  EXPECT_EQ(rlog.find("its clients are re-dealt"), std::string::npos) << rlog;
  const std::string results = testing::ReadAll(c.Path("results.json"));
  EXPECT_NE(results.find("\"dropouts\": [\"device-2\"]"), std::string::npos) << results;
  EXPECT_NE(results.find("\"missing\": [1]"), std::string::npos) << results;
  // device-1 never trained device-2's client.
  EXPECT_EQ(results.find("\"device-1\": [0, 1]"), std::string::npos) << results;
  EXPECT_EQ(results.find("\"device-1\": [1]"), std::string::npos) << results;

  StatusOr<std::vector<RoundMetrics>> rounds =
      experiments::ReadFederatedResults(RunDir(results) + "/fl_rounds.h5");
  ASSERT_TRUE(rounds.ok()) << rounds.status().ToString() << results;
  ASSERT_EQ(rounds->size(), static_cast<size_t>(kRounds));
  // Rounds 1 and 2 had both devices; from the kill on, client 1 is missing.
  EXPECT_EQ((*rounds)[0].clients_dropped, 0);
  EXPECT_EQ((*rounds)[1].clients_dropped, 0);
  EXPECT_EQ(rounds->back().clients_dropped, 1);
  for (size_t r = 1; r < rounds->size(); ++r) {
    EXPECT_GE((*rounds)[r].clients_dropped, (*rounds)[r - 1].clients_dropped) << "round " << r + 1;
  }
  const testing::SingleRun ref =
      testing::RunInOneProcess(c, testing::FlWordsConfig(), Overrides(c));
  ASSERT_TRUE(ref.error.empty()) << ref.error;
  EXPECT_NE(testing::JsonHash(results), ref.hash) << results;
}

// A device SIGKILLed while it holds round 1's client and restarted with the
// same index before the round times out takes that client again: nothing is
// missing and the run ends with the single-process model. (The runtime used
// to wait for the dead process's result for ever, since the new process
// waiting for work kept the device alive.)
TEST(WordProcesses, DeviceRestartedWithinTheRoundTrainsItsClientAgain) {
  testing::Cluster c;
  const testing::SingleRun ref =
      testing::RunInOneProcess(c, testing::FlWordsConfig(), Overrides(c));
  ASSERT_TRUE(ref.error.empty()) << ref.error;
  WordsRun w =
      StartWords(c, Overrides(c),
                 {"--round-timeout", "120", "--results", c.Path("results.json"), "--linger", "10"},
                 /*provider=*/false);
  ASSERT_FALSE(w.f.runtime.empty())
      << testing::ReadAll(c.Path("verifier.log")) << testing::ReadAll(c.Path("runtime.log"));
  ASSERT_TRUE(KillDevice2HoldingRound1(c, w));
  const pid_t again = c.Start(testing::DeviceArgs(w.f, 1, 2), "device-2-again.log");

  std::optional<int> rc = c.WaitExit(w.f.runtime_pid, 150);
  const std::string rlog = testing::ReadAll(c.Path("runtime.log"));
  ASSERT_TRUE(rc) << rlog;
  EXPECT_EQ(*rc, 0) << rlog;
  EXPECT_NE(rlog.find("round 1: client 1 handed to device-2 again"), std::string::npos) << rlog;
  for (const auto& [pid, log] : {std::pair{w.devices[0], std::string("device-1.log")},
                                 std::pair{again, std::string("device-2-again.log")}}) {
    std::optional<int> drc = c.WaitExit(pid, 60);
    const std::string text = testing::ReadAll(c.Path(log));
    ASSERT_TRUE(drc) << text;
    EXPECT_EQ(*drc, 0) << text;
    EXPECT_NE(text.find("trained " + std::to_string(kRounds) + " clients in " +
                        std::to_string(kRounds) + " rounds"),
              std::string::npos)
        << text;
  }
  const std::string results = testing::ReadAll(c.Path("results.json"));
  EXPECT_EQ(testing::JsonHash(results), ref.hash) << results;
  EXPECT_EQ(results.find("\"missing\": [1]"), std::string::npos) << results;
  EXPECT_EQ(Count(results, "\"trained\": {\"device-1\": [0], \"device-2\": [1]}"),
            static_cast<size_t>(kRounds))
      << results;
}

// A device away for longer than the round timeout misses that round and,
// restarted with the same index, trains its client again from the next one:
// client 1 is missing in round 1 only. device-1 is frozen from its round 1
// result until the restarted device-2 has taken round 2's work, so the rounds
// cannot run ahead of the restart; the round timeout (30 s) bounds how long
// the restart may take.
TEST(WordProcesses, RestartedDeviceIsMissingOnlyInTheRoundsItWasAway) {
  testing::Cluster c;
  WordsRun w =
      StartWords(c, Overrides(c),
                 {"--round-timeout", "30", "--results", c.Path("results.json"), "--linger", "10"},
                 /*provider=*/false);
  ASSERT_FALSE(w.f.runtime.empty())
      << testing::ReadAll(c.Path("verifier.log")) << testing::ReadAll(c.Path("runtime.log"));
  ASSERT_TRUE(KillDevice2HoldingRound1(c, w));
  // Round 1 waits out the timeout for the dead device-2 whatever device-1 does.
  ASSERT_TRUE(c.WaitForLog("device-1.log", "round 1: trained 1 clients", 60))
      << testing::ReadAll(c.Path("device-1.log"));
  ::kill(w.devices[0], SIGSTOP);
  ASSERT_TRUE(c.WaitForLog("runtime.log", "round 1: client 1 is missing", 60))
      << testing::ReadAll(c.Path("runtime.log"));
  const pid_t again = c.Start(testing::DeviceArgs(w.f, 1, 2), "device-2-again.log");
  const bool took = c.WaitForLog("runtime.log", "round 2: 1 clients to device-2", 60);
  ::kill(w.devices[0], SIGCONT);
  ASSERT_TRUE(took) << testing::ReadAll(c.Path("runtime.log"))
                    << testing::ReadAll(c.Path("device-2-again.log"));

  std::optional<int> rc = c.WaitExit(w.f.runtime_pid, 120);
  const std::string rlog = testing::ReadAll(c.Path("runtime.log"));
  ASSERT_TRUE(rc) << rlog;
  EXPECT_EQ(*rc, 0) << rlog;
  EXPECT_EQ(Count(rlog, "device device-2 joined as index 1"), 2u) << rlog;
  const std::string d2 = testing::ReadAll(c.Path("device-2-again.log"));
  std::optional<int> drc = c.WaitExit(again, 60);
  ASSERT_TRUE(drc) << d2;
  EXPECT_EQ(*drc, 0) << d2;
  EXPECT_NE(d2.find("trained " + std::to_string(kRounds - 1) + " clients in " +
                    std::to_string(kRounds - 1) + " rounds"),
            std::string::npos)
      << d2;

  const std::string results = testing::ReadAll(c.Path("results.json"));
  EXPECT_NE(results.find("\"dropouts\": [\"device-2\"]"), std::string::npos) << results;
  const std::vector<std::string> records = Records(results);
  ASSERT_EQ(records.size(), static_cast<size_t>(kRounds)) << results;
  EXPECT_NE(records[0].find("\"missing\": [1], \"trained\": {\"device-1\": [0]}"),
            std::string::npos)
      << records[0];
  for (size_t r = 1; r < records.size(); ++r) {
    EXPECT_NE(records[r].find("\"missing\": [], \"trained\": {\"device-1\": [0], "
                              "\"device-2\": [1]}"),
              std::string::npos)
        << records[r];
  }
  StatusOr<std::vector<RoundMetrics>> rounds =
      experiments::ReadFederatedResults(RunDir(results) + "/fl_rounds.h5");
  ASSERT_TRUE(rounds.ok()) << rounds.status().ToString() << results;
  ASSERT_EQ(rounds->size(), static_cast<size_t>(kRounds));
  for (size_t r = 0; r < rounds->size(); ++r) {
    EXPECT_EQ((*rounds)[r].clients_dropped, r == 0 ? 1 : 0) << "round " << r + 1;
  }
}

// With federated.min_updates 2, a round that loses a device waits
// --max-retries timeouts for it to come back, then the engine refuses the
// round: the runtime exits non-zero naming the counts, and the surviving
// device hears that the run failed.
TEST(WordProcesses, MinUpdatesRefusesARoundWithTooFewUpdates) {
  testing::Cluster c;
  WordsRun w = StartWords(c, Overrides(c, {"federated.min_updates=2"}),
                          {"--round-timeout", "3", "--max-retries", "1", "--results",
                           c.Path("results.json"), "--linger", "10"});
  ASSERT_FALSE(w.f.runtime.empty())
      << testing::ReadAll(c.Path("verifier.log")) << testing::ReadAll(c.Path("runtime.log"));
  ASSERT_TRUE(c.WaitForLog("runtime.log", "round 2: 1 clients to device-2", 120))
      << testing::ReadAll(c.Path("runtime.log"));
  ::kill(w.devices[1], SIGKILL);
  std::optional<int> rc = c.WaitExit(w.f.runtime_pid, 120);
  const std::string rlog = testing::ReadAll(c.Path("runtime.log"));
  ASSERT_TRUE(rc) << rlog;
  EXPECT_NE(*rc, 0) << rlog;
  EXPECT_NE(rlog.find("1 updates in, fewer than 2; waiting for the absent devices to (re)join "
                      "(attempt 1 of 1)"),
            std::string::npos)
      << rlog;
  EXPECT_NE(rlog.find("1 of 2 admitted clients sent an update (1 dropped out), fewer than "
                      "min_updates 2"),
            std::string::npos)
      << rlog;
  const std::string results = testing::ReadAll(c.Path("results.json"));
  EXPECT_NE(results.find("\"ok\": false"), std::string::npos) << results;
  EXPECT_NE(results.find("fewer than min_updates 2"), std::string::npos) << results;
  std::optional<int> d1 = c.WaitExit(w.devices[0], 60);
  const std::string dlog = testing::ReadAll(c.Path("device-1.log"));
  ASSERT_TRUE(d1) << dlog;
  EXPECT_NE(*d1, 0) << dlog;
  EXPECT_NE(dlog.find("the run failed at the runtime"), std::string::npos) << dlog;
}

// A runtime killed mid-run and restarted on the same address with --resume
// continues from its run folder's checkpoint; the devices reconnect, and the
// run ends with the single-process model. The first runtime pauses before
// round 5 (--pause-before-round), so the SIGKILL always lands with rounds
// 1-4 checkpointed and round 5 not yet handed out, however fast or loaded
// the machine is.
TEST(WordProcesses, RuntimeResumedFromItsRunFolderEndsWithTheSameModel) {
  testing::Cluster c;
  WordsRun w = StartWords(c, Overrides(c), {"--pause-before-round", "5"});
  ASSERT_FALSE(w.f.runtime.empty())
      << testing::ReadAll(c.Path("verifier.log")) << testing::ReadAll(c.Path("runtime.log"));
  ASSERT_TRUE(c.WaitForLog("runtime.log", "pausing before round 5", 120))
      << testing::ReadAll(c.Path("runtime.log"));
  ::kill(w.f.runtime_pid, SIGKILL);
  ASSERT_TRUE(c.WaitExit(w.f.runtime_pid, 10));
  const std::string log1 = testing::ReadAll(c.Path("runtime.log"));
  EXPECT_NE(log1.find("round 4: 2 client results gathered"), std::string::npos) << log1;
  EXPECT_EQ(log1.find("round 5 open"), std::string::npos) << log1;
  std::vector<std::filesystem::path> folders;
  for (const auto& e : std::filesystem::directory_iterator(c.Path("runs"))) {
    folders.push_back(e.path());
  }
  ASSERT_EQ(folders.size(), 1u);
  std::vector<std::string> again{
      "serve", "runtime",  "--listen",          w.f.runtime, "--devices",
      "2",     "--resume", folders[0].string(), "--results", c.Path("results.json")};
  again.insert(again.end(), w.f.link.begin(), w.f.link.end());
  pid_t second = c.Start(again, "runtime2.log");
  // The checkpoint's config hash covers the initial model: the restarted
  // runtime takes it from the model-provider again.
  testing::StartProvider(c, w.f.link, w.f.runtime, "model-provider-2.log");
  std::optional<int> rc = c.WaitExit(second, 120);
  const std::string log2 = testing::ReadAll(c.Path("runtime2.log"));
  ASSERT_TRUE(rc) << log2;
  EXPECT_EQ(*rc, 0) << log2;
  // Resumed exactly where the first runtime paused: rounds 1-4 are not run again.
  EXPECT_EQ(log2.find("round 4 open"), std::string::npos) << log2;
  EXPECT_NE(log2.find("round 5 open"), std::string::npos) << log2;
  EXPECT_NE(log2.find("round " + std::to_string(kRounds) + " open"), std::string::npos) << log2;
  for (pid_t d : w.devices) {
    std::optional<int> drc = c.WaitExit(d, 60);
    ASSERT_TRUE(drc);
    EXPECT_EQ(*drc, 0);
  }

  const testing::SingleRun ref =
      testing::RunInOneProcess(c, testing::FlWordsConfig(), Overrides(c));
  ASSERT_TRUE(ref.error.empty()) << ref.error;
  const std::string results = testing::ReadAll(c.Path("results.json"));
  EXPECT_EQ(testing::JsonHash(results), ref.hash) << results;
  EXPECT_NE(results.find("\"rounds_completed\": " + std::to_string(kRounds)), std::string::npos)
      << results;
}

}  // namespace
}  // namespace confml::net
