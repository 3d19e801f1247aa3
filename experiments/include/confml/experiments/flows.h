// confml/experiments/flows.h: the traditional-ML flows of the Islet
// confidential-ML example, and its two-device federated word scenario, run
// between parties of a Deployment (parties.h).
//
// Scenarios (FlowOptions::scenario):
//   model_delivery       the model-provider releases the word model to the
//                        runtime, which acknowledges the byte count;
//   on_device_inference  the model-provider releases the word model to a
//                        device, which keeps it in its realm and completes
//                        the user's words from 3 letters;
//   server_training      the model-provider releases the word model to the
//                        runtime; the device sends the words its user typed;
//                        the runtime trains on them and sends the model back;
//                        the device's completions before and after;
//   server_inference     a Fashion-MNIST classifier released to the runtime
//                        classifies the device's images;
//   fl_words             two devices each train on their own words, the
//                        runtime averages (FedAvg), each device then
//                        completes the other's words.
// Attacks of traditional ML, chosen by options:
//   runtime_code = exfiltrate_inputs: the runtime's Program carries the
//     attacks module's input logger (a different RIM); every user input the
//     runtime handles is copied out of its realm;
//   host_attack = read_device_model: the device's host reads the on-device
//     model from the device realm's memory and uses it (stolen-model
//     agreement with the original);
//   host_attack = read_runtime_inputs: the runtime's host reads the user
//     inputs the runtime keeps in its realm's memory.
// Every refusal is an AdmissionRecord with the failing finding; a refused
// party gets nothing, so the leak metrics count only what really moved.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "confml/core/params.h"
#include "confml/core/seed.h"
#include "confml/core/status.h"
#include "confml/core/tee_backend.h"
#include "confml/experiments/parties.h"

namespace confml::experiments {

struct FlowOptions {
  std::string scenario = "server_training";
  std::string backend = "sim";
  std::map<std::string, ParamValue> backend_params;
  AttestationMode attestation = AttestationMode::kPolicy;
  std::string runtime_code = "honest";  // honest | exfiltrate_inputs
  std::string host_attack = "none";     // none | read_device_model | read_runtime_inputs
  // The policy also lists the runtime Program actually deployed (an audit
  // mistake when that program is malicious).
  bool trust_deployed_runtime = false;
  int64_t realm_memory_mb = 4;

  // Word model (Islet's SimpleRNN(28)).
  std::vector<std::string> pretrain_words{"which", "there", "their", "white"};
  std::vector<std::string> user_words{"about", "house", "plant"};
  std::vector<std::string> other_device_words{"green", "stone", "lucky"};  // fl_words, device 2
  int64_t pretrain_epochs = 300;
  int64_t train_epochs = 100;  // runtime training on the user's words (Islet: 100)
  double lr = 0.01;
  int64_t fl_rounds = 10;
  int64_t fl_local_epochs = 20;
  // Server-side inference.
  int64_t inference_inputs = 100;
  int64_t classifier_train_samples = 6000;
  int64_t classifier_epochs = 2;
  std::string words_file = "/usr/share/dict/words";  // agreement test set of the word model
  std::string fashion_mnist_dir = "/usr/share/datasets/fashion-mnist";
  Seed seed{1};
};

struct FlowResult {
  std::string scenario;
  std::vector<AdmissionRecord> admissions;
  // Named outcomes, e.g. model_bytes_acked, word_accuracy_before/after,
  // inference_accuracy, inputs_sent, inputs_leaked, leak_fraction,
  // stolen_model_agreement, user_input_on_wire, model_on_wire.
  std::map<std::string, double> metrics;
  // (typed 3 letters, completed word) pairs, labelled, e.g. "after: abo -> about".
  std::vector<std::string> predictions;
  std::vector<std::string> events;  // what happened, in order, for people
  TeeCost cost;
  std::string policy_summary;  // which RIMs the policy lists per role
};

// InvalidArgument for an unknown scenario, runtime_code or host_attack.
StatusOr<FlowResult> RunFlow(const FlowOptions& options);

}  // namespace confml::experiments
