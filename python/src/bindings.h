// One bind_<area> function per module; module.cc calls them in order.
#pragma once

#include <pybind11/pybind11.h>

namespace confml::python {

void BindCore(pybind11::module_& m);         // bind_core.cc
void BindExperiments(pybind11::module_& m);  // bind_experiments.cc
void BindSweep(pybind11::module_& m);        // bind_sweep.cc
void BindTee(pybind11::module_& m);          // bind_tee.cc
void BindAggregators(pybind11::module_& m);  // bind_aggregator.cc
void BindAttacks(pybind11::module_& m);      // bind_attack.cc

}  // namespace confml::python
