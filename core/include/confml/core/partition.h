// confml/core/partition.h: splitting a dataset among federated clients.
//
// Each partitioner returns, for every client, the indices of its samples.
// Every sample goes to at most one client; the result depends only on the
// labels, the parameters and the seed. Each client's indices are ascending.
// InvalidArgument for no clients, more clients than samples, or bad
// parameters.
//
//   Seed seed = Seed(42).Child("partition");
//   StatusOr<Partition> p = PartitionDirichlet(train.labels, 10, 100, 0.5, seed);
#pragma once

#include <cstdint>
#include <vector>

#include "confml/core/seed.h"
#include "confml/core/status.h"

namespace confml {

using Partition = std::vector<std::vector<int64_t>>;

// Shuffles and deals the samples out evenly (sizes differ by at most one).
StatusOr<Partition> PartitionIid(const std::vector<int64_t>& labels, int64_t num_clients,
                                 Seed seed);

// Per class, draws client proportions from Dirichlet(alpha) and splits the
// class's samples accordingly (Hsu et al. 2019). Redraws (up to a bound) until
// every client holds at least `min_per_client` samples; FailedPrecondition if
// that is impossible.
StatusOr<Partition> PartitionDirichlet(const std::vector<int64_t>& labels, int64_t num_classes,
                                       int64_t num_clients, double alpha, Seed seed,
                                       int64_t min_per_client = 1);

// Sorts by label, cuts into num_clients * shards_per_client shards and gives
// each client `shards_per_client` random shards (McMahan et al. 2017), so
// each client sees about that many classes.
StatusOr<Partition> PartitionShards(const std::vector<int64_t>& labels, int64_t num_clients,
                                    int64_t shards_per_client, Seed seed);

// Fang et al., "Local Model Poisoning Attacks to Byzantine-Robust Federated
// Learning" (USENIX Security 2020, Section 5.1): the clients form
// num_classes equal groups (group g = clients [g*k, (g+1)*k), k =
// num_clients / num_classes); a sample of label l goes to group l with
// probability q and to each other group with probability (1-q)/(C-1); within
// its group it goes to a uniformly random client. q = 1/C is IID; larger q is
// more skewed. With few samples a client may receive none. InvalidArgument
// for q outside (0, 1], num_clients not a multiple of num_classes (fewer
// than two classes), or labels outside [0, num_classes).
StatusOr<Partition> PartitionFang(const std::vector<int64_t>& labels, int64_t num_classes,
                                  int64_t num_clients, double q, Seed seed);

// Client i holds exactly the samples whose owner is i (Dataset::owner, set
// by datasets whose samples belong to a device, such as device_words): the
// data decides, no seed. A subset of an owned dataset keeps its owners, so
// this also holds after dataset.train_limit. InvalidArgument when `owner` is
// empty (the dataset has no owners), names an owner outside
// [0, num_clients), or leaves a client without a sample.
StatusOr<Partition> PartitionOwned(const std::vector<int32_t>& owner, int64_t num_clients);

// Label histogram of each client: result[client][class]. Indices or labels
// out of range are not counted.
std::vector<std::vector<int64_t>> PartitionLabelCounts(const Partition& partition,
                                                       const std::vector<int64_t>& labels,
                                                       int64_t num_classes);

}  // namespace confml
