// confml plot RUN_DIR [OUT_DIR]: PNG figures of a run, drawn by the Python
// package (matplotlib) with Debian's /usr/bin/python3. A sweep folder
// (sweep.csv + sweep.yaml) gets one figure per metric against a grid key
// (--metric NAME ..., --x GRID_KEY); confml.plotting.main parses and checks
// everything after the folder, so the rules live in one place.
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "commands.h"

#ifndef CONFML_PYTHON_DIR
#define CONFML_PYTHON_DIR ""
#endif

namespace confml::cli {

int PlotCommand(int argc, char** argv) {
  if (argc == 1 && (std::strcmp(argv[0], "--help") == 0 || std::strcmp(argv[0], "-h") == 0)) {
    std::printf(
        "usage: confml plot RUN_DIR [OUT_DIR]   (PNG figures of a run, into RUN_DIR by default)\n"
        "       confml plot SWEEP_DIR [OUT_DIR] [--metric NAME ...] [--x GRID_KEY]\n"
        "         (a sweep folder: one sweep_<metric>.png per metric, mean ± sd over seeds\n"
        "          against GRID_KEY, default the first numeric grid key; docs/sweeps.md)\n");
    return kExitOk;
  }
  if (argc < 1) {
    std::fprintf(stderr,
                 "confml: usage: confml plot RUN_DIR [OUT_DIR] | confml plot SWEEP_DIR [OUT_DIR] "
                 "[--metric NAME ...] [--x GRID_KEY]\n");
    return kExitUsage;
  }
  struct stat st;
  if (::stat(argv[0], &st) != 0 || !S_ISDIR(st.st_mode)) {
    std::fprintf(stderr, "confml: plot: run or sweep folder '%s' does not exist\n", argv[0]);
    return kExitUsage;
  }
  // The package is importable from the build tree unless the user points
  // PYTHONPATH elsewhere.
  std::string path = CONFML_PYTHON_DIR;
  if (const char* existing = std::getenv("PYTHONPATH"); existing && *existing) {
    path = path.empty() ? existing : path + ":" + existing;
  }
  if (!path.empty()) ::setenv("PYTHONPATH", path.c_str(), 1);
  std::fflush(nullptr);
  char python[] = "/usr/bin/python3";
  // confml.plotting's main turns every failure into one line and exit 2.
  char flag[] = "-m";
  char module[] = "confml.plotting";
  std::vector<char*> args = {python, flag, module};
  for (int i = 0; i < argc; ++i) args.push_back(argv[i]);
  args.push_back(nullptr);
  ::execv(python, args.data());
  std::perror("confml: plot: cannot start /usr/bin/python3");
  return kExitFailure;
}

}  // namespace confml::cli
