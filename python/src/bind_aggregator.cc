// Bindings of core/aggregator.h: confml.Aggregator (a base class Python code
// subclasses), confml.register_aggregator (puts a Python class into
// AggregatorRegistry() so configs can name it), create_aggregator and
// aggregate_fedavg (the built-in rules, callable on NumPy updates).
//
// The GIL: confml.run releases the GIL and the federated engine then builds
// and calls the aggregator from its own thread, so every entry into Python
// below (factory, every trampoline method, dropping the last reference)
// acquires it first. No Python exception crosses into the engine: each one
// becomes a Status naming the aggregator and the Python error.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <cstring>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "bindings.h"
#include "confml/core/aggregator.h"
#include "confml/experiments/parties.h"
#include "errors.h"
#include "py_util.h"

namespace py = pybind11;

namespace confml::python {
namespace {

// The trampoline: a Python subclass of confml.Aggregator is constructed as
// this class, whose virtuals forward to the Python methods.
class PyAggregator : public Aggregator {
 public:
  // Set by the registry factory: the registered name and "name k=v ..." text.
  void SetRegistration(std::string name, std::string config_text) {
    registered_name_ = std::move(name);
    registered_text_ = std::move(config_text);
  }

  std::string name() const override {
    py::gil_scoped_acquire gil;
    if (py::function f = py::get_override(static_cast<const Aggregator*>(this), "name")) {
      try {
        return py::cast<std::string>(f());
      } catch (const std::exception&) {
        // name() is used in messages only; fall back to the registered name.
      }
    }
    return registered_name_.empty() ? std::string("python") : registered_name_;
  }

  std::string config_text() const override {
    py::gil_scoped_acquire gil;
    if (py::function f = py::get_override(static_cast<const Aggregator*>(this), "config_text")) {
      try {
        return py::cast<std::string>(f());
      } catch (const std::exception&) {
        // Unusable answer: keep the default.
      }
    }
    return registered_text_.empty() ? name() : registered_text_;
  }

  bool wants_server_update() const override {
    py::gil_scoped_acquire gil;
    if (py::function f =
            py::get_override(static_cast<const Aggregator*>(this), "wants_server_update")) {
      try {
        return py::cast<bool>(f());
      } catch (const std::exception&) {
        // Unusable answer: keep the default.
      }
    }
    return false;
  }

  Status Aggregate(const std::vector<ClientUpdate>& updates, const AggregationContext& context,
                   std::vector<float>* out) override {
    py::gil_scoped_acquire gil;
    const std::string who =
        "python aggregator '" + RegisteredOr() + "', round " + std::to_string(context.round);
    try {
      py::function f = py::get_override(static_cast<const Aggregator*>(this), "aggregate");
      if (!f) return UnimplementedError(who + ": the class does not define aggregate(updates)");
      size_t dim = 0;
      CONFML_RETURN_IF_ERROR(ValidateUpdates(updates, &dim));
      py::list arg;
      for (const ClientUpdate& u : updates) {
        arg.append(py::make_tuple(u.client_id, u.num_samples, ToNumpy(u.values)));
      }
      if (arity_ < 0) {
        // aggregate(updates) or aggregate(updates, context): decided once.
        py::object sig = py::module_::import("inspect").attr("signature")(f);
        arity_ = static_cast<int>(py::len(sig.attr("parameters")));
      }
      py::object result = arity_ >= 2 ? f(arg, ContextDict(context)) : f(arg);
      auto arr = py::array_t<float, py::array::c_style | py::array::forcecast>::ensure(result);
      if (!arr) {
        PyErr_Clear();
        return InvalidArgumentError(who + ": aggregate() returned " +
                                    std::string(py::str(py::type::of(result).attr("__name__"))) +
                                    ", expected a 1-D array of floats");
      }
      if (arr.ndim() != 1 || static_cast<size_t>(arr.size()) != dim) {
        return InvalidArgumentError(who + ": aggregate() returned an array of shape " +
                                    std::string(py::str(py::tuple(arr.attr("shape")))) +
                                    ", expected (" + std::to_string(dim) + ",)");
      }
      out->assign(arr.data(), arr.data() + dim);
      return OkStatus();
    } catch (py::error_already_set& e) {
      return PythonErrorStatus(who, e);
    } catch (const std::exception& e) {
      return InvalidArgumentError(who + ": " + e.what());
    }
  }

  std::vector<uint8_t> SaveState() const override {
    py::gil_scoped_acquire gil;
    if (py::function f = py::get_override(static_cast<const Aggregator*>(this), "save_state")) {
      try {
        std::string s = py::cast<std::string>(py::bytes(f()));
        return std::vector<uint8_t>(s.begin(), s.end());
      } catch (const std::exception&) {
        // SaveState cannot fail by contract; an unsaveable state is saved empty
        // and LoadState of a stateful class then sees b"".
      }
    }
    return {};
  }

