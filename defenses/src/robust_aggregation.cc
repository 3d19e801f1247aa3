// Robust aggregation kernels: pure functions over the round's updates.
#include "confml/defenses/robust_aggregation.h"

#include <omp.h>

#include <Eigen/Core>
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <limits>
#include <numeric>
#include <string>
#include <string_view>
#include <tuple>
#include <vector>

namespace confml::defenses {
namespace {

// Column block of one SGEMM/SYRK call: 2048 x n floats stay in L2 for n ~ 100.
constexpr size_t kBlock = 2048;
// Partial Gram matrices are summed per super-block of this many coordinates,
// and super-blocks are added to the total in ascending order. Both sizes are
// constants, not functions of the thread count, which is what makes the
// result independent of it.
constexpr size_t kSuperBlock = 16384;
// Super-blocks computed in parallel before being folded into the total:
// bounds the partial buffers to kWave * n^2 doubles.
constexpr int64_t kWave = 8;

int ThreadCount(int requested) { return requested > 0 ? requested : omp_get_max_threads(); }

// Below this many floats touched, a parallel region costs more than it saves
// (and on a loaded machine, spinning OpenMP threads cost far more).
bool Par(size_t work) { return work >= (size_t{1} << 16); }

std::string DescribeNonFinite(float v) {
  if (std::isnan(v)) return "nan";
  return v > 0 ? "+inf" : "-inf";
}

std::string Num(double v) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.6g", v);
  return buf;
}

// Validates sizes, then drops every update with a NaN or Inf, recording why
// in the report. The kept pointers keep the input order.
Status FilterFinite(const std::vector<ClientUpdate>& updates, std::string_view rule,
                    AggregationReport* report, std::vector<const ClientUpdate*>* kept,
                    size_t* dim) {
  Status s = ValidateUpdates(updates, dim);
  if (!s.ok()) return s.WithContext(rule);
  const int64_t n = static_cast<int64_t>(updates.size());
  std::vector<int64_t> first_bad(n, -1);
#pragma omp parallel for schedule(dynamic, 1) if (Par(updates.size() * *dim))
  for (int64_t c = 0; c < n; ++c) {
    const std::vector<float>& v = updates[c].values;
    for (size_t i = 0; i < v.size(); ++i) {
      if (!std::isfinite(v[i])) {
        first_bad[c] = static_cast<int64_t>(i);
        break;
      }
    }
  }
  kept->clear();
  for (int64_t c = 0; c < n; ++c) {
    if (first_bad[c] < 0) {
      kept->push_back(&updates[c]);
    } else if (report != nullptr) {
      report->rejected.emplace_back(updates[c].client_id,
                                    "non-finite value " +
                                        DescribeNonFinite(updates[c].values[first_bad[c]]) +
                                        " at index " + std::to_string(first_bad[c]));
    }
  }
  if (kept->empty()) {
    return InvalidArgumentError(std::string(rule) + ": all " + std::to_string(n) +
                                " updates hold non-finite values; nothing left to aggregate");
  }
  return OkStatus();
}

std::string RejectedNote(size_t total, size_t kept) {
  if (total == kept) return "";
  return " (after rejecting " + std::to_string(total - kept) + " non-finite)";
}

void SelectAll(const std::vector<const ClientUpdate*>& kept, AggregationReport* report) {
  if (report == nullptr) return;
  for (const ClientUpdate* u : kept) report->selected_clients.push_back(u->client_id);
}

std::vector<const float*> Pointers(const std::vector<const ClientUpdate*>& kept) {
  std::vector<const float*> p;
  p.reserve(kept.size());
  for (const ClientUpdate* u : kept) p.push_back(u->values.data());
  return p;
}

// n x n Gram matrix (row-major, double) of the vectors; see
// PairwiseSquaredDistances for the blocking and why it is deterministic.
void GramMatrix(const std::vector<const float*>& vecs, size_t dim, std::vector<double>* gram,
                int num_threads) {
  const int64_t n = static_cast<int64_t>(vecs.size());
  gram->assign(static_cast<size_t>(n * n), 0.0);
  if (n == 0 || dim == 0) return;
  const int64_t num_super = static_cast<int64_t>((dim + kSuperBlock - 1) / kSuperBlock);
  const int threads = static_cast<int>(
      std::max<int64_t>(1, std::min({int64_t{ThreadCount(num_threads)}, kWave, num_super})));
  // Everything a thread touches is allocated here, outside the parallel
  // region, so nothing can throw inside it.
  std::vector<Eigen::MatrixXf> block(threads, Eigen::MatrixXf(kBlock, n));
  std::vector<Eigen::MatrixXf> block_gram(threads, Eigen::MatrixXf(n, n));
  std::vector<Eigen::MatrixXd> partial(kWave, Eigen::MatrixXd(n, n));
  Eigen::MatrixXd total = Eigen::MatrixXd::Zero(n, n);
  for (int64_t wave_start = 0; wave_start < num_super; wave_start += kWave) {
    const int64_t wave_size = std::min<int64_t>(kWave, num_super - wave_start);
#pragma omp parallel for schedule(static, 1) num_threads(threads)
    for (int64_t w = 0; w < wave_size; ++w) {
      const int t = omp_get_thread_num();
      Eigen::MatrixXd& acc = partial[w];
      acc.setZero();
      const size_t super_begin = static_cast<size_t>(wave_start + w) * kSuperBlock;
      const size_t super_end = std::min(dim, super_begin + kSuperBlock);
      for (size_t start = super_begin; start < super_end; start += kBlock) {
        const size_t rows = std::min(kBlock, super_end - start);
        for (int64_t c = 0; c < n; ++c) {
          std::memcpy(block[t].col(c).data(), vecs[c] + start, rows * sizeof(float));
        }
        auto m = block[t].topRows(static_cast<Eigen::Index>(rows));
        // SYRK: only the lower triangle, half the flops of a full GEMM.
        block_gram[t].setZero();
        block_gram[t].selfadjointView<Eigen::Lower>().rankUpdate(m.transpose());
        acc.triangularView<Eigen::Lower>() += block_gram[t].cast<double>();
      }
    }
    for (int64_t w = 0; w < wave_size; ++w) total.triangularView<Eigen::Lower>() += partial[w];
  }
  for (int64_t i = 0; i < n; ++i) {
    for (int64_t j = 0; j <= i; ++j) {
      (*gram)[i * n + j] = total(i, j);
      (*gram)[j * n + i] = total(i, j);
    }
  }
}

void DistancesFromGram(const std::vector<double>& gram, int64_t n, std::vector<double>* out) {
  out->assign(static_cast<size_t>(n * n), 0.0);
  for (int64_t i = 0; i < n; ++i) {
    for (int64_t j = 0; j < n; ++j) {
      if (i == j) continue;
      const double d = gram[i * n + i] + gram[j * n + j] - 2.0 * gram[i * n + j];
      (*out)[i * n + j] = d > 0.0 ? d : 0.0;  // Cancellation may leave tiny negatives.
    }
  }
}

// Euclidean norms in double, each summed in coordinate order by one thread.
std::vector<double> Norms(const std::vector<const float*>& vecs, size_t dim) {
  const int64_t n = static_cast<int64_t>(vecs.size());
  std::vector<double> norms(n, 0.0);
#pragma omp parallel for schedule(dynamic, 1) if (Par(vecs.size() * dim))
  for (int64_t c = 0; c < n; ++c) {
    double s = 0.0;
    for (size_t i = 0; i < dim; ++i) s += static_cast<double>(vecs[c][i]) * vecs[c][i];
    norms[c] = std::sqrt(s);
  }
  return norms;
}

// out[i] = sum_c coef[c] * vecs[c][i], summed in client order.
void LinearCombination(const std::vector<const float*>& vecs, const std::vector<double>& coef,
                       size_t dim, std::vector<float>* out) {
  out->assign(dim, 0.0f);
  const int64_t d = static_cast<int64_t>(dim);
  const size_t n = vecs.size();
#pragma omp parallel for schedule(static) if (Par(n * dim))
  for (int64_t i = 0; i < d; ++i) {
    double s = 0.0;
    for (size_t c = 0; c < n; ++c) s += coef[c] * static_cast<double>(vecs[c][i]);
    (*out)[i] = static_cast<float>(s);
  }
}

// Per-coordinate statistic over the kept updates: fn(values, n) with a
// scratch buffer of n floats per thread, allocated before the region.
template <typename Fn>
void PerCoordinate(const std::vector<const float*>& vecs, size_t dim, std::vector<float>* out,
                   Fn fn) {
  const int64_t n = static_cast<int64_t>(vecs.size());
  const int threads = omp_get_max_threads();
  std::vector<float> scratch(static_cast<size_t>(n) * threads);
  out->assign(dim, 0.0f);
  const int64_t d = static_cast<int64_t>(dim);
#pragma omp parallel num_threads(threads) if (Par(static_cast <size_t>(n) * dim))
  {
    float* buf = scratch.data() + static_cast<size_t>(n) * omp_get_thread_num();
#pragma omp for schedule(static)
    for (int64_t i = 0; i < d; ++i) {
      for (int64_t c = 0; c < n; ++c) buf[c] = vecs[c][i];
      (*out)[i] = fn(buf, n);
    }
  }
}

float MedianOf(float* buf, int64_t n) {
  const int64_t mid = n / 2;
  std::nth_element(buf, buf + mid, buf + n);
  if (n % 2 == 1) return buf[mid];
  const float lower = *std::max_element(buf, buf + mid);
  return static_cast<float>(0.5 * (static_cast<double>(lower) + buf[mid]));
}

std::string RuleSizeError(std::string_view rule, std::string_view requirement, size_t n, int64_t f,
                          size_t total) {
  return std::string(rule) + " needs " + std::string(requirement) + ", got n=" + std::to_string(n) +
         RejectedNote(total, n) + " with f=" + std::to_string(f);
}

// Indices 0..n-1 ordered by (score, client id): the documented tie rule.
std::vector<int64_t> RankByScore(const std::vector<double>& scores,
                                 const std::vector<const ClientUpdate*>& kept) {
  std::vector<int64_t> order(scores.size());
  std::iota(order.begin(), order.end(), 0);
  std::sort(order.begin(), order.end(), [&](int64_t a, int64_t b) {
    if (scores[a] != scores[b]) return scores[a] < scores[b];
    return kept[a]->client_id < kept[b]->client_id;
  });
  return order;
}

}  // namespace

