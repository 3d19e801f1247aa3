// confml/experiments/config.h: experiment configs, loaded from YAML and
// validated against every component's declared parameters.
//
// A config is a YAML mapping of sections. `experiment` and `train` hold plain
// keys; `dataset`, `model` and `optimizer` pick a registered component by
// `name` and hold that component's parameters. The sections depend on
// experiment.kind: `train` for centralized; `federated`, `partition` and
// `aggregator` for federated (docs/config.md); the other kind's are errors.
//
//   experiment: {name: fmnist_cnn, seed: 1, kind: centralized}
//   dataset:    {name: fashion_mnist, train_limit: 0}
//   model:      {name: small_cnn}
//   optimizer:  {name: adam, lr: 0.001}
//   train:      {epochs: 5, batch_size: 64}
//
//   StatusOr<ExperimentConfig> c =
//       LoadExperimentConfig("experiments/fashion_mnist_cnn.yaml", {"train.epochs=1"});
//   if (!c.ok()) { std::cerr << c.status().message(); }  // "x.yaml:7: model.hiden: ..."
//   c->section("model").component;            // "small_cnn"
//   c->Int("train", "epochs");                // 1
//   std::string resolved = c->ToYaml();       // every default filled in
//
// Errors are InvalidArgument (NotFound for an unreadable file) with a one-line
// message "<file>:<line>: <section>.<key>: <problem>", or "<override>: ..."
// when a command-line override is at fault; unknown keys, sections and
// component names name the nearest valid one. Only the first problem found
// is reported. Thread-compatible values; the loaders are thread-safe.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "confml/core/params.h"
#include "confml/core/status.h"

namespace confml::experiments {

// One validated section.
struct SectionConfig {
  // The selected component ("small_cnn"); empty for a plain section.
  std::string component;
  // Keys the section declares itself (all keys of a plain section; the
  // common keys of a selecting section, e.g. dataset.train_limit).
  ParamSet keys;
  // The component's parameters, every default filled in.
  ParamSet params;
};

bool operator==(const SectionConfig& a, const SectionConfig& b);

// The top-level `sweep:` section (docs/sweeps.md), checked for shape only:
// `confml sweep` (sweep.h) expands and validates its cells; RunExperiment
// ignores it.
struct SweepSection {
  std::string where;           // "<file>:<line>" of the section.
  std::vector<int64_t> seeds;  // Distinct, >= 0; empty: experiment.seed alone.
  // In file order: a dotted key ("aggregator.name") and its values as
  // override text ("median", "[64, 32]"); at least one value each.
  std::vector<std::pair<std::string, std::vector<std::string>>> grid;
};

struct ExperimentConfig {
  std::string source;                  // The file path, or "<string>".
  std::vector<std::string> overrides;  // As given, "key.sub=value".
  std::map<std::string, SectionConfig, std::less<>> sections;
  std::optional<SweepSection> sweep;  // Not compared by operator==.

  bool Has(std::string_view section) const { return sections.find(section) != sections.end(); }
  // Aborts on a section the config does not have (a programming error: the
  // sections of each experiment kind are fixed by validation).
  const SectionConfig& section(std::string_view name) const;

  // A section key, looked up in the section's own keys and then in its
  // component's parameters. Aborts like ParamSet's getters.
  const ParamValue& Get(std::string_view section, std::string_view key) const;
  int64_t Int(std::string_view section, std::string_view key) const;
  double Double(std::string_view section, std::string_view key) const;
  const std::string& String(std::string_view section, std::string_view key) const;

  const std::string& name() const { return String("experiment", "name"); }
  uint64_t seed() const { return static_cast<uint64_t>(Int("experiment", "seed")); }
  const std::string& kind() const { return String("experiment", "kind"); }

  // The resolved config as YAML (each key commented with its doc); loading
  // it back gives an equal config.
  std::string ToYaml() const;
};

// Equal sections and values; source and overrides are not compared.
bool operator==(const ExperimentConfig& a, const ExperimentConfig& b);

// Reads and validates a config file, applying `overrides` ("model.hidden=[64, 32]",
// the value parsed as a YAML scalar or flow list) before validation.
StatusOr<ExperimentConfig> LoadExperimentConfig(const std::string& path,
                                                const std::vector<std::string>& overrides = {});
// The same from YAML text; `source` names it in error messages.
StatusOr<ExperimentConfig> ParseExperimentConfig(std::string_view yaml,
                                                 const std::vector<std::string>& overrides = {},
                                                 const std::string& source = "<string>");

// The schema, for documentation: each section, whether it selects a component
// (and of which kind), and its declared keys.
struct SectionInfo {
  std::string name;
  std::string doc;
  bool required = true;
  std::string component_kind;             // "" for a plain section.
  std::vector<std::string> kinds;         // experiment.kind values using it; empty: all.
  ComponentSpec keys;                     // kind "section".
  std::vector<ComponentSpec> components;  // The registered choices.
};
std::vector<SectionInfo> ConfigSchema();

// Markdown listing every section, component and key with type, default,
// constraint and doc: the content of docs/config-reference.md.
std::string ConfigReferenceMarkdown();

}  // namespace confml::experiments
