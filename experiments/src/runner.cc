#include "confml/experiments/runner.h"

#include <H5public.h>
#include <omp.h>
#include <torch/torch.h>
#include <torch/version.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <exception>
#include <filesystem>
#include <limits>
#include <numeric>
#include <optional>

#include "confml/core/dataset.h"
#include "confml/core/file_util.h"
#include "confml/core/fl_checkpoint.h"
#include "confml/core/model.h"
#include "confml/core/seed.h"
#include "confml/core/thread_scope.h"
#include "confml/core/trainer.h"
#include "confml/core/version.h"
#include "confml/experiments/flows.h"
#include "federated_runner.h"
#include "matrix_internal.h"
#include "progress.h"
#include "run_dir.h"
#include "run_extras.h"

namespace confml::experiments {
namespace {

// Adds "<what> '<name>'" unless the message already names the component.
Status Named(const Status& s, const std::string& what, const std::string& name) {
  if (s.message().find("'" + name + "'") != std::string::npos) return s;
  return s.WithContext(what + " '" + name + "'");
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

Status WriteConfigAndProvenance(const std::string& run_dir, const ExperimentConfig& config,
                                const RunOptions& options,
                                std::chrono::system_clock::time_point start) {
  CONFML_RETURN_IF_ERROR(WriteFileAtomically(run_dir + "/config.yaml", config.ToYaml()));
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
  return WriteFileAtomically(run_dir + "/provenance.json", internal::ProvenanceJson(p));
}

StatusOr<TrainTest> BuildData(const ExperimentConfig& config, Seed root) {
  const SectionConfig& s = config.section("dataset");
  CONFML_ASSIGN_OR_RETURN(const auto* entry, DatasetRegistry().Lookup(s.component));
  const Seed data_seed = root.Child("data");
  StatusOr<TrainTest> data = entry->factory(s.params, data_seed);
  if (!data.ok()) return Named(data.status(), "dataset", s.component);
  data->train =
      StratifiedSubset(data->train, s.keys.Int("train_limit"), data_seed.Child("train_limit"));
  data->test = StratifiedSubset(data->test, s.keys.Int("test_limit"), data_seed.Child("test_limit"));
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
  // experiment.threads sets how many replicas compute the micro-batches, not
  // the numbers (docs/models.md, "Thread count").
  train_options.micro_batches = config.Int("train", "micro_batches");
  train_options.replica_factory = [&] {
    return CreateModel(model_section.component, model_section.params, context, root.Child("model"));
  };

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
  std::optional<internal::RunDirGuard> discard_unless_kept;
  if (options.write_run_dir) {
    CONFML_ASSIGN_OR_RETURN(result.run_dir,
                            internal::CreateRunDir(config.String("experiment", "output_dir"),
                                                   config.name(), config.seed(), start));
    discard_unless_kept.emplace(result.run_dir);
    CONFML_RETURN_IF_ERROR(WriteConfigAndProvenance(result.run_dir, config, options, start));
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
      if (write_status.ok()) discard_unless_kept->Keep();
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

// The folder's config.yaml must describe the same run as `config` up to the
// keys a resumed run may change; checked before anything in it is rewritten,
// so a mismatched resume leaves the folder as it was.
Status CheckResumable(const std::string& dir, const ExperimentConfig& config) {
  StatusOr<ExperimentConfig> before = LoadExperimentConfig(dir + "/config.yaml");
  if (!before.ok()) return before.status().WithContext("resume");
  static const std::pair<const char*, const char*> kMayChange[] = {
      {"experiment", "threads"},       {"experiment", "output_dir"},
      {"federated", "rounds"},         {"federated", "workers"},
      {"federated", "eval_every"},     {"federated", "checkpoint_every"},
      {"federated", "eval_batch_size"}};
  ExperimentConfig normalized = *before;
  for (const auto& [section, key] : kMayChange) {
    auto it = normalized.sections.find(section);
    if (it != normalized.sections.end() && config.Has(section)) {
      it->second.keys.Set(key, config.Get(section, key));
    }
  }
  if (normalized == config) return OkStatus();
  std::string differs;
  for (const auto& [name, s] : config.sections) {
    auto it = normalized.sections.find(name);
    if (it == normalized.sections.end() || !(it->second == s)) {
      differs = name;
      break;
    }
  }
  if (differs.empty()) differs = "its sections";
  return FailedPreconditionError("resume: " + dir + "/config.yaml differs from this config in " +
                                 differs +
                                 "; only experiment.threads, experiment.output_dir and "
                                 "federated.rounds, workers, eval_every, checkpoint_every, "
                                 "eval_batch_size may change");
}

// The tee and attestation sections, shared by the flow and federated kinds.
struct TeeSettings {
  bool present = false;  // either section given
  std::string backend = "none";
  std::map<std::string, ParamValue> backend_params;
  int64_t realm_memory_mb = 4;
  AttestationMode mode = AttestationMode::kOff;
  std::vector<std::string> trust_deployed;
};

StatusOr<TeeSettings> ReadTeeSettings(const ExperimentConfig& config) {
  TeeSettings t;
  if (config.Has("tee")) {
    t.present = true;
    const SectionConfig& s = config.section("tee");
    t.backend = s.component;
    t.backend_params.insert(s.params.values().begin(), s.params.values().end());
    t.realm_memory_mb = s.keys.Int("realm_memory_mb");
  }
  if (config.Has("attestation")) {
    t.present = true;
    const SectionConfig& s = config.section("attestation");
    CONFML_ASSIGN_OR_RETURN(t.mode, ParseAttestationMode(s.keys.String("mode")));
    t.trust_deployed = s.keys.StringList("trust_deployed");
    for (const std::string& role : t.trust_deployed) {
      if (role != "runtime" && role != "device") {
        return InvalidArgumentError("attestation.trust_deployed: unknown role '" + role +
                                    "' (runtime or device)");
      }
    }
  }
  return t;
}

bool Contains(const std::vector<std::string>& v, const std::string& x) {
  return std::find(v.begin(), v.end(), x) != v.end();
}

Status WriteOutcome(const std::string& run_dir, const RunResult& result,
                    std::vector<AttackArray> arrays, std::map<std::string, std::string> text) {
  if (run_dir.empty()) return OkStatus();
  RunExtras x;
  x.metrics = result.outcome;
  x.admissions = result.admissions;
  x.arrays = std::move(arrays);
  x.events = result.events;
  x.text = std::move(text);
  const TeeCost& c = result.tee_cost;
  x.metrics["tee.modeled_seconds"] = c.total_seconds();
  x.metrics["tee.realm_entries"] = static_cast<double>(c.realm_entries);
  x.metrics["tee.bytes_crypted"] = static_cast<double>(c.bytes_crypted);
  x.metrics["tee.tokens"] = static_cast<double>(c.tokens);
  return WriteRunExtras(run_dir + "/outcome.h5", x);
}

RoundRecord ToRoundRecord(const RoundMetrics& m) {
  return RoundRecord{m.round,         m.mean_train_loss,  m.test_loss,
                     m.test_accuracy, m.clients_admitted, m.clients_refused,
                     m.seconds,       m.clients_dropped};
}

StatusOr<RunResult> RunFederated(const ExperimentConfig& config, const RunOptions& options) {
  const auto start = std::chrono::system_clock::now();
  const Seed root(config.seed());
  torch::set_num_threads(static_cast<int>(config.Int("experiment", "threads")));

  // As for centralized runs, every input check comes before the run folder:
  // the data is loaded (and truncated) here and lent to the engine, and the
  // partition and model are built once to surface their errors.
  CONFML_ASSIGN_OR_RETURN(TrainTest data, BuildData(config, root));

  FederatedRunSpec spec;
  spec.name = config.name();
  spec.seed = config.seed();
  spec.dataset = config.section("dataset").component;
  spec.data = &data;
  const SectionConfig& model_section = config.section("model");
  spec.model = model_section.component;
  spec.model_params.insert(model_section.params.values().begin(),
                           model_section.params.values().end());
  const SectionConfig& partition = config.section("partition");
  spec.partition = partition.component;
  spec.num_clients = partition.keys.Int("num_clients");
  if (partition.params.Has("alpha")) spec.alpha = partition.params.Double("alpha");
  if (partition.params.Has("min_per_client")) {
    spec.min_per_client = partition.params.Int("min_per_client");
  }
  if (partition.params.Has("shards_per_client")) {
    spec.shards_per_client = partition.params.Int("shards_per_client");
  }
  if (partition.params.Has("q")) spec.fang_q = partition.params.Double("q");
  const SectionConfig& aggregator = config.section("aggregator");
  spec.aggregator = aggregator.component;
  spec.aggregator_params.insert(aggregator.params.values().begin(),
                                aggregator.params.values().end());

  FederatedOptions& o = spec.options;
  o.rounds = config.Int("federated", "rounds");
  o.clients_per_round = config.Int("federated", "clients_per_round");
  o.local_epochs = config.Int("federated", "local_epochs");
  o.local_steps = config.Int("federated", "local_steps");
  o.local_batch_size = config.Int("federated", "batch_size");
  o.eval_batch_size = config.Int("federated", "eval_batch_size");
  o.workers = config.Int("federated", "workers");
  o.eval_every = config.Int("federated", "eval_every");
  o.checkpoint_every = config.Int("federated", "checkpoint_every");
  o.min_updates = config.Int("federated", "min_updates");
  o.server_lr = config.Double("federated", "server_lr");
  o.executor = options.client_executor;
  spec.initial_model = config.String("federated", "initial_model");
  spec.initial_state = options.initial_state;
  const SectionConfig& opt_section = config.section("optimizer");
  StatusOr<OptimizerOptions> opt = OptimizerFromParams(opt_section.component, opt_section.params);
  if (!opt.ok()) return Named(opt.status(), "optimizer", opt_section.component);
  o.optimizer = *opt;

  CONFML_ASSIGN_OR_RETURN(TeeSettings tee, ReadTeeSettings(config));
  spec.use_deployment = tee.present;
  spec.tee_backend = tee.backend;
  spec.tee_params = tee.backend_params;
  spec.realm_memory_mb = tee.realm_memory_mb;
  spec.attestation = tee.mode;
  spec.trust_deployed = tee.trust_deployed;
  if (config.Has("attack")) {
    const SectionConfig& a = config.section("attack");
    spec.attack = a.component;
    spec.attack_params.insert(a.params.values().begin(), a.params.values().end());
    spec.malicious_fraction = a.keys.Double("malicious_fraction");
    spec.attack_start_round = a.keys.Int("start_round");
    spec.attackers_every_round = a.keys.Bool("every_round");
    if (!options.resume_dir.empty()) {
      return FailedPreconditionError(
          "resume: runs with an attack section do not resume (the attack's state is not "
          "checkpointed); start the run again");
    }
  }

  StatusOr<Partition> check = MakeFederatedPartition(spec, data.train, root.Child("partition"));
  if (!check.ok()) return Named(check.status(), "partition", spec.partition);
  ModelContext context{data.train.sample_shape, data.train.num_classes};
  StatusOr<ModelPtr> model =
      CreateModel(model_section.component, model_section.params, context, root.Child("model"));
  if (!model.ok()) return Named(model.status(), "model", model_section.component);

  RunResult result;
  if (!options.resume_dir.empty()) {
    if (!std::filesystem::is_directory(options.resume_dir)) {
      return NotFoundError("resume: no run folder " + options.resume_dir);
    }
    if (!std::filesystem::exists(options.resume_dir + "/fl.ckpt")) {
      return NotFoundError("resume: no checkpoint " + options.resume_dir + "/fl.ckpt");
    }
    CONFML_RETURN_IF_ERROR(CheckResumable(options.resume_dir, config));
    // A damaged checkpoint must fail before config.yaml and provenance.json
    // are rewritten below, or the folder would lose its run's provenance.
    StatusOr<FlCheckpoint> checkpoint = ReadFlCheckpoint(options.resume_dir + "/fl.ckpt");
    if (!checkpoint.ok()) return checkpoint.status().WithContext("resume");
    result.run_dir = options.resume_dir;
  } else if (options.write_run_dir) {
    CONFML_ASSIGN_OR_RETURN(result.run_dir,
                            internal::CreateRunDir(config.String("experiment", "output_dir"),
                                                   config.name(), config.seed(), start));
  }
  // A fresh folder goes again if the run fails before its first round (a bad
  // federated.initial_model, an attack that cannot start): nothing in it
  // would describe a run. A resumed folder is never removed.
  std::optional<internal::RunDirGuard> discard_unless_kept;
  if (options.resume_dir.empty() && !result.run_dir.empty()) {
    discard_unless_kept.emplace(result.run_dir);
  }
  if (!result.run_dir.empty()) {
    CONFML_RETURN_IF_ERROR(WriteConfigAndProvenance(result.run_dir, config, options, start));
  }
  spec.run_dir = result.run_dir;

  internal::Progress progress(options.progress, o.rounds);
  StatusOr<FederatedRunOutput> out = [&] {
    // Attack code works on this thread (its setup, its hooks, its Report);
    // at one intra-op thread its metrics do not depend on experiment.threads,
    // which sizes the engine's pinned workers instead.
    OneIntraOpThread one_thread;
    return RunFederatedExperiment(spec, {}, [&](const RoundMetrics& m) {
      progress.Round(ToRoundRecord(m));
      if (discard_unless_kept) discard_unless_kept->Keep();
    });
  }();
  progress.Finish();
  if (!out.ok()) return out.status().WithContext("federated training");

  for (const RoundMetrics& m : out->result.rounds) result.rounds.push_back(ToRoundRecord(m));
  result.final_state_hash = out->result.final_state_hash;
  result.final_test_accuracy = out->result.final_test_accuracy;
  result.final_test_loss = out->result.final_test_loss;
  result.train_samples = out->train_samples;
  result.test_samples = out->test_samples;
  result.model_parameters = out->model_parameters;
  if (spec.use_deployment || out->attack) {
    result.admissions = out->admissions;
    result.tee_cost = out->tee_cost;
    int64_t refused = 0;
    for (const AdmissionRecord& a : result.admissions) refused += a.admitted ? 0 : 1;
    result.events.push_back(std::to_string(result.admissions.size()) +
                            " attestation decisions, " + std::to_string(refused) + " refusals");
    std::vector<AttackArray> arrays;
    std::map<std::string, std::string> text;
    if (out->attack) {
      const AttackReport& r = *out->attack;
      for (const auto& [k, v] : r.metrics) result.outcome["attack." + k] = v;
      auto it = r.metrics.find(r.success_metric);
      result.outcome["attack.success"] = it == r.metrics.end() ? NAN : it->second;
      result.outcome["attack.blind_guess"] = r.blind_guess;
      result.outcome["attack.received_input"] = r.received_input ? 1 : 0;
      result.outcome["attack.malicious_clients"] = static_cast<double>(out->malicious_clients.size());
      result.events.push_back("attack " + r.attack + ": " + r.success_metric + " " +
                              std::to_string(result.outcome["attack.success"]) +
                              " (blind guess " + std::to_string(r.blind_guess) + ")" +
                              (r.note.empty() ? "" : "; " + r.note));
      arrays = r.arrays;
      text["attack"] = r.attack;
      text["success_metric"] = r.success_metric;
    }
    result.outcome["final_test_accuracy"] = result.final_test_accuracy;
    CONFML_RETURN_IF_ERROR(WriteOutcome(result.run_dir, result, std::move(arrays), std::move(text)));
  }
  return result;
}

StatusOr<RunResult> RunFlowKind(const ExperimentConfig& config, const RunOptions& options) {
  const auto start = std::chrono::system_clock::now();
  CONFML_ASSIGN_OR_RETURN(TeeSettings tee, ReadTeeSettings(config));
  const SectionConfig& f = config.section("flow");
  FlowOptions o;
  o.scenario = f.keys.String("scenario");
  o.backend = tee.backend;
  o.backend_params = tee.backend_params;
  o.realm_memory_mb = tee.realm_memory_mb;
  o.attestation = tee.mode;
  o.trust_deployed_runtime = Contains(tee.trust_deployed, "runtime");
  o.runtime_code = f.keys.String("runtime_code");
  o.host_attack = f.keys.String("host_attack");
  o.pretrain_words = f.keys.StringList("pretrain_words");
  o.user_words = f.keys.StringList("user_words");
  o.other_device_words = f.keys.StringList("other_device_words");
  for (const auto* words : {&o.pretrain_words, &o.user_words, &o.other_device_words}) {
    for (const std::string& w : *words) {
      if (w.size() != 5) {
        return InvalidArgumentError("flow: word '" + w + "' must have exactly 5 letters");
      }
    }
  }
  o.pretrain_epochs = f.keys.Int("pretrain_epochs");
  o.train_epochs = f.keys.Int("train_epochs");
  o.lr = f.keys.Double("lr");
  o.fl_rounds = f.keys.Int("fl_rounds");
  o.fl_local_epochs = f.keys.Int("fl_local_epochs");
  o.inference_inputs = f.keys.Int("inference_inputs");
  o.classifier_train_samples = f.keys.Int("classifier_train_samples");
  o.classifier_epochs = f.keys.Int("classifier_epochs");
  o.seed = Seed(config.seed());
  torch::set_num_threads(static_cast<int>(config.Int("experiment", "threads")));

  // A flow is short: run it first, then write the folder, so a failed flow
  // leaves nothing behind.
  CONFML_ASSIGN_OR_RETURN(FlowResult flow, RunFlow(o));
  RunResult result;
  result.outcome = flow.metrics;
  result.admissions = flow.admissions;
  result.events = flow.events;
  result.events.insert(result.events.end(), flow.predictions.begin(), flow.predictions.end());
  result.tee_cost = flow.cost;
  if (options.write_run_dir) {
    CONFML_ASSIGN_OR_RETURN(result.run_dir,
                            internal::CreateRunDir(config.String("experiment", "output_dir"),
                                                   config.name(), config.seed(), start));
    CONFML_RETURN_IF_ERROR(WriteConfigAndProvenance(result.run_dir, config, options, start));
    CONFML_RETURN_IF_ERROR(WriteOutcome(
        result.run_dir, result, {},
        {{"scenario", flow.scenario}, {"policy", flow.policy_summary}}));
  }
  return result;
}

}  // namespace

StatusOr<RunResult> RunExperiment(const ExperimentConfig& config, const RunOptions& options) {
  // A folder that can never be created fails before the data loads.
  if (options.write_run_dir && options.resume_dir.empty()) {
    CONFML_RETURN_IF_ERROR(internal::CheckOutputDir(config.String("experiment", "output_dir")));
  }
  try {
    if (config.kind() == "centralized") {
      if (!options.resume_dir.empty()) {
        return InvalidArgumentError("resume: only federated runs resume (experiment.kind '" +
                                    config.kind() + "')");
      }
      return RunCentralized(config, options);
    }
    if (config.kind() == "federated") return RunFederated(config, options);
    if (config.kind() == "flow") {
      if (!options.resume_dir.empty()) {
        return InvalidArgumentError("resume: only federated runs resume (experiment.kind 'flow')");
      }
      return RunFlowKind(config, options);
    }
    if (config.kind() == "matrix") {
      if (!options.resume_dir.empty()) {
        return InvalidArgumentError("resume: only federated runs resume (experiment.kind 'matrix')");
      }
      return internal::RunMatrixKind(config, options);
    }
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