// ---------------------------------------------------------------------------
// Building blocks.

Status PairwiseSquaredDistances(const std::vector<const float*>& vectors, size_t dim,
                                std::vector<double>* out, int num_threads) {
  for (size_t i = 0; i < vectors.size(); ++i) {
    if (vectors[i] == nullptr && dim > 0) {
      return InvalidArgumentError("pairwise distances: vector " + std::to_string(i) + " is null");
    }
  }
  std::vector<double> gram;
  GramMatrix(vectors, dim, &gram, num_threads);
  DistancesFromGram(gram, static_cast<int64_t>(vectors.size()), out);
  return OkStatus();
}

Status PairwiseSquaredDistances(const std::vector<ClientUpdate>& updates, std::vector<double>* out,
                                int num_threads) {
  size_t dim = 0;
  CONFML_RETURN_IF_ERROR(ValidateUpdates(updates, &dim));
  std::vector<const float*> p;
  p.reserve(updates.size());
  for (const ClientUpdate& u : updates) p.push_back(u.values.data());
  return PairwiseSquaredDistances(p, dim, out, num_threads);
}

void PairwiseSquaredDistancesDirect(const std::vector<const float*>& vectors, size_t dim,
                                    std::vector<double>* out) {
  const size_t n = vectors.size();
  out->assign(n * n, 0.0);
  for (size_t i = 0; i < n; ++i) {
    for (size_t j = i + 1; j < n; ++j) {
      double s = 0.0;
      for (size_t k = 0; k < dim; ++k) {
        const double diff = static_cast<double>(vectors[i][k]) - vectors[j][k];
        s += diff * diff;
      }
      (*out)[i * n + j] = s;
      (*out)[j * n + i] = s;
    }
  }
}

