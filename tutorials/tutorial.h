// tutorials/tutorial.h: the little printing kit every numbered tutorial uses
// (in the manner of Microsoft SEAL's examples.h): section banners, wrapped
// prose, hex previews, and a way to stop with a readable message when a call
// that should succeed does not.
#pragma once

#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "confml/core/crypto.h"
#include "confml/core/status.h"
#include "confml/experiments/config.h"
#include "confml/experiments/runner.h"

namespace confml::tutorials {

inline void Banner(std::string_view title) {
  std::string line(title.size() + 4, '=');
  std::printf("\n%s\n  %.*s\n%s\n", line.c_str(), static_cast<int>(title.size()), title.data(),
              line.c_str());
}

inline void Section(std::string_view title) {
  std::printf("\n--- %.*s ---\n", static_cast<int>(title.size()), title.data());
}

// Prose, wrapped at 78 columns so it reads well in a terminal.
inline void Say(std::string_view text) {
  size_t col = 0;
  size_t i = 0;
  while (i < text.size()) {
    size_t j = text.find(' ', i);
    if (j == std::string_view::npos) j = text.size();
    std::string_view word = text.substr(i, j - i);
    if (col > 0 && col + 1 + word.size() > 78) {
      std::printf("\n");
      col = 0;
    } else if (col > 0) {
      std::printf(" ");
      ++col;
    }
    std::printf("%.*s", static_cast<int>(word.size()), word.data());
    col += word.size();
    i = j + 1;
  }
  std::printf("\n");
}

// The first and last bytes of a long value: enough to see that it changed.
inline std::string ShortHex(ByteSpan bytes) {
  std::string hex = ToHex(bytes);
  if (hex.size() <= 24) return hex;
  return hex.substr(0, 12) + "..." + hex.substr(hex.size() - 8) + " (" +
         std::to_string(bytes.size()) + " B)";
}

// Stops the tutorial when a step that must work fails: a tutorial that goes
// on after an error would teach the wrong thing.
[[noreturn]] inline void Fail(const std::string& what, const Status& status) {
  std::fprintf(stderr, "\nTUTORIAL FAILED at '%s': %s\n", what.c_str(), status.ToString().c_str());
  std::exit(1);
}

template <typename T>
T Must(StatusOr<T> value, const std::string& what) {
  if (!value.ok()) Fail(what, value.status());
  return std::move(value).value();
}

inline void Must(const Status& status, const std::string& what) {
  if (!status.ok()) Fail(what, status);
}

// Checks an expectation the tutorial states (e.g. "the RIM changed"): a
// failed expectation is a bug to report, not something to print past.
inline void Expect(bool condition, const std::string& claim) {
  if (!condition) {
    std::fprintf(stderr, "\nTUTORIAL FAILED: expected %s\n", claim.c_str());
    std::exit(1);
  }
  std::printf("  [ok] %s\n", claim.c_str());
}

// The tutorials' command line: "key.sub=value" arguments are config
// overrides; any other argument replaces the config path.
inline void ParseConfigArgs(int argc, char** argv, std::string* path,
                            std::vector<std::string>* overrides) {
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a.find('=') != std::string::npos) {
      overrides->push_back(a);
    } else {
      *path = a;
    }
  }
}

// Loads the config at `path` with `base` and then `extra` overrides and runs
// it quietly, without a run folder; exits with a message naming `what` on
// any error (tutorials stop at the first surprise).
inline experiments::RunResult RunQuietly(const std::string& path,
                                         const std::vector<std::string>& base,
                                         const std::vector<std::string>& extra,
                                         const std::string& what) {
  std::vector<std::string> overrides = base;
  overrides.insert(overrides.end(), extra.begin(), extra.end());
  experiments::ExperimentConfig config = Must(experiments::LoadExperimentConfig(path, overrides),
                                              "loading " + path + " for " + what);
  experiments::RunOptions options;
  options.progress = experiments::ProgressMode::kNone;
  options.write_run_dir = false;
  return Must(experiments::RunExperiment(config, options), what);
}

}  // namespace confml::tutorials
