// confml/core/model.h: models by name (LibTorch).
//
//   ModelContext ctx{.input_shape = {1, 28, 28}, .num_classes = 10};
//   StatusOr<ModelPtr> m = CreateModel("small_cnn", {}, ctx, Seed(1).Child("model"));
//   torch::Tensor logits = (*m)->forward(x);       // x: {N, 1, 28, 28}
//
// Built-in models (see ModelRegistry() for their parameters):
//   mlp           multi-layer perceptron
//   lenet5        LeCun et al. 1998, relu or sigmoid activations
//   small_cnn     two conv blocks and a dense layer (~90-92 % on Fashion-MNIST)
//   resnet_small  a ResNet-8-style network (He et al. 2016) with batch norm
//   char_rnn      Islet's SimpleRNN(28): an Elman RNN over one-hot letters
//
// Initialisation is deterministic: CreateModel seeds LibTorch's generator
// from `seed` under a process-wide lock, so concurrent creations do not
// interleave. A Model is not thread-safe; give each worker its own replica.
#pragma once

#include <torch/torch.h>

#include <cstdint>
#include <functional>
#include <initializer_list>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "confml/core/params.h"
#include "confml/core/registry.h"
#include "confml/core/seed.h"
#include "confml/core/status.h"

namespace confml {

// Base of every confml model: a module with one tensor in, logits out.
class Model : public torch::nn::Module {
 public:
  virtual torch::Tensor forward(torch::Tensor x) = 0;

  // The generator that training-mode randomness in forward (dropout) draws
  // from. Trainer::Fit installs a freshly seeded one per fit, so replicas
  // trained concurrently on different threads stay deterministic without
  // sharing LibTorch's global generator.
  void SetGenerator(at::Generator generator) { generator_ = std::move(generator); }
  at::Generator& generator() { return generator_; }

 protected:
  at::Generator generator_ = at::detail::createCPUGenerator(0);
};
using ModelPtr = std::shared_ptr<Model>;

struct ModelContext {
  std::vector<int64_t> input_shape;  // One sample, e.g. {1, 28, 28}.
  int64_t num_classes = 0;
};

using ModelFactory = std::function<StatusOr<ModelPtr>(const ParamSet&, const ModelContext&)>;
Registry<ModelFactory>& ModelRegistry();

// Resolves `params` against the model's spec, seeds initialisation and builds
// it. NotFound for an unknown name, InvalidArgument for bad parameters or a
// context the model cannot take (e.g. lenet5 on 3x28 word inputs).
StatusOr<ModelPtr> CreateModel(const std::string& name, const std::map<std::string, ParamValue>& params,
                               const ModelContext& context, Seed seed);
StatusOr<ModelPtr> CreateModel(const std::string& name, const ParamSet& params,
                               const ModelContext& context, Seed seed);
// Makes CreateModel(name, {}, ...) and CreateModel(name, {{"hidden", ...}}, ...)
// unambiguous (both map and ParamSet can be built from braces).
inline StatusOr<ModelPtr> CreateModel(
    const std::string& name, std::initializer_list<std::pair<const std::string, ParamValue>> params,
    const ModelContext& context, Seed seed) {
  return CreateModel(name, std::map<std::string, ParamValue>(params), context, seed);
}

// All parameters and buffers (batch-norm statistics) in registration order,
// flattened into one float vector; and back. LoadFlatState returns
// InvalidArgument when the size does not match.
std::vector<float> FlatState(Model& model);
Status LoadFlatState(Model& model, const std::vector<float>& flat);
int64_t NumParameters(Model& model);
// SHA-256 of the flat state's bytes, hex. Two models with the same hash hold
// bitwise identical weights.
std::string StateHash(Model& model);

}  // namespace confml
