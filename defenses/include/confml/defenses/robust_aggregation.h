// confml/defenses/robust_aggregation.h: Byzantine-robust aggregation rules.
//
// Each rule is a pure function over the round's client updates (Flower's
// aggregate.py pattern), testable alone, and also an Aggregator registered
// by name in AggregatorRegistry() with its parameters declared once:
// median, trimmed_mean, krum, multi_krum, bulyan, geometric_median,
// norm_clipping, centered_clipping, fltrust, flame. docs/aggregators.md
// cites the paper and algorithm behind each one.
//
//   std::vector<ClientUpdate> updates = ...;   // ascending client id
//   AggregationReport report;
//   std::vector<float> out;
//   Status s = AggregateKrum(updates, /*f=*/2, &out, &report);
//   // report.selected_clients == {id of the chosen update}
//
//   CONFML_RETURN_IF_ERROR(RegisterRobustAggregators());
//   StatusOr<AggregatorPtr> agg = CreateAggregator("bulyan", {{"f", int64_t{1}}});
//
// Rules shared by every kernel:
// - An update holding NaN or +-Inf anywhere is rejected before the rule
//   runs: it appears in report->rejected as (client id, "non-finite value
//   nan at index 12") and contributes nothing to the output. The rule's size
//   requirement (e.g. Krum's n > 2f+2) is then checked on the n updates that
//   remain; too few is InvalidArgument naming the rule, n and f.
// - `report` may be null. Kernels append to it (they never clear it), and
//   every kernel that chooses between clients fills selected_clients.
// - Ties are broken towards the lowest client id (Krum scores, Bulyan's
//   iterative selection) or the lowest input index (FLAME's spanning tree;
//   the engine passes ascending client ids); per-coordinate ties do not
//   matter because equal values are interchangeable.
// - Results do not depend on the OpenMP thread count: every parallel loop
//   either owns disjoint outputs or writes partial sums to fixed blocks that
//   are added in block order afterwards.
// - Kernels report errors as Status (only std::bad_alloc can escape); they
//   are thread-compatible (no shared state).
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "confml/core/aggregator.h"
#include "confml/core/seed.h"
#include "confml/core/status.h"

