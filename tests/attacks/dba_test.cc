// The data-poisoning trial of docs/extending.md (dba_attack.cc, the
// Distributed Backdoor Attack on a DataPoisoningAttack from
// confml/attacks/poisoning_attack.h): that each malicious device's shard
// carries its own local trigger and no other, that the global trigger then
// succeeds in a small Fashion-MNIST federation far above the clean run's
// rate, that bad parameters are refused by name, and that the page shows the
// file as it is.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "../common/data_util.h"
#include "confml/attacks/federation.h"
#include "confml/core/attack.h"
#include "confml/core/dataset.h"
#include "confml/core/federated.h"
#include "confml/core/partition.h"
#include "doc_listing.h"
#include "federation_util.h"

namespace confml::attacks {
namespace {

// The pixels (row, column) of local trigger `k` at the default layout: bars
// of 4 pixels, 2 apart, from (0, 0), as in the authors' MNIST setting.
std::vector<int64_t> BarPixels(int64_t k) {
  std::vector<int64_t> out;
  const int64_t row = (k / 2) * 3, col = (k % 2) * 6;
  for (int64_t j = col; j < col + 4; ++j) out.push_back(row * 28 + j);
  return out;
}

// 3,000 Fashion-MNIST training images (stratified) over 10 IID devices and
// 1,000 test images, loaded once.
class DbaTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    data_ = new Data;
    Status s =
        testing::SmallFashionMnist(3000, Seed(7), 1000, Seed(8), &data_->train, &data_->test);
    ASSERT_TRUE(s.ok()) << s;
    StatusOr<Partition> p = PartitionIid(data_->train.labels, 10, Seed(4).Child("partition"));
    ASSERT_TRUE(p.ok()) << p.status();
    data_->partition = *p;
  }
  static void TearDownTestSuite() {
    delete data_;
    data_ = nullptr;
  }

  static AttackEnv Env(std::set<int64_t> malicious) {
    AttackEnv env;
    env.model = "mlp";
    env.model_params = {{"hidden", std::vector<int64_t>{64}}};
    env.train = &data_->train;
    env.test = &data_->test;
    env.partition = &data_->partition;
    env.malicious_clients = std::move(malicious);
    env.local_epochs = 2;
    env.local_batch_size = 32;
    env.learning_rate = 0.05;
    env.rounds = 10;
    env.clients_per_round = 10;
    env.seed = Seed(77);
    return env;
  }

  struct Data {
    Dataset train, test;
    Partition partition;
  };
  static inline Data* data_ = nullptr;
};

TEST_F(DbaTest, EachShardCarriesOnlyItsOwnLocalTrigger) {
  // Five devices: the fifth (by id) gets local trigger 0 again.
  const std::vector<int64_t> malicious = {1, 4, 6, 8, 9};
  AttackEnv env = Env({malicious.begin(), malicious.end()});
  StatusOr<AttackPtr> a = CreateAttack("dba", {}, env);
  ASSERT_TRUE(a.ok()) << a.status();
  EXPECT_TRUE((*a)->honest_code());
  const Dataset& train = data_->train;
  const int64_t numel = train.sample_numel();
  for (size_t k = 0; k < malicious.size(); ++k) {
    const int64_t id = malicious[k];
    const std::vector<int64_t> own = BarPixels(static_cast<int64_t>(k) % 4);
    const ClientData d = (*a)->ClientTrainingData({1, id, 0}, {});
    ASSERT_NE(d.dataset, nullptr) << "client " << id;
    const Dataset honest = train.Subset(data_->partition[static_cast<size_t>(id)]);
    const int64_t n = honest.size();
    const Dataset& shard = *d.dataset;
    ASSERT_EQ(shard.size(), n + std::llround(20.0 / 44.0 * static_cast<double>(n)));
    ASSERT_EQ(d.indices->size(), static_cast<size_t>(shard.size()));
    // The device's own samples come first, unchanged.
    EXPECT_TRUE(std::equal(honest.features.begin(), honest.features.end(), shard.features.begin()));
    EXPECT_TRUE(std::equal(honest.labels.begin(), honest.labels.end(), shard.labels.begin()));
    // Every copy is one of its own inputs of another class, labelled 2, with
    // its own bar white and every other pixel as it was.
    for (int64_t i = n; i < shard.size(); ++i) {
      ASSERT_EQ(shard.labels[static_cast<size_t>(i)], 2);
      const float* x = shard.features.data() + i * numel;
      for (int64_t p : own) ASSERT_EQ(x[p], 1.0f) << "client " << id << " copy " << i;
      bool found = false;
      for (int64_t h = 0; h < n && !found; ++h) {
        if (honest.labels[static_cast<size_t>(h)] == 2) continue;
        const float* src = honest.features.data() + h * numel;
        found = true;
        for (int64_t p = 0; p < numel && found; ++p) {
          const bool in_own = std::find(own.begin(), own.end(), p) != own.end();
          if (!in_own && x[p] != src[p]) found = false;
        }
      }
      ASSERT_TRUE(found) << "client " << id << " copy " << i
                         << " is not an own input with only bar " << k % 4 << " stamped";
    }
  }
  // An honest device trains on its own data.
  std::vector<int64_t> idx = {0};
  const ClientData honest{&train, &idx};
  EXPECT_EQ((*a)->ClientTrainingData({1, 0, 0}, honest).dataset, &train);
}

