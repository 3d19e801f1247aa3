// `confml measure`: the reference RIM printed by the binary equals the
// simulator's ComputeReferenceRim for the same image and parameters, follows
// every image byte and the hash choice, and usage errors exit 2.
#include <gtest/gtest.h>

#include <fstream>
#include <string>
#include <vector>

#include "confml/core/crypto.h"
#include "confml/tee_sim/sim_backend.h"
#include "test_util.h"

namespace confml::experiments {
namespace {

using testing::CliResult;
using testing::RunConfml;
using testing::TempDir;

std::vector<uint8_t> Image() {
  std::vector<uint8_t> img(9000);
  for (size_t i = 0; i < img.size(); ++i) img[i] = static_cast<uint8_t>(i * 13 + 5);
  return img;
}

void WriteImage(const std::string& path, const std::vector<uint8_t>& bytes) {
  std::ofstream out(path, std::ios::binary);
  out.write(reinterpret_cast<const char*>(bytes.data()),
            static_cast<std::streamsize>(bytes.size()));
}

std::string RimField(const std::string& json) {
  const std::string key = "\"rim\": \"";
  size_t at = json.find(key);
  if (at == std::string::npos) return "";
  at += key.size();
  return json.substr(at, json.find('"', at) - at);
}

TEST(MeasureCliTest, PrintsTheReferenceRimOfTheImage) {
  TempDir dir;
  const std::string path = dir.path() + "/image.bin";
  std::vector<uint8_t> img = Image();
  WriteImage(path, img);

  CliResult r = RunConfml({"measure", path}, dir.path());
  ASSERT_EQ(r.exit_code, 0) << r.err;
  RealmParams p;
  EXPECT_EQ(RimField(r.out), ToHex(*tee_sim::ComputeReferenceRim(img, p))) << r.out;
  EXPECT_NE(r.out.find("\"hash_algorithm\": \"sha-256\""), std::string::npos);

  CliResult r512 = RunConfml({"measure", path, "--hash", "sha512", "--private-memory", "8192",
                              "--rpv", std::string(128, 'a')},
                             dir.path());
  ASSERT_EQ(r512.exit_code, 0) << r512.err;
  p.hash_algorithm = RealmHashAlgorithm::kSha512;
  p.private_memory_bytes = 8192;
  EXPECT_EQ(RimField(r512.out).size(), 128u);
  EXPECT_EQ(RimField(r512.out), ToHex(*tee_sim::ComputeReferenceRim(img, p)));
  EXPECT_NE(r512.out.find("\"rpv\": \"" + std::string(128, 'a') + "\""), std::string::npos);

  img[4321] ^= 1;
  WriteImage(path, img);
  CliResult changed = RunConfml({"measure", path}, dir.path());
  ASSERT_EQ(changed.exit_code, 0);
  EXPECT_NE(RimField(changed.out), RimField(r.out));
}

TEST(MeasureCliTest, UsageErrorsExitTwo) {
  TempDir dir;
  const std::string path = dir.path() + "/image.bin";
  WriteImage(path, Image());
  const std::vector<std::vector<std::string>> bad = {
      {"measure"},
      {"measure", path, "--hash", "md5"},
      {"measure", path, "--rpv", "abcd"},
      {"measure", path, "--ipa-width", "60"},
      {"measure", path, "--num-recs", "x"},
      {"measure", path, "--bogus", "1"},
      {"measure", path, path},
      {"measure", dir.path() + "/missing.bin"},
  };
  for (const auto& args : bad) {
    CliResult r = RunConfml(args, dir.path());
    EXPECT_EQ(r.exit_code, 2) << args.back() << ": " << r.out;
    EXPECT_FALSE(r.err.empty());
  }
}

}  // namespace
}  // namespace confml::experiments
