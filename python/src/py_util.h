// py_util.h: helpers the binding files share (call with the GIL held).
#pragma once

#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "confml/core/params.h"
#include "confml/core/status.h"

namespace confml::python {

// A copy of `v` as a 1-D float32 NumPy array.
pybind11::array_t<float> ToNumpy(const std::vector<float>& v);
// A parameter value as the Python object of its type.
pybind11::object ParamToPython(const ParamValue& v);
// A Python exception raised inside a Python-defined component, as a Status:
// ValueError/TypeError are InvalidArgument, NotImplementedError Unimplemented.
Status PythonErrorStatus(const std::string& who, pybind11::error_already_set& e);
// One parameter declaration from a Python value: a default (its type gives
// the parameter's type) or a (default, doc) pair. Throws the mapped
// InvalidArgument exception for anything else.
ParamSpec ParamFromPython(const std::string& name, pybind11::handle value);
// Python classes registered by name (one registry per kind of component).
// Instances are leaked on purpose: the objects must not be released after
// the interpreter has shut down.
struct PythonClassRegistry {
  std::mutex mu;
  std::map<std::string, pybind11::object> by_name;
  std::map<std::string, ComponentSpec> specs;

  // Binds `name` to `cls`, a subclass of confml.<base_class> registered as a
  // component of `kind` ("aggregator", "attack"): its declaration comes from
  // `params` (name -> default or (default, doc)) and `doc` or the class
  // docstring. The first time, `add` puts the declaration in the C++ registry.
  // The registry cannot forget a spec, so a name may be rebound (a notebook
  // cell run twice) only with the same parameters. Callers register the
  // built-ins first, so a Python class cannot take a built-in's name.
  void Register(const std::string& kind, const char* base_class, const std::string& name,
                pybind11::object cls, pybind11::object params, pybind11::object doc,
                const std::function<Status(const ComponentSpec&)>& add);
};

// A shared_ptr deleter that drops the Python object keeping a trampoline
// alive with the GIL held, whichever thread releases the last reference.
template <typename T>
struct ReleaseWithGil {
  pybind11::object* keep;
  void operator()(T*) const {
    pybind11::gil_scoped_acquire gil;
    delete keep;
  }
};

// Whether two declarations have the same parameters (names, types, defaults).
bool SameSpec(const ComponentSpec& a, const ComponentSpec& b);

// A declaration as a dict: kind, name, doc and params, a list of dicts with
// name, type, default (None when required), required, constraint, doc, min,
// max, min_exclusive and choices. Drives the generated Python classes.
pybind11::dict SpecToPython(const ComponentSpec& spec);
// Keyword arguments as parameter values. A value of no parameter type (a
// dict, None, a mixed list) is the mapped InvalidArgument naming `where` and
// the parameter; range and type checks are ResolveParams' job.
std::map<std::string, ParamValue> KwargsToParams(const std::string& where,
                                                 const pybind11::dict& kwargs);
// Resolves `kwargs` against `spec` exactly as a config section is (unknown
// names, types, ranges, defaults) and returns every value as a dict, or
// throws the mapped exception naming the parameter.
pybind11::dict ResolveToPython(const ComponentSpec& spec, const pybind11::dict& kwargs);

}  // namespace confml::python
