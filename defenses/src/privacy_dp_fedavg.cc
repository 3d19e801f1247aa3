// DP-FedAvg (McMahan, Ramage, Talwar, Zhang, ICLR 2018): client-level
// clipping and Gaussian noise, and the registration of the privacy
// aggregators.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "confml/core/params.h"
#include "confml/defenses/privacy.h"
#include "confml/defenses/secure_aggregation.h"

namespace confml::defenses {
namespace {

std::string Num(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.17g", v);
  return buf;
}

Status CheckOptions(const DpFedAvgOptions& o) {
  if (!(o.clip_norm > 0.0) || std::isinf(o.clip_norm)) {
    return InvalidArgumentError("dp_fedavg: clip_norm must be finite and > 0, got " +
                                Num(o.clip_norm));
  }
  if (!(o.noise_multiplier >= 0.0) || std::isinf(o.noise_multiplier)) {
    return InvalidArgumentError("dp_fedavg: noise_multiplier must be finite and >= 0, got " +
                                Num(o.noise_multiplier));
  }
  if (o.expected_clients < 0) {
    return InvalidArgumentError("dp_fedavg: expected_clients must be >= 0, got " +
                                std::to_string(o.expected_clients));
  }
  return OkStatus();
}

// Checkpoint blob: magic, version, payload size, then the round count.
constexpr char kStateMagic[4] = {'C', 'D', 'P', 'F'};
constexpr uint32_t kStateVersion = 1;

void PutU32(std::vector<uint8_t>* b, uint32_t v) {
  for (int i = 0; i < 4; ++i) b->push_back(static_cast<uint8_t>(v >> (8 * i)));
}
uint64_t GetLe(const uint8_t* p, int n) {
  uint64_t v = 0;
  for (int i = 0; i < n; ++i) v |= static_cast<uint64_t>(p[i]) << (8 * i);
  return v;
}

}  // namespace

double ClipToL2Norm(std::vector<float>* values, double clip_norm) {
  double sq = 0.0;
  for (float v : *values) sq += static_cast<double>(v) * static_cast<double>(v);
  const double norm = std::sqrt(sq);
  if (norm > clip_norm) {
    const double scale = clip_norm / norm;
    for (float& v : *values) v = static_cast<float>(static_cast<double>(v) * scale);
  }
  return norm;
}

Status AggregateDpFedAvg(const std::vector<ClientUpdate>& updates, const DpFedAvgOptions& options,
                         Seed noise_seed, AggregationReport* report, std::vector<float>* out,
                         DpFedAvgRoundStats* stats) {
  CONFML_RETURN_IF_ERROR(CheckOptions(options));
  size_t dim = 0;
  CONFML_RETURN_IF_ERROR(ValidateUpdates(updates, &dim));
  DpFedAvgRoundStats st;
  std::vector<double> sum(dim, 0.0);
  for (const ClientUpdate& u : updates) {
    size_t bad = dim;
    for (size_t i = 0; i < dim; ++i) {
      if (!std::isfinite(u.values[i])) {
        bad = i;
        break;
      }
    }
    if (bad != dim) {
      if (report != nullptr) {
        report->rejected.emplace_back(u.client_id,
                                      "non-finite value at index " + std::to_string(bad));
      }
      continue;
    }
    // The clipped copy is scaled in double, straight into the sum, so that no
    // per-client buffer is kept.
    double sq = 0.0;
    for (float v : u.values) sq += static_cast<double>(v) * static_cast<double>(v);
    const double norm = std::sqrt(sq);
    st.max_norm = std::max(st.max_norm, norm);
    double scale = 1.0;
    if (norm > options.clip_norm) {
      scale = options.clip_norm / norm;
      ++st.clipped;
    }
    for (size_t i = 0; i < dim; ++i) sum[i] += scale * static_cast<double>(u.values[i]);
    ++st.aggregated;
    if (report != nullptr) report->selected_clients.push_back(u.client_id);
  }
  if (st.aggregated == 0) {
    return FailedPreconditionError("dp_fedavg: all " + std::to_string(updates.size()) +
                                   " updates were rejected (non-finite values)");
  }
  if (options.estimator == DpEstimator::kFixedDenominator) {
    st.denominator =
        static_cast<double>(options.expected_clients > 0 ? options.expected_clients
                                                         : static_cast<int64_t>(updates.size()));
  } else {
    st.denominator = static_cast<double>(st.aggregated);
  }
  st.noise_std = options.noise_multiplier * options.clip_norm / st.denominator;
  Rng rng = noise_seed.MakeRng();
  out->resize(dim);
  for (size_t i = 0; i < dim; ++i) {
    double v = sum[i] / st.denominator;
    if (st.noise_std > 0.0) v += st.noise_std * rng.Normal();
    (*out)[i] = static_cast<float>(v);
  }
  if (stats != nullptr) *stats = st;
  return OkStatus();
}

DpFedAvgAggregator::DpFedAvgAggregator(DpFedAvgOptions options, double sampling_rate, double delta,
                                       RdpConversion conversion)
    : options_(options), sampling_rate_(sampling_rate), delta_(delta), conversion_(conversion) {}

std::string DpFedAvgAggregator::config_text() const {
  return "dp_fedavg clip_norm=" + Num(options_.clip_norm) +
         " noise_multiplier=" + Num(options_.noise_multiplier) +
         " expected_clients=" + std::to_string(options_.expected_clients) +
         " estimator=" + (options_.estimator == DpEstimator::kFixedDenominator ? "fixed" : "mean") +
         " sampling_rate=" + Num(sampling_rate_) + " delta=" + Num(delta_) +
         " conversion=" + RdpConversionName(conversion_);
}

Status DpFedAvgAggregator::Aggregate(const std::vector<ClientUpdate>& updates,
                                     const AggregationContext& context, std::vector<float>* out) {
  DpFedAvgRoundStats stats;
  Status s = AggregateDpFedAvg(updates, options_, context.seed.Child("dp_fedavg_noise"),
                               context.report, out, &stats);
  if (!s.ok()) return s.WithContext("round " + std::to_string(context.round));
  ++rounds_;
  last_round_ = stats;
  return OkStatus();
}

StatusOr<double> DpFedAvgAggregator::EpsilonAfter(int64_t rounds) const {
  return DpEpsilon(sampling_rate_, options_.noise_multiplier, rounds, delta_, DefaultOrders(),
                   conversion_);
}

std::vector<uint8_t> DpFedAvgAggregator::SaveState() const {
  std::vector<uint8_t> b(kStateMagic, kStateMagic + 4);
  PutU32(&b, kStateVersion);
  PutU32(&b, 8);
  const uint64_t r = static_cast<uint64_t>(rounds_);
  for (int i = 0; i < 8; ++i) b.push_back(static_cast<uint8_t>(r >> (8 * i)));
  return b;
}

Status DpFedAvgAggregator::LoadState(const std::vector<uint8_t>& state) {
  if (state.empty()) {
    rounds_ = 0;
    return OkStatus();
  }
  if (state.size() < 12 || std::memcmp(state.data(), kStateMagic, 4) != 0) {
    return DataLossError("dp_fedavg: checkpoint state is not a dp_fedavg blob (bad magic)");
  }
  const uint32_t version = static_cast<uint32_t>(GetLe(state.data() + 4, 4));
  const uint32_t size = static_cast<uint32_t>(GetLe(state.data() + 8, 4));
  if (version != kStateVersion) {
    return DataLossError("dp_fedavg: checkpoint state version " + std::to_string(version) +
                         ", expected " + std::to_string(kStateVersion));
  }
  if (size != 8 || state.size() != 20) {
    return DataLossError("dp_fedavg: checkpoint state of " + std::to_string(state.size()) +
                         " bytes, expected 20");
  }
  const int64_t r = static_cast<int64_t>(GetLe(state.data() + 12, 8));
  if (r < 0) return DataLossError("dp_fedavg: negative round count in checkpoint state");
  rounds_ = r;
  return OkStatus();
}

Status RegisterPrivacyAggregators() {
  static std::once_flag once;
  static Status result;
  std::call_once(once, [] {
    Registry<AggregatorFactory>& reg = AggregatorRegistry();
    Status s = reg.Add(
        ComponentSpec{
            "aggregator",
            "dp_fedavg",
            "DP-FedAvg (McMahan et al. 2018): clips each client's update to L2 norm clip_norm, "
            "averages, and adds Gaussian noise of std noise_multiplier * clip_norm / "
            "denominator; client-level (epsilon, delta) from a Renyi-DP accountant.",
            {Param::Double("clip_norm", 1.0, "L2 bound on each client's update.").GreaterThan(0),
             Param::Double("noise_multiplier", 1.0,
                           "Noise std divided by the sensitivity clip_norm / denominator.")
                 .AtLeast(0),
             Param::Int("expected_clients", 0,
                        "Expected clients per round, the fixed denominator; 0 uses the "
                        "round's update count.")
                 .AtLeast(0),
             Param::String("estimator", "fixed",
                           "'fixed': sum / expected_clients (what the accountant assumes); "
                           "'mean': sum / clients aggregated.")
                 .OneOf({"fixed", "mean"}),
             Param::Double("sampling_rate", 1.0,
                           "Probability that a client takes part in a round, for the "
                           "accountant (1 = every client every round).")
                 .GreaterThan(0)
                 .AtMost(1),
             Param::Double("delta", 1e-5, "Target delta of the reported epsilon.")
                 .GreaterThan(0)
                 .AtMost(0.5),
             Param::String("conversion", "standard",
                           "RDP to (epsilon, delta) conversion: 'standard' (Mironov 2017) or "
                           "'balle2020' (tighter).")
                 .OneOf({"standard", "balle2020"})}},
        [](const ParamSet& p) -> StatusOr<AggregatorPtr> {
          DpFedAvgOptions o;
          o.clip_norm = p.Double("clip_norm");
          o.noise_multiplier = p.Double("noise_multiplier");
          o.expected_clients = p.Int("expected_clients");
          o.estimator =
              p.String("estimator") == "mean" ? DpEstimator::kMean : DpEstimator::kFixedDenominator;
          CONFML_ASSIGN_OR_RETURN(RdpConversion conv,
                                  RdpConversionFromName(p.String("conversion")));
          return AggregatorPtr(std::make_shared<DpFedAvgAggregator>(o, p.Double("sampling_rate"),
                                                                    p.Double("delta"), conv));
        });
    if (!s.ok() && s.code() != StatusCode::kAlreadyExists) {
      result = s;
      return;
    }
    s = RegisterSecureAggregator();
    if (!s.ok() && s.code() != StatusCode::kAlreadyExists) result = s;
  });
  return result;
}

}  // namespace confml::defenses
