#include "confml/experiments/runner.h"

#include <H5public.h>
#include <omp.h>
#include <torch/torch.h>
#include <torch/version.h>

#include <chrono>
#include <cmath>
#include <exception>
#include <limits>
#include <numeric>

#include "confml/core/dataset.h"
#include "confml/core/file_util.h"
#include "confml/core/model.h"
#include "confml/core/seed.h"
#include "confml/core/trainer.h"
#include "confml/core/version.h"
#include "progress.h"
#include "run_dir.h"

namespace confml::experiments {
namespace {

// Adds "<what> '<name>'" unless the message already names the component.
Status Named(const Status& s, const std::string& what, const std::string& name) {
  if (s.message().find("'" + name + "'") != std::string::npos) return s;
  return s.WithContext(what + " '" + name + "'");
}

// The first `limit` samples (all when limit is 0 or not smaller).
void Truncate(Dataset& d, int64_t limit) {
  if (limit <= 0 || limit >= d.size()) return;
  std::vector<int64_t> first(static_cast<size_t>(limit));
  std::iota(first.begin(), first.end(), int64_t{0});
  d = d.Subset(first);
}

EpochRecord ToRecord(const EpochMetrics& m) {
  return EpochRecord{m.epoch,     m.train_loss,    m.train_accuracy,
                     m.test_loss, m.test_accuracy, m.seconds};
}

std::string Hdf5Version() {
  unsigned major = 0, minor = 0, release = 0;
  H5get_libversion(&major, &minor, &release);
  return std::to_string(major) + "." + std::to_string(minor) + "." + std::to_string(release);
}

StatusOr<TrainTest> BuildData(const ExperimentConfig& config, Seed root) {
  const SectionConfig& s = config.section("dataset");
  CONFML_ASSIGN_OR_RETURN(const auto* entry, DatasetRegistry().Lookup(s.component));
  StatusOr<TrainTest> data = entry->factory(s.params, root.Child("data"));
  if (!data.ok()) return Named(data.status(), "dataset", s.component);
  // A dataset that declares the limits itself has applied them already.
  if (!s.params.Has("train_limit")) Truncate(data->train, s.keys.Int("train_limit"));
  if (!s.params.Has("test_limit")) Truncate(data->test, s.keys.Int("test_limit"));
  if (data->train.size() == 0) {
    return InvalidArgumentError("dataset '" + s.component + "': the training set is empty");
  }
  return data;
}

StatusOr<RunResult> RunCentralized(const ExperimentConfig& config, const RunOptions& options) {
  const auto start = std::chrono::system_clock::now();
  const Seed root(config.seed());
  torch::set_num_threads(static_cast<int>(config.Int("experiment", "threads")));

  // Everything that can fail on input comes before the run folder exists.
  CONFML_ASSIGN_OR_RETURN(TrainTest data, BuildData(config, root));
  const Dataset* test = data.test.size() > 0 ? &data.test : nullptr;

  const SectionConfig& model_section = config.section("model");
  ModelContext context{data.train.sample_shape, data.train.num_classes};
  StatusOr<ModelPtr> model =
      CreateModel(model_section.component, model_section.params, context, root.Child("model"));
  if (!model.ok()) return Named(model.status(), "model", model_section.component);

  const SectionConfig& opt_section = config.section("optimizer");
  StatusOr<OptimizerOptions> opt = OptimizerFromParams(opt_section.component, opt_section.params);
  if (!opt.ok()) return Named(opt.status(), "optimizer", opt_section.component);

  TrainOptions train_options;
  train_options.epochs = config.Int("train", "epochs");
  train_options.batch_size = config.Int("train", "batch_size");
  train_options.eval_batch_size = config.Int("train", "eval_batch_size");
  train_options.optimizer = *opt;

  RunResult result;
  result.train_samples = data.train.size();
  result.test_samples = data.test.size();
  result.model_parameters = NumParameters(**model);

  RunResults results;
  results.name = config.name();
  results.seed = static_cast<int64_t>(config.seed());
  results.epochs_planned = train_options.epochs;
  results.confml_version = Version();
  results.config_yaml = config.ToYaml();
  results.final_test_accuracy = std::numeric_limits<double>::quiet_NaN();

  std::string results_path;
  if (options.write_run_dir) {
    CONFML_ASSIGN_OR_RETURN(result.run_dir,
                            internal::CreateRunDir(config.String("experiment", "output_dir"),
                                                   config.name(), config.seed(), start));
    CONFML_RETURN_IF_ERROR(
        WriteFileAtomically(result.run_dir + "/config.yaml", results.config_yaml));
    internal::Provenance p;
    p.confml_version = Version();
    p.git_commit = GitCommit();
    p.build_type = BuildType();
    p.compiler = CompilerId();
    p.torch_version = TORCH_VERSION;
    p.hdf5_version = Hdf5Version();
    p.seed = config.seed();
    p.torch_threads = torch::get_num_threads();
    p.openmp_max_threads = omp_get_max_threads();
    p.hostname = internal::Hostname();
    p.start_time = internal::IsoUtc(start);
    p.config_source = config.source;
    p.overrides = config.overrides;
    p.command_line = options.command_line;
    CONFML_RETURN_IF_ERROR(
        WriteFileAtomically(result.run_dir + "/provenance.json", internal::ProvenanceJson(p)));
    results_path = result.run_dir + "/results.h5";
    CONFML_RETURN_IF_ERROR(WriteResultsFile(results_path, results));
  }

  internal::Progress progress(options.progress, train_options.epochs);
  Status write_status;
  auto on_epoch = [&](const EpochMetrics& m) {
    EpochRecord r = ToRecord(m);
    results.epochs.push_back(r);
    progress.Epoch(r);
    if (!results_path.empty() && write_status.ok()) {
      write_status = WriteResultsFile(results_path, results);
    }
  };
  auto on_step = [&](int64_t step, int64_t steps) { progress.Step(step, steps); };

  Trainer trainer(train_options);
  StatusOr<std::vector<EpochMetrics>> history =
      trainer.Fit(**model, data.train, test, root.Child("train"), on_epoch, on_step);
  progress.Finish();
  if (!history.ok()) return history.status().WithContext("training");
  CONFML_RETURN_IF_ERROR(write_status);

  result.epochs = results.epochs;
  if (!result.epochs.empty()) {
    result.final_test_accuracy = result.epochs.back().test_accuracy;
    result.final_test_loss = result.epochs.back().test_loss;
  }
  results.complete = true;
  results.final_test_accuracy = result.final_test_accuracy;
  if (!results_path.empty()) CONFML_RETURN_IF_ERROR(WriteResultsFile(results_path, results));
  return result;
}

}  // namespace

StatusOr<RunResult> RunExperiment(const ExperimentConfig& config, const RunOptions& options) {
  try {
    if (config.kind() == "centralized") return RunCentralized(config, options);
    return UnimplementedError("experiment.kind '" + config.kind() + "' is not implemented");
  } catch (const std::exception& e) {
    // LibTorch appends a multi-line backtrace; the first line says what failed.
    std::string what = e.what();
    what = what.substr(0, what.find('\n'));
    return InternalError("experiment failed: " + what);
  }
}

bool IsInputError(const Status& status) {
  switch (status.code()) {
    case StatusCode::kInvalidArgument:
    case StatusCode::kNotFound:
    case StatusCode::kDataLoss:
    case StatusCode::kFailedPrecondition:
    case StatusCode::kOutOfRange:
    case StatusCode::kPermissionDenied:
    case StatusCode::kUnimplemented:
      return true;
    default:
      return false;
  }
}

}  // namespace confml::experiments
