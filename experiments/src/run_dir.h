// The run folder and its provenance record (internal to experiments).
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "confml/core/status.h"

namespace confml::experiments::internal {

// experiment.output_dir is the user's input: InvalidArgument naming the key
// and the path when a part of it exists and is not a folder, so that the run
// fails before it loads anything. Creates nothing.
Status CheckOutputDir(const std::string& output_dir);

// Creates <output_dir>/<name>-<YYYYmmdd-HHMMSS>-<seed> (UTC), appending
// "-2", "-3", ... when it exists (mkdir is the atomic test, so two runs
// started in the same second get different folders). Creates output_dir
// as needed. Returns the folder's path. A path that cannot be created
// (CheckOutputDir, a read-only or missing mount, a name too long) is
// InvalidArgument naming experiment.output_dir, and the folders it created on
// the way are removed again; only a failing disk (no space, I/O) is
// Unavailable.
StatusOr<std::string> CreateRunDir(const std::string& output_dir, const std::string& name,
                                   uint64_t seed, std::chrono::system_clock::time_point start);

// Removes a run folder this process created, when the run fails, unless
// Keep() was called first. A run keeps its folder once it has recorded a
// result (an epoch, a round, an outcome): a folder holding only config.yaml
// and provenance.json would look like a run that exists, to `confml plot`, to
// --resume and to a reader listing runs/. Not thread-safe; one per run.
class RunDirGuard {
 public:
  explicit RunDirGuard(std::string path) : path_(std::move(path)) {}
  RunDirGuard(const RunDirGuard&) = delete;
  RunDirGuard& operator=(const RunDirGuard&) = delete;
  ~RunDirGuard();
  void Keep() { path_.clear(); }

 private:
  std::string path_;
};

// "2026-11-25T23:30:00Z".
std::string IsoUtc(std::chrono::system_clock::time_point t);

struct Provenance {
  std::string confml_version, git_commit, build_type, compiler, torch_version, hdf5_version;
  uint64_t seed = 0;
  int64_t torch_threads = 0;
  int64_t openmp_max_threads = 0;
  std::string hostname;
  std::string start_time;
  std::string config_source;
  std::vector<std::string> overrides;
  std::vector<std::string> command_line;
};

std::string ProvenanceJson(const Provenance& p);
std::string Hostname();

}  // namespace confml::experiments::internal
