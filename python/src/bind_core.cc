// Bindings of core: datasets (as NumPy) and partitioners.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <cstring>

#include "bindings.h"
#include "confml/core/dataset.h"
#include "confml/core/partition.h"
#include "errors.h"

namespace py = pybind11;

namespace confml::python {
namespace {

// (features, labels) as NumPy arrays; features shaped {N, sample_shape...}.
py::tuple DatasetToNumpy(const Dataset& ds) {
  std::vector<py::ssize_t> shape{static_cast<py::ssize_t>(ds.size())};
  for (int64_t d : ds.sample_shape) shape.push_back(static_cast<py::ssize_t>(d));
  py::array_t<float> x(shape);
  std::memcpy(x.mutable_data(), ds.features.data(), ds.features.size() * sizeof(float));
  py::array_t<int64_t> y(static_cast<py::ssize_t>(ds.labels.size()));
  std::memcpy(y.mutable_data(), ds.labels.data(), ds.labels.size() * sizeof(int64_t));
  return py::make_tuple(x, y);
}

std::vector<int64_t> LabelsFrom(const py::array_t<int64_t, py::array::c_style | py::array::forcecast>& a) {
  if (a.ndim() != 1) ThrowStatus(InvalidArgumentError("labels must be a 1-D array"));
  return std::vector<int64_t>(a.data(), a.data() + a.size());
}

py::list PartitionToPython(const Partition& p) {
  py::list out;
  for (const auto& client : p) out.append(py::array_t<int64_t>(client.size(), client.data()));
  return out;
}

}  // namespace

void BindCore(py::module_& m) {
  m.def(
      "load_fashion_mnist",
      [](const std::string& dir, const std::string& split) {
        if (split != "train" && split != "test") {
          ThrowStatus(InvalidArgumentError("split must be 'train' or 'test', got '" + split + "'"));
        }
        Dataset ds;
        {
          py::gil_scoped_release release;
          auto loaded = LoadFashionMnist(dir, split == "train" ? Split::kTrain : Split::kTest);
          if (!loaded.ok()) {
            py::gil_scoped_acquire acquire;
            ThrowStatus(loaded.status());
          }
          ds = std::move(loaded).value();
        }
        return DatasetToNumpy(ds);
      },
      py::arg("dir") = "/usr/share/datasets/fashion-mnist", py::arg("split") = "train",
      "Fashion-MNIST as (images float32 [N,1,28,28] in [0,1], labels int64 [N]).");

  m.def(
      "partition_iid",
      [](const py::array_t<int64_t, py::array::c_style | py::array::forcecast>& labels,
         int64_t num_clients, uint64_t seed) {
        return PartitionToPython(Unwrap(PartitionIid(LabelsFrom(labels), num_clients, Seed(seed))));
      },
      py::arg("labels"), py::arg("num_clients"), py::arg("seed"),
      "Even random split: one index array per client.");
  m.def(
      "partition_dirichlet",
      [](const py::array_t<int64_t, py::array::c_style | py::array::forcecast>& labels,
         int64_t num_classes, int64_t num_clients, double alpha, uint64_t seed,
         int64_t min_per_client) {
        return PartitionToPython(Unwrap(PartitionDirichlet(LabelsFrom(labels), num_classes,
                                                           num_clients, alpha, Seed(seed),
                                                           min_per_client)));
      },
      py::arg("labels"), py::arg("num_classes"), py::arg("num_clients"), py::arg("alpha"),
      py::arg("seed"), py::arg("min_per_client") = 1,
      "Per-class Dirichlet(alpha) split (Hsu et al. 2019): one index array per client.");
  m.def(
      "partition_shards",
      [](const py::array_t<int64_t, py::array::c_style | py::array::forcecast>& labels,
         int64_t num_clients, int64_t shards_per_client, uint64_t seed) {
        return PartitionToPython(
            Unwrap(PartitionShards(LabelsFrom(labels), num_clients, shards_per_client, Seed(seed))));
      },
      py::arg("labels"), py::arg("num_clients"), py::arg("shards_per_client"), py::arg("seed"),
      "Label-sorted shards (McMahan et al. 2017): one index array per client.");

}

}  // namespace confml::python
