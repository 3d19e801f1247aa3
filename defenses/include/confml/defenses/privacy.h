// confml/defenses/privacy.h: client-level differential privacy for federated
// learning: a Renyi-DP accountant for the sampled Gaussian mechanism and the
// DP-FedAvg aggregator (McMahan, Ramage, Talwar, Zhang, ICLR 2018).
//
//   // What (epsilon, delta) do 14040 steps at q = 256/60000, sigma = 1.12 give?
//   StatusOr<double> eps = DpEpsilon(256.0 / 60000, 1.12, 14040, 1e-5);   // ~2.92
//
//   // DP-FedAvg as the engine's aggregator:
//   CONFML_RETURN_IF_ERROR(RegisterPrivacyAggregators());
//   StatusOr<AggregatorPtr> agg = CreateAggregator("dp_fedavg",
//       {{"clip_norm", 0.5}, {"noise_multiplier", 1.0}, {"sampling_rate", 0.01}});
//
// The accountant (docs/privacy.md): RDP of one step of the sampled Gaussian
// mechanism (Poisson sampling with rate q, noise N(0, sigma^2) on a
// sensitivity-1 sum) at order alpha, computed as in Mironov, Talwar and
// Zhang 2019, "Renyi Differential Privacy of the Sampled Gaussian Mechanism":
// the exact binomial expansion for integer alpha (Section 3.3, Eq. for
// A_alpha) and the two-sided erfc series for fractional alpha. RDP composes
// additively over steps; the conversion to (epsilon, delta) is either the
// standard one (Mironov 2017, Proposition 3) or the tighter one of Balle et
// al. 2020 ("Hypothesis testing interpretations and Renyi differential
// privacy", Theorem 21). Both are upper bounds on epsilon; the published
// TensorFlow Privacy tutorial numbers use the standard conversion, which is
// therefore the default.
//
// All functions are pure and thread-safe. Errors: InvalidArgument naming the
// bad argument (q outside [0, 1], sigma < 0, order <= 1, delta outside
// (0, 1), steps < 0, mismatched lengths).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "confml/core/aggregator.h"
#include "confml/core/seed.h"
#include "confml/core/status.h"

namespace confml::defenses {

// ---- Renyi-DP accountant ----------------------------------------------------

enum class RdpConversion {
  kStandard,   // eps = rdp(a) + log(1/delta) / (a - 1)            (Mironov 2017)
  kBalle2020,  // eps = rdp(a) + log((a-1)/a) - (log delta + log a) / (a - 1)
};

// "standard" / "balle2020", and the inverse (InvalidArgument otherwise).
std::string RdpConversionName(RdpConversion conversion);
StatusOr<RdpConversion> RdpConversionFromName(const std::string& name);

// The orders TensorFlow Privacy's tutorials use (1.1, 1.2, ..., 10.9, then
// 12, 13, ..., 63), extended with 64, 128, 256 and 512 so that very small
// epsilons (large sigma) still find their optimum.
std::vector<double> DefaultOrders();

// RDP at `order` (> 1, may be fractional or +infinity) of ONE application of
// the sampled Gaussian mechanism with sampling rate q in [0, 1] and noise
// multiplier sigma >= 0 (noise std / L2 sensitivity). 0 when q = 0;
// order / (2 sigma^2) when q = 1; +infinity when sigma = 0 and q > 0.
StatusOr<double> SampledGaussianRdp(double q, double noise_multiplier, double order);

// RDP of `steps` compositions at each order.
StatusOr<std::vector<double>> ComputeRdp(double q, double noise_multiplier, int64_t steps,
                                         const std::vector<double>& orders);

// An (epsilon, delta) guarantee and the RDP order that gave it.
struct DpGuarantee {
  double epsilon = 0.0;
  double delta = 0.0;
  double order = 0.0;
};

// The smallest epsilon over `orders` for the given RDP curve and delta in
// (0, 1). epsilon is clamped at 0. +infinity epsilon if every order is
// infinite.
StatusOr<DpGuarantee> RdpToDp(const std::vector<double>& orders, const std::vector<double>& rdp,
                              double delta, RdpConversion conversion = RdpConversion::kStandard);

// epsilon for `steps` steps of the sampled Gaussian mechanism, and the best order.
StatusOr<DpGuarantee> DpGuaranteeFor(double sampling_rate, double noise_multiplier, int64_t steps,
                                     double delta,
                                     const std::vector<double>& orders = DefaultOrders(),
                                     RdpConversion conversion = RdpConversion::kStandard);
StatusOr<double> DpEpsilon(double sampling_rate, double noise_multiplier, int64_t steps,
                           double delta, const std::vector<double>& orders = DefaultOrders(),
                           RdpConversion conversion = RdpConversion::kStandard);

// A running accountant for heterogeneous steps (different q or sigma per
// phase). A value type; not thread-safe.
class RdpAccountant {
 public:
  explicit RdpAccountant(std::vector<double> orders = DefaultOrders());

