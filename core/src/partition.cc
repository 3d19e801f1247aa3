// Federated partitioners: IID, Dirichlet label skew (Hsu et al. 2019),
// label-sorted shards (McMahan et al. 2017), Fang et al.'s groups (2020) and
// the data's own owners. Each client's indices are returned in ascending
// order, so that a client's dataset does not depend on how the partitioner
// happened to visit it.
#include "confml/core/partition.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <string>

namespace confml {
namespace {

// A hopeless min_per_client (e.g. alpha tiny, many clients) must fail rather
// than spin; each attempt costs only num_classes Dirichlet draws.
constexpr int kMaxDirichletAttempts = 10000;

Status CheckClients(int64_t num_clients, size_t num_samples, const char* who) {
  if (num_clients < 1) {
    return InvalidArgumentError(std::string(who) + ": num_clients must be >= 1, got " +
                                std::to_string(num_clients));
  }
  if (static_cast<uint64_t>(num_clients) > num_samples) {
    return InvalidArgumentError(std::string(who) + ": " + std::to_string(num_clients) +
                                " clients but only " + std::to_string(num_samples) + " samples");
  }
  return OkStatus();
}

void SortEach(Partition& p) {
  for (auto& client : p) std::sort(client.begin(), client.end());
}

}  // namespace

StatusOr<Partition> PartitionIid(const std::vector<int64_t>& labels, int64_t num_clients,
                                 Seed seed) {
  CONFML_RETURN_IF_ERROR(CheckClients(num_clients, labels.size(), "iid partition"));
  const int64_t n = static_cast<int64_t>(labels.size());
  std::vector<int64_t> perm = seed.MakeRng().Permutation(n);
  Partition out(num_clients);
  const int64_t base = n / num_clients;
  const int64_t extra = n % num_clients;
  int64_t pos = 0;
  for (int64_t c = 0; c < num_clients; ++c) {
    const int64_t take = base + (c < extra ? 1 : 0);
    out[c].assign(perm.begin() + pos, perm.begin() + pos + take);
    pos += take;
  }
  SortEach(out);
  return out;
}

StatusOr<Partition> PartitionDirichlet(const std::vector<int64_t>& labels, int64_t num_classes,
                                       int64_t num_clients, double alpha, Seed seed,
                                       int64_t min_per_client) {
  CONFML_RETURN_IF_ERROR(CheckClients(num_clients, labels.size(), "dirichlet partition"));
  if (num_classes < 1) {
    return InvalidArgumentError("dirichlet partition: num_classes must be >= 1, got " +
                                std::to_string(num_classes));
  }
  if (!(alpha > 0.0) || !std::isfinite(alpha)) {
    return InvalidArgumentError("dirichlet partition: alpha must be finite and > 0, got " +
                                std::to_string(alpha));
  }
  if (min_per_client < 0) {
    return InvalidArgumentError("dirichlet partition: min_per_client must be >= 0, got " +
                                std::to_string(min_per_client));
  }
  if (num_clients > std::numeric_limits<int>::max()) {
    return InvalidArgumentError("dirichlet partition: too many clients");
  }
  const int64_t n = static_cast<int64_t>(labels.size());
  if (min_per_client > 0 && min_per_client * num_clients > n) {
    return FailedPreconditionError("dirichlet partition: " + std::to_string(num_clients) +
                                   " clients with at least " + std::to_string(min_per_client) +
                                   " samples each need more than the " + std::to_string(n) +
                                   " samples available");
  }
  std::vector<std::vector<int64_t>> by_class(num_classes);
  for (int64_t i = 0; i < n; ++i) {
    if (labels[i] < 0 || labels[i] >= num_classes) {
      return InvalidArgumentError("dirichlet partition: label " + std::to_string(labels[i]) +
                                  " of sample " + std::to_string(i) + " is outside [0, " +
                                  std::to_string(num_classes) + ")");
    }
    by_class[labels[i]].push_back(i);
  }
  Rng rng = seed.MakeRng();
  // Which samples of a class a client gets is random too, not file order.
  for (auto& members : by_class) rng.Shuffle(members);

  // cuts[c][j]: the end (exclusive) of client j's slice of class c. Only
  // counts are drawn per attempt; the index lists are built once at the end.
  std::vector<std::vector<int64_t>> cuts(num_classes, std::vector<int64_t>(num_clients));
  std::vector<int64_t> sizes(num_clients);
  int64_t smallest = 0;
  bool done = false;
  for (int attempt = 0; attempt < kMaxDirichletAttempts && !done; ++attempt) {
    std::fill(sizes.begin(), sizes.end(), 0);
    for (int64_t c = 0; c < num_classes; ++c) {
      const int64_t count = static_cast<int64_t>(by_class[c].size());
      const std::vector<double> p = rng.Dirichlet(alpha, static_cast<int>(num_clients));
      double cumulative = 0.0;
      int64_t prev = 0;
      for (int64_t j = 0; j < num_clients; ++j) {
        cumulative += p[j];
        int64_t cut =
            (j == num_clients - 1) ? count : std::llround(cumulative * static_cast<double>(count));
        cut = std::clamp<int64_t>(cut, prev, count);
        cuts[c][j] = cut;
        sizes[j] += cut - prev;
        prev = cut;
      }
    }
    smallest = *std::min_element(sizes.begin(), sizes.end());
    done = smallest >= min_per_client;
  }
  if (!done) {
    return FailedPreconditionError(
        "dirichlet partition: no draw in " + std::to_string(kMaxDirichletAttempts) +
        " attempts gave every one of " + std::to_string(num_clients) + " clients at least " +
        std::to_string(min_per_client) + " samples (alpha " + std::to_string(alpha) +
        ", last smallest client " + std::to_string(smallest) +
        "); raise alpha or lower min_per_client");
  }
  Partition out(num_clients);
  for (int64_t c = 0; c < num_classes; ++c) {
    int64_t prev = 0;
    for (int64_t j = 0; j < num_clients; ++j) {
      out[j].insert(out[j].end(), by_class[c].begin() + prev, by_class[c].begin() + cuts[c][j]);
      prev = cuts[c][j];
    }
  }
  SortEach(out);
  return out;
}

StatusOr<Partition> PartitionShards(const std::vector<int64_t>& labels, int64_t num_clients,
                                    int64_t shards_per_client, Seed seed) {
  CONFML_RETURN_IF_ERROR(CheckClients(num_clients, labels.size(), "shard partition"));
  if (shards_per_client < 1) {
    return InvalidArgumentError("shard partition: shards_per_client must be >= 1, got " +
                                std::to_string(shards_per_client));
  }
  const int64_t n = static_cast<int64_t>(labels.size());
  const int64_t num_shards = num_clients * shards_per_client;
  if (num_shards > n) {
    return InvalidArgumentError("shard partition: " + std::to_string(num_clients) + " clients x " +
                                std::to_string(shards_per_client) + " shards need at least " +
                                std::to_string(num_shards) + " samples, have " + std::to_string(n));
  }
  Rng rng = seed.MakeRng();
  // Sort by label with random order inside a class, so that a shard is a
  // random sample of its class rather than the first rows of the file.
  std::vector<int64_t> order = rng.Permutation(n);
  std::stable_sort(order.begin(), order.end(),
                   [&](int64_t a, int64_t b) { return labels[a] < labels[b]; });
  std::vector<int64_t> shard_ids = rng.Permutation(num_shards);
  // Shard s covers [start(s), start(s + 1)); the first n % num_shards shards
  // are one larger, so every sample is used.
  const int64_t base = n / num_shards;
  const int64_t extra = n % num_shards;
  auto start = [&](int64_t s) { return s * base + std::min(s, extra); };
  Partition out(num_clients);
  for (int64_t c = 0; c < num_clients; ++c) {
    for (int64_t k = 0; k < shards_per_client; ++k) {
      const int64_t s = shard_ids[c * shards_per_client + k];
      out[c].insert(out[c].end(), order.begin() + start(s), order.begin() + start(s + 1));
    }
  }
  SortEach(out);
  return out;
}

StatusOr<Partition> PartitionFang(const std::vector<int64_t>& labels, int64_t num_classes,
                                  int64_t num_clients, double q, Seed seed) {
  CONFML_RETURN_IF_ERROR(CheckClients(num_clients, labels.size(), "fang partition"));
  if (num_classes < 2) {
    return InvalidArgumentError("fang partition: needs at least 2 classes, got " +
                                std::to_string(num_classes));
  }
  if (!(q > 0.0 && q <= 1.0)) {
    return InvalidArgumentError("fang partition: q must be in (0, 1], got " + std::to_string(q));
  }
  if (num_clients % num_classes != 0) {
    return InvalidArgumentError("fang partition: num_clients (" + std::to_string(num_clients) +
                                ") must be a multiple of the number of classes (" +
                                std::to_string(num_classes) +
                                "), since the clients form one equal group per class");
  }
  const int64_t group_size = num_clients / num_classes;
  Rng rng = seed.MakeRng();
  Partition out(num_clients);
  // One pass in sample order: the result depends only on the labels, q and
  // the seed.
  for (size_t i = 0; i < labels.size(); ++i) {
    const int64_t l = labels[i];
    if (l < 0 || l >= num_classes) {
      return InvalidArgumentError("fang partition: label " + std::to_string(l) + " of sample " +
                                  std::to_string(i) + " is outside [0, " +
                                  std::to_string(num_classes) + ")");
    }
    int64_t group = l;
    if (rng.Uniform() >= q) {
      // One of the other C-1 groups, uniformly: skip over l.
      group = static_cast<int64_t>(rng.UniformInt(static_cast<uint64_t>(num_classes - 1)));
      if (group >= l) ++group;
    }
    const auto member = static_cast<int64_t>(rng.UniformInt(static_cast<uint64_t>(group_size)));
    out[group * group_size + member].push_back(static_cast<int64_t>(i));
  }
  return out;  // Filled in ascending sample order.
}

StatusOr<Partition> PartitionOwned(const std::vector<int32_t>& owner, int64_t num_clients) {
  if (owner.empty()) {
    return InvalidArgumentError(
        "partition owned needs a dataset whose samples have owners, e.g. device_words");
  }
  if (num_clients < 1) {
    return InvalidArgumentError("owned partition: num_clients must be >= 1, got " +
                                std::to_string(num_clients));
  }
  const int64_t owners = 1 + *std::max_element(owner.begin(), owner.end());
  if (owners > num_clients) {
    return InvalidArgumentError("owned partition: num_clients is " + std::to_string(num_clients) +
                                " but the samples have " + std::to_string(owners) +
                                " owners; client i is device i");
  }
  Partition out(static_cast<size_t>(num_clients));
  for (size_t i = 0; i < owner.size(); ++i) {
    if (owner[i] < 0) {
      return InvalidArgumentError("owned partition: sample " + std::to_string(i) +
                                  " has the negative owner " + std::to_string(owner[i]));
    }
    out[static_cast<size_t>(owner[i])].push_back(static_cast<int64_t>(i));
  }
  for (int64_t c = 0; c < num_clients; ++c) {
    if (out[static_cast<size_t>(c)].empty()) {
      return InvalidArgumentError("owned partition: num_clients is " + std::to_string(num_clients) +
                                  " but client " + std::to_string(c) +
                                  " owns no sample of the training set (" + std::to_string(owners) +
                                  " owners; client i is device i)");
    }
  }
  return out;  // Filled in ascending sample order.
}

std::vector<std::vector<int64_t>> PartitionLabelCounts(const Partition& partition,
                                                       const std::vector<int64_t>& labels,
                                                       int64_t num_classes) {
  std::vector<std::vector<int64_t>> counts(partition.size(),
                                           std::vector<int64_t>(std::max<int64_t>(num_classes, 0)));
  for (size_t c = 0; c < partition.size(); ++c) {
    for (int64_t i : partition[c]) {
      if (i < 0 || i >= static_cast<int64_t>(labels.size())) continue;
      const int64_t y = labels[i];
      if (y >= 0 && y < num_classes) ++counts[c][y];
    }
  }
  return counts;
}

}  // namespace confml
