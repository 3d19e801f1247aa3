// The federated word scenario as experiment data: the `device_words` dataset
// (each device's private word list, as in Islet's FL flow), whose samples
// carry their device as Dataset::owner, so that partition `owned`
// (PartitionOwned in core/partition.h: client i holds exactly device i's
// samples) makes the scenario a `kind: federated` config with attacks,
// defenses and a run folder.
//
//   dataset:   {name: device_words, devices: ["about house plant", "green stone lucky"]}
//   partition: {name: owned, num_clients: 2}
//
//   CONFML_RETURN_IF_ERROR(RegisterDeviceWordsDataset());
//   StatusOr<Dataset> d = MakeDeviceWordsDataset({{"about", "house"}, {"green"}});
//   StatusOr<Partition> p = PartitionOwned(d->owner, 2);
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "confml/core/dataset.h"
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

// Device i's words' next-letter samples, device after device, each sample's
// owner its device. InvalidArgument naming the device whose words have no
// sample or leave the alphabet.
StatusOr<Dataset> MakeDeviceWordsDataset(const std::vector<std::vector<std::string>>& devices);

}  // namespace confml::experiments
