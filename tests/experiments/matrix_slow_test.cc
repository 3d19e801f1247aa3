// The flagship matrix at size tiny: every cell runs, the table has every row
// and column with numbers, and the acceptance's directions hold (issue 5):
// code attacks succeed without a TEE or policy and fall to the blind guess
// under attestation; data poisoning passes attestation; leaks succeed on
// `none` and fail in attested realms. Directions only, never fixed numbers.
#include <gtest/gtest.h>

#include <cmath>
#include <string>

#include "confml/experiments/config.h"
#include "confml/experiments/matrix.h"
#include "test_util.h"

namespace confml::experiments {
namespace {

constexpr size_t kNone = 0, kTokens = 1, kPolicy = 2, kRobust = 3, kDp = 4;

// The tiny matrix runs once (about a minute of CPU); every check reads it.
MatrixResult* result_ = nullptr;

// The row whose label starts with `prefix`.
size_t Row(const std::string& prefix) {
  for (size_t i = 0; i < result_->rows.size(); ++i) {
    if (result_->rows[i].rfind(prefix, 0) == 0) return i;
  }
  ADD_FAILURE() << "no row " << prefix;
  return 0;
}

const MatrixCell& At(const std::string& row, size_t col) { return result_->at(Row(row), col); }

void CheckTableHasEveryRowAndColumnWithNumbers() {
  ASSERT_NE(result_, nullptr);
  ASSERT_EQ(result_->columns.size(), 5u);
  ASSERT_EQ(result_->cells.size(), result_->rows.size() * result_->columns.size());
  const std::string md = MatrixMarkdown(*result_);
  for (const std::string& r : result_->rows) EXPECT_NE(md.find("| " + r + " ("), std::string::npos);
  for (const std::string& c : result_->columns) EXPECT_NE(md.find(" " + c + " |"), std::string::npos);
  for (const MatrixCell& c : result_->cells) {
    EXPECT_FALSE(std::isnan(c.success)) << c.row << " x " << c.column;
    EXPECT_FALSE(std::isnan(c.utility)) << c.row << " x " << c.column;
    EXPECT_GT(c.wall_seconds, 0.0);
    EXPECT_EQ(c.tee_seconds > 0.0, c.column != result_->columns[kNone]) << c.row << " x " << c.column;
  }
}

void CheckCodeAttacksFallToTheBlindGuessUnderPolicy() {
  ASSERT_NE(result_, nullptr);
  for (const char* row : {"inversion by a malicious runtime", "property inference",
                          "membership inference"}) {
    for (size_t col : {kPolicy, kRobust, kDp}) {
      const MatrixCell& c = At(row, col);
      EXPECT_FALSE(c.received_input) << row << " x " << c.column;
      EXPECT_NEAR(c.success, c.blind_guess, 1e-9) << row << " x " << c.column;
      EXPECT_GT(c.refusals, 0) << row << " x " << c.column;
    }
    EXPECT_TRUE(At(row, kNone).received_input) << row;
    EXPECT_TRUE(At(row, kTokens).received_input) << row;  // no policy: admitted
  }
  const MatrixCell& inv_none = At("inversion by a malicious runtime", kNone);
  EXPECT_GT(inv_none.success, At("inversion by a malicious runtime", kPolicy).success + 5.0)
      << "PSNR (dB) without a TEE should be far above the blind guess";
}

void CheckCuriousHostSeesOnlyCiphertextInRealms() {
  ASSERT_NE(result_, nullptr);
  const MatrixCell& none = At("inversion by a curious host", kNone);
  EXPECT_TRUE(none.received_input);
  for (size_t col : {kTokens, kPolicy}) {
    const MatrixCell& c = At("inversion by a curious host", col);
    EXPECT_FALSE(c.received_input) << c.column;
    EXPECT_LT(c.success, none.success - 5.0) << c.column;
  }
}

void CheckDataPoisoningPassesAttestationModelPoisoningDoesNot() {
  ASSERT_NE(result_, nullptr);
  const MatrixCell& data_none = At("data poisoning", kNone);
  const MatrixCell& data_policy = At("data poisoning", kPolicy);
  EXPECT_TRUE(data_policy.received_input) << "an honest-code device is admitted";
  EXPECT_EQ(data_policy.refusals, 0);
  EXPECT_GE(data_policy.success, data_none.success - 0.02) << "policy must not reduce it";
  const MatrixCell& model_none = At("model poisoning", kNone);
  const MatrixCell& model_policy = At("model poisoning", kPolicy);
  EXPECT_TRUE(model_none.received_input);
  EXPECT_FALSE(model_policy.received_input);
  EXPECT_GT(model_policy.refusals, 0);
  EXPECT_LT(model_policy.success, model_none.success) << "test error falls when refused";
}

void CheckLeaksSucceedWithoutTeeAndFailInAttestedRealms() {
  ASSERT_NE(result_, nullptr);
  const MatrixCell& model_none = At("model leak", kNone);
  EXPECT_EQ(model_none.success, 1.0);
  for (size_t col : {kTokens, kPolicy}) {
    const MatrixCell& c = At("model leak", col);
    EXPECT_FALSE(c.received_input) << c.column;
    EXPECT_LT(c.success, 0.9) << c.column;
    EXPECT_NEAR(c.success, c.blind_guess, 1e-9) << c.column;
  }
  EXPECT_EQ(At("data leak", kNone).success, 1.0);
  EXPECT_EQ(At("data leak", kTokens).success, 1.0) << "no policy: the logger is admitted";
  EXPECT_EQ(At("data leak", kPolicy).success, 0.0);
}


// One test, so that ctest (one process per test) runs the matrix once.
TEST(TinyMatrix, EveryCellAndTheAcceptanceDirections) {
  StatusOr<ExperimentConfig> c = LoadExperimentConfig(
      testing::SourceDir() + "/experiments/confidential_matrix.yaml", {"matrix.size=tiny"});
  ASSERT_TRUE(c.ok()) << c.status().message();
  StatusOr<MatrixResult> m = RunMatrix(*c);
  ASSERT_TRUE(m.ok()) << m.status().message();
  MatrixResult result = std::move(*m);
  result_ = &result;
  {
    SCOPED_TRACE("TableHasEveryRowAndColumnWithNumbers");
    CheckTableHasEveryRowAndColumnWithNumbers();
  }
  {
    SCOPED_TRACE("CodeAttacksFallToTheBlindGuessUnderPolicy");
    CheckCodeAttacksFallToTheBlindGuessUnderPolicy();
  }
  {
    SCOPED_TRACE("CuriousHostSeesOnlyCiphertextInRealms");
    CheckCuriousHostSeesOnlyCiphertextInRealms();
  }
  {
    SCOPED_TRACE("DataPoisoningPassesAttestationModelPoisoningDoesNot");
    CheckDataPoisoningPassesAttestationModelPoisoningDoesNot();
  }
  {
    SCOPED_TRACE("LeaksSucceedWithoutTeeAndFailInAttestedRealms");
    CheckLeaksSucceedWithoutTeeAndFailInAttestedRealms();
  }
  result_ = nullptr;
}

}  // namespace
}  // namespace confml::experiments
