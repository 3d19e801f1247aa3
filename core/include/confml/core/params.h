// confml/core/params.h: parameters declared once per component.
//
// Every configurable component (dataset, model, optimizer, aggregator,
// attack, backend, ...) declares its parameters in one ComponentSpec. That one
// declaration drives config validation (with file, line and nearest-key
// messages), default filling, the generated config reference in docs/ and the
// Python keyword arguments.
//
//   ComponentSpec spec{"model", "mlp", "Multi-layer perceptron.",
//       {Param::IntList("hidden", {200, 200}, "Widths of the hidden layers.").AtLeast(1),
//        Param::String("activation", "relu", "Hidden activation.").OneOf({"relu", "sigmoid"})}};
//   StatusOr<ParamSet> p = ResolveParams(spec, {{"hidden", std::vector<int64_t>{64}}});
//   p->IntList("hidden");  // {64}
//
// ParamSet getters abort on a name or type the spec does not declare: that is
// a programming error, not an input error, since values were validated first.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "confml/core/status.h"

namespace confml {

enum class ParamType { kBool, kInt, kDouble, kString, kIntList, kDoubleList, kStringList };

std::string_view ParamTypeName(ParamType type);

using ParamValue = std::variant<bool, int64_t, double, std::string, std::vector<int64_t>,
                                std::vector<double>, std::vector<std::string>>;

// "true", "3", "0.5", "'text'", "[1, 2]": how a value reads in YAML.
std::string FormatParamValue(const ParamValue& value);

struct ParamSpec {
  std::string name;
  ParamType type = ParamType::kInt;
  ParamValue default_value;  // Meaningless when required.
  std::string doc;
  bool required = false;
  // Inclusive bounds for numbers and for every element of a numeric list.
  std::optional<double> min;
  std::optional<double> max;
  bool min_exclusive = false;  // min is a strict bound (e.g. learning rate > 0).
  std::vector<std::string> choices;  // Allowed strings; empty means any.

  ParamSpec& AtLeast(double v) { min = v; min_exclusive = false; return *this; }
  ParamSpec& GreaterThan(double v) { min = v; min_exclusive = true; return *this; }
  ParamSpec& AtMost(double v) { max = v; return *this; }
  ParamSpec& OneOf(std::vector<std::string> c) { choices = std::move(c); return *this; }
  ParamSpec& Required() { required = true; return *this; }

  // A one-line human description of the constraint, e.g. "integer >= 1".
  std::string ConstraintText() const;
};

// Factories for ParamSpec, one per type.
struct Param {
  static ParamSpec Bool(std::string name, bool def, std::string doc);
  static ParamSpec Int(std::string name, int64_t def, std::string doc);
  static ParamSpec Double(std::string name, double def, std::string doc);
  static ParamSpec String(std::string name, std::string def, std::string doc);
  static ParamSpec IntList(std::string name, std::vector<int64_t> def, std::string doc);
  static ParamSpec DoubleList(std::string name, std::vector<double> def, std::string doc);
  static ParamSpec StringList(std::string name, std::vector<std::string> def, std::string doc);
};

// The declaration of one component: its kind ("model"), its name ("mlp"),
// what it does, and its parameters.
struct ComponentSpec {
  std::string kind;
  std::string name;
  std::string doc;
  std::vector<ParamSpec> params;

  const ParamSpec* Find(std::string_view param) const;
  std::vector<std::string> ParamNames() const;
};

// Resolved values of one component: every declared parameter has a value.
class ParamSet {
 public:
  ParamSet() = default;

  bool Has(std::string_view name) const;
  bool Bool(std::string_view name) const;
  int64_t Int(std::string_view name) const;
  double Double(std::string_view name) const;
  const std::string& String(std::string_view name) const;
  const std::vector<int64_t>& IntList(std::string_view name) const;
  const std::vector<double>& DoubleList(std::string_view name) const;
  const std::vector<std::string>& StringList(std::string_view name) const;

  const ParamValue& Get(std::string_view name) const;
  void Set(const std::string& name, ParamValue value) { values_[name] = std::move(value); }
  const std::map<std::string, ParamValue, std::less<>>& values() const { return values_; }

 private:
  std::map<std::string, ParamValue, std::less<>> values_;
};

// Converts `value` to the spec's type where that is lossless (an integer for a
// double, a scalar for a one-element list is NOT accepted), then checks bounds
// and choices. The error message names the parameter and the constraint.
StatusOr<ParamValue> CoerceParam(const ParamSpec& spec, const ParamValue& value);

// Checks every given key against the spec (unknown keys are InvalidArgument,
// naming the nearest declared key), coerces and checks each value, and fills
// defaults. A missing required parameter is InvalidArgument.
StatusOr<ParamSet> ResolveParams(const ComponentSpec& spec,
                                 const std::map<std::string, ParamValue>& given);

// The candidate nearest to `name` by edit distance, or "" when none is close
// enough to be a plausible typo.
std::string NearestName(std::string_view name, const std::vector<std::string>& candidates);

}  // namespace confml
