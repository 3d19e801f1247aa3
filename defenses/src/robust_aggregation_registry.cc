// The robust kernels as Aggregators, registered with their parameters.
#include <cstring>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "confml/defenses/robust_aggregation.h"

namespace confml::defenses {
namespace {

using Kernel = std::function<Status(const std::vector<ClientUpdate>&, const AggregationContext&,
                                    std::vector<float>*)>;

// "krum f=2": the rule and its resolved parameters, sorted by name, so that
// a checkpoint is never resumed under other parameters.
std::string ConfigText(const std::string& name, const ParamSet& params) {
  std::string text = name;
  for (const auto& [key, value] : params.values())
    text += " " + key + "=" + FormatParamValue(value);
  return text;
}

// A stateless rule: a kernel plus its name and parameters.
class KernelAggregator : public Aggregator {
 public:
  KernelAggregator(std::string name, std::string config, Kernel kernel, bool wants_server = false)
      : name_(std::move(name)),
        config_(std::move(config)),
        kernel_(std::move(kernel)),
        wants_server_(wants_server) {}
  std::string name() const override { return name_; }
  std::string config_text() const override { return config_; }
  bool wants_server_update() const override { return wants_server_; }
  Status Aggregate(const std::vector<ClientUpdate>& updates, const AggregationContext& context,
                   std::vector<float>* out) override {
    Status s = kernel_(updates, context, out);
    if (!s.ok()) return s.WithContext(name_ + ", round " + std::to_string(context.round));
    return s;
  }

 private:
  std::string name_;
  std::string config_;
  Kernel kernel_;
  bool wants_server_;
};

// Centered clipping keeps its center v_{t-1} across rounds; it is saved as
// "CCLP", version (u32), count (u64), floats, all little-endian as in memory.
class CenteredClippingAggregator : public Aggregator {
 public:
  CenteredClippingAggregator(double tau, int64_t iterations, std::string config)
      : tau_(tau), iterations_(iterations), config_(std::move(config)) {}
  std::string name() const override { return "centered_clipping"; }
  std::string config_text() const override { return config_; }
  Status Aggregate(const std::vector<ClientUpdate>& updates, const AggregationContext& context,
                   std::vector<float>* out) override {
    // Work on a copy so that a failed round leaves the state untouched.
    std::vector<float> center = center_;
    Status s = AggregateCenteredClipping(updates, tau_, iterations_, &center, out, context.report);
    if (!s.ok()) return s.WithContext("centered_clipping, round " + std::to_string(context.round));
    center_ = std::move(center);
    return OkStatus();
  }
  std::vector<uint8_t> SaveState() const override {
    std::vector<uint8_t> bytes(kHeader + center_.size() * sizeof(float));
    const uint32_t version = kVersion;
    const uint64_t count = center_.size();
    std::memcpy(bytes.data(), kMagic, 4);
    std::memcpy(bytes.data() + 4, &version, 4);
    std::memcpy(bytes.data() + 8, &count, 8);
    if (!center_.empty())
      std::memcpy(bytes.data() + kHeader, center_.data(), center_.size() * sizeof(float));
    return bytes;
  }
  Status LoadState(const std::vector<uint8_t>& state) override {
    if (state.empty()) {  // A fresh start: the center begins at zero.
      center_.clear();
      return OkStatus();
    }
    if (state.size() < kHeader || std::memcmp(state.data(), kMagic, 4) != 0) {
      return DataLossError("centered_clipping state of " + std::to_string(state.size()) +
                           " bytes does not start with the 'CCLP' header");
    }
    uint32_t version = 0;
    uint64_t count = 0;
    std::memcpy(&version, state.data() + 4, 4);
    std::memcpy(&count, state.data() + 8, 8);
    if (version != kVersion) {
      return DataLossError("centered_clipping state has version " + std::to_string(version) +
                           ", expected " + std::to_string(kVersion));
    }
    if ((state.size() - kHeader) / sizeof(float) != count ||
        (state.size() - kHeader) % sizeof(float) != 0) {
      return DataLossError("centered_clipping state announces " + std::to_string(count) +
                           " floats but holds " + std::to_string(state.size() - kHeader) +
                           " bytes");
    }
    center_.resize(count);
    if (count > 0) std::memcpy(center_.data(), state.data() + kHeader, count * sizeof(float));
    return OkStatus();
  }