std::vector<double> KrumScores(const std::vector<double>& sq_dist, int64_t n, int64_t f) {
  const int64_t k = std::max<int64_t>(0, n - f - 2);
  std::vector<double> scores(n, 0.0);
  std::vector<double> row;
  for (int64_t i = 0; i < n; ++i) {
    row.clear();
    for (int64_t j = 0; j < n; ++j) {
      if (j != i) row.push_back(sq_dist[i * n + j]);
    }
    const int64_t take = std::min<int64_t>(k, static_cast<int64_t>(row.size()));
    std::partial_sort(row.begin(), row.begin() + take, row.end());
    double s = 0.0;
    for (int64_t j = 0; j < take; ++j) s += row[j];  // Ascending: a fixed order.
    scores[i] = s;
  }
  return scores;
}

std::vector<int64_t> HdbscanMajorityCluster(const std::vector<double>& dist, int64_t n,
                                            int64_t min_samples) {
  if (n <= 0) return {};
  if (n == 1) return {0};
  // Core distance: distance to the min_samples-th nearest point, the point
  // itself counted first (the hdbscan library's convention), so
  // min_samples = 1 gives core distance 0 and plain distances below.
  std::vector<double> core(n, 0.0);
  if (min_samples > 1) {
    std::vector<double> row(n);
    for (int64_t i = 0; i < n; ++i) {
      for (int64_t j = 0; j < n; ++j) row[j] = i == j ? 0.0 : dist[i * n + j];
      std::sort(row.begin(), row.end());
      core[i] = row[std::min<int64_t>(min_samples - 1, n - 1)];
    }
  }
  auto reach = [&](int64_t a, int64_t b) { return std::max({core[a], core[b], dist[a * n + b]}); };
  // Prim's minimum spanning tree of the mutual-reachability graph (dense,
  // O(n^2)); equal keys go to the lowest index.
  std::vector<char> in_tree(n, 0);
  std::vector<double> best(n, std::numeric_limits<double>::infinity());
  std::vector<int64_t> from(n, 0);
  in_tree[0] = 1;
  for (int64_t j = 1; j < n; ++j) best[j] = reach(0, j);
  std::vector<std::tuple<double, int64_t, int64_t>> edges;
  for (int64_t step = 1; step < n; ++step) {
    int64_t next = -1;
    for (int64_t j = 0; j < n; ++j) {
      if (!in_tree[j] && (next < 0 || best[j] < best[next])) next = j;
    }
    edges.emplace_back(best[next], std::min(from[next], next), std::max(from[next], next));
    in_tree[next] = 1;
    for (int64_t j = 0; j < n; ++j) {
      if (!in_tree[j] && reach(next, j) < best[j]) {
        best[j] = reach(next, j);
        from[j] = next;
      }
    }
  }
  std::sort(edges.begin(), edges.end());
  // Single-linkage dendrogram: leaves 0..n-1, merges n..2n-2.
  const int64_t nodes = 2 * n - 1;
  std::vector<int64_t> uf(nodes), left(nodes, -1), right(nodes, -1), size(nodes, 1);
  std::vector<double> height(nodes, 0.0);
  std::iota(uf.begin(), uf.end(), 0);
  auto find = [&](int64_t x) {
    while (uf[x] != x) x = uf[x] = uf[uf[x]];
    return x;
  };
  int64_t next_node = n;
  for (const auto& [w, a, b] : edges) {
    const int64_t ra = find(a), rb = find(b);
    left[next_node] = ra;
    right[next_node] = rb;
    size[next_node] = size[ra] + size[rb];
    height[next_node] = w;
    uf[ra] = uf[rb] = next_node;
    ++next_node;
  }
  // Condensed tree with min_cluster_size n/2+1: walking down from the root,
  // a child smaller than that falls out of the cluster at lambda = 1/height;
  // when both children are smaller, the whole cluster dissolves there.
  const int64_t min_cluster_size = n / 2 + 1;
  std::vector<double> fall_out(n, 0.0);
  auto drop = [&](int64_t node, double lambda) {
    std::vector<int64_t> stack{node};
    while (!stack.empty()) {
      const int64_t x = stack.back();
      stack.pop_back();
      if (x < n) {
        fall_out[x] = lambda;
      } else {
        stack.push_back(left[x]);
        stack.push_back(right[x]);
      }
    }
  };
  int64_t node = nodes - 1;
  while (node >= n) {
    const double lambda =
        height[node] > 0.0 ? 1.0 / height[node] : std::numeric_limits<double>::infinity();
    const int64_t big = size[left[node]] >= size[right[node]] ? left[node] : right[node];
    const int64_t small = big == left[node] ? right[node] : left[node];
    if (size[big] >= min_cluster_size) {
      drop(small, lambda);
      node = big;
    } else {
      drop(node, lambda);
      break;
    }
  }
  const double top = *std::max_element(fall_out.begin(), fall_out.end());
  std::vector<int64_t> members;
  for (int64_t i = 0; i < n; ++i) {
    if (fall_out[i] >= top) members.push_back(i);
  }
  return members;
}

