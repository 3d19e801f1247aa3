#include "progress.h"

#include <unistd.h>

#include <cmath>
#include <string>

namespace confml::experiments::internal {

namespace {
constexpr int kBarWidth = 30;
// Redrawing more often than this only costs time on a slow terminal.
constexpr std::chrono::milliseconds kRedrawInterval(100);
}  // namespace

std::string FormatEpochLine(const EpochRecord& r, int64_t epochs) {
  char buf[256];
  if (std::isnan(r.test_accuracy)) {
    std::snprintf(buf, sizeof(buf), "epoch %lld/%lld  train loss %.4f acc %.4f  (%.1f s)",
                  static_cast<long long>(r.epoch), static_cast<long long>(epochs), r.train_loss,
                  r.train_accuracy, r.seconds);
  } else {
    std::snprintf(buf, sizeof(buf),
                  "epoch %lld/%lld  train loss %.4f acc %.4f  test loss %.4f acc %.4f  (%.1f s)",
                  static_cast<long long>(r.epoch), static_cast<long long>(epochs), r.train_loss,
                  r.train_accuracy, r.test_loss, r.test_accuracy, r.seconds);
  }
  return buf;
}

std::string FormatRoundLine(const RoundRecord& r, int64_t rounds) {
  char test[64] = "";
  if (!std::isnan(r.test_accuracy)) {
    std::snprintf(test, sizeof(test), "  test loss %.4f acc %.4f", r.test_loss, r.test_accuracy);
  }
  char buf[256];
  std::snprintf(buf, sizeof(buf), "round %lld/%lld  train loss %.4f%s  %lld/%lld clients  (%.1f s)",
                static_cast<long long>(r.round), static_cast<long long>(rounds), r.mean_train_loss,
                test, static_cast<long long>(r.clients_admitted),
                static_cast<long long>(r.clients_admitted + r.clients_refused), r.seconds);
  return buf;
}

Progress::Progress(ProgressMode mode, int64_t epochs, std::FILE* out)
    : mode_(mode), epochs_(epochs), out_(out), epoch_start_(std::chrono::steady_clock::now()) {
  if (mode_ == ProgressMode::kAuto) {
    mode_ = ::isatty(::fileno(out_)) ? ProgressMode::kBar : ProgressMode::kLines;
  }
}

void Progress::Step(int64_t step, int64_t steps) {
  if (mode_ != ProgressMode::kBar) return;
  auto now = std::chrono::steady_clock::now();
  if (step != steps && bar_drawn_ && now - last_draw_ < kRedrawInterval) return;
  last_draw_ = now;
  DrawBar(step, steps);
}

void Progress::DrawBar(int64_t step, int64_t steps) {
  const double frac = steps > 0 ? static_cast<double>(step) / static_cast<double>(steps) : 1.0;
  const int filled = static_cast<int>(frac * kBarWidth);
  std::string bar(static_cast<size_t>(filled), '#');
  bar.append(static_cast<size_t>(kBarWidth - filled), '.');
  const double elapsed =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - epoch_start_).count();
  const double eta = frac > 0 ? elapsed * (1.0 - frac) / frac : 0.0;
  std::fprintf(out_, "\r\033[Kepoch %lld/%lld [%s] %3d%% %lld/%lld  %.0f s left",
               static_cast<long long>(current_epoch_), static_cast<long long>(epochs_), bar.c_str(),
               static_cast<int>(frac * 100), static_cast<long long>(step),
               static_cast<long long>(steps), eta);
  std::fflush(out_);
  bar_drawn_ = true;
}

void Progress::Epoch(const EpochRecord& record) {
  if (mode_ == ProgressMode::kNone) return;
  if (mode_ == ProgressMode::kBar) {
    // The finished epoch's line replaces the bar and stays in the scrollback.
    std::fprintf(out_, "\r\033[K%s\n", FormatEpochLine(record, epochs_).c_str());
    bar_drawn_ = false;
  } else {
    std::fprintf(out_, "confml: %s\n", FormatEpochLine(record, epochs_).c_str());
  }
  std::fflush(out_);
  current_epoch_ = record.epoch + 1;
  epoch_start_ = std::chrono::steady_clock::now();
}

void Progress::Round(const RoundRecord& record) {
  if (mode_ == ProgressMode::kNone) return;
  // No bar: rounds report only when they end, so every mode prints lines.
  std::fprintf(out_, "confml: %s\n", FormatRoundLine(record, epochs_).c_str());
  std::fflush(out_);
}

void Progress::Finish() {
  if (mode_ == ProgressMode::kBar && bar_drawn_) {
    std::fprintf(out_, "\n");
    std::fflush(out_);
    bar_drawn_ = false;
  }
}

}  // namespace confml::experiments::internal
