// Bindings of sweeps (confml/experiments/sweep.h): plan and run a config's
// seeds x grid, and parse a sweep folder's sweep.csv. confml/__init__.py wraps
// them as confml.sweep and confml.read_sweep (docs/python.md).
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <cmath>
#include <cstdio>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "bindings.h"
#include "confml/experiments/sweep.h"
#include "errors.h"

namespace py = pybind11;

namespace confml::python {
namespace {

using experiments::SweepRow;

// A row as the dict confml.SweepRow is built from; values keyed by grid key.
py::dict RowToPython(const std::vector<std::string>& grid_keys, const SweepRow& row) {
  py::dict values;
  for (size_t k = 0; k < grid_keys.size() && k < row.values.size(); ++k) {
    values[py::str(grid_keys[k])] = row.values[k];
  }
  py::dict outcome;
  for (const auto& [name, v] : row.outcome) outcome[py::str(name)] = v;
  py::dict d;
  d["cell"] = row.cell;
  d["values"] = values;
  d["seed"] = row.seed;
  d["run_dir"] = row.run_dir;
  d["final_test_accuracy"] = row.final_test_accuracy;
  d["final_test_loss"] = row.final_test_loss;
  d["wall_seconds"] = row.wall_seconds;
  d["outcome"] = outcome;
  return d;
}

py::dict Sweep(const std::string& path, const std::vector<std::string>& overrides,
               const std::optional<std::vector<int64_t>>& seeds,
               const std::vector<std::pair<std::string, std::vector<std::string>>>& grid,
               const std::string& resume_dir, bool progress, int jobs, const std::string& worker) {
  experiments::SweepArgs args;
  args.seeds = seeds;
  args.grid = grid;
  experiments::SweepPlan plan = Unwrap(experiments::PlanSweep(path, overrides, args));
  experiments::SweepOptions options;
  options.resume_dir = resume_dir;
  options.jobs = jobs;
  options.worker = worker;
  // Ctrl-C while children run (jobs > 1): the signal handler runs here, with
  // the GIL taken for a moment every poll; RunSweep then stops its children
  // and returns Cancelled, and the KeyboardInterrupt is what Python sees.
  bool interrupted = false;
  if (jobs > 1) {
    options.stop_requested = [&interrupted] {
      if (interrupted) return true;
      py::gil_scoped_acquire gil;
      interrupted = PyErr_CheckSignals() != 0;
      return interrupted;
    };
  }
  options.command_line = {"python", "confml.sweep", path};
  for (const std::string& o : overrides) options.command_line.push_back(o);
  if (progress) {
    // The line `confml sweep` prints, on stderr (no Python call: the GIL is
    // released while the sweep runs).
    options.on_run = [&plan](const experiments::SweepRun& run, const SweepRow& row, size_t done,
                             size_t total) {
      std::string cell;
      for (size_t k = 0; k < plan.grid_keys.size(); ++k) {
        cell += " " + plan.grid_keys[k] + "=" + run.values[k];
      }
      std::fprintf(stderr, "sweep: %zu/%zu cell %zu%s seed %lld: accuracy %.4f in %.1f s\n", done,
                   total, run.cell, cell.c_str(), static_cast<long long>(run.seed),
                   row.final_test_accuracy, row.wall_seconds);
    };
  }
  StatusOr<experiments::SweepResult> result = InternalError("not run");
  {
    // A sweep runs for minutes: let other Python threads go on meanwhile.
    py::gil_scoped_release release;
    result = experiments::RunSweep(plan, options);
  }
  if (interrupted) throw py::error_already_set();  // The pending KeyboardInterrupt.
  experiments::SweepResult r = Unwrap(std::move(result));
  py::list rows;
  for (const SweepRow& row : r.rows) rows.append(RowToPython(r.grid_keys, row));
  py::dict d;
  d["dir"] = r.dir;
  d["grid_keys"] = r.grid_keys;
  d["seeds"] = plan.seeds;
  d["rows"] = rows;
  d["kept"] = r.kept;
  d["summary"] = experiments::SweepSummaryMarkdown(r);
  return d;
}

}  // namespace

void BindSweep(py::module_& m) {
  m.def("_sweep", &Sweep, py::arg("path"), py::arg("overrides"), py::arg("seeds"), py::arg("grid"),
        py::arg("resume_dir"), py::arg("progress"), py::arg("jobs"), py::arg("worker"));
  // The `confml` executable of this build tree: the default worker of jobs > 1.
#ifdef CONFML_CLI_PATH
  m.attr("_cli_path") = CONFML_CLI_PATH;
#else
  m.attr("_cli_path") = "";
#endif
  m.def(
      "_mean_and_sd",
      [](const std::vector<double>& values) {
        const experiments::MeanSd r = experiments::MeanAndSd(values);
        return py::make_tuple(r.mean, r.sd, r.n);
      },
      py::arg("values"),
      "(mean, sample sd, n) of the non-NaN values, as summary.md computes them.");
  m.def(
      "_parse_sweep_csv",
      [](const std::string& text, const std::vector<std::string>& grid_keys) {
        std::vector<SweepRow> rows = Unwrap(experiments::ParseSweepCsv(text, grid_keys));
        py::list out;
        for (const SweepRow& row : rows) out.append(RowToPython(grid_keys, row));
        return out;
      },
      py::arg("text"), py::arg("grid_keys"),
      "Rows of a sweep.csv written for these grid keys (DataLossError naming the line otherwise).");
}

}  // namespace confml::python
