// Tests of confml/core/fl_checkpoint.h: the federated checkpoint format.
#include "confml/core/fl_checkpoint.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <string>
#include <vector>

#include "../common/temp_dir.h"
#include "confml/core/file_util.h"

namespace confml {
namespace {

FlCheckpoint Sample() {
  FlCheckpoint c;
  c.config_hash = 0x1234567890abcdefULL;
  c.seed = 42;
  c.round = 2;
  c.global = {1.5f, -2.25f, 0.0f, 3e-7f};
  for (int64_t r = 1; r <= 2; ++r) {
    RoundMetrics m;
    m.round = r;
    m.test_accuracy = 0.5 + 0.1 * static_cast<double>(r);
    m.test_loss = r == 1 ? NAN : 0.7;
    m.mean_train_loss = 1.25;
    m.clients_sampled = 4;
    m.clients_admitted = 3;
    m.clients_refused = 1;
    m.bytes_down = 64;
    m.bytes_up = 48;
    m.seconds = 0.5;
    m.train_seconds = 0.25;
    c.metrics.push_back(m);
  }
  c.aggregator_state = {9, 8, 7};
  return c;
}

TEST(FlCheckpointTest, RoundTrips) {
  const FlCheckpoint c = Sample();
  std::vector<uint8_t> bytes = EncodeFlCheckpoint(c);
  ASSERT_GE(bytes.size(), 20u);
  EXPECT_EQ(std::memcmp(bytes.data(), "CONFMLFL", 8), 0);
  StatusOr<FlCheckpoint> back = DecodeFlCheckpoint(bytes);
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(back->config_hash, c.config_hash);
  EXPECT_EQ(back->seed, 42u);
  EXPECT_EQ(back->round, 2);
  EXPECT_EQ(back->global, c.global);
  ASSERT_EQ(back->metrics.size(), 2u);
  EXPECT_EQ(back->metrics[1].round, 2);
  EXPECT_DOUBLE_EQ(back->metrics[1].test_accuracy, 0.7);
  EXPECT_TRUE(std::isnan(back->metrics[0].test_loss));
  EXPECT_EQ(back->metrics[0].clients_refused, 1);
  EXPECT_EQ(back->metrics[0].bytes_up, 48);
  EXPECT_DOUBLE_EQ(back->metrics[0].train_seconds, 0.25);
  EXPECT_EQ(back->aggregator_state, c.aggregator_state);
}

TEST(FlCheckpointTest, EveryTruncationIsDataLoss) {
  std::vector<uint8_t> bytes = EncodeFlCheckpoint(Sample());
  for (size_t len = 0; len < bytes.size(); ++len) {
    std::vector<uint8_t> cut(bytes.begin(), bytes.begin() + static_cast<long>(len));
    EXPECT_EQ(DecodeFlCheckpoint(cut).status().code(), StatusCode::kDataLoss) << "length " << len;
  }
  bytes.push_back(0);
  EXPECT_EQ(DecodeFlCheckpoint(bytes).status().code(), StatusCode::kDataLoss);
}

TEST(FlCheckpointTest, EveryFlippedPayloadByteIsDataLoss) {
  const std::vector<uint8_t> bytes = EncodeFlCheckpoint(Sample());
  for (size_t i = 20; i < bytes.size(); ++i) {
    std::vector<uint8_t> bad = bytes;
    bad[i] ^= 0x40;
    EXPECT_EQ(DecodeFlCheckpoint(bad).status().code(), StatusCode::kDataLoss) << "byte " << i;
  }
}

TEST(FlCheckpointTest, ForeignFileAndOtherVersion) {
  std::vector<uint8_t> bytes = EncodeFlCheckpoint(Sample());
  std::vector<uint8_t> foreign = bytes;
  foreign[0] = 'X';
  StatusOr<FlCheckpoint> r = DecodeFlCheckpoint(foreign, "checkpoint 'x'");
  EXPECT_EQ(r.status().code(), StatusCode::kDataLoss);
  EXPECT_NE(r.status().message().find("checkpoint 'x'"), std::string::npos);
  std::vector<uint8_t> newer = bytes;
  newer[8] = static_cast<uint8_t>(kFlCheckpointVersion + 1);  // Version, little-endian.
  EXPECT_EQ(DecodeFlCheckpoint(newer).status().code(), StatusCode::kFailedPrecondition);
}

TEST(FlCheckpointTest, WritesAtomicallyAndReadsBack) {
  testing::TempDir dir;
  const std::string path = dir.File("fl.ckpt");
  EXPECT_EQ(ReadFlCheckpoint(path).status().code(), StatusCode::kNotFound);
  ASSERT_TRUE(WriteFlCheckpoint(path, Sample()).ok());
  StatusOr<FlCheckpoint> back = ReadFlCheckpoint(path);
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(back->global, Sample().global);
  ASSERT_TRUE(WriteFileAtomically(path, std::string_view("CONFMLFL\x01")).ok());
  EXPECT_EQ(ReadFlCheckpoint(path).status().code(), StatusCode::kDataLoss);
}

TEST(Fnv1a64Test, KnownValues) {
  // Reference values of FNV-1a 64 (Fowler, Noll, Vo).
  EXPECT_EQ(Fnv1a64("", 0), 0xcbf29ce484222325ULL);
  EXPECT_EQ(Fnv1a64("a", 1), 0xaf63dc4c8601ec8cULL);
  EXPECT_EQ(Fnv1a64("foobar", 6), 0x85944171f73967e8ULL);
}

}  // namespace
}  // namespace confml
