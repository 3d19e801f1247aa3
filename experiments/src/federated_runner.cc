// RunFederatedExperiment and the per-round HDF5 results file.
#include "federated_runner.h"

#include <hdf5.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "confml/core/aggregator.h"
#include "confml/core/dataset.h"
#include "confml/core/file_util.h"
#include "confml/core/fl_checkpoint.h"
#include "confml/core/partition.h"
#include "confml/core/program.h"
#include "confml/experiments/federation.h"
#include "h5_util.h"

namespace confml::experiments {

namespace {

using H5 = internal::H5Handle;
using internal::Hdf5Mutex;

constexpr const char* kIntColumns[] = {"round",           "clients_sampled",  "clients_admitted",
                                       "clients_refused", "updates_rejected", "bytes_down",
                                       "bytes_up",        "clients_dropped"};
constexpr int64_t RoundMetrics::*kIntFields[] = {&RoundMetrics::round,
                                                 &RoundMetrics::clients_sampled,
                                                 &RoundMetrics::clients_admitted,
                                                 &RoundMetrics::clients_refused,
                                                 &RoundMetrics::updates_rejected,
                                                 &RoundMetrics::bytes_down,
                                                 &RoundMetrics::bytes_up,
                                                 &RoundMetrics::clients_dropped};
// Files written before dropouts existed have no clients_dropped column: read as 0.
constexpr const char* kOptionalIntColumn = "clients_dropped";
constexpr const char* kDoubleColumns[] = {"test_accuracy", "test_loss", "mean_train_loss",
                                          "seconds", "train_seconds"};
constexpr double RoundMetrics::*kDoubleFields[] = {
    &RoundMetrics::test_accuracy, &RoundMetrics::test_loss, &RoundMetrics::mean_train_loss,
    &RoundMetrics::seconds, &RoundMetrics::train_seconds};

Status WriteColumn(hid_t file, const char* name, hid_t type, const void* data, hsize_t n) {
  H5 space(H5Screate_simple(1, &n, nullptr), H5Sclose);
  H5 ds(H5Dcreate2(file, name, type, space.get(), H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT), H5Dclose);
  if (!space.ok() || !ds.ok())
    return InternalError(std::string("HDF5: cannot create dataset ") + name);
  if (n > 0 && H5Dwrite(ds.get(), type, H5S_ALL, H5S_ALL, H5P_DEFAULT, data) < 0) {
    return UnavailableError(std::string("HDF5: cannot write dataset ") + name);
  }
  return OkStatus();
}

Status WriteAttr(hid_t file, const char* name, hid_t type, const void* data) {
  H5 space(H5Screate(H5S_SCALAR), H5Sclose);
  H5 attr(H5Acreate2(file, name, type, space.get(), H5P_DEFAULT, H5P_DEFAULT), H5Aclose);
  if (!attr.ok() || H5Awrite(attr.get(), type, data) < 0) {
    return UnavailableError(std::string("HDF5: cannot write attribute ") + name);
  }
  return OkStatus();
}

Status WriteStringAttr(hid_t file, const char* name, const std::string& value) {
  H5 type(H5Tcopy(H5T_C_S1), H5Tclose);
  const std::string padded = value.empty() ? std::string(1, '\0') : value;
  H5Tset_size(type.get(), padded.size());
  H5Tset_strpad(type.get(), H5T_STR_NULLPAD);
  return WriteAttr(file, name, type.get(), padded.data());
}

template <typename T>
StatusOr<std::vector<T>> ReadColumn(hid_t file, const char* name, hid_t type,
                                    const std::string& path) {
  H5 ds(H5Dopen2(file, name, H5P_DEFAULT), H5Dclose);
  if (!ds.ok()) return DataLossError(path + ": no dataset '" + name + "'");
  H5 space(H5Dget_space(ds.get()), H5Sclose);
  hsize_t n = 0;
  if (H5Sget_simple_extent_ndims(space.get()) != 1 ||
      H5Sget_simple_extent_dims(space.get(), &n, nullptr) < 0) {
    return DataLossError(path + ": dataset '" + name + "' is not one-dimensional");
  }
  std::vector<T> out(n);
  if (n > 0 && H5Dread(ds.get(), type, H5S_ALL, H5S_ALL, H5P_DEFAULT, out.data()) < 0) {
    return DataLossError(path + ": cannot read dataset '" + name + "'");
  }
  return out;
}

// The clients whose Program carries a device attack: a seeded choice of
// round(fraction * n) clients (at least one when the fraction is positive).
StatusOr<std::vector<int64_t>> ChooseMaliciousClients(const FederatedRunSpec& spec,
                                                      int64_t num_clients, Seed root) {
  if (!(spec.malicious_fraction >= 0.0 && spec.malicious_fraction <= 1.0)) {
    return InvalidArgumentError("attack.malicious_fraction must be in [0, 1]");
  }
  int64_t k = static_cast<int64_t>(std::llround(spec.malicious_fraction * num_clients));
  if (spec.malicious_fraction > 0.0) k = std::max<int64_t>(k, 1);
  std::vector<int64_t> perm = root.Child("malicious").MakeRng().Permutation(num_clients);
  std::vector<int64_t> chosen(perm.begin(), perm.begin() + k);
  std::sort(chosen.begin(), chosen.end());
  return chosen;
}

// Lets an attack act only from `start` on: the rounds before are a clean
// warm-up in which the attack sees nothing (so it cannot, say, count a
// malicious participation or learn from an update it did not get), except
// OnRoundEnd, which reports the global model to score at the end.
class DelayedAttack : public Attack {
 public:
  DelayedAttack(AttackPtr inner, int64_t start) : inner_(std::move(inner)), start_(start) {}

