// Tests of the ClientExecutor seam in confml/core/federated.h without MPI: a
// coordinator engine deals half of every round to a second engine on another
// thread (a stand-in for another process) through a mailbox, and the run must
// end bitwise where the plain single-process run ends.
#include <gtest/gtest.h>

#include <condition_variable>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "../../common/data_util.h"
#include "confml/core/federated.h"

namespace confml {
namespace {

// What the two "processes" exchange.
struct Mailbox {
  std::mutex mu;
  std::condition_variable cv;
  bool request = false;
  bool ended = false;
  Status end_status;
  std::vector<ClientContext> clients;
  std::vector<float> global;
  bool reply = false;
  Status reply_status;
  std::vector<ClientTrainResult> results;
};

// Trains the odd slots itself and sends the even ones to the worker.
class CoordinatorSide : public ClientExecutor {
 public:
  explicit CoordinatorSide(Mailbox* box) : box_(box) {}
  bool coordinator() const override { return true; }
  Status TrainRound(const std::vector<ClientContext>& clients, const std::vector<int64_t>& work,
                    const std::vector<float>& global, const LocalTrainFn& local,
                    std::vector<ClientTrainResult>* results) override {
    ++rounds;
    EXPECT_EQ(work.size(), clients.size());
    std::vector<ClientContext> mine, theirs;
    for (size_t i = 0; i < clients.size(); ++i) (i % 2 ? mine : theirs).push_back(clients[i]);
    {
      std::lock_guard<std::mutex> lock(box_->mu);
      box_->clients = theirs;
      box_->global = global;
      box_->request = true;
    }
    box_->cv.notify_all();
    std::vector<ClientTrainResult> own;
    Status s = local(mine, global, &own);
    std::unique_lock<std::mutex> lock(box_->mu);
    box_->cv.wait(lock, [&] { return box_->reply; });
    box_->reply = false;
    if (!s.ok()) return s;
    if (!box_->reply_status.ok()) return box_->reply_status;
    results->assign(clients.size(), ClientTrainResult{});
    for (size_t i = 0, m = 0, t = 0; i < clients.size(); ++i) {
      (*results)[i] = std::move(i % 2 ? own[m++] : box_->results[t++]);
    }
    return OkStatus();
  }
  void EndRun(const Status& status, const std::vector<float>& global) override {
    ++ends;
    {
      std::lock_guard<std::mutex> lock(box_->mu);
      box_->ended = true;
      box_->end_status = status;
      box_->global = global;
    }
    box_->cv.notify_all();
  }
  Status Serve(const LocalTrainFn&, std::vector<float>*) override {
    return UnimplementedError("the coordinator does not serve");
  }
  int rounds = 0;
  int ends = 0;

 private:
  Mailbox* box_;
};

class WorkerSide : public ClientExecutor {
 public:
  explicit WorkerSide(Mailbox* box) : box_(box) {}
  bool coordinator() const override { return false; }
  Status TrainRound(const std::vector<ClientContext>&, const std::vector<int64_t>&,
                    const std::vector<float>&, const LocalTrainFn&,
                    std::vector<ClientTrainResult>*) override {
    return UnimplementedError("a worker runs no rounds");
  }
  void EndRun(const Status&, const std::vector<float>&) override {}
  Status Serve(const LocalTrainFn& local, std::vector<float>* final_global) override {
    for (;;) {
      std::vector<ClientContext> clients;
      std::vector<float> global;
      {
        std::unique_lock<std::mutex> lock(box_->mu);
        box_->cv.wait(lock, [&] { return box_->request || box_->ended; });
        if (box_->ended) {
          *final_global = box_->global;
          return box_->end_status;
        }
        box_->request = false;
        clients = box_->clients;
        global = box_->global;
      }
      std::vector<ClientTrainResult> results;
      Status s = local(clients, global, &results);
      {
        std::lock_guard<std::mutex> lock(box_->mu);
        box_->reply_status = s;
        box_->results = std::move(results);
        box_->reply = true;
      }
      box_->cv.notify_all();
    }
  }

