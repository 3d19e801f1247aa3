// ModelRegistry, CreateModel and the flat view of a model's state.
#include <openssl/evp.h>

#include <mutex>
#include <string>
#include <vector>

#include "builtin_models.h"
#include "confml/core/model.h"

namespace confml {

namespace {

// Parameters first, then buffers: the order FlatState promises.
std::vector<torch::Tensor> StateTensors(Model& model) {
  std::vector<torch::Tensor> out = model.parameters(/*recurse=*/true);
  for (auto& b : model.buffers(/*recurse=*/true)) out.push_back(b);
  return out;
}

StatusOr<ModelPtr> Build(const std::string& name, const Registry<ModelFactory>::Entry& entry,
                         const ParamSet& params, const ModelContext& context, Seed seed) {
  // Weight initialisation draws from LibTorch's global generator; holding the
  // lock for the whole construction keeps concurrent creations from
  // interleaving their draws.
  static std::mutex mu;
  std::lock_guard<std::mutex> lock(mu);
  try {
    torch::manual_seed(seed.value());
    StatusOr<ModelPtr> model = entry.factory(params, context);
    if (!model.ok()) return model.status();
    if (*model == nullptr) return InternalError("model '" + name + "': factory returned null");
    (*model)->SetGenerator(at::detail::createCPUGenerator(seed.Child("forward").value()));
    return model;
  } catch (const c10::Error& e) {
    return InvalidArgumentError("building model '" + name + "' for input shape " +
                                internal::ShapeText(context.input_shape) + ": " +
                                e.what_without_backtrace());
  } catch (const std::exception& e) {
    return InternalError("building model '" + name + "': " + e.what());
  }
}

}  // namespace

Registry<ModelFactory>& ModelRegistry() {
  static Registry<ModelFactory> registry("model");
  static const bool filled = (internal::AddBuiltinModels(registry), true);
  (void)filled;
  return registry;
}

StatusOr<ModelPtr> CreateModel(const std::string& name,
                               const std::map<std::string, ParamValue>& params,
                               const ModelContext& context, Seed seed) {
  CONFML_ASSIGN_OR_RETURN(const Registry<ModelFactory>::Entry* entry, ModelRegistry().Lookup(name));
  StatusOr<ParamSet> resolved = ResolveParams(entry->spec, params);
  if (!resolved.ok()) return resolved.status().WithContext("model '" + name + "'");
  return Build(name, *entry, *resolved, context, seed);
}

StatusOr<ModelPtr> CreateModel(const std::string& name, const ParamSet& params,
                               const ModelContext& context, Seed seed) {
  // Resolving again is cheap and makes a ParamSet built by hand as safe as one
  // from the config loader.
  std::map<std::string, ParamValue> given(params.values().begin(), params.values().end());
  return CreateModel(name, given, context, seed);
}

std::vector<float> FlatState(Model& model) {
  torch::NoGradGuard no_grad;
  std::vector<torch::Tensor> tensors = StateTensors(model);
  int64_t total = 0;
  for (const auto& t : tensors) total += t.numel();
  std::vector<float> flat;
  flat.reserve(static_cast<size_t>(total));
  for (const auto& t : tensors) {
    torch::Tensor c = t.detach().to(torch::kFloat32).contiguous();
    const float* p = c.data_ptr<float>();
    flat.insert(flat.end(), p, p + c.numel());
  }
  return flat;
}

Status LoadFlatState(Model& model, const std::vector<float>& flat) {
  torch::NoGradGuard no_grad;
  std::vector<torch::Tensor> tensors = StateTensors(model);
  int64_t total = 0;
  for (const auto& t : tensors) total += t.numel();
  if (total != static_cast<int64_t>(flat.size())) {
    return InvalidArgumentError("flat state has " + std::to_string(flat.size()) +
                                " values but the model's parameters and buffers hold " +
                                std::to_string(total));
  }
  try {
    int64_t offset = 0;
    for (auto& t : tensors) {
      torch::Tensor src = torch::from_blob(const_cast<float*>(flat.data()) + offset, t.sizes(),
                                           torch::kFloat32);
      t.copy_(src);  // Converts to the buffer's dtype (int64 batch counters).
      offset += t.numel();
    }
  } catch (const c10::Error& e) {
    return InternalError(std::string("loading flat state: ") + e.what_without_backtrace());
  }
  return OkStatus();
}

int64_t NumParameters(Model& model) {
  int64_t n = 0;
  for (const auto& p : model.parameters()) n += p.numel();
  return n;
}

std::string StateHash(Model& model) {
  std::vector<float> flat = FlatState(model);
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (EVP_Digest(flat.data(), flat.size() * sizeof(float), md, &len, EVP_sha256(), nullptr) != 1) {
    internal::DieBecause("StateHash", InternalError("EVP_Digest(SHA-256) failed"));
  }
  static constexpr char kHex[] = "0123456789abcdef";
  std::string hex;
  hex.reserve(2 * len);
  for (unsigned int i = 0; i < len; ++i) {
    hex += kHex[md[i] >> 4];
    hex += kHex[md[i] & 15];
  }
  return hex;
}

}  // namespace confml
