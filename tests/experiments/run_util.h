// Running experiment configs through the runner in tests, as `confml run`
// does (the experiments tests link confml::experiments; test_util.h stays
// free of it for the other test directories).
#pragma once

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "confml/experiments/config.h"
#include "confml/experiments/runner.h"
#include "test_util.h"

namespace confml::experiments::testing {

// Runs the config file at `path` with `overrides` through the runner, as
// `confml run` does, without progress output (the run folder as the config
// says).
inline StatusOr<RunResult> RunConfigFile(const std::string& path,
                                         const std::vector<std::string>& overrides,
                                         bool write_run_dir = true) {
  StatusOr<ExperimentConfig> config = LoadExperimentConfig(path, overrides);
  if (!config.ok()) return config.status();
  RunOptions options;
  options.write_run_dir = write_run_dir;
  options.progress = ProgressMode::kNone;
  return RunExperiment(*config, options);
}

// The shipped experiments/<rel>.yaml through RunConfigFile; a run folder is
// written only when `output_dir` is set. An error fails the calling test and
// gives an empty result.
inline RunResult RunShippedConfig(const std::string& rel, std::vector<std::string> overrides,
                                  const std::string& output_dir = "") {
  if (!output_dir.empty()) overrides.push_back("experiment.output_dir=" + output_dir);
  StatusOr<RunResult> r = RunConfigFile(SourceDir() + "/experiments/" + rel + ".yaml", overrides,
                                        /*write_run_dir=*/!output_dir.empty());
  EXPECT_TRUE(r.ok()) << r.status();
  return r.ok() ? *r : RunResult{};
}

// A run's events, one a line (for failure messages and searches).
inline std::string EventsText(const RunResult& r) {
  std::string out;
  for (const std::string& e : r.events) out += e + "\n";
  return out;
}

}  // namespace confml::experiments::testing
