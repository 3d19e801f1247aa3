#include "confml/experiments/config.h"

#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>

#include "confml/core/attack.h"
#include "confml/experiments/results.h"
#include "test_util.h"

namespace confml::experiments {
namespace {

constexpr char kConfig[] = R"(experiment:
  name: t
  seed: 7
dataset:
  name: synthetic
  num_samples: 300
model:
  name: mlp
  hidden: [8, 4]
optimizer:
  name: adam
  lr: 1e-2
train:
  epochs: 2
)";

TEST(ConfigTest, FillsDefaults) {
  StatusOr<ExperimentConfig> c = ParseExperimentConfig(kConfig);
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->name(), "t");
  EXPECT_EQ(c->seed(), 7u);
  EXPECT_EQ(c->kind(), "centralized");
  EXPECT_EQ(c->Int("experiment", "threads"), 2);
  EXPECT_EQ(c->String("experiment", "output_dir"), "runs");
  EXPECT_EQ(c->section("model").component, "mlp");
  EXPECT_EQ(c->section("model").params.IntList("hidden"), std::vector<int64_t>({8, 4}));
  EXPECT_EQ(c->section("model").params.String("activation"), "relu");
  EXPECT_DOUBLE_EQ(c->Double("optimizer", "lr"), 0.01);
  EXPECT_DOUBLE_EQ(c->Double("optimizer", "beta2"), 0.999);
  EXPECT_EQ(c->Int("dataset", "num_samples"), 300);
  EXPECT_EQ(c->Int("dataset", "train_limit"), 0);
  EXPECT_EQ(c->Int("train", "epochs"), 2);
  EXPECT_EQ(c->Int("train", "batch_size"), 64);
}

TEST(ConfigTest, ResolvedYamlReloadsEqual) {
  StatusOr<ExperimentConfig> c =
      ParseExperimentConfig(kConfig, {"model.hidden=[]", "train.epochs=3"});
  ASSERT_TRUE(c.ok()) << c.status();
  const std::string yaml = c->ToYaml();
  StatusOr<ExperimentConfig> again = ParseExperimentConfig(yaml);
  ASSERT_TRUE(again.ok()) << again.status() << "\n" << yaml;
  EXPECT_TRUE(*c == *again) << yaml;
  EXPECT_EQ(again->ToYaml().substr(again->ToYaml().find("experiment:")),
            yaml.substr(yaml.find("experiment:")));
  EXPECT_TRUE(again->section("model").params.IntList("hidden").empty());
}

TEST(ConfigTest, OverridesReplaceFileValues) {
  StatusOr<ExperimentConfig> c = ParseExperimentConfig(
      kConfig, {"train.epochs=5", "model.activation=tanh", "experiment.name='007'"});
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->Int("train", "epochs"), 5);
  EXPECT_EQ(c->section("model").params.String("activation"), "tanh");
  EXPECT_EQ(c->name(), "007");  // Quoted: a string, not an integer.
  EXPECT_EQ(c->overrides.size(), 3u);
}

TEST(ConfigTest, OverrideCanSwitchComponent) {
  // The file's hidden: [8, 4] does not fit char_rnn's integer `hidden`.
  StatusOr<ExperimentConfig> c = ParseExperimentConfig(kConfig, {"model.name=char_rnn"}, "x.yaml");
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.status().message(),
            "x.yaml:9: model.hidden: expected integer, got list of integers [8, 4]");
  c = ParseExperimentConfig(kConfig, {"model.name=char_rnn", "model.hidden=5"}, "x.yaml");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->section("model").params.Int("hidden"), 5);
}

TEST(ConfigTest, ErrorsNameFileLineAndKey) {
  struct Case {
    std::vector<std::string> overrides;
    std::string yaml_patch_from, yaml_patch_to;
    std::string message;
  };
  const std::vector<Case> cases = {
      {{},
       "  hidden: [8, 4]",
       "  hiden: [8, 4]",
       "c.yaml:9: model.hiden: unknown key for model 'mlp' (did you mean 'model.hidden'?)"},
      {{},
       "  epochs: 2",
       "  epochs: 0",
       "c.yaml:14: train.epochs: 0 is out of range (expected integer >= 1)"},
      {{},
       "  lr: 1e-2",
       "  lr: fast",
       "c.yaml:12: optimizer.lr: expected number, got string 'fast'"},
      {{"train.epochs=x"}, "", "", "<override>: train.epochs: expected integer, got string 'x'"},
      {{"model.name=mlpp"},
       "",
       "",
       "<override>: model.name: unknown model 'mlpp' (did you mean 'mlp'?); known: char_rnn, "
       "lenet5, lenet_dlg, "
       "mlp, resnet_small, small_cnn"},
      {{"modle.hidden=[1]"}, "", "", "<override>: modle: unknown section (did you mean 'model'?)"},
  };
  for (const Case& k : cases) {
    std::string yaml = kConfig;
    if (!k.yaml_patch_from.empty()) {
      size_t at = yaml.find(k.yaml_patch_from);
      ASSERT_NE(at, std::string::npos);
      yaml.replace(at, k.yaml_patch_from.size(), k.yaml_patch_to);
    }
    StatusOr<ExperimentConfig> c = ParseExperimentConfig(yaml, k.overrides, "c.yaml");
    ASSERT_FALSE(c.ok()) << k.message;
    EXPECT_EQ(c.status().code(), StatusCode::kInvalidArgument);
    EXPECT_EQ(c.status().message(), k.message);
  }
}

