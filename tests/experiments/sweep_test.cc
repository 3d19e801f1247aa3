// confml sweep in process: planning (grid x seeds, validation before any
// run), the tables (mean ± sd against a hand computation, sweep.csv round
// trip), runs equal to direct runs of the same overrides, and --resume.
// With jobs > 1 (child processes of the confml binary): the same rows as
// jobs 1, a failed child stops new runs and keeps the finished ones, each
// way a child can fail, and the worker result file.
#include "confml/experiments/sweep.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <ostream>
#include <sstream>

#include "confml/core/file_util.h"
#include "confml/experiments/runner.h"
#include "test_util.h"

namespace confml::experiments {
namespace {

using testing::TempDir;

// Federated averaging on tiny Gaussian blobs: a run takes well under a second.
constexpr char kTinyFederated[] = R"(experiment:
  name: tiny_sweep
  seed: 7
  threads: 1
  kind: federated
dataset: {name: synthetic, num_samples: 240, num_features: 8, num_classes: 3}
model: {name: mlp, hidden: [8]}
optimizer: {name: sgd, lr: 0.05}
federated: {rounds: 2, clients_per_round: 2, local_epochs: 1, batch_size: 16, workers: 1}
partition: {name: iid, num_clients: 4}
aggregator: {name: fedavg}
)";

std::string WriteConfig(const TempDir& dir, const std::string& sweep) {
  const std::string path = dir.File("tiny.yaml");
  std::ofstream(path) << kTinyFederated << sweep;
  return path;
}

TEST(SweepPlanTest, GridTimesSeedsInRowMajorOrder) {
  TempDir dir;
  const std::string path =
      WriteConfig(dir,
                  "sweep:\n  seeds: [1, 2, 3]\n  grid:\n    aggregator.name: [fedavg, median]\n"
                  "    optimizer.lr: [0.1, 0.2]\n");
  StatusOr<SweepPlan> plan = PlanSweep(path, {"federated.rounds=1"});
  ASSERT_TRUE(plan.ok()) << plan.status();
  ASSERT_EQ(plan->runs.size(), 12u);
  EXPECT_EQ(plan->cells(), 4u);
  EXPECT_EQ(plan->grid_keys, (std::vector<std::string>{"aggregator.name", "optimizer.lr"}));
  // Cell 1 is fedavg with the second lr; seeds vary fastest.
  const SweepRun& run = plan->runs[4];
  EXPECT_EQ(run.cell, 1u);
  EXPECT_EQ(run.seed, 2);
  EXPECT_EQ(run.values, (std::vector<std::string>{"fedavg", "0.2"}));
  EXPECT_EQ(run.config.seed(), 2u);
  EXPECT_EQ(run.config.section("aggregator").component, "fedavg");
  EXPECT_DOUBLE_EQ(run.config.Double("optimizer", "lr"), 0.2);
  EXPECT_EQ(run.config.Int("federated", "rounds"), 1);  // base overrides reach every run
  EXPECT_FALSE(run.config.sweep.has_value());
  EXPECT_EQ(plan->runs[11].values, (std::vector<std::string>{"median", "0.2"}));
  EXPECT_EQ(plan->runs[11].seed, 3);
}

TEST(SweepPlanTest, CommandLineReplacesSeedsAndAddsOrReplacesGridKeys) {
  TempDir dir;
  const std::string path =
      WriteConfig(dir, "sweep:\n  seeds: [1, 2]\n  grid: {aggregator.name: [fedavg, median]}\n");
  SweepArgs args;
  args.seeds = std::vector<int64_t>{5};
  args.grid = {{"aggregator.name", {"trimmed_mean"}}, {"model.hidden", {"[4]", "[4, 4]"}}};
  StatusOr<SweepPlan> plan = PlanSweep(path, {}, args);
  ASSERT_TRUE(plan.ok()) << plan.status();
  ASSERT_EQ(plan->runs.size(), 2u);
  EXPECT_EQ(plan->runs[1].values, (std::vector<std::string>{"trimmed_mean", "[4, 4]"}));
  EXPECT_EQ(plan->runs[1].seed, 5);
  EXPECT_EQ(plan->runs[1].config.section("aggregator").component, "trimmed_mean");
}

TEST(SweepPlanTest, NoSeedsMeansTheConfigSeed) {
  TempDir dir;
  const std::string path = WriteConfig(dir, "sweep: {grid: {optimizer.lr: [0.1, 0.2, 0.3]}}\n");
  StatusOr<SweepPlan> plan = PlanSweep(path, {"experiment.seed=9"});
  ASSERT_TRUE(plan.ok()) << plan.status();
  EXPECT_EQ(plan->seeds, (std::vector<int64_t>{9}));
  EXPECT_EQ(plan->runs.size(), 3u);
}

struct BadSweep {
  std::string name, sweep, expect;
};

// Names the case in test listings (ctest) instead of dumping its bytes.
void PrintTo(const BadSweep& c, std::ostream* os) { *os << c.name; }

class BadSweepTest : public ::testing::TestWithParam<BadSweep> {};

TEST_P(BadSweepTest, InvalidArgumentNamingTheProblem) {
  TempDir dir;
  const std::string path = WriteConfig(dir, GetParam().sweep);
  StatusOr<SweepPlan> plan = PlanSweep(path, {});
  ASSERT_FALSE(plan.ok());
  EXPECT_EQ(plan.status().code(), StatusCode::kInvalidArgument) << plan.status();
  EXPECT_NE(plan.status().message().find(GetParam().expect), std::string::npos)
      << plan.status().message();
}

INSTANTIATE_TEST_SUITE_P(
    Corpus, BadSweepTest,
    ::testing::Values(
        BadSweep{"bad_key", "sweep: {grid: {aggregator.nam: [fedavg]}}\n", "aggregator.nam"},
        BadSweep{"bad_value", "sweep: {grid: {aggregator.name: [fedavg, medain]}}\n",
                 "aggregator.name=medain"},
        BadSweep{"bad_value_range", "sweep: {grid: {optimizer.lr: [0.1, -1]}}\n",
                 "optimizer.lr=-1"},
        BadSweep{"empty_grid", "sweep: {grid: {}}\n", "sweep.grid: expected a non-empty"},
        BadSweep{"empty_values", "sweep: {grid: {optimizer.lr: []}}\n",
                 "sweep.grid.optimizer.lr: expected a non-empty list"},
        BadSweep{"duplicate_seeds", "sweep: {seeds: [1, 2, 1]}\n", "seed 1 is listed twice"},
        BadSweep{"negative_seed", "sweep: {seeds: [-1]}\n", "'-1' is not a seed"},
        BadSweep{"seed_in_grid", "sweep: {grid: {experiment.seed: [1, 2]}}\n", "sweep.seeds"},
        BadSweep{"unknown_sweep_key", "sweep: {seed: [1]}\n", "sweep.seed: unknown key"},
        BadSweep{"empty_sweep", "sweep: {}\n", "expected seeds and/or grid"}),
    [](const ::testing::TestParamInfo<BadSweep>& info) { return info.param.name; });

TEST(SweepPlanTest, NothingToSweepWithoutSectionOrArgs) {
  TempDir dir;
  const std::string path = WriteConfig(dir, "");
  StatusOr<SweepPlan> plan = PlanSweep(path, {});
  ASSERT_FALSE(plan.ok());
  EXPECT_NE(plan.status().message().find("nothing to sweep"), std::string::npos);
}

TEST(SweepConfigTest, RunLoadsTheBaseAndResolvedYamlKeepsTheSweep) {
  TempDir dir;
  const std::string path =
      WriteConfig(dir, "sweep:\n  seeds: [3, 4]\n  grid: {model.hidden: [[4], [4, 4]]}\n");
  StatusOr<ExperimentConfig> c = LoadExperimentConfig(path);
  ASSERT_TRUE(c.ok()) << c.status();
  ASSERT_TRUE(c->sweep.has_value());
  EXPECT_EQ(c->seed(), 7u);
  EXPECT_EQ(c->sweep->grid.at(0).second, (std::vector<std::string>{"[4]", "[4, 4]"}));
  StatusOr<ExperimentConfig> back = ParseExperimentConfig(c->ToYaml());
  ASSERT_TRUE(back.ok()) << back.status() << "\n" << c->ToYaml();
  EXPECT_EQ(*back, *c);
  ASSERT_TRUE(back->sweep.has_value());
  EXPECT_EQ(back->sweep->seeds, c->sweep->seeds);
  EXPECT_EQ(back->sweep->grid, c->sweep->grid);
}

TEST(SweepTablesTest, MeanAndSampleSdByHand) {
  // 0.5, 0.7, 0.9: mean 0.7; squares 0.04 + 0 + 0.04 over n - 1 = 2: sd 0.2.
  MeanSd m = MeanAndSd({0.5, 0.7, 0.9});
  EXPECT_EQ(m.n, 3u);
  EXPECT_NEAR(m.mean, 0.7, 1e-12);
  EXPECT_NEAR(m.sd, 0.2, 1e-12);
  MeanSd one = MeanAndSd({0.25, std::nan("")});
  EXPECT_EQ(one.n, 1u);
  EXPECT_DOUBLE_EQ(one.mean, 0.25);
  EXPECT_TRUE(std::isnan(one.sd));
  EXPECT_TRUE(std::isnan(MeanAndSd({}).mean));
}

std::vector<SweepRow> HandRows() {
  std::vector<SweepRow> rows;
  const double acc[] = {0.5, 0.7, 0.9, 0.25};
  for (int i = 0; i < 4; ++i) {
    SweepRow r;
    r.cell = i < 3 ? 0 : 1;
    r.values = {i < 3 ? "fedavg" : "median", "[4, 4]"};
    r.seed = i < 3 ? i + 1 : 1;
    r.run_dir = "tiny-" + std::to_string(i);
    r.final_test_accuracy = acc[i];
    r.final_test_loss = 1.0 + i;
    r.wall_seconds = 0.125;
    if (i < 3) r.outcome["attack.success"] = 0.1 * (i + 1);  // 0.1, 0.2, 0.3
    if (i == 3) r.outcome["only_here"] = std::nan("");
    rows.push_back(r);
  }
  return rows;
}

TEST(SweepTablesTest, SummaryHasMeanAndSdPerCell) {
  SweepResult r;
  r.grid_keys = {"aggregator.name", "model.hidden"};
  r.rows = HandRows();
  const std::string md = SweepSummaryMarkdown(r);
  // Cell 0: accuracy 0.7 ± 0.2, loss (1, 2, 3) 2 ± 1, attack.success 0.2 ± 0.1.
  EXPECT_NE(md.find("| 0 | fedavg | [4, 4] | 1, 2, 3 | 0.7 ± 0.2 | 2 ± 1 | 0.2 ± 0.1 | n/a |"),
            std::string::npos)
      << md;
  // Cell 1: one seed, no sd; it lacks attack.success.
  EXPECT_NE(md.find("| 1 | median | [4, 4] | 1 | 0.25 | 4 | n/a | n/a |"), std::string::npos) << md;
}

TEST(SweepTablesTest, CsvRoundTripsWithUnionColumnsAndQuotes) {
  const std::vector<std::string> keys = {"aggregator.name", "model.hidden"};
  const std::vector<SweepRow> rows = HandRows();
  const std::string csv = SweepCsv(keys, rows);
  EXPECT_EQ(csv.substr(0, csv.find('\n')),
            "cell,aggregator.name,model.hidden,seed,run_dir,final_test_accuracy,final_test_loss,"
            "wall_seconds,attack.success,only_here");
  EXPECT_NE(csv.find("0,fedavg,\"[4, 4]\",1,tiny-0,0.5,1,0.125,0.10000000000000001,\n"),
            std::string::npos)
      << csv;
  StatusOr<std::vector<SweepRow>> back = ParseSweepCsv(csv, keys);
  ASSERT_TRUE(back.ok()) << back.status();
  ASSERT_EQ(back->size(), rows.size());
  for (size_t i = 0; i < rows.size(); ++i) {
    EXPECT_EQ((*back)[i].cell, rows[i].cell);
    EXPECT_EQ((*back)[i].values, rows[i].values);
    EXPECT_EQ((*back)[i].seed, rows[i].seed);
    EXPECT_EQ((*back)[i].run_dir, rows[i].run_dir);
    EXPECT_EQ((*back)[i].final_test_accuracy, rows[i].final_test_accuracy);
    EXPECT_EQ((*back)[i].outcome.size(), rows[i].outcome.size());
  }
  EXPECT_EQ((*back)[1].outcome.at("attack.success"), 0.2);
  EXPECT_TRUE(std::isnan((*back)[3].outcome.at("only_here")));
  EXPECT_FALSE(ParseSweepCsv(csv, {"aggregator.name"}).ok());  // another sweep's keys
  EXPECT_FALSE(ParseSweepCsv(csv + "0,x\n", keys).ok());       // a short row
}

// A sweep's runs equal direct runs with the same overrides, and --resume runs
// only what the folder lacks.
TEST(SweepRunTest, RunsEqualDirectRunsAndResumeRunsOnlyMissing) {
  TempDir dir;
  const std::string out = dir.File("runs");
  const std::string path =
      WriteConfig(dir, "sweep:\n  seeds: [1, 2]\n  grid: {aggregator.name: [fedavg, median]}\n");
  StatusOr<SweepPlan> plan = PlanSweep(path, {"experiment.output_dir=" + out});
  ASSERT_TRUE(plan.ok()) << plan.status();
  std::vector<size_t> seen_done;
  SweepOptions options;
  options.on_run = [&](const SweepRun&, const SweepRow&, size_t done, size_t total) {
    EXPECT_EQ(total, 4u);
    seen_done.push_back(done);
  };
  StatusOr<SweepResult> r = RunSweep(*plan, options);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(seen_done, (std::vector<size_t>{1, 2, 3, 4}));
  ASSERT_EQ(r->rows.size(), 4u);
  EXPECT_EQ(std::filesystem::path(r->dir).parent_path(), std::filesystem::path(out));
  for (const char* f : {"sweep.yaml", "sweep.csv", "summary.md"}) {
    EXPECT_TRUE(std::filesystem::is_regular_file(r->dir + "/" + f)) << f;
  }

  // Run 3: median, seed 2, against `confml run tiny.yaml aggregator.name=median experiment.seed=2`.
  const SweepRow& row = r->rows[3];
  EXPECT_EQ(row.values, (std::vector<std::string>{"median"}));
  EXPECT_EQ(row.seed, 2);
  EXPECT_TRUE(std::filesystem::is_regular_file(r->dir + "/" + row.run_dir + "/config.yaml"));
  StatusOr<ExperimentConfig> direct_config =
      LoadExperimentConfig(path, {"aggregator.name=median", "experiment.seed=2"});
  ASSERT_TRUE(direct_config.ok()) << direct_config.status();
  RunOptions quiet;
  quiet.write_run_dir = false;
  quiet.progress = ProgressMode::kNone;
  StatusOr<RunResult> direct = RunExperiment(*direct_config, quiet);
  ASSERT_TRUE(direct.ok()) << direct.status();
  EXPECT_EQ(row.final_test_accuracy, direct->final_test_accuracy);
  EXPECT_EQ(row.final_test_loss, direct->final_test_loss);
  StatusOr<RunResult> planned = RunExperiment(plan->runs[3].config, quiet);
  ASSERT_TRUE(planned.ok()) << planned.status();
  EXPECT_EQ(planned->final_state_hash, direct->final_state_hash);
  // The seeds matter: the two seeds of a cell differ.
  EXPECT_NE(r->rows[2].final_test_loss, r->rows[3].final_test_loss);

  // Resume after losing one run's folder: only that run runs again.
  std::filesystem::remove_all(r->dir + "/" + r->rows[1].run_dir);
  SweepOptions resume;
  resume.resume_dir = r->dir;
  size_t reran = 0;
  resume.on_run = [&](const SweepRun& run, const SweepRow&, size_t, size_t) {
    ++reran;
    EXPECT_EQ(run.cell, 0u);
    EXPECT_EQ(run.seed, 2);
  };
  StatusOr<SweepResult> again = RunSweep(*plan, resume);
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(reran, 1u);
  EXPECT_EQ(again->kept, 3u);
  ASSERT_EQ(again->rows.size(), 4u);
  EXPECT_EQ(again->rows[1].final_test_accuracy, r->rows[1].final_test_accuracy);
  EXPECT_EQ(again->rows[0].run_dir, r->rows[0].run_dir);
  StatusOr<std::string> csv = ReadFileText(r->dir + "/sweep.csv");
  ASSERT_TRUE(csv.ok());
  EXPECT_EQ(*csv, SweepCsv(again->grid_keys, again->rows));

  // Nothing missing: nothing runs.
  reran = 0;
  ASSERT_TRUE(RunSweep(*plan, resume).ok());
  EXPECT_EQ(reran, 0u);

  // Another config is refused.
  StatusOr<SweepPlan> other = PlanSweep(path, {"experiment.output_dir=" + out, "optimizer.lr=0.2"});
  ASSERT_TRUE(other.ok()) << other.status();
  StatusOr<SweepResult> refused = RunSweep(*other, resume);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().code(), StatusCode::kFailedPrecondition) << refused.status();
  SweepArgs fewer;
  fewer.seeds = std::vector<int64_t>{1};
  StatusOr<SweepPlan> other_seeds = PlanSweep(path, {"experiment.output_dir=" + out}, fewer);
  ASSERT_TRUE(other_seeds.ok());
  EXPECT_EQ(RunSweep(*other_seeds, resume).status().code(), StatusCode::kFailedPrecondition);
}

