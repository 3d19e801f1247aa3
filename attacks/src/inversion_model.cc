// The LeNet variant of the gradient-inversion papers (Zhu et al. 2019, DLG's
// models/vision.py; also used by iDLG and in Geiping et al.'s comparisons):
// three 5x5 convolutions with 12 channels (strides 2, 2, 1, padding 2), a
// sigmoid after each, one linear layer, and every weight and bias drawn
// uniformly from [-0.5, 0.5]. Its smooth activations and large initial
// weights are what make its gradients invertible to ~70-80 dB; the classic
// LeNet-5 with PyTorch's default initialisation is far harder (measured in
// docs/attacks/inversion.md). Registered in ModelRegistry() as "lenet_dlg" by
// RegisterInversionAttacks(), so experiments and the engine can train it.

#include <string>
#include <vector>

#include "confml/attacks/inversion.h"
#include "confml/core/model.h"

namespace confml::attacks {
namespace {

namespace nn = torch::nn;

class LeNetDlg : public Model {
 public:
  LeNetDlg(const std::vector<int64_t>& in, int64_t classes, int64_t channels, bool relu,
           double init_range)
      : relu_(relu) {
    conv1_ = register_module(
        "conv1", nn::Conv2d(nn::Conv2dOptions(in[0], channels, 5).padding(2).stride(2)));
    conv2_ = register_module(
        "conv2", nn::Conv2d(nn::Conv2dOptions(channels, channels, 5).padding(2).stride(2)));
    conv3_ = register_module(
        "conv3", nn::Conv2d(nn::Conv2dOptions(channels, channels, 5).padding(2).stride(1)));
    // A 5x5 convolution with padding 2 and stride 2 maps n to ceil(n / 2).
    const int64_t h = ((in[1] + 1) / 2 + 1) / 2, w = ((in[2] + 1) / 2 + 1) / 2;
    fc_ = register_module("fc", nn::Linear(channels * h * w, classes));
    if (init_range > 0) {
      torch::NoGradGuard no_grad;
      for (auto& p : parameters()) p.uniform_(-init_range, init_range);
    }
  }

  torch::Tensor forward(torch::Tensor x) override {
    x = Act(conv1_->forward(x));
    x = Act(conv2_->forward(x));
    x = Act(conv3_->forward(x));
    return fc_->forward(x.flatten(1));
  }

 private:
  torch::Tensor Act(const torch::Tensor& x) const { return relu_ ? torch::relu(x) : torch::sigmoid(x); }

  bool relu_;
  nn::Conv2d conv1_{nullptr}, conv2_{nullptr}, conv3_{nullptr};
  nn::Linear fc_{nullptr};
};

}  // namespace

Status RegisterInversionModels() {
  static const Status result = [] {
    Status s = ModelRegistry().Add(
        {"model", "lenet_dlg",
         "The LeNet of the gradient-inversion papers (Zhu et al. 2019): three 5x5 convolutions "
         "(strides 2, 2, 1; padding 2) with `channels` channels, each followed by the "
         "activation, then one linear layer; weights and biases uniform in [-init_range, "
         "init_range]. Needs image inputs {C, H, W} with H, W >= 5.",
         {Param::String("activation", "sigmoid", "Activation after each convolution.")
              .OneOf({"sigmoid", "relu"}),
          Param::Int("channels", 12, "Channels of every convolution.").AtLeast(1),
          Param::Double("init_range", 0.5,
                        "Weights and biases uniform in [-init_range, init_range] (DLG: 0.5); 0 "
                        "keeps LibTorch's default initialisation.")
              .AtLeast(0.0)}},
        [](const ParamSet& p, const ModelContext& ctx) -> StatusOr<ModelPtr> {
          const auto& in = ctx.input_shape;
          if (in.size() != 3 || in[0] < 1 || in[1] < 5 || in[2] < 5 || ctx.num_classes < 1) {
            return InvalidArgumentError(
                "model 'lenet_dlg' needs image inputs {C, H, W} with H, W >= 5 and at least one "
                "class");
          }
          return ModelPtr(std::make_shared<LeNetDlg>(in, ctx.num_classes, p.Int("channels"),
                                                     p.String("activation") == "relu",
                                                     p.Double("init_range")));
        });
    return s.code() == StatusCode::kAlreadyExists ? OkStatus() : s;
  }();
  return result;
}

}  // namespace confml::attacks