  std::string name() const override { return inner_->name(); }
  AttackRole role() const override { return inner_->role(); }
  // The start round is a parameter of the module, so it is measured too.
  std::string config_text() const override {
    return inner_->config_text() + " start_round=" + std::to_string(start_);
  }
  bool honest_code() const override { return inner_->honest_code(); }
  StatusOr<AttackReport> ComputeReport() override { return inner_->Report(); }

  ClientData ClientTrainingData(const ClientContext& c, ClientData honest) override {
    return c.round >= start_ ? inner_->ClientTrainingData(c, std::move(honest)) : honest;
  }
  void OnGlobalModel(const ClientContext& c, const std::vector<float>& global) override {
    if (c.round >= start_) inner_->OnGlobalModel(c, global);
  }
  void OnClientUpdate(const ClientContext& c, const std::vector<float>& global,
                      ClientUpdate* update) override {
    if (c.round >= start_) inner_->OnClientUpdate(c, global, update);
  }
  Admission AdmitRuntime(const ClientContext& c) override {
    return c.round >= start_ ? inner_->AdmitRuntime(c) : Admission{};
  }
  void OnRoundUpdates(const std::vector<ClientContext>& clients, const std::vector<float>& global,
                      std::vector<ClientUpdate>* updates) override {
    if (!clients.empty() && clients.front().round >= start_) {
      inner_->OnRoundUpdates(clients, global, updates);
    }
  }
  Admission AdmitClient(const ClientContext& c) override {
    return c.round >= start_ ? inner_->AdmitClient(c) : Admission{};
  }
  void OnUpdatesReceived(int64_t round, const std::vector<float>& global,
                         const std::vector<ClientUpdate>& updates) override {
    if (round >= start_) inner_->OnUpdatesReceived(round, global, updates);
  }
  void OnHostEvent(const HostEvent& event) override {
    if (event.round >= start_) inner_->OnHostEvent(event);
  }
  void OnRoundEnd(const RoundMetrics& m, const std::vector<float>& global) override {
    inner_->OnRoundEnd(m, global);
  }

