// confml: the command line. `confml help` lists the subcommands.
#include <cstdio>
#include <cstring>
#include <string_view>

#include "commands.h"
#include "confml/core/version.h"

namespace {

struct Command {
  const char* name;
  int (*fn)(int, char**);
  const char* usage;
};

constexpr Command kCommands[] = {
    {"run", confml::cli::RunCommand,
     "run CONFIG.yaml [key.sub=value ...]   run an experiment, write its run folder"},
    {"check", confml::cli::CheckCommand,
     "check CONFIG.yaml [key.sub=value ...] validate a config as `run` would, print it resolved"},
    {"sweep", confml::cli::SweepCommand,
     "sweep CONFIG.yaml [key=value ...] [--seeds S,..] [--grid key=v,..] [--resume DIR] [--jobs N] "
     "  sweep"},
    {"config-reference", confml::cli::ConfigReferenceCommand,
     "config-reference [--output=FILE]      print every config key as Markdown"},
    {"token", confml::cli::TokenCommand,
     "token verify TOKEN --cpak KEY.pem [--nonce HEX] [--policy P --policy-key K --role R]   "
     "verify a CCA token"},
    {"plot", confml::cli::PlotCommand,
     "plot RUN_DIR [OUT_DIR]                write PNG figures of a run (curves, ...)"},
    {"measure", confml::cli::MeasureCommand,
     "measure IMAGE_FILE [--hash sha256|sha512] [--rpv HEX] ...   reference RIM of a Program "
     "image"},
    {"serve", confml::cli::ServeCommand,
     "serve verifier|runtime|model-provider ...  a role as its own process (gRPC, attested TLS)"},
    {"device", confml::cli::DeviceCommand,
     "device --runtime ADDR --verifier ADDR ...  a device process (gRPC, attested TLS)"},
    {"version", confml::cli::VersionCommand,
     "version                               print version and build facts"},
};

void PrintUsage(std::FILE* out) {
  std::fprintf(out, "usage: confml COMMAND [ARGS]\n\ncommands:\n");
  for (const auto& c : kCommands) std::fprintf(out, "  %s\n", c.usage);
}

}  // namespace

namespace confml::cli {

int VersionCommand(int argc, char** argv) {
  if (argc == 1 && (std::string_view(argv[0]) == "--help" || std::string_view(argv[0]) == "-h")) {
    std::printf("usage: confml version\n");
    return kExitOk;
  }
  if (argc != 0) {
    std::fprintf(stderr, "confml version: takes no arguments\n");
    return kExitUsage;
  }
  std::printf("confml %s (commit %s, %s build, %s)\n", Version(), GitCommit(), BuildType(),
              CompilerId());
  return kExitOk;
}

}  // namespace confml::cli

int main(int argc, char** argv) {
  if (argc < 2) {
    PrintUsage(stderr);
    return confml::cli::kExitUsage;
  }
  std::string_view name = argv[1];
  if (name == "help" || name == "--help" || name == "-h") {
    PrintUsage(stdout);
    return confml::cli::kExitOk;
  }
  for (const auto& c : kCommands) {
    if (name == c.name) return c.fn(argc - 2, argv + 2);
  }
  std::fprintf(stderr, "confml: unknown command '%s' (try 'confml help')\n", argv[1]);
  return confml::cli::kExitUsage;
}
