// Tests of confml/core/dataset.h: Fashion-MNIST (the real Debian files and
// corrupt copies written to a temporary directory), the word task, synthetic
// blobs, normalisation and the dataset registry.
#include "confml/core/dataset.h"

#include <gtest/gtest.h>
#include <zlib.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "../common/temp_dir.h"
#include "confml/core/file_util.h"

namespace confml {
namespace {

const char kFashionDir[] = "/usr/share/datasets/fashion-mnist";
const char kWordsPath[] = "/usr/share/dict/words";

using testing::TempDir;

void AppendBe32(std::vector<uint8_t>& out, uint32_t v) {
  out.push_back(static_cast<uint8_t>(v >> 24));
  out.push_back(static_cast<uint8_t>(v >> 16));
  out.push_back(static_cast<uint8_t>(v >> 8));
  out.push_back(static_cast<uint8_t>(v));
}

std::vector<uint8_t> Idx(uint32_t magic, const std::vector<uint32_t>& dims,
                         const std::vector<uint8_t>& data) {
  std::vector<uint8_t> out;
  AppendBe32(out, magic);
  for (uint32_t d : dims) AppendBe32(out, d);
  out.insert(out.end(), data.begin(), data.end());
  return out;
}

void WriteGzip(const std::string& path, const std::vector<uint8_t>& bytes) {
  gzFile f = gzopen(path.c_str(), "wb");
  ASSERT_NE(f, nullptr) << path;
  if (!bytes.empty()) {
    ASSERT_EQ(gzwrite(f, bytes.data(), static_cast<unsigned>(bytes.size())),
              static_cast<int>(bytes.size()));
  }
  ASSERT_EQ(gzclose(f), Z_OK);
}

void WritePlain(const std::string& path, const std::vector<uint8_t>& bytes) {
  ASSERT_TRUE(WriteFileAtomically(path, bytes).ok());
}

std::vector<uint8_t> ReadBytes(const std::string& path) {
  StatusOr<std::vector<uint8_t>> b = ReadFileBytes(path);
  EXPECT_TRUE(b.ok()) << b.status();
  return b.ok() ? *b : std::vector<uint8_t>{};
}

// A tiny, valid Fashion-MNIST-shaped split: n images of 28x28 and n labels.
struct TinySplit {
  std::vector<uint8_t> images;
  std::vector<uint8_t> labels;
};
TinySplit MakeTinySplit(uint32_t n) {
  std::vector<uint8_t> pixels(size_t{n} * 28 * 28);
  for (size_t i = 0; i < pixels.size(); ++i) pixels[i] = static_cast<uint8_t>(i * 7 % 256);
  std::vector<uint8_t> labels(n);
  for (uint32_t i = 0; i < n; ++i) labels[i] = static_cast<uint8_t>(i % 10);
  return {Idx(0x803, {n, 28, 28}, pixels), Idx(0x801, {n}, labels)};
}

void WriteTinyFashion(const TempDir& dir, const std::string& prefix, const TinySplit& s) {
  WriteGzip(dir.File(prefix + "-images-idx3-ubyte.gz"), s.images);
  WriteGzip(dir.File(prefix + "-labels-idx1-ubyte.gz"), s.labels);
}

void ExpectError(const Status& s, StatusCode code, const std::string& needle) {
  EXPECT_EQ(s.code(), code) << s;
  EXPECT_NE(s.message().find(needle), std::string::npos)
      << "message '" << s.message() << "' does not mention '" << needle << "'";
}

// ---------------------------------------------------------------- Dataset

Dataset SmallDataset() {
  Dataset ds;
  ds.name = "small";
  ds.sample_shape = {2};
  ds.num_classes = 3;
  ds.features = {0, 1, 10, 11, 20, 21, 30, 31};
  ds.labels = {0, 1, 2, 1};
  return ds;
}

TEST(DatasetTest, SubsetCopiesSamplesInOrder) {
  Dataset ds = SmallDataset();
  Dataset sub = ds.Subset({3, 0, 3});
  EXPECT_EQ(sub.size(), 3);
  EXPECT_EQ(sub.features, (std::vector<float>{30, 31, 0, 1, 30, 31}));
  EXPECT_EQ(sub.labels, (std::vector<int64_t>{1, 0, 1}));
  EXPECT_EQ(sub.sample_shape, ds.sample_shape);
  EXPECT_EQ(sub.num_classes, 3);
  EXPECT_TRUE(sub.Validate().ok());
}

TEST(DatasetTest, ClassCountsAndValidate) {
  Dataset ds = SmallDataset();
  EXPECT_EQ(ds.ClassCounts(), (std::vector<int64_t>{1, 2, 1}));
  EXPECT_EQ(ds.sample_numel(), 2);
  EXPECT_TRUE(ds.Validate().ok());

  Dataset bad_label = ds;
  bad_label.labels[2] = 3;
  EXPECT_EQ(bad_label.Validate().code(), StatusCode::kInvalidArgument);
  Dataset short_features = ds;
  short_features.features.pop_back();
  EXPECT_EQ(short_features.Validate().code(), StatusCode::kInvalidArgument);
  Dataset bad_shape = ds;
  bad_shape.sample_shape = {0};
  EXPECT_EQ(bad_shape.Validate().code(), StatusCode::kInvalidArgument);
}

// ---------------------------------------------------------- Fashion-MNIST

class FashionMnistTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    auto train = LoadFashionMnist(kFashionDir, Split::kTrain);
    ASSERT_TRUE(train.ok()) << train.status();
    train_ = new Dataset(*std::move(train));
    auto test = LoadFashionMnist(kFashionDir, Split::kTest);
    ASSERT_TRUE(test.ok()) << test.status();
    test_ = new Dataset(*std::move(test));
  }
  static void TearDownTestSuite() {
    delete train_;
    delete test_;
    train_ = test_ = nullptr;
  }
  static Dataset* train_;
  static Dataset* test_;
};
Dataset* FashionMnistTest::train_ = nullptr;
Dataset* FashionMnistTest::test_ = nullptr;

