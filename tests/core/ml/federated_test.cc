// Tests of confml/core/federated.h: the federated engine (small synthetic
// data and an MLP; one test on a few hundred Fashion-MNIST samples with a
// tiny CNN when the dataset is installed).
#include "confml/core/federated.h"

#include <ATen/Parallel.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "../../common/data_util.h"
#include "../../common/temp_dir.h"
#include "confml/core/file_util.h"
#include "confml/core/fl_checkpoint.h"

namespace confml {
namespace {

namespace fs = std::filesystem;

class FederatedTest : public ::testing::Test {
 protected:
  void SetUp() override {
    // Intra-op parallelism on: the engine must still be worker-count
    // independent (tests otherwise run with OMP_NUM_THREADS=1).
    at::set_num_threads(2);
    StatusOr<Dataset> all = MakeSynthetic(
        {.num_samples = 480, .num_features = 16, .num_classes = 4, .separation = 1.5}, Seed(7));
    ASSERT_TRUE(all.ok()) << all.status();
    testing::SplitEvery(*all, 5, &train_, &test_);
  }

  FederatedOptions Options(int64_t workers = 1) const {
    FederatedOptions o;
    o.rounds = 3;
    o.clients_per_round = 4;
    o.local_epochs = 2;
    o.local_batch_size = 16;
    o.optimizer.name = "sgd";
    o.optimizer.lr = 0.05;
    o.optimizer.momentum = 0.9;
    o.workers = workers;
    return o;
  }
  FederatedSetup Setup(uint64_t seed = 3) const {
    FederatedSetup s;
    s.model = "mlp";
    s.model_params = {{"hidden", std::vector<int64_t>{32}}};
    s.train = &train_;
    s.test = &test_;
    StatusOr<Partition> p = PartitionIid(train_.labels, 8, Seed(seed).Child("partition"));
    EXPECT_TRUE(p.ok());
    s.partition = *p;
    s.seed = Seed(seed);
    return s;
  }
  std::unique_ptr<FederatedEngine> Make(const FederatedOptions& o, FederatedSetup s) {
    StatusOr<std::unique_ptr<FederatedEngine>> e = FederatedEngine::Create(o, std::move(s));
    EXPECT_TRUE(e.ok()) << e.status();
    return e.ok() ? std::move(*e) : nullptr;
  }
  FederatedResult RunOk(FederatedEngine& e, int64_t until = -1) {
    StatusOr<FederatedResult> r = e.Run({}, until);
    EXPECT_TRUE(r.ok()) << r.status();
    return r.ok() ? *r : FederatedResult{};
  }