// Jobs > 1 ---------------------------------------------------------------

// kTinyFederated with a sign-flip attack, so that the rows carry outcome
// metrics (attack.*) through the worker's result file.
std::string WriteAttackConfig(const TempDir& dir, const std::string& sweep) {
  return WriteConfig(dir,
                     "attack: {name: sign_flip, malicious_fraction: 0.25, scale: 1.0}\n" + sweep);
}

// sweep.csv with the run_dir and wall_seconds fields emptied: what must not
// depend on jobs.
std::string CsvWithoutTimesAndFolders(const std::string& csv) {
  std::stringstream in(csv);
  std::string line, out;
  std::vector<size_t> drop;
  bool header = true;
  while (std::getline(in, line)) {
    std::vector<std::string> fields;
    std::stringstream ls(line);
    std::string f;
    // The tiny sweeps' values hold no commas, so a plain split is exact.
    while (std::getline(ls, f, ',')) fields.push_back(f);
    if (!line.empty() && line.back() == ',') fields.emplace_back();
    if (header) {
      for (size_t i = 0; i < fields.size(); ++i) {
        if (fields[i] == "run_dir" || fields[i] == "wall_seconds") drop.push_back(i);
      }
      header = false;
    }
    for (size_t i : drop) {
      if (i < fields.size()) fields[i] = "-";
    }
    for (size_t i = 0; i < fields.size(); ++i) out += (i ? "," : "") + fields[i];
    out += "\n";
  }
  return out;
}

