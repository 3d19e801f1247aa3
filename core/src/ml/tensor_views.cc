#include "confml/core/trainer.h"

namespace confml {

torch::Tensor FeaturesTensor(const Dataset& dataset) {
  std::vector<int64_t> shape{dataset.size()};
  shape.insert(shape.end(), dataset.sample_shape.begin(), dataset.sample_shape.end());
  return torch::from_blob(const_cast<float*>(dataset.features.data()), shape, torch::kFloat32);
}

torch::Tensor LabelsTensor(const Dataset& dataset) {
  return torch::from_blob(const_cast<int64_t*>(dataset.labels.data()), {dataset.size()},
                          torch::kInt64);
}

}  // namespace confml
