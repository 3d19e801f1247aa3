// confml measure IMAGE_FILE [--hash sha256|sha512] [--rpv HEX] [realm options]
// confml measure --program ROLE [--component MODULE=CONFIG]... [--write-image FILE] [...]
//
// With --program, the image is the Program of ROLE (core/program.h): the
// role's honest code modules, with their build-time digests, plus any extra
// components (an aggregation rule, an attack module), so the printed RIM is
// the one an experiment's verifier puts in its policy for that program.
//
// Prints, as JSON, the reference RIM of a realm loaded with IMAGE_FILE: the
// RIM the RMM computes when a VMM creates the realm with these parameters and
// loads the image (tee_sim::ComputeReferenceRim, which performs that RMI
// sequence on a private simulated platform). This is what goes into an
// attestation policy for the role that runs the image, as Islet's
// measurement tool does. Exit 0 on success, 2 on a usage error or an
// unreadable image, 3 on an internal failure.

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <iterator>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "commands.h"
#include "confml/core/crypto.h"
#include "confml/core/file_util.h"
#include "confml/core/json.h"
#include "confml/core/program.h"
#include "confml/core/tee_backend.h"
#include "confml/tee_sim/sim_backend.h"

namespace confml::cli {
namespace {

constexpr const char* kMeasureUsage =
    "usage: confml measure IMAGE_FILE [--hash sha256|sha512] [--rpv HEX]\n"
    "       confml measure --program ROLE [--component MODULE=CONFIG]... [--write-image FILE]\n"
    "                      [--ipa-width N] [--load-ipa ADDR] [--private-memory BYTES]\n"
    "                      [--num-recs N] [--entry-pc ADDR] [--realm-flags N]\n"
    "                      [--sve-vl N] [--num-bps N] [--num-wps N] [--pmu-ctrs N]\n"
    "                      [--no-content]\n"
    "  IMAGE_FILE        the Program image the realm is loaded with (raw bytes)\n"
    "  --hash            RIM/REM hash algorithm chosen at realm creation (default sha256)\n"
    "  --rpv             Realm Personalization Value, 128 hex digits (default zero);\n"
    "                    not part of the RIM, reported for the policy\n"
    "  --ipa-width ...   realm parameters as in RealmParams (numbers accept 0x...);\n"
    "                    defaults: ipa-width 40, load-ipa 0x80000000, private-memory\n"
    "                    65536, num-recs 1, entry-pc = load-ipa, the rest 0\n"
    "  --no-content      measure only the layout of DATA granules, not their content\n"
    "  --program ROLE    measure the Program of ROLE (model-provider, device, runtime,\n"
    "                    verifier) built from this binary's code modules\n"
    "  --component M=C   add code module M configured as C to the program (repeatable),\n"
    "                    e.g. attacks=exfiltrate_inputs\n"
    "  --write-image F   also write the program image to F\n";

int Usage(const std::string& message) {
  std::fprintf(stderr, "confml measure: %s\n%s", message.c_str(), kMeasureUsage);
  return kExitUsage;
}

std::optional<uint64_t> ParseNumber(std::string_view text) {
  if (text.empty() || text[0] == '-' || text[0] == '+') return std::nullopt;
  std::string s(text);
  errno = 0;
  char* end = nullptr;
  unsigned long long v = std::strtoull(s.c_str(), &end, 0);
  if (errno != 0 || end == s.c_str() || *end != '\0') return std::nullopt;
  return static_cast<uint64_t>(v);
}

std::string Hex64(uint64_t v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "0x%llx", static_cast<unsigned long long>(v));
  return buf;
}


}  // namespace

