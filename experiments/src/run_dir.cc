#include "run_dir.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <ctime>
#include <filesystem>
#include <system_error>

#include "confml/core/json.h"

namespace confml::experiments::internal {

std::string IsoUtc(std::chrono::system_clock::time_point t) {
  std::time_t tt = std::chrono::system_clock::to_time_t(t);
  std::tm tm{};
  gmtime_r(&tt, &tm);
  char buf[32];
  std::strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

namespace {

// What the user can change by choosing another path is their input (exit 2);
// a disk that is full or failing is not.
Status CreateError(const std::string& what, const std::string& path, std::error_code ec) {
  const std::string msg =
      "experiment.output_dir: cannot create " + what + " '" + path + "': " + ec.message();
  if (ec == std::errc::no_space_on_device || ec == std::errc::io_error || ec.value() == EDQUOT) {
    return UnavailableError(msg);
  }
  return InvalidArgumentError(msg);
}

// The outermost folder of `output_dir` that does not exist yet ("" when all
// do): removing it undoes what create_directories made. InvalidArgument when
// a part of the path exists and is not a folder.
StatusOr<std::filesystem::path> FirstMissing(const std::string& output_dir) {
  if (output_dir.empty()) return InvalidArgumentError("experiment.output_dir: empty path");
  std::filesystem::path prefix;
  for (const auto& part : std::filesystem::path(output_dir)) {
    prefix /= part;
    std::error_code ec;
    const auto st = std::filesystem::status(prefix, ec);
    if (!std::filesystem::exists(st)) return prefix;
    if (!std::filesystem::is_directory(st)) {
      return InvalidArgumentError("experiment.output_dir: cannot create '" + output_dir + "': '" +
                                  prefix.string() + "' exists and is not a directory");
    }
  }
  return std::filesystem::path();
}

// Removes the folders create_directories made for `output_dir`, deepest
// first and only while they are empty: another run started at the same time
// may already have put its run folder there.
void RemoveCreated(const std::filesystem::path& first_new, const std::string& output_dir) {
  if (first_new.empty()) return;
  std::error_code ignored;
  for (std::filesystem::path p = output_dir; !p.empty(); p = p.parent_path()) {
    std::filesystem::remove(p, ignored);
    if (p == first_new || p == p.parent_path()) break;
  }
}

}  // namespace

Status CheckOutputDir(const std::string& output_dir) { return FirstMissing(output_dir).status(); }

StatusOr<std::string> CreateRunDir(const std::string& output_dir, const std::string& name,
                                   uint64_t seed, std::chrono::system_clock::time_point start) {
  CONFML_ASSIGN_OR_RETURN(const std::filesystem::path first_new, FirstMissing(output_dir));
  std::error_code ec;
  std::filesystem::create_directories(output_dir, ec);
  if (ec) {
    RemoveCreated(first_new, output_dir);
    return CreateError("output directory", output_dir, ec);
  }
  std::time_t tt = std::chrono::system_clock::to_time_t(start);
  std::tm tm{};
  gmtime_r(&tt, &tm);
  char stamp[32];
  std::strftime(stamp, sizeof(stamp), "%Y%m%d-%H%M%S", &tm);
  const std::string base =
      (std::filesystem::path(output_dir) / (name + "-" + stamp + "-" + std::to_string(seed)))
          .string();
  for (int i = 1; i <= 1000; ++i) {
    std::string path = i == 1 ? base : base + "-" + std::to_string(i);
    if (::mkdir(path.c_str(), 0755) == 0) return path;
    if (errno != EEXIST) {
      const std::error_code mkdir_ec(errno, std::generic_category());
      RemoveCreated(first_new, output_dir);
      return CreateError("run folder", path, mkdir_ec);
    }
  }
  return ResourceExhaustedError("cannot find a free run folder name near '" + base + "'");
}

RunDirGuard::~RunDirGuard() {
  if (path_.empty()) return;
  // Best effort: a folder that cannot be removed is no worse than before.
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

namespace {
std::string JsonList(const std::vector<std::string>& v) {
  std::string out = "[";
  for (size_t i = 0; i < v.size(); ++i) out += (i ? ", " : "") + JsonQuote(v[i]);
  return out + "]";
}
}  // namespace

std::string ProvenanceJson(const Provenance& p) {
  std::string out = "{\n";
  auto field = [&](const char* key, const std::string& json_value, bool last = false) {
    out += std::string("  \"") + key + "\": " + json_value + (last ? "\n" : ",\n");
  };
  field("confml_version", JsonQuote(p.confml_version));
  field("git_commit", JsonQuote(p.git_commit));
  field("build_type", JsonQuote(p.build_type));
  field("compiler", JsonQuote(p.compiler));
  field("torch_version", JsonQuote(p.torch_version));
  field("hdf5_version", JsonQuote(p.hdf5_version));
  field("seed", std::to_string(p.seed));
  field("torch_threads", std::to_string(p.torch_threads));
  field("openmp_max_threads", std::to_string(p.openmp_max_threads));
  field("hostname", JsonQuote(p.hostname));
  field("start_time", JsonQuote(p.start_time));
  field("config_source", JsonQuote(p.config_source));
  field("overrides", JsonList(p.overrides));
  field("command_line", JsonList(p.command_line), true);
  return out + "}\n";
}

std::string Hostname() {
  char buf[256] = {};
  if (::gethostname(buf, sizeof(buf) - 1) != 0) return "unknown";
  return buf;
}

}  // namespace confml::experiments::internal
