// Tests of missing slots (dropouts) in the federated engine
// (ClientTrainResult::missing, FederatedOptions::min_updates): a device that
// drops out is no vote for any aggregator, is counted as a dropout in the
// round metrics, fl_rounds.h5 and the checkpoint, and too few updates fail
// the round. Here because the median aggregator lives in confml::defenses.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "../../experiments/src/federated_runner.h"
#include "../common/data_util.h"
#include "../common/temp_dir.h"
#include "confml/core/federated.h"
#include "confml/core/fl_checkpoint.h"
#include "confml/defenses/robust_aggregation.h"

namespace confml {
namespace {

// Trains every slot here except `dropped`'s, which comes back missing, as a
// device that lost its connection after it received the global model. With
// `zero_vote`, the lost client instead sends a zero delta of 0 samples: what
// an engine without missing slots would have to fake.
class DropClientExecutor : public ClientExecutor {
 public:
  DropClientExecutor(int64_t dropped, bool zero_vote = false)
      : dropped_(dropped), zero_vote_(zero_vote) {}
  bool coordinator() const override { return true; }
  Status TrainRound(const std::vector<ClientContext>& clients, const std::vector<int64_t>&,
                    const std::vector<float>& global, const LocalTrainFn& local,
                    std::vector<ClientTrainResult>* results) override {
    std::vector<ClientContext> present;
    for (const ClientContext& c : clients)
      if (c.client_id != dropped_) present.push_back(c);
    std::vector<ClientTrainResult> trained;
    CONFML_RETURN_IF_ERROR(local(present, global, &trained));
    results->assign(clients.size(), ClientTrainResult{});
    for (size_t i = 0, t = 0; i < clients.size(); ++i) {
      ClientTrainResult& r = (*results)[i];
      if (clients[i].client_id != dropped_) {
        r = std::move(trained[t++]);
      } else if (zero_vote_) {
        r.update.client_id = dropped_;
        r.update.values.assign(global.size(), 0.0f);
      } else {
        r.missing = true;
      }
    }
    return OkStatus();
  }
  void EndRun(const Status& status, const std::vector<float>&) override { end = status; }
  Status Serve(const LocalTrainFn&, std::vector<float>*) override {
    return UnimplementedError("coordinator only");
  }
  Status end;

 private:
  int64_t dropped_;
  bool zero_vote_;
};

class RefuseClient : public FederatedHooks {
 public:
  explicit RefuseClient(int64_t id) : id_(id) {}
  Admission AdmitClient(const ClientContext& c) override {
    return c.client_id == id_ ? Admission{false, "not in policy"} : Admission{};
  }

 private:
  int64_t id_;
};

// Which clients each update-seeing hook was shown.
class SeenBy : public FederatedHooks {
 public:
  void OnGlobalModel(const ClientContext& c, const std::vector<float>&) override {
    got_global.insert(c.client_id);
  }
  void OnClientUpdate(const ClientContext& c, const std::vector<float>&, ClientUpdate*) override {
    client_update.insert(c.client_id);
  }
  void OnRoundUpdates(const std::vector<ClientContext>& ctx, const std::vector<float>&,
                      std::vector<ClientUpdate>* updates) override {
    EXPECT_EQ(ctx.size(), updates->size());
    for (size_t i = 0; i < ctx.size(); ++i) {
      round_updates.insert(ctx[i].client_id);
      EXPECT_EQ((*updates)[i].client_id, ctx[i].client_id);
    }
  }
  void OnUpdatesReceived(int64_t, const std::vector<float>&,
                         const std::vector<ClientUpdate>& updates) override {
    for (const ClientUpdate& u : updates) received.insert(u.client_id);
  }
  void OnHostEvent(const HostEvent& e) override {
    if (e.kind == HostEvent::Kind::kUpdateToRuntime) uploaded.insert(e.client_id);
  }
  std::set<int64_t> got_global, client_update, round_updates, received, uploaded;
};

class FederatedDropoutTest : public ::testing::Test {
 protected:
  static constexpr int64_t kClients = 6;
  static constexpr int64_t kDropped = 2;