 private:
  static constexpr char kMagic[4] = {'C', 'C', 'L', 'P'};
  static constexpr uint32_t kVersion = 1;
  static constexpr size_t kHeader = 16;
  double tau_;
  int64_t iterations_;
  std::string config_;
  std::vector<float> center_;
};

using Factory = AggregatorFactory;

std::vector<std::pair<ComponentSpec, Factory>> Builtins() {
  std::vector<std::pair<ComponentSpec, Factory>> v;
  auto simple = [&v](ComponentSpec spec, const std::function<Kernel(const ParamSet&)>& make,
                     bool wants_server = false) {
    const std::string name = spec.name;
    v.emplace_back(
        std::move(spec), [name, make, wants_server](const ParamSet& p) -> StatusOr<AggregatorPtr> {
          return AggregatorPtr(
              std::make_shared<KernelAggregator>(name, ConfigText(name, p), make(p), wants_server));
        });
  };
  const auto f_param = [] {
    return Param::Int("f", 1, "Number of Byzantine clients tolerated.").AtLeast(0);
  };

  simple({"aggregator",
          "median",
          "Coordinate-wise median (Yin et al. 2018); the mean of the two middle values for even n.",
          {}},
         [](const ParamSet&) -> Kernel {
           return [](const auto& u, const AggregationContext& c, std::vector<float>* out) {
             return AggregateMedian(u, out, c.report);
           };
         });
  simple({"aggregator",
          "trimmed_mean",
          "Coordinate-wise trimmed mean (Yin et al. 2018): drops the floor(beta n) smallest and "
          "largest values of each coordinate and averages the rest.",
          {Param::Double("beta", 0.1, "Fraction trimmed on each side.").AtLeast(0).AtMost(0.5)}},
         [](const ParamSet& p) -> Kernel {
           const double beta = p.Double("beta");
           return [beta](const auto& u, const AggregationContext& c, std::vector<float>* out) {
             return AggregateTrimmedMean(u, beta, out, c.report);
           };
         });
  simple({"aggregator",
          "krum",
          "Krum (Blanchard et al. 2017): the update with the smallest sum of squared distances "
          "to its n-f-2 nearest neighbours. Needs n > 2f+2.",
          {f_param()}},
         [](const ParamSet& p) -> Kernel {
           const int64_t f = p.Int("f");
           return [f](const auto& u, const AggregationContext& c, std::vector<float>* out) {
             return AggregateKrum(u, f, out, c.report);
           };
         });
  simple({"aggregator",
          "multi_krum",
          "Multi-Krum (Blanchard et al. 2017): the mean of the m updates with the best Krum "
          "scores. Needs n > 2f+2.",
          {f_param(), Param::Int("m", 0, "Updates averaged; 0 means n - f.").AtLeast(0)}},
         [](const ParamSet& p) -> Kernel {
           const int64_t f = p.Int("f"), m = p.Int("m");
           return [f, m](const auto& u, const AggregationContext& c, std::vector<float>* out) {
             return AggregateMultiKrum(u, f, m, out, c.report);
           };
         });
  simple({"aggregator",
          "bulyan",
          "Bulyan (El Mhamdi et al. 2018): n-2f updates chosen by repeated Krum, then per "
          "coordinate the mean of the n-4f values closest to their median. Needs n >= 4f+3.",
          {f_param()}},
         [](const ParamSet& p) -> Kernel {
           const int64_t f = p.Int("f");
           return [f](const auto& u, const AggregationContext& c, std::vector<float>* out) {
             return AggregateBulyan(u, f, out, c.report);
           };
         });
  simple({"aggregator",
          "geometric_median",
          "Geometric median by smoothed Weiszfeld iterations (RFA, Pillutla et al. 2022).",
          {Param::Double("nu", 1e-6, "Smoothing: distances below nu count as nu.").GreaterThan(0),
           Param::Int("max_iters", 10, "Weiszfeld iterations at most.").AtLeast(1),
           Param::Double("tolerance", 1e-6,
                         "Stop when the objective improves by less than this (relative).")
               .AtLeast(0),
           Param::Bool("weighted", true, "Weight clients by their sample counts.")}},
         [](const ParamSet& p) -> Kernel {
           GeometricMedianOptions o;
           o.nu = p.Double("nu");
           o.max_iters = p.Int("max_iters");
           o.tolerance = p.Double("tolerance");
           o.weighted = p.Bool("weighted");
           return [o](const auto& u, const AggregationContext& c, std::vector<float>* out) {
             return AggregateGeometricMedian(u, o, out, c.report);
           };
         });
  simple({"aggregator",
          "norm_clipping",
          "Norm clipping (Sun et al. 2019): each update scaled to L2 norm at most tau, then "
          "averaged.",
          {Param::Double("tau", 1.0, "Largest L2 norm an update keeps.").GreaterThan(0),
           Param::Bool("weighted", true, "Weight clients by their sample counts.")}},
         [](const ParamSet& p) -> Kernel {
           const double tau = p.Double("tau");
           const bool weighted = p.Bool("weighted");
           return [tau, weighted](const auto& u, const AggregationContext& c,
                                  std::vector<float>* out) {
             return AggregateNormClipping(u, tau, weighted, out, c.report);
           };
         });
  v.emplace_back(
      ComponentSpec{"aggregator",
                    "centered_clipping",
                    "Centered clipping (Karimireddy et al. 2021): iterations of clipping the "
                    "updates around a center that starts at the previous round's aggregate.",
                    {Param::Double("tau", 1.0, "Clipping radius around the center.").GreaterThan(0),
                     Param::Int("iterations", 1, "Clipping iterations per round (L).").AtLeast(1)}},
      [](const ParamSet& p) -> StatusOr<AggregatorPtr> {
        return AggregatorPtr(std::make_shared<CenteredClippingAggregator>(
            p.Double("tau"), p.Int("iterations"), ConfigText("centered_clipping", p)));
      });
  simple(
      {"aggregator",
       "fltrust",
       "FLTrust (Cao et al. NDSS 2021): updates weighted by ReLU(cosine) with the server's "
       "root-dataset update and rescaled to its norm.",
       {}},
      [](const ParamSet&) -> Kernel {
        return [](const auto& u, const AggregationContext& c, std::vector<float>* out) {
          if (c.server_update == nullptr) {
            return FailedPreconditionError(
                "fltrust needs the server's root-dataset update "
                "(AggregationContext::server_update)");
          }
          return AggregateFlTrust(u, *c.server_update, out, c.report);
        };
      },
      /*wants_server=*/true);
  simple(
      {"aggregator",
       "flame",
       "FLAME (Nguyen et al. USENIX Security 2022): HDBSCAN majority cluster on cosine "
       "distances, clipping to the median norm, Gaussian noise.",
       {Param::Double("lambda", 0.001,
                      "Noise level factor: sigma = lambda * median norm (used when epsilon = 0; 0 "
                      "adds no noise).")
            .AtLeast(0),
        Param::Double("epsilon", 0.0, "When > 0, lambda = sqrt(2 ln(1.25/delta)) / epsilon.")
            .AtLeast(0),
        Param::Double("delta", 0.001, "Delta of the Gaussian mechanism (with epsilon).")
            .GreaterThan(0)
            .AtMost(0.999999),
        Param::Int("min_samples", 1,
                   "HDBSCAN min_samples, the point itself counted (docs/aggregators.md).")
            .AtLeast(1),
        Param::Bool("cluster_models", true,
                    "Cluster the local models (global + delta), as the paper; false clusters "
                    "the deltas.")}},
      [](const ParamSet& p) -> Kernel {
        FlameOptions o;
        o.lambda = p.Double("lambda");
        o.epsilon = p.Double("epsilon");
        o.delta = p.Double("delta");
        o.min_samples = p.Int("min_samples");
        o.cluster_models = p.Bool("cluster_models");
        return [o](const auto& u, const AggregationContext& c, std::vector<float>* out) {
          return AggregateFlame(u, c.global, o, c.seed, out, c.report);
        };
      });
  return v;
}

}  // namespace

Status RegisterRobustAggregators() {
  static std::once_flag once;
  static Status* status = new Status();
  std::call_once(once, [] {
    for (auto& [spec, factory] : Builtins()) {
      Status s = AggregatorRegistry().Add(spec, factory);
      if (!s.ok() && status->ok()) *status = s;
    }
  });
  return *status;
}

}  // namespace confml::defenses
