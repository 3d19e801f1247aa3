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
namespace {

// Runs confml.plotting with every failure turned into one line naming the
// file at fault and exit 2, instead of a Python traceback: the run folder's
// HDF5 files are opened one by one first, so a truncated one is named, and a
// run that failed or was killed (complete = 0) is plotted with a warning
// rather than passed off as a finished run.
constexpr char kPlotMain[] = R"PY(
import os, sys

def fail(message):
    print("confml: plot: " + " ".join(str(message).split()), file=sys.stderr)
    sys.exit(2)

run_dir = sys.argv[1]
out_dir = sys.argv[2] if len(sys.argv) > 2 else None
try:
    import h5py
    from confml.plotting import plot_run
except Exception as e:
    fail("cannot import the confml Python package: %s: %s" % (type(e).__name__, e))
if out_dir is not None and os.path.exists(out_dir) and not os.path.isdir(out_dir):
    fail("output folder %s exists and is not a directory" % out_dir)
found = []
for name in ("results.h5", "fl_rounds.h5", "matrix.h5", "outcome.h5"):
    path = os.path.join(run_dir, name)
    if not os.path.exists(path):
        continue
    try:
        with h5py.File(path, "r") as f:
            complete = int(f.attrs["complete"]) if "complete" in f.attrs else 1
    except Exception as e:
        fail("%s is not a readable HDF5 file (truncated or not written by confml?): %s" % (path, e))
    found.append(name)
    if not complete:
        print("confml: plot: warning: %s is incomplete (complete = 0: its run failed or was "
              "killed); plotting what it holds" % path, file=sys.stderr)
if not found:
    fail("%s holds no results.h5, fl_rounds.h5, matrix.h5 or outcome.h5: not a run folder, "
         "or its run failed before it recorded a result" % run_dir)
try:
    for p in plot_run(run_dir, out_dir):
        print(p)
except Exception as e:
    fail("%s: %s: %s" % (run_dir, type(e).__name__, e))
)PY";

}  // namespace

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
  char flag[] = "-c";
  std::string code = kPlotMain;
  char* args[] = {python, flag, code.data(), argv[0], argc == 2 ? argv[1] : nullptr, nullptr};
  ::execv(python, args);
  std::perror("confml: plot: cannot start /usr/bin/python3");
  return kExitFailure;
}

}  // namespace confml::cli
