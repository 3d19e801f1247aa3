#include "confml/experiments/federation.h"

#include <cstring>

namespace confml::experiments {
namespace {

Bytes FloatBytes(const std::vector<float>& v) {
  Bytes out(v.size() * sizeof(float));
  if (!v.empty()) std::memcpy(out.data(), v.data(), out.size());
  return out;
}

Admission Refused(const AdmissionRecord& r) {
  return Admission{false, r.failed_checks + ": " + r.detail};
}

}  // namespace

StatusOr<std::shared_ptr<AttestedFederation>> AttestedFederation::Create(Deployment* deployment,
                                                                         Options options) {
  if (deployment == nullptr) return InvalidArgumentError("AttestedFederation needs a deployment");
  std::shared_ptr<AttestedFederation> fed(new AttestedFederation(deployment, std::move(options)));
  CONFML_ASSIGN_OR_RETURN(fed->runtime_,
                          deployment->Launch("runtime", fed->options_.runtime_program));
  return fed;
}

void AttestedFederation::Fail(Status s) {
  if (status_.ok()) status_ = std::move(s);
}

AttestedFederation::Pair& AttestedFederation::Connect(int64_t client_id) {
  Pair& p = pairs_[client_id];
  if (p.connected) return p;
  p.connected = true;
  const bool malicious = options_.malicious_clients.count(client_id) > 0;
  StatusOr<Party*> device =
      deployment_->Launch("device-" + std::to_string(client_id),
                          malicious ? options_.malicious_device_program : options_.device_program);
  if (!device.ok()) {
    Fail(device.status());
    p.device_trusts_runtime = p.runtime_admits_device = Admission{false, device.status().ToString()};
    return p;
  }
  p.device = *device;
  AdmissionRecord rec;
  StatusOr<std::unique_ptr<Link>> to_runtime =
      deployment_->Connect(*p.device, *runtime_, kRoleRuntime, &rec);
  if (to_runtime.ok()) {
    p.device_to_runtime = std::move(*to_runtime);
  } else {
    p.device_trusts_runtime = Refused(rec);
    refusals_.push_back(rec);
  }
  StatusOr<std::unique_ptr<Link>> to_device =
      deployment_->Connect(*runtime_, *p.device, kRoleDevice, &rec);
  if (to_device.ok()) {
    p.runtime_to_device = std::move(*to_device);
  } else {
    p.runtime_admits_device = Refused(rec);
    refusals_.push_back(rec);
  }
  return p;
}

Admission AttestedFederation::AdmitRuntime(const ClientContext& client) {
  return Connect(client.client_id).device_trusts_runtime;
}

Admission AttestedFederation::AdmitClient(const ClientContext& client) {
  return Connect(client.client_id).runtime_admits_device;
}

void AttestedFederation::OnGlobalModel(const ClientContext& client,
                                       const std::vector<float>& global) {
  Pair& p = Connect(client.client_id);
  if (p.runtime_to_device == nullptr) return;
  // The runtime sends the global model to the device it admitted.
  const Bytes sent = FloatBytes(global);
  StatusOr<Bytes> got = p.runtime_to_device->ToAttester(sent);
  if (!got.ok()) {
    Fail(got.status().WithContext("sending the global model to device " +
                                  std::to_string(client.client_id)));
  } else if (*got != sent) {
    // The engine trains every device from its own copy of the global model;
    // this keeps that copy honest about what the channel delivered.
    Fail(DataLossError("the global model reached device " + std::to_string(client.client_id) +
                       " altered"));
  }
}

void AttestedFederation::OnRoundUpdates(const std::vector<ClientContext>& clients,
                                        const std::vector<float>& global,
                                        std::vector<ClientUpdate>* updates) {
  for (size_t i = 0; i < clients.size(); ++i) {
    const int64_t id = clients[i].client_id;
    ClientUpdate& update = (*updates)[i];
    Pair& p = Connect(id);
    if (p.device_to_runtime == nullptr) continue;
    // The device sends its (possibly crafted) update to the runtime it
    // admitted; the runtime aggregates what came out of the channel.
    StatusOr<Bytes> got = p.device_to_runtime->ToAttester(FloatBytes(update.values));
    if (!got.ok()) {
      Fail(got.status().WithContext("sending the update of device " + std::to_string(id)));
      continue;
    }
    if (got->size() != update.values.size() * sizeof(float)) {
      Fail(DataLossError("the update of device " + std::to_string(id) + " arrived with " +
                         std::to_string(got->size()) + " bytes"));
      continue;
    }
    std::memcpy(update.values.data(), got->data(), got->size());
  }
}

}  // namespace confml::experiments
