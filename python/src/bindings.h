// One bind_<area> function per module; module.cc calls them in order.
#pragma once

#include <pybind11/pybind11.h>

namespace confml::python {

void BindCore(pybind11::module_& m);         // bind_core.cc
void BindExperiments(pybind11::module_& m);  // bind_experiments.cc

}  // namespace confml::python
