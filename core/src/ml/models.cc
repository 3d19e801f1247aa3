// The built-in models: mlp, lenet5, small_cnn, resnet_small, char_rnn.
#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "builtin_models.h"
#include "confml/core/model.h"

namespace confml::internal {

std::string ShapeText(const std::vector<int64_t>& shape) {
  std::string s = "{";
  for (size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + "}";
}

namespace {

namespace nn = torch::nn;

enum class Activation { kRelu, kSigmoid, kTanh };

Activation ParseActivation(const std::string& name) {
  if (name == "sigmoid") return Activation::kSigmoid;
  if (name == "tanh") return Activation::kTanh;
  return Activation::kRelu;  // The spec's choices admit nothing else.
}

torch::Tensor Activate(Activation a, const torch::Tensor& x) {
  switch (a) {
    case Activation::kSigmoid: return torch::sigmoid(x);
    case Activation::kTanh: return torch::tanh(x);
    case Activation::kRelu: break;
  }
  return torch::relu(x);
}

// Inverted dropout drawing its mask from the model's own generator rather than
// LibTorch's global one (see Model::SetGenerator).
torch::Tensor Dropout(const torch::Tensor& x, double p, bool training, at::Generator& gen) {
  if (!training || p <= 0.0) return x;
  torch::Tensor mask = torch::empty_like(x).bernoulli_(1.0 - p, gen);
  mask.div_(1.0 - p);
  return x * mask;
}

int64_t Numel(const std::vector<int64_t>& shape) {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

Status CheckCommon(const std::string& model, const ModelContext& ctx) {
  if (ctx.num_classes < 2) {
    return InvalidArgumentError("model '" + model + "' needs num_classes >= 2, got " +
                                std::to_string(ctx.num_classes));
  }
  if (ctx.input_shape.empty()) {
    return InvalidArgumentError("model '" + model + "' got an empty input shape");
  }
  for (int64_t d : ctx.input_shape) {
    if (d < 1) {
      return InvalidArgumentError("model '" + model + "' got input shape " +
                                  ShapeText(ctx.input_shape) + " with a non-positive dimension");
    }
  }
  return OkStatus();
}

Status CheckImage(const std::string& model, const ModelContext& ctx, int64_t min_hw,
                  const std::string& why) {
  if (Status s = CheckCommon(model, ctx); !s.ok()) return s;
  const auto& sh = ctx.input_shape;
  if (sh.size() != 3 || sh[1] < min_hw || sh[2] < min_hw) {
    return InvalidArgumentError("model '" + model + "' needs image inputs {C, H, W} with H, W >= " +
                                std::to_string(min_hw) + " (" + why + "), got input shape " +
                                ShapeText(sh));
  }
  return OkStatus();
}

// ---------------------------------------------------------------- mlp

class Mlp : public Model {
 public:
  Mlp(int64_t in, const std::vector<int64_t>& hidden, int64_t classes, Activation act) : act_(act) {
    int64_t prev = in;
    for (size_t i = 0; i < hidden.size(); ++i) {
      layers_.push_back(register_module("fc" + std::to_string(i + 1), nn::Linear(prev, hidden[i])));
      prev = hidden[i];
    }
    out_ = register_module("out", nn::Linear(prev, classes));
  }

  torch::Tensor forward(torch::Tensor x) override {
    x = x.flatten(1);
    for (auto& layer : layers_) x = Activate(act_, layer->forward(x));
    return out_->forward(x);
  }

 private:
  Activation act_;
  std::vector<nn::Linear> layers_;
  nn::Linear out_{nullptr};
};

// ---------------------------------------------------------------- lenet5

// LeCun et al. 1998: C1 6@5x5 (padding 2 plays the role of the 32x32 input
// frame around a 28x28 digit), S2, C3 16@5x5, S4, F5 120, F6 84, output.
class LeNet5 : public Model {
 public:
  LeNet5(const std::vector<int64_t>& in, int64_t classes, Activation act, bool max_pool)
      : act_(act), max_pool_(max_pool) {
    conv1_ = register_module("conv1", nn::Conv2d(nn::Conv2dOptions(in[0], 6, 5).padding(2)));
    conv2_ = register_module("conv2", nn::Conv2d(nn::Conv2dOptions(6, 16, 5)));
    const int64_t h = (in[1] / 2 - 4) / 2;
    const int64_t w = (in[2] / 2 - 4) / 2;
    fc1_ = register_module("fc1", nn::Linear(16 * h * w, 120));
    fc2_ = register_module("fc2", nn::Linear(120, 84));
    fc3_ = register_module("fc3", nn::Linear(84, classes));
  }

  torch::Tensor forward(torch::Tensor x) override {
    x = Pool(Activate(act_, conv1_->forward(x)));
    x = Pool(Activate(act_, conv2_->forward(x)));
    x = x.flatten(1);
    x = Activate(act_, fc1_->forward(x));
    x = Activate(act_, fc2_->forward(x));
    return fc3_->forward(x);
  }

 private:
  torch::Tensor Pool(const torch::Tensor& x) const {
    return max_pool_ ? torch::max_pool2d(x, 2) : torch::avg_pool2d(x, 2);
  }

  Activation act_;
  bool max_pool_;
  nn::Conv2d conv1_{nullptr}, conv2_{nullptr};
  nn::Linear fc1_{nullptr}, fc2_{nullptr}, fc3_{nullptr};
};

// ---------------------------------------------------------------- small_cnn

class SmallCnn : public Model {
 public:
  SmallCnn(const std::vector<int64_t>& in, const std::vector<int64_t>& channels, int64_t hidden,
           double dropout, int64_t classes)
      : dropout_(dropout) {
    int64_t c = in[0], h = in[1], w = in[2];
    for (size_t i = 0; i < channels.size(); ++i) {
      convs_.push_back(register_module("conv" + std::to_string(i + 1),
                                       nn::Conv2d(nn::Conv2dOptions(c, channels[i], 3).padding(1))));
      c = channels[i];
      h /= 2;
      w /= 2;
    }
    fc1_ = register_module("fc1", nn::Linear(c * h * w, hidden));
    fc2_ = register_module("fc2", nn::Linear(hidden, classes));
  }

  torch::Tensor forward(torch::Tensor x) override {
    for (auto& conv : convs_) x = torch::max_pool2d(torch::relu(conv->forward(x)), 2);
    x = torch::relu(fc1_->forward(x.flatten(1)));
    x = Dropout(x, dropout_, is_training(), generator_);
    return fc2_->forward(x);
  }

 private:
  double dropout_;
  std::vector<nn::Conv2d> convs_;
  nn::Linear fc1_{nullptr}, fc2_{nullptr};
};

// ---------------------------------------------------------------- resnet_small

// He et al. 2016's basic block: two 3x3 convolutions with batch norm and an
// identity shortcut (a 1x1 projection when the shape changes).
class BasicBlock : public nn::Module {
 public:
  BasicBlock(int64_t in, int64_t out, int64_t stride) {
    conv1_ = register_module(
        "conv1", nn::Conv2d(nn::Conv2dOptions(in, out, 3).stride(stride).padding(1).bias(false)));
    bn1_ = register_module("bn1", nn::BatchNorm2d(out));
    conv2_ = register_module("conv2",
                             nn::Conv2d(nn::Conv2dOptions(out, out, 3).padding(1).bias(false)));
    bn2_ = register_module("bn2", nn::BatchNorm2d(out));
    if (stride != 1 || in != out) {
      proj_ = register_module("proj",
                              nn::Conv2d(nn::Conv2dOptions(in, out, 1).stride(stride).bias(false)));
      proj_bn_ = register_module("proj_bn", nn::BatchNorm2d(out));
    }
  }

  torch::Tensor forward(const torch::Tensor& x) {
    torch::Tensor y = torch::relu(bn1_->forward(conv1_->forward(x)));
    y = bn2_->forward(conv2_->forward(y));
    torch::Tensor shortcut = proj_ ? proj_bn_->forward(proj_->forward(x)) : x;
    return torch::relu(y + shortcut);
  }

 private:
  nn::Conv2d conv1_{nullptr}, conv2_{nullptr}, proj_{nullptr};
  nn::BatchNorm2d bn1_{nullptr}, bn2_{nullptr}, proj_bn_{nullptr};
};

class ResNetSmall : public Model {
 public:
  ResNetSmall(const std::vector<int64_t>& in, const std::vector<int64_t>& widths, int64_t classes) {
    stem_ = register_module(
        "stem", nn::Conv2d(nn::Conv2dOptions(in[0], widths[0], 3).padding(1).bias(false)));
    stem_bn_ = register_module("stem_bn", nn::BatchNorm2d(widths[0]));
    int64_t prev = widths[0];
    for (size_t i = 0; i < widths.size(); ++i) {
      blocks_.push_back(register_module("stage" + std::to_string(i + 1),
                                        std::make_shared<BasicBlock>(prev, widths[i], i == 0 ? 1 : 2)));
      prev = widths[i];
    }
    fc_ = register_module("fc", nn::Linear(prev, classes));
    // He initialisation (fan_out) as in the ResNet paper and torchvision.
    for (auto& m : modules(/*include_self=*/false)) {
      if (auto* conv = m->as<nn::Conv2d>()) {
        nn::init::kaiming_normal_(conv->weight, 0.0, torch::kFanOut, torch::kReLU);
      }
    }
  }

  torch::Tensor forward(torch::Tensor x) override {
    x = torch::relu(stem_bn_->forward(stem_->forward(x)));
    for (auto& block : blocks_) x = block->forward(x);
    x = x.mean({2, 3});
    return fc_->forward(x);
  }

 private:
  nn::Conv2d stem_{nullptr};
  nn::BatchNorm2d stem_bn_{nullptr};
  std::vector<std::shared_ptr<BasicBlock>> blocks_;
  nn::Linear fc_{nullptr};
};

// ---------------------------------------------------------------- char_rnn

// Islet's SimpleRNN(28): an Elman RNN (tanh) over the letters, the last
// hidden state mapped to the next letter's logits.
class CharRnn : public Model {
 public:
  CharRnn(int64_t features, int64_t hidden, int64_t classes) {
    rnn_ = register_module(
        "rnn", nn::RNN(nn::RNNOptions(features, hidden).nonlinearity(torch::kTanh).batch_first(true)));
    fc_ = register_module("fc", nn::Linear(hidden, classes));
  }

  torch::Tensor forward(torch::Tensor x) override {
    auto [out, h_n] = rnn_->forward(x);
    return fc_->forward(h_n[0]);
  }

 private:
  nn::RNN rnn_{nullptr};
  nn::Linear fc_{nullptr};
};

// ---------------------------------------------------------------- specs

void MustAdd(Registry<ModelFactory>& r, ComponentSpec spec, ModelFactory f) {
  Status s = r.Add(std::move(spec), std::move(f));
  if (!s.ok()) DieBecause("registering a built-in model", s);
}

}  // namespace

void AddBuiltinModels(Registry<ModelFactory>& r) {
  MustAdd(r,
          {"model", "mlp",
           "Multi-layer perceptron: the input is flattened, then fully connected hidden layers "
           "with the chosen activation, then a linear output layer. An empty `hidden` list gives "
           "multinomial logistic regression.",
           {Param::IntList("hidden", {200, 200}, "Widths of the hidden layers, input to output.")
                .AtLeast(1),
            Param::String("activation", "relu", "Activation after every hidden layer.")
                .OneOf({"relu", "sigmoid", "tanh"})}},
          [](const ParamSet& p, const ModelContext& ctx) -> StatusOr<ModelPtr> {
            if (Status s = CheckCommon("mlp", ctx); !s.ok()) return s;
            return ModelPtr(std::make_shared<Mlp>(Numel(ctx.input_shape), p.IntList("hidden"),
                                                  ctx.num_classes,
                                                  ParseActivation(p.String("activation"))));
          });

  MustAdd(r,
          {"model", "lenet5",
           "LeNet-5 (LeCun et al. 1998): conv 6@5x5 (padding 2), pool, conv 16@5x5, pool, fully "
           "connected 120, 84, classes. Needs image inputs {C, H, W} with H, W >= 28.",
           {Param::String("activation", "relu",
                          "Activation after every layer but the last (the gradient-inversion "
                          "papers use sigmoid).")
                .OneOf({"relu", "sigmoid"}),
            Param::String("pool", "avg",
                          "Pooling: 'avg' is the 1998 paper's subsampling, 'max' the modern "
                          "variant.")
                .OneOf({"avg", "max"})}},
          [](const ParamSet& p, const ModelContext& ctx) -> StatusOr<ModelPtr> {
            if (Status s = CheckImage("lenet5", ctx, 28, "LeNet-5's 28x28 layout"); !s.ok()) return s;
            return ModelPtr(std::make_shared<LeNet5>(ctx.input_shape, ctx.num_classes,
                                                     ParseActivation(p.String("activation")),
                                                     p.String("pool") == "max"));
          });

  MustAdd(r,
          {"model", "small_cnn",
           "Small CNN: per entry of `channels` a conv 3x3 (padding 1) + relu + 2x2 max pool, then "
           "fully connected `hidden` + relu + dropout, then classes. ~90-92 % on Fashion-MNIST "
           "in 5 epochs.",
           {Param::IntList("channels", {32, 64}, "Output channels of the conv blocks.").AtLeast(1),
            Param::Int("hidden", 128, "Width of the fully connected hidden layer.").AtLeast(1),
            Param::Double("dropout", 0.25,
                          "Dropout probability after the hidden layer, in [0, 1).")
                .AtLeast(0.0)
                .AtMost(1.0)}},
          [](const ParamSet& p, const ModelContext& ctx) -> StatusOr<ModelPtr> {
            const auto& channels = p.IntList("channels");
            if (channels.empty()) {
              return InvalidArgumentError("model 'small_cnn' needs at least one entry in 'channels'");
            }
            const double dropout = p.Double("dropout");
            if (!(dropout < 1.0)) {
              return InvalidArgumentError("model 'small_cnn': 'dropout' must be in [0, 1), got " +
                                          std::to_string(dropout));
            }
            const int64_t min_hw = int64_t{1} << channels.size();
            if (Status s = CheckImage("small_cnn", ctx, min_hw,
                                      "one 2x2 pooling per conv block");
                !s.ok()) {
              return s;
            }
            return ModelPtr(std::make_shared<SmallCnn>(ctx.input_shape, channels, p.Int("hidden"),
                                                       dropout, ctx.num_classes));
          });

  MustAdd(r,
          {"model", "resnet_small",
           "ResNet-8-style network (He et al. 2016): conv 3x3 stem with batch norm, one basic "
           "block per entry of `widths` (stride 2 between stages), global average pooling, a "
           "linear classifier.",
           {Param::IntList("widths", {16, 32, 64},
                           "Channels of the stages; the stem has the first width.")
                .AtLeast(1)}},
          [](const ParamSet& p, const ModelContext& ctx) -> StatusOr<ModelPtr> {
            const auto& widths = p.IntList("widths");
            if (widths.empty()) {
              return InvalidArgumentError("model 'resnet_small' needs at least one entry in 'widths'");
            }
            if (Status s = CheckImage("resnet_small", ctx, 1, "an image"); !s.ok()) return s;
            return ModelPtr(std::make_shared<ResNetSmall>(ctx.input_shape, widths, ctx.num_classes));
          });

  MustAdd(r,
          {"model", "char_rnn",
           "Islet's SimpleRNN(28): an Elman RNN (tanh) over a sequence of one-hot symbols "
           "(input {T, F}, e.g. {3, 28} for the word task); the last hidden state goes through a "
           "linear layer to the classes.",
           {Param::Int("hidden", 28, "Units of the recurrent layer.").AtLeast(1)}},
          [](const ParamSet& p, const ModelContext& ctx) -> StatusOr<ModelPtr> {
            if (Status s = CheckCommon("char_rnn", ctx); !s.ok()) return s;
            if (ctx.input_shape.size() != 2) {
              return InvalidArgumentError(
                  "model 'char_rnn' needs sequence inputs {T, F} (e.g. {3, 28}), got input shape " +
                  ShapeText(ctx.input_shape));
            }
            return ModelPtr(
                std::make_shared<CharRnn>(ctx.input_shape[1], p.Int("hidden"), ctx.num_classes));
          });
}

}  // namespace confml::internal
