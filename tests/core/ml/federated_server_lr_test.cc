// Tests of FederatedOptions::server_lr: the runtime's step on the aggregate
// (global += server_lr * aggregate), checked against a hand computation from
// the updates the runtime received.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <memory>
#include <string>
#include <vector>

#include "../../common/data_util.h"
#include "../../common/temp_dir.h"
#include "confml/core/aggregator.h"
#include "confml/core/federated.h"

namespace confml {
namespace {

// Keeps the updates the runtime aggregates in the last round.
class KeepUpdates : public FederatedHooks {
 public:
  void OnUpdatesReceived(int64_t, const std::vector<float>&,
                         const std::vector<ClientUpdate>& updates) override {
    updates_ = updates;
  }
  std::vector<ClientUpdate> updates_;
};

class ServerLrTest : public ::testing::Test {
 protected:
  void SetUp() override {
    StatusOr<Dataset> all = MakeSynthetic(
        {.num_samples = 120, .num_features = 4, .num_classes = 3, .separation = 1.5}, Seed(3));
    ASSERT_TRUE(all.ok()) << all.status();
    testing::SplitEvery(*all, 4, &train_, &test_);
  }
  FederatedOptions Options(double server_lr) const {
    FederatedOptions o;
    o.rounds = 3;
    o.clients_per_round = 3;
    o.local_batch_size = 8;
    o.optimizer.lr = 0.1;
    o.eval_every = 0;
    o.server_lr = server_lr;
    return o;
  }
  FederatedSetup Setup() const {
    FederatedSetup s;
    s.model = "mlp";
    s.model_params = {{"hidden", std::vector<int64_t>{4}}};  // A tiny model: 35 floats.
    s.train = &train_;
    s.test = &test_;
    StatusOr<Partition> p = PartitionIid(train_.labels, 4, Seed(5));
    EXPECT_TRUE(p.ok()) << p.status();
    if (p.ok()) s.partition = *p;
    s.seed = Seed(9);
    return s;
  }
  std::unique_ptr<FederatedEngine> Make(const FederatedOptions& o) const {
    StatusOr<std::unique_ptr<FederatedEngine>> e = FederatedEngine::Create(o, Setup());
    EXPECT_TRUE(e.ok()) << e.status();
    return e.ok() ? std::move(*e) : nullptr;
  }
  // Runs round 1 of a fresh engine and checks the global model against
  // before + server_lr * FedAvg(updates), computed here.
  void ExpectStep(double server_lr, bool multiply) {
    auto e = Make(Options(server_lr));
    ASSERT_NE(e, nullptr);
    auto keep = std::make_shared<KeepUpdates>();
    e->AddHooks(keep);
    const std::vector<float> before = e->global_state();
    StatusOr<FederatedResult> r = e->Run({}, /*until_round=*/1);
    ASSERT_TRUE(r.ok()) << r.status();
    ASSERT_EQ(keep->updates_.size(), 3u);
    std::vector<float> mean;
    ASSERT_TRUE(AggregateFedAvg(keep->updates_, /*weighted=*/true, &mean).ok());
    const std::vector<float>& after = e->global_state();
    ASSERT_EQ(after.size(), before.size());
    ASSERT_EQ(before.size(), 35u);
    double moved = 0.0;
    for (size_t i = 0; i < after.size(); ++i) {
      const float expected =
          multiply ? before[i] + static_cast<float>(server_lr * static_cast<double>(mean[i]))
                   : before[i] + mean[i];
      EXPECT_EQ(after[i], expected) << "index " << i;
      moved += std::abs(static_cast<double>(after[i]) - before[i]);
    }
    EXPECT_GT(moved, 0.0);  // The round did move the model.
  }

  Dataset train_, test_;
  testing::TempDir temp_;
  const std::string dir_ = temp_.path();
};

TEST_F(ServerLrTest, HalfStepMovesTheGlobalModelByHalfTheAggregate) { ExpectStep(0.5, true); }

TEST_F(ServerLrTest, OneAddsTheAggregateAsItIs) { ExpectStep(1.0, false); }

TEST_F(ServerLrTest, LargerStepAndTrajectoryDiffer) {
  ExpectStep(2.0, true);
  auto one = Make(Options(1.0));
  auto half = Make(Options(0.5));
  ASSERT_TRUE(one && half);
  // Another step is another trajectory, so another configuration.
  EXPECT_NE(one->config_hash(), half->config_hash());
  StatusOr<FederatedResult> r1 = one->Run();
  StatusOr<FederatedResult> r2 = half->Run();
  ASSERT_TRUE(r1.ok() && r2.ok());
  EXPECT_NE(r1->final_state_hash, r2->final_state_hash);
}

TEST_F(ServerLrTest, ResumedRunKeepsTheStep) {
  auto whole = Make(Options(0.5));
  ASSERT_NE(whole, nullptr);
  StatusOr<FederatedResult> uninterrupted = whole->Run();
  ASSERT_TRUE(uninterrupted.ok()) << uninterrupted.status();

  FederatedOptions o = Options(0.5);
  o.checkpoint_path = dir_ + "/fl.ckpt";
  auto first = Make(o);
  ASSERT_NE(first, nullptr);
  ASSERT_TRUE(first->Run({}, /*until_round=*/1).ok());
  auto resumed = Make(o);
  ASSERT_NE(resumed, nullptr);
  StatusOr<FederatedResult> r = resumed->Run();
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->resumed_from_round, 1);
  EXPECT_EQ(r->final_state_hash, uninterrupted->final_state_hash);

  // The checkpoint of a 0.5 run does not resume under another step.
  FederatedOptions other = o;
  other.server_lr = 1.0;
  auto wrong = Make(other);
  ASSERT_NE(wrong, nullptr);
  StatusOr<FederatedResult> refused = wrong->Run();
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().code(), StatusCode::kFailedPrecondition);
}

TEST_F(ServerLrTest, NonPositiveOrNonFiniteIsRefused) {
  for (double bad : {0.0, -0.5, std::numeric_limits<double>::quiet_NaN(),
                     std::numeric_limits<double>::infinity()}) {
    StatusOr<std::unique_ptr<FederatedEngine>> e = FederatedEngine::Create(Options(bad), Setup());
    ASSERT_FALSE(e.ok()) << bad;
    EXPECT_EQ(e.status().code(), StatusCode::kInvalidArgument);
    EXPECT_NE(e.status().message().find("server_lr must be finite and > 0"), std::string::npos)
        << e.status();
  }
}

}  // namespace
}  // namespace confml
