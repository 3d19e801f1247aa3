// Bindings of core/attack.h: confml.Attack (a base class Python code
// subclasses) and confml.register_attack (puts a Python class into
// AttackRegistry() so a config's `attack: {name: ...}` builds it).
//
// A Python attack is an ordinary Attack: its config text joins the Program of
// its role, so attestation treats it exactly like a C++ attack (an attested
// device refuses a runtime whose Program carries it, and the attack then sees
// nothing). The hooks it may define are the ones its role is granted
// (core/fl_hooks.h); the C++ side hands it copies of the bytes it would see.
//
// The GIL: confml.run releases the GIL and the federated engine calls the
// hooks from its own thread, so every entry into Python below acquires it.
// A hook cannot fail in C++ (the hooks return void), so the first Python
// exception raised in a hook is kept and returned by Report(), which fails
// the run with a Status naming the attack, the hook and the Python error.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "bindings.h"
#include "confml/attacks/attacks.h"
#include "confml/attacks/inversion.h"
#include "confml/core/attack.h"
#include "errors.h"
#include "py_util.h"

namespace py = pybind11;

namespace confml::python {
namespace {

StatusOr<AttackRole> RoleFromText(const std::string& s) {
  if (s == "runtime") return AttackRole::kRuntime;
  if (s == "device") return AttackRole::kDevice;
  if (s == "host") return AttackRole::kHost;
  return InvalidArgumentError("role() returned '" + s +
                              "', expected 'runtime', 'device' or 'host'");
}

// The trampoline: a Python subclass of confml.Attack is constructed as this
// class; its hooks forward to the Python methods the subclass defines.
class PyAttack : public Attack {
 public:
  // Set by the registry factory after the Python constructor ran.
  void Configure(std::string name, std::string config_text, AttackRole role,
                 std::set<int64_t> malicious) {
    registered_name_ = std::move(name);
    registered_text_ = std::move(config_text);
    role_ = role;
    malicious_ = std::move(malicious);
  }

  std::string name() const override {
    return registered_name_.empty() ? std::string("python") : registered_name_;
  }
  AttackRole role() const override { return role_; }
  std::string config_text() const override {
    return registered_text_.empty() ? name() : registered_text_;
  }

  void OnGlobalModel(const ClientContext& client, const std::vector<float>& global) override {
    if (!ActsFor(client.client_id)) return;
    py::gil_scoped_acquire gil;
    py::function f = Override("on_global_model");
    if (!f) return;
    Call("on_global_model", [&] { f(client.client_id, client.round, ToNumpy(global)); });
  }

  void OnClientUpdate(const ClientContext& client, const std::vector<float>& global,
                      ClientUpdate* update) override {
    if (!ActsFor(client.client_id)) return;
    py::gil_scoped_acquire gil;
    py::function f = Override("on_client_update");
    if (!f) return;
    // A copy the method may modify in place (or replace by returning an
    // array), so Python never holds a pointer into the engine's buffers.
    Call("on_client_update", [&] {
      py::array_t<float> values = ToNumpy(update->values);
      py::object result = f(client.client_id, client.round, ToNumpy(global), values);
      using FloatArray = py::array_t<float, py::array::c_style | py::array::forcecast>;
      FloatArray out = FloatArray::ensure(values);
      if (!result.is_none()) {
        out = FloatArray::ensure(result);
        if (!out) {
          PyErr_Clear();
          throw py::value_error("on_client_update returned " +
                                std::string(py::str(py::type::of(result).attr("__name__"))) +
                                ", expected None or a 1-D float array");
        }
      }
      if (out.ndim() != 1 || static_cast<size_t>(out.size()) != update->values.size()) {
        throw py::value_error("on_client_update: the update must keep its shape (" +
                              std::to_string(update->values.size()) + ",)");
      }
      update->values.assign(out.data(), out.data() + out.size());
    });
  }

