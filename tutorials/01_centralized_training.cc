// Tutorial 01: centralized training.
//
// The "traditional ML" flow of the seed article: the runtime (a server)
// receives the devices' data and trains the model itself. This is the
// baseline every later tutorial compares against: the server sees every
// input, so a curious or malicious runtime can keep them.
//
// What you learn: an experiment is one YAML file; every key is declared once
// by its component and checked before anything runs; overrides on the command
// line change a key without editing the file; a run writes a folder with the
// resolved config, provenance and an HDF5 file of per-epoch metrics.
//
//   01_centralized_training [CONFIG.yaml] [key.sub=value ...]
#include <cstdio>
#include <string>
#include <vector>

#include "confml/experiments/config.h"
#include "confml/experiments/runner.h"
#include "tutorial.h"

using namespace confml;
using namespace confml::tutorials;

int main(int argc, char** argv) {
  std::string path = CONFML_TUTORIAL_DIR "/01_centralized_training.yaml";
  std::vector<std::string> overrides;
  ParseConfigArgs(argc, argv, &path, &overrides);

  Banner("Tutorial 01: centralized training");
  Say("In traditional ML a server trains on data that users send it. confml describes such an "
      "experiment in one YAML file: the dataset, the model, the optimizer and the training "
      "loop. We load " +
      path + ".");

  Section("1. Load and validate the config");
  Say("Loading checks every key against the parameters its component declares (type, range, "
      "allowed values) and fills in every default. A typo is an error naming the file, the line "
      "and the nearest valid key, before any training starts.");
  experiments::ExperimentConfig config =
      Must(experiments::LoadExperimentConfig(path, overrides), "loading " + path);
  std::printf("  dataset %s, model %s, optimizer %s, %lld epochs, seed %llu\n",
              config.section("dataset").component.c_str(),
              config.section("model").component.c_str(),
              config.section("optimizer").component.c_str(),
              static_cast<long long>(config.Int("train", "epochs")),
              static_cast<unsigned long long>(config.seed()));
  auto typo = experiments::LoadExperimentConfig(path, {"train.epoch=2"});
  Expect(!typo.ok(), "a misspelled key is refused");
  std::printf("  the error reads: %s\n", typo.status().message().c_str());

  Section("2. Train");
  Say("The run is deterministic: the seed fixes the data subset, the initial weights and the "
      "batch order, so the same config gives the same numbers on every run.");
  experiments::RunOptions options;
  options.progress = experiments::ProgressMode::kNone;
  options.command_line = {argv[0]};
  experiments::RunResult r = Must(experiments::RunExperiment(config, options), "training");
  std::printf("  %-6s %-11s %-10s %-10s %-9s\n", "epoch", "train loss", "train acc", "test acc",
              "seconds");
  for (const auto& e : r.epochs) {
    std::printf("  %-6lld %-11.4f %-10.4f %-10.4f %-9.2f\n", static_cast<long long>(e.epoch),
                e.train_loss, e.train_accuracy, e.test_accuracy, e.seconds);
  }
  std::printf("  %lld training and %lld test samples, %lld model parameters\n",
              static_cast<long long>(r.train_samples), static_cast<long long>(r.test_samples),
              static_cast<long long>(r.model_parameters));
  Expect(r.final_test_accuracy > 0.5, "the model learned (test accuracy " +
                                          std::to_string(r.final_test_accuracy) +
                                          " against 0.10 for a guess over 10 classes)");

  Section("3. The run folder");
  Say("Everything needed to reproduce and to plot the run is in its folder: config.yaml (the "
      "resolved config), provenance.json (version, git commit, seed, build options) and "
      "results.h5. Plot it with `confml plot " +
      r.run_dir +
      "` or, in Python, "
      "confml.plot(run_dir).");
  std::printf("  run folder: %s\n", r.run_dir.c_str());

  Section("What the server saw");
  Say("Every one of the " + std::to_string(r.train_samples) +
      " training images passed through the server. Tutorial 02 keeps the data on the devices; "
      "tutorials 03 to 05 show how a realm and attestation stop the server from keeping what "
      "it must not.");
  return 0;
}
