// confml/experiments/results.h: the per-epoch results file of a run
// (results.h5), written crash-safely and read back for notebooks and plots.
//
//   StatusOr<RunResults> r = ReadResultsFile("runs/fmnist-20261125-233000-1/results.h5");
//   if (r.ok() && r->complete) std::cout << r->final_test_accuracy;
//
// Layout of the HDF5 file (root group):
//   datasets, one element per finished epoch, all the same length:
//     epoch (int64), train_loss, train_accuracy, test_loss, test_accuracy,
//     seconds (float64; test_* are NaN when there is no test set)
//   attributes: name (string), seed (int64), epochs_planned (int64),
//     complete (int64, 1 once the last epoch is written), final_test_accuracy
//     (float64, NaN until complete), confml_version (string), config (string,
//     the resolved YAML).
// The file is rewritten in full after each epoch to a temporary name and
// renamed over results.h5, so a reader never sees a half-written file; a
// kill may leave a stale "results.h5.tmp.<pid>" beside it, which readers
// ignore.
//
// The HDF5 library is serial; these functions serialise on one process-wide
// lock and are thread-safe.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "confml/core/status.h"

namespace confml::experiments {

struct EpochRecord {
  int64_t epoch = 0;  // 1-based.
  double train_loss = 0.0;
  double train_accuracy = 0.0;
  double test_loss = 0.0;
  double test_accuracy = 0.0;
  double seconds = 0.0;
};

struct RunResults {
  std::string name;
  int64_t seed = 0;
  int64_t epochs_planned = 0;
  bool complete = false;
  double final_test_accuracy = 0.0;  // NaN while not complete.
  std::string confml_version;
  std::string config_yaml;
  std::vector<EpochRecord> epochs;
};

// Writes `results` to `path` atomically (temporary file, fsync, rename).
// Unavailable / Internal on I/O or HDF5 failures.
Status WriteResultsFile(const std::string& path, const RunResults& results);

// NotFound when absent; DataLoss when the file is not a readable results file
// (missing datasets, mismatched lengths).
StatusOr<RunResults> ReadResultsFile(const std::string& path);

}  // namespace confml::experiments
