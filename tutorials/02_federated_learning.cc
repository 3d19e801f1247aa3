// Tutorial 02: federated learning.
//
// Devices keep their data and train locally; the runtime only aggregates the
// model deltas they send (FedAvg, McMahan et al. 2017). This is the flow the
// seed article's FL example runs with two devices and a word model; here ten
// simulated devices share Fashion-MNIST with Dirichlet label skew.
//
// What you learn: the partition (who holds which samples), rounds and client
// sampling, the aggregator as a pluggable component, and why the result does
// not depend on the number of worker threads.
//
//   02_federated_learning [CONFIG.yaml] [key.sub=value ...]
#include <cmath>
#include <cstdio>
#include <string>
#include <vector>

#include "confml/core/aggregator.h"
#include "confml/experiments/config.h"
#include "confml/experiments/runner.h"
#include "tutorial.h"

using namespace confml;
using namespace confml::tutorials;

int main(int argc, char** argv) {
  std::string path = CONFML_TUTORIAL_DIR "/02_federated_learning.yaml";
  std::vector<std::string> overrides;
  ParseConfigArgs(argc, argv, &path, &overrides);

  Banner("Tutorial 02: federated learning");
  Say("In federated learning the data stays on the devices. Each round the runtime samples "
      "some devices, sends them the global model, each trains on its own data and returns the "
      "difference (a delta); the runtime averages the deltas into the next global model.");

  Section("1. Aggregation is a pure function");
  Say("FedAvg weights each delta by its device's sample count. Two devices, one with 30 "
      "samples and one with 10:");
  std::vector<ClientUpdate> updates = {{1, 30, {1.0f, 0.0f}}, {2, 10, {0.0f, 4.0f}}};
  std::vector<float> mean;
  Must(AggregateFedAvg(updates, /*weighted=*/true, &mean), "FedAvg");
  std::printf("  delta(1) = [1, 0], delta(2) = [0, 4]  ->  FedAvg = [%.2f, %.2f]\n", mean[0],
              mean[1]);
  Expect(mean[0] == 0.75f && mean[1] == 1.0f, "the weighted mean is [0.75, 1.00]");
  Say("Robust rules (median, Krum, trimmed mean, ...) and Python classes plug in under other "
      "names in the same registry; tutorial 08 compares them under poisoning.");

  Section("2. Run the federation");
  experiments::ExperimentConfig config =
      Must(experiments::LoadExperimentConfig(path, overrides), "loading " + path);
  std::printf("  %lld devices (partition %s), %lld per round, %lld rounds, aggregator %s\n",
              static_cast<long long>(config.Int("partition", "num_clients")),
              config.section("partition").component.c_str(),
              static_cast<long long>(config.Int("federated", "clients_per_round")),
              static_cast<long long>(config.Int("federated", "rounds")),
              config.section("aggregator").component.c_str());
  experiments::RunOptions options;
  options.progress = experiments::ProgressMode::kNone;
  options.write_run_dir = false;
  experiments::RunResult r = Must(experiments::RunExperiment(config, options), "federated run");
  std::printf("  %-6s %-11s %-10s %-9s\n", "round", "train loss", "test acc", "seconds");
  for (const auto& rr : r.rounds) {
    std::printf("  %-6lld %-11.4f %-10.4f %-9.2f\n", static_cast<long long>(rr.round),
                rr.mean_train_loss, rr.test_accuracy, rr.seconds);
  }
  Expect(r.final_test_accuracy > 0.3,
         "the global model learned (test accuracy " + std::to_string(r.final_test_accuracy) + ")");

  Section("3. Same result with more workers");
  Say("Every device's randomness derives from (seed, round, device id) and deltas are "
      "aggregated in device-id order, so the global model does not depend on how many threads "
      "train the devices. We re-run with one worker and compare the final model's hash.");
  experiments::ExperimentConfig one =
      Must(experiments::LoadExperimentConfig(path,
                                             [&] {
                                               auto o = overrides;
                                               o.push_back("federated.workers=1");
                                               return o;
                                             }()),
           "loading with one worker");
  experiments::RunResult r1 = Must(experiments::RunExperiment(one, options), "one-worker run");
  std::printf("  final model hash, %lld workers: %s\n",
              static_cast<long long>(config.Int("federated", "workers")),
              r.final_state_hash.c_str());
  std::printf("  final model hash, 1 worker:  %s\n", r1.final_state_hash.c_str());
  Expect(r.final_state_hash == r1.final_state_hash, "bitwise identical global models");

  Section("What the runtime saw");
  Say("No raw image left a device, but the runtime saw every delta, and deltas can be "
      "inverted into training images (tutorial 06). Attestation keeps attack code out of the "
      "runtime: tutorials 03 to 05 build that up.");
  return 0;
}