  // Adds `steps` steps of the sampled Gaussian mechanism.
  Status Compose(double sampling_rate, double noise_multiplier, int64_t steps);
  StatusOr<DpGuarantee> Guarantee(double delta,
                                  RdpConversion conversion = RdpConversion::kStandard) const;

  const std::vector<double>& orders() const { return orders_; }
  const std::vector<double>& rdp() const { return rdp_; }

 private:
  std::vector<double> orders_;
  std::vector<double> rdp_;
};

// ---- DP-FedAvg ----------------------------------------------------------------

// How DP-FedAvg turns the sum of clipped updates into the round's delta.
enum class DpEstimator {
  // Sum / expected clients per round (McMahan et al. 2018's fixed-denominator
  // estimator f~_f with unit weights): the sensitivity is clip_norm /
  // expected_clients whatever the round's actual count, which is what the
  // accountant assumes.
  kFixedDenominator,
  // Sum / clients actually aggregated: the plain mean. The noise std is then
  // noise_multiplier * clip_norm / n. Common in practice; its sensitivity
  // depends on n, so the accountant's epsilon is exact only when n equals the
  // expected count (see docs/privacy.md).
  kMean,
};

struct DpFedAvgOptions {
  double clip_norm = 1.0;         // > 0: L2 bound S on each client's delta.
  double noise_multiplier = 1.0;  // >= 0: z; noise std = z * S / denominator.
  int64_t expected_clients = 0;   // >= 0; 0 uses the round's update count.
  DpEstimator estimator = DpEstimator::kFixedDenominator;
};

// What one DP-FedAvg round did.
struct DpFedAvgRoundStats {
  int64_t aggregated = 0;    // finite updates used
  int64_t clipped = 0;       // of those, how many had norm > clip_norm
  double denominator = 0.0;  // what the clipped sum was divided by
  double noise_std = 0.0;    // per coordinate
  double max_norm = 0.0;     // largest norm before clipping
};

// Scales `values` in place so that its L2 norm is at most clip_norm, and
// returns the norm before clipping (computed in double).
double ClipToL2Norm(std::vector<float>* values, double clip_norm);

// The DP-FedAvg kernel: rejects updates holding NaN or Inf (recorded in
// report->rejected with the index of the first bad value, when report is not
// null), clips the others to clip_norm, sums them in the given order in
// double, divides by the estimator's denominator and adds N(0, noise_std^2)
// per coordinate drawn from `noise_seed` (Rng::Normal), so equal inputs and
// seed give bitwise equal outputs. InvalidArgument for bad options or
// updates of different sizes; FailedPrecondition when every update was
// rejected.
Status AggregateDpFedAvg(const std::vector<ClientUpdate>& updates, const DpFedAvgOptions& options,
                         Seed noise_seed, AggregationReport* report, std::vector<float>* out,
                         DpFedAvgRoundStats* stats = nullptr);

// DP-FedAvg as an Aggregator ("dp_fedavg"). Counts the rounds it has
// aggregated (kept across checkpoints through SaveState/LoadState) and
// reports the client-level epsilon spent so far with the accountant, taking
// sampling_rate as the per-round client sampling probability. Not
// thread-safe (the engine calls it from one thread).
class DpFedAvgAggregator : public Aggregator {
 public:
  DpFedAvgAggregator(DpFedAvgOptions options, double sampling_rate, double delta,
                     RdpConversion conversion = RdpConversion::kStandard);

  std::string name() const override { return "dp_fedavg"; }
  std::string config_text() const override;
  Status Aggregate(const std::vector<ClientUpdate>& updates, const AggregationContext& context,
                   std::vector<float>* out) override;
  std::vector<uint8_t> SaveState() const override;
  Status LoadState(const std::vector<uint8_t>& state) override;

  int64_t rounds() const { return rounds_; }
  // Client-level epsilon (at the configured delta) after `rounds` rounds.
  StatusOr<double> EpsilonAfter(int64_t rounds) const;
  // ... after the rounds aggregated so far.
  StatusOr<double> EpsilonSpent() const { return EpsilonAfter(rounds_); }
  const DpFedAvgRoundStats& last_round() const { return last_round_; }
  const DpFedAvgOptions& options() const { return options_; }
  double delta() const { return delta_; }
  double sampling_rate() const { return sampling_rate_; }

 private:
  DpFedAvgOptions options_;
  double sampling_rate_;
  double delta_;
  RdpConversion conversion_;
  int64_t rounds_ = 0;
  DpFedAvgRoundStats last_round_;
};

// Registers "dp_fedavg" (this header) and "secure_fedavg"
// (secure_aggregation.h) in AggregatorRegistry(). Idempotent and thread-safe.
Status RegisterPrivacyAggregators();

}  // namespace confml::defenses
