// The built-in dataset sources, registered by name with their declared
// parameters: fashion_mnist, words, synthetic.
#include <algorithm>
#include <cmath>
#include <set>
#include <string>

#include "confml/core/dataset.h"

namespace confml {
namespace {

// The words Islet's word model is pre-trained on (examples/confidential-ml).
const char* const kIsletWords[] = {"which", "there", "their", "about", "white"};


// Splits 0..n-1 into a random test part of round(fraction * n) and the rest,
// each in ascending order.
void RandomSplit(int64_t n, double fraction, Seed seed, std::vector<int64_t>& train,
                 std::vector<int64_t>& test) {
  const int64_t n_test = std::llround(fraction * static_cast<double>(n));
  std::vector<int64_t> perm = seed.MakeRng().Permutation(n);
  test.assign(perm.begin(), perm.begin() + n_test);
  train.assign(perm.begin() + n_test, perm.end());
  std::sort(test.begin(), test.end());
  std::sort(train.begin(), train.end());
}

Status CheckFraction(const std::string& source, double fraction) {
  if (!(fraction >= 0.0 && fraction < 1.0)) {
    return InvalidArgumentError(source + ": test_fraction must be in [0, 1), got " +
                                std::to_string(fraction));
  }
  return OkStatus();
}

StatusOr<TrainTest> MakeFashionMnist(const ParamSet& p, Seed seed) {
  TrainTest out;
  CONFML_ASSIGN_OR_RETURN(out.train, LoadFashionMnist(p.String("dir"), Split::kTrain));
  CONFML_ASSIGN_OR_RETURN(out.test, LoadFashionMnist(p.String("dir"), Split::kTest));
  if (p.Bool("normalize")) {
    // Statistics of the training data only: the test set must not leak into
    // preprocessing.
    const Normalization norm = ComputeNormalization(out.train);
    CONFML_RETURN_IF_ERROR(ApplyNormalization(norm, out.train));
    CONFML_RETURN_IF_ERROR(ApplyNormalization(norm, out.test));
  }
  return out;
}

StatusOr<TrainTest> MakeWords(const ParamSet& p, Seed seed) {
  const int64_t length = p.Int("word_length");
  const double fraction = p.Double("test_fraction");
  if (length < kWordContext + 1 || length > 1000) {
    return InvalidArgumentError("words: word_length must be in [4, 1000], got " +
                                std::to_string(length));
  }
  CONFML_RETURN_IF_ERROR(CheckFraction("words", fraction));
  const int64_t max_words = p.Int("max_words");
  if (max_words < 0) {
    return InvalidArgumentError("words: max_words must be >= 0, got " + std::to_string(max_words));
  }
  CONFML_ASSIGN_OR_RETURN(std::vector<std::string> words,
                          LoadWordList(p.String("path"), static_cast<int>(length), 0));
  // A random sample, not the first lines: a dictionary file starts with
  // capitalised proper nouns (wamerican's first 1500 five-letter entries are
  // names), which would make a poor and alphabetically skewed task.
  if (max_words > 0 && static_cast<int64_t>(words.size()) > max_words) {
    std::vector<int64_t> keep = seed.Child("sample").MakeRng().SampleWithoutReplacement(
        static_cast<int64_t>(words.size()), max_words);
    std::sort(keep.begin(), keep.end());
    std::vector<std::string> sampled;
    sampled.reserve(keep.size());
    for (int64_t i : keep) sampled.push_back(std::move(words[i]));
    words = std::move(sampled);
  }

  const bool islet = p.Bool("include_islet_words");
  std::set<std::string> pinned;
  if (islet) pinned.insert(std::begin(kIsletWords), std::end(kIsletWords));
  // Split by word, not by window: a test word's windows must be unseen.
  std::vector<std::string> pool;
  for (std::string& w : words) {
    if (!pinned.count(w)) pool.push_back(std::move(w));
  }
  std::vector<int64_t> train_idx, test_idx;
  RandomSplit(static_cast<int64_t>(pool.size()), fraction, seed.Child("split"), train_idx,
              test_idx);
  std::vector<std::string> train_words, test_words;
  for (int64_t i : train_idx) train_words.push_back(pool[i]);
  for (int64_t i : test_idx) test_words.push_back(pool[i]);
  if (islet) train_words.insert(train_words.end(), std::begin(kIsletWords), std::end(kIsletWords));
  if (train_words.empty()) {
    return InvalidArgumentError("words: test_fraction " + std::to_string(fraction) +
                                " leaves no training words out of " + std::to_string(pool.size()));
  }
  TrainTest out;
  CONFML_ASSIGN_OR_RETURN(out.train, MakeNextLetterDataset(train_words));
  CONFML_ASSIGN_OR_RETURN(out.test, MakeNextLetterDataset(test_words));
  return out;
}

StatusOr<TrainTest> MakeSyntheticSplit(const ParamSet& p, Seed seed) {
  SyntheticOptions o;
  o.num_samples = p.Int("num_samples");
  o.num_features = p.Int("num_features");
  o.num_classes = p.Int("num_classes");
  o.separation = p.Double("separation");
  o.noise = p.Double("noise");
  const double fraction = p.Double("test_fraction");
  CONFML_RETURN_IF_ERROR(CheckFraction("synthetic", fraction));
  // One draw, then a split: train and test must share the class means.
  CONFML_ASSIGN_OR_RETURN(Dataset all, MakeSynthetic(o, seed.Child("synthetic")));
  std::vector<int64_t> train_idx, test_idx;
  RandomSplit(all.size(), fraction, seed.Child("split"), train_idx, test_idx);
  if (train_idx.empty()) {
    return InvalidArgumentError("synthetic: test_fraction " + std::to_string(fraction) +
                                " leaves no training samples out of " + std::to_string(all.size()));
  }
  TrainTest out;
  out.train = all.Subset(train_idx);
  out.test = all.Subset(test_idx);
  return out;
}

void AddOrDie(Registry<DatasetFactory>& reg, ComponentSpec spec, DatasetFactory factory) {
  Status s = reg.Add(std::move(spec), std::move(factory));
  if (!s.ok()) internal::DieBecause("registering a built-in dataset", s);
}

void AddBuiltins(Registry<DatasetFactory>& reg) {
  AddOrDie(reg,
           ComponentSpec{
               "dataset",
               "fashion_mnist",
               "Fashion-MNIST (Xiao et al. 2017): 28x28 grey images of 10 clothing classes, "
               "60000 train and 10000 test, read from Debian's dataset-fashion-mnist.",
               {Param::String("dir", "/usr/share/datasets/fashion-mnist",
                              "Directory holding {train,t10k}-{images-idx3,labels-idx1}-ubyte.gz."),
                Param::Bool("normalize", true,
                            "Standardise pixels with the per-channel mean and stddev of the "
                            "training set (applied to train and test).")}},
           MakeFashionMnist);
  AddOrDie(reg,
           ComponentSpec{
               "dataset",
               "words",
               "Next-letter prediction as in Islet's word model: 3 one-hot letters over "
               "\"a-z - space\" (28 symbols) in, the next letter out; sliding windows within each "
               "word of a word list. Train and test are split by word.",
               {Param::String("path", "/usr/share/dict/words",
                              "Word list, one word a line (Debian wamerican by default)."),
                Param::Int("word_length", 5,
                           "Keep only words of exactly this many letters; each gives "
                           "word_length - 3 samples.")
                    .AtLeast(4)
                    .AtMost(1000),
                Param::Int("max_words", 2000,
                           "Keep a seeded random sample of this many of the filtered, "
                           "de-duplicated words (in file order); 0 keeps all.")
                    .AtLeast(0),
                Param::Double("test_fraction", 0.2,
                              "Fraction of the words held out for testing; must be < 1.")
                    .AtLeast(0.0)
                    .AtMost(1.0),
                Param::Bool("include_islet_words", true,
                            "Always put Islet's pre-training words (which, there, their, about, "
                            "white) in the training set.")}},
           MakeWords);
  AddOrDie(
      reg,
      ComponentSpec{
          "dataset",
          "synthetic",
          "Gaussian blobs: each class has a random mean (scale `separation`), samples add "
          "Gaussian noise (scale `noise`); balanced classes, random train/test split.",
          {Param::Int("num_samples", 1000, "Samples in train and test together.").AtLeast(2),
           Param::Int("num_features", 20, "Features per sample.").AtLeast(1),
           Param::Int("num_classes", 4, "Number of classes.").AtLeast(2),
           Param::Double("separation", 2.0,
                         "Standard deviation of the class means around the origin.")
               .AtLeast(0.0),
           Param::Double("noise", 1.0, "Standard deviation of the per-sample noise.").AtLeast(0.0),
           Param::Double("test_fraction", 0.2,
                         "Fraction of the samples held out for testing; must be < 1.")
               .AtLeast(0.0)
               .AtMost(1.0)}},
      MakeSyntheticSplit);
}

}  // namespace

Dataset StratifiedSubset(const Dataset& ds, int64_t limit, Seed seed) {
  if (limit <= 0 || limit >= ds.size()) return ds;
  const int64_t k = std::max<int64_t>(ds.num_classes, 1);
  std::vector<std::vector<int64_t>> by_class(k);
  for (int64_t i = 0; i < ds.size(); ++i) by_class[ds.labels[i]].push_back(i);

  std::vector<int64_t> quota(k);
  std::vector<std::pair<double, int64_t>> remainders;  // (fractional part, class)
  int64_t assigned = 0;
  for (int64_t c = 0; c < k; ++c) {
    const double exact = static_cast<double>(limit) * static_cast<double>(by_class[c].size()) /
                         static_cast<double>(ds.size());
    quota[c] = static_cast<int64_t>(std::floor(exact));
    assigned += quota[c];
    remainders.push_back({exact - static_cast<double>(quota[c]), c});
  }
  std::sort(remainders.begin(), remainders.end(), [](const auto& a, const auto& b) {
    return a.first != b.first ? a.first > b.first : a.second < b.second;
  });
  for (size_t r = 0; assigned < limit && r < remainders.size(); ++r) {
    const int64_t c = remainders[r].second;
    if (quota[c] < static_cast<int64_t>(by_class[c].size())) {
      ++quota[c];
      ++assigned;
    }
  }
  std::vector<int64_t> chosen;
  chosen.reserve(limit);
  for (int64_t c = 0; c < k; ++c) {
    Rng rng = seed.Child("class", static_cast<uint64_t>(c)).MakeRng();
    const auto& members = by_class[c];
    for (int64_t j : rng.SampleWithoutReplacement(static_cast<int64_t>(members.size()), quota[c])) {
      chosen.push_back(members[j]);
    }
  }
  std::sort(chosen.begin(), chosen.end());
  return ds.Subset(chosen);
}

Registry<DatasetFactory>& DatasetRegistry() {
  static Registry<DatasetFactory> registry("dataset");
  static const bool filled = (AddBuiltins(registry), true);
  (void)filled;
  return registry;
}

}  // namespace confml