int MeasureCommand(int argc, char** argv) {
  std::optional<std::string> image_path;
  std::optional<std::string> role;
  std::vector<ProgramComponent> components;
  std::string write_image;
  RealmParams params;
  for (int i = 0; i < argc; ++i) {
    std::string_view arg = argv[i];
    if (arg == "--help" || arg == "-h") {
      std::fputs(kMeasureUsage, stdout);
      return kExitOk;
    }
    if (arg == "--no-content") {
      params.measure_content = false;
      continue;
    }
    if (arg.starts_with("--")) {
      static constexpr std::string_view kValueFlags[] = {
          "--hash",        "--program",  "--component",      "--write-image", "--rpv",
          "--ipa-width",   "--load-ipa", "--private-memory", "--num-recs",    "--entry-pc",
          "--realm-flags", "--sve-vl",   "--num-bps",        "--num-wps",     "--pmu-ctrs"};
      if (std::find(std::begin(kValueFlags), std::end(kValueFlags), arg) == std::end(kValueFlags)) {
        return Usage("unknown option " + std::string(arg));
      }
      if (i + 1 >= argc) return Usage(std::string(arg) + " needs a value");
      std::string_view value = argv[++i];
      if (arg == "--hash") {
        if (value == "sha256" || value == "sha-256") {
          params.hash_algorithm = RealmHashAlgorithm::kSha256;
        } else if (value == "sha512" || value == "sha-512") {
          params.hash_algorithm = RealmHashAlgorithm::kSha512;
        } else {
          return Usage("--hash must be sha256 or sha512, got '" + std::string(value) + "'");
        }
        continue;
      }
      if (arg == "--program") {
        role = std::string(value);
        continue;
      }
      if (arg == "--component") {
        const size_t eq = value.find('=');
        if (eq == std::string_view::npos || eq == 0) {
          return Usage("--component needs MODULE=CONFIG, got '" + std::string(value) + "'");
        }
        components.push_back(
            {std::string(value.substr(0, eq)), std::string(value.substr(eq + 1))});
        continue;
      }
      if (arg == "--write-image") {
        write_image = std::string(value);
        continue;
      }
      if (arg == "--rpv") {
        StatusOr<Bytes> rpv = FromHex(value);
        if (!rpv.ok() || rpv->size() != kTeeRpvSize) {
          return Usage("--rpv must be " + std::to_string(2 * kTeeRpvSize) + " hex digits");
        }
        std::copy(rpv->begin(), rpv->end(), params.rpv.begin());
        continue;
      }
      std::optional<uint64_t> n = ParseNumber(value);
      if (!n) return Usage(std::string(arg) + ": '" + std::string(value) + "' is not a number");
      auto small = [&](uint64_t max) { return *n <= max; };
      if (arg == "--ipa-width" && small(255)) {
        params.ipa_width = static_cast<uint8_t>(*n);
      } else if (arg == "--load-ipa") {
        params.load_ipa = *n;
      } else if (arg == "--private-memory") {
        params.private_memory_bytes = static_cast<size_t>(*n);
      } else if (arg == "--num-recs" && small(UINT32_MAX)) {
        params.num_recs = static_cast<uint32_t>(*n);
      } else if (arg == "--entry-pc") {
        params.entry_pc = *n;
      } else if (arg == "--realm-flags") {
        params.realm_flags = *n;
      } else if (arg == "--sve-vl" && small(255)) {
        params.sve_vl = static_cast<uint8_t>(*n);
      } else if (arg == "--num-bps" && small(255)) {
        params.num_bps = static_cast<uint8_t>(*n);
      } else if (arg == "--num-wps" && small(255)) {
        params.num_wps = static_cast<uint8_t>(*n);
      } else if (arg == "--pmu-ctrs" && small(255)) {
        params.pmu_num_ctrs = static_cast<uint8_t>(*n);
      } else if (arg == "--ipa-width" || arg == "--num-recs" || arg == "--sve-vl" ||
                 arg == "--num-bps" || arg == "--num-wps" || arg == "--pmu-ctrs") {
        return Usage(std::string(arg) + ": " + std::string(value) + " is too large");
      } else {
        return Usage("unknown option " + std::string(arg));
      }
      continue;
    }
    if (image_path) return Usage("more than one IMAGE_FILE given");
    image_path = std::string(arg);
  }
  if (image_path && role) return Usage("give either IMAGE_FILE or --program, not both");
  if (!image_path && !role) return Usage("missing IMAGE_FILE or --program ROLE");
  if (!components.empty() && !role) return Usage("--component needs --program");
  std::optional<Program> program;
  StatusOr<std::vector<uint8_t>> image = std::vector<uint8_t>{};
  if (role) {
    StatusOr<Program> p = HonestProgram(*role, components);
    if (p.ok()) image = p->Image();
    if (!p.ok() || !image.ok()) {
      return Usage((p.ok() ? image.status() : p.status()).message());
    }
    program = *p;
    image_path = "program:" + *role;
    if (!write_image.empty()) {
      if (Status s = WriteFileAtomically(write_image, std::string(image->begin(), image->end()));
          !s.ok()) {
        std::fprintf(stderr, "confml measure: %s\n", s.ToString().c_str());
        return kExitFailure;
      }
    }
  } else {
    image = ReadFileBytes(*image_path);
  }
  if (!image.ok()) {
    std::fprintf(stderr, "confml measure: %s\n", image.status().ToString().c_str());
    return kExitUsage;
  }
  if (Status s = ValidateRealmParams(params, image->size()); !s.ok()) {
    return Usage(s.message());
  }
  StatusOr<std::vector<uint8_t>> rim = tee_sim::ComputeReferenceRim(*image, params);
  if (!rim.ok()) {
    std::fprintf(stderr, "confml measure: %s\n", rim.status().ToString().c_str());
    return rim.status().code() == StatusCode::kInvalidArgument ? kExitUsage : kExitFailure;
  }

  const uint64_t entry = params.entry_pc != 0 ? params.entry_pc : params.load_ipa;
  std::string json = "{\n";
  json += "  \"image\": " + JsonQuote(*image_path) + ",\n";
  if (program) {
    json += "  \"role\": " + JsonQuote(program->role) + ",\n  \"components\": [";
    for (size_t i = 0; i < program->components.size(); ++i) {
      const ProgramComponent& c = program->components[i];
      json += std::string(i ? ", " : "") + "{\"module\": " + JsonQuote(c.module) +
              ", \"digest\": \"" + FindCodeModule(c.module)->digest +
              "\", \"config\": " + JsonQuote(c.config) + "}";
    }
    json += "],\n";
  }
  json += "  \"image_bytes\": " + std::to_string(image->size()) + ",\n";
  json += "  \"image_sha256\": \"" + ToHex(Sha256(*image)) + "\",\n";
  json += "  \"hash_algorithm\": \"" + std::string(RealmHashAlgorithmName(params.hash_algorithm)) +
          "\",\n";
  json += "  \"rim\": \"" + ToHex(*rim) + "\",\n";
  json += "  \"rpv\": \"" + ToHex(params.rpv) + "\",\n";
  json += "  \"realm_params\": {\"ipa_width\": " + std::to_string(params.ipa_width) +
          ", \"load_ipa\": \"" + Hex64(params.load_ipa) +
          "\", \"private_memory_bytes\": " + std::to_string(params.private_memory_bytes) +
          ", \"num_recs\": " + std::to_string(params.num_recs) + ", \"entry_pc\": \"" +
          Hex64(entry) + "\", \"realm_flags\": " + std::to_string(params.realm_flags) +
          ", \"sve_vl\": " + std::to_string(params.sve_vl) +
          ", \"num_bps\": " + std::to_string(params.num_bps) +
          ", \"num_wps\": " + std::to_string(params.num_wps) +
          ", \"pmu_num_ctrs\": " + std::to_string(params.pmu_num_ctrs) +
          ", \"measure_content\": " + (params.measure_content ? "true" : "false") + "}\n";
  json += "}\n";
  std::fputs(json.c_str(), stdout);
  return kExitOk;
}

}  // namespace confml::cli
