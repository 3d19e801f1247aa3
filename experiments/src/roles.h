// The honest logic of each role (private to confml::experiments). Each role's
// code lives in its own role_<name>.cc, which is that role's "role.<name>"
// code module: editing it changes the role's measurement.
//
// Roles exchange messages as bytes through Links (parties.h); the flow
// drivers (flows.cc) only move those bytes. Wire formats are little-endian
// and length-checked by the receiver: a malformed message is InvalidArgument
// naming the message, never a crash.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "confml/core/crypto.h"
#include "confml/core/dataset.h"
#include "confml/core/model.h"
#include "confml/core/status.h"
#include "confml/defenses/channel.h"
#include "confml/defenses/policy.h"
#include "confml/defenses/verifier.h"
#include "confml/experiments/parties.h"

namespace confml::experiments {

// ---- shared encodings (role_device.cc) ----
Bytes EncodeFloats(const std::vector<float>& values);
StatusOr<std::vector<float>> DecodeFloats(const Bytes& bytes, const std::string& what);

// ---- model-provider (role_model_provider.cc) ----
// The model it owns, as wire bytes.
Bytes ProviderModelMessage(Model& model);
// Checks the receiver's acknowledgement: the byte count it got.
Status CheckModelAck(const Bytes& ack, size_t sent);

// ---- runtime (role_runtime.cc) ----
// What a runtime's extra code may do with every user input it handles. An
// honest runtime has none; the input-exfiltration attack module installs one.
// Called once per user input (a sample's float32 bytes, or a word's letters).
using InputTap = std::function<void(const uint8_t* data, size_t size)>;
// Loads a delivered model and returns the acknowledgement.
StatusOr<Bytes> RuntimeAcceptModel(Model& model, const Bytes& message);
// Answers an inference request (samples) with one int64 label per sample.
StatusOr<Bytes> RuntimeServeInference(Model& model, const std::vector<int64_t>& sample_shape,
                                      const Bytes& request, const InputTap& tap);
// Trains on the words a device sent (`epochs` full-batch Adam epochs on their
// next-letter windows, as the Islet runtime does) and returns the model.
StatusOr<Bytes> RuntimeTrainOnWords(Model& model, const Bytes& request, int64_t epochs, double lr,
                                    Seed seed, const InputTap& tap);

// ---- device (role_device.cc) ----
Bytes DeviceInferenceRequest(const Dataset& inputs);
StatusOr<std::vector<int64_t>> DeviceReadLabels(const Bytes& reply, int64_t expected);
Bytes DeviceWordsMessage(const std::vector<std::string>& words);
StatusOr<std::vector<std::string>> DecodeWordsMessage(const Bytes& message);
// The word model's guess of a 5-letter word from its first 3 letters (two
// sliding windows, as in the Islet example).
StatusOr<std::string> DevicePredictWord(Model& model, const std::string& first3);

// ---- verifier (role_verifier.cc) ----
// Adds `rim` as a trusted realm of `role` (no duplicates).
void PolicyTrust(defenses::Policy* policy, const std::string& role, const Bytes& rim);
// Signs `policy` with a fresh key and loads it back through the signature
// check, as a verifier does with a policy file.
Status PolicySealAndLoad(const defenses::Policy& policy, Bytes* signed_policy,
                         defenses::Policy* loaded);
// Appraises a realm's handshake for `expected_role`; a null policy checks
// the token only.
StatusOr<defenses::AcceptedRealm> VerifierAppraise(const Bytes& hello, const Bytes& nonce,
                                                   const std::vector<EcKey>& anchors,
                                                   defenses::NonceRegistry* nonces,
                                                   const defenses::Policy* policy,
                                                   const std::string& expected_role,
                                                   const defenses::TransportLog& log,
                                                   defenses::Verdict* verdict);

}  // namespace confml::experiments
