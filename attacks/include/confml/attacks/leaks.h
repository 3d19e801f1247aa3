// confml/attacks/leaks.h: the leaks of traditional ML (issue: attacks, item 4).
//
// - InputExfiltrator: attack code in a runtime's Program ("attacks" module,
//   config "exfiltrate_inputs") that copies every user input the runtime
//   handles out of its realm. Because it is code, it changes the runtime's
//   RIM; an attested device then refuses to send it anything.
// - PredictionAgreement: how well a model stolen by a host (read from a
//   realm's memory) reproduces the original: the fraction of inputs on which
//   both predict the same class.
//
//   attacks::InputExfiltrator spy;
//   tap = [&](const uint8_t* p, size_t n) { spy.Capture(p, n); };
//   ... runtime handles requests ...
//   spy.captured();                        // inputs leaked
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "confml/core/dataset.h"
#include "confml/core/model.h"
#include "confml/core/status.h"

namespace confml::attacks {

inline constexpr char kExfiltrateInputsConfig[] = "exfiltrate_inputs";

class InputExfiltrator {
 public:
  // Keeps a copy of one input (what the runtime would ship to its operator).
  void Capture(const uint8_t* data, size_t size);
  int64_t captured() const { return static_cast<int64_t>(inputs_.size()); }
  int64_t captured_bytes() const { return bytes_; }
  const std::vector<std::vector<uint8_t>>& inputs() const { return inputs_; }

 private:
  std::vector<std::vector<uint8_t>> inputs_;
  int64_t bytes_ = 0;
};

// Fraction of `data`'s samples on which `a` and `b` predict the same class.
// InvalidArgument for an empty dataset; LibTorch errors become Internal.
StatusOr<double> PredictionAgreement(Model& a, Model& b, const Dataset& data);

}  // namespace confml::attacks