// ---------------------------------------------------------------------------
// Kernels.

Status AggregateMedian(const std::vector<ClientUpdate>& updates, std::vector<float>* out,
                       AggregationReport* report) {
  std::vector<const ClientUpdate*> kept;
  size_t dim = 0;
  CONFML_RETURN_IF_ERROR(FilterFinite(updates, "median", report, &kept, &dim));
  PerCoordinate(Pointers(kept), dim, out, MedianOf);
  SelectAll(kept, report);
  return OkStatus();
}

Status AggregateTrimmedMean(const std::vector<ClientUpdate>& updates, double beta,
                            std::vector<float>* out, AggregationReport* report) {
  if (!(beta >= 0.0 && beta <= 0.5)) {
    return InvalidArgumentError("trimmed_mean: beta must be in [0, 0.5], got " + Num(beta));
  }
  std::vector<const ClientUpdate*> kept;
  size_t dim = 0;
  CONFML_RETURN_IF_ERROR(FilterFinite(updates, "trimmed_mean", report, &kept, &dim));
  const int64_t n = static_cast<int64_t>(kept.size());
  const int64_t k = static_cast<int64_t>(std::floor(beta * static_cast<double>(n)));
  if (n - 2 * k < 1) {
    return InvalidArgumentError("trimmed_mean with beta=" + Num(beta) + " trims 2*" +
                                std::to_string(k) + " of n=" + std::to_string(n) +
                                RejectedNote(updates.size(), kept.size()) +
                                " updates, leaving none");
  }
  PerCoordinate(Pointers(kept), dim, out, [k](float* buf, int64_t m) {
    std::sort(buf, buf + m);
    double s = 0.0;
    for (int64_t i = k; i < m - k; ++i) s += buf[i];
    return static_cast<float>(s / static_cast<double>(m - 2 * k));
  });
  SelectAll(kept, report);
  return OkStatus();
}

namespace {

Status MultiKrumImpl(const std::vector<ClientUpdate>& updates, int64_t f, int64_t m,
                     std::string_view rule, std::vector<float>* out, AggregationReport* report) {
  if (f < 0)
    return InvalidArgumentError(std::string(rule) + ": f must be >= 0, got " + std::to_string(f));
  std::vector<const ClientUpdate*> kept;
  size_t dim = 0;
  CONFML_RETURN_IF_ERROR(FilterFinite(updates, rule, report, &kept, &dim));
  const int64_t n = static_cast<int64_t>(kept.size());
  if (n <= 2 * f + 2) {
    return InvalidArgumentError(
        RuleSizeError(rule, "n > 2f+2 updates", kept.size(), f, updates.size()));
  }
  if (m <= 0) m = n - f;
  if (m > n) {
    return InvalidArgumentError(std::string(rule) + ": m=" + std::to_string(m) +
                                " selections from only n=" + std::to_string(n) + " updates");
  }
  const std::vector<const float*> vecs = Pointers(kept);
  std::vector<double> dist;
  CONFML_RETURN_IF_ERROR(PairwiseSquaredDistances(vecs, dim, &dist));
  const std::vector<double> scores = KrumScores(dist, n, f);
  const std::vector<int64_t> order = RankByScore(scores, kept);
  std::vector<int64_t> chosen(order.begin(), order.begin() + m);
  std::sort(chosen.begin(), chosen.end());  // Average in input order.
  std::vector<const float*> sel;
  sel.reserve(chosen.size());
  for (int64_t c : chosen) sel.push_back(vecs[c]);
  LinearCombination(sel, std::vector<double>(m, 1.0 / static_cast<double>(m)), dim, out);
  if (report != nullptr) {
    for (int64_t c : chosen) report->selected_clients.push_back(kept[c]->client_id);
    for (int64_t r = m; r < n; ++r) {
      const int64_t c = order[r];
      report->rejected.emplace_back(kept[c]->client_id,
                                    "not among the " + std::to_string(m) + " " + std::string(rule) +
                                        " selections (score " + Num(scores[c]) + ", rank " +
                                        std::to_string(r + 1) + " of " + std::to_string(n) + ")");
    }
  }
  return OkStatus();
}

}  // namespace