  Status LoadState(const std::vector<uint8_t>& state) override {
    py::gil_scoped_acquire gil;
    if (py::function f = py::get_override(static_cast<const Aggregator*>(this), "load_state")) {
      try {
        f(py::bytes(reinterpret_cast<const char*>(state.data()), state.size()));
        return OkStatus();
      } catch (py::error_already_set& e) {
        return PythonErrorStatus("python aggregator '" + RegisteredOr() + "' load_state", e);
      }
    }
    return Aggregator::LoadState(state);
  }

 private:
  std::string RegisteredOr() const {
    return registered_name_.empty() ? std::string("python") : registered_name_;
  }

  static py::dict ContextDict(const AggregationContext& c) {
    py::dict d;
    d["round"] = c.round;
    d["seed"] = c.seed.value();
    d["global"] = c.global ? py::object(ToNumpy(*c.global)) : py::none();
    d["server_update"] = c.server_update ? py::object(ToNumpy(*c.server_update)) : py::none();
    return d;
  }

  std::string registered_name_;
  std::string registered_text_;
  int arity_ = -1;
};

PythonClassRegistry& Classes() {
  static auto* c = new PythonClassRegistry;
  return *c;
}

StatusOr<AggregatorPtr> InstantiatePython(const std::string& name, const ParamSet& params) {
  py::gil_scoped_acquire gil;
  py::object cls;
  {
    std::lock_guard<std::mutex> lock(Classes().mu);
    auto it = Classes().by_name.find(name);
    if (it == Classes().by_name.end())
      return InternalError("python aggregator '" + name + "' lost");
    cls = it->second;
  }
  std::string text = name;
  py::dict kwargs;
  for (const auto& [k, v] : params.values()) {
    kwargs[py::str(k)] = ParamToPython(v);
    text += " " + k + "=" + FormatParamValue(v);
  }
  try {
    py::object obj = cls(**kwargs);
    Aggregator* raw = py::cast<Aggregator*>(obj);
    auto* tramp = dynamic_cast<PyAggregator*>(raw);
    if (tramp == nullptr) {
      return InvalidArgumentError("python aggregator '" + name +
                                  "': the class must subclass confml.Aggregator");
    }
    tramp->SetRegistration(name, text);
    return AggregatorPtr(raw, ReleaseWithGil<Aggregator>{new py::object(std::move(obj))});
  } catch (py::error_already_set& e) {
    return PythonErrorStatus("python aggregator '" + name + "' constructor", e);
  } catch (py::cast_error& e) {
    return InvalidArgumentError("python aggregator '" + name + "': " + e.what() +
                                " (did __init__ call super().__init__()?)");
  }
}

void RegisterPythonAggregator(const std::string& name, py::object cls, py::object params,
                              py::object doc) {
  ThrowIfError(experiments::RegisterAllComponents());
  Classes().Register("aggregator", "Aggregator", name, std::move(cls), std::move(params),
                     std::move(doc), [name](const ComponentSpec& spec) {
                       return AggregatorRegistry().Add(spec, [name](const ParamSet& p) {
                         return InstantiatePython(name, p);
                       });
                     });
}

std::vector<ClientUpdate> UpdatesFromPython(const py::iterable& updates) {
  std::vector<ClientUpdate> out;
  for (py::handle item : updates) {
    auto t = py::cast<py::sequence>(item);
    if (py::len(t) != 3) {
      ThrowStatus(InvalidArgumentError("each update must be (client_id, num_samples, values)"));
    }
    ClientUpdate u;
    u.client_id = py::cast<int64_t>(t[0]);
    u.num_samples = py::cast<int64_t>(t[1]);
    auto arr = py::array_t<float, py::array::c_style | py::array::forcecast>::ensure(t[2]);
    if (!arr || arr.ndim() != 1) {
      PyErr_Clear();
      ThrowStatus(InvalidArgumentError("update of client " + std::to_string(u.client_id) +
                                       ": values must be a 1-D float array"));
    }
    u.values.assign(arr.data(), arr.data() + arr.size());
    out.push_back(std::move(u));
  }
  return out;
}

// The registry with every built-in rule in it: confml.defenses lists it before
// any config has been run.
Registry<AggregatorFactory>& FilledRegistry() {
  ThrowIfError(experiments::RegisterAllComponents());
  return AggregatorRegistry();
}

const ComponentSpec& SpecOf(const std::string& name) {
  return Unwrap(FilledRegistry().Lookup(name))->spec;
}

// One aggregation with everything the engine would pass (the global model,
// the server's update for FLTrust, the round's seed), returning the delta and
// what the rule selected and rejected.
py::tuple AggregateWithContext(Aggregator& self, const py::iterable& updates, int64_t round,
                               uint64_t seed, const py::object& global_state,
                               const py::object& server_update) {
  std::vector<ClientUpdate> u = UpdatesFromPython(updates);
  auto to_vector = [](const py::object& o, const char* what) {
    std::vector<float> v;
    if (o.is_none()) return v;
    auto arr = py::array_t<float, py::array::c_style | py::array::forcecast>::ensure(o);
    if (!arr || arr.ndim() != 1) {
      PyErr_Clear();
      ThrowStatus(InvalidArgumentError(std::string(what) + " must be a 1-D float array"));
    }
    v.assign(arr.data(), arr.data() + arr.size());
    return v;
  };
  const std::vector<float> global = to_vector(global_state, "global_model");
  const std::vector<float> server = to_vector(server_update, "server_update");
  AggregationReport report;
  AggregationContext ctx;
  ctx.round = round;
  ctx.seed = Seed(seed);
  ctx.global = global_state.is_none() ? nullptr : &global;
  ctx.server_update = server_update.is_none() ? nullptr : &server;
  ctx.report = &report;
  std::vector<float> out;
  Status status;
  {
    // Robust rules on large updates take a while; they touch no Python state
    // unless the aggregator is itself a Python class, whose trampoline
    // re-acquires the GIL.
    py::gil_scoped_release release;
    status = self.Aggregate(u, ctx, &out);
  }
  ThrowIfError(status);
  py::dict r;
  r["selected_clients"] = report.selected_clients;
  py::list rejected;
  for (const auto& [client, reason] : report.rejected)
    rejected.append(py::make_tuple(client, reason));
  r["rejected"] = rejected;
  return py::make_tuple(ToNumpy(out), r);
}

}  // namespace

void BindAggregators(py::module_& m) {
  py::class_<Aggregator, PyAggregator, std::shared_ptr<Aggregator>>(
      m, "Aggregator",
      "Base of aggregation rules. Subclass it in Python (call super().__init__() in __init__),\n"
      "define aggregate(self, updates) -> 1-D float array (updates: list of (client_id,\n"
      "num_samples, float32 array); optionally aggregate(self, updates, context) with context\n"
      "{round, seed, global, server_update}), then confml.register_aggregator(name, cls).")
      .def(py::init<>())
      .def("name", &Aggregator::name)
      .def("config_text", &Aggregator::config_text)
      .def("wants_server_update", &Aggregator::wants_server_update)
      .def(
          "aggregate",
          [](Aggregator& self, const py::iterable& updates, int64_t round) {
            std::vector<ClientUpdate> u = UpdatesFromPython(updates);
            std::vector<float> out;
            AggregationContext ctx;
            ctx.round = round;
            ThrowIfError(self.Aggregate(u, ctx, &out));
            return ToNumpy(out);
          },
          py::arg("updates"), py::arg("round") = 1,
          "Aggregates (client_id, num_samples, values) updates into one delta.")
      .def("_aggregate_with_context", &AggregateWithContext, py::arg("updates"), py::arg("round"),
           py::arg("seed"), py::arg("global_state"), py::arg("server_update"),
           "(delta, {selected_clients, rejected}); confml.defenses objects call it.");

  m.def(
      "register_aggregator", &RegisterPythonAggregator, py::arg("name"), py::arg("cls"),
      py::arg("params") = py::none(), py::arg("doc") = py::none(),
      "Registers a confml.Aggregator subclass under `name` for configs (aggregator: {name: ...}).\n"
      "params maps each parameter to its default (its type is the parameter's type) or to\n"
      "(default, doc); the config's values are passed to cls(**params).");
  m.def(
      "create_aggregator",
      [](const std::string& name, const py::kwargs& kwargs) {
        FilledRegistry();
        std::map<std::string, ParamValue> given;
        for (auto [k, v] : kwargs) {
          given[py::cast<std::string>(k)] = py::cast<ParamValue>(v);
        }
        return Unwrap(CreateAggregator(name, given));
      },
      py::arg("name"),
      "Builds a registered aggregator (built-in or Python) with keyword parameters.");
  m.def(
      "aggregate_fedavg",
      [](const py::iterable& updates, bool weighted) {
        std::vector<ClientUpdate> u = UpdatesFromPython(updates);
        std::vector<float> out;
        ThrowIfError(AggregateFedAvg(u, weighted, &out));
        return ToNumpy(out);
      },
      py::arg("updates"), py::arg("weighted") = true,
      "FedAvg (McMahan et al. 2017) of (client_id, num_samples, values) updates.");
  m.def(
      "aggregator_names", [] { return FilledRegistry().Names(); },
      "Names of every registered aggregator.");
  m.def(
      "_aggregator_specs",
      [] {
        py::list out;
        for (const ComponentSpec* s : FilledRegistry().Specs()) out.append(SpecToPython(*s));
        return out;
      },
      "The declaration of every registered aggregator (confml.defenses builds its classes "
      "from them).");
  m.def(
      "_resolve_aggregator_params",
      [](const std::string& name, const py::dict& kwargs) {
        return ResolveToPython(SpecOf(name), kwargs);
      },
      py::arg("name"), py::arg("kwargs"),
      "The aggregator's parameters resolved as a config section's are (defaults filled).");
}

}  // namespace confml::python
