// Robust aggregation: Krum and its pairwise-distance stage on n = 100 updates
// of d floats (default 100,000; CONFML_BENCH_DIM=1000000 for the issue's
// d = 1M), with 1 and 2 OpenMP threads, beside what the stage is made of:
// a single-thread SGEMM of the same shape (BLAS, i.e. OpenBLAS when it is the
// libblas.so.3 alternative, and Eigen's) and the direct O(n^2 d) double loop.
// At the end it prints the distance stage's GFLOP/s (GEMM-equivalent, 2 n^2 d
// flops per call), its ratio to the single-thread SGEMM (target >= 0.5) and
// its speedup over the direct loop.
// Run: build/NAME/bench/confml_robust_aggregation_bench

#include <benchmark/benchmark.h>
#include <cblas.h>
#include <omp.h>

#include <Eigen/Core>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <string>
#include <vector>

#include "confml/core/seed.h"
#include "confml/defenses/robust_aggregation.h"

namespace {

using namespace confml;

constexpr int64_t kClients = 100;

size_t Dim() {
  const char* env = std::getenv("CONFML_BENCH_DIM");
  return env != nullptr ? static_cast<size_t>(std::atoll(env)) : size_t{100000};
}

struct Data {
  std::vector<ClientUpdate> updates;
  std::vector<const float*> pointers;
  Eigen::MatrixXf matrix;  // d x n, one update per column, for the SGEMM references.
};

const Data& GetData() {
  static const Data* data = [] {
    auto* d = new Data;
    const size_t dim = Dim();
    Rng rng(2024);
    d->matrix.resize(static_cast<Eigen::Index>(dim), kClients);
    for (int64_t c = 0; c < kClients; ++c) {
      ClientUpdate u{c, 100, std::vector<float>(dim)};
      for (size_t i = 0; i < dim; ++i) {
        u.values[i] = static_cast<float>(0.01 * rng.Normal());
        d->matrix(static_cast<Eigen::Index>(i), c) = u.values[i];
      }
      d->updates.push_back(std::move(u));
    }
    for (const ClientUpdate& u : d->updates) d->pointers.push_back(u.values.data());
    return d;
  }();
  return *data;
}

double GemmFlops() { return 2.0 * kClients * kClients * static_cast<double>(Dim()); }

void BM_PairwiseDistances(benchmark::State& state) {
  const Data& data = GetData();
  const int threads = static_cast<int>(state.range(0));
  std::vector<double> dist;
  for (auto _ : state) {
    Status s = defenses::PairwiseSquaredDistances(data.pointers, Dim(), &dist, threads);
    if (!s.ok()) state.SkipWithError(s.ToString().c_str());
    benchmark::DoNotOptimize(dist.data());
  }
  state.counters["GFLOPs"] =
      benchmark::Counter(GemmFlops() * state.iterations() / 1e9, benchmark::Counter::kIsRate);
}
BENCHMARK(BM_PairwiseDistances)
    ->Arg(1)
    ->Arg(2)
    ->ArgName("threads")
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);

void BM_Krum(benchmark::State& state) {
  const Data& data = GetData();
  omp_set_num_threads(static_cast<int>(state.range(0)));
  std::vector<float> out;
  for (auto _ : state) {
    Status s = defenses::AggregateKrum(data.updates, /*f=*/10, &out);
    if (!s.ok()) state.SkipWithError(s.ToString().c_str());
    benchmark::DoNotOptimize(out.data());
  }
  omp_set_num_threads(omp_get_num_procs());
}
BENCHMARK(BM_Krum)->Arg(1)->Arg(2)->ArgName("threads")->UseRealTime()->Unit(
    benchmark::kMillisecond);

