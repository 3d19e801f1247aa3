// The native part of the `confml` Python package. The package's __init__.py
// re-exports everything here and adds the pure-Python helpers (load, plot).
#include <pybind11/pybind11.h>

#include "bindings.h"
#include "confml/core/version.h"
#include "errors.h"

PYBIND11_MODULE(_confml, m) {
  m.doc() = "confml: a testbed for confidential machine learning on Arm CCA (native part).";
  m.attr("__version__") = confml::Version();
  m.attr("git_commit") = confml::GitCommit();
  confml::python::RegisterExceptions(m);
  confml::python::BindCore(m);
  confml::python::BindExperiments(m);
  confml::python::BindSweep(m);
  confml::python::BindTee(m);
  confml::python::BindAggregators(m);
  confml::python::BindAttacks(m);
}