Status AggregateKrum(const std::vector<ClientUpdate>& updates, int64_t f, std::vector<float>* out,
                     AggregationReport* report) {
  return MultiKrumImpl(updates, f, 1, "krum", out, report);
}

Status AggregateMultiKrum(const std::vector<ClientUpdate>& updates, int64_t f, int64_t m,
                          std::vector<float>* out, AggregationReport* report) {
  return MultiKrumImpl(updates, f, m, "multi_krum", out, report);
}

Status AggregateBulyan(const std::vector<ClientUpdate>& updates, int64_t f, std::vector<float>* out,
                       AggregationReport* report) {
  if (f < 0) return InvalidArgumentError("bulyan: f must be >= 0, got " + std::to_string(f));
  std::vector<const ClientUpdate*> kept;
  size_t dim = 0;
  CONFML_RETURN_IF_ERROR(FilterFinite(updates, "bulyan", report, &kept, &dim));
  const int64_t n = static_cast<int64_t>(kept.size());
  if (n < 4 * f + 3) {
    return InvalidArgumentError(
        RuleSizeError("bulyan", "n >= 4f+3 updates", kept.size(), f, updates.size()));
  }
  const std::vector<const float*> vecs = Pointers(kept);
  std::vector<double> dist;
  CONFML_RETURN_IF_ERROR(PairwiseSquaredDistances(vecs, dim, &dist));
  // Selection: theta rounds of Krum on the remaining set, each removing its
  // winner (El Mhamdi et al. 2018). Distances are computed
  // once; only the neighbour sets shrink.
  const int64_t theta = n - 2 * f;
  std::vector<int64_t> remaining(n);
  std::iota(remaining.begin(), remaining.end(), 0);
  std::vector<int64_t> selected;
  std::vector<double> row;
  while (static_cast<int64_t>(selected.size()) < theta) {
    const int64_t r = static_cast<int64_t>(remaining.size());
    const int64_t k = std::max<int64_t>(0, r - f - 2);
    int64_t best = -1;
    double best_score = 0.0;
    for (int64_t a = 0; a < r; ++a) {
      row.clear();
      for (int64_t b = 0; b < r; ++b) {
        if (a != b) row.push_back(dist[remaining[a] * n + remaining[b]]);
      }
      const int64_t take = std::min<int64_t>(k, static_cast<int64_t>(row.size()));
      std::partial_sort(row.begin(), row.begin() + take, row.end());
      double s = 0.0;
      for (int64_t j = 0; j < take; ++j) s += row[j];
      const int64_t c = remaining[a];
      if (best < 0 || s < best_score ||
          (s == best_score && kept[c]->client_id < kept[best]->client_id)) {
        best = c;
        best_score = s;
      }
    }
    selected.push_back(best);
    remaining.erase(std::find(remaining.begin(), remaining.end(), best));
  }
  std::sort(selected.begin(), selected.end());
  // Aggregation: per coordinate, the mean of the beta values closest to the
  // median of the theta selected ones (step 2). Sorted values make the beta
  // closest a contiguous window, grown outwards from the median; at equal
  // distance the smaller value is taken first.
  const int64_t beta = theta - 2 * f;
  std::vector<const float*> sel;
  sel.reserve(selected.size());
  for (int64_t c : selected) sel.push_back(vecs[c]);
  PerCoordinate(sel, dim, out, [beta](float* buf, int64_t m) {
    std::sort(buf, buf + m);
    const double med =
        m % 2 == 1 ? buf[m / 2] : 0.5 * (static_cast<double>(buf[m / 2 - 1]) + buf[m / 2]);
    int64_t lo = m % 2 == 1 ? m / 2 : m / 2 - 1;
    int64_t hi = lo + 1;
    double s = 0.0;
    for (int64_t taken = 0; taken < beta; ++taken) {
      const bool take_lo =
          hi >= m || (lo >= 0 && std::abs(buf[lo] - med) <= std::abs(buf[hi] - med));
      s += take_lo ? buf[lo--] : buf[hi++];
    }
    return static_cast<float>(s / static_cast<double>(beta));
  });
  if (report != nullptr) {
    for (int64_t c : selected) report->selected_clients.push_back(kept[c]->client_id);
    for (int64_t c : remaining) {
      report->rejected.emplace_back(kept[c]->client_id, "not among the " + std::to_string(theta) +
                                                            " bulyan selections (repeated Krum)");
    }
  }
  return OkStatus();
}

