// Renyi-DP accountant for the sampled Gaussian mechanism.
//
// A_alpha = E_{z ~ mu0} [(mu(z) / mu0(z))^alpha] with mu0 = N(0, sigma^2),
// mu = (1 - q) N(0, sigma^2) + q N(1, sigma^2); RDP(alpha) = log(A_alpha) /
// (alpha - 1) (Mironov, Talwar, Zhang 2019, Theorem 4 and Section 3.3). All
// sums run in log space so that large orders and tiny q neither overflow nor
// underflow.
#include <algorithm>
#include <cmath>
#include <limits>
#include <string>
#include <utility>
#include <vector>

#include "confml/defenses/privacy.h"

namespace confml::defenses {
namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();

double LogAdd(double a, double b) {
  if (a == -kInf) return b;
  if (b == -kInf) return a;
  const double hi = std::max(a, b);
  return hi + std::log1p(std::exp(std::min(a, b) - hi));
}

// log(exp(a) - exp(b)) for a >= b; -inf when they are equal. Cancellation
// below the double precision of A_alpha cannot matter for epsilon, so a
// (rounding-induced) b > a also yields -inf rather than an error.
double LogSub(double a, double b) {
  if (b == -kInf) return a;
  if (b >= a) return -kInf;
  return a + std::log1p(-std::exp(b - a));
}

// log(erfc(x)), accurate where erfc itself underflows (x > ~26).
double LogErfc(double x) {
  if (x < 25.0) return std::log(std::erfc(x));
  // Asymptotic expansion erfc(x) = exp(-x^2) / (x sqrt(pi)) * (1 - 1/(2x^2)
  // + 3/(4x^4) - 15/(8x^6) + 105/(16x^8) ...); at x >= 25 the truncation
  // error is below 1e-14 relative.
  const double r = 1.0 / (x * x);
  const double series = 1.0 - 0.5 * r + 0.75 * r * r - 1.875 * r * r * r + 6.5625 * r * r * r * r;
  return -x * x - std::log(x) - 0.5 * std::log(M_PI) + std::log(series);
}

// log A_alpha for integer alpha >= 2: the binomial expansion
// sum_i C(alpha, i) (1-q)^(alpha-i) q^i exp((i^2 - i) / (2 sigma^2)).
double LogAInt(double q, double sigma, int64_t alpha) {
  double log_a = -kInf;
  const double log_q = std::log(q);
  const double log_1mq = std::log1p(-q);
  const double a = static_cast<double>(alpha);
  for (int64_t i = 0; i <= alpha; ++i) {
    const double di = static_cast<double>(i);
    const double log_binom =
        std::lgamma(a + 1.0) - std::lgamma(di + 1.0) - std::lgamma(a - di + 1.0);
    const double term =
        log_binom + di * log_q + (a - di) * log_1mq + (di * di - di) / (2.0 * sigma * sigma);
    log_a = LogAdd(log_a, term);
  }
  return log_a;
}

// log A_alpha for fractional alpha > 1: the integral split at
// z0 = sigma^2 log(1/q - 1) + 1/2, where the integrand's dominating mixture
// component changes, each half expanded as a generalized binomial series
// whose terms involve erfc (Mironov, Talwar, Zhang 2019, Section 3.3).
double LogAFrac(double q, double sigma, double alpha) {
  double log_a0 = -kInf;
  double log_a1 = -kInf;
  const double z0 = sigma * sigma * std::log(1.0 / q - 1.0) + 0.5;
  const double log_q = std::log(q);
  const double log_1mq = std::log1p(-q);
  const double sqrt2_sigma = std::sqrt(2.0) * sigma;
  double log_abs_coef = 0.0;  // log |C(alpha, i)|, built incrementally.
  bool coef_positive = true;
  for (int64_t i = 0; i < 1000000; ++i) {
    const double di = static_cast<double>(i);
    if (i > 0) {
      const double factor = (alpha - di + 1.0) / di;
      if (factor == 0.0) break;  // Not reached for fractional alpha.
      log_abs_coef += std::log(std::fabs(factor));
      if (factor < 0.0) coef_positive = !coef_positive;
    }
    const double j = alpha - di;
    const double log_t0 = log_abs_coef + di * log_q + j * log_1mq;
    const double log_t1 = log_abs_coef + j * log_q + di * log_1mq;
    const double log_e0 = std::log(0.5) + LogErfc((di - z0) / sqrt2_sigma);
    const double log_e1 = std::log(0.5) + LogErfc((z0 - j) / sqrt2_sigma);
    const double log_s0 = log_t0 + (di * di - di) / (2.0 * sigma * sigma) + log_e0;
    const double log_s1 = log_t1 + (j * j - j) / (2.0 * sigma * sigma) + log_e1;
    if (coef_positive) {
      log_a0 = LogAdd(log_a0, log_s0);
      log_a1 = LogAdd(log_a1, log_s1);
    } else {
      log_a0 = LogSub(log_a0, log_s0);
      log_a1 = LogSub(log_a1, log_s1);
    }
    // Past i ~ alpha the terms decay geometrically; e^-30 relative to
    // A_alpha >= 1 is far below double precision.
    if (std::max(log_s0, log_s1) < -30.0) break;
  }
  return LogAdd(log_a0, log_a1);
}

Status CheckMechanism(double q, double sigma) {
  if (!(q >= 0.0 && q <= 1.0)) {
    return InvalidArgumentError("sampling rate must lie in [0, 1], got " + std::to_string(q));
  }
  if (!(sigma >= 0.0) || std::isinf(sigma)) {
    return InvalidArgumentError("noise multiplier must be finite and >= 0, got " +
                                std::to_string(sigma));
  }
  return OkStatus();
}

}  // namespace