TEST_F(FashionMnistTest, RealFilesHaveTheDocumentedSizes) {
  ASSERT_NE(train_, nullptr);
  EXPECT_EQ(train_->size(), 60000);
  EXPECT_EQ(test_->size(), 10000);
  EXPECT_EQ(train_->sample_shape, (std::vector<int64_t>{1, 28, 28}));
  EXPECT_EQ(train_->num_classes, 10);
  EXPECT_EQ(train_->ClassCounts(), std::vector<int64_t>(10, 6000));
  EXPECT_EQ(test_->ClassCounts(), std::vector<int64_t>(10, 1000));
  EXPECT_TRUE(train_->Validate().ok());
  EXPECT_TRUE(test_->Validate().ok());
}

TEST_F(FashionMnistTest, PixelsAreScaledToUnitInterval) {
  ASSERT_NE(train_, nullptr);
  const auto [lo, hi] = std::minmax_element(train_->features.begin(), train_->features.end());
  EXPECT_EQ(*lo, 0.0f);
  EXPECT_EQ(*hi, 1.0f);
  // Fashion-MNIST's published training-set pixel mean is about 0.286.
  double sum = 0;
  for (float x : train_->features) sum += x;
  EXPECT_NEAR(sum / train_->features.size(), 0.286, 0.002);
}

TEST_F(FashionMnistTest, NormalizationOfTrainGivesZeroMeanUnitStd) {
  ASSERT_NE(train_, nullptr);
  Dataset train = *train_;
  Normalization norm = ComputeNormalization(train);
  ASSERT_EQ(norm.mean.size(), 1u);
  EXPECT_NEAR(norm.mean[0], 0.2860, 0.001);
  EXPECT_NEAR(norm.stddev[0], 0.3530, 0.001);
  ASSERT_TRUE(ApplyNormalization(norm, train).ok());
  Normalization after = ComputeNormalization(train);
  EXPECT_NEAR(after.mean[0], 0.0, 1e-4);
  EXPECT_NEAR(after.stddev[0], 1.0, 1e-4);
}

TEST(FashionMnistFilesTest, TinyValidFilesLoad) {
  TempDir dir;
  TinySplit s = MakeTinySplit(3);
  WriteTinyFashion(dir, "t10k", s);
  StatusOr<Dataset> ds = LoadFashionMnist(dir.path(), Split::kTest);
  ASSERT_TRUE(ds.ok()) << ds.status();
  EXPECT_EQ(ds->size(), 3);
  EXPECT_EQ(ds->labels, (std::vector<int64_t>{0, 1, 2}));
  for (size_t i : {size_t{0}, size_t{1}, size_t{1000}, size_t{2351}}) {
    EXPECT_FLOAT_EQ(ds->features[i], static_cast<float>(i * 7 % 256) / 255.0f);
  }
}