  Dataset train_, test_;
  testing::TempDir temp_;
  const std::string dir_ = temp_.path();
};

TEST_F(FederatedTest, RoundsProduceMetricsAndLearn) {
  FederatedOptions o = Options();
  o.rounds = 5;
  auto e = Make(o, Setup());
  ASSERT_NE(e, nullptr);
  std::vector<int64_t> seen_rounds;
  StatusOr<FederatedResult> r =
      e->Run([&](const RoundMetrics& m) { seen_rounds.push_back(m.round); });
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(seen_rounds, (std::vector<int64_t>{1, 2, 3, 4, 5}));
  ASSERT_EQ(r->rounds.size(), 5u);
  const int64_t bytes = r->state_size * 4;
  for (const RoundMetrics& m : r->rounds) {
    EXPECT_EQ(m.clients_sampled, 4);
    EXPECT_EQ(m.clients_admitted, 4);
    EXPECT_EQ(m.clients_refused, 0);
    EXPECT_EQ(m.bytes_down, 4 * bytes);
    EXPECT_EQ(m.bytes_up, 4 * bytes);
    EXPECT_FALSE(std::isnan(m.test_accuracy));
    EXPECT_TRUE(std::isfinite(m.mean_train_loss));
    EXPECT_GT(m.seconds, 0.0);
    EXPECT_GT(m.train_seconds, 0.0);
  }
  EXPECT_GT(r->final_test_accuracy, 0.8);  // Separable blobs; chance is 0.25.
  EXPECT_LT(r->rounds.back().mean_train_loss, r->rounds.front().mean_train_loss);
  EXPECT_EQ(r->final_state_hash, StateHash(e->global_model()));
  EXPECT_EQ(e->completed_rounds(), 5);
}

TEST_F(FederatedTest, OneAndTwoWorkersGiveBitwiseIdenticalModels) {
  auto e1 = Make(Options(1), Setup());
  auto e2 = Make(Options(2), Setup());
  ASSERT_TRUE(e1 && e2);
  FederatedResult r1 = RunOk(*e1), r2 = RunOk(*e2);
  EXPECT_EQ(r1.final_state_hash, r2.final_state_hash);
  ASSERT_EQ(r1.rounds.size(), r2.rounds.size());
  for (size_t i = 0; i < r1.rounds.size(); ++i) {
    EXPECT_EQ(r1.rounds[i].mean_train_loss, r2.rounds[i].mean_train_loss);
    EXPECT_EQ(r1.rounds[i].test_loss, r2.rounds[i].test_loss);
  }
  // The comparison can fail: another seed moves the model.
  auto e3 = Make(Options(2), Setup(4));
  ASSERT_TRUE(e3);
  EXPECT_NE(RunOk(*e3).final_state_hash, r1.final_state_hash);
}

TEST_F(FederatedTest, SmallCnnOnFashionMnistIsWorkerCountIndependent) {
  const std::string dir = "/usr/share/datasets/fashion-mnist";
  if (!fs::exists(dir + "/t10k-images-idx3-ubyte.gz")) GTEST_SKIP() << "no Fashion-MNIST";
  StatusOr<Dataset> all = LoadFashionMnist(dir, Split::kTest);
  ASSERT_TRUE(all.ok()) << all.status();
  std::vector<int64_t> idx(320);
  for (int64_t i = 0; i < 320; ++i) idx[static_cast<size_t>(i)] = i;
  Dataset small = all->Subset(idx);
  FederatedOptions o = Options();
  o.rounds = 2;
  o.clients_per_round = 3;
  o.local_epochs = 1;
  std::string hashes[2];
  for (int64_t workers : {1, 2}) {
    o.workers = workers;
    FederatedSetup s;
    s.model = "small_cnn";
    s.model_params = {{"channels", std::vector<int64_t>{4, 8}}, {"hidden", int64_t{16}}};
    s.train = &small;
    s.test = nullptr;
    s.partition = *PartitionDirichlet(small.labels, 10, 6, 0.5, Seed(1));
    s.seed = Seed(11);
    auto e = Make(o, std::move(s));
    ASSERT_NE(e, nullptr);
    FederatedResult r = RunOk(*e);
    EXPECT_TRUE(std::isnan(r.final_test_accuracy));  // No test set.
    hashes[workers - 1] = r.final_state_hash;
  }
  EXPECT_EQ(hashes[0], hashes[1]);
}

TEST_F(FederatedTest, ResumeFromCheckpointEndsAtTheUninterruptedModel) {
  FederatedOptions full = Options(2);
  full.checkpoint_path = dir_ + "/full.ckpt";
  auto a = Make(full, Setup());
  ASSERT_NE(a, nullptr);
  FederatedResult uninterrupted = RunOk(*a);
  EXPECT_EQ(uninterrupted.resumed_from_round, 0);

  FederatedOptions part = Options(1);  // Another worker count is allowed on resume.
  part.checkpoint_path = dir_ + "/part.ckpt";
  {
    auto b = Make(part, Setup());
    ASSERT_NE(b, nullptr);
    FederatedResult stopped = RunOk(*b, /*until=*/2);
    EXPECT_EQ(stopped.rounds.size(), 2u);
    EXPECT_NE(stopped.final_state_hash, uninterrupted.final_state_hash);
  }  // The "process" ends here.
  StatusOr<FlCheckpoint> ck = ReadFlCheckpoint(part.checkpoint_path);
  ASSERT_TRUE(ck.ok()) << ck.status();
  EXPECT_EQ(ck->round, 2);

  auto c = Make(part, Setup());
  ASSERT_NE(c, nullptr);
  FederatedResult resumed = RunOk(*c);
  EXPECT_EQ(resumed.resumed_from_round, 2);
  EXPECT_EQ(resumed.final_state_hash, uninterrupted.final_state_hash);
  ASSERT_EQ(resumed.rounds.size(), 3u);
  EXPECT_EQ(resumed.rounds[2].mean_train_loss, uninterrupted.rounds[2].mean_train_loss);
  EXPECT_EQ(resumed.rounds[0].test_accuracy, uninterrupted.rounds[0].test_accuracy);
}

TEST_F(FederatedTest, CheckpointOfAnotherConfigIsRefusedAndCorruptIsDataLoss) {
  FederatedOptions o = Options();
  o.checkpoint_path = dir_ + "/a.ckpt";
  auto a = Make(o, Setup());
  ASSERT_NE(a, nullptr);
  RunOk(*a, 1);

  FederatedOptions other = o;
  other.optimizer.lr = 0.01;
  auto b = Make(other, Setup());
  ASSERT_NE(b, nullptr);
  StatusOr<FederatedResult> r = b->Run();
  EXPECT_EQ(r.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(r.status().message().find("another configuration"), std::string::npos) << r.status();

  auto c = Make(o, Setup(/*seed=*/9));
  ASSERT_NE(c, nullptr);
  EXPECT_EQ(c->Run().status().code(), StatusCode::kFailedPrecondition);

  StatusOr<std::vector<uint8_t>> bytes = ReadFileBytes(o.checkpoint_path);
  ASSERT_TRUE(bytes.ok());
  bytes->resize(bytes->size() / 2);
  ASSERT_TRUE(WriteFileAtomically(o.checkpoint_path, *bytes).ok());
  auto d = Make(o, Setup());
  ASSERT_NE(d, nullptr);
  EXPECT_EQ(d->Run().status().code(), StatusCode::kDataLoss);
}

// A poisoning device: every update sign-flipped before sending.
class SignFlip : public FederatedHooks {
 public:
  void OnClientUpdate(const ClientContext&, const std::vector<float>&, ClientUpdate* u) override {
    for (float& v : u->values) v = -v;
  }
};

// A curious runtime: records what it is shown, and checks FedAvg by hand.
class Recorder : public FederatedHooks {
 public:
  void OnGlobalModel(const ClientContext& c, const std::vector<float>& global) override {
    received[c.round].push_back(c.client_id);
  }
  void OnUpdatesReceived(int64_t round, const std::vector<float>& global,
                         const std::vector<ClientUpdate>& updates) override {
    std::vector<int64_t> ids;
    for (const ClientUpdate& u : updates) {
      ids.push_back(u.client_id);
      sizes.insert(u.values.size());
      bool nonzero = false;
      for (float v : u.values) nonzero |= v != 0.0f;
      all_nonzero &= nonzero;
    }
    updated[round] = ids;
    std::vector<float> mean;
    EXPECT_TRUE(AggregateFedAvg(updates, true, &mean).ok());
    expected = global;
    for (size_t i = 0; i < expected.size(); ++i) expected[i] += mean[i];
  }
  void OnRoundEnd(const RoundMetrics& m, const std::vector<float>& global) override {
    if (global != expected) ++mismatches;
  }
  void OnHostEvent(const HostEvent& e) override {
    (e.kind == HostEvent::Kind::kGlobalToClient ? bytes_down : bytes_up) += e.bytes;
  }
  std::map<int64_t, std::vector<int64_t>> received, updated;
  std::set<size_t> sizes;
  bool all_nonzero = true;
  std::vector<float> expected;
  int mismatches = 0;
  int64_t bytes_down = 0, bytes_up = 0;
};

TEST_F(FederatedTest, SignFlipHookChangesTheResult) {
  auto honest = Make(Options(), Setup());
  auto poisoned = Make(Options(), Setup());
  ASSERT_TRUE(honest && poisoned);
  poisoned->AddHooks(std::make_shared<SignFlip>());
  FederatedResult h = RunOk(*honest), p = RunOk(*poisoned);
  EXPECT_NE(h.final_state_hash, p.final_state_hash);
  EXPECT_LT(p.final_test_accuracy, h.final_test_accuracy);
}

TEST_F(FederatedTest, ReadOnlyHookSeesExactlyTheSampledClientsUpdates) {
  auto e = Make(Options(2), Setup());
  ASSERT_NE(e, nullptr);
  auto rec = std::make_shared<Recorder>();
  e->AddHooks(rec);
  FederatedResult r = RunOk(*e);
  ASSERT_EQ(rec->updated.size(), 3u);
  for (int64_t round = 1; round <= 3; ++round) {
    // The documented sampling stream, recomputed here.
    std::vector<int64_t> expect = Seed(3)
                                      .Child("fl")
                                      .Child("round", static_cast<uint64_t>(round))
                                      .Child("sample")
                                      .MakeRng()
                                      .SampleWithoutReplacement(8, 4);
    std::sort(expect.begin(), expect.end());
    EXPECT_EQ(rec->updated[round], expect) << "round " << round;
    EXPECT_EQ(rec->received[round], expect) << "round " << round;
  }
  EXPECT_EQ(rec->sizes, (std::set<size_t>{static_cast<size_t>(r.state_size)}));
  EXPECT_TRUE(rec->all_nonzero);
  EXPECT_EQ(rec->mismatches, 0);  // global(r) = global(r-1) + weighted mean of the deltas.
  int64_t down = 0, up = 0;
  for (const RoundMetrics& m : r.rounds) down += m.bytes_down, up += m.bytes_up;
  EXPECT_EQ(rec->bytes_down, down);
  EXPECT_EQ(rec->bytes_up, up);
}

// The attestation layer's seat: refuse one client's updates.
class RefuseClient : public FederatedHooks {
 public:
  explicit RefuseClient(int64_t id) : id_(id) {}
  Admission AdmitClient(const ClientContext& c) override {
    return c.client_id == id_ ? Admission{false, "RIM not in policy"} : Admission{};
  }

 private:
  int64_t id_;
};

TEST_F(FederatedTest, RefusedClientsAreCountedAndNotAggregated) {
  FederatedOptions o = Options();
  o.clients_per_round = 8;  // Everyone, so client 5 is sampled every round.
  auto e = Make(o, Setup());
  ASSERT_NE(e, nullptr);
  e->AddHooks(std::make_shared<RefuseClient>(5));
  auto rec = std::make_shared<Recorder>();
  e->AddHooks(rec);
  FederatedResult r = RunOk(*e);
  for (const RoundMetrics& m : r.rounds) {
    EXPECT_EQ(m.clients_refused, 1);
    EXPECT_EQ(m.clients_admitted, 7);
    EXPECT_EQ(m.bytes_up, 7 * r.state_size * 4);
  }
  for (const auto& [round, ids] : rec->updated) {
    EXPECT_EQ(std::count(ids.begin(), ids.end(), 5), 0);
  }
}

TEST_F(FederatedTest, DataHookPoisonsLabels) {
  // Label flipping through the data hook: every client trains on y -> 3 - y.
  class FlipLabels : public FederatedHooks {
   public:
    explicit FlipLabels(const Dataset& d) : flipped_(d) {
      for (int64_t& y : flipped_.labels) y = 3 - y;
    }
    ClientData ClientTrainingData(const ClientContext&, ClientData honest) override {
      return ClientData{&flipped_, honest.indices};
    }

   private:
    Dataset flipped_;
  };
  auto e = Make(Options(2), Setup());
  ASSERT_NE(e, nullptr);
  e->AddHooks(std::make_shared<FlipLabels>(train_));
  FederatedResult r = RunOk(*e);
  EXPECT_LT(r.final_test_accuracy, 0.3);
}

// The mechanism behind worker-count independence: LibTorch runs
// single-threaded on every worker (ClientTrainingData runs on the worker
// threads), while the calling thread keeps its intra-op threads.
TEST_F(FederatedTest, WorkersRunLibTorchSingleThreaded) {
  class ThreadProbe : public FederatedHooks {
   public:
    ClientData ClientTrainingData(const ClientContext&, ClientData honest) override {
      std::lock_guard<std::mutex> lock(mu);
      threads.insert(at::get_num_threads());
      return honest;
    }
    std::mutex mu;
    std::set<int> threads;
  };
  ASSERT_EQ(at::get_num_threads(), 2);
  auto e = Make(Options(2), Setup());
  ASSERT_NE(e, nullptr);
  auto probe = std::make_shared<ThreadProbe>();
  e->AddHooks(probe);
  RunOk(*e, 1);
  EXPECT_EQ(probe->threads, (std::set<int>{1}));
  EXPECT_EQ(at::get_num_threads(), 2);
}

TEST_F(FederatedTest, RejectsBadOptionsAndSetup) {
  FederatedOptions o = Options();
  o.clients_per_round = 9;  // 8 clients.
  StatusOr<std::unique_ptr<FederatedEngine>> e = FederatedEngine::Create(o, Setup());
  EXPECT_EQ(e.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(e.status().message().find("clients_per_round"), std::string::npos);
  o = Options();
  o.workers = 0;
  EXPECT_EQ(FederatedEngine::Create(o, Setup()).status().code(), StatusCode::kInvalidArgument);
  FederatedSetup s = Setup();
  s.partition[0].push_back(100000);
  EXPECT_EQ(FederatedEngine::Create(Options(), std::move(s)).status().code(),
            StatusCode::kInvalidArgument);
  s = Setup();
  s.model = "no_such_model";
  EXPECT_EQ(FederatedEngine::Create(Options(), std::move(s)).status().code(),
            StatusCode::kNotFound);
}

TEST_F(FederatedTest, DivergingClientFailsTheRun) {
  FederatedOptions o = Options();
  o.optimizer.lr = 1e6;
  o.optimizer.momentum = 0.0;
  auto e = Make(o, Setup());
  ASSERT_NE(e, nullptr);
  StatusOr<FederatedResult> r = e->Run();
  EXPECT_EQ(r.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(r.status().message().find("client"), std::string::npos) << r.status();
}

}  // namespace
}  // namespace confml
