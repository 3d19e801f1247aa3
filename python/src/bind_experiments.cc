// Bindings of experiments: validate and run configs, read results, the schema.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include "bindings.h"
#include "py_util.h"
#include "confml/experiments/config.h"
#include "confml/experiments/results.h"
#include "confml/experiments/runner.h"
#include "errors.h"

namespace py = pybind11;

namespace confml::python {
namespace {

using experiments::EpochRecord;
using experiments::ExperimentConfig;

// Per-epoch metrics as a dict of equal-length NumPy arrays.
py::dict EpochsToNumpy(const std::vector<EpochRecord>& epochs) {
  const size_t n = epochs.size();
  py::array_t<int64_t> epoch(n);
  py::array_t<double> train_loss(n), train_acc(n), test_loss(n), test_acc(n), seconds(n);
  for (size_t i = 0; i < n; ++i) {
    epoch.mutable_at(i) = epochs[i].epoch;
    train_loss.mutable_at(i) = epochs[i].train_loss;
    train_acc.mutable_at(i) = epochs[i].train_accuracy;
    test_loss.mutable_at(i) = epochs[i].test_loss;
    test_acc.mutable_at(i) = epochs[i].test_accuracy;
    seconds.mutable_at(i) = epochs[i].seconds;
  }
  py::dict d;
  d["epoch"] = epoch;
  d["train_loss"] = train_loss;
  d["train_accuracy"] = train_acc;
  d["test_loss"] = test_loss;
  d["test_accuracy"] = test_acc;
  d["seconds"] = seconds;
  return d;
}

experiments::ProgressMode ParseProgress(const std::string& s) {
  if (s == "auto") return experiments::ProgressMode::kAuto;
  if (s == "bar") return experiments::ProgressMode::kBar;
  if (s == "lines") return experiments::ProgressMode::kLines;
  if (s == "none") return experiments::ProgressMode::kNone;
  ThrowStatus(InvalidArgumentError("progress must be one of auto, bar, lines, none; got '" + s + "'"));
}

// `origin`: the file a rewritten text came from (confml.run's aggregator= and
// attack=), or empty. The config then stands for that file, as `confml run
// FILE` would load it: its folder anchors relative paths (matrix rows) and
// provenance names it; `source` still names the rewrite in error messages.
ExperimentConfig LoadConfig(const std::string& text_or_path, bool is_text,
                            const std::vector<std::string>& overrides, const std::string& source,
                            const std::string& origin) {
  StatusOr<ExperimentConfig> config =
      is_text ? experiments::ParseExperimentConfig(text_or_path, overrides, source)
              : experiments::LoadExperimentConfig(text_or_path, overrides);
  ExperimentConfig c = Unwrap(std::move(config));
  if (!origin.empty()) c.source = origin;
  return c;
}

py::dict Run(const std::string& text_or_path, bool is_text,
             const std::vector<std::string>& overrides, const std::string& source,
             const std::string& origin, const std::string& progress, bool write_run_dir) {
  ExperimentConfig config = LoadConfig(text_or_path, is_text, overrides, source, origin);
  experiments::RunOptions options;
  options.progress = ParseProgress(progress);
  options.write_run_dir = write_run_dir;
  options.command_line = {"python", "confml.run", is_text ? config.source : text_or_path};
  for (const auto& o : overrides) options.command_line.push_back(o);
  StatusOr<experiments::RunResult> result = InternalError("not run");
  {
    // The run may take minutes: let other Python threads go on meanwhile.
    py::gil_scoped_release release;
    result = experiments::RunExperiment(config, options);
  }
  experiments::RunResult r = Unwrap(std::move(result));
  py::dict d;
  d["run_dir"] = r.run_dir;
  d["metrics"] = EpochsToNumpy(r.epochs);
  d["final_test_accuracy"] = r.final_test_accuracy;
  d["final_test_loss"] = r.final_test_loss;
  d["train_samples"] = r.train_samples;
  d["test_samples"] = r.test_samples;
  d["model_parameters"] = r.model_parameters;
  d["config"] = config.ToYaml();
  // Federated rounds, as NumPy columns.
  const size_t n = r.rounds.size();
  py::array_t<int64_t> round(n), admitted(n), refused(n), dropped(n);
  py::array_t<double> train_loss(n), test_loss(n), test_acc(n), seconds(n);
  for (size_t i = 0; i < n; ++i) {
    round.mutable_at(i) = r.rounds[i].round;
    admitted.mutable_at(i) = r.rounds[i].clients_admitted;
    refused.mutable_at(i) = r.rounds[i].clients_refused;
    dropped.mutable_at(i) = r.rounds[i].clients_dropped;
    train_loss.mutable_at(i) = r.rounds[i].mean_train_loss;
    test_loss.mutable_at(i) = r.rounds[i].test_loss;
    test_acc.mutable_at(i) = r.rounds[i].test_accuracy;
    seconds.mutable_at(i) = r.rounds[i].seconds;
  }
  py::dict rounds;
  rounds["round"] = round;
  rounds["mean_train_loss"] = train_loss;
  rounds["test_loss"] = test_loss;
  rounds["test_accuracy"] = test_acc;
  rounds["clients_admitted"] = admitted;
  rounds["clients_refused"] = refused;
  rounds["clients_dropped"] = dropped;
  rounds["seconds"] = seconds;
  d["rounds"] = rounds;
  d["final_state_hash"] = r.final_state_hash;
  py::dict outcome;
  for (const auto& [k, v] : r.outcome) outcome[py::str(k)] = v;
  d["outcome"] = outcome;
  py::list admissions;
  for (const experiments::AdmissionRecord& a : r.admissions) {
    py::dict ad;
    ad["relying"] = a.relying;
    ad["attester"] = a.attester;
    ad["expected_role"] = a.expected_role;
    ad["admitted"] = a.admitted;
    ad["failed_checks"] = a.failed_checks;
    ad["detail"] = a.detail;
    admissions.append(ad);
  }
  d["admissions"] = admissions;
  d["events"] = r.events;
  d["tee_modeled_seconds"] = r.tee_cost.total_seconds();
  return d;
}

}  // namespace

void BindExperiments(py::module_& m) {
  m.def("_run", &Run, py::arg("text_or_path"), py::arg("is_text"), py::arg("overrides"),
        py::arg("source"), py::arg("origin"), py::arg("progress"), py::arg("write_run_dir"));
  m.def(
      "_resolve_config",
      [](const std::string& text_or_path, bool is_text, const std::vector<std::string>& overrides,
         const std::string& source, const std::string& origin) {
        return LoadConfig(text_or_path, is_text, overrides, source, origin).ToYaml();
      },
      py::arg("text_or_path"), py::arg("is_text"), py::arg("overrides"), py::arg("source"),
      py::arg("origin"));
  m.def(
      "read_results",
      [](const std::string& path) {
        experiments::RunResults r = Unwrap(experiments::ReadResultsFile(path));
        py::dict d;
        d["name"] = r.name;
        d["seed"] = r.seed;
        d["epochs_planned"] = r.epochs_planned;
        d["complete"] = r.complete;
        d["final_test_accuracy"] = r.final_test_accuracy;
        d["confml_version"] = r.confml_version;
        d["config"] = r.config_yaml;
        d["metrics"] = EpochsToNumpy(r.epochs);
        return d;
      },
      py::arg("path"), "Reads a run's results.h5 into a dict of NumPy arrays.");
  m.def(
      "config_schema",
      [] {
        py::list out;
        for (const auto& s : experiments::ConfigSchema()) {
          py::dict d;
          d["name"] = s.name;
          d["doc"] = s.doc;
          d["required"] = s.required;
          d["component_kind"] = s.component_kind;
          d["keys"] = SpecToPython(s.keys);
          py::list comps;
          for (const auto& c : s.components) comps.append(SpecToPython(c));
          d["components"] = comps;
          out.append(d);
        }
        return out;
      },
      "Every config section, its keys and the components it can select, with their parameters.");
  m.def("config_reference_markdown", &experiments::ConfigReferenceMarkdown,
        "The Markdown reference of every config key (docs/config-reference.md).");
}

}  // namespace confml::python
