// Attack::Report() called directly through the C++ API (outside the runner,
// which holds its thread at one LibTorch intra-op thread) gives the same bits
// at the caller's 1 and 2 threads: Attack::Report() runs every attack's
// ComputeReport() inside OneIntraOpThread. Without it the MLP's first layer
// (an OpenBLAS sgemm over 784 inputs) sums in per-thread pieces at 2 threads
// and the continuous metrics (mean member score) drift in their last bits.
#include <ATen/Parallel.h>
#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "../common/data_util.h"
#include "confml/attacks/attacks.h"
#include "confml/core/attack.h"
#include "confml/core/federated.h"
#include "federation_util.h"

namespace confml::attacks {
namespace {

const std::string kDir = "/usr/share/datasets/fashion-mnist";

// Restores the process's LibTorch thread count when a test ends.
class TorchThreads {
 public:
  TorchThreads() : previous_(at::get_num_threads()) {}
  ~TorchThreads() { at::set_num_threads(previous_); }

 private:
  int previous_;
};

class ReportThreadsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!std::filesystem::exists(kDir + "/t10k-images-idx3-ubyte.gz")) {
      GTEST_SKIP() << "no Fashion-MNIST";
    }
    ASSERT_TRUE(RegisterBuiltinAttacks().ok());
    StatusOr<Dataset> all = LoadFashionMnist(kDir, Split::kTest);
    ASSERT_TRUE(all.ok()) << all.status();
    testing::SplitAt(*all, 400, 1000, &train_, &test_);
    partition_ = {{}, {}};
    for (int64_t i = 0; i < train_.size(); ++i) partition_[static_cast<size_t>(i % 2)].push_back(i);
  }

  // Runs one small federation with two identical copies of `attack`, then
  // reports the first at 1 LibTorch thread and the second at 2.
  std::pair<AttackReport, AttackReport> ReportAtOneAndTwo(
      const std::string& attack, const std::map<std::string, ParamValue>& params) {
    AttackEnv env;
    env.model = "mlp";
    env.model_params = {{"hidden", std::vector<int64_t>{64}}};
    env.train = &train_;
    env.test = &test_;
    env.partition = &partition_;
    env.malicious_clients = {1};
    env.local_epochs = 2;
    env.local_batch_size = 32;
    env.learning_rate = 0.05;
    env.rounds = 2;
    env.clients_per_round = 2;
    env.seed = Seed(41);
    std::vector<AttackPtr> copies;
    for (int k = 0; k < 2; ++k) {
      StatusOr<AttackPtr> a = CreateAttack(attack, params, env);
      EXPECT_TRUE(a.ok()) << a.status();
      if (!a.ok()) return {};
      copies.push_back(*a);
    }
    StatusOr<std::unique_ptr<FederatedEngine>> e =
        FederatedEngine::Create(FederatedOptionsOf(env), SetupFor(env, Seed(5)));
    EXPECT_TRUE(e.ok()) << e.status();
    if (!e.ok()) return {};
    for (const AttackPtr& a : copies) (*e)->AddHooks(a);
    StatusOr<FederatedResult> run = (*e)->Run();
    EXPECT_TRUE(run.ok()) << run.status();

    TorchThreads restore;
    std::pair<AttackReport, AttackReport> out;
    at::set_num_threads(1);
    StatusOr<AttackReport> one = copies[0]->Report();
    at::set_num_threads(2);
    StatusOr<AttackReport> two = copies[1]->Report();
    EXPECT_TRUE(one.ok()) << one.status();
    EXPECT_TRUE(two.ok()) << two.status();
    if (one.ok()) out.first = *one;
    if (two.ok()) out.second = *two;
    return out;
  }

  static void ExpectSameBits(const AttackReport& one, const AttackReport& two,
                             const std::string& must_have) {
    ASSERT_TRUE(one.received_input);
    ASSERT_EQ(one.metrics.count(must_have), 1u);
    ASSERT_EQ(one.metrics.size(), two.metrics.size());
    for (const auto& [key, value] : one.metrics) {
      ASSERT_EQ(two.metrics.count(key), 1u) << key;
      uint64_t a = 0, b = 0;
      std::memcpy(&a, &value, sizeof a);
      std::memcpy(&b, &two.metrics.at(key), sizeof b);
      EXPECT_EQ(a, b) << key << " is " << value << " at 1 thread, " << two.metrics.at(key)
                      << " at 2";
    }
  }

  Dataset train_, test_;
  Partition partition_;
};

TEST_F(ReportThreadsTest, MembershipShadowModels) {
  auto [one, two] = ReportAtOneAndTwo("membership_shadow", {{"num_samples", int64_t{100}},
                                                            {"num_shadow", int64_t{1}},
                                                            {"shadow_epochs", int64_t{3}},
                                                            {"shadow_size", int64_t{100}},
                                                            {"attack_steps", int64_t{50}}});
  ExpectSameBits(one, two, "member_mean_score");
}

TEST_F(ReportThreadsTest, MembershipLossThreshold) {
  auto [one, two] = ReportAtOneAndTwo("membership_loss", {{"num_samples", int64_t{100}}});
  ExpectSameBits(one, two, "member_mean_score");
}

}  // namespace
}  // namespace confml::attacks
