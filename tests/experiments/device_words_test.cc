// Tests of experiments/src/device_words.h: the device_words dataset, its
// owners and partition owned (PartitionOwned), and the word scenario as a
// kind: federated config.
#include "../../experiments/src/device_words.h"

#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <vector>

#include "confml/core/partition.h"
#include "confml/experiments/parties.h"
#include "run_util.h"

namespace confml::experiments {
namespace {

using testing::RunConfigFile;
using testing::RunShippedConfig;

const std::vector<std::string> kDevices = {"about house plant", "green stone", "lucky"};

StatusOr<TrainTest> Build(const std::map<std::string, ParamValue>& given) {
  CONFML_RETURN_IF_ERROR(RegisterAllComponents());
  CONFML_ASSIGN_OR_RETURN(const auto* entry, DatasetRegistry().Lookup(kDeviceWordsDataset));
  CONFML_ASSIGN_OR_RETURN(ParamSet p, ResolveParams(entry->spec, given));
  return entry->factory(p, Seed(1));
}

TEST(DeviceWordsTest, ClientIHoldsExactlyDeviceIsWords) {
  const std::map<std::string, ParamValue> params = {{"devices", kDevices}};
  StatusOr<TrainTest> data = Build(params);
  ASSERT_TRUE(data.ok()) << data.status();
  StatusOr<Dataset> all =
      MakeNextLetterDataset({"about", "house", "plant", "green", "stone", "lucky"});
  ASSERT_TRUE(all.ok());
  EXPECT_EQ(data->train.features, all->features);
  EXPECT_EQ(data->train.labels, all->labels);
  EXPECT_EQ(data->test.labels, data->train.labels);  // Every device's words.

  // Device 0 has 3 words, then 2, then 1; 5-letter words give 2 windows each.
  EXPECT_EQ(data->train.owner, (std::vector<int32_t>{0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2}));
  StatusOr<Partition> p = PartitionOwned(data->train.owner, 3);
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_EQ(*p, (Partition{{0, 1, 2, 3, 4, 5}, {6, 7, 8, 9}, {10, 11}}));
  for (size_t d = 0; d < p->size(); ++d) {
    StatusOr<std::vector<std::vector<std::string>>> words = ParseDeviceWords(kDevices);
    ASSERT_TRUE(words.ok());
    StatusOr<Dataset> own = MakeNextLetterDataset((*words)[d]);
    ASSERT_TRUE(own.ok());
    EXPECT_EQ(data->train.Subset((*p)[d]).labels, own->labels) << "device " << d;
  }
  // A subset (train_limit's) keeps each sample's device.
  const Dataset cut = data->train.Subset({1, 7, 10, 11});
  EXPECT_TRUE(cut.Validate().ok());
  StatusOr<Partition> p_cut = PartitionOwned(cut.owner, 3);
  ASSERT_TRUE(p_cut.ok()) << p_cut.status();
  EXPECT_EQ(*p_cut, (Partition{{0}, {1}, {2, 3}}));

  StatusOr<TrainTest> held_out =
      Build({{"devices", kDevices}, {"test_words", std::vector<std::string>{"which"}}});
  ASSERT_TRUE(held_out.ok()) << held_out.status();
  EXPECT_EQ(held_out->test.size(), 2);
}

TEST(DeviceWordsTest, MismatchesAreInvalidArgumentNamingWhatIsWrong) {
  const std::map<std::string, ParamValue> params = {{"devices", kDevices}};
  StatusOr<TrainTest> data = Build(params);
  ASSERT_TRUE(data.ok()) << data.status();
  StatusOr<Partition> p = PartitionOwned(data->train.owner, 2);
  ASSERT_FALSE(p.ok());
  EXPECT_EQ(p.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(p.status().message().find("num_clients is 2 but the samples have 3 owners"),
            std::string::npos)
      << p.status();

  StatusOr<Dataset> synthetic = MakeSynthetic(SyntheticOptions{}, Seed(1));
  ASSERT_TRUE(synthetic.ok()) << synthetic.status();
  p = PartitionOwned(synthetic->owner, 3);
  ASSERT_FALSE(p.ok());
  EXPECT_NE(p.status().message().find(
                "partition owned needs a dataset whose samples have owners, e.g. device_words"),
            std::string::npos)
      << p.status();

  // A cut that leaves device 1 and 2 without a sample.
  p = PartitionOwned(data->train.Subset({0, 1, 2}).owner, 3);
  ASSERT_FALSE(p.ok());
  EXPECT_NE(p.status().message().find("client 1 owns no sample"), std::string::npos) << p.status();

  StatusOr<TrainTest> empty = Build({{"devices", std::vector<std::string>{"about", " "}}});
  ASSERT_FALSE(empty.ok());
  EXPECT_NE(empty.status().message().find("device 1"), std::string::npos) << empty.status();
  StatusOr<TrainTest> bad = Build({{"devices", std::vector<std::string>{"ab1cd"}}});
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().code(), StatusCode::kInvalidArgument);
}

// The shipped word scenario as a federated config: both devices admitted in
// every round, and after 10 rounds of FedAvg the global model completes
// every device's words (as the fl_words flow's devices do).
TEST(DeviceWordsTest, WordScenarioRunsAsAFederatedConfig) {
  RunResult r = RunShippedConfig("islet/fl_words_federated", {});
  ASSERT_EQ(r.rounds.size(), 10u);
  for (const RoundRecord& m : r.rounds) {
    EXPECT_EQ(m.clients_admitted, 2);
    EXPECT_EQ(m.clients_refused, 0);
    EXPECT_EQ(m.clients_dropped, 0);
  }
  EXPECT_EQ(r.rounds.back().test_accuracy, 1.0);
  EXPECT_LT(r.rounds.front().test_accuracy, 1.0);  // Learnt, not given.

  // A config naming more clients than devices is refused before anything runs.
  StatusOr<RunResult> bad =
      RunConfigFile(testing::SourceDir() + "/experiments/islet/fl_words_federated.yaml",
                    {"partition.num_clients=3"}, /*write_run_dir=*/false);
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("num_clients is 3"), std::string::npos) << bad.status();
}

}  // namespace
}  // namespace confml::experiments
