// confml/experiments/federation.h: a federated run whose parties are realms
// of a Deployment, so that attestation decides who takes part.
//
// AttestedFederation is a FederatedHooks (core/fl_hooks.h) that, for every
// client the engine samples, launches that device's realm on first use
// (Program: the honest device program, or the malicious one for clients
// listed as malicious) and opens both links: device -> runtime (the device
// must admit the runtime before it takes the global model or sends its
// update) and runtime -> device (the runtime must admit the device). Links
// are opened once per pair and reused. Every global model and every update
// then really travels through its link: an attested channel encrypts it and
// charges the realms' cost models; with attestation off it crosses in the
// clear. Refusals are counted by the engine and recorded here with the
// failing finding.
//
//   auto fed = AttestedFederation::Create(deployment.get(), options);
//   engine->AddHooks(attack);         // attacks first: a device crafts, then sends
//   engine->AddHooks(*fed);           // last: carries what the devices send
//   ... engine->Run() ...
//   CONFML_RETURN_IF_ERROR((*fed)->status());   // a transport failure, if any
//   for (const AdmissionRecord& r : (*fed)->refusals()) ...
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "confml/core/fl_hooks.h"
#include "confml/core/program.h"
#include "confml/core/status.h"
#include "confml/experiments/parties.h"

namespace confml::experiments {

class AttestedFederation : public FederatedHooks {
 public:
  struct Options {
    Program runtime_program;           // what the runtime realm runs
    Program device_program;            // honest devices
    Program malicious_device_program;  // devices in malicious_clients
    std::set<int64_t> malicious_clients;
  };

  // Launches the runtime's realm. The deployment must outlive this object,
  // and its policy must be sealed (mode policy).
  static StatusOr<std::shared_ptr<AttestedFederation>> Create(Deployment* deployment,
                                                              Options options);

  Admission AdmitRuntime(const ClientContext& client) override;
  Admission AdmitClient(const ClientContext& client) override;
  void OnGlobalModel(const ClientContext& client, const std::vector<float>& global) override;
  void OnRoundUpdates(const std::vector<ClientContext>& clients, const std::vector<float>& global,
                      std::vector<ClientUpdate>* updates) override;

  // The first transport error (a link that failed mid-run); OK otherwise.
  const Status& status() const { return status_; }
  // Every refusal, in the order they happened (one per pair and direction).
  const std::vector<AdmissionRecord>& refusals() const { return refusals_; }
  Party& runtime() { return *runtime_; }

 private:
  struct Pair {
    Party* device = nullptr;
    std::unique_ptr<Link> device_to_runtime;  // device relies on the runtime
    std::unique_ptr<Link> runtime_to_device;  // runtime relies on the device
    Admission device_trusts_runtime;
    Admission runtime_admits_device;
    bool connected = false;
  };
  AttestedFederation(Deployment* deployment, Options options)
      : deployment_(deployment), options_(std::move(options)) {}
  Pair& Connect(int64_t client_id);
  void Fail(Status s);

  Deployment* deployment_;
  Options options_;
  Party* runtime_ = nullptr;
  std::map<int64_t, Pair> pairs_;
  std::vector<AdmissionRecord> refusals_;
  Status status_ = OkStatus();
};

}  // namespace confml::experiments
