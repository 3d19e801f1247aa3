// The device_words dataset and the owned partition.
#include "device_words.h"

#include <mutex>
#include <sstream>
#include <utility>

#include "confml/core/registry.h"

namespace confml::experiments {

namespace {

constexpr char kDevicesParam[] = "devices";
constexpr char kTestWordsParam[] = "test_words";

ComponentSpec DeviceWordsSpec() {
  return ComponentSpec{
      "dataset",
      kDeviceWordsDataset,
      "Islet's federated word scenario: next-letter samples (as the words dataset) of each "
      "device's private word list, device after device, so that partition `owned` gives "
      "client i exactly device i's words. The test set is every device's words (the "
      "scenario asks each device to complete the others' words after training), or "
      "test_words when given.",
      {Param::StringList(kDevicesParam, {"about house plant", "green stone lucky"},
                         "One entry per device: that device's words, separated by spaces "
                         "(each of at least 4 letters a-z, '-')."),
       Param::StringList(kTestWordsParam, {},
                         "Words to evaluate on; empty: every device's words.")}};
}

StatusOr<DeviceWordsData> FromParams(const ParamSet& p) {
  CONFML_ASSIGN_OR_RETURN(std::vector<std::vector<std::string>> devices,
                          ParseDeviceWords(p.StringList(kDevicesParam)));
  return MakeDeviceWordsData(devices);
}

StatusOr<TrainTest> MakeDeviceWords(const ParamSet& p, Seed) {
  CONFML_ASSIGN_OR_RETURN(DeviceWordsData data, FromParams(p));
  TrainTest out;
  out.train = std::move(data.train);
  const std::vector<std::string>& test_words = p.StringList(kTestWordsParam);
  if (test_words.empty()) {
    out.test = out.train;
  } else {
    StatusOr<Dataset> test = MakeNextLetterDataset(test_words);
    if (!test.ok()) return test.status().WithContext("device_words: test_words");
    out.test = std::move(*test);
  }
  out.test.name = kDeviceWordsDataset;
  return out;
}

}  // namespace

StatusOr<std::vector<std::vector<std::string>>> ParseDeviceWords(
    const std::vector<std::string>& devices) {
  if (devices.empty()) return InvalidArgumentError("device_words: `devices` lists no device");
  std::vector<std::vector<std::string>> out;
  for (size_t d = 0; d < devices.size(); ++d) {
    std::istringstream in(devices[d]);
    std::vector<std::string> words;
    for (std::string w; in >> w;) words.push_back(w);
    if (words.empty()) {
      return InvalidArgumentError("device_words: device " + std::to_string(d) + " (entry '" +
                                  devices[d] + "' of `devices`) has no word");
    }
    out.push_back(std::move(words));
  }
  return out;
}

Status RegisterDeviceWordsDataset() {
  static std::once_flag once;
  static Status status;
  std::call_once(once, [] { status = DatasetRegistry().Add(DeviceWordsSpec(), MakeDeviceWords); });
  return status;
}

StatusOr<Partition> OwnedPartition(const std::string& dataset,
                                   const std::map<std::string, ParamValue>& dataset_params,
                                   const Dataset& train, int64_t num_clients) {
  if (dataset != kDeviceWordsDataset) {
    return InvalidArgumentError(
        "partition 'owned' needs a dataset that says which device owns "
        "each sample (device_words); dataset '" +
        dataset + "' does not");
  }
  CONFML_ASSIGN_OR_RETURN(ParamSet p, ResolveParams(DeviceWordsSpec(), dataset_params));
  CONFML_ASSIGN_OR_RETURN(DeviceWordsData data, FromParams(p));
  if (num_clients != static_cast<int64_t>(data.owned.size())) {
    return InvalidArgumentError("partition 'owned': num_clients is " + std::to_string(num_clients) +
                                " but dataset device_words lists " +
                                std::to_string(data.owned.size()) +
                                " devices; client i is device i");
  }
  if (data.train.size() != train.size()) {
    return InvalidArgumentError(
        "partition 'owned': the devices' words give " + std::to_string(data.train.size()) +
        " samples but the training set has " + std::to_string(train.size()) +
        " (dataset.train_limit must stay 0: a device's words are all its own)");
  }
  return std::move(data.owned);
}

StatusOr<DeviceWordsData> MakeDeviceWordsData(
    const std::vector<std::vector<std::string>>& devices) {
  if (devices.empty()) return InvalidArgumentError("device_words: no device");
  DeviceWordsData out;
  for (size_t d = 0; d < devices.size(); ++d) {
    StatusOr<Dataset> ds = MakeNextLetterDataset(devices[d]);
    if (!ds.ok()) return ds.status().WithContext("device_words: device " + std::to_string(d));
    std::vector<int64_t> own(static_cast<size_t>(ds->size()));
    for (size_t i = 0; i < own.size(); ++i) own[i] = out.train.size() + static_cast<int64_t>(i);
    out.owned.push_back(std::move(own));
    if (d == 0) {
      out.train = std::move(*ds);
    } else {
      out.train.features.insert(out.train.features.end(), ds->features.begin(), ds->features.end());
      out.train.labels.insert(out.train.labels.end(), ds->labels.begin(), ds->labels.end());
    }
  }
  out.train.name = kDeviceWordsDataset;
  return out;
}

}  // namespace confml::experiments