Status AggregateGeometricMedian(const std::vector<ClientUpdate>& updates,
                                const GeometricMedianOptions& options, std::vector<float>* out,
                                AggregationReport* report, int64_t* iterations) {
  if (!(options.nu > 0.0) || options.max_iters < 1 || !(options.tolerance >= 0.0)) {
    return InvalidArgumentError(
        "geometric_median: needs nu > 0, max_iters >= 1, tolerance >= 0; got nu=" +
        Num(options.nu) + ", max_iters=" + std::to_string(options.max_iters) +
        ", tolerance=" + Num(options.tolerance));
  }
  std::vector<const ClientUpdate*> kept;
  size_t dim = 0;
  CONFML_RETURN_IF_ERROR(FilterFinite(updates, "geometric_median", report, &kept, &dim));
  const int64_t n = static_cast<int64_t>(kept.size());
  std::vector<double> alpha(n, 1.0 / static_cast<double>(n));
  if (options.weighted) {
    double total = 0.0;
    for (const ClientUpdate* u : kept) total += static_cast<double>(u->num_samples);
    if (total <= 0.0) {
      return InvalidArgumentError("weighted geometric_median over " + std::to_string(n) +
                                  " updates that all have zero samples");
    }
    for (int64_t c = 0; c < n; ++c) alpha[c] = static_cast<double>(kept[c]->num_samples) / total;
  }
  const std::vector<const float*> vecs = Pointers(kept);
  const int64_t d = static_cast<int64_t>(dim);
  std::vector<double> v(dim, 0.0);
#pragma omp parallel for schedule(static) if (Par(static_cast <size_t>(n) * dim))
  for (int64_t i = 0; i < d; ++i) {
    double s = 0.0;
    for (int64_t c = 0; c < n; ++c) s += alpha[c] * vecs[c][i];
    v[i] = s;
  }
  std::vector<double> dists(n);
  auto objective = [&]() {
#pragma omp parallel for schedule(dynamic, 1) if (Par(static_cast <size_t>(n) * dim))
    for (int64_t c = 0; c < n; ++c) {
      double s = 0.0;
      for (int64_t i = 0; i < d; ++i) {
        const double diff = v[i] - vecs[c][i];
        s += diff * diff;
      }
      dists[c] = std::sqrt(s);
    }
    double g = 0.0;
    for (int64_t c = 0; c < n; ++c) g += alpha[c] * dists[c];
    return g;
  };
  double g = objective();
  int64_t iters = 0;
  std::vector<double> beta(n);
  while (iters < options.max_iters) {
    double beta_sum = 0.0;
    for (int64_t c = 0; c < n; ++c) {
      beta[c] = alpha[c] / std::max(options.nu, dists[c]);
      beta_sum += beta[c];
    }
    for (int64_t c = 0; c < n; ++c) beta[c] /= beta_sum;
#pragma omp parallel for schedule(static) if (Par(static_cast <size_t>(n) * dim))
    for (int64_t i = 0; i < d; ++i) {
      double s = 0.0;
      for (int64_t c = 0; c < n; ++c) s += beta[c] * vecs[c][i];
      v[i] = s;
    }
    ++iters;
    const double g_new = objective();
    const bool converged = std::abs(g - g_new) <= options.tolerance * g_new;
    g = g_new;
    if (converged) break;
  }
  out->resize(dim);
  for (size_t i = 0; i < dim; ++i) (*out)[i] = static_cast<float>(v[i]);
  if (iterations != nullptr) *iterations = iters;
  SelectAll(kept, report);
  return OkStatus();
}

Status AggregateNormClipping(const std::vector<ClientUpdate>& updates, double tau, bool weighted,
                             std::vector<float>* out, AggregationReport* report) {
  if (!(tau > 0.0)) return InvalidArgumentError("norm_clipping: tau must be > 0, got " + Num(tau));
  std::vector<const ClientUpdate*> kept;
  size_t dim = 0;
  CONFML_RETURN_IF_ERROR(FilterFinite(updates, "norm_clipping", report, &kept, &dim));
  const int64_t n = static_cast<int64_t>(kept.size());
  double total = 0.0;
  for (const ClientUpdate* u : kept) total += weighted ? static_cast<double>(u->num_samples) : 1.0;
  if (total <= 0.0) {
    return InvalidArgumentError("weighted norm_clipping over " + std::to_string(n) +
                                " updates that all have zero samples");
  }
  const std::vector<const float*> vecs = Pointers(kept);
  const std::vector<double> norms = Norms(vecs, dim);
  std::vector<double> coef(n);
  for (int64_t c = 0; c < n; ++c) {
    const double w = (weighted ? static_cast<double>(kept[c]->num_samples) : 1.0) / total;
    coef[c] = w * (norms[c] > tau ? tau / norms[c] : 1.0);
  }
  LinearCombination(vecs, coef, dim, out);
  SelectAll(kept, report);
  return OkStatus();
}

