// The runtime role: accepts a delivered model, serves inference, trains on
// the words a device sends. Whatever it does with user inputs beyond that is
// extra code (the InputTap), which changes its Program and measurement.
#include <cstring>

#include "confml/core/trainer.h"
#include "roles.h"

namespace confml::experiments {

StatusOr<Bytes> RuntimeAcceptModel(Model& model, const Bytes& message) {
  CONFML_ASSIGN_OR_RETURN(std::vector<float> state, DecodeFloats(message, "delivered model"));
  CONFML_RETURN_IF_ERROR(LoadFlatState(model, state));
  Bytes ack(sizeof(uint64_t));
  const uint64_t n = message.size();
  std::memcpy(ack.data(), &n, sizeof(n));
  return ack;
}

StatusOr<Bytes> RuntimeServeInference(Model& model, const std::vector<int64_t>& sample_shape,
                                      const Bytes& request, const InputTap& tap) {
  uint64_t count = 0, numel = 0;
  if (request.size() < 16) return InvalidArgumentError("inference request shorter than its header");
  std::memcpy(&count, request.data(), 8);
  std::memcpy(&numel, request.data() + 8, 8);
  int64_t expected_numel = 1;
  for (int64_t d : sample_shape) expected_numel *= d;
  if (numel != static_cast<uint64_t>(expected_numel) ||
      (request.size() - 16) / sizeof(float) / std::max<uint64_t>(numel, 1) != count ||
      (request.size() - 16) != count * numel * sizeof(float)) {
    return InvalidArgumentError("inference request does not hold " + std::to_string(count) +
                                " samples of " + std::to_string(expected_numel) + " values");
  }
  std::vector<float> x(count * numel);
  if (!x.empty()) std::memcpy(x.data(), request.data() + 16, x.size() * sizeof(float));
  if (tap) {
    for (uint64_t i = 0; i < count; ++i) {
      tap(request.data() + 16 + i * numel * sizeof(float), numel * sizeof(float));
    }
  }
  std::vector<int64_t> shape{static_cast<int64_t>(count)};
  shape.insert(shape.end(), sample_shape.begin(), sample_shape.end());
  Bytes reply(count * sizeof(int64_t));
  if (count == 0) return reply;
  try {
    torch::NoGradGuard no_grad;
    model.eval();
    torch::Tensor labels =
        model.forward(torch::from_blob(x.data(), shape, torch::kFloat32)).argmax(1).contiguous();
    std::memcpy(reply.data(), labels.data_ptr<int64_t>(), reply.size());
  } catch (const std::exception& e) {
    return InternalError(std::string("runtime inference failed: ") + e.what());
  }
  return reply;
}

StatusOr<Bytes> RuntimeTrainOnWords(Model& model, const Bytes& request, int64_t epochs, double lr,
                                    Seed seed, const InputTap& tap) {
  CONFML_ASSIGN_OR_RETURN(std::vector<std::string> words, DecodeWordsMessage(request));
  CONFML_ASSIGN_OR_RETURN(Dataset data, MakeNextLetterDataset(words));
  if (tap) {
    for (const std::string& w : words) tap(reinterpret_cast<const uint8_t*>(w.data()), w.size());
  }
  TrainOptions opt;
  opt.epochs = epochs;
  opt.batch_size = std::max<int64_t>(1, data.size());  // full batch, as in the Islet runtime
  opt.optimizer.name = "adam";
  opt.optimizer.lr = lr;
  StatusOr<std::vector<EpochMetrics>> fit = Trainer(opt).Fit(model, data, nullptr, seed);
  if (!fit.ok()) return fit.status().WithContext("runtime training on device words");
  return EncodeFloats(FlatState(model));
}

}  // namespace confml::experiments
