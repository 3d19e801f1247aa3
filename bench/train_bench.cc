// Training throughput of the C++ Trainer: small_cnn on Fashion-MNIST, a fixed
// number of Adam steps, samples/s as a counter. bench/train_bench_torch.py
// runs the same model, data, steps and optimizer in Python with PyTorch, and
// bench/compare_train.sh prints the ratio of the two.
//
// BM_TrainPath compares the trainer's two paths on the same steps: micro-
// batches at one intra-op thread each (thread-count invariant, the default)
// against the plain loop (micro_batches 0: one forward/backward per batch at
// the process's LibTorch thread count), and prints their samples/s ratios at
// the end of the run.
//
// Environment (all optional):
//   CONFML_FASHION_DIR     IDX gz files (default /usr/share/datasets/fashion-mnist)
//   CONFML_BENCH_STEPS     timed optimizer steps per iteration (default 200)
//   CONFML_BENCH_BATCH     batch size (default 64)
//   CONFML_BENCH_WARMUP    untimed warm-up steps before timing (default 20)
//   CONFML_BENCH_EPOCHS    when set to E > 0, also registers BM_SmallCnnFashionMnist:
//                          E full epochs on the whole training set with test
//                          accuracy after each (the accuracy check of issue 2).
#include <benchmark/benchmark.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "confml/core/dataset.h"
#include "confml/core/model.h"
#include "confml/core/trainer.h"

