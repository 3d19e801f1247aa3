// The "optimizer" components: SGD (momentum, Nesterov, weight decay) and Adam.
#include <cmath>
#include <limits>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "confml/core/trainer.h"

namespace confml {

namespace {

// LibTorch applies every optimizer hyperparameter to float tensors and throws
// inside the first step for one a float cannot hold; the declarations below
// bound them by it, so a config fails at validation naming the key.
constexpr double kFloatMax = std::numeric_limits<float>::max();
// Below the smallest normal float an eps would flush to 0 and Adam divide 0 by 0.
constexpr double kFloatMinNormal = std::numeric_limits<float>::min();

Status CheckOptions(const OptimizerOptions& o) {
  auto bad = [&](const std::string& key, double v, const std::string& range) {
    return InvalidArgumentError("optimizer '" + o.name + "': " + key + " must be " + range +
                                ", got " + FormatParamValue(v));
  };
  if (o.name != "sgd" && o.name != "adam") {
    return InvalidArgumentError("unknown optimizer '" + o.name + "'; known: adam, sgd");
  }
  const std::string kFloatRange = " (the range of a 32-bit float)";
  if (!(o.lr > 0.0 && o.lr <= kFloatMax)) return bad("lr", o.lr, "> 0 and <= 3.4e38" + kFloatRange);
  if (!(o.weight_decay >= 0.0 && o.weight_decay <= kFloatMax)) {
    return bad("weight_decay", o.weight_decay, ">= 0 and <= 3.4e38" + kFloatRange);
  }
  if (o.name == "sgd") {
    if (!(o.momentum >= 0.0 && o.momentum < 1.0)) return bad("momentum", o.momentum, "in [0, 1)");
    if (o.nesterov && o.momentum == 0.0) {
      return InvalidArgumentError("optimizer 'sgd': nesterov needs momentum > 0");
    }
  } else {
    if (!(o.beta1 >= 0.0 && o.beta1 < 1.0)) return bad("beta1", o.beta1, "in [0, 1)");
    if (!(o.beta2 >= 0.0 && o.beta2 < 1.0)) return bad("beta2", o.beta2, "in [0, 1)");
    if (!(o.eps >= kFloatMinNormal && o.eps <= kFloatMax)) {
      return bad("eps", o.eps, ">= 1.2e-38 and <= 3.4e38" + kFloatRange);
    }
  }
  return OkStatus();
}

}  // namespace

const std::vector<ComponentSpec>& OptimizerSpecs() {
  static const std::vector<ComponentSpec> specs = {
      {"optimizer",
       "adam",
       "Adam (Kingma and Ba 2015); weight decay is an L2 term added to the gradient, as in "
       "torch.optim.Adam.",
       {Param::Double("lr", 1e-3, "Learning rate.").GreaterThan(0.0).AtMost(kFloatMax),
        Param::Double("beta1", 0.9, "Decay of the first-moment estimate, in [0, 1).")
            .AtLeast(0.0)
            .AtMost(1.0),
        Param::Double("beta2", 0.999, "Decay of the second-moment estimate, in [0, 1).")
            .AtLeast(0.0)
            .AtMost(1.0),
        Param::Double("eps", 1e-8, "Term added to the denominator for stability.")
            .AtLeast(kFloatMinNormal)
            .AtMost(kFloatMax),
        Param::Double("weight_decay", 0.0, "L2 penalty coefficient.")
            .AtLeast(0.0)
            .AtMost(kFloatMax)}},
      {"optimizer",
       "sgd",
       "Stochastic gradient descent with optional (Nesterov) momentum and L2 weight decay, as "
       "torch.optim.SGD.",
       {Param::Double("lr", 0.01, "Learning rate.").GreaterThan(0.0).AtMost(kFloatMax),
        Param::Double("momentum", 0.0, "Momentum factor, in [0, 1).").AtLeast(0.0).AtMost(1.0),
        Param::Bool("nesterov", false, "Nesterov momentum (needs momentum > 0)."),
        Param::Double("weight_decay", 0.0, "L2 penalty coefficient.")
            .AtLeast(0.0)
            .AtMost(kFloatMax)}},
  };
  return specs;
}

StatusOr<OptimizerOptions> OptimizerFromParams(const std::string& name, const ParamSet& params) {
  const ComponentSpec* spec = nullptr;
  std::vector<std::string> names;
  for (const auto& s : OptimizerSpecs()) {
    names.push_back(s.name);
    if (s.name == name) spec = &s;
  }
  if (spec == nullptr) {
    std::string msg = "unknown optimizer '" + name + "'";
    std::string near = NearestName(name, names);
    if (!near.empty()) msg += " (did you mean '" + near + "'?)";
    return NotFoundError(msg + "; known: adam, sgd");
  }
  std::map<std::string, ParamValue> given(params.values().begin(), params.values().end());
  StatusOr<ParamSet> p = ResolveParams(*spec, given);
  if (!p.ok()) return p.status().WithContext("optimizer '" + name + "'");
  OptimizerOptions o;
  o.name = name;
  o.lr = p->Double("lr");
  o.weight_decay = p->Double("weight_decay");
  if (name == "sgd") {
    o.momentum = p->Double("momentum");
    o.nesterov = p->Bool("nesterov");
  } else {
    o.beta1 = p->Double("beta1");
    o.beta2 = p->Double("beta2");
    o.eps = p->Double("eps");
  }
  if (Status s = CheckOptions(o); !s.ok()) return s;
  return o;
}

StatusOr<std::unique_ptr<torch::optim::Optimizer>> MakeOptimizer(const OptimizerOptions& o,
                                                                 Model& model) {
  if (Status s = CheckOptions(o); !s.ok()) return s;
  try {
    std::unique_ptr<torch::optim::Optimizer> opt;
    if (o.name == "sgd") {
      opt = std::make_unique<torch::optim::SGD>(model.parameters(),
                                                torch::optim::SGDOptions(o.lr)
                                                    .momentum(o.momentum)
                                                    .nesterov(o.nesterov)
                                                    .weight_decay(o.weight_decay));
    } else {
      opt = std::make_unique<torch::optim::Adam>(model.parameters(),
                                                 torch::optim::AdamOptions(o.lr)
                                                     .betas({o.beta1, o.beta2})
                                                     .eps(o.eps)
                                                     .weight_decay(o.weight_decay));
    }
    return opt;
  } catch (const c10::Error& e) {
    return InvalidArgumentError("optimizer '" + o.name + "': " + e.what_without_backtrace());
  }
}

}  // namespace confml