TEST(SweepJobsTest, TwoJobsGiveTheRowsOfOneInPlanOrder) {
  TempDir dir;
  const std::string path = WriteAttackConfig(
      dir, "sweep:\n  seeds: [1, 2, 3]\n  grid: {aggregator.name: [fedavg, median]}\n");
  StatusOr<SweepPlan> one_plan = PlanSweep(path, {"experiment.output_dir=" + dir.File("one")});
  StatusOr<SweepPlan> two_plan = PlanSweep(path, {"experiment.output_dir=" + dir.File("two")});
  ASSERT_TRUE(one_plan.ok() && two_plan.ok()) << one_plan.status() << two_plan.status();
  StatusOr<SweepResult> one = RunSweep(*one_plan);
  ASSERT_TRUE(one.ok()) << one.status();

  SweepOptions options;
  options.jobs = 2;
  options.worker = testing::ConfmlBinary();
  std::vector<size_t> seen_done;
  options.on_run = [&](const SweepRun& run, const SweepRow& row, size_t done, size_t total) {
    EXPECT_EQ(total, 6u);
    EXPECT_EQ(row.seed, run.seed);
    seen_done.push_back(done);
  };
  StatusOr<SweepResult> two = RunSweep(*two_plan, options);
  ASSERT_TRUE(two.ok()) << two.status();
  EXPECT_EQ(seen_done, (std::vector<size_t>{1, 2, 3, 4, 5, 6}));
  ASSERT_EQ(two->rows.size(), 6u);
  for (size_t i = 0; i < 6; ++i) {
    SCOPED_TRACE(i);
    const SweepRow& a = one->rows[i];
    const SweepRow& b = two->rows[i];
    EXPECT_EQ(b.cell, a.cell);
    EXPECT_EQ(b.seed, a.seed);
    EXPECT_EQ(b.final_test_accuracy, a.final_test_accuracy);
    EXPECT_EQ(b.final_test_loss, a.final_test_loss);
    ASSERT_EQ(b.outcome.size(), a.outcome.size());
    for (const auto& [name, value] : a.outcome) {
      ASSERT_EQ(b.outcome.count(name), 1u) << name;
      const double other = b.outcome.at(name);
      // Bitwise: a NaN (attack.blind_guess) must stay NaN.
      EXPECT_TRUE(other == value || (std::isnan(other) && std::isnan(value))) << name;
    }
    EXPECT_GT(b.wall_seconds, 0.0);
    EXPECT_TRUE(std::filesystem::is_regular_file(two->dir + "/" + b.run_dir + "/fl_rounds.h5"));
    const std::string log =
        two->dir + "/logs/" + std::to_string(b.cell) + "-" + std::to_string(b.seed) + ".log";
    EXPECT_NE(testing::ReadAll(log).find("run folder: "), std::string::npos) << log;
  }
  EXPECT_FALSE(two->rows[0].outcome.empty());  // the attack's metrics came through
  StatusOr<std::string> csv_one = ReadFileText(one->dir + "/sweep.csv");
  StatusOr<std::string> csv_two = ReadFileText(two->dir + "/sweep.csv");
  ASSERT_TRUE(csv_one.ok() && csv_two.ok());
  EXPECT_EQ(CsvWithoutTimesAndFolders(*csv_two), CsvWithoutTimesAndFolders(*csv_one));
  EXPECT_NE(*csv_two, *csv_one);  // the two columns left out do differ
  // No result file is left behind once its row is recorded.
  for (const auto& e : std::filesystem::directory_iterator(two->dir + "/logs")) {
    EXPECT_EQ(e.path().extension(), ".log") << e.path();
  }
}

