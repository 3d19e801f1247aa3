// Slow tests of the federated engine: the full-size small_cnn on a slice of
// Fashion-MNIST, where intra-op parallelism would matter (large conv
// reductions), with LibTorch allowed 2 threads on the calling thread.
#include <ATen/Parallel.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <string>
#include <vector>

#include "../../common/data_util.h"
#include "confml/core/federated.h"

namespace confml {
namespace {

TEST(FederatedSlowTest, FullSmallCnnIsBitwiseIdenticalForOneAndTwoWorkers) {
  const std::string dir = "/usr/share/datasets/fashion-mnist";
  if (!std::filesystem::exists(dir + "/train-images-idx3-ubyte.gz"))
    GTEST_SKIP() << "no Fashion-MNIST";
  at::set_num_threads(2);
  StatusOr<Dataset> all = LoadFashionMnist(dir, Split::kTest);
  ASSERT_TRUE(all.ok()) << all.status();
  Dataset train, test;
  testing::SplitAt(*all, 1200, 1600, &train, &test);
  Normalization norm = ComputeNormalization(train);
  ASSERT_TRUE(ApplyNormalization(norm, train).ok());
  ASSERT_TRUE(ApplyNormalization(norm, test).ok());

  FederatedOptions o;
  o.rounds = 2;
  o.clients_per_round = 4;
  o.local_epochs = 1;
  o.local_batch_size = 64;
  o.optimizer = {.name = "sgd", .lr = 0.02, .momentum = 0.9};
  o.eval_batch_size = 200;
  std::string hash[2];
  double acc[2] = {0, 0};
  for (int64_t w : {1, 2}) {
    o.workers = w;
    FederatedSetup s;
    s.model = "small_cnn";
    s.train = &train;
    s.test = &test;
    s.partition = *PartitionDirichlet(train.labels, 10, 8, 0.5, Seed(5));
    s.seed = Seed(5);
    StatusOr<std::unique_ptr<FederatedEngine>> e = FederatedEngine::Create(o, std::move(s));
    ASSERT_TRUE(e.ok()) << e.status();
    StatusOr<FederatedResult> r = (*e)->Run();
    ASSERT_TRUE(r.ok()) << r.status();
    hash[w - 1] = r->final_state_hash;
    acc[w - 1] = r->final_test_accuracy;
  }
  EXPECT_EQ(hash[0], hash[1]);
  EXPECT_EQ(acc[0], acc[1]);
}

}  // namespace
}  // namespace confml
