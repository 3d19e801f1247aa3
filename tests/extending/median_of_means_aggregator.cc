// An aggregator in one file (docs/extending.md): median of means. The round's
// updates are dealt round-robin (in the engine's fixed client order) into
// `groups` groups; each group is averaged and the coordinate-wise median of
// the group means is the result, so a Byzantine update spoils at most its own
// group (Chen, Su, Xu 2017 use the geometric median of means; this is the
// coordinate-wise variant). Registered at static initialisation; a config
// then names it: aggregator: {name: median_of_means, groups: 3}.
#include <algorithm>
#include <memory>
#include <string>
#include <vector>

#include "confml/core/aggregator.h"

namespace confml::examples {
namespace {

// Pure kernel, testable alone (Flower's aggregate.py style).
Status MedianOfMeans(const std::vector<ClientUpdate>& updates, int64_t groups,
                     std::vector<float>* out) {
  size_t dim = 0;
  CONFML_RETURN_IF_ERROR(ValidateUpdates(updates, &dim));
  const int64_t n = static_cast<int64_t>(updates.size());
  if (groups > n) {
    return InvalidArgumentError("median_of_means: " + std::to_string(groups) +
                                " groups need at "
                                "least as many updates; got " +
                                std::to_string(n));
  }
  std::vector<std::vector<double>> means(groups, std::vector<double>(dim, 0.0));
  std::vector<int64_t> sizes(groups, 0);
  for (int64_t i = 0; i < n; ++i) {
    const int64_t g = i % groups;
    for (size_t k = 0; k < dim; ++k) means[g][k] += updates[i].values[k];
    ++sizes[g];
  }
  out->assign(dim, 0.0f);
  std::vector<double> column(groups);
  for (size_t k = 0; k < dim; ++k) {
    for (int64_t g = 0; g < groups; ++g) column[g] = means[g][k] / sizes[g];
    std::sort(column.begin(), column.end());
    const double median =
        groups % 2 == 1 ? column[groups / 2] : 0.5 * (column[groups / 2 - 1] + column[groups / 2]);
    (*out)[k] = static_cast<float>(median);
  }
  return OkStatus();
}

class MedianOfMeansAggregator : public Aggregator {
 public:
  explicit MedianOfMeansAggregator(int64_t groups) : groups_(groups) {}
  std::string name() const override { return "median_of_means"; }
  // Enters the checkpoint's config hash: a resume under other groups fails.
  std::string config_text() const override {
    return "median_of_means groups=" + std::to_string(groups_);
  }
  Status Aggregate(const std::vector<ClientUpdate>& updates, const AggregationContext&,
                   std::vector<float>* out) override {
    return MedianOfMeans(updates, groups_, out);
  }

 private:
  int64_t groups_;
};

const bool kRegistered = [] {
  Status s = AggregatorRegistry().Add(
      ComponentSpec{"aggregator",
                    "median_of_means",
                    "Coordinate-wise median of the means of `groups` round-robin groups of "
                    "updates.",
                    {Param::Int("groups", 3, "Number of groups (at most the updates per round).")
                         .AtLeast(1)}},
      [](const ParamSet& p) -> StatusOr<AggregatorPtr> {
        return AggregatorPtr(std::make_shared<MedianOfMeansAggregator>(p.Int("groups")));
      });
  return s.ok();
}();

}  // namespace

bool MedianOfMeansRegistered() { return kRegistered; }

}  // namespace confml::examples
