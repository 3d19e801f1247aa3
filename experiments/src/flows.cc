#include "confml/experiments/flows.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "confml/attacks/leaks.h"
#include "confml/core/crypto.h"
#include "confml/core/dataset.h"
#include "confml/core/federated.h"
#include "confml/core/partition.h"
#include "confml/core/thread_scope.h"
#include "confml/core/trainer.h"
#include "confml/defenses/channel.h"
#include "confml/experiments/federation.h"
#include "device_words.h"
#include "roles.h"

namespace confml::experiments {
namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

const std::vector<std::string>& Scenarios() {
  static const auto* s = new std::vector<std::string>{
      "model_delivery", "on_device_inference", "server_training", "server_inference", "fl_words"};
  return *s;
}

Status CheckChoice(const std::string& what, const std::string& value,
                   const std::vector<std::string>& choices) {
  if (std::find(choices.begin(), choices.end(), value) != choices.end()) return OkStatus();
  std::string msg = "unknown " + what + " '" + value + "'";
  std::string near = NearestName(value, choices);
  if (!near.empty()) msg += " (did you mean '" + near + "'?)";
  msg += "; choices:";
  for (const std::string& c : choices) msg += " " + c;
  return InvalidArgumentError(msg);
}

std::string Hex8(const Bytes& b) { return b.empty() ? "(none)" : ToHex(b).substr(0, 16) + "..."; }

// Everything one flow run shares.
struct FlowRun {
  FlowRun(const FlowOptions& options, FlowResult& result) : o(options), r(result) {}
  const FlowOptions& o;
  FlowResult& r;
  std::unique_ptr<Deployment> d;
  Party* provider = nullptr;
  Party* runtime = nullptr;
  Party* device = nullptr;
  attacks::InputExfiltrator exfiltrator;
  bool runtime_exfiltrates = false;
  int64_t inputs_sent = 0;
  int64_t inputs_leaked_by_host = 0;
  Bytes model_message;     // what the provider released (for the wire search)
  Bytes user_input_bytes;  // the user's inputs as they would appear in plaintext

  void Event(std::string e) { r.events.push_back(std::move(e)); }