TEST(ConfigTest, FlowStyleAndEmptySections) {
  StatusOr<ExperimentConfig> c = ParseExperimentConfig(
      "experiment: {name: f}\ndataset: {name: synthetic}\nmodel: {name: mlp}\n"
      "optimizer: {name: sgd}\ntrain:\n");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->Int("train", "epochs"), 1);
}

TEST(ConfigTest, MissingSectionIsAnError) {
  StatusOr<ExperimentConfig> c = ParseExperimentConfig(
      "experiment: {name: f}\nmodel: {name: mlp}\noptimizer: {name: sgd}\n", {}, "m.yaml");
  ASSERT_FALSE(c.ok());
  EXPECT_NE(c.status().message().find("m.yaml: dataset.name: missing required key"),
            std::string::npos)
      << c.status();
}

TEST(ConfigTest, LoadMissingFileIsNotFound) {
  StatusOr<ExperimentConfig> c = LoadExperimentConfig("/nonexistent/confml.yaml");
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.status().code(), StatusCode::kNotFound);
}

TEST(ConfigTest, ShippedConfigsValidate) {
  for (const char* name : {"fashion_mnist_cnn.yaml", "words_rnn.yaml", "synthetic_mlp.yaml"}) {
    StatusOr<ExperimentConfig> c =
        LoadExperimentConfig(testing::SourceDir() + "/experiments/" + name);
    EXPECT_TRUE(c.ok()) << name << ": " << c.status();
  }
}

TEST(ConfigTest, ReferenceListsEveryKey) {
  const std::string md = ConfigReferenceMarkdown();
  for (const SectionInfo& s : ConfigSchema()) {
    for (const ParamSpec& p : s.keys.params) {
      EXPECT_NE(md.find("`" + s.name + "." + p.name + "`"), std::string::npos) << p.name;
    }
    for (const ComponentSpec& c : s.components) {
      EXPECT_NE(md.find(s.name + " `" + c.name + "`"), std::string::npos) << c.name;
      for (const ParamSpec& p : c.params) {
        EXPECT_NE(md.find("`" + s.name + "." + p.name + "`"), std::string::npos) << p.name;
      }
    }
  }
}

// docs/config-reference.md is generated from the declarations; this keeps it
// from drifting (regenerate: confml config-reference --output=docs/config-reference.md).
TEST(ConfigTest, CommittedReferenceIsUpToDate) {
  if (AttackRegistry().Find("test_observer") != nullptr) {
    GTEST_SKIP() << "a test-only attack is registered in this process";
  }
  EXPECT_EQ(testing::ReadAll(testing::SourceDir() + "/docs/config-reference.md"),
            ConfigReferenceMarkdown())
      << "docs/config-reference.md is stale: regenerate it with "
         "`confml config-reference --output=docs/config-reference.md`";
}

TEST(ResultsFileTest, RoundTrip) {
  testing::TempDir tmp;
  RunResults r;
  r.name = "rt";
  r.seed = 42;
  r.epochs_planned = 3;
  r.confml_version = "0.1.0";
  r.config_yaml = "experiment:\n  name: 'rt'\n";
  r.epochs.push_back({1, 0.5, 0.8, 0.6, 0.75, 1.5});
  r.epochs.push_back({2, 0.4, 0.85, 0.55, std::nan(""), 1.25});
  const std::string path = tmp.path() + "/results.h5";
  ASSERT_TRUE(WriteResultsFile(path, r).ok());
  StatusOr<RunResults> back = ReadResultsFile(path);
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(back->name, "rt");
  EXPECT_EQ(back->seed, 42);
  EXPECT_EQ(back->epochs_planned, 3);
  EXPECT_FALSE(back->complete);
  EXPECT_TRUE(std::isnan(back->final_test_accuracy));
  EXPECT_EQ(back->config_yaml, r.config_yaml);
  ASSERT_EQ(back->epochs.size(), 2u);
  EXPECT_EQ(back->epochs[1].epoch, 2);
  EXPECT_DOUBLE_EQ(back->epochs[1].train_accuracy, 0.85);
  EXPECT_TRUE(std::isnan(back->epochs[1].test_accuracy));
  EXPECT_DOUBLE_EQ(back->epochs[0].seconds, 1.5);
  // No temporary file is left after a successful write.
  int files = 0;
  for (const auto& e : std::filesystem::directory_iterator(tmp.path()))
    files += e.is_regular_file();
  EXPECT_EQ(files, 1);

  r.complete = true;
  r.final_test_accuracy = 0.75;
  ASSERT_TRUE(WriteResultsFile(path, r).ok());
  back = ReadResultsFile(path);
  ASSERT_TRUE(back.ok());
  EXPECT_TRUE(back->complete);
  EXPECT_DOUBLE_EQ(back->final_test_accuracy, 0.75);
}

TEST(ResultsFileTest, MissingAndCorruptFiles) {
  testing::TempDir tmp;
  EXPECT_EQ(ReadResultsFile(tmp.path() + "/none.h5").status().code(), StatusCode::kNotFound);
  const std::string bad = tmp.path() + "/bad.h5";
  { std::ofstream(bad) << "not hdf5"; }
  EXPECT_EQ(ReadResultsFile(bad).status().code(), StatusCode::kDataLoss);
}

}  // namespace
}  // namespace confml::experiments
