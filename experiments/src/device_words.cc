// The device_words dataset: each sample's owner is its device.
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

StatusOr<TrainTest> MakeDeviceWords(const ParamSet& p, Seed) {
  CONFML_ASSIGN_OR_RETURN(std::vector<std::vector<std::string>> devices,
                          ParseDeviceWords(p.StringList(kDevicesParam)));
  TrainTest out;
  CONFML_ASSIGN_OR_RETURN(out.train, MakeDeviceWordsDataset(devices));
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

StatusOr<Dataset> MakeDeviceWordsDataset(const std::vector<std::vector<std::string>>& devices) {
  if (devices.empty()) return InvalidArgumentError("device_words: no device");
  Dataset out;
  for (size_t d = 0; d < devices.size(); ++d) {
    StatusOr<Dataset> ds = MakeNextLetterDataset(devices[d]);
    if (!ds.ok()) return ds.status().WithContext("device_words: device " + std::to_string(d));
    if (d == 0) {
      out = std::move(*ds);
    } else {
      out.features.insert(out.features.end(), ds->features.begin(), ds->features.end());
      out.labels.insert(out.labels.end(), ds->labels.begin(), ds->labels.end());
    }
    out.owner.resize(out.labels.size(), static_cast<int32_t>(d));
  }
  out.name = kDeviceWordsDataset;
  return out;
}

}  // namespace confml::experiments
