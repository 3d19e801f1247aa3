// confml/cca_backend/configfs_tsm.h: a client of Linux's configfs-tsm
// attestation-report interface (Documentation/ABI/testing/configfs-tsm,
// Linux 6.7+; the Arm CCA guest provider "arm_cca_guest" is the
// arm-cca-guest driver, drivers/virt/coco/arm-cca-guest).
//
//   ConfigfsTsmOptions o;                       // root /sys/kernel/config/tsm
//   ConfigfsTsm tsm(o);
//   StatusOr<TsmReport> r = tsm.GetReport(challenge);   // 1..64 bytes
//   if (r.ok()) use(r->outblob);                // a CCA token for arm_cca_guest
//
// One GetReport is one report instance: mkdir <root>/report/<name>, check
// `provider`, read `generation`, write `inblob`, read `outblob`, re-read
// `generation` and require it to have advanced by exactly our one write (the
// ABI's documented way to detect a concurrent writer), rmdir. Each call uses
// its own instance name, which is what the ABI recommends to avoid conflicts
// in the first place; the generation check catches anyone who writes into
// our instance anyway.
//
// Errors (each message names the path involved):
//   Unavailable         <root>/report missing (configfs not mounted, kernel
//                       without CONFIG_TSM_REPORTS) or an I/O error from the
//                       kernel while producing the report
//   PermissionDenied    mkdir/open refused (needs root on most systems)
//   FailedPrecondition  no `provider` attribute, or another provider than
//                       the expected one (the message names both)
//   InvalidArgument     inblob empty or larger than 64 bytes
//   Aborted             generation did not advance by exactly one
//   DataLoss            empty or oversized outblob, unparsable generation
//
// Thread-safe: concurrent GetReport calls use distinct instances.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "confml/core/status.h"

namespace confml::cca_backend {

inline constexpr std::string_view kDefaultConfigfsTsmRoot = "/sys/kernel/config/tsm";
inline constexpr std::string_view kArmCcaGuestProvider = "arm_cca_guest";
// Limits of the ABI (include/linux/tsm.h: TSM_REPORT_INBLOB_MAX, _OUTBLOB_MAX).
inline constexpr size_t kTsmInblobMax = 64;
inline constexpr size_t kTsmOutblobMax = 32 * 1024;

// A test seam. A plain directory cannot act like configfs: mkdir does not
// create attribute files, writing `inblob` neither bumps `generation` nor
// produces an `outblob`, and rmdir of a directory with files fails. Tests
// that emulate the kernel with a temporary directory do those things in these
// hooks (see tests/cca_backend/fake_configfs.h). All empty in production.
struct ConfigfsTsmHooks {
  // After our mkdir of the report instance succeeded.
  std::function<void(const std::string& report_dir)> after_mkdir;
  // After the inblob write was closed, before outblob is read.
  std::function<void(const std::string& report_dir)> after_inblob_write;
  // Before our rmdir of the report instance.
  std::function<void(const std::string& report_dir)> before_rmdir;
};

struct ConfigfsTsmOptions {
  // configfs-tsm mount point. Default /sys/kernel/config/tsm.
  std::string root = std::string(kDefaultConfigfsTsmRoot);
  // The `provider` the report instance must name. Default "arm_cca_guest".
  std::string expected_provider = std::string(kArmCcaGuestProvider);
  // Prefix of instance names; each call appends "-<pid>-<counter>".
  // Default "confml".
  std::string instance_prefix = "confml";
  ConfigfsTsmHooks hooks;
};

struct TsmReport {
  std::vector<uint8_t> outblob;
  std::string provider;
  uint64_t generation = 0;  // after our write
  std::string instance;     // the report directory used (already removed)
};

class ConfigfsTsm {
 public:
  explicit ConfigfsTsm(ConfigfsTsmOptions options);

  // OK if <root>/report is a directory; Unavailable (naming it) otherwise.
  Status Probe() const;

  // One attestation report for `inblob` (see the file comment).
  StatusOr<TsmReport> GetReport(std::span<const uint8_t> inblob) const;

  const ConfigfsTsmOptions& options() const { return options_; }

 private:
  ConfigfsTsmOptions options_;
};

}  // namespace confml::cca_backend