 private:
  AttackPtr inner_;
  int64_t start_;
};

}  // namespace

StatusOr<std::vector<float>> LoadInitialModel(const std::string& path, int64_t expected_size) {
  std::string file = path;
  if (std::filesystem::is_directory(path)) file = path + "/fl.ckpt";
  if (!std::filesystem::exists(file)) {
    return NotFoundError("federated.initial_model: no checkpoint " + file +
                         " (give an earlier federated run's fl.ckpt or its run folder)");
  }
  StatusOr<FlCheckpoint> ck = ReadFlCheckpoint(file);
  if (!ck.ok()) return ck.status().WithContext("federated.initial_model " + file);
  if (static_cast<int64_t>(ck->global.size()) != expected_size) {
    return InvalidArgumentError("federated.initial_model " + file + " holds a model of " +
                                std::to_string(ck->global.size()) +
                                " floats, but this run's model has " +
                                std::to_string(expected_size) +
                                " (another model or dataset shape?)");
  }
  return std::move(ck->global);
}

StatusOr<Partition> MakeFederatedPartition(const FederatedRunSpec& spec, const Dataset& train,
                                           Seed seed) {
  if (spec.partition == "iid") return PartitionIid(train.labels, spec.num_clients, seed);
  if (spec.partition == "dirichlet") {
    return PartitionDirichlet(train.labels, train.num_classes, spec.num_clients, spec.alpha, seed,
                              spec.min_per_client);
  }
  if (spec.partition == "shards") {
    return PartitionShards(train.labels, spec.num_clients, spec.shards_per_client, seed);
  }
  if (spec.partition == "fang") {
    return PartitionFang(train.labels, train.num_classes, spec.num_clients, spec.fang_q, seed);
  }
  if (spec.partition == "owned") {
    return PartitionOwned(train.owner, spec.num_clients);
  }
  return InvalidArgumentError("unknown partition '" + spec.partition +
                              "'; known: iid, dirichlet, shards, fang, owned");
}

Status WriteFederatedResults(const std::string& path, const std::string& name, uint64_t seed,
                             int64_t rounds_planned, bool complete,
                             const std::vector<RoundMetrics>& rounds,
                             const std::string& final_state_hash) {
  std::lock_guard<std::mutex> lock(Hdf5Mutex());
  H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr);
  const std::string tmp = TempPathFor(path);
  {
    H5 file(H5Fcreate(tmp.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT), H5Fclose);
    if (!file.ok()) return UnavailableError("HDF5: cannot create " + tmp);
    const hsize_t n = rounds.size();
    for (size_t c = 0; c < std::size(kIntColumns); ++c) {
      std::vector<int64_t> col(n);
      for (size_t i = 0; i < n; ++i) col[i] = rounds[i].*kIntFields[c];
      CONFML_RETURN_IF_ERROR(
          WriteColumn(file.get(), kIntColumns[c], H5T_NATIVE_INT64, col.data(), n));
    }
    for (size_t c = 0; c < std::size(kDoubleColumns); ++c) {
      std::vector<double> col(n);
      for (size_t i = 0; i < n; ++i) col[i] = rounds[i].*kDoubleFields[c];
      CONFML_RETURN_IF_ERROR(
          WriteColumn(file.get(), kDoubleColumns[c], H5T_NATIVE_DOUBLE, col.data(), n));
    }
    const int64_t seed_i = static_cast<int64_t>(seed), done = complete ? 1 : 0;
    CONFML_RETURN_IF_ERROR(WriteStringAttr(file.get(), "name", name));
    CONFML_RETURN_IF_ERROR(WriteAttr(file.get(), "seed", H5T_NATIVE_INT64, &seed_i));
    CONFML_RETURN_IF_ERROR(
        WriteAttr(file.get(), "rounds_planned", H5T_NATIVE_INT64, &rounds_planned));
    CONFML_RETURN_IF_ERROR(WriteAttr(file.get(), "complete", H5T_NATIVE_INT64, &done));
    CONFML_RETURN_IF_ERROR(WriteStringAttr(file.get(), "final_state_hash", final_state_hash));
    if (H5Fflush(file.get(), H5F_SCOPE_GLOBAL) < 0)
      return UnavailableError("HDF5: cannot flush " + tmp);
  }
  return CommitTempFile(tmp, path);
}