TEST(FashionMnistFilesTest, MissingFileIsNotFoundNamingThePath) {
  TempDir dir;
  StatusOr<Dataset> ds = LoadFashionMnist(dir.path(), Split::kTrain);
  ExpectError(ds.status(), StatusCode::kNotFound, dir.File("train-images-idx3-ubyte.gz"));

  // Images present, labels missing.
  TinySplit s = MakeTinySplit(2);
  WriteGzip(dir.File("train-images-idx3-ubyte.gz"), s.images);
  ds = LoadFashionMnist(dir.path(), Split::kTrain);
  ExpectError(ds.status(), StatusCode::kNotFound, dir.File("train-labels-idx1-ubyte.gz"));
}

TEST(FashionMnistFilesTest, BadMagicIsDataLoss) {
  TempDir dir;
  TinySplit s = MakeTinySplit(2);
  s.labels[3] = 0x03;  // 0x00000803: an images header on the labels file.
  WriteTinyFashion(dir, "t10k", s);
  ExpectError(LoadFashionMnist(dir.path(), Split::kTest).status(), StatusCode::kDataLoss,
              dir.File("t10k-labels-idx1-ubyte.gz"));
  s = MakeTinySplit(2);
  s.images[2] = 0x0d;  // IDX type float, not unsigned byte.
  WriteTinyFashion(dir, "t10k", s);
  ExpectError(LoadFashionMnist(dir.path(), Split::kTest).status(), StatusCode::kDataLoss,
              "magic 0x00000d03");
}

TEST(FashionMnistFilesTest, TruncatedPayloadIsDataLoss) {
  TempDir dir;
  TinySplit s = MakeTinySplit(3);
  s.images.resize(s.images.size() - 100);
  WriteTinyFashion(dir, "t10k", s);
  Status st = LoadFashionMnist(dir.path(), Split::kTest).status();
  ExpectError(st, StatusCode::kDataLoss, dir.File("t10k-images-idx3-ubyte.gz"));
  EXPECT_NE(st.message().find("truncated"), std::string::npos) << st;
}

TEST(FashionMnistFilesTest, TrailingBytesAreDataLoss) {
  TempDir dir;
  TinySplit s = MakeTinySplit(3);
  s.labels.push_back(0);
  WriteTinyFashion(dir, "t10k", s);
  Status st = LoadFashionMnist(dir.path(), Split::kTest).status();
  ExpectError(st, StatusCode::kDataLoss, dir.File("t10k-labels-idx1-ubyte.gz"));
  EXPECT_NE(st.message().find("trailing"), std::string::npos) << st;
}

TEST(FashionMnistFilesTest, ImageAndLabelCountsMustAgree) {
  TempDir dir;
  TinySplit s = MakeTinySplit(3);
  s.labels = MakeTinySplit(4).labels;
  WriteTinyFashion(dir, "train", s);
  Status st = LoadFashionMnist(dir.path(), Split::kTrain).status();
  EXPECT_EQ(st.code(), StatusCode::kDataLoss) << st;
  EXPECT_NE(st.message().find("3 images"), std::string::npos) << st;
  EXPECT_NE(st.message().find("4 labels"), std::string::npos) << st;
}

TEST(FashionMnistFilesTest, WrongImageSizeAndBadLabelAreDataLoss) {
  TempDir dir;
  TinySplit s = MakeTinySplit(2);
  s.images = Idx(0x803, {2, 27, 29}, std::vector<uint8_t>(size_t{2} * 27 * 29));
  WriteTinyFashion(dir, "t10k", s);
  ExpectError(LoadFashionMnist(dir.path(), Split::kTest).status(), StatusCode::kDataLoss,
              "27 x 29");

  s = MakeTinySplit(2);
  s.labels.back() = 10;
  WriteTinyFashion(dir, "t10k", s);
  ExpectError(LoadFashionMnist(dir.path(), Split::kTest).status(), StatusCode::kDataLoss,
              "label 10");
}

TEST(FashionMnistFilesTest, TruncatedGzipOfRealFileIsDataLoss) {
  TempDir dir;
  std::vector<uint8_t> real = ReadBytes(std::string(kFashionDir) + "/t10k-labels-idx1-ubyte.gz");
  ASSERT_GT(real.size(), 1000u);
  real.resize(real.size() / 2);
  const std::string path = dir.File("t10k-labels-idx1-ubyte.gz");
  WritePlain(path, real);
  Status st = ReadGzipFile(path).status();
  ExpectError(st, StatusCode::kDataLoss, path);
  EXPECT_NE(st.message().find("truncated"), std::string::npos) << st;
}