// Cells 1 and 3 cannot start (their initial model does not exist): with 2
// jobs, cell 0's two runs finish and are recorded, cell 1 fails, and cells 2
// and 3 never start, because a slot frees only when a cell 1 run ends.
TEST(SweepJobsTest, FailedRunStopsNewRunsAndKeepsFinishedOnes) {
  TempDir dir;
  const std::string missing_model = dir.File("no_such_run/fl.ckpt");
  const std::string path =
      WriteConfig(dir,
                  "sweep:\n  seeds: [1, 2]\n  grid:\n    optimizer.lr: [0.05, 0.1]\n"
                  "    federated.initial_model: ['', " +
                      missing_model + "]\n");
  StatusOr<SweepPlan> plan = PlanSweep(path, {"experiment.output_dir=" + dir.File("runs")});
  ASSERT_TRUE(plan.ok()) << plan.status();
  ASSERT_EQ(plan->runs.size(), 8u);
  SweepOptions options;
  options.jobs = 2;
  options.worker = testing::ConfmlBinary();
  StatusOr<SweepResult> r = RunSweep(*plan, options);
  ASSERT_FALSE(r.ok());
  const std::string msg = r.status().message();
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument) << msg;  // the child exited 2
  EXPECT_NE(msg.find("sweep cell 1 (optimizer.lr=0.05 federated.initial_model=" + missing_model +
                     ") seed "),
            std::string::npos)
      << msg;
  EXPECT_NE(msg.find("no_such_run"), std::string::npos) << msg;  // the child's own error
  EXPECT_NE(msg.find("(log: "), std::string::npos) << msg;

  // The sweep folder stays with cell 0's two rows; cells 2 and 3 never started.
  std::vector<std::filesystem::path> sweeps;
  for (const auto& e : std::filesystem::directory_iterator(dir.File("runs"))) {
    sweeps.push_back(e.path());
  }
  ASSERT_EQ(sweeps.size(), 1u);
  const std::string sweep = sweeps[0].string();
  StatusOr<std::string> csv = ReadFileText(sweep + "/sweep.csv");
  ASSERT_TRUE(csv.ok()) << csv.status();
  StatusOr<std::vector<SweepRow>> rows = ParseSweepCsv(*csv, plan->grid_keys);
  ASSERT_TRUE(rows.ok()) << rows.status();
  ASSERT_EQ(rows->size(), 2u) << *csv;
  EXPECT_EQ((*rows)[0].cell, 0u);
  EXPECT_EQ((*rows)[0].seed, 1);
  EXPECT_EQ((*rows)[1].seed, 2);
  EXPECT_TRUE(std::filesystem::exists(sweep + "/logs/1-1.log"));
  for (const char* log : {"2-1", "2-2", "3-1", "3-2"}) {
    EXPECT_FALSE(std::filesystem::exists(sweep + "/logs/" + log + ".log")) << log;
  }
}

