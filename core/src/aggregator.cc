// FedAvg and the aggregator registry.
#include "confml/core/aggregator.h"

#include <string>
#include <vector>

namespace confml {

Status ValidateUpdates(const std::vector<ClientUpdate>& updates, size_t* dim) {
  if (updates.empty()) return InvalidArgumentError("no client updates to aggregate");
  const size_t d = updates[0].values.size();
  for (const ClientUpdate& u : updates) {
    if (u.num_samples < 0) {
      return InvalidArgumentError("update of client " + std::to_string(u.client_id) +
                                  " has a negative sample count " + std::to_string(u.num_samples));
    }
    if (u.values.size() != d) {
      return InvalidArgumentError("update of client " + std::to_string(u.client_id) + " has " +
                                  std::to_string(u.values.size()) + " values, but client " +
                                  std::to_string(updates[0].client_id) + "'s has " +
                                  std::to_string(d));
    }
  }
  if (dim != nullptr) *dim = d;
  return OkStatus();
}

Status AggregateFedAvg(const std::vector<ClientUpdate>& updates, bool weighted,
                       std::vector<float>* out) {
  size_t dim = 0;
  CONFML_RETURN_IF_ERROR(ValidateUpdates(updates, &dim));
  double total = 0.0;
  for (const ClientUpdate& u : updates)
    total += weighted ? static_cast<double>(u.num_samples) : 1.0;
  if (total <= 0.0) {
    return InvalidArgumentError("weighted FedAvg over " + std::to_string(updates.size()) +
                                " updates that all have zero samples");
  }
  // Accumulating in double keeps the mean of many float updates accurate; the
  // fixed client order keeps it reproducible.
  std::vector<double> acc(dim, 0.0);
  for (const ClientUpdate& u : updates) {
    const double w = (weighted ? static_cast<double>(u.num_samples) : 1.0) / total;
    const float* v = u.values.data();
    for (size_t i = 0; i < dim; ++i) acc[i] += w * static_cast<double>(v[i]);
  }
  out->resize(dim);
  for (size_t i = 0; i < dim; ++i) (*out)[i] = static_cast<float>(acc[i]);
  return OkStatus();
}

Status FedAvgAggregator::Aggregate(const std::vector<ClientUpdate>& updates,
                                   const AggregationContext& context, std::vector<float>* out) {
  Status s = AggregateFedAvg(updates, weighted_, out);
  if (!s.ok()) return s.WithContext("fedavg, round " + std::to_string(context.round));
  return s;
}

Registry<AggregatorFactory>& AggregatorRegistry() {
  static Registry<AggregatorFactory>* registry = [] {
    auto* r = new Registry<AggregatorFactory>("aggregator");
    Status s =
        r->Add(ComponentSpec{"aggregator",
                             "fedavg",
                             "Federated averaging (McMahan et al. 2017): the mean of the client "
                             "updates, weighted by their local sample counts.",
                             {Param::Bool("weighted", true,
                                          "Weight each update by its client's sample count; false "
                                          "takes the plain mean.")}},
               [](const ParamSet& p) -> StatusOr<AggregatorPtr> {
                 return AggregatorPtr(std::make_shared<FedAvgAggregator>(p.Bool("weighted")));
               });
    (void)s;  // Cannot fail: the registry is new and the kind matches.
    return r;
  }();
  return *registry;
}

StatusOr<AggregatorPtr> CreateAggregator(const std::string& name,
                                         const std::map<std::string, ParamValue>& params) {
  CONFML_ASSIGN_OR_RETURN(const Registry<AggregatorFactory>::Entry* entry,
                          AggregatorRegistry().Lookup(name));
  StatusOr<ParamSet> resolved = ResolveParams(entry->spec, params);
  if (!resolved.ok()) return resolved.status().WithContext("aggregator '" + name + "'");
  StatusOr<AggregatorPtr> agg = entry->factory(*resolved);
  if (!agg.ok()) return agg.status().WithContext("aggregator '" + name + "'");
  if (*agg == nullptr) return InternalError("aggregator '" + name + "': factory returned null");
  return agg;
}

}  // namespace confml
