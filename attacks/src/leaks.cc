#include "confml/attacks/leaks.h"

#include "confml/core/thread_scope.h"
#include "confml/core/trainer.h"

namespace confml::attacks {

void InputExfiltrator::Capture(const uint8_t* data, size_t size) {
  inputs_.emplace_back(data, data + size);
  bytes_ += static_cast<int64_t>(size);
}

StatusOr<double> PredictionAgreement(Model& a, Model& b, const Dataset& data) {
  if (data.size() == 0) return InvalidArgumentError("agreement needs a non-empty dataset");
  // Called by flows and directly through the C++ API: at one intra-op thread
  // a near-tie argmax cannot follow the caller's thread count.
  OneIntraOpThread one_thread;
  try {
    torch::NoGradGuard no_grad;
    a.eval();
    b.eval();
    torch::Tensor x = FeaturesTensor(data);
    const int64_t agree = (a.forward(x).argmax(1) == b.forward(x).argmax(1)).sum().item<int64_t>();
    return static_cast<double>(agree) / static_cast<double>(data.size());
  } catch (const std::exception& e) {
    return InternalError(std::string("computing model agreement: ") + e.what());
  }
}

}  // namespace confml::attacks