StatusOr<std::vector<RoundMetrics>> ReadFederatedResults(const std::string& path) {
  std::lock_guard<std::mutex> lock(Hdf5Mutex());
  H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr);
  if (!std::filesystem::exists(path)) return NotFoundError("no federated results file " + path);
  H5 file(H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT), H5Fclose);
  if (!file.ok()) return DataLossError(path + " is not a readable HDF5 file");
  std::vector<RoundMetrics> rounds;
  for (size_t c = 0; c < std::size(kIntColumns); ++c) {
    if (kIntColumns[c] == std::string_view(kOptionalIntColumn) &&
        H5Lexists(file.get(), kOptionalIntColumn, H5P_DEFAULT) <= 0) {
      continue;
    }
    CONFML_ASSIGN_OR_RETURN(
        std::vector<int64_t> col,
        ReadColumn<int64_t>(file.get(), kIntColumns[c], H5T_NATIVE_INT64, path));
    if (c == 0) rounds.resize(col.size());
    if (col.size() != rounds.size()) return DataLossError(path + ": columns of different lengths");
    for (size_t i = 0; i < col.size(); ++i) rounds[i].*kIntFields[c] = col[i];
  }
  for (size_t c = 0; c < std::size(kDoubleColumns); ++c) {
    CONFML_ASSIGN_OR_RETURN(
        std::vector<double> col,
        ReadColumn<double>(file.get(), kDoubleColumns[c], H5T_NATIVE_DOUBLE, path));
    if (col.size() != rounds.size()) return DataLossError(path + ": columns of different lengths");
    for (size_t i = 0; i < col.size(); ++i) rounds[i].*kDoubleFields[c] = col[i];
  }
  return rounds;
}

StatusOr<std::string> ReadFederatedStateHash(const std::string& path) {
  std::lock_guard<std::mutex> lock(Hdf5Mutex());
  H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr);
  if (!std::filesystem::exists(path)) return NotFoundError("no federated results file " + path);
  H5 file(H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT), H5Fclose);
  if (!file.ok()) return DataLossError(path + " is not a readable HDF5 file");
  H5 attr(H5Aopen(file.get(), "final_state_hash", H5P_DEFAULT), H5Aclose);
  if (!attr.ok()) return DataLossError(path + ": no attribute 'final_state_hash'");
  H5 type(H5Aget_type(attr.get()), H5Tclose);
  if (!type.ok() || H5Tget_class(type.get()) != H5T_STRING || H5Tis_variable_str(type.get()) > 0) {
    return DataLossError(path + ": attribute 'final_state_hash' is not a fixed-length string");
  }
  std::string value(H5Tget_size(type.get()), '\0');
  if (H5Aread(attr.get(), type.get(), value.data()) < 0) {
    return DataLossError(path + ": cannot read attribute 'final_state_hash'");
  }
  value.resize(value.find('\0') == std::string::npos ? value.size() : value.find('\0'));
  return value;
}

