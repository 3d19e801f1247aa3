// configfs-tsm report client: POSIX calls only, so that every kernel error
// (including the one configfs reports at close() of a binary attribute)
// becomes a Status naming the path.
#include "confml/cca_backend/configfs_tsm.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <string>

namespace confml::cca_backend {
namespace {

std::string Errno(int err) { return std::strerror(err); }

// Environment errors by errno: permission problems are the caller's to fix,
// everything else means the interface is not usable right now.
Status FromErrno(int err, const std::string& what) {
  const std::string message = what + ": " + Errno(err);
  switch (err) {
    case EACCES:
    case EPERM:
      return PermissionDeniedError(message);
    case EINVAL:
      return InvalidArgumentError(message);
    default:
      return UnavailableError(message);
  }
}

// Reads a whole attribute; more than `limit` bytes is DataLoss.
StatusOr<std::vector<uint8_t>> ReadAttribute(const std::string& path, size_t limit) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    const int err = errno;
    return FromErrno(err, "cannot open " + path);
  }
  std::vector<uint8_t> out;
  uint8_t buf[4096];
  while (true) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0) {
      if (errno == EINTR) continue;
      const int err = errno;
      ::close(fd);
      return FromErrno(err, "cannot read " + path);
    }
    if (n == 0) break;
    out.insert(out.end(), buf, buf + n);
    if (out.size() > limit) {
      ::close(fd);
      return DataLossError(path + ": more than " + std::to_string(limit) + " bytes");
    }
  }
  ::close(fd);
  return out;
}

std::string TrimNewline(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r' || s.back() == ' ')) s.pop_back();
  return s;
}

StatusOr<uint64_t> ReadGeneration(const std::string& dir) {
  const std::string path = dir + "/generation";
  CONFML_ASSIGN_OR_RETURN(std::vector<uint8_t> raw, ReadAttribute(path, 64));
  std::string text = TrimNewline(std::string(raw.begin(), raw.end()));
  if (text.empty() || text.size() > 20) return DataLossError(path + ": not a decimal counter");
  uint64_t value = 0;
  for (char c : text) {
    if (c < '0' || c > '9') return DataLossError(path + ": not a decimal counter: '" + text + "'");
    const uint64_t digit = static_cast<uint64_t>(c - '0');
    if (value > (UINT64_MAX - digit) / 10) return DataLossError(path + ": counter overflows");
    value = value * 10 + digit;
  }
  return value;
}

// configfs buffers a binary attribute and hands it to the provider at the
// final close, so the close() result is the one that carries the kernel's
// verdict on the write.
Status WriteAttribute(const std::string& path, std::span<const uint8_t> bytes) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CLOEXEC);
  if (fd < 0) {
    const int err = errno;
    return FromErrno(err, "cannot open " + path + " for writing");
  }
  size_t done = 0;
  while (done < bytes.size()) {
    ssize_t n = ::write(fd, bytes.data() + done, bytes.size() - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      const int err = errno;
      ::close(fd);
      return FromErrno(err, "cannot write " + path);
    }
    done += static_cast<size_t>(n);
  }
  if (::close(fd) != 0) {
    const int err = errno;
    return FromErrno(err, "kernel rejected the write to " + path);
  }
  return OkStatus();
}

std::string NextInstanceName(const std::string& prefix) {
  static std::atomic<uint64_t> counter{0};
  return prefix + "-" + std::to_string(::getpid()) + "-" + std::to_string(counter.fetch_add(1));
}

// Steps after mkdir; the caller removes the instance whatever happens here.
StatusOr<TsmReport> ReportInInstance(const ConfigfsTsmOptions& o, const std::string& dir,
                                     std::span<const uint8_t> inblob) {
  if (o.hooks.after_mkdir) o.hooks.after_mkdir(dir);
  TsmReport report;
  report.instance = dir;
  {
    auto provider = ReadAttribute(dir + "/provider", 256);
    if (!provider.ok()) {
      if (provider.status().code() == StatusCode::kUnavailable) {
        return FailedPreconditionError(dir + " has no readable provider attribute (" +
                                       provider.status().message() +
                                       "): not a configfs-tsm report instance");
      }
      return provider.status();
    }
    report.provider = TrimNewline(std::string(provider->begin(), provider->end()));
  }
  if (report.provider != o.expected_provider) {
    return FailedPreconditionError(dir + "/provider is '" + report.provider + "', expected '" +
                                   o.expected_provider + "'");
  }
  CONFML_ASSIGN_OR_RETURN(const uint64_t before, ReadGeneration(dir));
  CONFML_RETURN_IF_ERROR(WriteAttribute(dir + "/inblob", inblob));
  if (o.hooks.after_inblob_write) o.hooks.after_inblob_write(dir);
  CONFML_ASSIGN_OR_RETURN(report.outblob, ReadAttribute(dir + "/outblob", kTsmOutblobMax));
  CONFML_ASSIGN_OR_RETURN(const uint64_t after, ReadGeneration(dir));
  if (after != before + 1) {
    return AbortedError(dir + "/generation went from " + std::to_string(before) + " to " +
                        std::to_string(after) +
                        " across our single inblob write: another writer changed the request");
  }
  if (report.outblob.empty()) return DataLossError(dir + "/outblob is empty");
  report.generation = after;
  return report;
}

}  // namespace

ConfigfsTsm::ConfigfsTsm(ConfigfsTsmOptions options) : options_(std::move(options)) {}

Status ConfigfsTsm::Probe() const {
  const std::string report_root = options_.root + "/report";
  struct stat st;
  if (::stat(report_root.c_str(), &st) != 0) {
    const int err = errno;
    return UnavailableError("configfs-tsm: " + report_root + ": " + Errno(err) +
                            " (configfs not mounted, or a kernel without CONFIG_TSM_REPORTS; "
                            "confml must run inside a CCA realm for backend 'cca')");
  }
  if (!S_ISDIR(st.st_mode)) {
    return UnavailableError("configfs-tsm: " + report_root + " is not a directory");
  }
  return OkStatus();
}

StatusOr<TsmReport> ConfigfsTsm::GetReport(std::span<const uint8_t> inblob) const {
  if (inblob.empty() || inblob.size() > kTsmInblobMax) {
    return InvalidArgumentError("configfs-tsm inblob must be 1.." + std::to_string(kTsmInblobMax) +
                                " bytes, got " + std::to_string(inblob.size()));
  }
  CONFML_RETURN_IF_ERROR(Probe());
  const std::string dir = options_.root + "/report/" + NextInstanceName(options_.instance_prefix);
  if (::mkdir(dir.c_str(), 0700) != 0) {
    const int err = errno;
    return FromErrno(err, "configfs-tsm: cannot create report instance " + dir);
  }
  StatusOr<TsmReport> report = ReportInInstance(options_, dir, inblob);
  if (options_.hooks.before_rmdir) options_.hooks.before_rmdir(dir);
  if (::rmdir(dir.c_str()) != 0) {
    const int err = errno;
    // A report instance left behind is a leak in the kernel's configfs, not
    // a wrong answer; the report error, if any, is the more useful one.
    if (report.ok()) {
      return UnavailableError("configfs-tsm: cannot remove report instance " + dir + ": " +
                              Errno(err));
    }
  }
  return report;
}

}  // namespace confml::cca_backend