Status AggregateCenteredClipping(const std::vector<ClientUpdate>& updates, double tau,
                                 int64_t iterations, std::vector<float>* center,
                                 std::vector<float>* out, AggregationReport* report) {
  if (!(tau > 0.0) || iterations < 1) {
    return InvalidArgumentError("centered_clipping: needs tau > 0 and iterations >= 1, got tau=" +
                                Num(tau) + ", iterations=" + std::to_string(iterations));
  }
  std::vector<const ClientUpdate*> kept;
  size_t dim = 0;
  CONFML_RETURN_IF_ERROR(FilterFinite(updates, "centered_clipping", report, &kept, &dim));
  if (!center->empty() && center->size() != dim) {
    return InvalidArgumentError("centered_clipping: the center holds " +
                                std::to_string(center->size()) + " values but the updates hold " +
                                std::to_string(dim));
  }
  const int64_t n = static_cast<int64_t>(kept.size());
  const int64_t d = static_cast<int64_t>(dim);
  const std::vector<const float*> vecs = Pointers(kept);
  std::vector<double> v(dim, 0.0);
  for (size_t i = 0; i < center->size(); ++i) v[i] = (*center)[i];
  std::vector<double> scale(n);
  for (int64_t l = 0; l < iterations; ++l) {
#pragma omp parallel for schedule(dynamic, 1) if (Par(static_cast <size_t>(n) * dim))
    for (int64_t c = 0; c < n; ++c) {
      double s = 0.0;
      for (int64_t i = 0; i < d; ++i) {
        const double diff = vecs[c][i] - v[i];
        s += diff * diff;
      }
      const double norm = std::sqrt(s);
      scale[c] = (norm > tau ? tau / norm : 1.0) / static_cast<double>(n);
    }
#pragma omp parallel for schedule(static) if (Par(static_cast <size_t>(n) * dim))
    for (int64_t i = 0; i < d; ++i) {
      double s = 0.0;
      for (int64_t c = 0; c < n; ++c) s += scale[c] * (vecs[c][i] - v[i]);
      v[i] += s;
    }
  }
  out->resize(dim);
  for (size_t i = 0; i < dim; ++i) (*out)[i] = static_cast<float>(v[i]);
  *center = *out;
  SelectAll(kept, report);
  return OkStatus();
}

Status AggregateFlTrust(const std::vector<ClientUpdate>& updates,
                        const std::vector<float>& server_update, std::vector<float>* out,
                        AggregationReport* report, std::vector<double>* trust_scores) {
  std::vector<const ClientUpdate*> kept;
  size_t dim = 0;
  CONFML_RETURN_IF_ERROR(FilterFinite(updates, "fltrust", report, &kept, &dim));
  if (server_update.size() != dim) {
    return InvalidArgumentError("fltrust: the server update holds " +
                                std::to_string(server_update.size()) +
                                " values but the client updates hold " + std::to_string(dim));
  }
  for (size_t i = 0; i < dim; ++i) {
    if (!std::isfinite(server_update[i])) {
      return InvalidArgumentError("fltrust: the server update holds a non-finite value " +
                                  DescribeNonFinite(server_update[i]) + " at index " +
                                  std::to_string(i));
    }
  }
  const int64_t n = static_cast<int64_t>(kept.size());
  const std::vector<const float*> vecs = Pointers(kept);
  const std::vector<double> norms = Norms(vecs, dim);
  const double server_norm = Norms({server_update.data()}, dim)[0];
  std::vector<double> dots(n, 0.0), score(n, 0.0), cosine(n, 0.0);
#pragma omp parallel for schedule(dynamic, 1) if (Par(static_cast <size_t>(n) * dim))
  for (int64_t c = 0; c < n; ++c) {
    double s = 0.0;
    for (size_t i = 0; i < dim; ++i) s += static_cast<double>(vecs[c][i]) * server_update[i];
    dots[c] = s;
  }
  double score_sum = 0.0;
  for (int64_t c = 0; c < n; ++c) {
    if (norms[c] > 0.0 && server_norm > 0.0) {
      cosine[c] = dots[c] / (norms[c] * server_norm);
      score[c] = std::max(0.0, cosine[c]);  // ReLU
    }
    score_sum += score[c];
  }
  std::vector<double> coef(n, 0.0);
  if (score_sum > 0.0) {
    for (int64_t c = 0; c < n; ++c) {
      if (score[c] > 0.0) coef[c] = score[c] * (server_norm / norms[c]) / score_sum;
    }
  }
  LinearCombination(vecs, coef, dim, out);
  if (trust_scores != nullptr) {
    trust_scores->assign(updates.size(), 0.0);
    size_t k = 0;
    for (size_t u = 0; u < updates.size() && k < kept.size(); ++u) {
      if (&updates[u] == kept[k]) (*trust_scores)[u] = score[k++];
    }
  }
  if (report != nullptr) {
    for (int64_t c = 0; c < n; ++c) {
      if (score[c] > 0.0) {
        report->selected_clients.push_back(kept[c]->client_id);
      } else if (norms[c] == 0.0 || server_norm == 0.0) {
        report->rejected.emplace_back(kept[c]->client_id,
                                      "fltrust trust score 0: zero-norm update or server update");
      } else {
        report->rejected.emplace_back(
            kept[c]->client_id,
            "fltrust trust score 0: cosine " + Num(cosine[c]) + " with the server update");
      }
    }
  }
  return OkStatus();
}