  void SetUp() override {
    ASSERT_TRUE(defenses::RegisterRobustAggregators().ok());
    StatusOr<Dataset> all = MakeSynthetic(
        {.num_samples = 360, .num_features = 10, .num_classes = 3, .separation = 1.5}, Seed(11));
    ASSERT_TRUE(all.ok()) << all.status();
    testing::SplitEvery(*all, 4, &train_, &test_);
  }
  FederatedOptions Options() const {
    FederatedOptions o;
    o.rounds = 3;
    o.clients_per_round = kClients;  // Everyone: the dropped client is in every round.
    o.local_epochs = 1;
    o.local_batch_size = 16;
    o.optimizer.name = "sgd";
    o.optimizer.lr = 0.1;
    o.workers = 2;
    return o;
  }
  StatusOr<std::unique_ptr<FederatedEngine>> Make(const FederatedOptions& o,
                                                  const std::string& aggregator) {
    FederatedSetup s;
    s.model = "mlp";
    s.model_params = {{"hidden", std::vector<int64_t>{12}}};
    s.train = &train_;
    s.test = &test_;
    CONFML_ASSIGN_OR_RETURN(s.partition, PartitionIid(train_.labels, kClients, Seed(4)));
    CONFML_ASSIGN_OR_RETURN(s.aggregator, CreateAggregator(aggregator, {}));
    s.seed = Seed(4);
    return FederatedEngine::Create(o, std::move(s));
  }

  Dataset train_, test_;
};

TEST_F(FederatedDropoutTest, DroppedSlotAggregatesAsARunWithoutThatClient) {
  for (const std::string aggregator : {"fedavg", "median"}) {
    SCOPED_TRACE(aggregator);
    // Without the client: attestation refuses it before it trains.
    StatusOr<std::unique_ptr<FederatedEngine>> without = Make(Options(), aggregator);
    ASSERT_TRUE(without.ok()) << without.status();
    (*without)->AddHooks(std::make_shared<RefuseClient>(kDropped));
    StatusOr<FederatedResult> ref = (*without)->Run();
    ASSERT_TRUE(ref.ok()) << ref.status();

    FederatedOptions o = Options();
    o.executor = std::make_shared<DropClientExecutor>(kDropped);
    StatusOr<std::unique_ptr<FederatedEngine>> dropping = Make(o, aggregator);
    ASSERT_TRUE(dropping.ok()) << dropping.status();
    auto seen = std::make_shared<SeenBy>();
    (*dropping)->AddHooks(seen);
    StatusOr<FederatedResult> got = (*dropping)->Run();
    ASSERT_TRUE(got.ok()) << got.status();

    EXPECT_EQ(got->final_state_hash, ref->final_state_hash);
    ASSERT_EQ(got->rounds.size(), 3u);
    for (size_t r = 0; r < got->rounds.size(); ++r) {
      const RoundMetrics& m = got->rounds[r];
      EXPECT_EQ(m.clients_sampled, kClients);
      EXPECT_EQ(m.clients_dropped, 1);
      EXPECT_EQ(m.clients_refused, 0);
      EXPECT_EQ(m.clients_admitted, kClients - 1);
      EXPECT_EQ(m.bytes_down, kClients * got->state_size * 4);  // It did get the model.
      EXPECT_EQ(m.bytes_up, (kClients - 1) * got->state_size * 4);
      EXPECT_EQ(m.mean_train_loss, ref->rounds[r].mean_train_loss);
      EXPECT_EQ(ref->rounds[r].clients_dropped, 0);
    }
    EXPECT_TRUE(seen->got_global.count(kDropped));
    for (const auto* ids :
         {&seen->client_update, &seen->round_updates, &seen->received, &seen->uploaded}) {
      EXPECT_EQ(ids->size(), static_cast<size_t>(kClients - 1));
      EXPECT_FALSE(ids->count(kDropped));
    }
  }
}

TEST_F(FederatedDropoutTest, AZeroUpdateWouldBeAVoteForMedian) {
  // Why the slot must be missing rather than zero: median moves.
  FederatedOptions o = Options();
  o.executor = std::make_shared<DropClientExecutor>(kDropped, /*zero_vote=*/true);
  StatusOr<std::unique_ptr<FederatedEngine>> zero = Make(o, "median");
  ASSERT_TRUE(zero.ok());
  StatusOr<FederatedResult> z = (*zero)->Run();
  ASSERT_TRUE(z.ok()) << z.status();
  o.executor = std::make_shared<DropClientExecutor>(kDropped);
  StatusOr<std::unique_ptr<FederatedEngine>> missing = Make(o, "median");
  ASSERT_TRUE(missing.ok());
  StatusOr<FederatedResult> m = (*missing)->Run();
  ASSERT_TRUE(m.ok()) << m.status();
  EXPECT_NE(z->final_state_hash, m->final_state_hash);
  EXPECT_EQ(z->rounds[0].clients_dropped, 0);
}

TEST_F(FederatedDropoutTest, FewerUpdatesThanTheMinimumFailTheRound) {
  FederatedOptions o = Options();
  auto executor = std::make_shared<DropClientExecutor>(kDropped);
  o.executor = executor;
  o.min_updates = kClients;
  StatusOr<std::unique_ptr<FederatedEngine>> e = Make(o, "fedavg");
  ASSERT_TRUE(e.ok()) << e.status();
  StatusOr<FederatedResult> r = (*e)->Run();
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kUnavailable);
  const std::string msg(r.status().message());
  EXPECT_NE(msg.find("round 1: 5 of 6 admitted clients sent an update (1 dropped out), fewer "
                     "than min_updates 6"),
            std::string::npos)
      << msg;
  EXPECT_EQ(executor->end.code(), StatusCode::kUnavailable);  // The executor heard it.
  EXPECT_EQ((*e)->completed_rounds(), 0);

