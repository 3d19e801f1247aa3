#include "confml/core/params.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>

namespace confml {
namespace {

ComponentSpec MlpSpec() {
  return ComponentSpec{
      "model",
      "mlp",
      "Multi-layer perceptron.",
      {Param::IntList("hidden", {200, 200}, "Widths of the hidden layers.").AtLeast(1),
       Param::String("activation", "relu", "Hidden activation.").OneOf({"relu", "sigmoid"}),
       Param::Double("dropout", 0.0, "Dropout probability.").AtLeast(0).AtMost(0.9),
       Param::Double("lr", 0.1, "Learning rate.").GreaterThan(0),
       Param::Bool("bias", true, "Use biases."),
       Param::Int("depth", 2, "Depth.").AtLeast(1).AtMost(10),
       Param::DoubleList("scales", {}, "Scales."),
       Param::StringList("tags", {"a"}, "Tags.").OneOf({"a", "b"})}};
}

TEST(ParamsTest, ResolveFillsDefaults) {
  StatusOr<ParamSet> p = ResolveParams(MlpSpec(), {{"hidden", std::vector<int64_t>{64}}});
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_EQ(p->IntList("hidden"), std::vector<int64_t>({64}));
  EXPECT_EQ(p->String("activation"), "relu");
  EXPECT_DOUBLE_EQ(p->Double("lr"), 0.1);
  EXPECT_TRUE(p->Bool("bias"));
  EXPECT_EQ(p->Int("depth"), 2);
  EXPECT_TRUE(p->DoubleList("scales").empty());
  EXPECT_EQ(p->StringList("tags"), std::vector<std::string>({"a"}));
  EXPECT_EQ(p->values().size(), MlpSpec().params.size());
}

TEST(ParamsTest, UnknownKeyNamesNearest) {
  StatusOr<ParamSet> p = ResolveParams(MlpSpec(), {{"hiden", std::vector<int64_t>{64}}});
  ASSERT_FALSE(p.ok());
  EXPECT_EQ(p.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(p.status().message().find("unknown parameter 'hiden'"), std::string::npos);
  EXPECT_NE(p.status().message().find("did you mean 'hidden'"), std::string::npos);
}

TEST(ParamsTest, MissingRequired) {
  ComponentSpec spec{"dataset", "d", "", {Param::String("dir", "", "Directory.").Required()}};
  StatusOr<ParamSet> p = ResolveParams(spec, {});
  ASSERT_FALSE(p.ok());
  EXPECT_NE(p.status().message().find("missing required parameter 'dir'"), std::string::npos);
  EXPECT_TRUE(ResolveParams(spec, {{"dir", std::string("/x")}}).ok());
}

TEST(ParamsTest, IntegerWidensToDoubleButNotBack) {
  ComponentSpec spec = MlpSpec();
  StatusOr<ParamValue> d = CoerceParam(*spec.Find("lr"), int64_t{1});
  ASSERT_TRUE(d.ok());
  EXPECT_TRUE(std::holds_alternative<double>(*d));
  StatusOr<ParamValue> i = CoerceParam(*spec.Find("depth"), 2.5);
  ASSERT_FALSE(i.ok());
  EXPECT_NE(i.status().message().find("expected integer"), std::string::npos);
  StatusOr<ParamValue> l = CoerceParam(*spec.Find("scales"), std::vector<int64_t>{1, 2});
  ASSERT_TRUE(l.ok());
  EXPECT_EQ(std::get<std::vector<double>>(*l), std::vector<double>({1.0, 2.0}));
}

TEST(ParamsTest, ScalarIsNotAList) {
  ComponentSpec spec = MlpSpec();
  EXPECT_FALSE(CoerceParam(*spec.Find("hidden"), int64_t{3}).ok());
  EXPECT_FALSE(CoerceParam(*spec.Find("depth"), std::vector<int64_t>{3}).ok());
  EXPECT_FALSE(CoerceParam(*spec.Find("bias"), int64_t{1}).ok());
  EXPECT_FALSE(CoerceParam(*spec.Find("activation"), int64_t{1}).ok());
}

TEST(ParamsTest, EmptyListFitsAnyListType) {
  ComponentSpec spec = MlpSpec();
  StatusOr<ParamValue> v = CoerceParam(*spec.Find("tags"), std::vector<int64_t>{});
  ASSERT_TRUE(v.ok());
  EXPECT_TRUE(std::get<std::vector<std::string>>(*v).empty());
}

TEST(ParamsTest, BoundsAreChecked) {
  ComponentSpec spec = MlpSpec();
  EXPECT_FALSE(CoerceParam(*spec.Find("lr"), 0.0).ok());  // exclusive
  EXPECT_TRUE(CoerceParam(*spec.Find("lr"), 1e-9).ok());
  EXPECT_TRUE(CoerceParam(*spec.Find("dropout"), 0.0).ok());  // inclusive
  EXPECT_TRUE(CoerceParam(*spec.Find("dropout"), 0.9).ok());
  EXPECT_FALSE(CoerceParam(*spec.Find("dropout"), 0.95).ok());
  EXPECT_FALSE(CoerceParam(*spec.Find("dropout"), std::nan("")).ok());
  // Infinity is refused even where no upper bound is declared.
  StatusOr<ParamValue> inf = CoerceParam(*spec.Find("lr"), std::numeric_limits<double>::infinity());
  ASSERT_FALSE(inf.ok());
  EXPECT_NE(inf.status().message().find("is out of range"), std::string::npos) << inf.status();
  EXPECT_FALSE(CoerceParam(*spec.Find("depth"), int64_t{0}).ok());
  EXPECT_FALSE(CoerceParam(*spec.Find("depth"), int64_t{11}).ok());
  StatusOr<ParamValue> bad = CoerceParam(*spec.Find("hidden"), std::vector<int64_t>{4, 0});
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("out of range"), std::string::npos);
  EXPECT_NE(bad.status().message().find(">= 1"), std::string::npos);
}

TEST(ParamsTest, ChoicesAreChecked) {
  ComponentSpec spec = MlpSpec();
  StatusOr<ParamValue> v = CoerceParam(*spec.Find("activation"), std::string("sigmod"));
  ASSERT_FALSE(v.ok());
  EXPECT_NE(v.status().message().find("did you mean 'sigmoid'"), std::string::npos);
  EXPECT_FALSE(CoerceParam(*spec.Find("tags"), std::vector<std::string>{"a", "c"}).ok());
}

TEST(ParamsTest, ConstraintText) {
  ComponentSpec spec = MlpSpec();
  EXPECT_EQ(spec.Find("depth")->ConstraintText(), "integer >= 1 and <= 10");
  EXPECT_EQ(spec.Find("lr")->ConstraintText(), "number > 0");
  EXPECT_EQ(spec.Find("hidden")->ConstraintText(), "list of integers, each >= 1");
  EXPECT_EQ(spec.Find("activation")->ConstraintText(), "string, one of 'relu', 'sigmoid'");
  EXPECT_EQ(spec.Find("dropout")->ConstraintText(), "number >= 0 and <= 0.9");
}

// A bound of +-FLT_MAX marks a parameter that LibTorch turns into a float:
// the constraint says so, and a value past it is refused naming the key.
TEST(ParamsTest, FloatRangeBound) {
  constexpr double kFloatMax = std::numeric_limits<float>::max();
  ParamSpec lr = Param::Double("lr", 0.1, "Learning rate.").GreaterThan(0).AtMost(kFloatMax);
  EXPECT_EQ(lr.ConstraintText(),
            "number > 0 and <= 3.4028234663852886e+38, the range of a 32-bit float");
  ParamSpec any = Param::DoubleList("f", {}, "Factors.").AtLeast(-kFloatMax).AtMost(kFloatMax);
  EXPECT_EQ(any.ConstraintText(),
            "list of numbers, each >= -3.4028234663852886e+38 and <= 3.4028234663852886e+38, the "
            "range of a 32-bit float");
  StatusOr<ParamValue> v = CoerceParam(lr, 1e308);
  ASSERT_FALSE(v.ok());
  EXPECT_EQ(v.status().message(),
            "lr: 1e+308 is out of range (expected number > 0 and <= 3.4028234663852886e+38, the "
            "range of a 32-bit float)");
  EXPECT_TRUE(CoerceParam(lr, kFloatMax).ok());
  EXPECT_FALSE(CoerceParam(any, std::vector<double>{1.0, -1e39}).ok());
  // Other upper bounds read as before.
  EXPECT_EQ(Param::Double("d", 0.5, "").AtMost(1.0).ConstraintText(), "number <= 1");
}

TEST(ParamsTest, FormatReadsLikeYaml) {
  EXPECT_EQ(FormatParamValue(true), "true");
  EXPECT_EQ(FormatParamValue(int64_t{-3}), "-3");
  EXPECT_EQ(FormatParamValue(0.001), "0.001");
  EXPECT_EQ(FormatParamValue(2.0), "2.0");
  EXPECT_EQ(FormatParamValue(std::numeric_limits<double>::infinity()), ".inf");
  EXPECT_EQ(FormatParamValue(std::string("it's")), "'it''s'");
  EXPECT_EQ(FormatParamValue(std::vector<int64_t>{1, 2}), "[1, 2]");
  EXPECT_EQ(FormatParamValue(std::vector<double>{0.5}), "[0.5]");
  EXPECT_EQ(FormatParamValue(std::vector<std::string>{"a", "b"}), "['a', 'b']");
  EXPECT_EQ(FormatParamValue(std::vector<int64_t>{}), "[]");
}

TEST(ParamsTest, NearestName) {
  std::vector<std::string> names = {"hidden", "activation", "lr", "batch_size"};
  EXPECT_EQ(NearestName("hiden", names), "hidden");
  EXPECT_EQ(NearestName("hdiden", names), "hidden");  // transposition
  EXPECT_EQ(NearestName("Hidden", names), "hidden");
  EXPECT_EQ(NearestName("batchsize", names), "batch_size");
  EXPECT_EQ(NearestName("activ", names), "activation");  // prefix
  EXPECT_EQ(NearestName("zzzzzz", names), "");
  EXPECT_EQ(NearestName("lx", names), "lr");
  EXPECT_EQ(NearestName("xy", names), "");
  EXPECT_EQ(NearestName("x", {}), "");
}

TEST(ParamsTest, ParamSetGetterOnUndeclaredNameDies) {
  ParamSet p;
  p.Set("a", int64_t{1});
  EXPECT_TRUE(p.Has("a"));
  EXPECT_FALSE(p.Has("b"));
  EXPECT_DEATH(p.Int("b"), "not declared");
  EXPECT_DEATH(p.Double("a"), "wrong type");
}

}  // namespace
}  // namespace confml