  void OnUpdatesReceived(int64_t round, const std::vector<float>& global,
                         const std::vector<ClientUpdate>& updates) override {
    py::gil_scoped_acquire gil;
    py::function f = Override("on_updates_received");
    if (!f) return;
    Call("on_updates_received", [&] {
      py::list arg;
      for (const ClientUpdate& u : updates) {
        arg.append(py::make_tuple(u.client_id, u.num_samples, ToNumpy(u.values)));
      }
      f(round, ToNumpy(global), arg);
    });
  }

  void OnRoundEnd(const RoundMetrics& m, const std::vector<float>& global) override {
    py::gil_scoped_acquire gil;
    py::function f = Override("on_round_end");
    if (!f) return;
    Call("on_round_end", [&] {
      py::dict d;
      d["round"] = m.round;
      d["test_accuracy"] = m.test_accuracy;
      d["test_loss"] = m.test_loss;
      d["mean_train_loss"] = m.mean_train_loss;
      d["clients_sampled"] = m.clients_sampled;
      d["clients_admitted"] = m.clients_admitted;
      d["clients_refused"] = m.clients_refused;
      d["updates_rejected"] = m.updates_rejected;
      d["clients_dropped"] = m.clients_dropped;
      f(d, ToNumpy(global));
    });
  }

  StatusOr<AttackReport> ComputeReport() override {
    py::gil_scoped_acquire gil;
    const std::string who = "python attack '" + name() + "'";
    if (!hook_error_.ok()) return hook_error_;
    py::function f = Override("report");
    if (!f) return UnimplementedError(who + ": the class does not define report()");
    try {
      py::object result = f();
      if (!py::isinstance<py::dict>(result)) {
        return InvalidArgumentError(who + ": report() returned " +
                                    std::string(py::str(py::type::of(result).attr("__name__"))) +
                                    ", expected a dict");
      }
      py::dict d = py::reinterpret_borrow<py::dict>(result);
      AttackReport r;
      r.attack = name();
      if (d.contains("metrics")) {
        for (auto [k, v] : py::cast<py::dict>(d["metrics"])) {
          r.metrics[py::cast<std::string>(k)] = py::cast<double>(v);
        }
      }
      if (!d.contains("success_metric")) {
        return InvalidArgumentError(who + ": report() has no 'success_metric'");
      }
      r.success_metric = py::cast<std::string>(d["success_metric"]);
      if (!r.metrics.count(r.success_metric)) {
        return InvalidArgumentError(who + ": success_metric '" + r.success_metric +
                                    "' is not a key of report()['metrics']");
      }
      r.blind_guess = d.contains("blind_guess") ? py::cast<double>(d["blind_guess"]) : std::nan("");
      r.received_input = d.contains("received_input") && py::cast<bool>(d["received_input"]);
      if (d.contains("higher_is_better"))
        r.higher_is_better = py::cast<bool>(d["higher_is_better"]);
      if (d.contains("note")) r.note = py::cast<std::string>(d["note"]);
      if (d.contains("arrays")) {
        for (auto [k, v] : py::cast<py::dict>(d["arrays"])) {
          auto arr = py::array_t<float, py::array::c_style | py::array::forcecast>::ensure(v);
          const std::string key = py::cast<std::string>(k);
          if (!arr || arr.ndim() == 0) {
            PyErr_Clear();
            return InvalidArgumentError(who + ": report()['arrays']['" + key +
                                        "'] is not a float array of at least one dimension");
          }
          AttackArray a;
          a.name = key;
          for (py::ssize_t i = 0; i < arr.ndim(); ++i) a.shape.push_back(arr.shape(i));
          a.values.assign(arr.data(), arr.data() + arr.size());
          r.arrays.push_back(std::move(a));
        }
      }
      return r;
    } catch (py::error_already_set& e) {
      return PythonErrorStatus(who + " report()", e);
    } catch (const std::exception& e) {
      return InvalidArgumentError(who + ": report(): " + e.what());
    }
  }

 private:
  // Device attacks act only for the devices whose Program holds them.
  bool ActsFor(int64_t client_id) const {
    return role_ != AttackRole::kDevice || malicious_.count(client_id) > 0;
  }

