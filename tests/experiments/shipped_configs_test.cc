// Every config the repository ships (experiments/**, tutorials/*.yaml) loads
// and validates, and every cell of a matrix config does too: what
// `confml check` does for one file. The smoke test runs only the top-level
// experiments/*.yaml, so without this a config added under experiments/attacks/
// or a tutorial's config could carry a misspelled key until someone ran it.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <string>
#include <vector>

#include "confml/experiments/config.h"
#include "confml/experiments/matrix.h"
#include "confml/experiments/sweep.h"
#include "test_util.h"

namespace confml::experiments {
namespace {

std::vector<std::string> ShippedYaml() {
  std::vector<std::string> out;
  const std::string root = testing::SourceDir();
  for (const auto& e : std::filesystem::recursive_directory_iterator(root + "/experiments")) {
    if (e.path().extension() == ".yaml") out.push_back(e.path().string());
  }
  for (const auto& e : std::filesystem::directory_iterator(root + "/tutorials")) {
    if (e.path().extension() == ".yaml") out.push_back(e.path().string());
  }
  std::sort(out.begin(), out.end());
  return out;
}

TEST(ShippedConfigs, EveryOneLoadsAndValidates) {
  const std::vector<std::string> paths = ShippedYaml();
  // experiments/, experiments/attacks/, islet/, matrix/ and the tutorials'.
  ASSERT_GE(paths.size(), 40u);
  int matrices = 0;
  for (const std::string& path : paths) {
    SCOPED_TRACE(path);
    StatusOr<ExperimentConfig> c = LoadExperimentConfig(path, {});
    ASSERT_TRUE(c.ok()) << c.status().message();
    if (c->sweep.has_value()) {  // every run of a sweep, as `confml check` validates it
      StatusOr<SweepPlan> plan = PlanSweep(path, {});
      ASSERT_TRUE(plan.ok()) << plan.status().message();
    }
    if (c->kind() != "matrix") continue;
    ++matrices;
    StatusOr<std::vector<ExperimentConfig>> cells = MatrixCellConfigs(*c);
    ASSERT_TRUE(cells.ok()) << cells.status().message();
    EXPECT_FALSE(cells->empty());
  }
  EXPECT_GE(matrices, 1);
}

TEST(ShippedConfigs, TheFlagshipMatrixChecksAtEverySize) {
  const std::string path = testing::SourceDir() + "/experiments/confidential_matrix.yaml";
  for (const char* size : {"matrix.size=tiny", "matrix.size=small", "matrix.size=full"}) {
    SCOPED_TRACE(size);
    StatusOr<ExperimentConfig> c = LoadExperimentConfig(path, {size});
    ASSERT_TRUE(c.ok()) << c.status().message();
    StatusOr<std::vector<ExperimentConfig>> cells = MatrixCellConfigs(*c);
    ASSERT_TRUE(cells.ok()) << cells.status().message();
    // 8 attacks x 5 protections.
    EXPECT_EQ(cells->size(), 40u);
  }
}

}  // namespace
}  // namespace confml::experiments
