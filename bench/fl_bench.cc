// fl_bench: the federated engine on Fashion-MNIST, three modes.
//
//   confml_fl_bench accuracy [--rounds 100] [--clients 100] [--alpha 0.5] [--workers 2]
//       FedAvg, Dirichlet(alpha) partition, 10 clients a round, small_cnn:
//       one JSON line per round (test accuracy every round), then a summary.
//   confml_fl_bench speed [--rounds 5] [--clients 100] [--workers 2] [--epochs 1]
//       IID partition, no evaluation: client-updates/s and framework overhead
//       (1 - pure local-training time / workers / wall time). The Python twin
//       is bench/fl_bench_torch.py; bench/compare_fl.sh runs both.
//   confml_fl_bench memory [--clients 1000] [--rounds 3]
//       1000 clients, 10 a round: peak RSS (getrusage ru_maxrss).
// Common: --per-round 10 --batch 32 --lr 0.01 --momentum 0.9 --seed 1
//         --data-dir /usr/share/datasets/fashion-mnist --threads N (at::set_num_threads)
#include <sys/resource.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <map>
#include <string>

#include "confml/core/dataset.h"
#include "confml/core/federated.h"
#include "confml/core/partition.h"

namespace {

using namespace confml;

double PeakRssMiB() {
  struct rusage ru {};
  getrusage(RUSAGE_SELF, &ru);
  return static_cast<double>(ru.ru_maxrss) / 1024.0;  // Linux reports KiB.
}

// JSON has no NaN: unevaluated accuracies print as null.
std::string Num(double v, int digits = 4) {
  if (!std::isfinite(v)) return "null";
  char buf[64];
  std::snprintf(buf, sizeof(buf), "%.*f", digits, v);
  return buf;
}

int Fail(const Status& s) {
  std::cerr << "fl_bench: " << s << "\n";
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::cerr << "usage: confml_fl_bench accuracy|speed|memory [--key value ...]\n";
    return 2;
  }
  const std::string mode = argv[1];
  std::map<std::string, std::string> args;
  for (int i = 2; i + 1 < argc; i += 2) {
    std::string k = argv[i];
    if (k.rfind("--", 0) != 0) {
      std::cerr << "fl_bench: expected --key, got " << k << "\n";
      return 2;
    }
    args[k.substr(2)] = argv[i + 1];
  }
  auto get = [&](const std::string& k, const std::string& def) {
    auto it = args.find(k);
    return it == args.end() ? def : it->second;
  };
  auto geti = [&](const std::string& k, int64_t def) {
    return std::stoll(get(k, std::to_string(def)));
  };
  auto getd = [&](const std::string& k, double def) {
    return std::stod(get(k, std::to_string(def)));
  };

  const bool accuracy = mode == "accuracy", speed = mode == "speed", memory = mode == "memory";
  if (!accuracy && !speed && !memory) {
    std::cerr << "fl_bench: unknown mode " << mode << "\n";
    return 2;
  }
  if (args.count("threads")) at::set_num_threads(static_cast<int>(geti("threads", 1)));