// A child reads the config file anew: one edited after planning is caught
// by its run folder's config.yaml, not recorded as the planned run.
TEST(SweepJobsTest, ConfigFileEditedDuringTheSweepIsRefused) {
  TempDir dir;
  const std::string path = WriteConfig(dir, "sweep: {seeds: [1]}\n");
  const std::string out = dir.File("runs");
  StatusOr<SweepPlan> plan = PlanSweep(path, {"experiment.output_dir=" + out});
  ASSERT_TRUE(plan.ok()) << plan.status();
  std::string edited = kTinyFederated;
  edited.replace(edited.find("lr: 0.05"), 8, "lr: 0.07");
  std::ofstream(path) << edited << "sweep: {seeds: [1]}\n";
  SweepOptions options;
  options.jobs = 2;
  options.worker = testing::ConfmlBinary();
  StatusOr<SweepResult> r = RunSweep(*plan, options);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kFailedPrecondition) << r.status();
  EXPECT_NE(r.status().message().find("differs from the planned run (was " + path +
                                      " changed during the sweep?)"),
            std::string::npos)
      << r.status();
  EXPECT_TRUE(std::filesystem::is_empty(out));
}

// A fake worker: a shell script doing `body`.
std::string WriteWorker(const TempDir& dir, const std::string& body) {
  const std::string path = dir.File("worker.sh");
  std::ofstream(path) << "#!/bin/sh\n" << body << "\n";
  ::chmod(path.c_str(), 0755);
  return path;
}