  // Call with the GIL held.
  py::function Override(const char* method) const {
    return py::get_override(static_cast<const Attack*>(this), method);
  }

  // Runs one Python call, keeping its first error for Report(); once a hook
  // failed no further hooks run, so the failure is not buried under others.
  template <typename F>
  void Call(const char* hook, F&& body) {
    if (!hook_error_.ok()) return;
    try {
      body();
    } catch (py::error_already_set& e) {
      hook_error_ = PythonErrorStatus("python attack '" + name() + "' " + hook, e);
    } catch (const std::exception& e) {
      hook_error_ =
          InvalidArgumentError("python attack '" + name() + "' " + hook + ": " + e.what());
    }
  }

  std::string registered_name_;
  std::string registered_text_;
  AttackRole role_ = AttackRole::kRuntime;
  std::set<int64_t> malicious_;
  Status hook_error_;
};

PythonClassRegistry& Classes() {
  static auto* c = new PythonClassRegistry;
  return *c;
}

py::dict EnvDict(const AttackEnv& env) {
  py::dict d;
  d["model"] = env.model;
  py::dict mp;
  for (const auto& [k, v] : env.model_params) mp[py::str(k)] = ParamToPython(v);
  d["model_params"] = mp;
  d["malicious_clients"] =
      std::vector<int64_t>(env.malicious_clients.begin(), env.malicious_clients.end());
  d["num_clients"] = env.partition ? static_cast<int64_t>(env.partition->size()) : int64_t{0};
  d["local_epochs"] = env.local_epochs;
  d["local_batch_size"] = env.local_batch_size;
  d["optimizer"] = env.optimizer;
  d["learning_rate"] = env.learning_rate;
  d["rounds"] = env.rounds;
  d["clients_per_round"] = env.clients_per_round;
  d["server_lr"] = env.server_lr;
  d["seed"] = env.seed.value();
  return d;
}

StatusOr<AttackPtr> InstantiatePython(const std::string& name, const ParamSet& params,
                                      const AttackEnv& env) {
  py::gil_scoped_acquire gil;
  py::object cls;
  {
    std::lock_guard<std::mutex> lock(Classes().mu);
    auto it = Classes().by_name.find(name);
    if (it == Classes().by_name.end()) return InternalError("python attack '" + name + "' lost");
    cls = it->second;
  }
  std::string text = name;
  py::dict kwargs;
  for (const auto& [k, v] : params.values()) {
    kwargs[py::str(k)] = ParamToPython(v);
    text += " " + k + "=" + FormatParamValue(v);
  }
  const std::string who = "python attack '" + name + "'";
  try {
    py::object obj = cls(**kwargs);
    Attack* raw = py::cast<Attack*>(obj);
    auto* tramp = dynamic_cast<PyAttack*>(raw);
    if (tramp == nullptr)
      return InvalidArgumentError(who + ": the class must subclass confml.Attack");
    // What the attack may know when it starts (AttackEnv, without the data).
    obj.attr("env") = EnvDict(env);
    AttackRole role = AttackRole::kRuntime;
    if (py::function f = py::get_override(static_cast<const Attack*>(raw), "role")) {
      StatusOr<AttackRole> r = RoleFromText(py::cast<std::string>(f()));
      if (!r.ok()) return r.status().WithContext(who);
      role = *r;
    }
    tramp->Configure(name, text, role, env.malicious_clients);
    return AttackPtr(raw, ReleaseWithGil<Attack>{new py::object(std::move(obj))});
  } catch (py::error_already_set& e) {
    return PythonErrorStatus(who + " constructor", e);
  } catch (py::cast_error& e) {
    return InvalidArgumentError(who + ": " + e.what() + " (did __init__ call super().__init__()?)");
  }
}

void RegisterPythonAttack(const std::string& name, py::object cls, py::object params,
                          py::object doc) {
  ThrowIfError(attacks::RegisterBuiltinAttacks());
  Classes().Register("attack", "Attack", name, std::move(cls), std::move(params), std::move(doc),
                     [name](const ComponentSpec& spec) {
                       return AttackRegistry().Add(
                           spec, [name](const ParamSet& p, const AttackEnv& env) {
                             return InstantiatePython(name, p, env);
                           });
                     });
}

const ComponentSpec& AttackSpecOf(const std::string& name) {
  ThrowIfError(attacks::RegisterBuiltinAttacks());
  return Unwrap(AttackRegistry().Lookup(name))->spec;
}

template <typename T>
std::vector<T> VectorFromPython(const py::object& o, const char* what) {
  auto arr = py::array_t<T, py::array::c_style | py::array::forcecast>::ensure(o);
  if (!arr || arr.ndim() != 1) {
    PyErr_Clear();
    ThrowStatus(InvalidArgumentError(std::string(what) + " must be a 1-D array"));
  }
  return std::vector<T>(arr.data(), arr.data() + arr.size());
}

// One gradient-inversion reconstruction without an engine: the same
// attacks::ReconstructFromUpdate the dlg, idlg and inverting_gradients
// modules run in Report(), with their resolved parameters.
py::dict Invert(const std::string& attack, const py::dict& kwargs, const std::string& model,
                const py::dict& model_params, const std::vector<int64_t>& sample_shape,
                int64_t num_classes, const py::object& global_state, const py::object& update,
                int64_t num_samples, int64_t local_epochs, int64_t local_batch_size,
                double local_lr, const py::object& data_min, const py::object& data_max,
                const py::object& labels, uint64_t seed) {
  const ComponentSpec& spec = AttackSpecOf(attack);
  const std::string where = "attack '" + attack + "'";
  attacks::InversionOptions o;
  if (attack == "dlg") {
    o.method = attacks::InversionMethod::kDlg;
  } else if (attack == "idlg") {
    o.method = attacks::InversionMethod::kIdlg;
  } else if (attack == "inverting_gradients") {
    o.method = attacks::InversionMethod::kInvertingGradients;
  } else {
    ThrowStatus(InvalidArgumentError("invert: " + where +
                                     " is not a gradient inversion attack (dlg, idlg, "
                                     "inverting_gradients)"));
  }
  StatusOr<ParamSet> p = ResolveParams(spec, KwargsToParams(where, kwargs));
  if (!p.ok()) ThrowStatus(p.status());
  o.iterations = p->Int("iterations");
  o.restarts = p->Int("restarts");
  o.lr = p->Double("lr");
  if (o.method == attacks::InversionMethod::kInvertingGradients) {
    o.tv_weight = p->Double("tv_weight");
    o.signed_gradients = p->Bool("signed");
    o.lr_decay = p->Bool("lr_decay");
  } else {
    o.lbfgs_max_iter = p->Int("lbfgs_max_iter");
  }
  attacks::InversionTarget t;
  t.model = model;
  t.model_params = KwargsToParams("model '" + model + "'", model_params);
  t.sample_shape = sample_shape;
  t.num_classes = num_classes;
  t.global_state = VectorFromPython<float>(global_state, "global_state");
  t.update = VectorFromPython<float>(update, "update");
  t.num_samples = num_samples;
  t.recipe.epochs = local_epochs;
  t.recipe.batch_size = local_batch_size;
  t.recipe.lr = local_lr;
  if (!data_min.is_none()) t.data_min = VectorFromPython<float>(data_min, "data_min");
  if (!data_max.is_none()) t.data_max = VectorFromPython<float>(data_max, "data_max");
  const bool known = p->String("labels") == "known";
  if (known != !labels.is_none()) {
    ThrowStatus(
        InvalidArgumentError("invert: " + where +
                             (known ? " has labels='known' but no labels= were given"
                                    : " takes labels= only with its parameter labels='known'")));
  }
  if (known) t.labels = VectorFromPython<int64_t>(labels, "labels");
  StatusOr<attacks::Reconstruction> r = InternalError("not run");
  {
    // Minutes at the papers' iteration counts: other Python threads go on.
    py::gil_scoped_release release;
    r = attacks::ReconstructFromUpdate(o, t, Seed(seed));
  }
  if (!r.ok()) ThrowStatus(r.status().WithContext("invert (" + attack + ")"));
  std::vector<py::ssize_t> shape{static_cast<py::ssize_t>(r->labels.size())};
  for (int64_t d : sample_shape) shape.push_back(static_cast<py::ssize_t>(d));
  py::array_t<float> images(shape);
  if (static_cast<size_t>(images.size()) != r->images.size()) {
    ThrowStatus(InternalError("invert: " + std::to_string(r->images.size()) +
                              " reconstructed values do not fill " +
                              std::to_string(images.size())));
  }
  std::copy(r->images.begin(), r->images.end(), images.mutable_data());
  py::dict d;
  d["images"] = images;
  d["labels"] = r->labels;
  d["loss"] = r->loss;
  d["restarts_run"] = r->restarts_run;
  d["local_steps"] = r->local_steps;
  return d;
}

}  // namespace

void BindAttacks(py::module_& m) {
  py::class_<Attack, PyAttack, std::shared_ptr<Attack>>(
      m, "Attack",
      "Base of attacks written in Python. Subclass it (call super().__init__() in __init__),\n"
      "define role() -> 'runtime' | 'device' | 'host' and report() -> dict(success_metric=...,\n"
      "metrics={...}, blind_guess=..., received_input=..., [higher_is_better, note, arrays]),\n"
      "and any of the hooks your role is granted:\n"
      "  on_updates_received(round, global_state, updates)  # runtime: [(client_id, n, values)]\n"
      "  on_global_model(client_id, round, global_state)      # device\n"
      "  on_client_update(client_id, round, global_state, update)  # device: modify update in\n"
      "      place or return a new array\n"
      "  on_round_end(metrics: dict, global_state)\n"
      "then confml.register_attack(name, cls). Arrays are float32 copies. self.env (set after\n"
      "__init__) holds the model name, malicious_clients, rounds, clients_per_round, ...")
      .def(py::init<>());

  m.def("register_attack", &RegisterPythonAttack, py::arg("name"), py::arg("cls"),
        py::arg("params") = py::none(), py::arg("doc") = py::none(),
        "Registers a confml.Attack subclass under `name` for configs (attack: {name: ...}).\n"
        "params maps each parameter to its default (its type is the parameter's type) or to\n"
        "(default, doc); the config's values are passed to cls(**params).");
  m.def(
      "attack_names",
      [] {
        ThrowIfError(attacks::RegisterBuiltinAttacks());
        return AttackRegistry().Names();
      },
      "Names of every registered attack, built-in and Python.");
  m.def(
      "_attack_specs",
      [] {
        ThrowIfError(attacks::RegisterBuiltinAttacks());
        py::list out;
        for (const ComponentSpec* s : AttackRegistry().Specs()) out.append(SpecToPython(*s));
        return out;
      },
      "The declaration of every registered attack (confml.attacks builds its classes from "
      "them).");
  m.def(
      "_resolve_attack_params",
      [](const std::string& name, const py::dict& kwargs) {
        return ResolveToPython(AttackSpecOf(name), kwargs);
      },
      py::arg("name"), py::arg("kwargs"),
      "The attack's parameters resolved as a config section's are (defaults filled).");
  m.def("_invert", &Invert, py::arg("attack"), py::arg("kwargs"), py::arg("model"),
        py::arg("model_params"), py::arg("sample_shape"), py::arg("num_classes"),
        py::arg("global_state"), py::arg("update"), py::arg("num_samples"), py::arg("local_epochs"),
        py::arg("local_batch_size"), py::arg("local_lr"), py::arg("data_min"), py::arg("data_max"),
        py::arg("labels"), py::arg("seed"),
        "One reconstruction by attacks::ReconstructFromUpdate; confml.attacks.invert wraps it.");
}

}  // namespace confml::python
