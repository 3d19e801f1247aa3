#include "confml/experiments/config.h"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <limits>
#include <optional>
#include <regex>
#include <set>

#include "confml/core/aggregator.h"
#include "confml/core/attack.h"
#include "confml/core/dataset.h"
#include "confml/core/file_util.h"
#include "confml/core/model.h"
#include "confml/core/tee_backend.h"
#include "confml/core/trainer.h"
#include "confml/core/version.h"
#include "confml/experiments/parties.h"

namespace confml::experiments {
namespace {

constexpr char kOverrideWhere[] = "<override>";

// ---------------------------------------------------------------------------
// Schema.

struct Section {
  std::string name;
  std::string doc;
  bool required = true;
  std::string component_kind;  // "" for plain sections.
  ComponentSpec keys;
  std::function<std::vector<ComponentSpec>()> components;
  // The experiment kinds that use this section; empty: every kind. A section
  // of another kind is an error rather than ignored, so a config never
  // carries settings that silently do nothing.
  std::vector<std::string> kinds = {};
};

constexpr char kCentralized[] = "centralized";
constexpr char kFederated[] = "federated";
constexpr char kFlow[] = "flow";
constexpr char kMatrix[] = "matrix";  // docs/matrix.md

// The partitioners of `partition`. The engine takes them as plain values
// (federated_runner.h), so their declarations live here rather than in a
// registry of factories.
std::vector<ComponentSpec> PartitionerSpecs() {
  return {
      ComponentSpec{"partitioner", "iid", "Shuffles and deals the samples out evenly.", {}},
      ComponentSpec{"partitioner",
                    "dirichlet",
                    "Per class, splits the samples among clients in proportions drawn from "
                    "Dirichlet(alpha) (Hsu et al. 2019): small alpha gives skewed label mixes.",
                    {Param::Double("alpha", 0.5, "Concentration; smaller is more heterogeneous.")
                         .GreaterThan(0),
                     Param::Int("min_per_client", 1,
                                "Redraw until every client holds at least this many samples.")
                         .AtLeast(0)}},
      ComponentSpec{
          "partitioner",
          "shards",
          "Sorts by label, cuts num_clients * shards_per_client shards and gives each "
          "client shards_per_client of them (McMahan et al. 2017).",
          {Param::Int("shards_per_client", 2, "Shards, so about classes, per client.").AtLeast(1)}},
      ComponentSpec{
          "partitioner",
          "fang",
          "Fang et al. 2020's non-IID split: one group of clients per class; a sample of label l "
          "goes to group l with probability q, else to another group uniformly, then to a "
          "uniformly random client of its group. num_clients must be a multiple of the classes.",
          {Param::Double("q", 0.5,
                         "Probability that a sample goes to its label's group; 1/C is IID.")
               .GreaterThan(0)
               .AtMost(1)}},
      ComponentSpec{"partitioner",
                    "owned",
                    "Client i holds exactly the samples device i owns, for a dataset whose "
                    "samples have owners (device_words); num_clients must be its number of "
                    "devices, and every device must keep a sample after train_limit.",
                    {}},
  };
}

template <typename Factory>
std::vector<ComponentSpec> SpecsOf(const Registry<Factory>& registry) {
  std::vector<ComponentSpec> out;
  for (const ComponentSpec* s : registry.Specs()) out.push_back(*s);
  return out;
}

const std::vector<Section>& Sections() {
  static const std::vector<Section> sections = [] {
    std::vector<Section> s;
    s.push_back(Section{
        "experiment",
        "What runs, under which seed, and where its run folder goes.",
        true,
        "",
        ComponentSpec{
            "section",
            "experiment",
            "",
            {Param::String("name", "", "Names the run folder and the results.").Required(),
             Param::Int("seed", 0, "Root seed; every random stream derives from it.").AtLeast(0),
             Param::Int("threads", 2, "LibTorch intra-op threads.").AtLeast(1).AtMost(256),
             Param::String("output_dir", "runs",
                           "Directory under which the run folder is created "
                           "(relative to the working directory)."),
             Param::String("kind", kCentralized,
                           "What kind of experiment runs: centralized training (sections "
                           "train), federated learning (sections federated, partition, "
                           "aggregator, and optionally tee, attestation, attack) or one of the "
                           "Islet example's flows between parties (section flow, and tee, "
                           "attestation), or a matrix of such runs (section matrix, "
                           "docs/matrix.md).")
                 .OneOf({kCentralized, kFederated, kFlow, kMatrix})}},
        {}});
    s.push_back(Section{
        "dataset", "The data source, chosen by name from the dataset registry.", true, "dataset",
        ComponentSpec{"section",
                      "dataset",
                      "",
                      {Param::Int("train_limit", 0,
                                  "Keep a seeded class-stratified subset of N training samples "
                                  "(after the dataset's own preprocessing); 0 keeps all.")
                           .AtLeast(0),
                       Param::Int("test_limit", 0,
                                  "Keep a seeded class-stratified subset of N test samples; 0 keeps "
                                  "all.")
                           .AtLeast(0)}},
        [] { return SpecsOf(DatasetRegistry()); },
        {kCentralized, kFederated}});
    s.push_back(Section{"model", "The network, chosen by name from the model registry.", true,
                        "model", ComponentSpec{"section", "model", "", {}},
                        [] { return SpecsOf(ModelRegistry()); },
                        {kCentralized, kFederated}});
    s.push_back(Section{"optimizer", "The optimizer, chosen by name.", true, "optimizer",
                        ComponentSpec{"section", "optimizer", "", {}},
                        [] { return OptimizerSpecs(); },
                        {kCentralized, kFederated}});
    s.push_back(Section{
        "train",
        "The training loop.",
        true,
        "",
        ComponentSpec{"section",
                      "train",
                      "",
                      {Param::Int("epochs", 1, "Passes over the training set.").AtLeast(1),
                       Param::Int("batch_size", 64, "Training mini-batch size.").AtLeast(1),
                       Param::Int("eval_batch_size", 1000, "Evaluation batch size.").AtLeast(1),
                       Param::Int("micro_batches", kDefaultMicroBatches,
                                  "Micro-batches per batch, each computed at one LibTorch thread "
                                  "on up to experiment.threads threads; results do not depend on "
                                  "the thread count (docs/models.md).")
                           .AtLeast(1)}},
        {},
        {kCentralized}});
    s.push_back(Section{
        "federated",
        "The federated rounds (see docs/federated.md); the optimizer section is each client's "
        "local optimizer.",
        true,
        "",
        ComponentSpec{
            "section",
            "federated",
            "",
            {Param::Int("rounds", 10, "Communication rounds.").AtLeast(1),
             Param::Int("clients_per_round", 10,
                        "Clients sampled each round (at most partition.num_clients).")
                 .AtLeast(1),
             Param::Int("local_epochs", 1, "Passes of each client over its own data per round.")
                 .AtLeast(1),
             Param::Int("local_steps", 0,
                        "Stop each client after N minibatch steps per round, counted across its "
                        "local_epochs (1: one gradient step, FedSGD-like); 0: no cap.")
                 .AtLeast(0),
             Param::Int("batch_size", 32, "Local training mini-batch size.").AtLeast(1),
             Param::Int("eval_batch_size", 1000, "Evaluation batch size.").AtLeast(1),
             Param::Int("workers", 1,
                        "Threads training clients in parallel; results do not depend on it.")
                 .AtLeast(1)
                 .AtMost(256),
             Param::Int("eval_every", 1,
                        "Evaluate the global model every N rounds (and after the last); 0: "
                        "after the last only.")
                 .AtLeast(0),
             Param::Int("checkpoint_every", 1,
                        "Write fl.ckpt every N rounds (and after the last); a run folder holding "
                        "one resumes from it.")
                 .AtLeast(1),
             Param::Int("min_updates", 0,
                        "A round fails when fewer admitted clients' updates come back (devices "
                        "of a run as processes that dropped out); 0: no minimum.")
                 .AtLeast(0),
             Param::Double("server_lr", 1.0,
                           "The runtime's step on the aggregate: global += server_lr * "
                           "aggregate (FedOpt's server learning rate, Reddi et al. 2021); 1: "
                           "FedAvg.")
                 .GreaterThan(0.0)
                 .AtMost(std::numeric_limits<float>::max()),
             Param::String("initial_model", "",
                           "Start from the global model of an earlier run: its fl.ckpt or its run "
                           "folder (same model and dataset shape). Empty: a fresh model.")}},
        {},
        {kFederated}});
    s.push_back(
        Section{"partition",
                "How the training set is split among the clients.",
                true,
                "partitioner",
                ComponentSpec{"section",
                              "partition",
                              "",
                              {Param::Int("num_clients", 100, "Number of clients.").AtLeast(1)}},
                [] { return PartitionerSpecs(); },
                {kFederated}});
    s.push_back(Section{"aggregator",
                        "How the server combines the client updates, chosen by name from the "
                        "aggregator registry.",
                        true,
                        "aggregator",
                        ComponentSpec{"section", "aggregator", "", {}},
                        [] { return SpecsOf(AggregatorRegistry()); },
                        {kFederated}});
    s.push_back(Section{
        "tee",
        "The TEE backend every party's realm runs on, chosen by name from the backend "
        "registry. Absent: `none` (a plain process: nothing isolated or attested).",
        false,
        "tee_backend",
        ComponentSpec{
            "section",
            "tee",
            "",
            {Param::Int("realm_memory_mb", 4,
                        "Private memory of every realm, MiB (measured into the RIM through the "
                        "RIPAS range, so every party of a run uses the same).")
                 .AtLeast(1)
                 .AtMost(1024)}},
        [] { return SpecsOf(TeeBackendRegistry()); },
        {kFederated, kFlow}});
    s.push_back(Section{
        "attestation",
        "Who must prove what before anything is sent (docs/roles.md). Absent: mode off.",
        false,
        "",
        ComponentSpec{
            "section",
            "attestation",
            "",
            {Param::String("mode", "off",
                           "off: no attestation, plaintext links; tokens: realms attest and "
                           "links are attested channels, but no policy (any measurement is "
                           "admitted); policy: the RIM must be listed for the expected role in "
                           "the signed policy of the honest programs.")
                 .OneOf({"off", "tokens", "policy"}),
             Param::StringList("trust_deployed", {},
                               "Roles (runtime, device) whose DEPLOYED program the policy also "
                               "lists, even when it carries attack code: a policy mistake, to "
                               "show why policies must be audited.")}},
        {},
        {kFederated, kFlow}});
    s.push_back(Section{
        "attack",
        "An attack module, chosen by name from the attack registry, attached to the role it "
        "declares (its code becomes part of that role's Program).",
        false,
        "attack",
        ComponentSpec{"section",
                      "attack",
                      "",
                      {Param::Double("malicious_fraction", 0.1,
                                     "Device attacks: fraction of the clients whose Program "
                                     "carries the attack (chosen with the seed).")
                           .AtLeast(0)
                           .AtMost(1),
                       Param::Int("start_round", 1,
                                  "First round in which the attack acts; earlier rounds are "
                                  "clean warm-up (the attack sees none of their hooks).")
                           .AtLeast(1),
                       Param::Bool("every_round", false,
                                   "Device attacks: the malicious devices are sampled in every "
                                   "round (always online, as the adversary of Melis et al. who "
                                   "keeps every global model); the round's other slots are "
                                   "drawn uniformly from the honest devices.")}},
        [] { return SpecsOf(AttackRegistry()); },
        {kFederated}});
    s.push_back(Section{
        "flow",
        "One flow of the Islet confidential-ML example (docs/roles.md): who sends what to whom.",
        true,
        "",
        ComponentSpec{
            "section",
            "flow",
            "",
            {Param::String("scenario", "server_training",
                           "model_delivery, on_device_inference, server_training, "
                           "server_inference or fl_words.")
                 .OneOf({"model_delivery", "on_device_inference", "server_training",
                         "server_inference", "fl_words"}),
             Param::String("runtime_code", "honest",
                           "honest, or exfiltrate_inputs: the runtime's Program carries an "
                           "input logger (attack code, another RIM).")
                 .OneOf({"honest", "exfiltrate_inputs"}),
             Param::String("host_attack", "none",
                           "none; read_device_model: the device's host copies the on-device "
                           "model from realm memory; read_runtime_inputs: the runtime's host "
                           "reads the user inputs from realm memory.")
                 .OneOf({"none", "read_device_model", "read_runtime_inputs"}),
             Param::StringList("pretrain_words", {"which", "there", "their", "white"},
                               "Words the model-provider pre-trains the word model on."),
             Param::StringList("user_words", {"about", "house", "plant"},
                               "Words the device's user types (5 letters each)."),
             Param::StringList("other_device_words", {"green", "stone", "lucky"},
                               "fl_words: the second device's words."),
             Param::Int("pretrain_epochs", 300, "Model-provider pre-training epochs.").AtLeast(0),
             Param::Int("train_epochs", 100,
                        "Runtime training epochs on the user's words (Islet: 100).")
                 .AtLeast(0),
             Param::Double("lr", 0.01, "Adam learning rate of the word model.")
                 .GreaterThan(0)
                 .AtMost(std::numeric_limits<float>::max()),
             Param::Int("fl_rounds", 10, "fl_words: federated rounds.").AtLeast(1),
             Param::Int("fl_local_epochs", 20, "fl_words: local epochs per round.").AtLeast(1),
             Param::Int("inference_inputs", 100,
                        "server_inference: Fashion-MNIST test images the device sends.")
                 .AtLeast(1),
             Param::Int("classifier_train_samples", 6000,
                        "server_inference: the model-provider's training samples.")
                 .AtLeast(10),
             Param::Int("classifier_epochs", 2, "server_inference: training epochs.").AtLeast(1)}},
        {},
        {kFlow}});
    // Kind matrix (docs/matrix.md): every cell is a federated or flow run;
    // the entries are parsed and each cell's config validated by
    // MatrixCellConfigs (matrix.h).
    s.push_back(Section{
        "matrix",
        "The attacks x protections matrix: each cell runs one row's experiment under one "
        "column's overrides (docs/matrix.md).",
        true,
        "",
        ComponentSpec{
            "section",
            "matrix",
            "",
            {Param::String("size", "small",
                           "Which of the lists tiny, small, full overrides every cell (tiny: "
                           "tests; small: the README's command; full: the paper-scale run).")
                 .OneOf({"tiny", "small", "full"}),
             Param::StringList("rows", {},
                               "Attacks, one per row: \"<label>: <base.yaml> section.key=value "
                               "...\" (base relative to this file's folder)."),
             Param::StringList("columns", {},
                               "Protections, one per column: \"<label>: section.key=value ...\"; "
                               "overrides of sections a cell's kind does not use are skipped."),
             Param::StringList("tiny", {}, "Overrides of every cell at size tiny."),
             Param::StringList("small", {}, "Overrides of every cell at size small."),
             Param::StringList("full", {}, "Overrides of every cell at size full.")}},
        {},
        {kMatrix}});
    return s;
  }();
  return sections;
}

const Section* FindSection(std::string_view name) {
  for (const Section& s : Sections()) {
    if (s.name == name) return &s;
  }
  return nullptr;
}

std::vector<std::string> SectionNames() {
  std::vector<std::string> out;
  for (const Section& s : Sections()) out.push_back(s.name);
  return out;
}

// ---------------------------------------------------------------------------
// Raw (unvalidated) config: YAML nodes with where they came from.

struct RawEntry {
  std::string key;
  YAML::Node value;
  std::string where;  // "file:line" or "<override>".
};

struct RawSection {
  std::string name;
  std::string where;
  std::vector<RawEntry> entries;