TEST(FashionMnistFilesTest, FlippedByteInGzipIsDataLoss) {
  TempDir dir;
  std::vector<uint8_t> real = ReadBytes(std::string(kFashionDir) + "/t10k-labels-idx1-ubyte.gz");
  ASSERT_GT(real.size(), 1000u);
  real[real.size() - 6] ^= 0xff;  // Inside the CRC-32 of the trailer.
  const std::string path = dir.File("labels.gz");
  WritePlain(path, real);
  ExpectError(ReadGzipFile(path).status(), StatusCode::kDataLoss, path);
}

TEST(FashionMnistFilesTest, NotGzipIsDataLossNamingTheFile) {
  TempDir dir;
  TinySplit s = MakeTinySplit(2);
  WriteGzip(dir.File("t10k-images-idx3-ubyte.gz"), s.images);
  const std::string labels = dir.File("t10k-labels-idx1-ubyte.gz");
  const std::string text = "this is not a gzip file\n";
  WritePlain(labels, std::vector<uint8_t>(text.begin(), text.end()));
  ExpectError(LoadFashionMnist(dir.path(), Split::kTest).status(), StatusCode::kDataLoss, labels);

  // A gzip header followed by garbage.
  WritePlain(labels, {0x1f, 0x8b, 0x08, 0x00, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15});
  ExpectError(LoadFashionMnist(dir.path(), Split::kTest).status(), StatusCode::kDataLoss, labels);
}

TEST(FashionMnistFilesTest, PlainIdxAndConcatenatedGzipMembersAreRead) {
  TempDir dir;
  TinySplit s = MakeTinySplit(2);
  // gzip -c a > x; gzip -c b >> x: one stream of two members.
  const std::string a = dir.File("a.gz"), b = dir.File("b.gz");
  const size_t half = s.images.size() / 2;
  WriteGzip(a, std::vector<uint8_t>(s.images.begin(), s.images.begin() + half));
  WriteGzip(b, std::vector<uint8_t>(s.images.begin() + half, s.images.end()));
  std::vector<uint8_t> joined = ReadBytes(a);
  std::vector<uint8_t> second = ReadBytes(b);
  joined.insert(joined.end(), second.begin(), second.end());
  WritePlain(dir.File("joined.gz"), joined);
  StatusOr<std::vector<uint8_t>> got = ReadGzipFile(dir.File("joined.gz"));
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(*got, s.images);

  WritePlain(dir.File("plain"), s.labels);
  got = ReadGzipFile(dir.File("plain"));
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(*got, s.labels);
}

TEST(DecodeIdxTest, ChecksHeaderDimsAndSize) {
  StatusOr<IdxArray> ok = DecodeIdx(Idx(0x801, {3}, {1, 2, 3}), 0x801, "x");
  ASSERT_TRUE(ok.ok()) << ok.status();
  EXPECT_EQ(ok->dims, (std::vector<int32_t>{3}));
  EXPECT_EQ(ok->data, (std::vector<uint8_t>{1, 2, 3}));

  ExpectError(DecodeIdx({0, 0, 8}, 0x801, "short").status(), StatusCode::kDataLoss, "short");
  ExpectError(DecodeIdx(Idx(0x803, {2, 2}, {}), 0x803, "hdr").status(), StatusCode::kDataLoss,
              "header");
  ExpectError(DecodeIdx(Idx(0x801, {0}, {}), 0x801, "zero").status(), StatusCode::kDataLoss,
              "must be positive");
  ExpectError(DecodeIdx(Idx(0x801, {0x80000000u}, {}), 0x801, "neg").status(),
              StatusCode::kDataLoss, "must be positive");
  ExpectError(
      DecodeIdx(Idx(0x803, {0x7fffffff, 0x7fffffff, 0x7fffffff}, {}), 0x803, "huge").status(),
      StatusCode::kDataLoss, "huge");
  ExpectError(DecodeIdx(Idx(0x801, {4}, {1, 2, 3}), 0x801, "few").status(), StatusCode::kDataLoss,
              "truncated");
  EXPECT_EQ(DecodeIdx(Idx(0x801, {1}, {1}), 0x0d01, "x").status().code(),
            StatusCode::kInvalidArgument);
}

// --------------------------------------------------------------- Word task

TEST(WordTaskTest, AlphabetHas28Symbols) {
  EXPECT_EQ(std::string(kWordAlphabet).size(), 28u);
  EXPECT_EQ(WordSymbolIndex('a'), 0);
  EXPECT_EQ(WordSymbolIndex('Z'), 25);
  EXPECT_EQ(WordSymbolIndex('-'), 26);
  EXPECT_EQ(WordSymbolIndex(' '), 27);
  EXPECT_EQ(WordSymbolIndex('\''), -1);
  EXPECT_EQ(WordSymbolIndex('1'), -1);
  EXPECT_EQ(WordSymbolIndex('\xc3'), -1);
}

