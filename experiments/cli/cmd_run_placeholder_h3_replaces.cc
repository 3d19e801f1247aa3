// Temporary: replaced by the experiment runner's `confml run`.
#include <cstdio>
#include "commands.h"
namespace confml::cli {
int RunCommand(int, char**) { std::fprintf(stderr, "confml run: not built yet\n"); return kExitFailure; }
}  // namespace confml::cli
