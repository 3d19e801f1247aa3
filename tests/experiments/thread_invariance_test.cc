// Attack metrics do not depend on experiment.threads: attack code runs
// LibTorch on the run's own thread, which the runner and the federated engine
// hold at one intra-op thread (OneIntraOpThread, core/thread_scope.h). Each
// test runs a shipped attack config at a tiny size at 1 and at 2 threads and
// compares every attack metric bit for bit. Without the scope the MLP's first
// layer (an OpenBLAS sgemm over 784 inputs) sums in per-thread pieces at 2
// threads and the metrics drift in their last bits (docs/models.md, "Thread
// count").
#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "confml/experiments/runner.h"
#include "run_util.h"

namespace confml::experiments {
namespace {

const std::string kFashionMnist = "/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz";

RunResult RunAt(const std::string& rel, int threads, std::vector<std::string> overrides) {
  overrides.push_back("experiment.threads=" + std::to_string(threads));
  return testing::RunShippedConfig(rel, std::move(overrides));
}

// The outcome entries named attack.*, as their bits (NaN compares equal to
// itself, and -0 differs from 0).
std::map<std::string, uint64_t> AttackBits(const RunResult& r) {
  std::map<std::string, uint64_t> bits;
  for (const auto& [key, value] : r.outcome) {
    if (key.rfind("attack.", 0) != 0) continue;
    uint64_t b = 0;
    std::memcpy(&b, &value, sizeof b);
    bits[key] = b;
  }
  return bits;
}

void ExpectSameAtOneAndTwoThreads(const std::string& rel, const std::vector<std::string>& tiny,
                                  const std::vector<std::string>& must_have) {
  const RunResult one = RunAt(rel, 1, tiny);
  const RunResult two = RunAt(rel, 2, tiny);
  const std::map<std::string, uint64_t> a = AttackBits(one), b = AttackBits(two);
  for (const std::string& key : must_have) {
    ASSERT_TRUE(a.count(key)) << rel << " reports no " << key << "\n" << testing::EventsText(one);
  }
  EXPECT_EQ(a.size(), b.size());
  for (const auto& [key, bits] : a) {
    ASSERT_TRUE(b.count(key)) << key;
    EXPECT_EQ(bits, b.at(key)) << rel << ": " << key << " is " << one.outcome.at(key)
                               << " at 1 thread, " << two.outcome.at(key) << " at 2";
  }
  // The crafted updates went into the global model, so it must match too.
  EXPECT_EQ(one.final_state_hash, two.final_state_hash) << rel;
}

class ThreadInvariance : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!std::filesystem::exists(kFashionMnist)) GTEST_SKIP() << "no Fashion-MNIST";
  }
};

// 2 devices x 100 images; the victim's 60 members against 60 test images.
const std::vector<std::string> kTinyMembership = {
    "dataset.train_limit=200", "dataset.test_limit=400",   "model.hidden=[200]",
    "federated.rounds=2",      "federated.local_epochs=2", "attack.num_samples=60"};

TEST_F(ThreadInvariance, MembershipLossThreshold) {
  ExpectSameAtOneAndTwoThreads(
      "attacks/membership_loss", kTinyMembership,
      {"attack.auc", "attack.member_mean_score", "attack.nonmember_mean_score"});
}

TEST_F(ThreadInvariance, MembershipShadowModels) {
  std::vector<std::string> tiny = kTinyMembership;
  for (const char* o : {"attack.num_shadow=2", "attack.shadow_size=100", "attack.shadow_epochs=3",
                        "attack.attack_steps=40"}) {
    tiny.push_back(o);
  }
  ExpectSameAtOneAndTwoThreads(
      "attacks/membership_shadow", tiny,
      {"attack.auc", "attack.member_mean_score", "attack.shadow_train_accuracy"});
}

// One malicious device of 10 in the last of 2 rounds, trained by the
// attacker's own loop (attacks/src/poisoning.cc) for 2 epochs.
TEST_F(ThreadInvariance, BackdoorModelReplacement) {
  ExpectSameAtOneAndTwoThreads(
      "attacks/poison_backdoor",
      {"dataset.train_limit=600", "dataset.test_limit=200", "partition.num_clients=10",
       "federated.clients_per_round=10", "federated.rounds=2", "federated.local_epochs=1",
       "federated.eval_every=1", "attack.malicious_fraction=0.1", "attack.start_round=2",
       "attack.attack_rounds=[2]", "attack.attacker_epochs=2", "attack.global_clean_inputs=256"},
      {"attack.success_rate_after_attack", "attack.local_success_rate",
       "attack.replacement_error"});
}

}  // namespace
}  // namespace confml::experiments
