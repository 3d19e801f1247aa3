// confml/core/fl_hooks.h: where attacks, defenses and the TEE layer attach to
// a federated run, and the per-round metrics (no LibTorch).
//
// Every hook has a no-op default, so an attack overrides only what its threat
// model grants it (docs/federated.md lists who sees what):
//
//   class SignFlip : public FederatedHooks {        // a poisoning device
//     void OnClientUpdate(const ClientContext& c, const std::vector<float>&,
//                         ClientUpdate* u) override {
//       for (float& v : u->values) v = -v;
//     }
//   };
//   engine->AddHooks(std::make_shared<SignFlip>());
//
// Threading: ClientTrainingData runs on worker threads, concurrently for
// different clients, and must be thread-safe. Every other hook runs on the
// thread that called FederatedEngine::Run, in a fixed order (slots by
// ascending client id), so a stateful attack stays reproducible whatever the
// worker count.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "confml/core/aggregator.h"
#include "confml/core/dataset.h"

namespace confml {

// One round's numbers. Test metrics are NaN on rounds that were not
// evaluated (see FederatedOptions::eval_every).
struct RoundMetrics {
  int64_t round = 0;  // 1-based.
  double test_accuracy = 0.0;
  double test_loss = 0.0;
  double mean_train_loss = 0.0;  // Sample-weighted over the round's clients and local steps.
  int64_t clients_sampled = 0;
  int64_t clients_admitted = 0;  // Updates the runtime accepted.
  int64_t clients_refused = 0;   // Refused by attestation (either direction).
  int64_t updates_rejected = 0;  // Admitted but rejected by the aggregator (e.g. non-finite).
  // Admitted but its device dropped out before its update came back (the
  // executor reported the slot missing): no update, no vote, no bytes up.
  int64_t clients_dropped = 0;
  int64_t bytes_down = 0;      // Global state sent to the sampled clients.
  int64_t bytes_up = 0;        // Updates sent back by the admitted clients.
  double seconds = 0.0;        // Wall time of the round, evaluation included.
  double train_seconds = 0.0;  // Sum over clients of pure local-training time.
};

// Who and where, for device-side hooks.
struct ClientContext {
  int64_t round = 0;  // 1-based.
  int64_t client_id = 0;
  int64_t slot = 0;  // Position among the round's participating (admitted) clients.
};

// The data a device trains on: `indices` into `dataset`.
struct ClientData {
  const Dataset* dataset = nullptr;
  const std::vector<int64_t>* indices = nullptr;
};

// The runtime's decision about one device's update (the attestation layer
// fills it from its verdict; the default admits everyone).
struct Admission {
  bool admitted = true;
  std::string reason;  // Why refused: the failing finding.
};

// What a host on the path or on the machine could observe. The plain engine
// reports traffic as it happens (payload in the clear: no channel, backend
// `none`); the TEE layer will report what it lets through instead.
struct HostEvent {
  enum class Kind { kGlobalToClient, kUpdateToRuntime };
  Kind kind = Kind::kGlobalToClient;
  int64_t round = 0;
  int64_t client_id = 0;
  int64_t bytes = 0;
  // The plaintext payload, valid only during the call; null when the host
  // sees only ciphertext (an attested channel carries the message).
  const std::vector<float>* payload = nullptr;
};

class FederatedHooks {
 public:
  virtual ~FederatedHooks() = default;

  // Device, before local training: which data it trains on. Data poisoning
  // (label flipping, fake data) returns a dataset it owns, which must
  // outlive the round. Worker threads; must be thread-safe.
  virtual ClientData ClientTrainingData(const ClientContext& client, ClientData honest) {
    return honest;
  }
  // Device, on receiving the global model at the start of a round: an
  // inference attack keeps consecutive ones.
  virtual void OnGlobalModel(const ClientContext& client, const std::vector<float>& global) {}
  // Device, after local training and before sending: may modify the update
  // (model poisoning). `global` is the model it started from.
  virtual void OnClientUpdate(const ClientContext& client, const std::vector<float>& global,
                              ClientUpdate* update) {}
  // Device, before a round's work: does this device trust the runtime
  // (attestation of the runtime by the device)? A device that refuses does
  // not train and sends nothing; the round counts it as refused.
  virtual Admission AdmitRuntime(const ClientContext& client) { return {}; }
  // Devices, colluding: every sampled client's update of the round, after
  // OnClientUpdate and before anything is sent (updates[i] is clients[i]'s).
  // Attacks that craft updates from statistics of several clients (A Little
  // Is Enough, Fang et al., min-max) modify their malicious clients' entries
  // here; a "partial knowledge" attack must read only those entries.
  virtual void OnRoundUpdates(const std::vector<ClientContext>& clients,
                              const std::vector<float>& global,
                              std::vector<ClientUpdate>* updates) {}
  // Runtime, before a round's work: admit or refuse `client` (attestation of
  // the device by the runtime). A refused device gets no global model and
  // its update is not accepted.
  virtual Admission AdmitClient(const ClientContext& client) { return {}; }
  // Runtime, before aggregation: every admitted update of the round, read-only
  // (inversion attacks reconstruct data from these).
  virtual void OnUpdatesReceived(int64_t round, const std::vector<float>& global,
                                 const std::vector<ClientUpdate>& updates) {}
  // Host: traffic and memory the host can observe.
  virtual void OnHostEvent(const HostEvent& event) {}
  // After aggregation (and evaluation): the new global model and the metrics.
  virtual void OnRoundEnd(const RoundMetrics& metrics, const std::vector<float>& global) {}
};

}  // namespace confml
