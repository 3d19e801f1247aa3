// Tests of FederatedOptions::always_sampled (confml/core/federated.h): fixed
// participants in every round, the free slots drawn from the other clients
// with the round's sample seed, and the option's validation.
#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <vector>

#include "confml/core/federated.h"

namespace confml {
namespace {

class Participants : public FederatedHooks {
 public:
  void OnGlobalModel(const ClientContext& c, const std::vector<float>&) override {
    std::lock_guard<std::mutex> lock(mu_);
    by_round[c.round].push_back(c.client_id);
  }
  std::map<int64_t, std::vector<int64_t>> by_round;

 private:
  std::mutex mu_;
};

class AlwaysSampledTest : public ::testing::Test {
 protected:
  void SetUp() override {
    StatusOr<Dataset> all =
        MakeSynthetic({.num_samples = 240, .num_features = 8, .num_classes = 3}, Seed(11));
    ASSERT_TRUE(all.ok()) << all.status();
    train_ = *all;
  }
  FederatedOptions Options() const {
    FederatedOptions o;
    o.rounds = 6;
    o.clients_per_round = 4;
    o.local_batch_size = 16;
    o.optimizer.name = "sgd";
    o.optimizer.lr = 0.05;
    o.eval_every = 0;
    return o;
  }
  FederatedSetup Setup() const {
    FederatedSetup s;
    s.model = "mlp";
    s.model_params = {{"hidden", std::vector<int64_t>{8}}};
    s.train = &train_;
    StatusOr<Partition> p = PartitionIid(train_.labels, 8, Seed(5).Child("partition"));
    EXPECT_TRUE(p.ok());
    s.partition = *p;
    s.seed = Seed(5);
    return s;
  }
  Dataset train_;
};

TEST_F(AlwaysSampledTest, FixedClientsTakePartInEveryRoundAndTheRestFollowTheSampleSeed) {
  FederatedOptions o = Options();
  o.always_sampled = {5, 2};
  StatusOr<std::unique_ptr<FederatedEngine>> e = FederatedEngine::Create(o, Setup());
  ASSERT_TRUE(e.ok()) << e.status();
  auto rec = std::make_shared<Participants>();
  (*e)->AddHooks(rec);
  ASSERT_TRUE((*e)->Run().ok());
  ASSERT_EQ(rec->by_round.size(), 6u);
  const std::vector<int64_t> rest = {0, 1, 3, 4, 6, 7};
  std::set<std::vector<int64_t>> distinct;
  for (int64_t round = 1; round <= 6; ++round) {
    // The documented stream: two free slots drawn among the six others.
    std::vector<int64_t> expect = {2, 5};
    for (int64_t k : Seed(5)
                         .Child("fl")
                         .Child("round", static_cast<uint64_t>(round))
                         .Child("sample")
                         .MakeRng()
                         .SampleWithoutReplacement(6, 2)) {
      expect.push_back(rest[static_cast<size_t>(k)]);
    }
    std::sort(expect.begin(), expect.end());
    std::vector<int64_t> got = rec->by_round[round];
    std::sort(got.begin(), got.end());
    EXPECT_EQ(got, expect) << "round " << round;
    distinct.insert(got);
  }
  // The free slots really vary (else the property row would see one answer).
  EXPECT_GT(distinct.size(), 1u);
}

TEST_F(AlwaysSampledTest, ChangesTheConfigHashOnlyWhenSet) {
  StatusOr<std::unique_ptr<FederatedEngine>> plain = FederatedEngine::Create(Options(), Setup());
  FederatedOptions o = Options();
  o.always_sampled = {3};
  StatusOr<std::unique_ptr<FederatedEngine>> fixed = FederatedEngine::Create(o, Setup());
  ASSERT_TRUE(plain.ok() && fixed.ok());
  EXPECT_NE((*plain)->config_hash(), (*fixed)->config_hash());
  StatusOr<std::unique_ptr<FederatedEngine>> again = FederatedEngine::Create(Options(), Setup());
  ASSERT_TRUE(again.ok());
  EXPECT_EQ((*plain)->config_hash(), (*again)->config_hash());
}

TEST_F(AlwaysSampledTest, RejectsTooManyOutOfRangeAndRepeatedClients) {
  auto code = [&](std::vector<int64_t> ids) {
    FederatedOptions o = Options();
    o.always_sampled = std::move(ids);
    return FederatedEngine::Create(o, Setup()).status().code();
  };
  EXPECT_EQ(code({0, 1, 2, 3, 4}), StatusCode::kInvalidArgument);  // > clients_per_round
  EXPECT_EQ(code({8}), StatusCode::kInvalidArgument);              // 8 clients: 0..7
  EXPECT_EQ(code({-1}), StatusCode::kInvalidArgument);
  EXPECT_EQ(code({4, 4}), StatusCode::kInvalidArgument);
  EXPECT_EQ(code({0, 1, 2, 3}), StatusCode::kOk);  // every slot fixed
}

}  // namespace
}  // namespace confml
