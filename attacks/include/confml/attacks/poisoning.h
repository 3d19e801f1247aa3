// confml/attacks/poisoning.h: poisoning attacks by malicious devices, and the
// pure update-crafting math behind them.
//
// Two families (docs/attacks/poisoning.md cites each paper):
// - data poisoning, honest code on fake data (it passes attestation):
//   label_flip, targeted_injection, backdoor (Bagdasaryan et al. 2020, with
//   optional model replacement, which is crafted-update code);
// - model poisoning, crafted-update code: sign_flip, gaussian_noise, scaling,
//   alie (Baruch et al. 2019), fang_krum and fang_trimmed_mean (Fang et al.
//   2020), min_max and min_sum (Shejwalkar & Houmansadr 2021).
// Every attack acts only for the devices in AttackEnv::malicious_clients.
//
//   CONFML_RETURN_IF_ERROR(attacks::RegisterPoisoningAttacks());
//   StatusOr<AttackPtr> a = CreateAttack("alie", {}, env);   // env.malicious_clients = {0, 3}
//   engine->AddHooks(*a);  ... run ...
//   (*a)->Report()->metrics["test_error"];
//
// The kernels below work on flat update vectors (model deltas, ClientUpdate
// values) so that tests call them directly; the Attack wrappers apply them in
// FederatedHooks::OnRoundUpdates to the malicious clients' entries. "Full
// knowledge" kernels are given the benign clients' updates; "partial
// knowledge" ones only the malicious clients' own honest updates (Fang et al.
// Section 4.1). Kernels return InvalidArgument for no updates, updates of
// different sizes or bad counts.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "confml/core/seed.h"
#include "confml/core/status.h"

