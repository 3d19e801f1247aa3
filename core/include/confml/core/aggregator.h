// confml/core/aggregator.h: federated aggregation rules (no LibTorch).
//
// The math is a set of pure functions over flat float vectors (Flower's
// aggregate.py pattern), each testable alone; `Aggregator` is the thin,
// pluggable strategy the federated engine calls once per round. Robust rules
// (median, Krum, trimmed mean, ...) and Python classes register more
// aggregators in AggregatorRegistry() under kind "aggregator".
//
//   std::vector<ClientUpdate> updates = ...;       // one per admitted client
//   std::vector<float> mean;
//   Status s = AggregateFedAvg(updates, /*weighted=*/true, &mean);
//
//   StatusOr<AggregatorPtr> agg = CreateAggregator("fedavg", {});
//   s = (*agg)->Aggregate(updates, AggregationContext{.round = 3}, &mean);
//
// What an update holds: the client's model delta, i.e. its flat state after
// local training minus the global flat state it started from (FlatState in
// model.h). The engine adds the aggregate to the global state. Deltas rather
// than models make clipping and sign-flip style rules natural; for a
// weighted mean both views give the same global model.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "confml/core/params.h"
#include "confml/core/registry.h"
#include "confml/core/seed.h"
#include "confml/core/status.h"

namespace confml {

struct ClientUpdate {
  int64_t client_id = 0;
  // Local training samples behind the update: FedAvg's weight. >= 0.
  int64_t num_samples = 0;
  // Flat model delta (client state - global state), all updates the same size.
  std::vector<float> values;
};

// InvalidArgument for no updates, a negative sample count, or updates of
// different sizes (naming the first offending client). On success *dim is
// the common size.
Status ValidateUpdates(const std::vector<ClientUpdate>& updates, size_t* dim);

// Mean of the updates, weighted by num_samples when `weighted` (McMahan et
// al. 2017, FedAvg) and unweighted otherwise. Sums in double in the order
// given, so equal inputs in equal order give bitwise equal outputs.
// InvalidArgument (see ValidateUpdates) or when weighted and every client
// has zero samples. Non-finite values propagate: detecting them is the job
// of robust aggregators.
Status AggregateFedAvg(const std::vector<ClientUpdate>& updates, bool weighted,
                       std::vector<float>* out);

// What an aggregator did with the round's updates, for the results: which
// clients it used and which it rejected, and why (e.g. "non-finite value at
// index 17", "not among the 3 Krum selections").
struct AggregationReport {
  std::vector<int64_t> selected_clients;
  std::vector<std::pair<int64_t, std::string>> rejected;  // client id, reason
};

// What an aggregator may know about the round beyond the updates.
struct AggregationContext {
  int64_t round = 0;                           // 1-based.
  const std::vector<float>* global = nullptr;  // Global state before the round; may be null.
  Seed seed{0};                                // For randomised rules: derived per round.
  // The runtime's own update, trained from `global` on its root dataset
  // (FLTrust). Set only when the aggregator's wants_server_update() is true.
  const std::vector<float>* server_update = nullptr;
  // Optional out-parameter; an aggregator that selects or rejects clients
  // fills it. May be null.
  AggregationReport* report = nullptr;
};

// A pluggable aggregation rule. The engine calls it from one thread, once per
// round, with the round's admitted updates in a fixed order (ascending client
// id). Implementations need not be thread-safe. State that must survive a
// resume (e.g. momentum of centered clipping) goes through SaveState and
// LoadState, which the engine writes into its checkpoints.
class Aggregator {
 public:
  virtual ~Aggregator() = default;

  virtual std::string name() const = 0;
  // Name and parameters, e.g. "fedavg weighted=true". Enters the federated
  // engine's config hash, so a checkpoint is not resumed under other
  // aggregation parameters.
  virtual std::string config_text() const { return name(); }
  // True when the rule needs AggregationContext::server_update (FLTrust):
  // the engine then trains the global model on its root dataset each round.
  virtual bool wants_server_update() const { return false; }
  // Writes the aggregated delta to *out (resized to the update size).
  virtual Status Aggregate(const std::vector<ClientUpdate>& updates,
                           const AggregationContext& context, std::vector<float>* out) = 0;

  // Opaque state for checkpoints; stateless rules keep the defaults.
  virtual std::vector<uint8_t> SaveState() const { return {}; }
  virtual Status LoadState(const std::vector<uint8_t>& state) {
    if (!state.empty()) {
      return DataLossError("aggregator '" + name() + "' is stateless but the checkpoint holds " +
                           std::to_string(state.size()) + " bytes of state for it");
    }
    return OkStatus();
  }
};
// shared_ptr so that Python-defined aggregators (pybind11 holders) fit too.
using AggregatorPtr = std::shared_ptr<Aggregator>;

// FedAvg as an Aggregator. Parameters: weighted (bool, default true).
class FedAvgAggregator : public Aggregator {
 public:
  explicit FedAvgAggregator(bool weighted = true) : weighted_(weighted) {}
  std::string name() const override { return "fedavg"; }
  std::string config_text() const override {
    return weighted_ ? "fedavg weighted=true" : "fedavg weighted=false";
  }
  Status Aggregate(const std::vector<ClientUpdate>& updates, const AggregationContext& context,
                   std::vector<float>* out) override;

 private:
  bool weighted_;
};

// Registered aggregators. Built-in: fedavg.
using AggregatorFactory = std::function<StatusOr<AggregatorPtr>(const ParamSet&)>;
Registry<AggregatorFactory>& AggregatorRegistry();

// Looks up `name`, resolves `params` against its spec and builds it.
// NotFound for an unknown name (naming the nearest), InvalidArgument for bad
// parameters.
StatusOr<AggregatorPtr> CreateAggregator(const std::string& name,
                                         const std::map<std::string, ParamValue>& params);

}  // namespace confml
