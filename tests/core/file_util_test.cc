// Tests of confml/core/file_util.h: whole-file reads and atomic writes.
#include "confml/core/file_util.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <string>
#include <vector>

#include "../common/temp_dir.h"

namespace confml {
namespace {

namespace fs = std::filesystem;

class FileUtilTest : public ::testing::Test {
 protected:
  std::vector<std::string> Entries() const {
    std::vector<std::string> out;
    for (const auto& e : fs::directory_iterator(dir_)) out.push_back(e.path().filename());
    return out;
  }
  testing::TempDir temp_;
  const std::string dir_ = temp_.path();
};

TEST_F(FileUtilTest, WriteThenReadRoundTrips) {
  const std::string path = dir_ + "/a.txt";
  ASSERT_TRUE(WriteFileAtomically(path, std::string_view("hello\nworld")).ok());
  StatusOr<std::string> text = ReadFileText(path);
  ASSERT_TRUE(text.ok()) << text.status();
  EXPECT_EQ(*text, "hello\nworld");

  const std::vector<uint8_t> bytes = {0, 1, 2, 255, 0};
  ASSERT_TRUE(WriteFileAtomically(dir_ + "/b.bin", bytes).ok());
  StatusOr<std::vector<uint8_t>> back = ReadFileBytes(dir_ + "/b.bin");
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(*back, bytes);
}

TEST_F(FileUtilTest, AtomicWriteReplacesContentAndLeavesNoTempFile) {
  const std::string path = dir_ + "/config.yaml";
  ASSERT_TRUE(WriteFileAtomically(path, std::string_view("a much longer first version\n")).ok());
  ASSERT_TRUE(WriteFileAtomically(path, std::string_view("v2\n")).ok());
  EXPECT_EQ(*ReadFileText(path), "v2\n");
  EXPECT_EQ(Entries(), std::vector<std::string>{"config.yaml"});
  EXPECT_FALSE(fs::exists(TempPathFor(path)));
  EXPECT_EQ(TempPathFor(path).rfind(path, 0), 0u);  // Same directory, so rename is atomic.
  ASSERT_TRUE(WriteFileAtomically(path, std::string_view()).ok());
  EXPECT_EQ(*ReadFileText(path), "");
}

TEST_F(FileUtilTest, CommitTempFileRenames) {
  const std::string path = dir_ + "/out.h5";
  const std::string tmp = TempPathFor(path);
  ASSERT_TRUE(WriteFileAtomically(tmp, std::string_view("payload")).ok());
  ASSERT_TRUE(CommitTempFile(tmp, path).ok());
  EXPECT_FALSE(fs::exists(tmp));
  EXPECT_EQ(*ReadFileText(path), "payload");
  EXPECT_EQ(CommitTempFile(dir_ + "/absent.tmp", path).code(), StatusCode::kNotFound);
  EXPECT_EQ(*ReadFileText(path), "payload");
}

TEST_F(FileUtilTest, MissingFileIsNotFoundNamingThePath) {
  const std::string path = dir_ + "/missing.bin";
  Status s = ReadFileBytes(path).status();
  EXPECT_EQ(s.code(), StatusCode::kNotFound) << s;
  EXPECT_NE(s.message().find(path), std::string::npos) << s;
  EXPECT_EQ(ReadFileText(path).status().code(), StatusCode::kNotFound);
}

TEST_F(FileUtilTest, WriteIntoMissingDirectoryFailsWithoutLeftovers) {
  const std::string path = dir_ + "/no/such/dir/file";
  Status s = WriteFileAtomically(path, std::string_view("x"));
  EXPECT_FALSE(s.ok());
  EXPECT_EQ(s.code(), StatusCode::kNotFound) << s;
  EXPECT_TRUE(Entries().empty());
}

TEST_F(FileUtilTest, FailedWriteKeepsOldContent) {
  const std::string path = dir_ + "/keep.txt";
  ASSERT_TRUE(WriteFileAtomically(path, std::string_view("old")).ok());
  // A directory squatting on the temporary name makes the write fail even
  // for root, which ignores permission bits.
  ASSERT_TRUE(fs::create_directory(TempPathFor(path)));
  Status s = WriteFileAtomically(path, std::string_view("new"));
  EXPECT_FALSE(s.ok());
  EXPECT_NE(s.message().find(TempPathFor(path)), std::string::npos) << s;
  EXPECT_EQ(*ReadFileText(path), "old");
}

}  // namespace
}  // namespace confml