StatusOr<FederatedRunOutput> RunFederatedExperiment(
    const FederatedRunSpec& spec, const std::vector<std::shared_ptr<FederatedHooks>>& hooks,
    const FederatedEngine::RoundCallback& on_round) {
  const Seed root(spec.seed);
  std::optional<TrainTest> loaded;
  const TrainTest* data = spec.data;
  if (data == nullptr) {
    CONFML_ASSIGN_OR_RETURN(const auto* entry, DatasetRegistry().Lookup(spec.dataset));
    StatusOr<ParamSet> dparams = ResolveParams(entry->spec, spec.dataset_params);
    if (!dparams.ok()) return dparams.status().WithContext("dataset '" + spec.dataset + "'");
    StatusOr<TrainTest> built = entry->factory(*dparams, root.Child("data"));
    if (!built.ok()) return built.status().WithContext("dataset '" + spec.dataset + "'");
    loaded = std::move(built).value();
    data = &*loaded;
  }
  StatusOr<Partition> partition =
      MakeFederatedPartition(spec, data->train, root.Child("partition"));
  if (!partition.ok()) return partition.status().WithContext("partition '" + spec.partition + "'");
  CONFML_ASSIGN_OR_RETURN(AggregatorPtr aggregator,
                          CreateAggregator(spec.aggregator, spec.aggregator_params));

  FederatedOptions options = spec.options;
  options.transport_encrypted = spec.use_deployment && spec.attestation != AttestationMode::kOff;
  FederatedRunOutput out;
  if (!spec.run_dir.empty()) {
    std::error_code ec;
    std::filesystem::create_directories(spec.run_dir, ec);
    if (ec)
      return UnavailableError("cannot create run folder " + spec.run_dir + ": " + ec.message());
    if (options.checkpoint_path.empty()) options.checkpoint_path = spec.run_dir + "/fl.ckpt";
    out.results_path = spec.run_dir + "/fl_rounds.h5";
  }
  FederatedSetup setup;
  setup.model = spec.model;
  setup.model_params = spec.model_params;
  setup.train = &data->train;
  setup.test = data->test.size() > 0 ? &data->test : nullptr;
  setup.partition = std::move(*partition);
  if (aggregator->wants_server_update()) {
    // FLTrust's root dataset: a small clean sample the runtime holds (Cao et
    // al. use 100 samples drawn from the training distribution).
    std::vector<int64_t> perm =
        root.Child("root-dataset").MakeRng().Permutation(data->train.size());
    const int64_t n = std::min<int64_t>(spec.root_dataset_size, data->train.size());
    setup.root_indices.assign(perm.begin(), perm.begin() + n);
    std::sort(setup.root_indices.begin(), setup.root_indices.end());
  }
  setup.aggregator = std::move(aggregator);
  setup.seed = root;
  if (!spec.initial_model.empty() || spec.initial_state) {
    // The size check needs the model: build one replica's worth of context.
    ModelContext context{data->train.sample_shape, data->train.num_classes};
    CONFML_ASSIGN_OR_RETURN(ModelPtr probe, CreateModel(spec.model, spec.model_params, context,
                                                        root.Child("initial-model-probe")));
    const int64_t size = static_cast<int64_t>(FlatState(*probe).size());
    if (spec.initial_state) {
      CONFML_ASSIGN_OR_RETURN(setup.initial_state, spec.initial_state(size));
      if (static_cast<int64_t>(setup.initial_state.size()) != size) {
        return InvalidArgumentError("the supplied initial state has " +
                                    std::to_string(setup.initial_state.size()) +
                                    " floats, but model '" + spec.model + "' has " +
                                    std::to_string(size));
      }
    } else {
      CONFML_ASSIGN_OR_RETURN(setup.initial_state, LoadInitialModel(spec.initial_model, size));
    }
  }
  const std::string aggregator_text = setup.aggregator->config_text();
  if (!spec.attack.empty() && spec.attackers_every_round) {
    // Same seeded choice as below (it depends only on the seed and the
    // number of clients), made before the engine fixes its sampling.
    CONFML_ASSIGN_OR_RETURN(
        options.always_sampled,
        ChooseMaliciousClients(spec, static_cast<int64_t>(setup.partition.size()), root));
    if (static_cast<int64_t>(options.always_sampled.size()) > options.clients_per_round) {
      return InvalidArgumentError(
          "attack.every_round: " + std::to_string(options.always_sampled.size()) +
          " malicious devices do not fit in federated.clients_per_round " +
          std::to_string(options.clients_per_round));
    }
  }
  CONFML_ASSIGN_OR_RETURN(std::unique_ptr<FederatedEngine> engine,
                          FederatedEngine::Create(options, std::move(setup)));

  // The attack: its code joins the Program of the role it runs as.
  AttackPtr attack;
  if (!spec.attack.empty()) {
    CONFML_ASSIGN_OR_RETURN(out.malicious_clients,
                            ChooseMaliciousClients(spec, engine->num_clients(), root));
    AttackEnv env;
    env.model = spec.model;
    env.model_params = spec.model_params;
    env.train = &data->train;
    env.test = &data->test;
    env.partition = &engine->partition();
    env.malicious_clients.insert(out.malicious_clients.begin(), out.malicious_clients.end());
    env.local_epochs = options.local_epochs;
    env.local_steps = options.local_steps;
    env.local_batch_size = options.local_batch_size;
    env.optimizer = options.optimizer.name;
    env.learning_rate = options.optimizer.lr;
    env.rounds = options.rounds;
    env.clients_per_round = options.clients_per_round;
    env.server_lr = options.server_lr;
    env.seed = root.Child("attack");
    StatusOr<AttackPtr> created = CreateAttack(spec.attack, spec.attack_params, env);
    if (!created.ok()) return created.status().WithContext("attack '" + spec.attack + "'");
    attack = *created;
    if (spec.attack_start_round > 1) {
      attack = std::make_shared<DelayedAttack>(attack, spec.attack_start_round);
    }
    if (attack->role() != AttackRole::kDevice) {
      if (spec.attackers_every_round) {
        return InvalidArgumentError("attack.every_round applies to device attacks; '" +
                                    spec.attack + "' does not run as a device");
      }
      out.malicious_clients.clear();
    }
    engine->AddHooks(attack);
  }
  for (const auto& h : hooks) engine->AddHooks(h);

  // Parties in realms: attestation decides who takes part.
  std::unique_ptr<Deployment> deployment;
  std::shared_ptr<AttestedFederation> federation;
  if (spec.use_deployment) {
    Deployment::Options dopt;
    dopt.backend = spec.tee_backend;
    dopt.backend_params = spec.tee_params;
    dopt.attestation = spec.attestation;
    dopt.realm.private_memory_bytes = static_cast<size_t>(spec.realm_memory_mb) << 20;
    CONFML_ASSIGN_OR_RETURN(deployment, Deployment::Create(dopt));
    const std::vector<ProgramComponent> runtime_extra{{"core", "aggregator " + aggregator_text}};
    AttestedFederation::Options fo;
    CONFML_ASSIGN_OR_RETURN(Program honest_runtime, HonestProgram(kRoleRuntime, runtime_extra));
    CONFML_ASSIGN_OR_RETURN(fo.device_program, HonestProgram(kRoleDevice));
    fo.runtime_program = honest_runtime;
    fo.malicious_device_program = fo.device_program;
    if (attack != nullptr) {
      const ProgramComponent code{"attacks", attack->config_text()};
      if (attack->role() == AttackRole::kRuntime) fo.runtime_program.components.push_back(code);
      if (attack->role() == AttackRole::kDevice && !attack->honest_code()) {
        fo.malicious_device_program.components.push_back(code);
      }
    }
    fo.malicious_clients.insert(out.malicious_clients.begin(), out.malicious_clients.end());
    // The verifier's policy lists the audited honest programs, plus the
    // deployed ones where the config says the audit slipped.
    CONFML_RETURN_IF_ERROR(deployment->TrustProgram(honest_runtime));
    CONFML_RETURN_IF_ERROR(deployment->TrustProgram(fo.device_program));
    for (const std::string& role : spec.trust_deployed) {
      CONFML_RETURN_IF_ERROR(deployment->TrustProgram(
          role == "runtime" ? fo.runtime_program : fo.malicious_device_program));
    }
    CONFML_RETURN_IF_ERROR(deployment->SealPolicy());
    CONFML_ASSIGN_OR_RETURN(federation, AttestedFederation::Create(deployment.get(), fo));
    engine->AddHooks(federation);  // last: carries what the devices send
  }

  std::vector<RoundMetrics> so_far;
  Status write_error;
  auto cb = [&](const RoundMetrics& m) {
    so_far.push_back(m);
    if (!out.results_path.empty() && write_error.ok()) {
      write_error = WriteFederatedResults(out.results_path, spec.name, spec.seed, options.rounds,
                                          false, so_far, "");
    }
    if (on_round) on_round(m);
  };
  // A resumed run reports its restored rounds through the result only; the
  // callback sees the rounds run now, so seed so_far from the checkpoint.
  if (!options.checkpoint_path.empty()) {
    StatusOr<FlCheckpoint> ck = ReadFlCheckpoint(options.checkpoint_path);
    if (ck.ok() && ck->config_hash == engine->config_hash()) so_far = ck->metrics;
  }
  CONFML_ASSIGN_OR_RETURN(out.result, engine->Run(cb));
  CONFML_RETURN_IF_ERROR(write_error);
  if (!out.results_path.empty()) {
    CONFML_RETURN_IF_ERROR(WriteFederatedResults(out.results_path, spec.name, spec.seed,
                                                 options.rounds, true, out.result.rounds,
                                                 out.result.final_state_hash));
  }
  if (federation != nullptr) {
    CONFML_RETURN_IF_ERROR(federation->status());
    out.admissions = deployment->admissions();
    out.tee_cost = deployment->total_cost();
  }
  if (attack != nullptr) {
    StatusOr<AttackReport> report = attack->Report();
    if (!report.ok()) return report.status().WithContext("attack '" + spec.attack + "' report");
    out.attack = std::move(*report);
  }
  out.train_samples = data->train.size();
  out.test_samples = data->test.size();
  out.model_parameters = NumParameters(engine->global_model());
  return out;
}

}  // namespace confml::experiments
