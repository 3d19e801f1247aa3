// Acceptance tests of the MPI simulation backend: `mpirun -np K confml run`
// ends with the final model of the single-process run (FedAvg and a robust
// aggregator; clients that do not divide evenly over the ranks), only rank 0
// writes, and errors are printed once with a non-zero exit.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "../../experiments/src/federated_runner.h"
#include "../common/temp_dir.h"
#include "../experiments/test_util.h"

namespace confml::scaleout {
namespace {

namespace fs = std::filesystem;

using experiments::testing::ConfmlBinary;
using experiments::testing::ReadAll;
using MpiRun = experiments::testing::CliResult;

std::string Config(const std::string& name) {
  return std::string(CONFML_SOURCE_DIR) + "/experiments/" + name;
}

int Count(const std::string& text, const std::string& what) {
  int n = 0;
  for (size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
  return n;
}

class MpirunTest : public ::testing::Test {
 protected:
  // `mpirun -np ranks confml run args...` (ranks 0: confml alone), output to
  // files. Root needs OpenMPI's explicit consent; --oversubscribe lets 3
  // ranks share 2 cores.
  MpiRun Exec(int ranks, const std::vector<std::string>& args) {
    std::vector<std::string> a;
    if (ranks > 0) {
      a = {CONFML_MPIEXEC, "--oversubscribe", "-np", std::to_string(ranks)};
    }
    a.push_back(ConfmlBinary());
    a.push_back("run");
    a.insert(a.end(), args.begin(), args.end());
    a.push_back("--progress=none");
    return experiments::testing::RunProgram(std::move(a), dir_,
                                            {{"OMPI_ALLOW_RUN_AS_ROOT", "1"},
                                             {"OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1"},
                                             {"OMP_NUM_THREADS", "1"}});
  }

  // The final-model hash of a run into `out_dir`, which must hold exactly one
  // run folder afterwards (only rank 0 writes).
  std::string Hash(int ranks, const std::string& out_dir, std::vector<std::string> args) {
    args.push_back("experiment.output_dir=" + out_dir);
    MpiRun r = Exec(ranks, args);
    EXPECT_EQ(r.exit_code, 0) << r.err;
    EXPECT_EQ(Count(r.out, "run folder:"), 1) << r.out;
    std::vector<std::string> dirs;
    if (fs::exists(out_dir)) {
      for (const auto& e : fs::directory_iterator(out_dir)) dirs.push_back(e.path());
    }
    EXPECT_EQ(dirs.size(), 1u) << "ranks " << ranks;
    if (dirs.empty()) return "";
    StatusOr<std::string> hash = experiments::ReadFederatedStateHash(dirs[0] + "/fl_rounds.h5");
    EXPECT_TRUE(hash.ok()) << hash.status();
    return hash.ok() ? *hash : "";
  }

  confml::testing::TempDir temp_;
  const std::string dir_ = temp_.path();
};

const std::vector<std::string> kSmall = {Config("fedavg_synthetic.yaml"), "federated.rounds=4",
                                         "federated.workers=1"};

TEST_F(MpirunTest, TwoRanksEndWithTheSingleProcessModel) {
  const std::string one = Hash(0, dir_ + "/one", kSmall);
  const std::string two = Hash(2, dir_ + "/two", kSmall);
  ASSERT_FALSE(one.empty());
  EXPECT_EQ(two, one);
}

TEST_F(MpirunTest, RobustAggregatorAndUnevenDealMatchTooAndWorkersPerRank) {
  std::vector<std::string> median = kSmall;
  median.push_back("aggregator.name=median");
  const std::string one = Hash(0, dir_ + "/one", median);
  ASSERT_FALSE(one.empty());
  // 5 clients a round over 3 ranks; then 2 ranks with 2 worker threads each.
  EXPECT_EQ(Hash(3, dir_ + "/three", median), one);
  median.push_back("federated.workers=2");
  EXPECT_EQ(Hash(2, dir_ + "/two", median), one);
}

TEST_F(MpirunTest, DataPoisoningRunsWhereTheClientTrains) {
  // label_flip swaps the training data of malicious devices in the worker
  // thread (ClientTrainingData), so ranks other than 0 must poison too.
  const std::string config = dir_ + "/label_flip.yaml";
  {
    std::ofstream out(config);
    out << ReadAll(Config("fedavg_synthetic.yaml"))
        << "attack:\n  name: label_flip\n  malicious_fraction: 0.3\n  source: -1\n";
  }
  const std::vector<std::string> args = {config, "federated.rounds=3", "federated.workers=1"};
  const std::string one = Hash(0, dir_ + "/one", args);
  ASSERT_FALSE(one.empty());
  // The attack changed the model (same run without the attack section).
  EXPECT_NE(one,
            Hash(0, dir_ + "/clean",
                 {Config("fedavg_synthetic.yaml"), "federated.rounds=3", "federated.workers=1"}));
  EXPECT_EQ(Hash(3, dir_ + "/three", args), one);
}

TEST_F(MpirunTest, ResumedUnderMpirunEndsWithTheUninterruptedModel) {
  const std::string one = Hash(0, dir_ + "/one", kSmall);
  std::vector<std::string> half = kSmall;
  half.push_back("federated.rounds=2");
  ASSERT_FALSE(Hash(2, dir_ + "/two", half).empty());
  const std::string run_dir = fs::directory_iterator(dir_ + "/two")->path();
  std::vector<std::string> rest = kSmall;
  rest.insert(rest.end(), {"--resume", run_dir});
  MpiRun r = Exec(2, rest);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  StatusOr<std::string> hash = experiments::ReadFederatedStateHash(run_dir + "/fl_rounds.h5");
  ASSERT_TRUE(hash.ok()) << hash.status();
  EXPECT_EQ(*hash, one);
}

TEST_F(MpirunTest, BadConfigIsReportedOnceWithExitTwoAndNothingWritten) {
  MpiRun r = Exec(2, {Config("fedavg_synthetic.yaml"), "federated.rounds=0",
                      "experiment.output_dir=" + dir_ + "/out"});
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_EQ(Count(r.err, "confml: "), 1) << r.err;
  EXPECT_NE(r.err.find("rounds"), std::string::npos) << r.err;
  EXPECT_FALSE(fs::exists(dir_ + "/out"));
}

TEST_F(MpirunTest, WhatCannotRunDistributedIsRefusedByName) {
  MpiRun r = Exec(2, {Config("synthetic_mlp.yaml"), "experiment.output_dir=" + dir_ + "/out"});
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_EQ(Count(r.err, "confml: "), 1) << r.err;
  EXPECT_NE(r.err.find("distributes only federated runs"), std::string::npos) << r.err;
  EXPECT_FALSE(fs::exists(dir_ + "/out"));
}

TEST_F(MpirunTest, ATrainingErrorOnAnyRankFailsTheRunOnce) {
  // Every client diverges, on whichever rank it was dealt to.
  std::vector<std::string> args = kSmall;
  args.push_back("optimizer.lr=1e30");
  args.push_back("experiment.output_dir=" + dir_ + "/out");
  MpiRun r = Exec(2, args);
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_EQ(Count(r.err, "confml: "), 1) << r.err;
  EXPECT_NE(r.err.find("local loss became"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace confml::scaleout
