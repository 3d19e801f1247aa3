#include "confml/core/params.h"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <limits>

namespace confml {
namespace {

// Largest magnitude below which every integer is exactly a double.
constexpr double kMaxExactInt = 9007199254740992.0;  // 2^53

// A bound of +-FLT_MAX declares a parameter that ends up in a float tensor (a
// learning rate, a noise scale): LibTorch refuses a larger value only inside
// training, so the declaration says so and config validation checks it.
constexpr double kFloatMax = std::numeric_limits<float>::max();

std::string FormatDouble(double v) {
  if (std::isnan(v)) return ".nan";
  if (std::isinf(v)) return v > 0 ? ".inf" : "-.inf";
  char buf[64];
  auto [end, ec] = std::to_chars(buf, buf + sizeof(buf), v);
  std::string s(buf, ec == std::errc() ? end : buf);
  // YAML would read "1" back as an integer; keep the type visible.
  if (s.find_first_of(".eE") == std::string::npos) s += ".0";
  return s;
}

std::string QuoteString(const std::string& s) {
  std::string out = "'";
  for (char c : s) {
    if (c == '\'')
      out += "''";
    else
      out += c;
  }
  out += "'";
  return out;
}

template <typename T, typename F>
std::string FormatList(const std::vector<T>& v, F format) {
  std::string out = "[";
  for (size_t i = 0; i < v.size(); ++i) {
    if (i) out += ", ";
    out += format(v[i]);
  }
  return out + "]";
}

std::string FormatBound(double v) {
  if (v == std::floor(v) && std::fabs(v) < kMaxExactInt) {
    return std::to_string(static_cast<int64_t>(v));
  }
  char buf[64];
  auto [end, ec] = std::to_chars(buf, buf + sizeof(buf), v);
  return std::string(buf, ec == std::errc() ? end : buf);
}

// The type a value of this variant alternative has, for error messages.
std::string_view ValueTypeName(const ParamValue& v) {
  switch (v.index()) {
    case 0:
      return "boolean";
    case 1:
      return "integer";
    case 2:
      return "number";
    case 3:
      return "string";
    case 4:
      return "list of integers";
    case 5:
      return "list of numbers";
    case 6:
      return "list of strings";
  }
  return "value";
}

bool IsList(const ParamValue& v) { return v.index() >= 4; }

size_t ListSize(const ParamValue& v) {
  if (auto* a = std::get_if<std::vector<int64_t>>(&v)) return a->size();
  if (auto* b = std::get_if<std::vector<double>>(&v)) return b->size();
  if (auto* c = std::get_if<std::vector<std::string>>(&v)) return c->size();
  return 0;
}

std::string TypeMismatch(const ParamSpec& spec, const ParamValue& value) {
  return spec.name + ": expected " + std::string(ParamTypeName(spec.type)) + ", got " +
         std::string(ValueTypeName(value)) + " " + FormatParamValue(value);
}

Status CheckNumber(const ParamSpec& spec, double v, const std::string& shown, bool element) {
  bool low = spec.min && (spec.min_exclusive ? !(v > *spec.min) : !(v >= *spec.min));
  bool high = spec.max && !(v <= *spec.max);
  // No parameter means anything by infinity (an "unbounded" setting is
  // spelled 0 or left out), and one that slips through fails far from the
  // config, inside training, so every number must be finite.
  if (!std::isfinite(v) || low || high) {
    return InvalidArgumentError(spec.name + ": " + (element ? "element " : "") + shown +
                                " is out of range (expected " + spec.ConstraintText() + ")");
  }
  return OkStatus();
}

Status CheckChoice(const ParamSpec& spec, const std::string& s) {
  if (spec.choices.empty() ||
      std::find(spec.choices.begin(), spec.choices.end(), s) != spec.choices.end()) {
    return OkStatus();
  }
  std::string msg = spec.name + ": " + QuoteString(s) + " is not allowed (expected " +
                    spec.ConstraintText() + ")";
  std::string near = NearestName(s, spec.choices);
  if (!near.empty()) msg += "; did you mean '" + near + "'?";
  return InvalidArgumentError(msg);
}

[[noreturn]] void DieParam(std::string_view name, std::string_view why) {
  std::fprintf(stderr, "confml: fatal: ParamSet: parameter '%.*s' %.*s\n",
               static_cast<int>(name.size()), name.data(), static_cast<int>(why.size()),
               why.data());
  std::abort();
}

template <typename T>
const T& GetAs(const ParamSet& set, std::string_view name) {
  const ParamValue& v = set.Get(name);
  const T* p = std::get_if<T>(&v);
  if (p == nullptr) DieParam(name, "read as the wrong type");
  return *p;
}

char Lower(char c) { return static_cast<char>(std::tolower(static_cast<unsigned char>(c))); }

// Optimal string alignment distance, case-insensitive: an adjacent
// transposition ("hdiden") counts as one typo, like an insertion or deletion.
size_t EditDistance(std::string_view a, std::string_view b) {
  const size_t n = a.size(), m = b.size();
  std::vector<size_t> d((n + 1) * (m + 1));
  auto at = [&](size_t i, size_t j) -> size_t& { return d[i * (m + 1) + j]; };
  for (size_t i = 0; i <= n; ++i) at(i, 0) = i;
  for (size_t j = 0; j <= m; ++j) at(0, j) = j;
  for (size_t i = 1; i <= n; ++i) {
    for (size_t j = 1; j <= m; ++j) {
      size_t cost = Lower(a[i - 1]) == Lower(b[j - 1]) ? 0 : 1;
      at(i, j) = std::min({at(i - 1, j) + 1, at(i, j - 1) + 1, at(i - 1, j - 1) + cost});
      if (i > 1 && j > 1 && Lower(a[i - 1]) == Lower(b[j - 2]) &&
          Lower(a[i - 2]) == Lower(b[j - 1])) {
        at(i, j) = std::min(at(i, j), at(i - 2, j - 2) + 1);
      }
    }
  }
  return at(n, m);
}

ParamSpec MakeSpec(std::string name, ParamType type, ParamValue def, std::string doc) {
  ParamSpec spec;
  spec.name = std::move(name);
  spec.type = type;
  spec.default_value = std::move(def);
  spec.doc = std::move(doc);
  return spec;
}

}  // namespace

std::string_view ParamTypeName(ParamType type) {
  switch (type) {
    case ParamType::kBool:
      return "boolean";
    case ParamType::kInt:
      return "integer";
    case ParamType::kDouble:
      return "number";
    case ParamType::kString:
      return "string";
    case ParamType::kIntList:
      return "list of integers";
    case ParamType::kDoubleList:
      return "list of numbers";
    case ParamType::kStringList:
      return "list of strings";
  }
  return "value";
}

std::string FormatParamValue(const ParamValue& value) {
  struct Visitor {
    std::string operator()(bool b) const { return b ? "true" : "false"; }
    std::string operator()(int64_t i) const { return std::to_string(i); }
    std::string operator()(double d) const { return FormatDouble(d); }
    std::string operator()(const std::string& s) const { return QuoteString(s); }
    std::string operator()(const std::vector<int64_t>& v) const {
      return FormatList(v, [](int64_t i) { return std::to_string(i); });
    }
    std::string operator()(const std::vector<double>& v) const {
      return FormatList(v, FormatDouble);
    }
    std::string operator()(const std::vector<std::string>& v) const {
      return FormatList(v, QuoteString);
    }
  };
  return std::visit(Visitor{}, value);
}

std::string ParamSpec::ConstraintText() const {
  std::string out(ParamTypeName(type));
  std::string bounds;
  if (min) bounds += std::string(min_exclusive ? "> " : ">= ") + FormatBound(*min);
  if (max) bounds += std::string(bounds.empty() ? "" : " and ") + "<= " + FormatBound(*max);
  if ((min && std::fabs(*min) == kFloatMax) || (max && std::fabs(*max) == kFloatMax)) {
    bounds += ", the range of a 32-bit float";
  }
  if (!bounds.empty()) {
    bool list = type == ParamType::kIntList || type == ParamType::kDoubleList;
    out += list ? ", each " + bounds : " " + bounds;
  }
  if (!choices.empty()) {
    out += (type == ParamType::kStringList ? ", each one of " : ", one of ");
    for (size_t i = 0; i < choices.size(); ++i) out += (i ? ", '" : "'") + choices[i] + "'";
  }
  return out;
}

ParamSpec Param::Bool(std::string name, bool def, std::string doc) {
  return MakeSpec(std::move(name), ParamType::kBool, def, std::move(doc));
}
ParamSpec Param::Int(std::string name, int64_t def, std::string doc) {
  return MakeSpec(std::move(name), ParamType::kInt, def, std::move(doc));
}
ParamSpec Param::Double(std::string name, double def, std::string doc) {
  return MakeSpec(std::move(name), ParamType::kDouble, def, std::move(doc));
}
ParamSpec Param::String(std::string name, std::string def, std::string doc) {
  return MakeSpec(std::move(name), ParamType::kString, std::move(def), std::move(doc));
}
ParamSpec Param::IntList(std::string name, std::vector<int64_t> def, std::string doc) {
  return MakeSpec(std::move(name), ParamType::kIntList, std::move(def), std::move(doc));
}
ParamSpec Param::DoubleList(std::string name, std::vector<double> def, std::string doc) {
  return MakeSpec(std::move(name), ParamType::kDoubleList, std::move(def), std::move(doc));
}
ParamSpec Param::StringList(std::string name, std::vector<std::string> def, std::string doc) {
  return MakeSpec(std::move(name), ParamType::kStringList, std::move(def), std::move(doc));
}

const ParamSpec* ComponentSpec::Find(std::string_view param) const {
  for (const ParamSpec& p : params) {
    if (p.name == param) return &p;
  }
  return nullptr;
}

std::vector<std::string> ComponentSpec::ParamNames() const {
  std::vector<std::string> out;
  out.reserve(params.size());
  for (const ParamSpec& p : params) out.push_back(p.name);
  return out;
}

bool ParamSet::Has(std::string_view name) const { return values_.find(name) != values_.end(); }

const ParamValue& ParamSet::Get(std::string_view name) const {
  auto it = values_.find(name);
  if (it == values_.end()) DieParam(name, "is not declared");
  return it->second;
}

bool ParamSet::Bool(std::string_view name) const { return GetAs<bool>(*this, name); }
int64_t ParamSet::Int(std::string_view name) const { return GetAs<int64_t>(*this, name); }
double ParamSet::Double(std::string_view name) const { return GetAs<double>(*this, name); }
const std::string& ParamSet::String(std::string_view name) const {
  return GetAs<std::string>(*this, name);
}
const std::vector<int64_t>& ParamSet::IntList(std::string_view name) const {
  return GetAs<std::vector<int64_t>>(*this, name);
}
const std::vector<double>& ParamSet::DoubleList(std::string_view name) const {
  return GetAs<std::vector<double>>(*this, name);
}
const std::vector<std::string>& ParamSet::StringList(std::string_view name) const {
  return GetAs<std::vector<std::string>>(*this, name);
}

StatusOr<ParamValue> CoerceParam(const ParamSpec& spec, const ParamValue& value) {
  // An empty list carries no element type, so it fits any list parameter.
  if (IsList(value) && ListSize(value) == 0) {
    switch (spec.type) {
      case ParamType::kIntList:
        return ParamValue(std::vector<int64_t>{});
      case ParamType::kDoubleList:
        return ParamValue(std::vector<double>{});
      case ParamType::kStringList:
        return ParamValue(std::vector<std::string>{});
      default:
        return InvalidArgumentError(TypeMismatch(spec, value));
    }
  }
  switch (spec.type) {
    case ParamType::kBool:
      if (!std::holds_alternative<bool>(value))
        return InvalidArgumentError(TypeMismatch(spec, value));
      return value;
    case ParamType::kInt: {
      const int64_t* i = std::get_if<int64_t>(&value);
      if (i == nullptr) return InvalidArgumentError(TypeMismatch(spec, value));
      CONFML_RETURN_IF_ERROR(CheckNumber(spec, static_cast<double>(*i), std::to_string(*i), false));
      return value;
    }
    case ParamType::kDouble: {
      double d;
      if (const int64_t* i = std::get_if<int64_t>(&value)) {
        if (std::fabs(static_cast<double>(*i)) > kMaxExactInt) {
          return InvalidArgumentError(spec.name + ": integer " + std::to_string(*i) +
                                      " is not exactly representable as a number");
        }
        d = static_cast<double>(*i);
      } else if (const double* p = std::get_if<double>(&value)) {
        d = *p;
      } else {
        return InvalidArgumentError(TypeMismatch(spec, value));
      }
      CONFML_RETURN_IF_ERROR(CheckNumber(spec, d, FormatParamValue(value), false));
      return ParamValue(d);
    }
    case ParamType::kString: {
      const std::string* s = std::get_if<std::string>(&value);
      if (s == nullptr) return InvalidArgumentError(TypeMismatch(spec, value));
      CONFML_RETURN_IF_ERROR(CheckChoice(spec, *s));
      return value;
    }
    case ParamType::kIntList: {
      const auto* v = std::get_if<std::vector<int64_t>>(&value);
      if (v == nullptr) return InvalidArgumentError(TypeMismatch(spec, value));
      for (int64_t i : *v) {
        CONFML_RETURN_IF_ERROR(CheckNumber(spec, static_cast<double>(i), std::to_string(i), true));
      }
      return value;
    }
    case ParamType::kDoubleList: {
      std::vector<double> out;
      if (const auto* iv = std::get_if<std::vector<int64_t>>(&value)) {
        for (int64_t i : *iv) {
          if (std::fabs(static_cast<double>(i)) > kMaxExactInt) {
            return InvalidArgumentError(spec.name + ": integer " + std::to_string(i) +
                                        " is not exactly representable as a number");
          }
          out.push_back(static_cast<double>(i));
        }
      } else if (const auto* dv = std::get_if<std::vector<double>>(&value)) {
        out = *dv;
      } else {
        return InvalidArgumentError(TypeMismatch(spec, value));
      }
      for (double d : out) CONFML_RETURN_IF_ERROR(CheckNumber(spec, d, FormatDouble(d), true));
      return ParamValue(std::move(out));
    }
    case ParamType::kStringList: {
      const auto* v = std::get_if<std::vector<std::string>>(&value);
      if (v == nullptr) return InvalidArgumentError(TypeMismatch(spec, value));
      for (const std::string& s : *v) CONFML_RETURN_IF_ERROR(CheckChoice(spec, s));
      return value;
    }
  }
  return InternalError(spec.name + ": unhandled parameter type");
}

StatusOr<ParamSet> ResolveParams(const ComponentSpec& spec,
                                 const std::map<std::string, ParamValue>& given) {
  const std::string where = spec.kind + " '" + spec.name + "'";
  for (const auto& [key, value] : given) {
    if (spec.Find(key) != nullptr) continue;
    std::string msg = where + ": unknown parameter '" + key + "'";
    std::string near = NearestName(key, spec.ParamNames());
    if (!near.empty()) msg += " (did you mean '" + near + "'?)";
    return InvalidArgumentError(msg);
  }
  ParamSet out;
  for (const ParamSpec& p : spec.params) {
    auto it = given.find(p.name);
    if (it == given.end()) {
      if (p.required) {
        return InvalidArgumentError(where + ": missing required parameter '" + p.name + "' (" +
                                    p.ConstraintText() + ")");
      }
      out.Set(p.name, p.default_value);
      continue;
    }
    StatusOr<ParamValue> v = CoerceParam(p, it->second);
    if (!v.ok()) return v.status().WithContext(where);
    out.Set(p.name, std::move(v).value());
  }
  return out;
}

std::string NearestName(std::string_view name, const std::vector<std::string>& candidates) {
  std::string best;
  size_t best_d = std::numeric_limits<size_t>::max();
  for (const std::string& c : candidates) {
    size_t d = EditDistance(name, c);
    if (d < best_d || (d == best_d && c < best)) {
      best = c;
      best_d = d;
    }
  }
  if (best.empty()) return best;
  // A typo changes a few characters; beyond a third of the longer name the
  // "suggestion" would be a different word.
  size_t longer = std::max(name.size(), best.size());
  size_t allowed = std::max<size_t>(1, longer / 3);
  if (longer <= 3) allowed = 1;
  bool prefix = best.size() >= 3 && name.size() >= 3 &&
                (best.rfind(std::string(name), 0) == 0 || std::string(name).rfind(best, 0) == 0);
  return (best_d <= allowed || prefix) ? best : std::string();
}

}  // namespace confml
