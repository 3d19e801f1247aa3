// Tutorial 10: seeds, sweeps and error bars.
//
// One run is one draw: the seed picks the data subset, the partition, the
// initial weights, the batch order and the malicious devices, and another
// seed gives other numbers. A result is a mean over seeds with its spread,
// and a difference smaller than that spread is not evidence (Henderson et al.
// 2018 show published comparisons reversing under other seeds; Bouthillier
// et al. 2021 measure how much of a benchmark's variance the seeds carry).
//
// What you learn: that a seed changes the numbers and the same seed repeats
// them exactly whatever the thread count; `confml sweep` (a grid of settings
// x seeds from one file, validated before anything runs); reading its
// summary table as mean ± sd; and where its files are, how to rerun one
// cell, resume a sweep and plot it.
//
//   10_seeds_and_sweeps [CONFIG.yaml] [key.sub=value ...]
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <set>
#include <string>
#include <vector>

#include "confml/core/file_util.h"
#include "confml/experiments/config.h"
#include "confml/experiments/runner.h"
#include "confml/experiments/sweep.h"
#include "tutorial.h"

using namespace confml;
using namespace confml::tutorials;

namespace {

std::string g_path = CONFML_TUTORIAL_DIR "/10_seeds_and_sweeps.yaml";
std::vector<std::string> g_overrides;

experiments::RunResult RunSeed(const std::string& what, const std::vector<std::string>& extra) {
  experiments::RunResult r = RunQuietly(g_path, g_overrides, extra, what);
  std::printf("  %-34s accuracy %.4f  loss %.4f  model %s\n", what.c_str(), r.final_test_accuracy,
              r.final_test_loss, r.final_state_hash.substr(0, 16).c_str());
  return r;
}

// The entries of `dir` (none when it does not exist): what a refused plan
// must leave unchanged.
std::set<std::string> Listing(const std::string& dir) {
  std::set<std::string> out;
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator(dir, ec)) out.insert(e.path().string());
  return out;
}

std::string Joined(const std::vector<std::string>& words) {
  std::string out;
  for (const auto& w : words) out += " " + w;
  return out;
}

// The final test accuracies of one grid cell, one per seed.
std::vector<double> CellAccuracies(const experiments::SweepResult& r, size_t cell) {
  std::vector<double> out;
  for (const auto& row : r.rows) {
    if (row.cell == cell) out.push_back(row.final_test_accuracy);
  }
  return out;
}

std::string MeanSdText(const experiments::MeanSd& m) {
  char buf[64];
  std::snprintf(buf, sizeof(buf), "%.4f ± %.4f", m.mean, m.sd);
  return buf;
}

}  // namespace

