// The federated word scenario as experiment data: the `device_words` dataset
// (each device's private word list, as in Islet's FL flow) and the `owned`
// partition (client i holds exactly device i's samples), so the scenario is a
// `kind: federated` config with attacks, defenses and a run folder.
//
//   dataset:   {name: device_words, devices: ["about house plant", "green stone lucky"]}
//   partition: {name: owned, num_clients: 2}
//
//   CONFML_RETURN_IF_ERROR(RegisterDeviceWordsDataset());
//   StatusOr<Partition> p = OwnedPartition("device_words", params, train, 2);
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "confml/core/dataset.h"
#include "confml/core/params.h"
#include "confml/core/partition.h"
#include "confml/core/status.h"

namespace confml::experiments {

inline constexpr char kDeviceWordsDataset[] = "device_words";

// Adds `device_words` to DatasetRegistry(). Idempotent and thread-safe;
// returns the first call's status.
Status RegisterDeviceWordsDataset();

// Device i's words: entry i of `devices`, split at spaces. InvalidArgument
// naming the entry when it holds no word.
StatusOr<std::vector<std::vector<std::string>>> ParseDeviceWords(
    const std::vector<std::string>& devices);

// Device i's words' next-letter samples, device after device, and the
// partition that gives client i exactly device i's. InvalidArgument naming
// the device whose words have no sample or leave the alphabet.
struct DeviceWordsData {
  Dataset train;
  Partition owned;
};
StatusOr<DeviceWordsData> MakeDeviceWordsData(const std::vector<std::vector<std::string>>& devices);

// The `owned` partition: client i is device i's samples of the dataset
// `dataset` built from `dataset_params` (unresolved values; defaults fill the
// rest). InvalidArgument when the dataset has no owners (only device_words
// does), when num_clients is not the number of devices, or when `train` is
// not the whole training set (dataset.train_limit cuts it).
StatusOr<Partition> OwnedPartition(const std::string& dataset,
                                   const std::map<std::string, ParamValue>& dataset_params,
                                   const Dataset& train, int64_t num_clients);

}  // namespace confml::experiments