  const auto t_load = std::chrono::steady_clock::now();
  const std::string dir = get("data-dir", "/usr/share/datasets/fashion-mnist");
  StatusOr<Dataset> train = LoadFashionMnist(dir, Split::kTrain);
  if (!train.ok()) return Fail(train.status());
  StatusOr<Dataset> test = LoadFashionMnist(dir, Split::kTest);
  if (!test.ok()) return Fail(test.status());
  const Normalization norm = ComputeNormalization(*train);
  if (Status s = ApplyNormalization(norm, *train); !s.ok()) return Fail(s);
  if (Status s = ApplyNormalization(norm, *test); !s.ok()) return Fail(s);
  const double load_seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t_load).count();

  const Seed seed(static_cast<uint64_t>(geti("seed", 1)));
  const int64_t clients = geti("clients", memory ? 1000 : 100);
  StatusOr<Partition> partition =
      accuracy || memory ? PartitionDirichlet(train->labels, 10, clients, getd("alpha", 0.5),
                                              seed.Child("partition"))
                         : PartitionIid(train->labels, clients, seed.Child("partition"));
  if (!partition.ok()) return Fail(partition.status());

  FederatedOptions opt;
  opt.rounds = geti("rounds", accuracy ? 100 : (speed ? 5 : 3));
  opt.clients_per_round = geti("per-round", 10);
  opt.local_epochs = geti("epochs", accuracy ? 2 : 1);
  opt.local_batch_size = geti("batch", 32);
  opt.optimizer.name = "sgd";
  opt.optimizer.lr = getd("lr", 0.01);
  opt.optimizer.momentum = getd("momentum", 0.9);
  opt.workers = geti("workers", 2);
  opt.eval_every = accuracy ? 1 : 0;
  opt.checkpoint_path = get("checkpoint", "");

  FederatedSetup setup;
  setup.model = get("model", "small_cnn");
  setup.train = &*train;
  setup.test = speed ? nullptr : &*test;
  setup.partition = std::move(*partition);
  setup.seed = seed;
  StatusOr<std::unique_ptr<FederatedEngine>> engine =
      FederatedEngine::Create(opt, std::move(setup));
  if (!engine.ok()) return Fail(engine.status());

  const auto t0 = std::chrono::steady_clock::now();
  double wall = 0.0, train_seconds = 0.0, round_seconds = 0.0;
  StatusOr<FederatedResult> result = (*engine)->Run([&](const RoundMetrics& m) {
    wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    train_seconds += m.train_seconds;
    round_seconds += m.seconds;
    std::printf(
        "{\"round\": %lld, \"test_accuracy\": %s, \"test_loss\": %s, \"train_loss\": %s, "
        "\"clients\": %lld, \"bytes_up\": %lld, \"bytes_down\": %lld, \"seconds\": %.3f, "
        "\"train_seconds\": %.3f, \"elapsed\": %.1f}\n",
        static_cast<long long>(m.round), Num(m.test_accuracy).c_str(), Num(m.test_loss).c_str(),
        Num(m.mean_train_loss).c_str(), static_cast<long long>(m.clients_sampled),
        static_cast<long long>(m.bytes_up), static_cast<long long>(m.bytes_down), m.seconds,
        m.train_seconds, wall);
    std::fflush(stdout);
  });
  if (!result.ok()) return Fail(result.status());
  wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  const int64_t rounds_run =
      static_cast<int64_t>(result->rounds.size()) - result->resumed_from_round;
  const double updates = static_cast<double>(rounds_run * opt.clients_per_round);
  const double overhead = 1.0 - train_seconds / static_cast<double>(opt.workers) / round_seconds;
  std::printf(
      "{\"summary\": \"%s\", \"rounds\": %lld, \"clients\": %lld, \"per_round\": %lld, "
      "\"workers\": %lld, \"local_epochs\": %lld, \"batch\": %lld, \"wall_seconds\": %.3f, "
      "\"load_seconds\": %.3f, \"client_updates_per_s\": %.4f, \"framework_overhead\": %.4f, "
      "\"final_test_accuracy\": %s, \"state_size\": %lld, \"peak_rss_mib\": %.1f, "
      "\"final_state_hash\": \"%s\"}\n",
      mode.c_str(), static_cast<long long>(rounds_run), static_cast<long long>(clients),
      static_cast<long long>(opt.clients_per_round), static_cast<long long>(opt.workers),
      static_cast<long long>(opt.local_epochs), static_cast<long long>(opt.local_batch_size), wall,
      load_seconds, updates / wall, overhead, Num(result->final_test_accuracy).c_str(),
      static_cast<long long>(result->state_size), PeakRssMiB(), result->final_state_hash.c_str());
  return 0;
}