struct ChildEnd {
  std::string name, body;
  StatusCode code;
  std::string expect;
};

void PrintTo(const ChildEnd& c, std::ostream* os) { *os << c.name; }

class SweepChildEndTest : public ::testing::TestWithParam<ChildEnd> {};

// However a child ends without a result, the sweep says how, with the code
// `confml run`'s exit code stands for, and a new sweep folder with no
// finished run is removed.
TEST_P(SweepChildEndTest, NamesTheRunAndHowItEnded) {
  TempDir dir;
  const std::string path = WriteConfig(dir, "sweep: {seeds: [4]}\n");
  const std::string out = dir.File("runs");
  StatusOr<SweepPlan> plan = PlanSweep(path, {"experiment.output_dir=" + out});
  ASSERT_TRUE(plan.ok()) << plan.status();
  SweepOptions options;
  options.jobs = 2;
  options.worker = WriteWorker(dir, GetParam().body);
  StatusOr<SweepResult> r = RunSweep(*plan, options);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), GetParam().code) << r.status();
  EXPECT_NE(r.status().message().find("sweep cell 0 ((base)) seed 4: " + GetParam().expect),
            std::string::npos)
      << r.status();
  EXPECT_TRUE(std::filesystem::is_empty(out)) << "the failed sweep left its folder";
}

