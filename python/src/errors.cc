#include "errors.h"

#include <map>

namespace py = pybind11;

namespace confml::python {
namespace {

PyObject* g_base = nullptr;
std::map<StatusCode, PyObject*>& Classes() {
  static std::map<StatusCode, PyObject*> classes;
  return classes;
}

PyObject* NewException(py::module_& m, const char* name, PyObject* bases, const char* doc) {
  std::string qualified = std::string("confml.") + name;
  PyObject* cls = PyErr_NewExceptionWithDoc(qualified.c_str(), doc, bases, nullptr);
  if (cls == nullptr) throw py::error_already_set();
  m.add_object(name, py::handle(cls));
  return cls;
}

}  // namespace

void RegisterExceptions(py::module_& m) {
  g_base = NewException(m, "Error", PyExc_Exception, "Base of every error confml raises.");
  struct Def {
    StatusCode code;
    const char* name;
    PyObject* builtin;  // May be null.
    const char* doc;
  };
  const Def defs[] = {
      {StatusCode::kInvalidArgument, "InvalidArgumentError", PyExc_ValueError,
       "Bad input: a config key, value, argument or file content."},
      {StatusCode::kNotFound, "NotFoundError", PyExc_LookupError,
       "A file, component or key that does not exist."},
      {StatusCode::kUnimplemented, "UnimplementedError", PyExc_NotImplementedError,
       "A capability this backend or build does not have."},
      {StatusCode::kOutOfRange, "OutOfRangeError", PyExc_IndexError, "A value past its range."},
      {StatusCode::kDataLoss, "DataLossError", nullptr,
       "Corrupt or tampered data: a sealed blob, checkpoint or dataset file."},
      {StatusCode::kUnauthenticated, "UnauthenticatedError", nullptr,
       "A signature or attestation that does not verify."},
      {StatusCode::kPermissionDenied, "PermissionDeniedError", nullptr,
       "An access the TEE or policy refuses (e.g. a host reading realm memory)."},
      {StatusCode::kFailedPrecondition, "FailedPreconditionError", nullptr,
       "An operation in the wrong state (e.g. a realm call before activation)."},
      {StatusCode::kInternal, "InternalError", nullptr, "A bug in confml."},
  };
  for (const Def& d : defs) {
    PyObject* bases = d.builtin ? PyTuple_Pack(2, g_base, d.builtin) : PyTuple_Pack(1, g_base);
    Classes()[d.code] = NewException(m, d.name, bases, d.doc);
    Py_DECREF(bases);
  }
}

void ThrowStatus(const Status& status) {
  auto it = Classes().find(status.code());
  PyObject* cls = it == Classes().end() ? g_base : it->second;
  std::string msg = status.message();
  if (it == Classes().end()) msg = status.ToString();
  PyErr_SetString(cls, msg.c_str());
  throw py::error_already_set();
}

}  // namespace confml::python
