// confml plot RUN_DIR [OUT_DIR]: PNG figures of a run, drawn by the Python
// package (matplotlib) with Debian's /usr/bin/python3.
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <sys/stat.h>

#include "commands.h"

#ifndef CONFML_PYTHON_DIR
#define CONFML_PYTHON_DIR ""
#endif

namespace confml::cli {

int PlotCommand(int argc, char** argv) {
  if (argc == 1 && (std::strcmp(argv[0], "--help") == 0 || std::strcmp(argv[0], "-h") == 0)) {
    std::printf(
        "usage: confml plot RUN_DIR [OUT_DIR]   (PNG figures of a run, into RUN_DIR by default)\n");
    return kExitOk;
  }
  if (argc < 1 || argc > 2) {
    std::fprintf(stderr, "confml: usage: confml plot RUN_DIR [OUT_DIR]\n");
    return kExitUsage;
  }
  struct stat st;
  if (::stat(argv[0], &st) != 0 || !S_ISDIR(st.st_mode)) {
    std::fprintf(stderr, "confml: plot: run folder '%s' does not exist\n", argv[0]);
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
  char* args[] = {python, flag, module, argv[0], argc == 2 ? argv[1] : nullptr, nullptr};
  ::execv(python, args);
  std::perror("confml: plot: cannot start /usr/bin/python3");
  return kExitFailure;
}

}  // namespace confml::cli
