// Image metrics for gradient inversion: MSE, PSNR, SSIM (Wang et al. 2004).

#include <algorithm>
#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "confml/attacks/inversion.h"

namespace confml::attacks {
namespace {

constexpr int kSsimWindow = 11;
constexpr double kSsimSigma = 1.5;
constexpr double kSsimK1 = 0.01;
constexpr double kSsimK2 = 0.03;

std::vector<double> GaussianWindow() {
  std::vector<double> w(kSsimWindow * kSsimWindow);
  const int r = kSsimWindow / 2;
  double sum = 0.0;
  for (int y = -r; y <= r; ++y) {
    for (int x = -r; x <= r; ++x) {
      const double v = std::exp(-(x * x + y * y) / (2.0 * kSsimSigma * kSsimSigma));
      w[(y + r) * kSsimWindow + (x + r)] = v;
      sum += v;
    }
  }
  for (double& v : w) v /= sum;
  return w;
}

}  // namespace

double ImageMse(const std::vector<float>& a, const std::vector<float>& b) {
  double sum = 0.0;
  for (size_t i = 0; i < a.size(); ++i) {
    const double d = static_cast<double>(a[i]) - static_cast<double>(b[i]);
    sum += d * d;
  }
  return a.empty() ? 0.0 : sum / static_cast<double>(a.size());
}

double ImagePsnr(const std::vector<float>& a, const std::vector<float>& b, double data_range) {
  const double mse = ImageMse(a, b);
  if (mse == 0.0) return std::numeric_limits<double>::infinity();
  return 10.0 * std::log10(data_range * data_range / mse);
}

std::vector<std::pair<size_t, size_t>> MatchByPsnr(const std::vector<std::vector<float>>& recs,
                                                   const std::vector<std::vector<float>>& origs) {
  std::vector<std::vector<double>> psnr(recs.size(), std::vector<double>(origs.size()));
  for (size_t i = 0; i < recs.size(); ++i)
    for (size_t j = 0; j < origs.size(); ++j) psnr[i][j] = ImagePsnr(recs[i], origs[j]);
  std::vector<bool> used_r(recs.size()), used_o(origs.size());
  std::vector<std::pair<size_t, size_t>> pairs;
  for (size_t k = 0; k < std::min(recs.size(), origs.size()); ++k) {
    size_t bi = 0, bj = 0;
    double best = -std::numeric_limits<double>::infinity();
    bool found = false;
    for (size_t i = 0; i < recs.size(); ++i) {
      if (used_r[i]) continue;
      for (size_t j = 0; j < origs.size(); ++j) {
        if (used_o[j] || (found && !(psnr[i][j] > best))) continue;
        best = psnr[i][j];
        bi = i;
        bj = j;
        found = true;
      }
    }
    used_r[bi] = used_o[bj] = true;
    pairs.push_back({bi, bj});
  }
  return pairs;
}

StatusOr<double> ImageSsim(const std::vector<float>& a, const std::vector<float>& b,
                           const std::vector<int64_t>& shape, double data_range) {
  if (shape.size() != 3) {
    return InvalidArgumentError("SSIM needs an image shape {C, H, W}, got " +
                                std::to_string(shape.size()) + " dimensions");
  }
  const int64_t c = shape[0], h = shape[1], w = shape[2];
  if (c < 1 || static_cast<int64_t>(a.size()) != c * h * w || a.size() != b.size()) {
    return InvalidArgumentError("SSIM: images of " + std::to_string(a.size()) + " and " +
                                std::to_string(b.size()) + " values do not match shape {" +
                                std::to_string(c) + ", " + std::to_string(h) + ", " +
                                std::to_string(w) + "}");
  }
  if (h < kSsimWindow || w < kSsimWindow) {
    return InvalidArgumentError("SSIM: image " + std::to_string(h) + "x" + std::to_string(w) +
                                " is smaller than the 11x11 window");
  }
  static const std::vector<double> window = GaussianWindow();
  const double c1 = (kSsimK1 * data_range) * (kSsimK1 * data_range);
  const double c2 = (kSsimK2 * data_range) * (kSsimK2 * data_range);
  const int64_t oh = h - kSsimWindow + 1, ow = w - kSsimWindow + 1;
  double total = 0.0;
  for (int64_t ch = 0; ch < c; ++ch) {
    const float* pa = a.data() + ch * h * w;
    const float* pb = b.data() + ch * h * w;
    double channel_sum = 0.0;
    for (int64_t y = 0; y < oh; ++y) {
      for (int64_t x = 0; x < ow; ++x) {
        double ma = 0, mb = 0, saa = 0, sbb = 0, sab = 0;
        for (int wy = 0; wy < kSsimWindow; ++wy) {
          for (int wx = 0; wx < kSsimWindow; ++wx) {
            const double g = window[wy * kSsimWindow + wx];
            const double va = pa[(y + wy) * w + (x + wx)];
            const double vb = pb[(y + wy) * w + (x + wx)];
            ma += g * va;
            mb += g * vb;
            saa += g * va * va;
            sbb += g * vb * vb;
            sab += g * va * vb;
          }
        }
        const double var_a = saa - ma * ma, var_b = sbb - mb * mb, cov = sab - ma * mb;
        channel_sum += ((2 * ma * mb + c1) * (2 * cov + c2)) /
                       ((ma * ma + mb * mb + c1) * (var_a + var_b + c2));
      }
    }
    total += channel_sum / static_cast<double>(oh * ow);
  }
  return total / static_cast<double>(c);
}

}  // namespace confml::attacks
