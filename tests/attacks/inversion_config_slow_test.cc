// The inversion configs under experiments/attacks/ (dlg, idlg,
// inverting_gradients) run end to end through the `confml` binary at a tiny
// size, print their attack metrics and write outcome.h5 with the
// reconstructions; iDLG's labels come out right even at this size. Slow
// because each confml process loads LibTorch and reconstructs.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "../experiments/test_util.h"

namespace confml::attacks {
namespace {

using experiments::testing::CliResult;
using experiments::testing::ReadAll;
using experiments::testing::RunConfml;
using experiments::testing::SourceDir;
using experiments::testing::TempDir;

// "name: value" lines of `confml run`'s output.
std::map<std::string, double> Outcome(const std::string& out) {
  std::map<std::string, double> m;
  std::istringstream in(out);
  for (std::string line; std::getline(in, line);) {
    const size_t colon = line.find(": ");
    if (colon == std::string::npos) continue;
    char* end = nullptr;
    const std::string value = line.substr(colon + 2);
    const double v = std::strtod(value.c_str(), &end);
    if (end != value.c_str() && *end == '\0') m[line.substr(0, colon)] = v;
  }
  return m;
}

std::string FindOutcome(const std::string& dir) {
  for (const auto& e : std::filesystem::recursive_directory_iterator(dir)) {
    if (e.path().filename() == "outcome.h5") return e.path().string();
  }
  return "";
}

struct ConfigCase {
  std::string file;
  std::vector<std::string> overrides;
};

class InversionConfigTest : public ::testing::TestWithParam<ConfigCase> {};

TEST_P(InversionConfigTest, RunsAndWritesReconstructions) {
  const ConfigCase& c = GetParam();
  ASSERT_TRUE(std::filesystem::exists(experiments::testing::ConfmlBinary()))
      << "build the confml target first";
  TempDir tmp;
  std::vector<std::string> args{"run", SourceDir() + "/experiments/attacks/" + c.file,
                                "experiment.output_dir=" + tmp.path() + "/runs",
                                "dataset.test_limit=100"};
  args.insert(args.end(), c.overrides.begin(), c.overrides.end());
  CliResult r = RunConfml(args, tmp.path());
  ASSERT_EQ(r.exit_code, 0) << r.err << r.out;
  std::map<std::string, double> m = Outcome(r.out);
  ASSERT_TRUE(m.count("attack.psnr")) << r.out;
  ASSERT_TRUE(m.count("attack.blind_guess_psnr")) << r.out;
  ASSERT_TRUE(m.count("attack.label_accuracy")) << r.out;
  EXPECT_TRUE(std::isfinite(m["attack.psnr"])) << r.out;
  EXPECT_EQ(m["attack.images"], 2.0) << r.out;

  const std::string h5 = FindOutcome(tmp.path() + "/runs");
  ASSERT_FALSE(h5.empty()) << "no outcome.h5 under " << tmp.path() << "/runs";
  const std::string bytes = ReadAll(h5);
  EXPECT_EQ(bytes.rfind("\x89HDF\r\n\x1a\n", 0), 0u) << "not an HDF5 file";
  // Two 28x28 float32 images, names stored in the file's object headers.
  EXPECT_NE(bytes.find("reconstruction"), std::string::npos);
  EXPECT_NE(bytes.find("original"), std::string::npos);
  EXPECT_GT(bytes.size(), 2u * 2u * 28u * 28u * 4u);
  if (c.file == "idlg.yaml") {
    EXPECT_EQ(m["attack.label_accuracy"], 1.0) << r.out;
  }
}

// Two victims with one image each and a handful of optimizer steps; IG two
// local steps as its config.
INSTANTIATE_TEST_SUITE_P(
    Configs, InversionConfigTest,
    ::testing::Values(
        ConfigCase{"dlg.yaml", {"attack.iterations=3", "attack.max_victims=2",
                                "federated.clients_per_round=2"}},
        ConfigCase{"idlg.yaml", {"attack.iterations=3", "attack.max_victims=2",
                                 "federated.clients_per_round=2"}},
        ConfigCase{"inverting_gradients.yaml", {"attack.iterations=30", "attack.max_victims=2"}}),
    [](const ::testing::TestParamInfo<ConfigCase>& info) {
      std::string n = info.param.file.substr(0, info.param.file.size() - 5);
      return n;
    });

}  // namespace
}  // namespace confml::attacks