Status AggregateFlame(const std::vector<ClientUpdate>& updates, const std::vector<float>* global,
                      const FlameOptions& options, const Seed& seed, std::vector<float>* out,
                      AggregationReport* report) {
  if (!(options.lambda >= 0.0) || !(options.epsilon >= 0.0) ||
      !(options.delta > 0.0 && options.delta < 1.0) || options.min_samples < 1) {
    return InvalidArgumentError(
        "flame: needs lambda >= 0, epsilon >= 0, 0 < delta < 1, min_samples >= 1; got lambda=" +
        Num(options.lambda) + ", epsilon=" + Num(options.epsilon) +
        ", delta=" + Num(options.delta) + ", min_samples=" + std::to_string(options.min_samples));
  }
  std::vector<const ClientUpdate*> kept;
  size_t dim = 0;
  CONFML_RETURN_IF_ERROR(FilterFinite(updates, "flame", report, &kept, &dim));
  if (options.cluster_models) {
    if (global == nullptr) {
      return FailedPreconditionError(
          "flame: cluster_models=true needs the global model, which the "
          "aggregation context does not carry");
    }
    if (global->size() != dim) {
      return InvalidArgumentError("flame: the global model holds " +
                                  std::to_string(global->size()) + " values but the updates hold " +
                                  std::to_string(dim));
    }
  }
  const int64_t n = static_cast<int64_t>(kept.size());
  std::vector<const float*> vecs = Pointers(kept);
  // Gram matrix of the deltas, with the global model as an extra last row
  // when clustering models: <G+a, G+b> = |G|^2 + <G,a> + <G,b> + <a,b>, so
  // the local models are never materialised.
  std::vector<const float*> gram_vecs = vecs;
  if (options.cluster_models) gram_vecs.push_back(global->data());
  const int64_t m = static_cast<int64_t>(gram_vecs.size());
  std::vector<double> gram;
  GramMatrix(gram_vecs, dim, &gram, 0);
  auto inner = [&](int64_t a, int64_t b) {
    double s = gram[a * m + b];
    if (options.cluster_models) s += gram[n * m + n] + gram[n * m + a] + gram[n * m + b];
    return s;
  };
  std::vector<double> cos_dist(static_cast<size_t>(n * n), 0.0);
  for (int64_t a = 0; a < n; ++a) {
    for (int64_t b = 0; b < n; ++b) {
      if (a == b) continue;
      const double na = inner(a, a), nb = inner(b, b);
      // A zero vector has no direction: treat it as orthogonal to everything.
      double cd = 1.0;
      if (na > 0.0 && nb > 0.0) cd = 1.0 - inner(a, b) / std::sqrt(na * nb);
      cos_dist[a * n + b] = std::clamp(cd, 0.0, 2.0);
    }
  }
  const std::vector<int64_t> admitted = HdbscanMajorityCluster(cos_dist, n, options.min_samples);
  // Clipping bound S_t: median Euclidean distance between the global model
  // and the local models, i.e. the median delta norm over all n updates.
  std::vector<double> norms(n);
  for (int64_t c = 0; c < n; ++c) norms[c] = std::sqrt(std::max(0.0, gram[c * m + c]));
  std::vector<double> sorted = norms;
  std::sort(sorted.begin(), sorted.end());
  const double s_t = n % 2 == 1 ? sorted[n / 2] : 0.5 * (sorted[n / 2 - 1] + sorted[n / 2]);
  std::vector<const float*> sel;
  std::vector<double> coef;
  const double inv_l = 1.0 / static_cast<double>(admitted.size());
  for (int64_t c : admitted) {
    sel.push_back(vecs[c]);
    coef.push_back(inv_l * (norms[c] > s_t ? s_t / norms[c] : 1.0));
  }
  LinearCombination(sel, coef, dim, out);
  const double lambda = options.epsilon > 0.0
                            ? std::sqrt(2.0 * std::log(1.25 / options.delta)) / options.epsilon
                            : options.lambda;
  const double sigma = lambda * s_t;
  if (sigma > 0.0) {
    Rng rng = seed.Child("flame_noise").MakeRng();
    for (size_t i = 0; i < dim; ++i) (*out)[i] += static_cast<float>(sigma * rng.Normal());
  }
  if (report != nullptr) {
    std::vector<char> in(n, 0);
    for (int64_t c : admitted) {
      in[c] = 1;
      report->selected_clients.push_back(kept[c]->client_id);
    }
    for (int64_t c = 0; c < n; ++c) {
      if (!in[c]) {
        report->rejected.emplace_back(kept[c]->client_id,
                                      "outside flame's majority cluster (HDBSCAN, cosine distance, "
                                      "min_cluster_size " +
                                          std::to_string(n / 2 + 1) + ")");
      }
    }
  }
  return OkStatus();
}

}  // namespace confml::defenses
