// The confml binary given bad input of every kind, as a hostile user would
// (the table is docs/errors.md): no crash, no exit 0, a first stderr line
// naming what is wrong, and no run folder left behind. Slow only because each
// confml process spends about a second loading LibTorch.
#include <gtest/gtest.h>

#include <filesystem>
#include <iterator>
#include <string>
#include <vector>

#include "confml/core/file_util.h"
#include "confml/experiments/results.h"
#include "confml/experiments/sweep.h"
#include "test_util.h"

namespace confml::experiments {
namespace {

using testing::CliResult;
using testing::RunConfml;
using testing::TempDir;

const std::string kToken = std::string(CONFML_SHARED_DIR) + "/cca-tokens/tf-rmm-fvp-token.cbor";
const std::string kCpak = std::string(CONFML_SHARED_DIR) + "/cca-tokens/tf-rmm-fvp-cpak.pub.pem";
const std::string kFederated = testing::SourceDir() + "/experiments/fedavg_synthetic.yaml";

std::string FirstLine(const std::string& s) { return s.substr(0, s.find('\n')); }

// Exit 2 (an input error, never a signal or 0) and a first stderr line that
// contains `expect`.
void ExpectInputError(const CliResult& r, const std::string& expect) {
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_NE(FirstLine(r.err).find(expect), std::string::npos)
      << "first stderr line: " << FirstLine(r.err) << "\nexpected: " << expect;
}

TEST(BadInputCliTest, DirectoryWhereAFileBelongs) {
  TempDir tmp;
  ExpectInputError(RunConfml({"run", tmp.path()}, tmp.path()), "is a directory, not a file");
  ExpectInputError(RunConfml({"token", "verify", tmp.path(), "--cpak", kCpak}, tmp.path()),
                   "is a directory, not a file");
  ExpectInputError(RunConfml({"token", "verify", kToken, "--cpak", tmp.path()}, tmp.path()),
                   "is a directory, not a file");
  ExpectInputError(RunConfml({"measure", tmp.path()}, tmp.path()), "is a directory, not a file");
  ExpectInputError(RunConfml({"config-reference", "--output=" + tmp.path()}, tmp.path()),
                   "--output " + tmp.path() + " is a directory");
}

TEST(BadInputCliTest, EmptyAndTruncatedTokensAreNamedOnStderr) {
  TempDir tmp;
  StatusOr<std::vector<uint8_t>> token = ReadFileBytes(kToken);
  ASSERT_TRUE(token.ok()) << token.status();
  const std::string empty = tmp.File("empty.cbor"), half = tmp.File("half.cbor");
  ASSERT_TRUE(WriteFileAtomically(empty, "").ok());
  ASSERT_TRUE(
      WriteFileAtomically(half, std::string(token->begin(), token->begin() + token->size() / 2))
          .ok());
  for (const std::string& path : {empty, half}) {
    CliResult r = RunConfml({"token", "verify", path, "--cpak", kCpak}, tmp.path());
    ExpectInputError(r, path + ": not a CCA attestation token");
    EXPECT_NE(r.out.find("\"decode\""), std::string::npos) << r.out;
  }
}

TEST(BadInputCliTest, OptionsAreNamedForTheSubcommandGiven) {
  TempDir tmp;
  ExpectInputError(RunConfml({"check"}, tmp.path()), "check: no config file");
  ExpectInputError(RunConfml({"check", kFederated, "--frob"}, tmp.path()),
                   "check: unknown option '--frob'");
  ExpectInputError(RunConfml({"measure", kCpak, "--frob", "1"}, tmp.path()),
                   "unknown option --frob");
  CliResult serve =
      RunConfml({"serve", "runtime", "--devices", "99999999999999999999"}, tmp.path());
  if (serve.err.find("CONFML_WITH_GRPC") != std::string::npos) return;  // built without gRPC
  ExpectInputError(serve, "bad value '99999999999999999999' for --devices");
  ExpectInputError(RunConfml({"serve", "runtime", "--round-timeout", "nan"}, tmp.path()),
                   "bad value 'nan' for --round-timeout");
  ExpectInputError(RunConfml({"device", "--frob", "x"}, tmp.path()), "unknown option '--frob'");
}

TEST(BadInputCliTest, BadInitialModelLeavesNoRunFolder) {
  TempDir tmp;
  const std::string out = tmp.File("runs");
  ASSERT_TRUE(WriteFileAtomically(tmp.File("empty.ckpt"), "").ok());
  CliResult r = RunConfml(
      {"run", kFederated, "dataset.num_samples=300", "federated.rounds=1",
       "federated.initial_model=" + tmp.File("empty.ckpt"), "experiment.output_dir=" + out},
      tmp.path());
  ExpectInputError(r, "federated.initial_model");
  EXPECT_NE(FirstLine(r.err).find("empty.ckpt"), std::string::npos) << r.err;
  EXPECT_TRUE(!std::filesystem::exists(out) || std::filesystem::is_empty(out))
      << "a failed run left a folder in " << out;
}

// Both used to exit 3 (an internal failure) although the user chose the
// value: lr=1e308 in the first training step, an output_dir under a file at
// the folder's creation. Both are now input errors naming the key.
TEST(BadInputCliTest, FloatOverflowAndUncreatableOutputDirAreInputErrors) {
  TempDir tmp;
  // RunConfml keeps its captured output in tmp; the file goes in a folder of its own.
  const std::string work = tmp.File("work"), file = work + "/a_file";
  std::filesystem::create_directory(work);
  ASSERT_TRUE(WriteFileAtomically(file, "x").ok());
  ExpectInputError(RunConfml({"check", kFederated, "optimizer.lr=1e308"}, tmp.path()),
                   "optimizer.lr: 1e+308 is out of range");
  CliResult r = RunConfml({"run", kFederated, "dataset.num_samples=300", "federated.rounds=1",
                           "experiment.output_dir=" + file + "/runs"},
                          tmp.path());
  ExpectInputError(r, "experiment.output_dir: cannot create '" + file + "/runs'");
  EXPECT_EQ(std::distance(std::filesystem::directory_iterator(work),
                          std::filesystem::directory_iterator()),
            1)
      << "only a_file may be there";
}

// Whether this build tree holds the Python module that `confml plot` runs.
bool PythonModuleBuilt() {
  std::error_code ec;
  for (const auto& e :
       std::filesystem::directory_iterator(std::string(CONFML_BINARY_DIR) + "/python/confml", ec)) {
    if (e.path().filename().string().rfind("_confml", 0) == 0) return true;
  }
  return false;
}

// `confml plot` hands the folder to Python: its failures must come back as
// one line naming the file, not a traceback, and an incomplete run is
// flagged rather than plotted as a finished one.
TEST(BadInputCliTest, PlotNamesWhatIsWrongWithTheFolder) {
  if (!PythonModuleBuilt()) GTEST_SKIP() << "the Python module is not built (CONFML_BUILD_PYTHON)";
  TempDir tmp;
  const std::string empty_dir = tmp.File("empty_run");
  std::filesystem::create_directory(empty_dir);
  CliResult empty = RunConfml({"plot", empty_dir}, tmp.path());
  ExpectInputError(empty, "holds no results.h5");
  EXPECT_EQ(empty.err.find("Traceback"), std::string::npos) << empty.err;

  RunResults partial;
  partial.name = "partial";
  partial.epochs_planned = 3;
  partial.epochs.push_back(EpochRecord{1, 1.2, 0.4, 1.1, 0.45, 0.1});
  partial.complete = false;
  const std::string killed_dir = tmp.File("killed_run");
  std::filesystem::create_directory(killed_dir);
  ASSERT_TRUE(WriteResultsFile(killed_dir + "/results.h5", partial).ok());
  StatusOr<std::vector<uint8_t>> bytes = ReadFileBytes(killed_dir + "/results.h5");
  ASSERT_TRUE(bytes.ok()) << bytes.status();

  const std::string truncated_dir = tmp.File("truncated_run");
  std::filesystem::create_directory(truncated_dir);
  ASSERT_TRUE(WriteFileAtomically(truncated_dir + "/results.h5",
                                  std::string(bytes->begin(), bytes->begin() + bytes->size() / 2))
                  .ok());
  CliResult truncated = RunConfml({"plot", truncated_dir}, tmp.path());
  ExpectInputError(truncated, truncated_dir + "/results.h5 is not a readable HDF5 file");
  EXPECT_EQ(truncated.err.find("Traceback"), std::string::npos) << truncated.err;

  CliResult killed = RunConfml({"plot", killed_dir, tmp.File("figures")}, tmp.path());
  EXPECT_EQ(killed.exit_code, 0) << killed.err;
  EXPECT_NE(killed.err.find("results.h5 is incomplete"), std::string::npos) << killed.err;

  CliResult out_is_file = RunConfml({"plot", killed_dir, kCpak}, tmp.path());
  ExpectInputError(out_is_file, "is not a directory");
}

// `confml plot SWEEP_DIR` (sweep.csv + sweep.yaml): one PNG per metric, and
// its options and a damaged sweep folder rejected with one line and exit 2.
TEST(BadInputCliTest, PlotDrawsASweepFolderAndNamesWhatIsWrong) {
  if (!PythonModuleBuilt()) GTEST_SKIP() << "the Python module is not built (CONFML_BUILD_PYTHON)";
  TempDir tmp;
  const std::string sweep_dir = tmp.File("sweep");
  std::filesystem::create_directory(sweep_dir);
  std::vector<SweepRow> rows;
  for (size_t cell = 0; cell < 2; ++cell) {
    for (int64_t seed = 1; seed <= 2; ++seed) {
      SweepRow row;
      row.cell = cell;
      row.values = {cell == 0 ? "0.1" : "0.3"};
      row.seed = seed;
      row.run_dir = "run-" + std::to_string(cell) + "-" + std::to_string(seed);
      row.final_test_accuracy = 0.9 - 0.3 * static_cast<double>(cell) + 0.01 * seed;
      row.final_test_loss = 0.5;
      row.wall_seconds = 1.0;
      row.outcome["attack.test_error"] = 1.0 - row.final_test_accuracy;
      rows.push_back(row);
    }
  }
  const std::vector<std::string> keys = {"attack.malicious_fraction"};
  ASSERT_TRUE(WriteFileAtomically(sweep_dir + "/sweep.csv", SweepCsv(keys, rows)).ok());
  ASSERT_TRUE(WriteFileAtomically(sweep_dir + "/sweep.yaml", "experiment: {name: s}\n").ok());

  const std::string figures = tmp.File("figures");
  CliResult ok = RunConfml({"plot", sweep_dir, figures}, tmp.path());
  ASSERT_EQ(ok.exit_code, 0) << ok.err;
  std::error_code ec;
  for (const char* name : {"sweep_final_test_accuracy.png", "sweep_attack.test_error.png"}) {
    EXPECT_NE(ok.out.find(figures + "/" + name), std::string::npos) << ok.out;
    EXPECT_GT(std::filesystem::file_size(figures + "/" + name, ec), 10000u) << name;
  }
  CliResult one = RunConfml({"plot", sweep_dir, figures, "--metric", "attack.test_error", "--x",
                             "attack.malicious_fraction"},
                            tmp.path());
  EXPECT_EQ(one.exit_code, 0) << one.err;
  EXPECT_EQ(one.out, figures + "/sweep_attack.test_error.png\n");

  ExpectInputError(RunConfml({"plot", sweep_dir, "--metric", "auc"}, tmp.path()),
                   "has no metric 'auc'");
  ExpectInputError(RunConfml({"plot", sweep_dir, "--x", "aggregator.name"}, tmp.path()),
                   "'aggregator.name' is not a grid key");
  ExpectInputError(RunConfml({"plot", sweep_dir, "--x"}, tmp.path()), "--x needs a value");
  ExpectInputError(RunConfml({"plot", sweep_dir, figures, "extra"}, tmp.path()), "usage:");

  const std::string half = tmp.File("half");
  std::filesystem::create_directory(half);
  std::filesystem::copy_file(sweep_dir + "/sweep.csv", half + "/sweep.csv");
  ExpectInputError(RunConfml({"plot", half}, tmp.path()), "holds sweep.csv but no sweep.yaml");

  const std::string damaged = tmp.File("damaged");
  std::filesystem::create_directory(damaged);
  std::filesystem::copy_file(sweep_dir + "/sweep.yaml", damaged + "/sweep.yaml");
  ASSERT_TRUE(WriteFileAtomically(damaged + "/sweep.csv", SweepCsv(keys, rows) + "9,0.5,1\n").ok());
  CliResult bad = RunConfml({"plot", damaged}, tmp.path());
  ExpectInputError(bad, "sweep.csv:6");
  EXPECT_EQ(bad.err.find("Traceback"), std::string::npos) << bad.err;
}

}  // namespace
}  // namespace confml::experiments
