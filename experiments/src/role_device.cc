// The device role: owns user data; asks for server-side inference, sends the
// words its user typed, predicts on-device.
#include <cstring>

#include "confml/core/trainer.h"
#include "roles.h"

namespace confml::experiments {
namespace {

constexpr uint32_t kMaxWords = 1 << 20;

void PutU64(Bytes& out, uint64_t v) {
  const size_t at = out.size();
  out.resize(at + 8);
  std::memcpy(out.data() + at, &v, 8);
}

}  // namespace

Bytes EncodeFloats(const std::vector<float>& values) {
  Bytes out(values.size() * sizeof(float));
  if (!values.empty()) std::memcpy(out.data(), values.data(), out.size());
  return out;
}

StatusOr<std::vector<float>> DecodeFloats(const Bytes& bytes, const std::string& what) {
  if (bytes.size() % sizeof(float) != 0) {
    return InvalidArgumentError(what + " has " + std::to_string(bytes.size()) +
                                " bytes, not a whole number of float32 values");
  }
  std::vector<float> out(bytes.size() / sizeof(float));
  if (!out.empty()) std::memcpy(out.data(), bytes.data(), bytes.size());
  return out;
}

// Request: u64 count, u64 numel per sample, then count * numel float32.
Bytes DeviceInferenceRequest(const Dataset& inputs) {
  Bytes out;
  PutU64(out, static_cast<uint64_t>(inputs.size()));
  PutU64(out, static_cast<uint64_t>(inputs.sample_numel()));
  Bytes f = EncodeFloats(inputs.features);
  out.insert(out.end(), f.begin(), f.end());
  return out;
}

StatusOr<std::vector<int64_t>> DeviceReadLabels(const Bytes& reply, int64_t expected) {
  if (reply.size() != static_cast<size_t>(expected) * sizeof(int64_t)) {
    return InvalidArgumentError("inference reply has " + std::to_string(reply.size()) +
                                " bytes, expected " + std::to_string(expected) + " labels");
  }
  std::vector<int64_t> labels(static_cast<size_t>(expected));
  if (expected > 0) std::memcpy(labels.data(), reply.data(), reply.size());
  return labels;
}

// Words: u64 count, then per word u64 length and its letters.
Bytes DeviceWordsMessage(const std::vector<std::string>& words) {
  Bytes out;
  PutU64(out, words.size());
  for (const std::string& w : words) {
    PutU64(out, w.size());
    out.insert(out.end(), w.begin(), w.end());
  }
  return out;
}

StatusOr<std::vector<std::string>> DecodeWordsMessage(const Bytes& message) {
  const Status bad = InvalidArgumentError("malformed words message (" +
                                          std::to_string(message.size()) + " bytes)");
  size_t pos = 0;
  auto get = [&](uint64_t* v) {
    if (message.size() - pos < 8) return false;
    std::memcpy(v, message.data() + pos, 8);
    pos += 8;
    return true;
  };
  uint64_t n = 0;
  if (!get(&n) || n > kMaxWords) return bad;
  std::vector<std::string> words;
  for (uint64_t i = 0; i < n; ++i) {
    uint64_t len = 0;
    if (!get(&len) || len > message.size() - pos) return bad;
    words.emplace_back(reinterpret_cast<const char*>(message.data() + pos), len);
    pos += len;
  }
  if (pos != message.size()) return bad;
  return words;
}

StatusOr<std::string> DevicePredictWord(Model& model, const std::string& first3) {
  if (first3.size() != static_cast<size_t>(kWordContext)) {
    return InvalidArgumentError("word prediction needs 3 letters, got '" + first3 + "'");
  }
  torch::NoGradGuard no_grad;
  model.eval();
  std::string word = first3;
  for (int step = 0; step < 2; ++step) {
    CONFML_ASSIGN_OR_RETURN(std::vector<float> x,
                            EncodeWordContext(word.substr(word.size() - kWordContext)));
    torch::Tensor in = torch::from_blob(x.data(), {1, kWordContext, kWordAlphabetSize}).clone();
    const int64_t next = model.forward(in).argmax(1).item<int64_t>();
    word.push_back(kWordAlphabet[next]);
  }
  return word;
}

}  // namespace confml::experiments
