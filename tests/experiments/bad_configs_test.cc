// The bad-config corpus, in process: every config under tests/configs/bad/
// fails to load or run with an input error (the CLI's exit code 2) whose
// one-line message contains the text of its "# expect: " first line, and
// leaves nothing under the output directory. cli_slow_test.cc checks the
// same through the confml binary.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>

#include "confml/experiments/config.h"
#include "confml/experiments/runner.h"
#include "test_util.h"

namespace confml::experiments {
namespace {

using testing::BadConfigs;

TEST(BadConfigsTest, CorpusIsLargeEnough) { EXPECT_GE(BadConfigs().size(), 12u); }

class BadConfigTest : public ::testing::TestWithParam<std::string> {};

TEST_P(BadConfigTest, FailsWithInputErrorAndWritesNothing) {
  const std::string path = testing::SourceDir() + "/tests/configs/bad/" + GetParam();
  const std::string text = testing::ReadAll(path);
  const std::string expect = testing::ExpectedError(text);
  ASSERT_FALSE(expect.empty()) << path << " must start with '# expect: <text>'";

  testing::TempDir tmp;
  const std::string out_dir = tmp.path() + "/runs";
  Status status;
  StatusOr<ExperimentConfig> config =
      LoadExperimentConfig(path, {"experiment.output_dir=" + out_dir});
  if (!config.ok()) {
    status = config.status();
  } else {
    RunOptions options;
    options.progress = ProgressMode::kNone;
    StatusOr<RunResult> r = RunExperiment(*config, options);
    ASSERT_FALSE(r.ok()) << path << " ran";
    status = r.status();
  }
  EXPECT_TRUE(IsInputError(status)) << status;
  EXPECT_EQ(status.message().find('\n'), std::string::npos) << status;
  EXPECT_NE(status.message().find(expect), std::string::npos)
      << "message: " << status.message() << "\nexpected: " << expect;
  EXPECT_FALSE(std::filesystem::exists(out_dir)) << "a bad config created " << out_dir;
}

INSTANTIATE_TEST_SUITE_P(Corpus, BadConfigTest, ::testing::ValuesIn(BadConfigs()),
                         [](const ::testing::TestParamInfo<std::string>& info) {
                           std::string name = info.param.substr(0, info.param.size() - 5);
                           std::replace(name.begin(), name.end(), '-', '_');
                           return name;
                         });

}  // namespace
}  // namespace confml::experiments