TEST(WordTaskTest, LoadWordListFiltersLowercasesAndDeduplicates) {
  TempDir dir;
  const std::string path = dir.File("words");
  ASSERT_TRUE(WriteFileAtomically(path,
                                  "Which\nwhich\nabout\r\ndon't\nfour\ncaf\xc3\xa9\nthere\n"
                                  "  white \nab1cd\nTHEIR\nlonger\nthere\n")
                  .ok());
  StatusOr<std::vector<std::string>> w = LoadWordList(path, 5, 0);
  ASSERT_TRUE(w.ok()) << w.status();
  EXPECT_EQ(*w, (std::vector<std::string>{"which", "about", "there", "white", "their"}));

  w = LoadWordList(path, 5, 2);
  ASSERT_TRUE(w.ok()) << w.status();
  EXPECT_EQ(*w, (std::vector<std::string>{"which", "about"}));

  w = LoadWordList(path, 4, 0);
  ASSERT_TRUE(w.ok()) << w.status();
  EXPECT_EQ(*w, (std::vector<std::string>{"four"}));

  ExpectError(LoadWordList(path, 9, 0).status(), StatusCode::kInvalidArgument, path);
  ExpectError(LoadWordList(dir.File("absent"), 5, 0).status(), StatusCode::kNotFound,
              dir.File("absent"));
  EXPECT_EQ(LoadWordList(path, 5, -1).status().code(), StatusCode::kInvalidArgument);
}

TEST(WordTaskTest, LoadsDebianWordList) {
  StatusOr<std::vector<std::string>> w = LoadWordList(kWordsPath, 5, 0);
  ASSERT_TRUE(w.ok()) << w.status();
  EXPECT_GT(w->size(), 4000u);
  std::set<std::string> unique(w->begin(), w->end());
  EXPECT_EQ(unique.size(), w->size());
  for (const char* islet : {"which", "there", "their", "about", "white"}) {
    EXPECT_TRUE(unique.count(islet)) << islet;
  }
  for (const std::string& word : *w) {
    ASSERT_EQ(word.size(), 5u) << word;
    for (char c : word) ASSERT_GE(WordSymbolIndex(c), 0) << word;
    ASSERT_EQ(word, [&] {
      std::string lower = word;
      for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      return lower;
    }());
  }
  StatusOr<std::vector<std::string>> first = LoadWordList(kWordsPath, 5, 100);
  ASSERT_TRUE(first.ok());
  EXPECT_EQ(*first, std::vector<std::string>(w->begin(), w->begin() + 100));
}

// The letters of a one-hot {3, 28} sample.
std::string DecodeContext(const Dataset& ds, int64_t i) {
  std::string out;
  for (int k = 0; k < kWordContext; ++k) {
    const float* row = ds.features.data() + i * ds.sample_numel() + int64_t{k} * kWordAlphabetSize;
    int hot = -1, ones = 0;
    for (int s = 0; s < kWordAlphabetSize; ++s) {
      if (row[s] == 1.0f)
        hot = s, ++ones;
      else
        EXPECT_EQ(row[s], 0.0f);
    }
    EXPECT_EQ(ones, 1);
    out += hot >= 0 ? kWordAlphabet[hot] : '?';
  }
  return out;
}

TEST(WordTaskTest, SlidingWindowsGiveNextLetter) {
  StatusOr<Dataset> ds = MakeNextLetterDataset({"about", "which", "ab-c d"});
  ASSERT_TRUE(ds.ok()) << ds.status();
  EXPECT_EQ(ds->sample_shape, (std::vector<int64_t>{3, 28}));
  EXPECT_EQ(ds->num_classes, 28);
  ASSERT_EQ(ds->size(), 2 + 2 + 3);
  EXPECT_TRUE(ds->Validate().ok());
  const std::vector<std::pair<std::string, char>> expected = {
      {"abo", 'u'}, {"bou", 't'}, {"whi", 'c'}, {"hic", 'h'},
      {"ab-", 'c'}, {"b-c", ' '}, {"-c ", 'd'}};
  for (size_t i = 0; i < expected.size(); ++i) {
    EXPECT_EQ(DecodeContext(*ds, static_cast<int64_t>(i)), expected[i].first);
    EXPECT_EQ(kWordAlphabet[ds->labels[i]], expected[i].second);
  }
}