namespace confml::attacks {

// Adds every poisoning attack to AttackRegistry(). Idempotent.
Status RegisterPoisoningAttacks();

using Updates = std::vector<std::vector<float>>;

// ---- data poisoning -------------------------------------------------------

// Label map for label flipping: source < 0 maps every label l to C-1-l;
// otherwise only `source` goes to `target`. InvalidArgument for labels
// outside [0, num_classes).
StatusOr<std::vector<int64_t>> LabelFlipMap(int64_t num_classes, int64_t source, int64_t target);

// Stamps the backdoor trigger into one sample in place: for images
// {C, H, W} a checkerboard of `size` x `size` pixels in the bottom-right
// corner (every channel) set to `value` and 0 alternately (BadNets-style
// pixel pattern, as in Bagdasaryan et al.'s code); for any other shape the
// last `size` features alternate `value`/0. InvalidArgument when the pattern
// does not fit.
Status StampTrigger(const std::vector<int64_t>& sample_shape, int64_t size, float value,
                    float* sample);

// Learning rate of the backdoor attacker's epoch `epoch` (1-based) of
// `epochs`: lr times `decay` for every milestone m (a fraction of `epochs`)
// with m * epochs <= epoch. This is the schedule Bagdasaryan et al.'s
// released code gets from PyTorch 1.0's MultiStepLR (bisect_right over
// milestones 0.2 E and 0.8 E) stepped at the start of every epoch: with
// E = 6 the epochs run at lr, lr/10 (2-4) and lr/100 (5-6).
double BackdoorEpochLr(double lr, const std::vector<double>& milestones, double decay,
                       int64_t epochs, int64_t epoch);

// ---- model poisoning kernels ----------------------------------------------

// Coordinate-wise sign of the benign mean: s_j in {-1, 0, +1}, the direction
// the global model would move without an attack (Fang et al. Section 4).
StatusOr<std::vector<float>> ChangeDirection(const Updates& benign);
// Fang et al. define s_j as the direction in which the aggregation rule
// itself would move parameter j without attack; the authors' code uses the
// sign of the mean. kMedian / kTrimmedMean take the sign of the coordinate
// median / trimmed mean (floor(beta n) trimmed per side) of `updates`.
// InvalidArgument for no updates, sizes that differ, beta outside [0, 0.5).
enum class DirectionRule { kMean, kMedian, kTrimmedMean };
StatusOr<DirectionRule> ParseDirectionRule(const std::string& name);  // mean, median, trimmed_mean
StatusOr<std::vector<float>> ChangeDirection(const Updates& updates, DirectionRule rule,
                                             double beta = 0.0);

// A Little Is Enough (Baruch et al. 2019, Section 4 / Algorithm 3):
// s = floor(n/2 + 1) - m supporters needed, z = Phi^-1((n - s) / n).
// n = clients in the round, m = malicious among them; InvalidArgument unless
// 1 <= m < n. z is capped at 10 when the malicious are a majority.
StatusOr<double> AlieZ(int64_t n, int64_t m);
// mu_j - z * sigma_j per coordinate (sigma with Bessel's correction; 0 for a
// single update).
StatusOr<std::vector<float>> AlieUpdate(const Updates& benign, double z);

// Inner Product Manipulation (Xie, Koyejo and Gupta, UAI 2019): -epsilon
// times the mean of `known`, the updates the attacker sees.
StatusOr<std::vector<float>> IpmUpdate(const Updates& known, double epsilon);

// Krum's score of each update (Blanchard et al. 2017): sum of squared
// distances to its n - f - 2 nearest others (at least 1). Exposed because
// Fang's attack must predict Krum's choice.
StatusOr<std::vector<double>> KrumScores(const Updates& updates, int64_t f);
StatusOr<int64_t> KrumSelect(const Updates& updates, int64_t f);

// Fang et al. 2020, Section 4.2, attack on Krum: the crafted update is
// -lambda * s (s = ChangeDirection(benign)), with lambda starting at the
// paper's upper bound and halved until Krum over the num_malicious copies of
// it plus `benign` selects a copy, or lambda < epsilon. `num_clients` (m) is
// the number of updates Krum sees in the round; f = num_malicious.
struct FangKrumResult {
  std::vector<float> update;  // Every malicious client sends this.
  double lambda = 0.0;
  double lambda_upper_bound = 0.0;
  bool selected = false;  // Krum (simulated on what the attacker knows) picks it.
};
StatusOr<FangKrumResult> FangKrumAttack(const Updates& benign, int64_t num_malicious,
                                        int64_t num_clients, double epsilon = 1e-5);

// Fang et al. 2020, Section 4.3, attack on trimmed mean and median. Works in
// model space (w = global + delta, as the paper's bounds are on parameters;
// pass an empty `global` for delta space). Full knowledge: per coordinate,
// with w_max, w_min over `benign`: s_j = -1 draws from [w_max, b*w_max]
// (w_max > 0) or [w_max, w_max/b]; otherwise from [w_min/b, w_min] (w_min > 0)
// or [b*w_min, w_min]; b = 2 in the paper. Partial knowledge (`benign` = the
// malicious clients' honest updates): mu, sigma of those; s_j = -1 draws
// from [mu + 3 sigma, mu + 4 sigma], otherwise [mu - 4 sigma, mu - 3 sigma].
// Returns num_malicious deltas (relative to `global`).
StatusOr<Updates> FangTrimmedMeanAttack(const Updates& benign, const std::vector<float>& global,
                                        int64_t num_malicious, bool full_knowledge, double b,
                                        Rng& rng);
// The same with the direction s given (e.g. ChangeDirection over every
// device's before-attack update, as the paper's "no attack" global model is).
StatusOr<Updates> FangTrimmedMeanAttack(const Updates& benign, const std::vector<float>& global,
                                        const std::vector<float>& direction, int64_t num_malicious,
                                        bool full_knowledge, double b, Rng& rng);

// Shejwalkar & Houmansadr 2021 (NDSS), AGR-agnostic min-max / min-sum with
// Algorithm 1's gamma search. mal = mean(benign) - gamma * p, p the
// perturbation: kUnitVec = mean / ||mean||, kStd = coordinate std, kSign =
// sign(mean). Min-max: max_i ||mal - b_i|| <= max_{i,j} ||b_i - b_j||.
// Min-sum: sum_i ||mal - b_i||^2 <= max_i sum_j ||b_i - b_j||^2. gamma
// starts at gamma_init (10 in the authors' code) and is refined by halving
// steps until the change is below tau.
enum class Perturbation { kUnitVec, kStd, kSign };
StatusOr<Perturbation> ParsePerturbation(const std::string& name);  // unit_vec, std, sign
struct MinMaxResult {
  std::vector<float> update;
  double gamma = 0.0;  // The largest gamma found that satisfies the constraint (0: none).
};
StatusOr<MinMaxResult> MinMaxAttack(const Updates& benign, Perturbation p, bool min_sum,
                                    double gamma_init = 10.0, double tau = 1e-5);
// The constraint's two sides, exposed so tests check the search's result:
// {attacker side, benign bound}.
StatusOr<std::pair<double, double>> MinMaxConstraint(const Updates& benign,
                                                     const std::vector<float>& mal, bool min_sum);

}  // namespace confml::attacks
