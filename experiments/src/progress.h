// Progress display of a training run on stderr (internal to experiments).
#pragma once

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <string>

#include "confml/experiments/results.h"
#include "confml/experiments/runner.h"

namespace confml::experiments::internal {

// Not thread-safe; the trainer reports from the calling thread.
class Progress {
 public:
  // kAuto resolves against isatty(fileno(out)).
  Progress(ProgressMode mode, int64_t epochs, std::FILE* out = stderr);

  // Step `step` (1-based) of `steps` within the current epoch.
  void Step(int64_t step, int64_t steps);
  void Epoch(const EpochRecord& record);
  // A federated round; the Progress was made with the number of rounds.
  void Round(const RoundRecord& record);
  // Ends the bar's line, if one is drawn.
  void Finish();

  ProgressMode mode() const { return mode_; }

 private:
  void DrawBar(int64_t step, int64_t steps);

  ProgressMode mode_;
  int64_t epochs_;
  int64_t current_epoch_ = 1;
  std::FILE* out_;
  bool bar_drawn_ = false;
  std::chrono::steady_clock::time_point last_draw_{};
  std::chrono::steady_clock::time_point epoch_start_;
};

// "epoch 2/5  train loss 0.4312 acc 0.8451  test loss 0.4011 acc 0.8560  (3.2 s)"
std::string FormatEpochLine(const EpochRecord& r, int64_t epochs);
// "round 3/100  train loss 0.6120  test loss 0.5011 acc 0.8210  10/10 clients  (4.1 s)"
std::string FormatRoundLine(const RoundRecord& r, int64_t rounds);

}  // namespace confml::experiments::internal