// X^T X with X the d x n matrix of updates: the same shape and flops as the
// Gram stage, computed by one BLAS call on one thread.
void BM_BlasSgemmOneThread(benchmark::State& state) {
  const Data& data = GetData();
  omp_set_num_threads(1);  // OpenBLAS-openmp follows the OpenMP thread count.
  std::vector<float> gram(kClients * kClients);
  const int d = static_cast<int>(Dim());
  for (auto _ : state) {
    cblas_sgemm(CblasColMajor, CblasTrans, CblasNoTrans, kClients, kClients, d, 1.0f,
                data.matrix.data(), d, data.matrix.data(), d, 0.0f, gram.data(), kClients);
    benchmark::DoNotOptimize(gram.data());
  }
  omp_set_num_threads(omp_get_num_procs());
  state.counters["GFLOPs"] =
      benchmark::Counter(GemmFlops() * state.iterations() / 1e9, benchmark::Counter::kIsRate);
}
BENCHMARK(BM_BlasSgemmOneThread)->UseRealTime()->Unit(benchmark::kMillisecond);

void BM_EigenSgemmOneThread(benchmark::State& state) {
  const Data& data = GetData();
  Eigen::setNbThreads(1);
  Eigen::MatrixXf gram(kClients, kClients);
  for (auto _ : state) {
    gram.noalias() = data.matrix.transpose() * data.matrix;
    benchmark::DoNotOptimize(gram.data());
  }
  Eigen::setNbThreads(0);
  state.counters["GFLOPs"] =
      benchmark::Counter(GemmFlops() * state.iterations() / 1e9, benchmark::Counter::kIsRate);
}
BENCHMARK(BM_EigenSgemmOneThread)->UseRealTime()->Unit(benchmark::kMillisecond);

void BM_DirectDoubleLoop(benchmark::State& state) {
  const Data& data = GetData();
  std::vector<double> dist;
  for (auto _ : state) {
    defenses::PairwiseSquaredDistancesDirect(data.pointers, Dim(), &dist);
    benchmark::DoNotOptimize(dist.data());
  }
}
BENCHMARK(BM_DirectDoubleLoop)->UseRealTime()->Unit(benchmark::kMillisecond)->Iterations(1);

// Collects per-benchmark wall time (ms) so main can print the ratios.
class RatioReporter : public benchmark::ConsoleReporter {
 public:
  void ReportRuns(const std::vector<Run>& runs) override {
    for (const Run& run : runs) {
      const bool mean = run.run_type == Run::RT_Aggregate && run.aggregate_name == "mean";
      if ((run.run_type == Run::RT_Iteration && run.iterations > 0) || mean) {
        real_[run.run_name.str()] = run.GetAdjustedRealTime();
      }
    }
    ConsoleReporter::ReportRuns(runs);
  }
  double Get(const std::string& name) const {
    for (const auto& [key, value] : real_) {
      if (key.rfind(name, 0) == 0) return value;
    }
    return 0.0;
  }

 private:
  std::map<std::string, double> real_;
};

}  // namespace

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  RatioReporter reporter;
  benchmark::RunSpecifiedBenchmarks(&reporter);
  const double d1 = reporter.Get("BM_PairwiseDistances/threads:1");
  const double d2 = reporter.Get("BM_PairwiseDistances/threads:2");
  const double blas = reporter.Get("BM_BlasSgemmOneThread");
  const double eigen = reporter.Get("BM_EigenSgemmOneThread");
  const double direct = reporter.Get("BM_DirectDoubleLoop");
  std::printf("n=%lld d=%zu\n", static_cast<long long>(kClients), Dim());
  if (d1 > 0) {
    std::printf("distance stage, 1 thread: %.2f GFLOP/s (GEMM-equivalent)\n",
                GemmFlops() / (d1 * 1e6));
  }
  if (d1 > 0 && d2 > 0) std::printf("distance stage, 2 threads: speedup %.2fx over 1\n", d1 / d2);
  if (d1 > 0 && blas > 0) {
    std::printf("ratio to single-thread BLAS SGEMM of the same shape: %.2f (target >= 0.5)\n",
                blas / d1);
  }
  if (d1 > 0 && eigen > 0) {
    std::printf("ratio to single-thread Eigen SGEMM of the same shape: %.2f\n", eigen / d1);
  }
  if (d1 > 0 && direct > 0) {
    std::printf("speedup over the direct O(n^2 d) double loop (1 thread): %.1fx\n", direct / d1);
  }
  benchmark::Shutdown();
  return 0;
}
