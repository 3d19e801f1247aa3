// The matrix kind: config validation, entry parsing, and the output formats
// (the runs themselves are in matrix_slow_test.cc).
#include "confml/experiments/matrix.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <string>

#include "confml/experiments/config.h"
#include "test_util.h"

namespace confml::experiments {
namespace {

using testing::ReadAll;
using testing::SourceDir;
using testing::TempDir;

std::string MatrixPath() { return SourceDir() + "/experiments/confidential_matrix.yaml"; }

TEST(MatrixConfig, FlagshipConfigValidatesEveryCell) {
  for (const char* size : {"tiny", "small", "full"}) {
    StatusOr<ExperimentConfig> c =
        LoadExperimentConfig(MatrixPath(), {std::string("matrix.size=") + size});
    ASSERT_TRUE(c.ok()) << c.status().message();
    EXPECT_EQ(c->kind(), "matrix");
    StatusOr<std::vector<MatrixAxisEntry>> rows = MatrixRows(*c);
    StatusOr<std::vector<MatrixAxisEntry>> cols = MatrixColumns(*c);
    ASSERT_TRUE(rows.ok()) << rows.status().message();
    ASSERT_TRUE(cols.ok()) << cols.status().message();
    EXPECT_GE(rows->size(), 8u);
    EXPECT_EQ(cols->size(), 5u);
    StatusOr<std::vector<ExperimentConfig>> cells = MatrixCellConfigs(*c);
    ASSERT_TRUE(cells.ok()) << size << ": " << cells.status().message();
    ASSERT_EQ(cells->size(), rows->size() * cols->size());
    for (const ExperimentConfig& cell : *cells) EXPECT_EQ(cell.seed(), c->seed());
  }
}

TEST(MatrixConfig, ColumnsSkipSectionsTheCellKindDoesNotUse) {
  StatusOr<ExperimentConfig> c = LoadExperimentConfig(MatrixPath(), {"matrix.size=tiny"});
  ASSERT_TRUE(c.ok()) << c.status().message();
  StatusOr<std::vector<MatrixAxisEntry>> rows = MatrixRows(*c);
  StatusOr<std::vector<ExperimentConfig>> cells = MatrixCellConfigs(*c);
  ASSERT_TRUE(cells.ok()) << cells.status().message();
  const size_t columns = cells->size() / rows->size();
  bool saw_flow = false, saw_robust = false;
  for (size_t i = 0; i < cells->size(); ++i) {
    const ExperimentConfig& cell = (*cells)[i];
    const size_t col = i % columns;
    if (cell.kind() == "flow") {
      saw_flow = true;
      EXPECT_FALSE(cell.Has("aggregator"));
      EXPECT_EQ(cell.Int("flow", "pretrain_epochs"), 30);  // the tiny list reached flows
    } else {
      EXPECT_EQ(cell.Int("dataset", "test_limit"), 300);
      if (col == 3) {
        saw_robust = true;
        EXPECT_EQ(cell.section("aggregator").component, "trimmed_mean");
      }
    }
    // Columns 0..2: none/off, sim/tokens, sim/policy.
    const char* modes[] = {"off", "tokens", "policy", "policy", "policy"};
    EXPECT_EQ(cell.String("attestation", "mode"), modes[col]);
  }
  EXPECT_TRUE(saw_flow);
  EXPECT_TRUE(saw_robust);
}

TEST(MatrixConfig, RowSizeListsApplyOnlyAtTheirSize) {
  for (const auto& [size, iterations] :
       std::vector<std::pair<std::string, int64_t>>{{"tiny", 10}, {"small", 15}, {"full", 300}}) {
    StatusOr<ExperimentConfig> c = LoadExperimentConfig(MatrixPath(), {"matrix.size=" + size});
    ASSERT_TRUE(c.ok());
    StatusOr<std::vector<ExperimentConfig>> cells = MatrixCellConfigs(*c);
    ASSERT_TRUE(cells.ok()) << cells.status().message();
    EXPECT_EQ((*cells)[0].Int("attack", "iterations"), iterations) << size;
  }
}

TEST(MatrixConfig, MalformedEntriesAreRejectedWithTheirText) {
  const std::string base = "experiment: {name: m, kind: matrix}\nmatrix:\n  rows: [";
  auto parse = [&](const std::string& rows, const std::string& cols) {
    StatusOr<ExperimentConfig> c =
        ParseExperimentConfig(base + rows + "]\n  columns: [" + cols + "]\n");
    EXPECT_TRUE(c.ok()) << c.status().message();
    return MatrixCellConfigs(*c).status();
  };
  Status s = parse("\"no label here\"", "\"a: tee.name=none\"");
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("no label here"), std::string::npos) << s.message();
  s = parse("\"r: tee.name=none\"", "\"a: tee.name=none\"");
  EXPECT_NE(s.message().find("base config"), std::string::npos) << s.message();
  s = parse("\"r: /nonexistent/x.yaml\"", "\"a: tee.name=none\"");
  EXPECT_EQ(s.code(), StatusCode::kNotFound) << s.message();
  s = parse("\"r: " + SourceDir() + "/experiments/islet/g_no_tee_model_leak.yaml\"",
            "\"a: tee.name=none\", \"a: tee.name=sim\"");
  EXPECT_NE(s.message().find("appears twice"), std::string::npos) << s.message();
  // A typo in a column reaches the cell's validation, named by the cell.
  s = parse("\"r: " + SourceDir() + "/experiments/islet/g_no_tee_model_leak.yaml\"",
            "\"a: attestation.mode=polcy\"");
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("'r' x 'a'"), std::string::npos) << s.message();
  // A matrix cannot nest.
  EXPECT_FALSE(
      ParseExperimentConfig("experiment: {name: m, kind: flow}\nmatrix: {size: tiny}\n").ok());
}

