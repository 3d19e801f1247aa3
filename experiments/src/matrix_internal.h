// The matrix's pieces used by runner.cc (internal to experiments).
#pragma once

#include "confml/core/status.h"
#include "confml/experiments/config.h"
#include "confml/experiments/matrix.h"
#include "confml/experiments/runner.h"

namespace confml::experiments::internal {

// Reads one cell's numbers from its run (the attack report's outcome for
// federated cells, the flow's metrics for flow cells).
StatusOr<MatrixCell> CellFromRun(const ExperimentConfig& cell_config, const RunResult& r);

// Experiment kind `matrix`: runs every cell and, unless
// options.write_run_dir is false, writes config.yaml, matrix.md, matrix.csv
// and matrix.h5 to a new run folder. The Markdown table comes back as
// events, one line each.
StatusOr<RunResult> RunMatrixKind(const ExperimentConfig& config, const RunOptions& options);

}  // namespace confml::experiments::internal