std::string RdpConversionName(RdpConversion conversion) {
  return conversion == RdpConversion::kStandard ? "standard" : "balle2020";
}

StatusOr<RdpConversion> RdpConversionFromName(const std::string& name) {
  if (name == "standard") return RdpConversion::kStandard;
  if (name == "balle2020") return RdpConversion::kBalle2020;
  return InvalidArgumentError("unknown RDP conversion '" + name + "' (known: standard, balle2020)");
}

std::vector<double> DefaultOrders() {
  std::vector<double> orders;
  for (int x = 1; x < 100; ++x) orders.push_back(1.0 + x / 10.0);
  for (int a = 12; a < 64; ++a) orders.push_back(a);
  for (double a : {64.0, 128.0, 256.0, 512.0}) orders.push_back(a);
  return orders;
}

StatusOr<double> SampledGaussianRdp(double q, double noise_multiplier, double order) {
  CONFML_RETURN_IF_ERROR(CheckMechanism(q, noise_multiplier));
  if (!(order > 1.0)) {
    return InvalidArgumentError("RDP order must be > 1, got " + std::to_string(order));
  }
  if (q == 0.0) return 0.0;
  if (noise_multiplier == 0.0 || std::isinf(order)) return kInf;
  const double sigma = noise_multiplier;
  if (q == 1.0) return order / (2.0 * sigma * sigma);
  double log_a;
  if (order == std::floor(order) && order <= 1e6) {
    log_a = LogAInt(q, sigma, static_cast<int64_t>(order));
  } else {
    log_a = LogAFrac(q, sigma, order);
  }
  // A_alpha >= 1 mathematically (Jensen); tiny negative rounding is clamped.
  return std::max(0.0, log_a / (order - 1.0));
}

StatusOr<std::vector<double>> ComputeRdp(double q, double noise_multiplier, int64_t steps,
                                         const std::vector<double>& orders) {
  if (steps < 0) return InvalidArgumentError("steps must be >= 0, got " + std::to_string(steps));
  if (orders.empty()) return InvalidArgumentError("no RDP orders given");
  std::vector<double> rdp;
  rdp.reserve(orders.size());
  for (double order : orders) {
    CONFML_ASSIGN_OR_RETURN(double one, SampledGaussianRdp(q, noise_multiplier, order));
    rdp.push_back(steps == 0 ? 0.0 : one * static_cast<double>(steps));
  }
  return rdp;
}

StatusOr<DpGuarantee> RdpToDp(const std::vector<double>& orders, const std::vector<double>& rdp,
                              double delta, RdpConversion conversion) {
  if (orders.size() != rdp.size() || orders.empty()) {
    return InvalidArgumentError("RDP curve has " + std::to_string(rdp.size()) + " values for " +
                                std::to_string(orders.size()) + " orders");
  }
  if (!(delta > 0.0 && delta < 1.0)) {
    return InvalidArgumentError("delta must lie in (0, 1), got " + std::to_string(delta));
  }
  DpGuarantee best{kInf, delta, orders[0]};
  const double log_delta = std::log(delta);
  for (size_t i = 0; i < orders.size(); ++i) {
    const double a = orders[i];
    if (!(a > 1.0)) {
      return InvalidArgumentError("RDP order must be > 1, got " + std::to_string(a));
    }
    if (std::isnan(rdp[i]) || rdp[i] < 0.0) {
      return InvalidArgumentError("RDP value at order " + std::to_string(a) + " is " +
                                  std::to_string(rdp[i]));
    }
    if (std::isinf(a) || std::isinf(rdp[i])) continue;
    double eps;
    if (conversion == RdpConversion::kStandard) {
      eps = rdp[i] - log_delta / (a - 1.0);
    } else {
      eps = rdp[i] + std::log1p(-1.0 / a) - (log_delta + std::log(a)) / (a - 1.0);
    }
    eps = std::max(0.0, eps);
    if (eps < best.epsilon) best = DpGuarantee{eps, delta, a};
  }
  return best;
}

StatusOr<DpGuarantee> DpGuaranteeFor(double sampling_rate, double noise_multiplier, int64_t steps,
                                     double delta, const std::vector<double>& orders,
                                     RdpConversion conversion) {
  CONFML_ASSIGN_OR_RETURN(std::vector<double> rdp,
                          ComputeRdp(sampling_rate, noise_multiplier, steps, orders));
  return RdpToDp(orders, rdp, delta, conversion);
}

StatusOr<double> DpEpsilon(double sampling_rate, double noise_multiplier, int64_t steps,
                           double delta, const std::vector<double>& orders,
                           RdpConversion conversion) {
  CONFML_ASSIGN_OR_RETURN(DpGuarantee g, DpGuaranteeFor(sampling_rate, noise_multiplier, steps,
                                                        delta, orders, conversion));
  return g.epsilon;
}

RdpAccountant::RdpAccountant(std::vector<double> orders)
    : orders_(std::move(orders)), rdp_(orders_.size(), 0.0) {}

Status RdpAccountant::Compose(double sampling_rate, double noise_multiplier, int64_t steps) {
  CONFML_ASSIGN_OR_RETURN(std::vector<double> add,
                          ComputeRdp(sampling_rate, noise_multiplier, steps, orders_));
  for (size_t i = 0; i < rdp_.size(); ++i) rdp_[i] += add[i];
  return OkStatus();
}

StatusOr<DpGuarantee> RdpAccountant::Guarantee(double delta, RdpConversion conversion) const {
  return RdpToDp(orders_, rdp_, delta, conversion);
}

}  // namespace confml::defenses