  InputTap Tap() {
    if (!runtime_exfiltrates) return {};
    return [this](const uint8_t* p, size_t n) { exfiltrator.Capture(p, n); };
  }
};

StatusOr<ModelPtr> WordModel(Seed seed) {
  ModelContext ctx;
  ctx.input_shape = {kWordContext, kWordAlphabetSize};
  ctx.num_classes = kWordAlphabetSize;
  return CreateModel("char_rnn", {{"hidden", int64_t{28}}}, ctx, seed);
}

Status TrainWords(Model& model, const std::vector<std::string>& words, int64_t epochs, double lr,
                  Seed seed) {
  CONFML_ASSIGN_OR_RETURN(Dataset data, MakeNextLetterDataset(words));
  TrainOptions t;
  t.epochs = epochs;
  t.batch_size = std::max<int64_t>(1, data.size());
  t.optimizer.name = "adam";
  t.optimizer.lr = lr;
  StatusOr<std::vector<EpochMetrics>> fit = Trainer(t).Fit(model, data, nullptr, seed);
  return fit.status();
}

// Fraction of `words` the model completes exactly from their first 3
// letters; the completions go to `log` prefixed with `label`.
StatusOr<double> WordAccuracy(Model& model, const std::vector<std::string>& words,
                              const std::string& label, std::vector<std::string>* log) {
  if (words.empty()) return kNaN;
  int64_t right = 0;
  for (const std::string& w : words) {
    CONFML_ASSIGN_OR_RETURN(std::string guess, DevicePredictWord(model, w.substr(0, 3)));
    right += guess == w;
    log->push_back(label + ": " + w.substr(0, 3) + " -> " + guess + (guess == w ? "" : "  (typed " + w + ")"));
  }
  return static_cast<double>(right) / static_cast<double>(words.size());
}

// The word model's agreement test set: 5-letter words of the word list (or,
// without one, the flow's own words).
StatusOr<Dataset> WordAgreementSet(const FlowOptions& o) {
  StatusOr<std::vector<std::string>> list = LoadWordList(o.words_file, 5, 2000);
  std::vector<std::string> words;
  if (list.ok() && !list->empty()) {
    words = *list;
  } else {
    words = o.pretrain_words;
    words.insert(words.end(), o.user_words.begin(), o.user_words.end());
  }
  return MakeNextLetterDataset(words);
}

// model-provider -> `to` (expected as `role`): the model is released only if
// `to` is admitted. Inside its realm, `to` loads it into `into` and answers
// with its acknowledgement (role_runtime.cc), which the provider checks.
// Returns what `to` received, or nullopt when refused.
StatusOr<std::optional<Bytes>> Release(FlowRun& f, Party& to, std::string_view role, Model& into) {
  AdmissionRecord rec;
  StatusOr<std::unique_ptr<Link>> link = f.d->Connect(*f.provider, to, role, &rec);
  if (!link.ok()) {
    f.Event("model-provider refused to release the model to " + to.name() + " (" +
            rec.failed_checks + ": " + rec.detail + ")");
    return std::optional<Bytes>();
  }
  CONFML_ASSIGN_OR_RETURN(Bytes got, (*link)->ToAttester(f.model_message));
  Bytes ack;
  CONFML_RETURN_IF_ERROR(to.realm().Run([&](RealmContext&) -> Status {
    CONFML_ASSIGN_OR_RETURN(ack, RuntimeAcceptModel(into, got));
    return OkStatus();
  }));
  CONFML_ASSIGN_OR_RETURN(Bytes ack_back, (*link)->ToRelying(ack));
  CONFML_RETURN_IF_ERROR(CheckModelAck(ack_back, f.model_message.size()));
  f.r.metrics["model_bytes_acked"] = static_cast<double>(got.size());
  f.Event("model-provider released " + std::to_string(got.size()) + " model bytes to " +
          to.name() + (( *link)->encrypted() ? " over an attested channel" : " in the clear") +
          "; acknowledged");
  return std::optional<Bytes>(std::move(got));
}

Status ModelDelivery(FlowRun& f, Model& provider_model) {
  CONFML_ASSIGN_OR_RETURN(ModelPtr runtime_model, WordModel(f.o.seed.Child("runtime-init")));
  CONFML_ASSIGN_OR_RETURN(std::optional<Bytes> got,
                          Release(f, *f.runtime, kRoleRuntime, *runtime_model));
  f.r.metrics["model_delivered"] = got.has_value() ? 1.0 : 0.0;
  if (!got) return OkStatus();
  f.r.metrics["model_identical"] = StateHash(*runtime_model) == StateHash(provider_model) ? 1 : 0;
  return OkStatus();
}

// The device's host tries to copy the on-device model from the device
// realm's memory, and the stolen copy is scored against the original.
Status HostStealsDeviceModel(FlowRun& f, Model& original, uint64_t ipa, size_t size) {
  CONFML_ASSIGN_OR_RETURN(Dataset test, WordAgreementSet(f.o));
  CONFML_ASSIGN_OR_RETURN(ModelPtr stolen, WordModel(f.o.seed.Child("host-guess")));
  StatusOr<Bytes> read = f.d->HostRead(*f.device, ipa, size);
  if (read.ok()) {
    CONFML_ASSIGN_OR_RETURN(std::vector<float> state, DecodeFloats(*read, "stolen model"));
    CONFML_RETURN_IF_ERROR(LoadFlatState(*stolen, state));
    f.Event("device host read " + std::to_string(read->size()) +
            " bytes of the on-device model from realm memory");
  } else {
    // Without the bytes, the host's best model is one it initialised itself.
    f.Event("device host read of realm memory failed: " + read.status().ToString());
  }
  f.r.metrics["host_read_ok"] = read.ok() ? 1.0 : 0.0;
  CONFML_ASSIGN_OR_RETURN(double agree, attacks::PredictionAgreement(*stolen, original, test));
  f.r.metrics["stolen_model_agreement"] = agree;
  // The blind guess (what a host that read nothing holds): its own initialisation.
  CONFML_ASSIGN_OR_RETURN(ModelPtr guess, WordModel(f.o.seed.Child("host-guess")));
  CONFML_ASSIGN_OR_RETURN(double blind, attacks::PredictionAgreement(*guess, original, test));
  f.r.metrics["stolen_model_blind_agreement"] = blind;
  return OkStatus();
}

Status OnDeviceInference(FlowRun& f, Model& provider_model) {
  CONFML_ASSIGN_OR_RETURN(ModelPtr device_model, WordModel(f.o.seed.Child("device-init")));
  CONFML_ASSIGN_OR_RETURN(std::optional<Bytes> got,
                          Release(f, *f.device, kRoleDevice, *device_model));
  f.r.metrics["model_delivered"] = got.has_value() ? 1.0 : 0.0;
  if (!got) return OkStatus();
  CONFML_ASSIGN_OR_RETURN(const uint64_t ipa, f.device->StoreAsset(*got));
  f.r.metrics["model_identical"] = StateHash(*device_model) == StateHash(provider_model) ? 1 : 0;
  CONFML_ASSIGN_OR_RETURN(double acc, WordAccuracy(*device_model, f.o.pretrain_words, "on-device",
                                                   &f.r.predictions));
  f.r.metrics["word_accuracy"] = acc;
  if (f.o.host_attack == "read_device_model") {
    CONFML_RETURN_IF_ERROR(HostStealsDeviceModel(f, provider_model, ipa, got->size()));
  }
  return OkStatus();
}

// The device opens its link to the runtime; nullptr when it refuses.
StatusOr<std::unique_ptr<Link>> DeviceToRuntime(FlowRun& f) {
  AdmissionRecord rec;
  StatusOr<std::unique_ptr<Link>> link = f.d->Connect(*f.device, *f.runtime, kRoleRuntime, &rec);
  if (!link.ok()) {
    f.Event("device refused the runtime (" + rec.failed_checks + ": " + rec.detail +
            "); no user data sent");
    if (rec.failed_checks.find("rim") != std::string::npos) f.r.metrics["runtime_rim_mismatch"] = 1;
    return std::unique_ptr<Link>();
  }
  return std::move(*link);
}

Status ServerTraining(FlowRun& f) {
  // The device got the model (on-device use) and the runtime got it too.
  CONFML_ASSIGN_OR_RETURN(ModelPtr device_model, WordModel(f.o.seed.Child("device-init")));
  CONFML_ASSIGN_OR_RETURN(ModelPtr runtime_model, WordModel(f.o.seed.Child("runtime-init")));
  CONFML_RETURN_IF_ERROR(Release(f, *f.device, kRoleDevice, *device_model).status());
  CONFML_ASSIGN_OR_RETURN(std::optional<Bytes> at_runtime,
                          Release(f, *f.runtime, kRoleRuntime, *runtime_model));
  CONFML_ASSIGN_OR_RETURN(double before, WordAccuracy(*device_model, f.o.user_words, "before",
                                                      &f.r.predictions));
  f.r.metrics["word_accuracy_before"] = before;
  f.r.metrics["word_accuracy_after"] = before;
  f.r.metrics["inputs_sent"] = 0;

  CONFML_ASSIGN_OR_RETURN(std::unique_ptr<Link> link, DeviceToRuntime(f));
  if (link == nullptr) return OkStatus();
  if (!at_runtime) {
    f.Event("the runtime has no model to train; the device keeps its own");
    return OkStatus();
  }
  const Bytes words = DeviceWordsMessage(f.o.user_words);
  CONFML_ASSIGN_OR_RETURN(Bytes got, link->ToAttester(words));
  f.inputs_sent = static_cast<int64_t>(f.o.user_words.size());
  Bytes trained;
  CONFML_RETURN_IF_ERROR(f.runtime->realm().Run([&](RealmContext&) -> Status {
    CONFML_ASSIGN_OR_RETURN(trained, RuntimeTrainOnWords(*runtime_model, got, f.o.train_epochs,
                                                         f.o.lr, f.o.seed.Child("runtime-train"),
                                                         f.Tap()));
    return OkStatus();
  }));
  CONFML_ASSIGN_OR_RETURN(Bytes back, link->ToRelying(trained));
  CONFML_RETURN_IF_ERROR(RuntimeAcceptModel(*device_model, back).status());
  f.Event("runtime trained " + std::to_string(f.o.train_epochs) + " epochs on " +
          std::to_string(f.o.user_words.size()) + " typed words and sent the model back");
  CONFML_ASSIGN_OR_RETURN(double after, WordAccuracy(*device_model, f.o.user_words, "after",
                                                     &f.r.predictions));
  f.r.metrics["word_accuracy_after"] = after;
  return OkStatus();
}

Status ServerInference(FlowRun& f) {
  CONFML_ASSIGN_OR_RETURN(Dataset fm_train, LoadFashionMnist(f.o.fashion_mnist_dir, Split::kTrain));
  CONFML_ASSIGN_OR_RETURN(Dataset fm_test, LoadFashionMnist(f.o.fashion_mnist_dir, Split::kTest));
  const Seed seed = f.o.seed.Child("server-inference");
  Dataset train = StratifiedSubset(fm_train, f.o.classifier_train_samples, seed.Child("train"));
  Dataset inputs = StratifiedSubset(fm_test, f.o.inference_inputs, seed.Child("inputs"));
  ModelContext ctx{fm_train.sample_shape, fm_train.num_classes};
  CONFML_ASSIGN_OR_RETURN(ModelPtr provider_model,
                          CreateModel("mlp", {}, ctx, seed.Child("provider-init")));
  TrainOptions t;
  t.epochs = f.o.classifier_epochs;
  t.batch_size = 64;
  t.optimizer.name = "adam";
  t.optimizer.lr = 1e-3;
  CONFML_RETURN_IF_ERROR(Trainer(t).Fit(*provider_model, train, nullptr, seed.Child("fit")).status());
  f.model_message = ProviderModelMessage(*provider_model);
  f.user_input_bytes = EncodeFloats(std::vector<float>(
      inputs.features.begin(), inputs.features.begin() + std::min<int64_t>(inputs.sample_numel(), 64)));

  CONFML_ASSIGN_OR_RETURN(ModelPtr runtime_model, CreateModel("mlp", {}, ctx, seed.Child("rt")));
  CONFML_ASSIGN_OR_RETURN(std::optional<Bytes> at_runtime,
                          Release(f, *f.runtime, kRoleRuntime, *runtime_model));
  f.r.metrics["inputs_sent"] = 0;
  f.r.metrics["inference_accuracy"] = kNaN;
  CONFML_ASSIGN_OR_RETURN(std::unique_ptr<Link> link, DeviceToRuntime(f));
  if (link == nullptr) return OkStatus();
  if (!at_runtime) {
    f.Event("the runtime has no model; the device's request is not sent");
    return OkStatus();
  }
  const Bytes request = DeviceInferenceRequest(inputs);
  CONFML_ASSIGN_OR_RETURN(Bytes got, link->ToAttester(request));
  f.inputs_sent = inputs.size();
  uint64_t request_ipa = 0;
  Bytes reply;
  CONFML_ASSIGN_OR_RETURN(request_ipa, f.runtime->StoreAsset(got));  // the runtime works on it
  CONFML_RETURN_IF_ERROR(f.runtime->realm().Run([&](RealmContext&) -> Status {
    CONFML_ASSIGN_OR_RETURN(reply, RuntimeServeInference(*runtime_model, inputs.sample_shape, got,
                                                         f.Tap()));
    return OkStatus();
  }));
  CONFML_ASSIGN_OR_RETURN(Bytes back, link->ToRelying(reply));
  CONFML_ASSIGN_OR_RETURN(std::vector<int64_t> labels, DeviceReadLabels(back, inputs.size()));
  int64_t right = 0;
  for (int64_t i = 0; i < inputs.size(); ++i) right += labels[static_cast<size_t>(i)] == inputs.labels[static_cast<size_t>(i)];
  f.r.metrics["inference_accuracy"] = static_cast<double>(right) / static_cast<double>(inputs.size());
  f.Event("runtime classified " + std::to_string(inputs.size()) + " device images");
  if (f.o.host_attack == "read_runtime_inputs") {
    StatusOr<Bytes> read = f.d->HostRead(*f.runtime, request_ipa, got.size());
    f.r.metrics["host_read_ok"] = read.ok() ? 1.0 : 0.0;
    if (read.ok() && *read == got) {
      f.inputs_leaked_by_host = inputs.size();
      f.Event("runtime host read all " + std::to_string(inputs.size()) +
              " user images from realm memory");
    } else {
      f.Event("runtime host read of realm memory failed: " +
              (read.ok() ? std::string("bytes differ") : read.status().ToString()));
    }
  }
  return OkStatus();
}

Status FlWords(FlowRun& f, const Program& runtime_program) {
  CONFML_ASSIGN_OR_RETURN(const Dataset data,
                          MakeDeviceWordsDataset({f.o.user_words, f.o.other_device_words}));
  CONFML_ASSIGN_OR_RETURN(const Partition partition, PartitionOwned(data.owner, 2));

  FederatedOptions fo;
  fo.rounds = f.o.fl_rounds;
  fo.clients_per_round = 2;
  fo.local_epochs = f.o.fl_local_epochs;
  fo.local_batch_size = 64;
  fo.optimizer.name = "adam";
  fo.optimizer.lr = f.o.lr;
  fo.transport_encrypted = f.o.attestation != AttestationMode::kOff;
  FederatedSetup setup;
  setup.model = "char_rnn";
  setup.model_params = {{"hidden", int64_t{28}}};
  setup.train = &data;
  setup.partition = partition;
  setup.seed = f.o.seed.Child("fl");
  CONFML_ASSIGN_OR_RETURN(std::unique_ptr<FederatedEngine> engine,
                          FederatedEngine::Create(fo, std::move(setup)));
  AttestedFederation::Options ao;
  ao.runtime_program = runtime_program;
  CONFML_ASSIGN_OR_RETURN(ao.device_program, HonestProgram(kRoleDevice));
  ao.malicious_device_program = ao.device_program;
  CONFML_ASSIGN_OR_RETURN(std::shared_ptr<AttestedFederation> fed,
                          AttestedFederation::Create(f.d.get(), ao));
  engine->AddHooks(fed);
  CONFML_ASSIGN_OR_RETURN(FederatedResult res, engine->Run());
  CONFML_RETURN_IF_ERROR(fed->status());
  int64_t admitted = 0;
  for (const RoundMetrics& m : res.rounds) admitted += m.clients_admitted;
  f.r.metrics["fl_updates_admitted"] = static_cast<double>(admitted);
  f.Event("federated word training: " + std::to_string(res.rounds.size()) + " rounds, " +
          std::to_string(admitted) + " updates admitted");
  Model& global = engine->global_model();
  CONFML_ASSIGN_OR_RETURN(double own1, WordAccuracy(global, f.o.user_words, "device 1 (own)", &f.r.predictions));
  CONFML_ASSIGN_OR_RETURN(double other1, WordAccuracy(global, f.o.other_device_words,
                                                      "device 1 predicts device 2's", &f.r.predictions));
  f.r.metrics["device1_own_accuracy"] = own1;
  f.r.metrics["device1_predicts_device2_accuracy"] = other1;
  CONFML_ASSIGN_OR_RETURN(double other2, WordAccuracy(global, f.o.user_words,
                                                      "device 2 predicts device 1's", &f.r.predictions));
  f.r.metrics["device2_predicts_device1_accuracy"] = other2;
  return OkStatus();
}

bool WireContains(Deployment& d, const Bytes& needle) {
  return !needle.empty() && d.transport().Contains(needle);
}

}  // namespace

