// run_extras.h (private to confml::experiments): what a run records beyond
// its per-round or per-epoch metrics, in one HDF5 file: named outcome
// metrics, the attestation decisions, an attack's arrays (reconstructions),
// and a log of events. Written atomically (temporary file, then rename).
//
// Layout: group /metrics with one float64 scalar dataset per metric;
// /admissions/{relying, attester, expected_role, failed_checks, detail}
// (variable-length strings) and /admissions/admitted (int64), one element
// per decision; /arrays/<name> float32 datasets of any shape; /events
// (strings); root string attributes for `text`.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "confml/core/attack.h"
#include "confml/core/status.h"
#include "confml/experiments/parties.h"

namespace confml::experiments {

struct RunExtras {
  std::map<std::string, double> metrics;
  std::vector<AdmissionRecord> admissions;
  std::vector<AttackArray> arrays;
  std::vector<std::string> events;
  std::map<std::string, std::string> text;
};

Status WriteRunExtras(const std::string& path, const RunExtras& extras);
// NotFound for a missing file; DataLoss for a malformed one.
StatusOr<RunExtras> ReadRunExtras(const std::string& path);

}  // namespace confml::experiments