INSTANTIATE_TEST_SUITE_P(
    Ends, SweepChildEndTest,
    ::testing::Values(
        ChildEnd{"input_error", "echo 'confml: some.key: bad value' >&2; exit 2",
                 StatusCode::kInvalidArgument, "some.key: bad value"},
        ChildEnd{"internal_error", "echo progress; echo 'confml: it broke' >&2; exit 3",
                 StatusCode::kInternal, "it broke"},
        ChildEnd{"silent_exit", "exit 1", StatusCode::kInternal, "exited with status 1"},
        ChildEnd{"killed", "kill -9 $$", StatusCode::kInternal, "killed by signal 9"},
        ChildEnd{"no_result", "exit 0", StatusCode::kDataLoss,
                 "the run exited 0 but left no result file"}),
    [](const ::testing::TestParamInfo<ChildEnd>& info) { return info.param.name; });

TEST(SweepJobsTest, BadJobsOrWorkerRefusedBeforeAnythingIsWritten) {
  TempDir dir;
  const std::string path = WriteConfig(dir, "sweep: {seeds: [1, 2]}\n");
  const std::string out = dir.File("runs");
  StatusOr<SweepPlan> plan = PlanSweep(path, {"experiment.output_dir=" + out});
  ASSERT_TRUE(plan.ok()) << plan.status();
  struct Case {
    int jobs;
    std::string worker, expect;
  };
  for (const Case& c :
       {Case{0, "", "jobs must be an integer >= 1, got 0"},
        Case{-3, testing::ConfmlBinary(), "got -3"}, Case{2, "", "needs the confml executable"},
        Case{2, dir.File("no_such_confml"), "is not an executable file"},
        Case{2, path, "is not an executable file"}}) {
    SweepOptions options;
    options.jobs = c.jobs;
    options.worker = c.worker;
    StatusOr<SweepResult> r = RunSweep(*plan, options);
    ASSERT_FALSE(r.ok()) << c.expect;
    EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument) << r.status();
    EXPECT_NE(r.status().message().find(c.expect), std::string::npos) << r.status();
    EXPECT_FALSE(std::filesystem::exists(out));
  }
}

