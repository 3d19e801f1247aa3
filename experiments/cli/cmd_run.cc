// confml run CONFIG.yaml [key.sub=value ...] [--progress=auto|bar|lines|none] [--resume RUN_DIR]
// confml config-reference [--output=FILE]
#include <cstdio>
#include <string>
#include <string_view>
#include <vector>

#include "commands.h"
#include "confml/core/file_util.h"
#include "confml/experiments/config.h"
#include "confml/experiments/runner.h"

namespace confml::cli {
namespace {

// Errors go out as exactly one line, whatever the message holds.
int Fail(int code, const std::string& message) {
  std::string line = message;
  for (char& c : line) {
    if (c == '\n' || c == '\r') c = ' ';
  }
  std::fprintf(stderr, "confml: %s\n", line.c_str());
  return code;
}

int FailStatus(const Status& status) {
  return Fail(experiments::IsInputError(status) ? kExitUsage : kExitFailure, status.message());
}

constexpr char kRunUsage[] =
    "usage: confml run CONFIG.yaml [section.key=value ...] [--progress=auto|bar|lines|none] "
    "[--resume RUN_DIR]";

}  // namespace

int RunCommand(int argc, char** argv) {
  std::string config_path;
  std::vector<std::string> overrides;
  experiments::RunOptions options;
  options.command_line.push_back("confml");
  options.command_line.push_back("run");
  for (int i = 0; i < argc; ++i) {
    const std::string arg = argv[i];
    options.command_line.push_back(arg);
    if (arg == "--help" || arg == "-h") {
      std::printf("%s\n", kRunUsage);
      return kExitOk;
    }
    if (arg.rfind("--progress=", 0) == 0) {
      const std::string mode = arg.substr(11);
      if (mode == "auto")
        options.progress = experiments::ProgressMode::kAuto;
      else if (mode == "bar")
        options.progress = experiments::ProgressMode::kBar;
      else if (mode == "lines")
        options.progress = experiments::ProgressMode::kLines;
      else if (mode == "none")
        options.progress = experiments::ProgressMode::kNone;
      else
        return Fail(kExitUsage,
                    "run: unknown progress mode '" + mode + "' (auto, bar, lines, none)");
      continue;
    }
    // A federated run continues in RUN_DIR from its checkpoint.
    if (arg == "--resume" || arg.rfind("--resume=", 0) == 0) {
      if (arg == "--resume") {
        if (i + 1 >= argc)
          return Fail(kExitUsage, std::string("run: --resume needs a run folder; ") + kRunUsage);
        options.resume_dir = argv[++i];
        options.command_line.push_back(options.resume_dir);
      } else {
        options.resume_dir = arg.substr(9);
      }
      if (options.resume_dir.empty()) {
        return Fail(kExitUsage, std::string("run: --resume needs a run folder; ") + kRunUsage);
      }
      continue;
    }
    if (arg.rfind("-", 0) == 0) {
      return Fail(kExitUsage, "run: unknown option '" + arg + "'; " + kRunUsage);
    }
    if (arg.find('=') != std::string::npos) {
      overrides.push_back(arg);
      continue;
    }
    if (!config_path.empty()) {
      return Fail(kExitUsage, "run: unexpected argument '" + arg +
                                  "' (overrides look like section.key=value); " + kRunUsage);
    }
    config_path = arg;
  }
  if (config_path.empty())
    return Fail(kExitUsage, std::string("run: no config file; ") + kRunUsage);

  StatusOr<experiments::ExperimentConfig> config =
      experiments::LoadExperimentConfig(config_path, overrides);
  if (!config.ok()) return FailStatus(config.status());
  StatusOr<experiments::RunResult> result = experiments::RunExperiment(*config, options);
  if (!result.ok()) return FailStatus(result.status());
  for (const std::string& e : result->events) std::printf("%s\n", e.c_str());
  for (const experiments::AdmissionRecord& a : result->admissions) {
    if (a.admitted) continue;
    std::printf("refused: %s refused %s as %s: %s: %s\n", a.relying.c_str(), a.attester.c_str(),
                a.expected_role.c_str(), a.failed_checks.c_str(), a.detail.c_str());
  }
  for (const auto& [name, value] : result->outcome) std::printf("%s: %.6g\n", name.c_str(), value);
  if (config->kind() != "flow" && config->kind() != "matrix") {
    std::printf("final test accuracy: %.4f\n", result->final_test_accuracy);
  }
  if (result->tee_cost.total_seconds() > 0) {
    std::printf("modeled TEE overhead: %.6f s (%s profile; not included in wall time)\n",
                result->tee_cost.total_seconds(), result->tee_cost.profile.c_str());
  }
  std::printf("run folder: %s\n", result->run_dir.c_str());
  return kExitOk;
}

int ConfigReferenceCommand(int argc, char** argv) {
  std::string output;
  for (int i = 0; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg.rfind("--output=", 0) == 0 && arg.size() > 9) {
      output = arg.substr(9);
    } else {
      return Fail(kExitUsage, "config-reference: unexpected argument '" + arg +
                                  "'; usage: confml config-reference [--output=FILE]");
    }
  }
  const std::string md = experiments::ConfigReferenceMarkdown();
  if (output.empty()) {
    std::fwrite(md.data(), 1, md.size(), stdout);
    return kExitOk;
  }
  Status s = WriteFileAtomically(output, md);
  if (!s.ok()) return Fail(kExitFailure, s.message());
  return kExitOk;
}

}  // namespace confml::cli