  RawEntry* Find(std::string_view key) {
    for (RawEntry& e : entries) {
      if (e.key == key) return &e;
    }
    return nullptr;
  }
};

std::string Where(const std::string& source, const YAML::Mark& mark) {
  if (mark.is_null()) return source;
  return source + ":" + std::to_string(mark.line + 1);
}

Status Error(const std::string& where, const std::string& what) {
  return InvalidArgumentError(where + ": " + what);
}

std::string DidYouMean(std::string_view name, const std::vector<std::string>& candidates,
                       const std::string& prefix = "") {
  std::string near = NearestName(name, candidates);
  return near.empty() ? "" : " (did you mean '" + prefix + near + "'?)";
}

std::string Join(const std::vector<std::string>& v) {
  std::string out;
  for (size_t i = 0; i < v.size(); ++i) out += (i ? ", " : "") + v[i];
  return out;
}

std::string NodeKindName(const YAML::Node& node) {
  switch (node.Type()) {
    case YAML::NodeType::Map:
      return "a mapping";
    case YAML::NodeType::Sequence:
      return "a list";
    case YAML::NodeType::Null:
      return "no value";
    default:
      return "a scalar";
  }
}

// ---------------------------------------------------------------------------
// YAML scalars to ParamValues, by the YAML 1.2 core schema: quoted scalars
// are strings; plain ones are null, booleans, integers, floats or strings.

enum class ScalarKind { kNull, kBool, kInt, kDouble, kString };

struct Scalar {
  ScalarKind kind = ScalarKind::kString;
  ParamValue value;
  std::string error;  // Set when a number does not fit.
};

Scalar ReadScalar(const YAML::Node& node) {
  Scalar out;
  const std::string& text = node.Scalar();
  if (node.Tag() == "!") {  // Quoted.
    out.value = text;
    return out;
  }
  static const std::regex kNull("~|null|Null|NULL|");
  static const std::regex kTrue("true|True|TRUE");
  static const std::regex kFalse("false|False|FALSE");
  static const std::regex kInt("[-+]?[0-9]+");
  static const std::regex kFloat("[-+]?(\\.[0-9]+|[0-9]+(\\.[0-9]*)?)([eE][-+]?[0-9]+)?");
  static const std::regex kInf("[-+]?\\.(inf|Inf|INF)");
  static const std::regex kNan("\\.(nan|NaN|NAN)");
  if (std::regex_match(text, kNull)) {
    out.kind = ScalarKind::kNull;
  } else if (std::regex_match(text, kTrue) || std::regex_match(text, kFalse)) {
    out.kind = ScalarKind::kBool;
    out.value = text[0] == 't' || text[0] == 'T';
  } else if (std::regex_match(text, kInt)) {
    out.kind = ScalarKind::kInt;
    int64_t v = 0;
    const char* begin = text.data() + (text[0] == '+' ? 1 : 0);
    auto [ptr, ec] = std::from_chars(begin, text.data() + text.size(), v);
    if (ec != std::errc() || ptr != text.data() + text.size()) {
      out.error = "integer " + text + " does not fit in 64 bits";
    }
    out.value = v;
  } else if (std::regex_match(text, kFloat)) {
    out.kind = ScalarKind::kDouble;
    out.value = std::strtod(text.c_str(), nullptr);
    if (std::isinf(std::get<double>(out.value))) out.error = "number " + text + " is out of range";
  } else if (std::regex_match(text, kInf)) {
    out.kind = ScalarKind::kDouble;
    out.value = text[0] == '-' ? -std::numeric_limits<double>::infinity()
                               : std::numeric_limits<double>::infinity();
  } else if (std::regex_match(text, kNan)) {
    out.kind = ScalarKind::kDouble;
    out.value = std::numeric_limits<double>::quiet_NaN();
  } else {
    out.value = text;
  }
  return out;
}

// Converts a YAML value to a ParamValue for `spec` (whose type only shapes
// the messages: CoerceParam does the type check). Returns the problem text.
StatusOr<ParamValue> NodeToValue(const YAML::Node& node, const ParamSpec& spec) {
  const std::string expected = "expected " + spec.ConstraintText();
  if (node.IsNull()) return InvalidArgumentError("no value (" + expected + ")");
  if (node.IsMap()) return InvalidArgumentError(expected + ", got a mapping");
  if (node.IsScalar()) {
    Scalar s = ReadScalar(node);
    if (s.kind == ScalarKind::kNull) return InvalidArgumentError("no value (" + expected + ")");
    if (!s.error.empty()) return InvalidArgumentError(s.error);
    return s.value;
  }
  // A sequence: elements must be scalars of one kind (integers may mix with
  // floats, giving a list of numbers).
  std::vector<int64_t> ints;
  std::vector<double> doubles;
  std::vector<std::string> strings;
  bool any_double = false, any_int = false, any_string = false;
  for (const YAML::Node& element : node) {
    if (!element.IsScalar()) {
      return InvalidArgumentError(expected + ", got a list containing " + NodeKindName(element));
    }
    Scalar s = ReadScalar(element);
    if (!s.error.empty()) return InvalidArgumentError(s.error);
    switch (s.kind) {
      case ScalarKind::kNull:
        return InvalidArgumentError(expected + ", got a list with an empty element");
      case ScalarKind::kBool:
        return InvalidArgumentError(expected + ", got a list containing a boolean");
      case ScalarKind::kInt:
        any_int = true;
        ints.push_back(std::get<int64_t>(s.value));
        doubles.push_back(static_cast<double>(std::get<int64_t>(s.value)));
        break;
      case ScalarKind::kDouble:
        any_double = true;
        doubles.push_back(std::get<double>(s.value));
        break;
      case ScalarKind::kString:
        any_string = true;
        strings.push_back(std::get<std::string>(s.value));
        break;
    }
  }
  if (any_string && (any_int || any_double)) {
    return InvalidArgumentError(expected + ", got a list mixing strings and numbers");
  }
  if (any_string) return ParamValue(std::move(strings));
  if (any_double) return ParamValue(std::move(doubles));
  return ParamValue(std::move(ints));  // Also the empty list.
}

// "hidden: expected ..." from CoerceParam becomes "expected ...": the caller
// prints the dotted key itself.
std::string StripParamName(const std::string& message, const std::string& name) {
  const std::string prefix = name + ": ";
  return message.rfind(prefix, 0) == 0 ? message.substr(prefix.size()) : message;
}

// ---------------------------------------------------------------------------
// Reading YAML into raw sections.

// A grid value as override text, so that a sweep cell is exactly the run
// `confml run CONFIG key=value` would make.
std::string SweepValueText(const YAML::Node& node) {
  YAML::Emitter e;
  if (node.IsScalar()) {
    if (node.Tag() != "!") return node.Scalar();
    e << YAML::DoubleQuoted << node.Scalar();
  } else {
    e << YAML::Flow << node;
  }
  return e.c_str();
}

// The `sweep:` section's shape (docs/sweeps.md); whether its keys and values
// make valid configs is for confml::experiments::PlanSweep to say.
StatusOr<SweepSection> ReadSweep(const YAML::Node& value, const std::string& source,
                                 const std::string& where) {
  SweepSection out;
  out.where = where;
  if (!value.IsMap()) {
    return Error(where,
                 "sweep: expected a mapping with seeds and/or grid, got " + NodeKindName(value));
  }
  bool any = false;
  for (auto kv = value.begin(); kv != value.end(); ++kv) {
    const std::string kwhere = Where(source, kv->first.Mark());
    const std::string k = kv->first.IsScalar() ? kv->first.Scalar() : "";
    const YAML::Node& v = kv->second;
    if (k == "seeds") {
      if (!v.IsSequence() || v.size() == 0) {
        return Error(kwhere, "sweep.seeds: expected a non-empty list of seeds");
      }
      for (const YAML::Node& element : v) {
        const Scalar seed =
            element.IsScalar() ? ReadScalar(element) : Scalar{ScalarKind::kNull, {}, {}};
        if (seed.kind != ScalarKind::kInt || !seed.error.empty() ||
            std::get<int64_t>(seed.value) < 0) {
          return Error(kwhere, "sweep.seeds: '" + SweepValueText(element) +
                                   "' is not a seed (an integer >= 0)");
        }
        const int64_t s = std::get<int64_t>(seed.value);
        if (std::find(out.seeds.begin(), out.seeds.end(), s) != out.seeds.end()) {
          return Error(kwhere, "sweep.seeds: seed " + std::to_string(s) + " is listed twice");
        }
        out.seeds.push_back(s);
      }
      any = true;
    } else if (k == "grid") {
      if (!v.IsMap() || v.size() == 0) {
        return Error(kwhere,
                     "sweep.grid: expected a non-empty mapping of section.key to value lists");
      }
      for (auto g = v.begin(); g != v.end(); ++g) {
        const std::string gwhere = Where(source, g->first.Mark());
        const std::string key = g->first.IsScalar() ? g->first.Scalar() : "";
        const size_t dot = key.find('.');
        if (dot == std::string::npos || dot == 0 || dot + 1 == key.size()) {
          return Error(gwhere, "sweep.grid: '" + key + "': expected a section.key");
        }
        std::vector<std::string> values;
        if (!g->second.IsSequence() || g->second.size() == 0) {
          return Error(gwhere, "sweep.grid." + key + ": expected a non-empty list of values");
        }
        for (const YAML::Node& element : g->second) {
          if (element.IsMap() || element.IsNull()) {
            return Error(gwhere, "sweep.grid." + key + ": values must be scalars or flow lists");
          }
          std::string text = SweepValueText(element);
          if (std::find(values.begin(), values.end(), text) != values.end()) {
            return Error(gwhere, "sweep.grid." + key + ": value '" + text + "' is listed twice");
          }
          values.push_back(std::move(text));
        }
        out.grid.emplace_back(key, std::move(values));
      }
      any = true;
    } else {
      return Error(kwhere, "sweep." + k + ": unknown key; valid keys: seeds, grid");
    }
  }
  if (!any) return Error(where, "sweep: expected seeds and/or grid");
  return out;
}

Status ReadRoot(const YAML::Node& root, const std::string& source,
                std::vector<RawSection>& sections, std::optional<SweepSection>& sweep) {
  if (root.IsNull()) return OkStatus();  // Empty document: every required key will be missing.
  if (!root.IsMap()) {
    return Error(Where(source, root.Mark()),
                 "expected a mapping of sections at the top level, got " + NodeKindName(root));
  }
  for (auto it = root.begin(); it != root.end(); ++it) {
    const YAML::Node& key = it->first;
    const YAML::Node& value = it->second;
    const std::string where = Where(source, key.Mark());
    if (!key.IsScalar()) return Error(where, "section names must be plain words");
    const std::string name = key.Scalar();
    if (name == "sweep") {
      if (sweep.has_value())
        return Error(where, "sweep: duplicate section (first at " + sweep->where + ")");
      StatusOr<SweepSection> read = ReadSweep(value, source, where);
      if (!read.ok()) return read.status();
      sweep = std::move(read).value();
      continue;
    }
    for (const RawSection& s : sections) {
      if (s.name == name)
        return Error(where, name + ": duplicate section (first at " + s.where + ")");
    }
    RawSection section{name, where, {}};
    if (value.IsNull()) {
      sections.push_back(std::move(section));
      continue;
    }
    if (!value.IsMap()) {
      if (FindSection(name) == nullptr) {
        return Error(where, name + ": unknown section" + DidYouMean(name, SectionNames()) +
                                "; valid sections: " + Join(SectionNames()));
      }
      return Error(Where(source, value.Mark()),
                   name + ": expected a mapping of keys, got " + NodeKindName(value));
    }
    for (auto kv = value.begin(); kv != value.end(); ++kv) {
      const std::string kwhere = Where(source, kv->first.Mark());
      if (!kv->first.IsScalar()) return Error(kwhere, name + ": keys must be plain words");
      const std::string k = kv->first.Scalar();
      if (const RawEntry* prev = section.Find(k)) {
        return Error(kwhere, name + "." + k + ": duplicate key (first at " + prev->where + ")");
      }
      section.entries.push_back(RawEntry{k, kv->second, kwhere});
    }
    sections.push_back(std::move(section));
  }
  return OkStatus();
}

Status ApplyOverride(const std::string& text, std::vector<RawSection>& sections) {
  const size_t eq = text.find('=');
  if (eq == std::string::npos) {
    return Error(kOverrideWhere, "'" + text + "': expected section.key=value");
  }
  const std::string path = text.substr(0, eq);
  const std::string value_text = text.substr(eq + 1);
  const size_t dot = path.find('.');
  if (dot == std::string::npos || dot == 0 || dot + 1 == path.size()) {
    return Error(kOverrideWhere, "'" + text + "': expected section.key=value");
  }
  const std::string section_name = path.substr(0, dot);
  const std::string key = path.substr(dot + 1);
  YAML::Node value;
  try {
    value = YAML::Load(value_text);
  } catch (const YAML::Exception& e) {
    return Error(kOverrideWhere, path + ": malformed value '" + value_text + "': " + e.msg);
  }
  if (value.IsMap()) {
    return Error(kOverrideWhere, path + ": expected a scalar or a flow list, got a mapping");
  }
  RawSection* section = nullptr;
  for (RawSection& s : sections) {
    if (s.name == section_name) section = &s;
  }
  if (section == nullptr) {
    sections.push_back(RawSection{section_name, kOverrideWhere, {}});
    section = &sections.back();
  }
  if (RawEntry* e = section->Find(key)) {
    e->value = value;
    e->where = kOverrideWhere;
  } else {
    section->entries.push_back(RawEntry{key, value, kOverrideWhere});
  }
  return OkStatus();
}

// ---------------------------------------------------------------------------
// Validation.

StatusOr<SectionConfig> ValidateSection(const Section& schema, RawSection* raw,
                                        const std::string& missing_where) {
  SectionConfig out;
  const ComponentSpec* component = nullptr;
  std::vector<ComponentSpec> choices;
  std::vector<std::string> names;
  if (!schema.component_kind.empty()) {
    choices = schema.components();
    for (const ComponentSpec& c : choices) names.push_back(c.name);
    const RawEntry* name_entry = raw ? raw->Find("name") : nullptr;
    if (name_entry == nullptr) {
      return Error(raw ? raw->where : missing_where,
                   schema.name + ".name: missing required key (one of: " + Join(names) + ")");
    }
    const YAML::Node& n = name_entry->value;
    if (!n.IsScalar() || ReadScalar(n).kind != ScalarKind::kString) {
      return Error(name_entry->where, schema.name + ".name: expected a " + schema.component_kind +
                                          " name (one of: " + Join(names) + ")");
    }
    const std::string name = n.Scalar();
    for (const ComponentSpec& c : choices) {
      if (c.name == name) component = &c;
    }
    if (component == nullptr) {
      std::string msg = schema.name + ".name: unknown " + schema.component_kind + " '" + name + "'";
      std::string near = NearestName(name, names);
      msg += near.empty() ? "" : " (did you mean '" + near + "'?)";
      msg += "; known: " + Join(names);
      return Error(name_entry->where, msg);
    }
    out.component = name;
  }

  std::map<std::string, ParamValue> own_given, component_given;
  if (raw != nullptr) {
    for (const RawEntry& e : raw->entries) {
      if (component != nullptr && e.key == "name") continue;
      const ParamSpec* own = schema.keys.Find(e.key);
      const ParamSpec* comp = component ? component->Find(e.key) : nullptr;
      if (own == nullptr && comp == nullptr) {
        std::vector<std::string> valid = schema.keys.ParamNames();
        if (component != nullptr) {
          valid.push_back("name");
          for (const std::string& p : component->ParamNames()) {
            if (std::find(valid.begin(), valid.end(), p) == valid.end()) valid.push_back(p);
          }
        }
        std::string msg = schema.name + "." + e.key + ": unknown key";
        if (component != nullptr)
          msg += " for " + schema.component_kind + " '" + component->name + "'";
        std::string near = DidYouMean(e.key, valid, schema.name + ".");
        if (near.empty()) msg += "; valid keys: " + Join(valid);
        return Error(e.where, msg + near);
      }
      // A key declared both by the section and the component reaches both.
      for (const ParamSpec* spec : {own, comp}) {
        if (spec == nullptr) continue;
        const std::string dotted = schema.name + "." + e.key;
        StatusOr<ParamValue> v = NodeToValue(e.value, *spec);
        if (!v.ok()) return Error(e.where, dotted + ": " + v.status().message());
        StatusOr<ParamValue> c = CoerceParam(*spec, *v);
        if (!c.ok())
          return Error(e.where, dotted + ": " + StripParamName(c.status().message(), spec->name));
        (spec == own ? own_given : component_given)[e.key] = std::move(c).value();
      }
    }
  }

  const std::string where = raw ? raw->where : missing_where;
  auto check_required = [&](const ComponentSpec& spec,
                            const std::map<std::string, ParamValue>& given) -> Status {
    for (const ParamSpec& p : spec.params) {
      if (p.required && !given.count(p.name)) {
        return Error(where, schema.name + "." + p.name + ": missing required key (" +
                                p.ConstraintText() + ")");
      }
    }
    return OkStatus();
  };
  CONFML_RETURN_IF_ERROR(check_required(schema.keys, own_given));
  StatusOr<ParamSet> keys = ResolveParams(schema.keys, own_given);
  if (!keys.ok()) return Error(where, keys.status().message());
  out.keys = std::move(keys).value();
  if (component != nullptr) {
    CONFML_RETURN_IF_ERROR(check_required(*component, component_given));
    StatusOr<ParamSet> params = ResolveParams(*component, component_given);
    if (!params.ok()) return Error(where, params.status().message());
    out.params = std::move(params).value();
  }
  return out;
}

StatusOr<ExperimentConfig> Validate(std::vector<RawSection> raw, const std::string& source) {
  ExperimentConfig config;
  config.source = source;
  const std::vector<std::string> known = SectionNames();
  for (const RawSection& s : raw) {
    if (FindSection(s.name) == nullptr) {
      std::string msg = s.name + ": unknown section" + DidYouMean(s.name, known);
      if (DidYouMean(s.name, known).empty()) msg += "; valid sections: " + Join(known);
      return Error(s.where, msg);
    }
  }
  std::string kind;  // Known once `experiment` (the first section) is validated.
  for (const Section& schema : Sections()) {
    RawSection* section = nullptr;
    for (RawSection& s : raw) {
      if (s.name == schema.name) section = &s;
    }
    const bool used = schema.kinds.empty() || std::find(schema.kinds.begin(), schema.kinds.end(),
                                                        kind) != schema.kinds.end();
    if (!used) {
      if (section != nullptr) {
        return Error(section->where, schema.name + ": section not used by experiment.kind '" +
                                         kind + "' (it belongs to kind " + Join(schema.kinds) +
                                         ")");
      }
      continue;
    }
    if (section == nullptr && !schema.required) continue;
    StatusOr<SectionConfig> v = ValidateSection(schema, section, source);
    if (!v.ok()) return v.status();
    // The name becomes part of a folder name.
    if (schema.name == "experiment") {
      const std::string& name = v->keys.String("name");
      bool ok =
          !name.empty() && name[0] != '.' && std::all_of(name.begin(), name.end(), [](char c) {
            return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-' || c == '.';
          });
      if (!ok) {
        const RawEntry* e = section->Find("name");
        return Error(e ? e->where : source,
                     "experiment.name: '" + name +
                         "' must be non-empty and made of letters, digits, '_', '-' and '.'");
      }
    }
    if (schema.name == "experiment") kind = v->keys.String("kind");
    config.sections.emplace(schema.name, std::move(v).value());
  }
  if (kind == kFederated) {
    const int64_t per_round = config.Int("federated", "clients_per_round");
    const int64_t clients = config.Int("partition", "num_clients");
    if (per_round > clients) {
      std::string where = source;
      for (RawSection& s : raw) {
        if (s.name != "federated") continue;
        const RawEntry* e = s.Find("clients_per_round");
        where = e ? e->where : s.where;
      }
      return Error(where, "federated.clients_per_round: " + std::to_string(per_round) +
                              " is more than partition.num_clients (" + std::to_string(clients) +
                              ")");
    }
  }
  return config;
}

[[noreturn]] void Die(const std::string& what) {
  std::fprintf(stderr, "confml: fatal: ExperimentConfig: %s\n", what.c_str());
  std::abort();
}

bool SameParams(const ParamSet& a, const ParamSet& b) {
  if (a.values().size() != b.values().size()) return false;
  for (const auto& [k, v] : a.values()) {
    auto it = b.values().find(k);
    if (it == b.values().end()) return false;
    // NaN != NaN, yet a NaN round-trips through YAML as .nan.
    const double* x = std::get_if<double>(&v);
    const double* y = std::get_if<double>(&it->second);
    if (x && y && std::isnan(*x) && std::isnan(*y)) continue;
    if (!(v == it->second)) return false;
  }
  return true;
}

void EmitParams(std::string& out, const ParamSet& set, const ComponentSpec* spec) {
  if (spec == nullptr) return;
  for (const ParamSpec& p : spec->params) {
    if (!set.Has(p.name)) continue;
    out += "  " + p.name + ": " + FormatParamValue(set.Get(p.name));
    if (!p.doc.empty()) out += "  # " + p.doc;
    out += "\n";
  }
}

}  // namespace

bool operator==(const SectionConfig& a, const SectionConfig& b) {
  return a.component == b.component && SameParams(a.keys, b.keys) && SameParams(a.params, b.params);
}

bool operator==(const ExperimentConfig& a, const ExperimentConfig& b) {
  return a.sections == b.sections;
}

const SectionConfig& ExperimentConfig::section(std::string_view name) const {
  auto it = sections.find(name);
  if (it == sections.end()) Die("no section '" + std::string(name) + "'");
  return it->second;
}

const ParamValue& ExperimentConfig::Get(std::string_view section_name, std::string_view key) const {
  const SectionConfig& s = section(section_name);
  if (s.keys.Has(key)) return s.keys.Get(key);
  if (s.params.Has(key)) return s.params.Get(key);
  Die("no key '" + std::string(section_name) + "." + std::string(key) + "'");
}

int64_t ExperimentConfig::Int(std::string_view s, std::string_view key) const {
  const int64_t* v = std::get_if<int64_t>(&Get(s, key));
  if (v == nullptr) Die(std::string(s) + "." + std::string(key) + " is not an integer");
  return *v;
}

double ExperimentConfig::Double(std::string_view s, std::string_view key) const {
  const double* v = std::get_if<double>(&Get(s, key));
  if (v == nullptr) Die(std::string(s) + "." + std::string(key) + " is not a number");
  return *v;
}

const std::string& ExperimentConfig::String(std::string_view s, std::string_view key) const {
  const std::string* v = std::get_if<std::string>(&Get(s, key));
  if (v == nullptr) Die(std::string(s) + "." + std::string(key) + " is not a string");
  return *v;
}

std::string ExperimentConfig::ToYaml() const {
  std::string out = "# Resolved config, written by confml " + std::string(Version()) + ".\n";
  out += "# Source: " + source + "\n";
  for (const std::string& o : overrides) out += "# Override: " + o + "\n";
  for (const Section& schema : Sections()) {
    auto it = sections.find(schema.name);
    if (it == sections.end()) continue;
    const SectionConfig& s = it->second;
    out += schema.name + ":\n";
    if (!schema.component_kind.empty()) {
      out += "  name: " + FormatParamValue(s.component) + "\n";
    }
    EmitParams(out, s.keys, &schema.keys);
    if (!schema.component_kind.empty()) {
      for (const ComponentSpec& c : schema.components()) {
        if (c.name != s.component) continue;
        // Keys the section already printed are not repeated.
        ParamSet rest;
        for (const auto& [k, v] : s.params.values()) {
          if (!s.keys.Has(k)) rest.Set(k, v);
        }
        EmitParams(out, rest, &c);
      }
    }
  }
  if (sweep.has_value()) {
    out += "sweep:  # confml sweep runs these cells; confml run ignores them\n";
    if (!sweep->seeds.empty()) {
      out += "  seeds: [";
      for (size_t i = 0; i < sweep->seeds.size(); ++i) {
        out += (i ? ", " : "") + std::to_string(sweep->seeds[i]);
      }
      out += "]\n";
    }
    if (!sweep->grid.empty()) out += "  grid:\n";
    for (const auto& [key, values] : sweep->grid)
      out += "    " + key + ": [" + Join(values) + "]\n";
  }
  return out;
}

StatusOr<ExperimentConfig> ParseExperimentConfig(std::string_view yaml,
                                                 const std::vector<std::string>& overrides,
                                                 const std::string& source) {
  // Every built-in component must be registered before names are checked.
  CONFML_RETURN_IF_ERROR(RegisterAllComponents());
  std::vector<RawSection> raw;
  std::optional<SweepSection> sweep;
  try {
    YAML::Node root = YAML::Load(std::string(yaml));
    CONFML_RETURN_IF_ERROR(ReadRoot(root, source, raw, sweep));
  } catch (const YAML::Exception& e) {
    return Error(Where(source, e.mark), "malformed YAML: " + e.msg);
  }
  try {
    for (const std::string& o : overrides) CONFML_RETURN_IF_ERROR(ApplyOverride(o, raw));
    StatusOr<ExperimentConfig> config = Validate(std::move(raw), source);
    if (config.ok()) {
      config->overrides = overrides;
      config->sweep = std::move(sweep);
    }
    return config;
  } catch (const YAML::Exception& e) {
    return InternalError(source + ": YAML error during validation: " + e.msg);
  }
}

StatusOr<ExperimentConfig> LoadExperimentConfig(const std::string& path,
                                                const std::vector<std::string>& overrides) {
  StatusOr<std::string> text = ReadFileText(path);
  if (!text.ok()) {
    return Status(text.status().code(), "cannot read config: " + text.status().message());
  }
  return ParseExperimentConfig(*text, overrides, path);
}

std::vector<SectionInfo> ConfigSchema() {
  // The reference lists every registered component.
  (void)RegisterAllComponents();
  std::vector<SectionInfo> out;
  for (const Section& s : Sections()) {
    SectionInfo info;
    info.name = s.name;
    info.doc = s.doc;
    info.required = s.required;
    info.component_kind = s.component_kind;
    info.kinds = s.kinds;
    info.keys = s.keys;
    if (s.components) info.components = s.components();
    out.push_back(std::move(info));
  }
  return out;
}

namespace {

std::string EscapeCell(std::string s) {
  std::string out;
  for (char c : s) {
    if (c == '|')
      out += "\\|";
    else if (c == '\n')
      out += ' ';
    else
      out += c;
  }
  return out;
}

void KeyTable(std::string& out, const ComponentSpec& spec, const std::string& prefix) {
  if (spec.params.empty()) {
    out += "No parameters.\n\n";
    return;
  }
  out += "| key | type and constraint | default | description |\n|---|---|---|---|\n";
  for (const ParamSpec& p : spec.params) {
    out += "| `" + prefix + p.name + "` | " + EscapeCell(p.ConstraintText()) + " | " +
           (p.required ? std::string("required")
                       : "`" + EscapeCell(FormatParamValue(p.default_value)) + "`") +
           " | " + EscapeCell(p.doc) + " |\n";
  }
  out += "\n";
}

}  // namespace

std::string ConfigReferenceMarkdown() {
  std::string out =
      "# Config reference\n\n"
      "Generated by `confml config-reference` from the parameters each component declares; do "
      "not edit by hand. See [config.md](config.md) for how configs, overrides and run folders "
      "work.\n\n";
  for (const SectionInfo& s : ConfigSchema()) {
    out += "## `" + s.name + "`\n\n" + s.doc + "\n\n";
    if (!s.kinds.empty()) {
      std::vector<std::string> kinds;
      for (const std::string& k : s.kinds) kinds.push_back("`" + k + "`");
      out += "Used only with `experiment.kind` " + Join(kinds) +
             "; a config of another kind may not have it.\n\n";
    }
    if (!s.component_kind.empty()) {
      out += "`" + s.name + ".name` (required) selects the " + s.component_kind + ": ";
      std::vector<std::string> names;
      for (const ComponentSpec& c : s.components) names.push_back("`" + c.name + "`");
      out += Join(names) + ".\n\n";
      if (!s.keys.params.empty()) {
        out += "Keys every " + s.component_kind + " accepts:\n\n";
        KeyTable(out, s.keys, s.name + ".");
      }
      for (const ComponentSpec& c : s.components) {
        out += "### " + s.name + " `" + c.name + "`\n\n" + c.doc + "\n\n";
        KeyTable(out, c, s.name + ".");
      }
    } else {
      KeyTable(out, s.keys, s.name + ".");
    }
  }
  return out;
}

}  // namespace confml::experiments
