// The few Fashion-MNIST images the inversion suites attack: 40 training
// images (stratified, Seed(7)) and 500 test images (Seed(8)), loaded once per
// suite, with the built-in attacks registered. Derive a suite from it:
//
//   class InversionAttackTest : public SmallFashionMnistSuite { ... train_ ... };
#pragma once

#include <gtest/gtest.h>

#include "../common/data_util.h"
#include "confml/attacks/attacks.h"
#include "confml/core/dataset.h"

namespace confml::attacks {

class SmallFashionMnistSuite : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    train_ = new Dataset;
    test_ = new Dataset;
    Status s = testing::SmallFashionMnist(40, Seed(7), 500, Seed(8), train_, test_);
    ASSERT_TRUE(s.ok()) << s;
    ASSERT_TRUE(RegisterBuiltinAttacks().ok());
  }
  static void TearDownTestSuite() {
    delete train_;
    delete test_;
    train_ = test_ = nullptr;
  }

  static inline Dataset* train_ = nullptr;
  static inline Dataset* test_ = nullptr;
};

}  // namespace confml::attacks