MatrixResult TwoByTwo() {
  MatrixResult m;
  m.name = "t";
  m.size = "tiny";
  m.rows = {"leak", "poison"};
  m.columns = {"none", "policy"};
  auto cell = [](std::string r, std::string c, double s, double b, bool in, double u) {
    MatrixCell x;
    x.row = r;
    x.column = c;
    x.kind = "flow";
    x.success_metric = "m";
    x.success = s;
    x.blind_guess = b;
    x.received_input = in;
    x.utility_metric = "u";
    x.utility = u;
    x.wall_seconds = 1.5;
    x.tee_seconds = 0.25;
    return x;
  };
  m.cells = {cell("leak", "none", 1.0, 0.1, true, 0.9), cell("leak", "policy", 0.1, 0.1, false, 0.9),
             cell("poison", "none", 0.5, NAN, true, 0.5),
             cell("poison", "policy", 0.5, NAN, true, 0.5)};
  return m;
}

TEST(MatrixOutput, MarkdownHasEveryRowAndColumnWithSuccessAndUtility) {
  const std::string md = MatrixMarkdown(TwoByTwo());
  EXPECT_NE(md.find("| attack (metric, blind guess) | none | policy |"), std::string::npos) << md;
  EXPECT_NE(md.find("| leak (m, blind 0.1) | 1 (0.9) | 0.1* (0.9) |"), std::string::npos) << md;
  EXPECT_NE(md.find("| poison (m, blind n/a) | 0.5 (0.5) | 0.5 (0.5) |"), std::string::npos) << md;
  EXPECT_NE(md.find("| leak | 1.5 / 0.25 | 1.5 / 0.25 |"), std::string::npos) << md;
}

TEST(MatrixOutput, CsvAndH5HoldEveryCell) {
  const MatrixResult m = TwoByTwo();
  const std::string csv = MatrixCsv(m);
  EXPECT_EQ(std::count(csv.begin(), csv.end(), '\n'), 5);
  EXPECT_NE(csv.find("\"leak\",\"policy\",flow,m,0.1,0.1,1,0,u,0.9,1.5,0.25,0"), std::string::npos)
      << csv;
  TempDir dir;
  const std::string path = dir.path() + "/matrix.h5";
  ASSERT_TRUE(WriteMatrixH5(path, m).ok());
  // Read back independently, with h5py as the plotting code does.
  const std::string cmd = "/usr/bin/python3 -c \"import h5py; f = h5py.File('" + path +
                          "', 'r'); print(f['success'].shape, f['success'][()].tolist(), "
                          "[x.decode() for x in f['rows'][()]], f['received_input'][0, 1])\"";
  FILE* p = ::popen(cmd.c_str(), "r");
  ASSERT_NE(p, nullptr);
  char buf[512] = {0};
  const size_t n = std::fread(buf, 1, sizeof buf - 1, p);
  ::pclose(p);
  EXPECT_EQ(std::string(buf, n), "(2, 2) [[1.0, 0.1], [0.5, 0.5]] ['leak', 'poison'] 0.0\n");
  MatrixResult bad = m;
  bad.cells.pop_back();
  EXPECT_EQ(WriteMatrixH5(path, bad).code(), StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace confml::experiments