TEST(WordTaskTest, RejectsBadWordsAndContexts) {
  ExpectError(MakeNextLetterDataset({"about", "abc"}).status(), StatusCode::kInvalidArgument,
              "'abc'");
  ExpectError(MakeNextLetterDataset({"don't"}).status(), StatusCode::kInvalidArgument, "don't");
  StatusOr<Dataset> empty = MakeNextLetterDataset({});
  ASSERT_TRUE(empty.ok());
  EXPECT_EQ(empty->size(), 0);

  StatusOr<std::vector<float>> enc = EncodeWordContext("aB ");
  ASSERT_TRUE(enc.ok()) << enc.status();
  ASSERT_EQ(enc->size(), 84u);
  EXPECT_EQ(std::count(enc->begin(), enc->end(), 1.0f), 3);
  EXPECT_EQ((*enc)[0], 1.0f);
  EXPECT_EQ((*enc)[28 + 1], 1.0f);
  EXPECT_EQ((*enc)[56 + 27], 1.0f);
  EXPECT_EQ(EncodeWordContext("ab").status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(EncodeWordContext("a'b").status().code(), StatusCode::kInvalidArgument);
}

// --------------------------------------------------------------- Synthetic

TEST(SyntheticTest, DeterministicBalancedAndSeparable) {
  SyntheticOptions o;
  o.num_samples = 400;
  o.num_features = 5;
  o.num_classes = 4;
  o.separation = 5.0;
  o.noise = 0.5;
  StatusOr<Dataset> a = MakeSynthetic(o, Seed(1));
  StatusOr<Dataset> b = MakeSynthetic(o, Seed(1));
  StatusOr<Dataset> c = MakeSynthetic(o, Seed(2));
  ASSERT_TRUE(a.ok() && b.ok() && c.ok());
  EXPECT_TRUE(a->Validate().ok());
  EXPECT_EQ(a->sample_shape, (std::vector<int64_t>{5}));
  EXPECT_EQ(a->features, b->features);
  EXPECT_EQ(a->labels, b->labels);
  EXPECT_NE(a->features, c->features);
  EXPECT_EQ(a->ClassCounts(), (std::vector<int64_t>{100, 100, 100, 100}));

  // Class means estimated from the data; with separation >> noise a
  // nearest-mean rule classifies nearly everything right.
  std::vector<std::vector<double>> mean(4, std::vector<double>(5, 0.0));
  for (int64_t i = 0; i < a->size(); ++i) {
    for (int j = 0; j < 5; ++j) mean[a->labels[i]][j] += a->features[i * 5 + j] / 100.0;
  }
  int correct = 0;
  double noise_var = 0;
  for (int64_t i = 0; i < a->size(); ++i) {
    int best = 0;
    double best_d = 1e300;
    for (int k = 0; k < 4; ++k) {
      double d = 0;
      for (int j = 0; j < 5; ++j) d += std::pow(a->features[i * 5 + j] - mean[k][j], 2);
      if (d < best_d) best_d = d, best = k;
    }
    correct += best == a->labels[i];
    for (int j = 0; j < 5; ++j)
      noise_var += std::pow(a->features[i * 5 + j] - mean[a->labels[i]][j], 2);
  }
  EXPECT_GE(correct, 390);
  EXPECT_NEAR(std::sqrt(noise_var / (400 * 5)), 0.5, 0.05);
}

TEST(SyntheticTest, RejectsBadOptions) {
  SyntheticOptions o;
  o.num_classes = 1;
  EXPECT_EQ(MakeSynthetic(o, Seed(1)).status().code(), StatusCode::kInvalidArgument);
  o = SyntheticOptions();
  o.num_samples = 0;
  EXPECT_EQ(MakeSynthetic(o, Seed(1)).status().code(), StatusCode::kInvalidArgument);
  o = SyntheticOptions();
  o.noise = -1;
  EXPECT_EQ(MakeSynthetic(o, Seed(1)).status().code(), StatusCode::kInvalidArgument);
  o = SyntheticOptions();
  o.separation = NAN;
  EXPECT_EQ(MakeSynthetic(o, Seed(1)).status().code(), StatusCode::kInvalidArgument);
}

// ------------------------------------------------------------ Normalisation

TEST(NormalizationTest, PerChannelMeanAndStd) {
  Dataset ds;
  ds.name = "rgb";
  ds.sample_shape = {2, 1, 2};  // Two channels of two pixels.
  ds.num_classes = 2;
  ds.features = {1, 3, 10, 10, 3, 5, 20, 40};
  ds.labels = {0, 1};
  Normalization n = ComputeNormalization(ds);
  ASSERT_EQ(n.mean.size(), 2u);
  EXPECT_FLOAT_EQ(n.mean[0], 3.0f);
  EXPECT_FLOAT_EQ(n.stddev[0], std::sqrt(2.0f));
  EXPECT_FLOAT_EQ(n.mean[1], 20.0f);
  EXPECT_FLOAT_EQ(n.stddev[1], std::sqrt(150.0f));
  ASSERT_TRUE(ApplyNormalization(n, ds).ok());
  EXPECT_FLOAT_EQ(ds.features[0], -2.0f / std::sqrt(2.0f));
  EXPECT_FLOAT_EQ(ds.features[7], 20.0f / std::sqrt(150.0f));
}

TEST(NormalizationTest, NonImagesAreOneChannel) {
  Dataset ds = SmallDataset();
  Normalization n = ComputeNormalization(ds);
  ASSERT_EQ(n.mean.size(), 1u);
  EXPECT_FLOAT_EQ(n.mean[0], 15.5f);
}

TEST(NormalizationTest, RejectsMismatchAndZeroStd) {
  Dataset ds = SmallDataset();
  Normalization two{{0, 0}, {1, 1}};
  EXPECT_EQ(ApplyNormalization(two, ds).code(), StatusCode::kInvalidArgument);
  Normalization zero{{0}, {0}};
  EXPECT_EQ(ApplyNormalization(zero, ds).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(ds.features, SmallDataset().features);  // Untouched on error.
}

// ---------------------------------------------------------------- Registry

TEST(DatasetRegistryTest, BuiltinsAreDeclared) {
  Registry<DatasetFactory>& reg = DatasetRegistry();
  EXPECT_EQ(reg.kind(), "dataset");
  for (const char* name : {"fashion_mnist", "words", "synthetic"}) {
    const auto* e = reg.Find(name);
    ASSERT_NE(e, nullptr) << name;
    EXPECT_EQ(e->spec.kind, "dataset");
    EXPECT_FALSE(e->spec.doc.empty());
    for (const ParamSpec& p : e->spec.params) EXPECT_FALSE(p.doc.empty()) << name << "." << p.name;
  }
  const ParamSpec* dir = reg.Find("fashion_mnist")->spec.Find("dir");
  ASSERT_NE(dir, nullptr);
  EXPECT_EQ(std::get<std::string>(dir->default_value), kFashionDir);
  const ParamSpec* len = reg.Find("words")->spec.Find("word_length");
  ASSERT_NE(len, nullptr);
  EXPECT_EQ(std::get<int64_t>(len->default_value), 5);
  EXPECT_EQ(len->min, 4.0);
  EXPECT_EQ(reg.Find("mnist"), nullptr);
}

TEST(DatasetRegistryTest, FashionMnistIsNormalizedAndStratifiedSubsetsAreSeeded) {
  ParamSet p;
  p.Set("dir", std::string(kFashionDir));
  p.Set("normalize", true);
  const auto* e = DatasetRegistry().Find("fashion_mnist");
  ASSERT_NE(e, nullptr);
  StatusOr<TrainTest> full = e->factory(p, Seed(7));
  ASSERT_TRUE(full.ok()) << full.status();
  Normalization after = ComputeNormalization(full->train);
  EXPECT_NEAR(after.mean[0], 0.0, 1e-4);
  EXPECT_NEAR(after.stddev[0], 1.0, 1e-4);

  const Dataset a = StratifiedSubset(full->train, 1000, Seed(7));
  EXPECT_EQ(a.ClassCounts(), std::vector<int64_t>(10, 100));
  EXPECT_EQ(StratifiedSubset(full->test, 200, Seed(7)).ClassCounts(), std::vector<int64_t>(10, 20));
  EXPECT_EQ(StratifiedSubset(full->train, 0, Seed(7)).size(), 60000);
  EXPECT_EQ(a.features, StratifiedSubset(full->train, 1000, Seed(7)).features);
  EXPECT_NE(a.features, StratifiedSubset(full->train, 1000, Seed(8)).features);

  p.Set("dir", std::string("/nonexistent/fashion"));
  EXPECT_EQ(e->factory(p, Seed(7)).status().code(), StatusCode::kNotFound);
}

// Words of a word_length-5 next-letter dataset: samples come in pairs.
std::vector<std::string> WordsOf(const Dataset& ds) {
  std::vector<std::string> out;
  for (int64_t i = 0; i + 1 < ds.size(); i += 2) {
    out.push_back(DecodeContext(ds, i) + kWordAlphabet[ds.labels[i]] +
                  kWordAlphabet[ds.labels[i + 1]]);
  }
  return out;
}

TEST(DatasetRegistryTest, WordsSplitByWordAndKeepIsletWords) {
  ParamSet p;
  p.Set("path", std::string(kWordsPath));
  p.Set("word_length", int64_t{5});
  p.Set("max_words", int64_t{500});
  p.Set("test_fraction", 0.2);
  p.Set("include_islet_words", true);
  const auto* e = DatasetRegistry().Find("words");
  ASSERT_NE(e, nullptr);
  StatusOr<TrainTest> tt = e->factory(p, Seed(3));
  ASSERT_TRUE(tt.ok()) << tt.status();
  std::vector<std::string> train = WordsOf(tt->train);
  std::vector<std::string> test = WordsOf(tt->test);
  std::set<std::string> train_set(train.begin(), train.end());
  std::set<std::string> test_set(test.begin(), test.end());
  EXPECT_EQ(train_set.size(), train.size());
  EXPECT_EQ(test_set.size(), test.size());
  // 500 sampled words (a few may be Islet words already) plus the Islet five.
  EXPECT_GE(train.size() + test.size(), 500u);
  EXPECT_LE(train.size() + test.size(), 505u);
  EXPECT_GE(test.size(), 99u);
  EXPECT_LE(test.size(), 100u);
  for (const std::string& w : test) EXPECT_FALSE(train_set.count(w)) << w << " in both";
  for (const char* islet : {"which", "there", "their", "about", "white"}) {
    EXPECT_TRUE(train_set.count(islet)) << islet;
  }
  // Sampled across the whole list, not just its first (capitalised) lines.
  std::set<char> initials;
  for (const std::string& w : train) initials.insert(w[0]);
  EXPECT_GE(initials.size(), 20u);
  StatusOr<TrainTest> again = e->factory(p, Seed(3));
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(WordsOf(again->test), test);
  StatusOr<TrainTest> other = e->factory(p, Seed(4));
  ASSERT_TRUE(other.ok());
  EXPECT_NE(WordsOf(other->test), test);

  p.Set("include_islet_words", false);
  p.Set("test_fraction", 0.0);
  tt = e->factory(p, Seed(3));
  ASSERT_TRUE(tt.ok()) << tt.status();
  EXPECT_EQ(tt->test.size(), 0);
  EXPECT_EQ(WordsOf(tt->train).size(), 500u);

  p.Set("test_fraction", 1.0);
  EXPECT_EQ(e->factory(p, Seed(3)).status().code(), StatusCode::kInvalidArgument);
}

TEST(DatasetRegistryTest, SyntheticSplitsOneDraw) {
  ParamSet p;
  p.Set("num_samples", int64_t{500});
  p.Set("num_features", int64_t{8});
  p.Set("num_classes", int64_t{5});
  p.Set("separation", 2.0);
  p.Set("noise", 1.0);
  p.Set("test_fraction", 0.2);
  const auto* e = DatasetRegistry().Find("synthetic");
  ASSERT_NE(e, nullptr);
  StatusOr<TrainTest> tt = e->factory(p, Seed(11));
  ASSERT_TRUE(tt.ok()) << tt.status();
  EXPECT_EQ(tt->train.size(), 400);
  EXPECT_EQ(tt->test.size(), 100);
  EXPECT_EQ(tt->train.sample_shape, (std::vector<int64_t>{8}));
  EXPECT_EQ(tt->train.num_classes, 5);
  EXPECT_TRUE(tt->train.Validate().ok());
  EXPECT_TRUE(tt->test.Validate().ok());
}

TEST(DatasetRegistryTest, DefaultsResolveAndBuildSynthetic) {
  const auto* e = DatasetRegistry().Find("synthetic");
  ASSERT_NE(e, nullptr);
  StatusOr<ParamSet> p = ResolveParams(e->spec, {});
  ASSERT_TRUE(p.ok()) << p.status();
  StatusOr<TrainTest> tt = e->factory(*p, Seed(1));
  ASSERT_TRUE(tt.ok()) << tt.status();
  EXPECT_EQ(tt->train.size() + tt->test.size(), 1000);
  EXPECT_EQ(tt->test.size(), 200);
}

}  // namespace
}  // namespace confml
