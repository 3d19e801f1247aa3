// The optimizer components' checks: LibTorch applies every hyperparameter to
// float tensors and throws inside the first step for a value a float cannot
// hold, so the declarations and MakeOptimizer refuse such values up front,
// naming the key.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <limits>
#include <map>
#include <string>

#include "confml/core/model.h"
#include "confml/core/seed.h"
#include "confml/core/trainer.h"

namespace confml {
namespace {

using ::testing::HasSubstr;

StatusOr<OptimizerOptions> FromParams(const std::string& name,
                                      const std::map<std::string, ParamValue>& given) {
  ParamSet p;
  for (const auto& [k, v] : given) p.Set(k, v);
  return OptimizerFromParams(name, p);
}

TEST(OptimizerTest, ValuesOutsideTheFloatRangeNameTheKey) {
  struct Case {
    std::string optimizer, key;
    double value;
  };
  for (const Case& c : {Case{"sgd", "lr", 1e308}, Case{"sgd", "weight_decay", 1e39},
                        Case{"adam", "lr", 3.5e38}, Case{"adam", "eps", 1e-50},
                        Case{"adam", "eps", 1e39}, Case{"adam", "weight_decay", 1e300}}) {
    StatusOr<OptimizerOptions> o = FromParams(c.optimizer, {{c.key, c.value}});
    ASSERT_FALSE(o.ok()) << c.optimizer << " " << c.key;
    EXPECT_EQ(o.status().code(), StatusCode::kInvalidArgument);
    EXPECT_THAT(o.status().message(), HasSubstr(c.key + ": "));
    EXPECT_THAT(o.status().message(), HasSubstr("the range of a 32-bit float"));
  }
  // The largest float itself is still a (useless, but valid) learning rate.
  StatusOr<OptimizerOptions> top =
      FromParams("sgd", {{"lr", static_cast<double>(std::numeric_limits<float>::max())}});
  EXPECT_TRUE(top.ok()) << top.status();
}

TEST(OptimizerTest, SpecsShowTheFloatRange) {
  for (const ComponentSpec& spec : OptimizerSpecs()) {
    for (const char* key : {"lr", "weight_decay"}) {
      const ParamSpec* p = spec.Find(key);
      ASSERT_NE(p, nullptr) << spec.name << "." << key;
      EXPECT_THAT(p->ConstraintText(),
                  HasSubstr("<= 3.4028234663852886e+38, the range of a 32-bit float"));
    }
  }
}

// Options built in code (an attack's own training) bypass the declarations;
// MakeOptimizer checks them the same way instead of letting LibTorch throw.
TEST(OptimizerTest, MakeOptimizerRefusesWhatAFloatCannotHold) {
  StatusOr<ModelPtr> m = CreateModel("mlp", {{"hidden", std::vector<int64_t>{4}}},
                                     {.input_shape = {3}, .num_classes = 2}, Seed(1));
  ASSERT_TRUE(m.ok()) << m.status();
  OptimizerOptions o{.name = "sgd", .lr = 1e308};
  auto opt = MakeOptimizer(o, **m);
  ASSERT_FALSE(opt.ok());
  EXPECT_EQ(opt.status().code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(opt.status().message(), HasSubstr("optimizer 'sgd': lr must be > 0 and <= 3.4e38"));
  EXPECT_THAT(opt.status().message(), HasSubstr("got 1e+308"));
  o.lr = 0.1;
  EXPECT_TRUE(MakeOptimizer(o, **m).ok());
  OptimizerOptions adam{.name = "adam"};
  adam.eps = 1e-50;
  opt = MakeOptimizer(adam, **m);
  ASSERT_FALSE(opt.ok());
  EXPECT_THAT(opt.status().message(), HasSubstr("eps must be >= 1.2e-38"));
}

}  // namespace
}  // namespace confml
