// Tests of core/program.h: code modules with build-time digests, and the
// Program image a realm is loaded with.
#include "confml/core/program.h"

#include <gtest/gtest.h>

#include <set>

namespace confml {
namespace {

TEST(CodeModules, EveryModuleHasAHexDigestAndFiles) {
  const std::vector<CodeModule>& modules = BuiltinCodeModules();
  std::set<std::string> names;
  for (const CodeModule& m : modules) {
    names.insert(m.name);
    EXPECT_EQ(m.digest.size(), 64u) << m.name;
    EXPECT_EQ(m.digest.find_first_not_of("0123456789abcdef"), std::string::npos) << m.name;
    EXPECT_FALSE(m.files.empty()) << m.name;
    for (const std::string& f : m.files) EXPECT_NE(f[0], '/') << "path not relative: " << f;
  }
  for (const char* expected : {"core", "core_ml", "defenses", "attacks", "roles_common",
                               "role.device", "role.runtime", "role.model_provider",
                               "role.verifier"}) {
    EXPECT_TRUE(names.count(expected)) << expected;
  }
  // Different code, different digests.
  EXPECT_NE(FindCodeModule("role.device")->digest, FindCodeModule("role.runtime")->digest);
}

TEST(CodeModules, UnknownModuleIsNotFoundWithSuggestion) {
  StatusOr<CodeModule> m = FindCodeModule("atacks");
  ASSERT_FALSE(m.ok());
  EXPECT_EQ(m.status().code(), StatusCode::kNotFound);
  EXPECT_NE(m.status().message().find("attacks"), std::string::npos) << m.status();
}

TEST(Program, ImageIsDeterministicAndFollowsTheCode) {
  StatusOr<Program> honest = HonestProgram("runtime");
  ASSERT_TRUE(honest.ok()) << honest.status();
  auto a = honest->Image();
  auto b = HonestProgram("runtime")->Image();
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ(*a, *b);

  Program malicious = *honest;
  malicious.components.push_back({"attacks", "dlg iterations=300"});
  auto c = malicious.Image();
  ASSERT_TRUE(c.ok());
  EXPECT_NE(*a, *c);
  // Configuration is part of the image too.
  Program other = *honest;
  other.components.push_back({"attacks", "dlg iterations=301"});
  EXPECT_NE(*c, *other.Image());
  EXPECT_TRUE(malicious.HasModule("attacks"));
  EXPECT_FALSE(honest->HasModule("attacks"));
  // The runtime and the device run different code.
  EXPECT_NE(*a, *HonestProgram("device")->Image());
}

TEST(Program, ImageRoundTripsAndCarriesDigests) {
  StatusOr<Program> p = HonestProgram("device", {{"core", "model small_cnn"}});
  ASSERT_TRUE(p.ok());
  std::vector<uint8_t> image = *p->Image();
  std::vector<std::string> digests;
  StatusOr<Program> back = ParseProgramImage(image, &digests);
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(*back, *p);
  ASSERT_EQ(digests.size(), p->components.size());
  for (size_t i = 0; i < digests.size(); ++i) {
    EXPECT_EQ(digests[i], FindCodeModule(p->components[i].module)->digest);
  }
}

TEST(Program, MalformedImagesAreDataLoss) {
  std::vector<uint8_t> image = *HonestProgram("verifier")->Image();
  for (size_t cut = 0; cut < image.size(); cut += 7) {
    std::vector<uint8_t> truncated(image.begin(), image.begin() + cut);
    StatusOr<Program> p = ParseProgramImage(truncated);
    ASSERT_FALSE(p.ok()) << "cut at " << cut;
    EXPECT_EQ(p.status().code(), StatusCode::kDataLoss);
  }
  std::vector<uint8_t> trailing = image;
  trailing.push_back(0);
  EXPECT_NE(ParseProgramImage(trailing).status().message().find("trailing"), std::string::npos);
  std::vector<uint8_t> magic = image;
  magic[0] ^= 1;
  EXPECT_NE(ParseProgramImage(magic).status().message().find("magic"), std::string::npos);
  std::vector<uint8_t> version = image;
  version[18] = 9;  // format version (big-endian u32 after the 15-byte magic)
  EXPECT_NE(ParseProgramImage(version).status().message().find("version"), std::string::npos);
}

TEST(Program, BadRolesAndModulesAreRejected) {
  StatusOr<Program> p = HonestProgram("runtme");
  ASSERT_FALSE(p.ok());
  EXPECT_EQ(p.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(p.status().message().find("runtime"), std::string::npos) << p.status();
  Program q = *HonestProgram("device");
  q.components.push_back({"no_such_module", ""});
  EXPECT_EQ(q.Image().status().code(), StatusCode::kNotFound);
}

}  // namespace
}  // namespace confml