int main(int argc, char** argv) {
  ParseConfigArgs(argc, argv, &g_path, &g_overrides);

  Banner("Tutorial 10: seeds, sweeps and error bars");
  Say("Tutorial 08 compared aggregation rules with one run each. Here we ask what one run is "
      "worth. Ten devices share 2000 Fashion-MNIST images (IID) for five rounds; in the attacked "
      "runs two of them flip the sign of their update and double it.");

  experiments::ExperimentConfig base =
      Must(experiments::LoadExperimentConfig(g_path, g_overrides), "loading " + g_path);

  Section("1. One config, two seeds");
  Say("The seed fixes every random choice of a run: which images each device holds, the "
      "initial weights, the batch order, which devices are malicious. Same file, seeds 1 and 2:");
  experiments::RunResult s1 = RunSeed("seed 1", {"experiment.seed=1"});
  experiments::RunResult s2 = RunSeed("seed 2", {"experiment.seed=2"});
  Expect(s1.final_state_hash != s2.final_state_hash,
         "the two seeds train different models (the hashes differ)");
  std::printf("  the two accuracies differ by %.4f: neither is 'the' accuracy of this config\n",
              std::fabs(s1.final_test_accuracy - s2.final_test_accuracy));

  Say("The other half of the rule: the same seed gives the same numbers, bit for bit, whatever "
      "the number of threads. Each device's randomness derives from (seed, round, device id) "
      "and the deltas are summed in device-id order, so a rerun with another experiment.threads "
      "and federated.workers must give the same model:");
  const int64_t threads = base.Int("experiment", "threads");
  const int64_t other = threads == 1 ? 2 : 1;
  experiments::RunResult again =
      RunSeed("seed 1 again, " + std::to_string(other) + " threads/workers",
              {"experiment.seed=1", "experiment.threads=" + std::to_string(other),
               "federated.workers=" + std::to_string(other)});
  Expect(again.final_state_hash == s1.final_state_hash &&
             again.final_test_accuracy == s1.final_test_accuracy &&
             again.final_test_loss == s1.final_test_loss,
         "seed 1 rerun with " + std::to_string(other) + " instead of " + std::to_string(threads) +
             " threads: identical model, accuracy and loss");
  Say("So a difference between two seeds is the experiment's own variance, not noise from the "
      "machine, and any run can be reproduced exactly from its config and seed.");

  Section("2. A sweep: a grid of settings x seeds, checked before it runs");
  Say("The file ends with a `sweep:` section: seeds [1, 2, 3] and a grid over aggregator.name "
      "[fedavg, median] and attack.malicious_fraction [0, 0.2]. `confml sweep FILE` runs every "
      "cell under every seed as an ordinary run. PlanSweep first builds and validates every "
      "run's config, so a bad grid value stops the sweep before anything is written. "
      "A misspelt aggregator given as --grid aggregator.name=fedavg,medain:");
  const std::string out_dir = base.String("experiment", "output_dir");
  const std::set<std::string> before = Listing(out_dir);
  experiments::SweepArgs bad;
  bad.grid.push_back({"aggregator.name", {"fedavg", "medain"}});
  StatusOr<experiments::SweepPlan> refused = experiments::PlanSweep(g_path, g_overrides, bad);
  Expect(!refused.ok() && refused.status().code() == StatusCode::kInvalidArgument,
         "the plan is refused as invalid input (confml sweep exits with 2)");
  std::printf("  the error reads: %s\n", refused.status().message().c_str());
  Expect(refused.status().message().find("medain") != std::string::npos,
         "the message names the bad value");
  Expect(Listing(out_dir) == before, "nothing was written under " + out_dir);

  experiments::SweepPlan plan =
      Must(experiments::PlanSweep(g_path, g_overrides), "planning the sweep");
  std::printf("  the file's sweep: %zu cells x %zu seeds = %zu runs, all valid\n", plan.cells(),
              plan.seeds.size(), plan.runs.size());
  Expect(plan.grid_keys.size() == 2 && plan.cells() == 4 && plan.seeds.size() >= 2,
         "a 2 x 2 grid with at least two seeds");

  Section("3. Run it");
  Say("RunSweep runs the plan cell by cell, seeds inside, into one sweep folder, and rewrites "
      "sweep.csv and summary.md after every finished run.");
  experiments::SweepOptions options;
  options.command_line = {argv[0]};
  options.on_run = [&](const experiments::SweepRun& run, const experiments::SweepRow& row,
                       size_t done, size_t total) {
    std::printf("  %2zu/%zu  cell %zu %-7s fraction %-4s seed %lld  accuracy %.4f\n", done, total,
                run.cell, run.values[0].c_str(), run.values[1].c_str(),
                static_cast<long long>(run.seed), row.final_test_accuracy);
  };
  experiments::SweepResult result = Must(experiments::RunSweep(plan, options), "the sweep");
  Say("summary.md, one row per cell, mean ± sample standard deviation over the seeds:");
  const std::string summary = experiments::SweepSummaryMarkdown(result);
  std::printf("\n%s\n", summary.c_str());

  Section("4. Reading the table");
  Say("A difference between two cells counts here when it is larger than the two cells' "
      "standard deviations added together; smaller than that, other seeds could reverse it. "
      "This is a rule of thumb for three seeds, not a significance test; more seeds shrink the "
      "error of the mean by the square root of their number.");
  // Cells in row-major grid order: fedavg x {0, 0.2}, then median x {0, 0.2}.
  const experiments::MeanSd fedavg_clean = experiments::MeanAndSd(CellAccuracies(result, 0));
  const experiments::MeanSd fedavg_attacked = experiments::MeanAndSd(CellAccuracies(result, 1));
  const experiments::MeanSd median_clean = experiments::MeanAndSd(CellAccuracies(result, 2));
  const experiments::MeanSd median_attacked = experiments::MeanAndSd(CellAccuracies(result, 3));
  std::printf("  fedavg: clean %s, attacked %s\n", MeanSdText(fedavg_clean).c_str(),
              MeanSdText(fedavg_attacked).c_str());
  std::printf("  median: clean %s, attacked %s\n", MeanSdText(median_clean).c_str(),
              MeanSdText(median_attacked).c_str());

  const double fedavg_shift = fedavg_clean.mean - fedavg_attacked.mean;
  const double fedavg_spread = fedavg_clean.sd + fedavg_attacked.sd;
  std::printf("  fedavg loses %.4f under the attack; the spread is %.4f\n", fedavg_shift,
              fedavg_spread);
  Expect(fedavg_shift > fedavg_spread,
         "FedAvg under sign flipping is worse than clean FedAvg by more than the spread: "
         "evidence");

  const double median_shift = median_clean.mean - median_attacked.mean;
  std::printf("  median moves by %.4f under the attack (FedAvg by %.4f)\n", median_shift,
              fedavg_shift);
  Expect(std::fabs(median_shift) < fedavg_shift,
         "the median's shift under the attack is smaller than FedAvg's");

  const double rule_gap = fedavg_clean.mean - median_clean.mean;
  const double rule_spread = fedavg_clean.sd + median_clean.sd;
  std::printf("  without attack, fedavg - median = %+.4f; the spread is %.4f\n", rule_gap,
              rule_spread);
  Expect(std::fabs(rule_gap) < rule_spread,
         "without an attack FedAvg and the median differ by less than the spread: not "
         "evidence either way");
  Say("So this sweep cannot say which rule is better on honest devices, whatever one pair of "
      "runs suggests; it can say that sign flipping costs FedAvg accuracy and the median far "
      "less. The malicious devices and the partition change with the seed, which is part of "
      "the spread: the attack's effect is measured over them too.");

  Section("5. Every row is an ordinary run");
  Say("A run of the sweep is exactly `confml run FILE <the cell's key=value ...> "
      "experiment.seed=S`; the sweep only chooses its folder. We rerun one cell directly:");
  const experiments::SweepRun& probe = plan.runs[plan.seeds.size() + 1];  // fedavg, 0.2, 2nd seed
  const experiments::SweepRow& probe_row = result.rows[plan.seeds.size() + 1];
  std::printf("  confml run %s%s\n", g_path.c_str(), Joined(probe.overrides).c_str());
  experiments::ExperimentConfig direct_config = Must(
      experiments::LoadExperimentConfig(g_path, probe.overrides), "loading the cell's overrides");
  experiments::RunOptions quiet;
  quiet.progress = experiments::ProgressMode::kNone;
  quiet.write_run_dir = false;
  experiments::RunResult direct =
      Must(experiments::RunExperiment(direct_config, quiet), "the direct run");
  std::printf("  sweep row: accuracy %.6f loss %.6f; direct run: accuracy %.6f loss %.6f\n",
              probe_row.final_test_accuracy, probe_row.final_test_loss, direct.final_test_accuracy,
              direct.final_test_loss);
  Expect(direct.final_test_accuracy == probe_row.final_test_accuracy &&
             direct.final_test_loss == probe_row.final_test_loss,
         "the direct run gives the sweep row's accuracy and loss exactly");

  Section("6. The sweep folder");
  std::printf("  %s\n", result.dir.c_str());
  for (const char* f : {"sweep.yaml", "sweep.csv", "summary.md"}) {
    Expect(std::filesystem::is_regular_file(result.dir + "/" + f), std::string(f) + " is there");
  }
  bool all_runs = true;
  for (const auto& row : result.rows) {
    for (const char* f : {"config.yaml", "provenance.json", "fl_rounds.h5"}) {
      all_runs =
          all_runs && std::filesystem::is_regular_file(result.dir + "/" + row.run_dir + "/" + f);
    }
  }
  Expect(all_runs,
         "every row's run folder (config.yaml, provenance.json, fl_rounds.h5) is inside it");
  const std::string csv_text = Must(ReadFileText(result.dir + "/sweep.csv"), "reading sweep.csv");
  std::vector<experiments::SweepRow> csv =
      Must(experiments::ParseSweepCsv(csv_text, result.grid_keys), "parsing sweep.csv");
  bool same = csv.size() == result.rows.size();
  for (size_t i = 0; same && i < csv.size(); ++i) {
    same = csv[i].final_test_accuracy == result.rows[i].final_test_accuracy &&
           csv[i].seed == result.rows[i].seed;
  }
  Expect(same, "sweep.csv holds every run's numbers exactly (17 significant digits)");
  Expect(Must(ReadFileText(result.dir + "/summary.md"), "reading summary.md") == summary,
         "summary.md is the table printed above");

  Say("A sweep that stops midway keeps its finished runs; the same arguments with --resume "
      "run only the missing ones. Resuming this finished sweep runs nothing:");
  experiments::SweepOptions resume;
  resume.resume_dir = result.dir;
  size_t reran = 0;
  resume.on_run = [&](const experiments::SweepRun&, const experiments::SweepRow&, size_t, size_t) {
    ++reran;
  };
  experiments::SweepResult resumed = Must(experiments::RunSweep(plan, resume), "resuming");
  Expect(reran == 0 && resumed.kept == result.rows.size(),
         "every run was kept, none ran again (" + std::to_string(resumed.kept) + " kept)");

  Say("On the command line:");
  std::printf("  confml sweep %s%s                    # this sweep\n", g_path.c_str(),
              Joined(g_overrides).c_str());
  std::printf("  confml sweep %s%s --resume %s   # finish a stopped one\n", g_path.c_str(),
              Joined(g_overrides).c_str(), result.dir.c_str());
  std::printf("  confml sweep %s --jobs 2 --seeds 1,2,3,4,5    # runs in parallel, more seeds\n",
              g_path.c_str());
  std::printf("  confml plot %s --metric final_test_accuracy   # the figure, mean ± sd\n",
              result.dir.c_str());
  Say("--jobs runs that many runs at once as child processes and gives the same rows; it pays "
      "off for runs of a second or more (docs/sweeps.md). The plot draws one line per "
      "aggregator over attack.malicious_fraction with the seeds' sd as error bars. Report such "
      "a figure, not one run.");
  return 0;
}
