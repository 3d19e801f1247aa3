// Training throughput of the C++ Trainer: small_cnn on Fashion-MNIST, a fixed
// number of Adam steps, samples/s as a counter. bench/train_bench_torch.py
// runs the same model, data, steps and optimizer in Python with PyTorch, and
// bench/compare_train.sh prints the ratio of the two.
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

#include <cstdio>
#include <cstdlib>
#include <string>

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

// Args: {threads}. One iteration = `steps` optimizer steps (one epoch over the
// first steps * batch training samples), fresh model each time.
void BM_TrainSmallCnn(benchmark::State& state) {
  const Data& data = FashionMnist();
  if (!data.status.ok()) {
    state.SkipWithError(data.status.ToString().c_str());
    return;
  }
  torch::set_num_threads(static_cast<int>(state.range(0)));
  const int64_t steps = EnvInt("CONFML_BENCH_STEPS", 200);
  const int64_t batch = EnvInt("CONFML_BENCH_BATCH", 64);
  const int64_t warmup = EnvInt("CONFML_BENCH_WARMUP", 20);
  const Dataset subset = Head(data.train, steps * batch);
  const Trainer trainer(SmallCnnOptions(batch));
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
    StatusOr<std::vector<EpochMetrics>> h = trainer.Fit(**m, subset, nullptr, Seed(++iteration));
    if (!h.ok()) {
      state.SkipWithError(h.status().ToString().c_str());
      return;
    }
    samples += subset.size();
    state.counters["train_loss"] = h->back().train_loss;
  }
  state.counters["samples_per_second"] = benchmark::Counter(static_cast<double>(samples),
                                                            benchmark::Counter::kIsRate);
  state.counters["steps"] = static_cast<double>(steps);
  state.counters["batch"] = static_cast<double>(batch);
}
BENCHMARK(BM_TrainSmallCnn)->ArgName("threads")->Arg(1)->Arg(2)->Unit(benchmark::kSecond)->UseRealTime();

// Args: {threads}. The full recipe: `epochs` epochs over all 60,000 training
// images, test accuracy after each epoch (printed and as counters).
void BM_SmallCnnFashionMnist(benchmark::State& state, int64_t epochs) {
  const Data& data = FashionMnist();
  if (!data.status.ok()) {
    state.SkipWithError(data.status.ToString().c_str());
    return;
  }
  torch::set_num_threads(static_cast<int>(state.range(0)));
  TrainOptions o = SmallCnnOptions(EnvInt("CONFML_BENCH_BATCH", 64));
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
  benchmark::Shutdown();
  return 0;
}