StatusOr<FlowResult> RunFlow(const FlowOptions& o) {
  CONFML_RETURN_IF_ERROR(CheckChoice("flow scenario", o.scenario, Scenarios()));
  CONFML_RETURN_IF_ERROR(CheckChoice("runtime_code", o.runtime_code, {"honest", "exfiltrate_inputs"}));
  CONFML_RETURN_IF_ERROR(CheckChoice("host_attack", o.host_attack,
                                     {"none", "read_device_model", "read_runtime_inputs"}));
  if (o.realm_memory_mb < 1 || o.realm_memory_mb > 1024) {
    return InvalidArgumentError("realm_memory_mb must be in [1, 1024], got " +
                                std::to_string(o.realm_memory_mb));
  }
  // The flows train, predict and leak on this thread; at one intra-op thread
  // their numbers do not depend on experiment.threads.
  OneIntraOpThread one_thread;
  FlowResult result;
  result.scenario = o.scenario;
  FlowRun f(o, result);
  f.runtime_exfiltrates = o.runtime_code == "exfiltrate_inputs";

  Deployment::Options dopt;
  dopt.backend = o.backend;
  dopt.backend_params = o.backend_params;
  dopt.attestation = o.attestation;
  dopt.realm.private_memory_bytes = static_cast<size_t>(o.realm_memory_mb) << 20;
  CONFML_ASSIGN_OR_RETURN(f.d, Deployment::Create(dopt));

  // The audited, honest programs go into the policy; the deployed runtime
  // may differ (attack code) and is listed only by mistake.
  CONFML_ASSIGN_OR_RETURN(Program provider, HonestProgram(kRoleModelProvider));
  CONFML_ASSIGN_OR_RETURN(Program device, HonestProgram(kRoleDevice));
  CONFML_ASSIGN_OR_RETURN(Program honest_runtime, HonestProgram(kRoleRuntime));
  Program runtime = honest_runtime;
  if (f.runtime_exfiltrates) runtime.components.push_back({"attacks", attacks::kExfiltrateInputsConfig});
  for (const Program* p : {&provider, &device, &honest_runtime}) {
    CONFML_RETURN_IF_ERROR(f.d->TrustProgram(*p));
  }
  if (o.trust_deployed_runtime) CONFML_RETURN_IF_ERROR(f.d->TrustProgram(runtime));
  CONFML_RETURN_IF_ERROR(f.d->SealPolicy());
  CONFML_ASSIGN_OR_RETURN(Bytes honest_rim, MeasureProgram(honest_runtime, dopt.realm));
  CONFML_ASSIGN_OR_RETURN(Bytes deployed_rim, MeasureProgram(runtime, dopt.realm));
  result.policy_summary = "runtime RIM listed: " + Hex8(honest_rim) +
                          (o.trust_deployed_runtime && deployed_rim != honest_rim
                               ? ", " + Hex8(deployed_rim) + " (the deployed runtime)"
                               : "") +
                          "; deployed runtime RIM: " + Hex8(deployed_rim);

  try {
    CONFML_ASSIGN_OR_RETURN(f.provider, f.d->Launch("model-provider", provider));
    if (o.scenario != "fl_words") {
      CONFML_ASSIGN_OR_RETURN(f.device, f.d->Launch("device", device));
      CONFML_ASSIGN_OR_RETURN(f.runtime, f.d->Launch("runtime", runtime));
    }
    ModelPtr word_model;
    if (o.scenario != "server_inference" && o.scenario != "fl_words") {
      CONFML_ASSIGN_OR_RETURN(word_model, WordModel(o.seed.Child("provider-init")));
      CONFML_RETURN_IF_ERROR(TrainWords(*word_model, o.pretrain_words, o.pretrain_epochs, o.lr,
                                        o.seed.Child("pretrain")));
      f.model_message = ProviderModelMessage(*word_model);
      f.user_input_bytes = DeviceWordsMessage(o.user_words);
    }
    if (o.scenario == "model_delivery") {
      CONFML_RETURN_IF_ERROR(ModelDelivery(f, *word_model));
    } else if (o.scenario == "on_device_inference") {
      CONFML_RETURN_IF_ERROR(OnDeviceInference(f, *word_model));
    } else if (o.scenario == "server_training") {
      CONFML_RETURN_IF_ERROR(ServerTraining(f));
    } else if (o.scenario == "server_inference") {
      CONFML_RETURN_IF_ERROR(ServerInference(f));
    } else {
      // The federation launches the runtime's realm and one per device.
      CONFML_RETURN_IF_ERROR(FlWords(f, runtime));
    }
  } catch (const std::exception& e) {
    return InternalError(std::string("flow '") + o.scenario + "': " + e.what());
  }

  const int64_t leaked = f.exfiltrator.captured() + f.inputs_leaked_by_host;
  result.metrics["inputs_sent"] = static_cast<double>(f.inputs_sent);
  result.metrics["inputs_leaked"] = static_cast<double>(std::min(leaked, f.inputs_sent));
  result.metrics["leak_fraction"] =
      f.inputs_sent > 0 ? static_cast<double>(std::min(leaked, f.inputs_sent)) / f.inputs_sent : 0.0;
  if (f.runtime_exfiltrates) {
    f.Event("the runtime's input logger captured " + std::to_string(f.exfiltrator.captured()) +
            " user inputs (" + std::to_string(f.exfiltrator.captured_bytes()) + " bytes)");
  }
  result.metrics["user_input_on_wire"] = WireContains(*f.d, f.user_input_bytes) ? 1.0 : 0.0;
  Bytes model_probe(f.model_message.begin(),
                    f.model_message.begin() + std::min<size_t>(f.model_message.size(), 256));
  result.metrics["model_on_wire"] = WireContains(*f.d, model_probe) ? 1.0 : 0.0;
  result.admissions = f.d->admissions();
  result.cost = f.d->total_cost();
  return result;
}

}  // namespace confml::experiments
