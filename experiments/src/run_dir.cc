#include "run_dir.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
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

StatusOr<std::string> CreateRunDir(const std::string& output_dir, const std::string& name,
                                   uint64_t seed, std::chrono::system_clock::time_point start) {
  std::error_code ec;
  std::filesystem::create_directories(output_dir, ec);
  if (ec) {
    return UnavailableError("cannot create output directory '" + output_dir + "': " + ec.message());
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
      return UnavailableError("cannot create run folder '" + path + "': " + std::strerror(errno));
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
