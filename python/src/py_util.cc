#include "py_util.h"

#include <pybind11/stl.h>

#include <map>
#include <string>
#include <variant>

#include "errors.h"

namespace py = pybind11;

namespace confml::python {

py::array_t<float> ToNumpy(const std::vector<float>& v) {
  return py::array_t<float>(static_cast<py::ssize_t>(v.size()), v.data());
}

py::object ParamToPython(const ParamValue& v) {
  return std::visit([](const auto& x) -> py::object { return py::cast(x); }, v);
}

Status PythonErrorStatus(const std::string& who, py::error_already_set& e) {
  std::string msg = who + ": " + e.what();
  if (e.matches(PyExc_ValueError) || e.matches(PyExc_TypeError)) return InvalidArgumentError(msg);
  if (e.matches(PyExc_NotImplementedError)) return UnimplementedError(msg);
  return Status(StatusCode::kUnknown, msg);
}

ParamSpec ParamFromPython(const std::string& name, py::handle value) {
  std::string doc;
  py::handle def = value;
  if (py::isinstance<py::tuple>(value) && py::len(value) == 2 &&
      py::isinstance<py::str>(py::reinterpret_borrow<py::tuple>(value)[1])) {
    auto t = py::reinterpret_borrow<py::tuple>(value);
    def = t[0];
    doc = py::cast<std::string>(t[1]);
  }
  if (py::isinstance<py::bool_>(def)) return Param::Bool(name, py::cast<bool>(def), doc);
  if (py::isinstance<py::int_>(def)) return Param::Int(name, py::cast<int64_t>(def), doc);
  if (py::isinstance<py::float_>(def)) return Param::Double(name, py::cast<double>(def), doc);
  if (py::isinstance<py::str>(def)) return Param::String(name, py::cast<std::string>(def), doc);
  if (py::isinstance<py::list>(def) || py::isinstance<py::tuple>(def)) {
    auto seq = py::reinterpret_borrow<py::sequence>(def);
    bool all_int = true, all_num = true, all_str = true;
    for (py::handle x : seq) {
      const bool is_bool = py::isinstance<py::bool_>(x);
      all_int = all_int && py::isinstance<py::int_>(x) && !is_bool;
      all_num =
          all_num && (py::isinstance<py::int_>(x) || py::isinstance<py::float_>(x)) && !is_bool;
      all_str = all_str && py::isinstance<py::str>(x);
    }
    if (py::len(seq) > 0 && all_int)
      return Param::IntList(name, py::cast<std::vector<int64_t>>(seq), doc);
    if (py::len(seq) > 0 && all_num)
      return Param::DoubleList(name, py::cast<std::vector<double>>(seq), doc);
    if (py::len(seq) > 0 && all_str)
      return Param::StringList(name, py::cast<std::vector<std::string>>(seq), doc);
  }
  ThrowStatus(
      InvalidArgumentError("parameter '" + name +
                           "': the default must be a bool, int, float, str or a non-empty list "
                           "of one of these (optionally as (default, doc)), got " +
                           std::string(py::str(py::type::of(def).attr("__name__")))));
}

py::dict SpecToPython(const ComponentSpec& spec) {
  py::dict d;
  d["kind"] = spec.kind;
  d["name"] = spec.name;
  d["doc"] = spec.doc;
  py::list params;
  for (const ParamSpec& p : spec.params) {
    py::dict pd;
    pd["name"] = p.name;
    pd["type"] = std::string(ParamTypeName(p.type));
    pd["default"] = p.required ? py::none() : ParamToPython(p.default_value);
    pd["required"] = p.required;
    pd["constraint"] = p.ConstraintText();
    pd["doc"] = p.doc;
    pd["min"] = p.min ? py::object(py::float_(*p.min)) : py::none();
    pd["max"] = p.max ? py::object(py::float_(*p.max)) : py::none();
    pd["min_exclusive"] = p.min_exclusive;
    pd["choices"] = p.choices;
    params.append(pd);
  }
  d["params"] = params;
  return d;
}

std::map<std::string, ParamValue> KwargsToParams(const std::string& where, const py::dict& kwargs) {
  std::map<std::string, ParamValue> given;
  for (auto [k, v] : kwargs) {
    const std::string key = py::cast<std::string>(k);
    try {
      // NumPy scalars and arrays read as the Python values they hold.
      py::object value = py::reinterpret_borrow<py::object>(v);
      if (py::hasattr(value, "tolist") && !py::isinstance<py::str>(value)) {
        value = value.attr("tolist")();
      }
      if (py::isinstance<py::tuple>(value)) value = py::list(value);
      given[key] = py::cast<ParamValue>(value);
    } catch (const py::cast_error&) {
      ThrowStatus(
          InvalidArgumentError(where + ": parameter '" + key +
                               "': " + std::string(py::str(py::type::of(v).attr("__name__"))) +
                               " is not a bool, int, float, str or a list of one of these"));
    }
  }
  return given;
}

py::dict ResolveToPython(const ComponentSpec& spec, const py::dict& kwargs) {
  const std::string where = spec.kind + " '" + spec.name + "'";
  StatusOr<ParamSet> resolved = ResolveParams(spec, KwargsToParams(where, kwargs));
  if (!resolved.ok()) ThrowStatus(resolved.status());
  py::dict out;
  // Declaration order, so a repr and to_config() read like the docs.
  for (const ParamSpec& p : spec.params)
    out[py::str(p.name)] = ParamToPython(resolved->Get(p.name));
  return out;
}

bool SameSpec(const ComponentSpec& a, const ComponentSpec& b) {
  if (a.params.size() != b.params.size()) return false;
  for (size_t i = 0; i < a.params.size(); ++i) {
    if (a.params[i].name != b.params[i].name || a.params[i].type != b.params[i].type ||
        a.params[i].default_value != b.params[i].default_value) {
      return false;
    }
  }
  return true;
}

void PythonClassRegistry::Register(const std::string& kind, const char* base_class,
                                   const std::string& name, py::object cls, py::object params,
                                   py::object doc,
                                   const std::function<Status(const ComponentSpec&)>& add) {
  const std::string call = "register_" + kind;
  py::object base = py::module_::import("confml._confml").attr(base_class);
  if (!PyType_Check(cls.ptr()) || PyObject_IsSubclass(cls.ptr(), base.ptr()) != 1) {
    PyErr_Clear();
    ThrowStatus(InvalidArgumentError(call + "('" + name + "'): cls must be a subclass of confml." +
                                     base_class));
  }
  if (name.empty()) ThrowStatus(InvalidArgumentError(call + ": empty name"));
  ComponentSpec spec{kind, name, "", {}};
  if (!doc.is_none()) {
    spec.doc = py::cast<std::string>(doc);
  } else if (py::hasattr(cls, "__doc__") && !cls.attr("__doc__").is_none()) {
    spec.doc =
        py::cast<std::string>(py::module_::import("inspect").attr("cleandoc")(cls.attr("__doc__")));
  }
  if (spec.doc.empty()) {
    spec.doc = "Python " + kind + " " + std::string(py::str(cls.attr("__qualname__"))) + ".";
  }
  if (!params.is_none()) {
    for (auto [k, v] : py::cast<py::dict>(params)) {
      spec.params.push_back(ParamFromPython(py::cast<std::string>(k), v));
    }
  }
  std::lock_guard<std::mutex> lock(mu);
  auto known = specs.find(name);
  if (known != specs.end()) {
    if (!SameSpec(known->second, spec)) {
      ThrowStatus(AlreadyExistsError(kind + " '" + name +
                                     "' is already registered with other parameters"));
    }
  } else {
    ThrowIfError(add(spec));
    specs.emplace(name, spec);
  }
  by_name[name] = cls;
}

}  // namespace confml::python