 private:
  Mailbox* box_;
};

class FederatedExecutorTest : public ::testing::Test {
 protected:
  void SetUp() override {
    StatusOr<Dataset> all = MakeSynthetic(
        {.num_samples = 400, .num_features = 12, .num_classes = 3, .separation = 1.5}, Seed(5));
    ASSERT_TRUE(all.ok()) << all.status();
    testing::SplitEvery(*all, 4, &train_, &test_);
  }
  FederatedOptions Options(int64_t workers) const {
    FederatedOptions o;
    o.rounds = 3;
    o.clients_per_round = 5;  // odd: the two sides get unequal shares
    o.local_epochs = 1;
    o.local_batch_size = 16;
    o.optimizer.name = "sgd";
    o.optimizer.lr = 0.05;
    o.optimizer.momentum = 0.9;
    o.workers = workers;
    return o;
  }
  FederatedSetup Setup() const {
    FederatedSetup s;
    s.model = "mlp";
    s.model_params = {{"hidden", std::vector<int64_t>{16}}};
    s.train = &train_;
    s.test = &test_;
    StatusOr<Partition> p =
        PartitionDirichlet(train_.labels, train_.num_classes, 9, 0.5, Seed(2).Child("partition"));
    EXPECT_TRUE(p.ok()) << p.status();
    if (p.ok()) s.partition = *p;
    s.seed = Seed(2);
    return s;
  }
  StatusOr<FederatedResult> Plain(const FederatedOptions& o) {
    StatusOr<std::unique_ptr<FederatedEngine>> e = FederatedEngine::Create(o, Setup());
    if (!e.ok()) return e.status();
    return (*e)->Run();
  }
  // Runs the coordinator here and a worker engine on a thread.
  void Split(FederatedOptions o, StatusOr<FederatedResult>* coord,
             StatusOr<FederatedResult>* worker, int* rounds = nullptr, int* ends = nullptr) {
    Mailbox box;
    auto c = std::make_shared<CoordinatorSide>(&box);
    auto w = std::make_shared<WorkerSide>(&box);
    FederatedOptions wo = o;
    wo.executor = w;
    o.executor = c;
    StatusOr<std::unique_ptr<FederatedEngine>> we = FederatedEngine::Create(wo, Setup());
    StatusOr<std::unique_ptr<FederatedEngine>> ce = FederatedEngine::Create(o, Setup());
    ASSERT_TRUE(we.ok() && ce.ok());
    std::thread t([&] { *worker = (*we)->Run(); });
    *coord = (*ce)->Run();
    t.join();
    if (rounds) *rounds = c->rounds;
    if (ends) *ends = c->ends;
  }

  Dataset train_, test_;
};

TEST_F(FederatedExecutorTest, SplitRunEndsBitwiseWhereThePlainRunEnds) {
  StatusOr<FederatedResult> plain = Plain(Options(1));
  ASSERT_TRUE(plain.ok()) << plain.status();
  for (int64_t workers : {1, 2}) {
    StatusOr<FederatedResult> coord = InternalError("unset"), worker = InternalError("unset");
    int rounds = 0, ends = 0;
    Split(Options(workers), &coord, &worker, &rounds, &ends);
    ASSERT_TRUE(coord.ok()) << coord.status();
    ASSERT_TRUE(worker.ok()) << worker.status();
    EXPECT_EQ(rounds, 3);
    EXPECT_EQ(ends, 1);
    EXPECT_EQ(coord->final_state_hash, plain->final_state_hash) << "workers " << workers;
    // The worker ends with the coordinator's model but keeps no metrics.
    EXPECT_EQ(worker->final_state_hash, plain->final_state_hash);
    EXPECT_TRUE(worker->rounds.empty());
    ASSERT_EQ(coord->rounds.size(), plain->rounds.size());
    for (size_t r = 0; r < plain->rounds.size(); ++r) {
      EXPECT_EQ(coord->rounds[r].mean_train_loss, plain->rounds[r].mean_train_loss);
      EXPECT_EQ(coord->rounds[r].test_accuracy, plain->rounds[r].test_accuracy);
      EXPECT_EQ(coord->rounds[r].clients_admitted, plain->rounds[r].clients_admitted);
    }
  }
}

TEST_F(FederatedExecutorTest, CoordinatorErrorReachesTheWorker) {
  FederatedOptions o = Options(1);
  o.optimizer.lr = 1e30;  // Diverges: the first round fails.
  StatusOr<FederatedResult> coord = InternalError("unset"), worker = InternalError("unset");
  int ends = 0;
  Split(o, &coord, &worker, nullptr, &ends);
  ASSERT_FALSE(coord.ok());
  EXPECT_EQ(coord.status().code(), StatusCode::kFailedPrecondition) << coord.status();
  EXPECT_EQ(ends, 1);
  ASSERT_FALSE(worker.ok());
  EXPECT_EQ(worker.status().code(), coord.status().code());
}

// An executor that loses a client is caught, not aggregated.
class DroppingExecutor : public ClientExecutor {
 public:
  bool coordinator() const override { return true; }
  Status TrainRound(const std::vector<ClientContext>& clients, const std::vector<int64_t>&,
                    const std::vector<float>& global, const LocalTrainFn& local,
                    std::vector<ClientTrainResult>* results) override {
    std::vector<ClientContext> some(clients.begin(), clients.end() - 1);
    return local(some, global, results);
  }
  void EndRun(const Status& status, const std::vector<float>&) override { end = status; }
  Status Serve(const LocalTrainFn&, std::vector<float>*) override { return OkStatus(); }
  Status end;
};

TEST_F(FederatedExecutorTest, ExecutorReturningTooFewResultsFailsTheRound) {
  FederatedOptions o = Options(1);
  auto ex = std::make_shared<DroppingExecutor>();
  o.executor = ex;
  StatusOr<std::unique_ptr<FederatedEngine>> e = FederatedEngine::Create(o, Setup());
  ASSERT_TRUE(e.ok());
  StatusOr<FederatedResult> r = (*e)->Run();
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kInternal);
  EXPECT_NE(r.status().message().find("4 results for 5 clients"), std::string::npos)
      << r.status();
  EXPECT_EQ(ex->end.code(), StatusCode::kInternal);  // EndRun heard the failure.
}

}  // namespace
}  // namespace confml