  o.min_updates = kClients - 1;  // Exactly enough.
  o.executor = std::make_shared<DropClientExecutor>(kDropped);
  e = Make(o, "fedavg");
  ASSERT_TRUE(e.ok());
  EXPECT_TRUE((*e)->Run().ok());

  o.min_updates = -1;
  EXPECT_EQ(Make(o, "fedavg").status().code(), StatusCode::kInvalidArgument);
}

TEST_F(FederatedDropoutTest, DropoutsReachTheResultsFileAndTheCheckpoint) {
  const testing::TempDir dir;
  experiments::FederatedRunSpec spec;
  spec.name = "dropouts";
  spec.seed = 3;
  spec.dataset = "synthetic";
  spec.dataset_params = {
      {"num_samples", int64_t{240}}, {"num_features", int64_t{8}}, {"num_classes", int64_t{3}}};
  spec.model = "mlp";
  spec.model_params = {{"hidden", std::vector<int64_t>{8}}};
  spec.partition = "iid";
  spec.num_clients = 4;
  spec.options.rounds = 2;
  spec.options.clients_per_round = 4;
  spec.options.local_batch_size = 16;
  spec.options.executor = std::make_shared<DropClientExecutor>(1);
  spec.run_dir = dir.File("run");
  StatusOr<experiments::FederatedRunOutput> out = experiments::RunFederatedExperiment(spec, {});
  ASSERT_TRUE(out.ok()) << out.status();
  StatusOr<std::vector<RoundMetrics>> rounds = experiments::ReadFederatedResults(out->results_path);
  ASSERT_TRUE(rounds.ok()) << rounds.status();
  ASSERT_EQ(rounds->size(), 2u);
  for (const RoundMetrics& m : *rounds) {
    EXPECT_EQ(m.clients_dropped, 1);
    EXPECT_EQ(m.clients_admitted, 3);
  }
  StatusOr<FlCheckpoint> ckpt = ReadFlCheckpoint(spec.run_dir + "/fl.ckpt");
  ASSERT_TRUE(ckpt.ok()) << ckpt.status();
  ASSERT_EQ(ckpt->metrics.size(), 2u);
  EXPECT_EQ(ckpt->metrics[1].clients_dropped, 1);
}

TEST(FlCheckpointVersionTest, VersionTwoFilesStillReadWithNoDropouts) {
  FlCheckpoint c;
  c.config_hash = 9;
  c.seed = 1;
  c.round = 1;
  c.global = {1.0f, 2.0f};
  RoundMetrics m;
  m.round = 1;
  m.clients_admitted = 3;
  m.train_seconds = 0.5;
  m.clients_dropped = 2;
  c.metrics = {m};
  std::vector<uint8_t> v3 = EncodeFlCheckpoint(c);
  StatusOr<FlCheckpoint> back = DecodeFlCheckpoint(v3, "v3");
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(back->metrics[0].clients_dropped, 2);

  // The same file as version 2 wrote it: no clients_dropped after train_seconds.
  constexpr size_t kHeader = 8 + 4 + 8;
  const size_t dropped_at = kHeader + 3 * 8 + 8 + 2 * sizeof(float) + 8 + 7 * 8 + 5 * 8;
  std::vector<uint8_t> v2 = v3;
  v2.erase(v2.begin() + static_cast<std::ptrdiff_t>(dropped_at),
           v2.begin() + static_cast<std::ptrdiff_t>(dropped_at + 8));
  const uint32_t version = 2;
  std::memcpy(v2.data() + 8, &version, sizeof(version));
  const uint64_t payload = v2.size() - kHeader - 8;
  std::memcpy(v2.data() + 12, &payload, sizeof(payload));
  const uint64_t sum = Fnv1a64(v2.data() + kHeader, payload);
  std::memcpy(v2.data() + kHeader + payload, &sum, sizeof(sum));
  StatusOr<FlCheckpoint> old = DecodeFlCheckpoint(v2, "v2");
  ASSERT_TRUE(old.ok()) << old.status();
  ASSERT_EQ(old->metrics.size(), 1u);
  EXPECT_EQ(old->metrics[0].clients_admitted, 3);
  EXPECT_EQ(old->metrics[0].train_seconds, 0.5);
  EXPECT_EQ(old->metrics[0].clients_dropped, 0);
}

}  // namespace
}  // namespace confml
