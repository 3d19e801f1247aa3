// confml/core/dataset.h: in-memory labelled datasets, the data sources of
// confml, and normalisation.
//
// A Dataset is plain memory (no LibTorch): features as float32, row-major,
// one sample after another, plus int64 labels. Trainers view it as tensors
// without copying.
//
//   StatusOr<Dataset> train = LoadFashionMnist("/usr/share/datasets/fashion-mnist", Split::kTrain);
//   Normalization norm = ComputeNormalization(*train);   // per channel
//   ApplyNormalization(norm, *train);
//
// Sources (each also registered by name in DatasetRegistry(), see below):
// - Fashion-MNIST from Debian's dataset-fashion-mnist (IDX files, gzip). Magic
//   numbers, dimensions, counts and file sizes are checked; a missing or
//   corrupt file is NotFound or DataLoss naming the file.
// - The next-letter word task of Islet's word model: 3 one-hot letters over
//   the 28 symbols a-z, '-', ' ' in, the next letter out.
// - Synthetic Gaussian-blob classification.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "confml/core/params.h"
#include "confml/core/registry.h"
#include "confml/core/seed.h"
#include "confml/core/status.h"

namespace confml {

struct Dataset {
  std::string name;
  std::vector<int64_t> sample_shape;  // e.g. {1, 28, 28}; {3, 28} for the word task.
  int64_t num_classes = 0;
  std::vector<float> features;        // size() * sample_numel() values.
  std::vector<int64_t> labels;        // in [0, num_classes).
  // Which device holds each sample (device_words: device i's own words), for
  // partition `owned`; one entry per sample, >= 0. Empty: the samples have
  // no owner (a shared pool that any partitioner may deal out).
  std::vector<int32_t> owner;

  int64_t size() const { return static_cast<int64_t>(labels.size()); }
  int64_t sample_numel() const;
  // The samples at `indices`, in that order, with their owners. Precondition:
  // indices in range.
  Dataset Subset(const std::vector<int64_t>& indices) const;
  // Number of samples of each class (num_classes entries).
  std::vector<int64_t> ClassCounts() const;
  // InvalidArgument unless features/labels/shape agree, labels are in range
  // and `owner` is empty or holds one non-negative entry per sample.
  Status Validate() const;
};

struct TrainTest {
  Dataset train;
  Dataset test;
};

enum class Split { kTrain, kTest };

// Reads <dir>/{train,t10k}-{images-idx3,labels-idx1}-ubyte.gz. Pixels scaled
// to [0, 1]; sample_shape {1, 28, 28}; 10 classes.
StatusOr<Dataset> LoadFashionMnist(const std::string& dir, Split split);

// Decodes one IDX file's (already decompressed) bytes. `expected_magic` is
// 0x00000803 for images and 0x00000801 for labels. Exposed for tests.
struct IdxArray {
  std::vector<int32_t> dims;
  std::vector<uint8_t> data;
};
StatusOr<IdxArray> DecodeIdx(const std::vector<uint8_t>& bytes, uint32_t expected_magic,
                             const std::string& what);
// Reads a whole gzip (or plain) file. NotFound / DataLoss naming the path.
StatusOr<std::vector<uint8_t>> ReadGzipFile(const std::string& path);

// The word task's alphabet: "abcdefghijklmnopqrstuvwxyz- " (28 symbols).
inline constexpr char kWordAlphabet[] = "abcdefghijklmnopqrstuvwxyz- ";
inline constexpr int kWordAlphabetSize = 28;
inline constexpr int kWordContext = 3;
// Index of `c` in the alphabet (upper case folded), or -1.
int WordSymbolIndex(char c);

// Reads a word list (one word a line). Keeps words of exactly `length`
// letters made only of alphabet symbols (after lower-casing); `max_words`
// of them (0 keeps all), in file order. NotFound for a missing file,
// InvalidArgument when nothing is left.
StatusOr<std::vector<std::string>> LoadWordList(const std::string& path, int length,
                                                int64_t max_words);

// Every sliding window of 3 letters of every word, labelled with the letter
// that follows it: "about" gives "abo"->'u', "bou"->'t'. Features are
// one-hot, sample_shape {3, 28}, 28 classes. InvalidArgument for a symbol
// outside the alphabet or a word shorter than 4; no words give an empty set.
StatusOr<Dataset> MakeNextLetterDataset(const std::vector<std::string>& words);
// One-hot encodes a 3-letter context for prediction.
StatusOr<std::vector<float>> EncodeWordContext(const std::string& context);

// Gaussian blobs: class c has a random mean (scale `separation`) and unit
// noise scaled by `noise`. sample_shape {num_features}.
struct SyntheticOptions {
  int64_t num_samples = 1000;   // >= 1
  int64_t num_features = 20;    // >= 1
  int64_t num_classes = 4;      // >= 2
  double separation = 2.0;      // >= 0
  double noise = 1.0;           // >= 0
};
StatusOr<Dataset> MakeSynthetic(const SyntheticOptions& options, Seed seed);

// A seeded random subset of `limit` samples whose class mix follows the whole
// set's (largest-remainder quotas), so a small run still sees every class in
// proportion; samples keep their order. limit 0 (or >= size) returns all. The
// runner applies it for every dataset (config keys dataset.train_limit and
// dataset.test_limit).
Dataset StratifiedSubset(const Dataset& dataset, int64_t limit, Seed seed);

// Per-channel mean and (population) standard deviation (channel = first
// sample dimension for images {C, H, W}; a single channel otherwise). An
// empty dataset gives the identity (mean 0, stddev 1).
struct Normalization {
  std::vector<float> mean;
  std::vector<float> stddev;
};
Normalization ComputeNormalization(const Dataset& dataset);
// x <- (x - mean) / stddev per channel. InvalidArgument on a channel mismatch
// or a zero stddev.
Status ApplyNormalization(const Normalization& norm, Dataset& dataset);

// Registered dataset sources. A factory builds the train and test sets from
// its parameters; `seed` drives any randomness (synthetic data, splits).
// Built-ins (parameters and defaults in each ComponentSpec):
//   fashion_mnist  dir, normalize
//   words          path, word_length, max_words, test_fraction (split by
//                  word), include_islet_words
//   synthetic      num_samples, num_features, num_classes, separation, noise,
//                  test_fraction
using DatasetFactory = std::function<StatusOr<TrainTest>(const ParamSet&, Seed seed)>;
Registry<DatasetFactory>& DatasetRegistry();

}  // namespace confml
