// The model-provider role: owns the model and releases it only over links
// the deployment opened to admitted peers.
#include <cstring>

#include "roles.h"

namespace confml::experiments {

Bytes ProviderModelMessage(Model& model) { return EncodeFloats(FlatState(model)); }

Status CheckModelAck(const Bytes& ack, size_t sent) {
  if (ack.size() != sizeof(uint64_t)) {
    return InvalidArgumentError("model acknowledgement has " + std::to_string(ack.size()) +
                                " bytes, expected 8");
  }
  uint64_t got = 0;
  std::memcpy(&got, ack.data(), sizeof(got));
  if (got != sent) {
    return DataLossError("the receiver acknowledged " + std::to_string(got) + " model bytes of " +
                         std::to_string(sent) + " sent");
  }
  return OkStatus();
}

}  // namespace confml::experiments