namespace confml::defenses {

// ---------------------------------------------------------------------------
// Building blocks.

// Squared Euclidean distances between every pair of the `n` vectors of size
// `dim` (row-major n x n into *out, exact zeros on the diagonal). Computed as
// |a|^2 + |b|^2 - 2 a.b from a Gram matrix built with Eigen SYRK on column
// blocks of 2048 coordinates, accumulated in double; negative results of
// cancellation are clamped to 0. `num_threads` <= 0 uses OpenMP's default.
// The blocks are grouped into fixed super-blocks of 16384 coordinates whose
// partial Gram matrices are summed in ascending order, so the result is
// bitwise identical for every thread count.
Status PairwiseSquaredDistances(const std::vector<const float*>& vectors, size_t dim,
                                std::vector<double>* out, int num_threads = 0);
// The same over updates (no non-finite filtering; sizes are validated).
Status PairwiseSquaredDistances(const std::vector<ClientUpdate>& updates, std::vector<double>* out,
                                int num_threads = 0);
// Reference: the direct O(n^2 dim) double loop, sum of (a_i - b_i)^2 in
// double. For tests and the benchmark's speedup figure.
void PairwiseSquaredDistancesDirect(const std::vector<const float*>& vectors, size_t dim,
                                    std::vector<double>* out);

// Krum scores (Blanchard et al. 2017): for each of the n vectors,
// the sum of its squared distances to its n-f-2 nearest other vectors
// (clamped to >= 0 neighbours), from a row-major n x n distance matrix.
std::vector<double> KrumScores(const std::vector<double>& sq_dist, int64_t n, int64_t f);

// HDBSCAN (Campello et al. 2013) as FLAME uses it: min_cluster_size n/2+1,
// the given min_samples, allow_single_cluster, over a row-major n x n
// distance matrix. Returns the indices (ascending) of the majority cluster.
// Because no two clusters of n/2+1 points can coexist, the condensed tree
// has the root as its only cluster; its members are the points that stay in
// it until it dissolves (the hdbscan library's labelling for a selected
// root: fall-out lambda equal to the root's largest). See docs/aggregators.md.
std::vector<int64_t> HdbscanMajorityCluster(const std::vector<double>& dist, int64_t n,
                                            int64_t min_samples);

// ---------------------------------------------------------------------------
// Kernels. Each writes the aggregated delta to *out (resized to the update
// size). InvalidArgument for invalid updates (see ValidateUpdates), for no
// finite update left, or for too few updates for the rule.

// Coordinate-wise median (Yin et al. 2018, Def. 1); for even n the mean of
// the two middle values, as numpy.median.
Status AggregateMedian(const std::vector<ClientUpdate>& updates, std::vector<float>* out,
                       AggregationReport* report = nullptr);

// Coordinate-wise trimmed mean (Yin et al. 2018, Def. 2): per coordinate,
// drop the k = floor(beta n) smallest and k largest values and average the
// rest. 0 <= beta <= 0.5; needs n - 2k >= 1.
Status AggregateTrimmedMean(const std::vector<ClientUpdate>& updates, double beta,
                            std::vector<float>* out, AggregationReport* report = nullptr);

// Krum: the single update with the lowest Krum score. Needs n > 2f + 2.
Status AggregateKrum(const std::vector<ClientUpdate>& updates, int64_t f, std::vector<float>* out,
                     AggregationReport* report = nullptr);

// Multi-Krum: the unweighted mean of the m updates with the lowest Krum
// scores (scores computed once). m <= 0 means n - f. Needs n > 2f + 2 and
// m <= n.
Status AggregateMultiKrum(const std::vector<ClientUpdate>& updates, int64_t f, int64_t m,
                          std::vector<float>* out, AggregationReport* report = nullptr);

// Bulyan (El Mhamdi et al. 2018): select theta = n - 2f updates by
// repeated Krum on the remaining set, then per coordinate average the
// beta = theta - 2f selected values closest to their median. Needs
// n >= 4f + 3.
Status AggregateBulyan(const std::vector<ClientUpdate>& updates, int64_t f, std::vector<float>* out,
                       AggregationReport* report = nullptr);

struct GeometricMedianOptions {
  double nu = 1e-6;         // Smoothing: distances below nu count as nu. > 0.
  int64_t max_iters = 10;   // Weiszfeld iterations at most. >= 1.
  double tolerance = 1e-6;  // Stop when the objective improves by less (relative). >= 0.
  bool weighted = true;     // alpha_i proportional to num_samples; else uniform.
};
// Smoothed Weiszfeld for the (weighted) geometric median, RFA (Pillutla et
// al. 2022), started at the weighted mean. *iterations (if not
// null) receives the number of iterations run.
Status AggregateGeometricMedian(const std::vector<ClientUpdate>& updates,
                                const GeometricMedianOptions& options, std::vector<float>* out,
                                AggregationReport* report = nullptr, int64_t* iterations = nullptr);

// Each update scaled to norm at most tau, then their mean (weighted by
// num_samples when `weighted`); Sun et al. 2019. tau > 0.
Status AggregateNormClipping(const std::vector<ClientUpdate>& updates, double tau, bool weighted,
                             std::vector<float>* out, AggregationReport* report = nullptr);

// Centered clipping (Karimireddy et al. 2021): starting at
// *center, `iterations` times v <- v + (1/n) sum_i (x_i - v) min(1, tau/|x_i - v|).
// *center is the input start (empty means zeros) and receives the result;
// *out receives it too.
Status AggregateCenteredClipping(const std::vector<ClientUpdate>& updates, double tau,
                                 int64_t iterations, std::vector<float>* center,
                                 std::vector<float>* out, AggregationReport* report = nullptr);

// FLTrust (Cao et al. NDSS 2021): trust score
// TS_i = ReLU(cos(g_i, g_0)) against the server update g_0; each g_i is
// rescaled to |g_0|; the output is sum TS_i g_i' / sum TS_i, or zeros when
// every score is 0 (no update is trusted). Clients with score 0 are
// rejected. *trust_scores (if not null) gets one score per input update (0
// for rejected ones). InvalidArgument if the server update has another size
// or a non-finite value.
Status AggregateFlTrust(const std::vector<ClientUpdate>& updates,
                        const std::vector<float>& server_update, std::vector<float>* out,
                        AggregationReport* report = nullptr,
                        std::vector<double>* trust_scores = nullptr);

struct FlameOptions {
  // Noise level factor: sigma = lambda * S_t (S_t = median update norm).
  // Used when epsilon == 0. >= 0; 0 adds no noise.
  double lambda = 0.001;
  // When > 0, lambda = sqrt(2 ln(1.25/delta)) / epsilon (Gaussian mechanism).
  double epsilon = 0.0;
  double delta = 0.001;     // In (0, 1).
  int64_t min_samples = 1;  // HDBSCAN min_samples. >= 1.
  // Cluster the local models (global + delta, as the paper) rather than the deltas.
  bool cluster_models = true;
};
// FLAME (Nguyen et al. USENIX Security 2022, Alg. 1): HDBSCAN on cosine
// distances keeps the majority cluster, admitted updates are clipped to the
// median norm S_t of all updates, averaged, and Gaussian noise N(0,
// (lambda S_t)^2) from `seed` is added. `global` is the global state before
// the round (needed when cluster_models; FailedPrecondition if null then).
Status AggregateFlame(const std::vector<ClientUpdate>& updates, const std::vector<float>* global,
                      const FlameOptions& options, const Seed& seed, std::vector<float>* out,
                      AggregationReport* report = nullptr);

// Registers every rule above in AggregatorRegistry() (kind "aggregator").
// Idempotent and thread-safe; returns the first call's status (AlreadyExists
// if another component took one of the names).
Status RegisterRobustAggregators();

}  // namespace confml::defenses