TEST(SweepJobsTest, WorkerResultRoundTripsExactlyAndRefusesDamage) {
  WorkerResult w;
  w.run_dir = "/tmp/some sweep/tiny-20261127-010203-1-2";
  w.final_test_accuracy = 0.1 + 0.2;
  w.final_test_loss = 1.0 / 3.0;
  w.wall_seconds = 2.5;
  w.outcome = {{"attack.success", std::nan("")}, {"b", -1e-300}};
  const std::string text = WorkerResultText(w);
  StatusOr<WorkerResult> back = ParseWorkerResult(text);
  ASSERT_TRUE(back.ok()) << back.status() << "\n" << text;
  EXPECT_EQ(back->run_dir, w.run_dir);
  EXPECT_EQ(back->final_test_accuracy, w.final_test_accuracy);
  EXPECT_EQ(back->final_test_loss, w.final_test_loss);
  EXPECT_EQ(back->wall_seconds, w.wall_seconds);
  ASSERT_EQ(back->outcome.size(), 2u);
  EXPECT_TRUE(std::isnan(back->outcome.at("attack.success")));
  EXPECT_EQ(back->outcome.at("b"), -1e-300);

  const std::string no_loss =
      text.substr(0, text.find("final_test_loss")) + text.substr(text.find("wall_seconds"));
  for (const auto& [bad, expect] : std::vector<std::pair<std::string, std::string>>{
           {"", "missing 'run_dir'"},
           {"confml-sweep-result 2\n", "expected 'confml-sweep-result 1'"},
           {text.substr(0, text.size() - 1), "unterminated last line"},
           {no_loss, "missing 'final_test_loss'"},
           {text + "wall_seconds\t1\n", "'wall_seconds' given twice"},
           {text + "outcome\tb\t2\n", "outcome 'b' given twice"},
           {text + "speed\t1\n", "unknown field 'speed'"},
           {text + "outcome\tx\n", "expected outcome<TAB>name<TAB>number"},
           {text + "wall_seconds 1\n", "no tab"}}) {
    StatusOr<WorkerResult> r = ParseWorkerResult(bad);
    ASSERT_FALSE(r.ok()) << expect;
    EXPECT_EQ(r.status().code(), StatusCode::kDataLoss);
    EXPECT_NE(r.status().message().find(expect), std::string::npos) << r.status();
  }
}

}  // namespace
}  // namespace confml::experiments
