// confml/experiments/matrix.h: the attacks x protections matrix (experiment
// kind `matrix`, docs/matrix.md).
//
// A matrix config names rows (an attack: a base experiment file plus
// overrides) and columns (a protection: overrides), and a size whose
// overrides scale every cell. Each cell is one ordinary experiment run with
// RunExperiment, in row-major order; its numbers come only from that run.
//
//   experiment: {name: confidential_matrix, seed: 1, kind: matrix}
//   matrix:
//     size: small
//     rows: ["inversion (runtime): matrix/fl_inversion.yaml attack.position=runtime"]
//     columns: ["no TEE: tee.name=none attestation.mode=off",
//               "realms + policy: tee.name=sim attestation.mode=policy"]
//     small: [federated.rounds=2]
//
//   StatusOr<ExperimentConfig> c = LoadExperimentConfig("experiments/confidential_matrix.yaml");
//   StatusOr<MatrixResult> m = RunMatrix(*c);
//   std::cout << MatrixMarkdown(*m);
//
// A row or column entry is "<label>: [<base.yaml>] section.key=value ...
// [tiny: ...] [small: ...] [full: ...]"; base paths are relative to the matrix
// file's folder. Overrides apply in the order base file < matrix size list <
// row < row's size list < column < column's size list, and an override whose section the
// cell's experiment kind does not use (aggregator for a flow) is skipped, so
// one column serves federated and flow rows alike.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "confml/core/status.h"
#include "confml/experiments/config.h"

namespace confml::experiments {

struct MatrixAxisEntry {
  std::string label;
  std::string base;                    // rows only: the base config path, resolved
  std::vector<std::string> overrides;  // "section.key=value"
  // After "tiny:", "small:" or "full:" in the entry: overrides of that size only.
  std::map<std::string, std::vector<std::string>> size_overrides;
};

struct MatrixCell {
  std::string row, column;
  std::string kind;            // the cell's experiment.kind (federated or flow)
  std::string success_metric;  // e.g. "psnr", "auc", "stolen_model_agreement"
  double success = 0.0;
  double blind_guess = 0.0;  // NaN when the attack defines none (poisoning)
  bool higher_is_better = true;
  bool received_input = false;
  std::string utility_metric;  // "final_test_accuracy" or the flow's task metric
  double utility = 0.0;
  double wall_seconds = 0.0;
  double tee_seconds = 0.0;  // modeled TEE overhead, apart from wall time
  int64_t refusals = 0;      // attestation decisions that refused
  // The attack's own note (federated cells), e.g. why its metric is undefined
  // when `success` is NaN; the table lists it under every undefined cell.
  std::string note;
};

struct MatrixResult {
  std::string name;
  std::string size;
  std::vector<std::string> rows, columns;
  std::vector<MatrixCell> cells;  // row-major
  const MatrixCell& at(size_t row, size_t column) const {
    return cells[row * columns.size() + column];
  }
};

// Parses the rows and columns of a validated kind-matrix config.
// InvalidArgument naming the entry for a malformed one.
StatusOr<std::vector<MatrixAxisEntry>> MatrixRows(const ExperimentConfig& config);
StatusOr<std::vector<MatrixAxisEntry>> MatrixColumns(const ExperimentConfig& config);

// Loads and validates every cell's config without running anything; returns
// them row-major. The error names the cell.
StatusOr<std::vector<ExperimentConfig>> MatrixCellConfigs(const ExperimentConfig& config);

// Runs every cell in order. `on_cell` (may be empty) sees each finished cell.
StatusOr<MatrixResult> RunMatrix(const ExperimentConfig& config,
                                 const std::function<void(const MatrixCell&)>& on_cell = {});

// The Markdown table (attacks down, protections across, "success (utility)"),
// a costs table, and a legend. A cell whose success is NaN reads "undefined"
// and the legend gives the attack's reason, so no NaN passes silently.
std::string MatrixMarkdown(const MatrixResult& m);
// One row per cell, every field, with a header line.
std::string MatrixCsv(const MatrixResult& m);
// matrix.h5: 2-D datasets [rows, columns] success, blind_guess, utility,
// wall_seconds, tee_seconds, received_input, higher_is_better, refusals, and
// string datasets rows, columns, success_metric, utility_metric, note
// (row-major).
Status WriteMatrixH5(const std::string& path, const MatrixResult& m);

}  // namespace confml::experiments