TEST_F(DbaTest, GlobalTriggerSucceedsFarAboveTheCleanRun) {
  // FedAvg over 10 rounds of all 10 devices; the clean run carries the
  // attack on no device, so that it scores the same triggers.
  auto run = [&](std::set<int64_t> malicious, int64_t workers = 1) {
    AttackEnv env = Env(malicious);
    FederatedOptions o = FederatedOptionsOf(env);
    o.workers = workers;
    StatusOr<std::unique_ptr<FederatedEngine>> e =
        FederatedEngine::Create(o, SetupFor(env, Seed(5)));
    EXPECT_TRUE(e.ok()) << e.status();
    if (!e.ok()) return AttackReport{};
    AttackPtr a = AttachAttack(**e, "dba", {}, env);
    if (!a) return AttackReport{};
    StatusOr<FederatedResult> r = (*e)->Run();
    EXPECT_TRUE(r.ok()) << r.status();
    if (!r.ok()) return AttackReport{};
    AttackReport rep = ReportOf(*a);
    EXPECT_NEAR(rep.metrics["test_accuracy"], r->final_test_accuracy, 1e-9);
    return rep;
  };
  AttackReport clean = run({});
  AttackReport dba = run({0, 1, 2, 3});
  auto line = [](const char* what, AttackReport& r) {
    std::printf("%s: global trigger %.3f, local triggers %.3f %.3f %.3f %.3f, main accuracy %.3f\n",
                what, r.metrics["success_rate"], r.metrics["local_success_rate_0"],
                r.metrics["local_success_rate_1"], r.metrics["local_success_rate_2"],
                r.metrics["local_success_rate_3"], r.metrics["test_accuracy"]);
  };
  line("dba clean run", clean);
  line("dba 4/10 devices", dba);
  EXPECT_FALSE(clean.received_input);
  EXPECT_TRUE(dba.received_input);
  EXPECT_EQ(dba.success_metric, "success_rate");
  EXPECT_LT(clean.metrics["success_rate"], 0.2);
  EXPECT_GT(dba.metrics["success_rate"], clean.metrics["success_rate"] + 0.6);
  // The global trigger beats every local one (the paper's observation that
  // the parts add up), and the main task stays.
  for (int k = 0; k < 4; ++k) {
    const std::string key = "local_success_rate_" + std::to_string(k);
    ASSERT_EQ(dba.metrics.count(key), 1u);
    EXPECT_LT(dba.metrics[key], dba.metrics["success_rate"]) << key;
  }
  EXPECT_GT(dba.metrics["test_accuracy"], clean.metrics["test_accuracy"] - 0.05);
  // Two workers share the shards (ClientTrainingData on worker threads)
  // and give the same bits.
  AttackReport two = run({0, 1, 2, 3}, 2);
  EXPECT_EQ(two.metrics["success_rate"], dba.metrics["success_rate"]);
  EXPECT_EQ(two.metrics["local_success_rate_3"], dba.metrics["local_success_rate_3"]);
  EXPECT_EQ(two.metrics["test_accuracy"], dba.metrics["test_accuracy"]);
}

TEST_F(DbaTest, BadParametersAreRefusedByName) {
  AttackEnv env = Env({0, 1});
  // InvalidArgument with a message that holds `fragment`.
  auto refused = [&](std::map<std::string, ParamValue> p, const std::string& fragment) {
    Status s = CreateAttack("dba", p, env).status();
    EXPECT_EQ(s.code(), StatusCode::kInvalidArgument) << s;
    EXPECT_NE(std::string(s.message()).find(fragment), std::string::npos) << s;
  };
  refused({{"trigger_size", int64_t{0}}}, "trigger_size: 0 is out of range");
  refused({{"poison_fraction", 1.0}}, "poison_fraction: 1.0 is out of range");
  refused({{"trigger_sise", int64_t{3}}}, "'trigger_size'");
  refused({{"target", int64_t{10}}}, "dba: target 10 is not a class");
  // 4 + 2 + 4 columns from column 20 do not fit a 28-pixel-wide image.
  refused({{"trigger_col", int64_t{20}}},
          "trigger_col 20) needs images of at least 4 x 30 pixels; the samples have shape "
          "{1, 28, 28}");
  refused({{"trigger_row", int64_t{25}}},
          "trigger_row 25, trigger_col 0) needs images of at "
          "least 29 x 10 pixels");
  // A trigger of pixels needs images.
  SyntheticFederation f;
  ASSERT_TRUE(MakeSyntheticFederation(&f).ok());
  env.train = &f.train;
  env.test = &f.test;
  env.partition = &f.partition;
  refused({}, "the samples have shape {20}");
}

// docs/extending.md section 6 quotes the trial in full; it must be the file.
TEST(DbaPageTest, ExtendingPageShowsTheFile) {
  const std::string doc = ReadSource("docs/extending.md");
  ExpectDocListsFile(doc, "tests/attacks/dba_attack.cc");
}

}  // namespace
}  // namespace confml::attacks
