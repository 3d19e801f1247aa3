// Dataset basics, synthetic Gaussian blobs and per-channel normalisation.
// The file formats live in dataset_idx.cc (Fashion-MNIST) and
// dataset_words.cc (the word task); the registry in dataset_registry.cc.
#include "confml/core/dataset.h"

#include <algorithm>
#include <cmath>
#include <string>

namespace confml {

int64_t Dataset::sample_numel() const {
  int64_t n = 1;
  for (int64_t d : sample_shape) n *= d;
  return n;
}

Dataset Dataset::Subset(const std::vector<int64_t>& indices) const {
  Dataset out;
  out.name = name;
  out.sample_shape = sample_shape;
  out.num_classes = num_classes;
  const int64_t numel = sample_numel();
  out.features.resize(indices.size() * static_cast<size_t>(numel));
  out.labels.resize(indices.size());
  if (!owner.empty()) out.owner.resize(indices.size());
  for (size_t i = 0; i < indices.size(); ++i) {
    const int64_t src = indices[i];
    std::copy(features.begin() + src * numel, features.begin() + (src + 1) * numel,
              out.features.begin() + static_cast<int64_t>(i) * numel);
    out.labels[i] = labels[src];
    if (!owner.empty()) out.owner[i] = owner[src];
  }
  return out;
}

std::vector<int64_t> Dataset::ClassCounts() const {
  std::vector<int64_t> counts(num_classes > 0 ? num_classes : 0, 0);
  for (int64_t y : labels) {
    if (y >= 0 && y < num_classes) ++counts[y];
  }
  return counts;
}

Status Dataset::Validate() const {
  const std::string what = "dataset '" + name + "'";
  if (sample_shape.empty()) return InvalidArgumentError(what + ": empty sample_shape");
  for (int64_t d : sample_shape) {
    if (d <= 0) return InvalidArgumentError(what + ": sample_shape has a non-positive dimension");
  }
  if (num_classes < 1) return InvalidArgumentError(what + ": num_classes must be >= 1");
  const size_t expected = labels.size() * static_cast<size_t>(sample_numel());
  if (features.size() != expected) {
    return InvalidArgumentError(what + ": " + std::to_string(features.size()) +
                                " feature values for " + std::to_string(labels.size()) +
                                " samples of " + std::to_string(sample_numel()) +
                                " values (expected " + std::to_string(expected) + ")");
  }
  for (size_t i = 0; i < labels.size(); ++i) {
    if (labels[i] < 0 || labels[i] >= num_classes) {
      return InvalidArgumentError(what + ": label " + std::to_string(labels[i]) + " of sample " +
                                  std::to_string(i) + " is outside [0, " +
                                  std::to_string(num_classes) + ")");
    }
  }
  if (!owner.empty()) {
    if (owner.size() != labels.size()) {
      return InvalidArgumentError(what + ": " + std::to_string(owner.size()) + " owners for " +
                                  std::to_string(labels.size()) + " samples");
    }
    for (size_t i = 0; i < owner.size(); ++i) {
      if (owner[i] < 0) {
        return InvalidArgumentError(what + ": owner " + std::to_string(owner[i]) + " of sample " +
                                    std::to_string(i) + " is negative");
      }
    }
  }
  return OkStatus();
}

StatusOr<Dataset> MakeSynthetic(const SyntheticOptions& options, Seed seed) {
  if (options.num_samples < 1) return InvalidArgumentError("synthetic: num_samples must be >= 1");
  if (options.num_features < 1) return InvalidArgumentError("synthetic: num_features must be >= 1");
  if (options.num_classes < 2) return InvalidArgumentError("synthetic: num_classes must be >= 2");
  if (!(options.separation >= 0.0) || !std::isfinite(options.separation)) {
    return InvalidArgumentError("synthetic: separation must be a finite value >= 0");
  }
  if (!(options.noise >= 0.0) || !std::isfinite(options.noise)) {
    return InvalidArgumentError("synthetic: noise must be a finite value >= 0");
  }
  const int64_t n = options.num_samples;
  const int64_t f = options.num_features;
  const int64_t k = options.num_classes;

  // Separate streams, so that changing num_samples keeps the class means.
  Rng mean_rng = seed.Child("means").MakeRng();
  std::vector<double> means(static_cast<size_t>(k * f));
  for (double& m : means) m = options.separation * mean_rng.Normal();

  // Balanced classes (round-robin), in a random order.
  Rng sample_rng = seed.Child("samples").MakeRng();
  std::vector<int64_t> order = sample_rng.Permutation(n);

  Dataset ds;
  ds.name = "synthetic";
  ds.sample_shape = {f};
  ds.num_classes = k;
  ds.labels.resize(n);
  ds.features.resize(static_cast<size_t>(n * f));
  for (int64_t i = 0; i < n; ++i) {
    const int64_t y = order[i] % k;
    ds.labels[i] = y;
    for (int64_t j = 0; j < f; ++j) {
      ds.features[i * f + j] =
          static_cast<float>(means[y * f + j] + options.noise * sample_rng.Normal());
    }
  }
  return ds;
}

namespace {

// Images {C, H, W} normalise per colour channel; anything else is one channel.
int64_t NumChannels(const Dataset& dataset) {
  return dataset.sample_shape.size() == 3 ? dataset.sample_shape[0] : 1;
}

}  // namespace

Normalization ComputeNormalization(const Dataset& dataset) {
  const int64_t channels = NumChannels(dataset);
  const int64_t numel = dataset.sample_numel();
  const int64_t per_channel = channels > 0 ? numel / channels : 0;
  Normalization norm;
  norm.mean.assign(channels, 0.0f);
  norm.stddev.assign(channels, 1.0f);
  if (dataset.size() == 0 || per_channel == 0) return norm;  // Identity: nothing to learn from.
  // Two passes in double: a one-pass sum of squares loses digits over 47M
  // pixels stored as float.
  for (int64_t c = 0; c < channels; ++c) {
    double sum = 0.0;
    for (int64_t i = 0; i < dataset.size(); ++i) {
      const float* x = dataset.features.data() + i * numel + c * per_channel;
      for (int64_t j = 0; j < per_channel; ++j) sum += x[j];
    }
    const double count = static_cast<double>(dataset.size()) * static_cast<double>(per_channel);
    const double mean = sum / count;
    double sq = 0.0;
    for (int64_t i = 0; i < dataset.size(); ++i) {
      const float* x = dataset.features.data() + i * numel + c * per_channel;
      for (int64_t j = 0; j < per_channel; ++j) {
        const double d = x[j] - mean;
        sq += d * d;
      }
    }
    norm.mean[c] = static_cast<float>(mean);
    norm.stddev[c] = static_cast<float>(std::sqrt(sq / count));
  }
  return norm;
}

Status ApplyNormalization(const Normalization& norm, Dataset& dataset) {
  const int64_t channels = NumChannels(dataset);
  if (static_cast<int64_t>(norm.mean.size()) != channels ||
      static_cast<int64_t>(norm.stddev.size()) != channels) {
    return InvalidArgumentError("normalisation of dataset '" + dataset.name + "' has " +
                                std::to_string(norm.mean.size()) + " means and " +
                                std::to_string(norm.stddev.size()) + " stddevs for " +
                                std::to_string(channels) + " channels");
  }
  for (int64_t c = 0; c < channels; ++c) {
    if (!(norm.stddev[c] > 0.0f) || !std::isfinite(norm.stddev[c]) ||
        !std::isfinite(norm.mean[c])) {
      return InvalidArgumentError("normalisation of dataset '" + dataset.name + "': channel " +
                                  std::to_string(c) + " has stddev " +
                                  std::to_string(norm.stddev[c]) + " (must be finite and > 0)");
    }
  }
  const int64_t numel = dataset.sample_numel();
  const int64_t per_channel = numel / channels;
  for (int64_t i = 0; i < dataset.size(); ++i) {
    for (int64_t c = 0; c < channels; ++c) {
      float* x = dataset.features.data() + i * numel + c * per_channel;
      const float mean = norm.mean[c];
      const float inv = 1.0f / norm.stddev[c];
      for (int64_t j = 0; j < per_channel; ++j) x[j] = (x[j] - mean) * inv;
    }
  }
  return OkStatus();
}

}  // namespace confml