namespace confml {
namespace {

int64_t EnvInt(const char* name, int64_t def) {
  const char* v = std::getenv(name);
  return v != nullptr && *v != '\0' ? std::strtoll(v, nullptr, 10) : def;
}

std::string DataDir() {
  const char* v = std::getenv("CONFML_FASHION_DIR");
  return v != nullptr && *v != '\0' ? v : "/usr/share/datasets/fashion-mnist";
}

// Normalised Fashion-MNIST, loaded once. Statistics come from the training set.
struct Data {
  Dataset train;
  Dataset test;
  Status status;
};

const Data& FashionMnist() {
  static const Data data = [] {
    Data d;
    StatusOr<Dataset> train = LoadFashionMnist(DataDir(), Split::kTrain);
    StatusOr<Dataset> test = LoadFashionMnist(DataDir(), Split::kTest);
    if (!train.ok() || !test.ok()) {
      d.status = train.ok() ? test.status() : train.status();
      return d;
    }
    d.train = std::move(*train);
    d.test = std::move(*test);
    Normalization norm = ComputeNormalization(d.train);
    d.status = ApplyNormalization(norm, d.train);
    if (d.status.ok()) d.status = ApplyNormalization(norm, d.test);
    return d;
  }();
  return data;
}

Dataset Head(const Dataset& d, int64_t n) {
  std::vector<int64_t> idx(static_cast<size_t>(std::min(n, d.size())));
  for (size_t i = 0; i < idx.size(); ++i) idx[i] = static_cast<int64_t>(i);
  return d.Subset(idx);
}

TrainOptions SmallCnnOptions(int64_t batch) {
  TrainOptions o;
  o.epochs = 1;
  o.batch_size = batch;
  o.optimizer.name = "adam";
  o.optimizer.lr = 1e-3;
  return o;
}

StatusOr<ModelPtr> NewSmallCnn(uint64_t seed) {
  return CreateModel("small_cnn", {}, {.input_shape = {1, 28, 28}, .num_classes = 10}, Seed(seed));
}

TrainOptions BenchOptions(int64_t batch, int64_t micro_batches) {
  TrainOptions o = SmallCnnOptions(batch);
  o.micro_batches = micro_batches;
  o.replica_factory = [] { return NewSmallCnn(2); };
  return o;
}

// samples/s of every timed iteration, by (threads, micro_batches).
std::map<std::pair<int64_t, int64_t>, std::vector<double>>& Rates() {
  static std::map<std::pair<int64_t, int64_t>, std::vector<double>> rates;
  return rates;
}

// One iteration = `steps` optimizer steps (one epoch over the first
// steps * batch training samples), fresh model each time.
void TrainSteps(benchmark::State& state, int64_t threads, int64_t micro_batches) {
  const Data& data = FashionMnist();
  if (!data.status.ok()) {
    state.SkipWithError(data.status.ToString().c_str());
    return;
  }
  torch::set_num_threads(static_cast<int>(threads));
  const int64_t steps = EnvInt("CONFML_BENCH_STEPS", 200);
  const int64_t batch = EnvInt("CONFML_BENCH_BATCH", 64);
  const int64_t warmup = EnvInt("CONFML_BENCH_WARMUP", 20);
  const Dataset subset = Head(data.train, steps * batch);
  const Trainer trainer(BenchOptions(batch, micro_batches));
  if (warmup > 0) {
    StatusOr<ModelPtr> m = NewSmallCnn(99);
    if (m.ok()) (void)trainer.Fit(**m, Head(data.train, warmup * batch), nullptr, Seed(99));
  }
  int64_t samples = 0;
  uint64_t iteration = 0;
  for (auto _ : state) {
    state.PauseTiming();
    StatusOr<ModelPtr> m = NewSmallCnn(1);
    state.ResumeTiming();
    if (!m.ok()) {
      state.SkipWithError(m.status().ToString().c_str());
      return;
    }
    const auto t0 = std::chrono::steady_clock::now();
    StatusOr<std::vector<EpochMetrics>> h = trainer.Fit(**m, subset, nullptr, Seed(++iteration));
    const double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    if (!h.ok()) {
      state.SkipWithError(h.status().ToString().c_str());
      return;
    }
    samples += subset.size();
    Rates()[{threads, micro_batches}].push_back(static_cast<double>(subset.size()) / seconds);
    state.counters["train_loss"] = h->back().train_loss;
  }
  state.counters["samples_per_second"] =
      benchmark::Counter(static_cast<double>(samples), benchmark::Counter::kIsRate);
  state.counters["steps"] = static_cast<double>(steps);
  state.counters["batch"] = static_cast<double>(batch);
}

// Args: {threads}. The trainer as the runner configures it (default
// micro_batches, replicas); bench/compare_train.sh reads this one.
void BM_TrainSmallCnn(benchmark::State& state) {
  TrainSteps(state, state.range(0), kDefaultMicroBatches);
}
BENCHMARK(BM_TrainSmallCnn)
    ->ArgName("threads")
    ->Arg(1)
    ->Arg(2)
    ->Unit(benchmark::kSecond)
    ->UseRealTime();

// Args: {threads, micro_batches}; micro_batches 0 is the plain intra-op loop.
void BM_TrainPath(benchmark::State& state) { TrainSteps(state, state.range(0), state.range(1)); }
BENCHMARK(BM_TrainPath)
    ->ArgNames({"threads", "micro_batches"})
    ->Args({2, 0})
    ->Args({1, 2})
    ->Args({2, 2})
    ->Args({2, 4})
    ->Args({2, 8})
    ->Args({1, 0})
    ->Unit(benchmark::kSecond)
    ->UseRealTime();

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const size_t h = v.size() / 2;
  return v.size() % 2 == 1 ? v[h] : 0.5 * (v[h - 1] + v[h]);
}

// The ratios the thread-count standard is judged by, from this run's timed
// iterations (medians over iterations and repetitions).
void PrintRatios() {
  const auto& rates = Rates();
  auto rate = [&](int64_t threads, int64_t micro) {
    auto it = rates.find({threads, micro});
    return it == rates.end() || it->second.empty() ? -1.0 : Median(it->second);
  };
  const double plain2 = rate(2, 0);
  if (plain2 <= 0) return;
  std::printf("\nsamples/s relative to the plain loop at 2 threads (%.1f samples/s):\n", plain2);
  for (const auto& [key, v] : rates) {
    if (v.empty()) continue;
    std::printf("  threads %lld, micro_batches %lld%s: %8.1f samples/s, ratio %.3f\n",
                static_cast<long long>(key.first), static_cast<long long>(key.second),
                key.second == 0 ? " (plain)" : "", Median(v), Median(v) / plain2);
  }
}

// Args: {threads}. The full recipe: `epochs` epochs over all 60,000 training
// images, test accuracy after each epoch (printed and as counters).
void BM_SmallCnnFashionMnist(benchmark::State& state, int64_t epochs) {
  const Data& data = FashionMnist();
  if (!data.status.ok()) {
    state.SkipWithError(data.status.ToString().c_str());
    return;
  }
  torch::set_num_threads(static_cast<int>(state.range(0)));
  TrainOptions o = BenchOptions(EnvInt("CONFML_BENCH_BATCH", 64), kDefaultMicroBatches);
  o.epochs = epochs;
  for (auto _ : state) {
    StatusOr<ModelPtr> m = NewSmallCnn(1);
    if (!m.ok()) {
      state.SkipWithError(m.status().ToString().c_str());
      return;
    }
    StatusOr<std::vector<EpochMetrics>> h =
        Trainer(o).Fit(**m, data.train, &data.test, Seed(1), [&](const EpochMetrics& e) {
          std::fprintf(stderr,
                       "epoch %lld: train loss %.4f acc %.4f, test loss %.4f acc %.4f, %.1f s\n",
                       static_cast<long long>(e.epoch), e.train_loss, e.train_accuracy, e.test_loss,
                       e.test_accuracy, e.seconds);
          state.counters["test_acc_" + std::to_string(e.epoch)] = e.test_accuracy;
          state.counters["sec_epoch_" + std::to_string(e.epoch)] = e.seconds;
        });
    if (!h.ok()) {
      state.SkipWithError(h.status().ToString().c_str());
      return;
    }
  }
}

}  // namespace
}  // namespace confml

int main(int argc, char** argv) {
  const int64_t epochs = confml::EnvInt("CONFML_BENCH_EPOCHS", 0);
  if (epochs > 0) {
    benchmark::RegisterBenchmark("BM_SmallCnnFashionMnist", confml::BM_SmallCnnFashionMnist, epochs)
        ->ArgName("threads")
        ->Arg(2)
        ->Iterations(1)
        ->Unit(benchmark::kSecond)
        ->UseRealTime();
  }
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  confml::PrintRatios();
  benchmark::Shutdown();
  return 0;
}
