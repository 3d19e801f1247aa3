// confml/core/registry.h: components registered by name.
//
// A Registry maps a component name to its ComponentSpec and a factory. Each
// module owns the registries of its interfaces (models in core, aggregators in
// core, attacks in attacks, ...) and fills them with its built-in components
// on first use; users (and Python classes, through the bindings) may add more
// at run time.
//
//   using ModelFactory = std::function<StatusOr<ModelPtr>(const ParamSet&, const ModelContext&)>;
//   Registry<ModelFactory>& reg = ModelRegistry();
//   const auto* entry = reg.Find("mlp");
//
// Thread-safe: Add and Find may race; an Entry pointer stays valid for the
// life of the registry.
#pragma once

#include <map>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "confml/core/params.h"
#include "confml/core/status.h"

namespace confml {

template <typename Factory>
class Registry {
 public:
  struct Entry {
    ComponentSpec spec;
    Factory factory;
  };

  explicit Registry(std::string kind) : kind_(std::move(kind)) {}

  const std::string& kind() const { return kind_; }

  // AlreadyExists when the name is taken; InvalidArgument for a spec of
  // another kind.
  Status Add(ComponentSpec spec, Factory factory) {
    if (spec.kind != kind_) {
      return InvalidArgumentError("component '" + spec.name + "' of kind '" + spec.kind +
                                  "' added to the " + kind_ + " registry");
    }
    std::lock_guard<std::mutex> lock(mu_);
    const std::string name = spec.name;
    if (entries_.count(name)) return AlreadyExistsError(kind_ + " '" + name + "' is already registered");
    entries_.emplace(name, Entry{std::move(spec), std::move(factory)});
    return OkStatus();
  }

  // nullptr when absent.
  const Entry* Find(std::string_view name) const {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = entries_.find(name);
    return it == entries_.end() ? nullptr : &it->second;
  }

  // NotFound naming the nearest registered name.
  StatusOr<const Entry*> Lookup(std::string_view name) const {
    if (const Entry* e = Find(name)) return e;
    std::vector<std::string> names = Names();
    std::string msg = "unknown " + kind_ + " '" + std::string(name) + "'";
    std::string near = NearestName(name, names);
    if (!near.empty()) msg += " (did you mean '" + near + "'?)";
    msg += "; known: ";
    for (size_t i = 0; i < names.size(); ++i) msg += (i ? ", " : "") + names[i];
    return NotFoundError(msg);
  }

  std::vector<std::string> Names() const {
    std::lock_guard<std::mutex> lock(mu_);
    std::vector<std::string> out;
    for (const auto& [name, e] : entries_) out.push_back(name);
    return out;
  }

  std::vector<const ComponentSpec*> Specs() const {
    std::lock_guard<std::mutex> lock(mu_);
    std::vector<const ComponentSpec*> out;
    for (const auto& [name, e] : entries_) out.push_back(&e.spec);
    return out;
  }

 private:
  std::string kind_;
  mutable std::mutex mu_;
  std::map<std::string, Entry, std::less<>> entries_;
};

}  // namespace confml
