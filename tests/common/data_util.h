// Splitting one dataset into a training and a test set by sample index, as
// the federated and attack test fixtures do with their synthetic blobs or
// Fashion-MNIST images. Header-only; include as "../common/data_util.h"
// (or "../../common/..." from tests/core/ml).
//
//   StatusOr<Dataset> all = MakeSynthetic(options, Seed(7));
//   confml::testing::SplitEvery(*all, 5, &train_, &test_);  // samples 0, 5, 10, ... test
#pragma once

#include <cstdint>
#include <vector>

#include "confml/core/dataset.h"
#include "confml/core/seed.h"
#include "confml/core/status.h"

namespace confml::testing {

// Every `test_every`-th sample (index % test_every == 0) to *test, the others
// to *train, both in index order.
inline void SplitEvery(const Dataset& all, int64_t test_every, Dataset* train, Dataset* test) {
  std::vector<int64_t> tr, te;
  for (int64_t i = 0; i < all.size(); ++i) (i % test_every == 0 ? te : tr).push_back(i);
  *train = all.Subset(tr);
  *test = all.Subset(te);
}

// Samples [0, train_size) to *train and [train_size, end) to *test.
inline void SplitAt(const Dataset& all, int64_t train_size, int64_t end, Dataset* train,
                    Dataset* test) {
  std::vector<int64_t> tr, te;
  for (int64_t i = 0; i < end; ++i) (i < train_size ? tr : te).push_back(i);
  *train = all.Subset(tr);
  *test = all.Subset(te);
}

inline constexpr char kFashionMnistDir[] = "/usr/share/datasets/fashion-mnist";

// Fashion-MNIST's training split cut by StratifiedSubset to `train_limit`
// samples (seed `train_seed`) into *train, and its test split to `test_limit`
// (seed `test_seed`) into *test; a null `test` skips the test split. The
// loader's error (NotFound without the Debian package) as it is.
inline Status SmallFashionMnist(int64_t train_limit, Seed train_seed, int64_t test_limit,
                                Seed test_seed, Dataset* train, Dataset* test) {
  CONFML_ASSIGN_OR_RETURN(Dataset full_train, LoadFashionMnist(kFashionMnistDir, Split::kTrain));
  *train = StratifiedSubset(full_train, train_limit, train_seed);
  if (test == nullptr) return OkStatus();
  CONFML_ASSIGN_OR_RETURN(Dataset full_test, LoadFashionMnist(kFashionMnistDir, Split::kTest));
  *test = StratifiedSubset(full_test, test_limit, test_seed);
  return OkStatus();
}

}  // namespace confml::testing
