// confml/core/version.h: the library's version and build facts.
#pragma once

#include <string>

namespace confml {

const char* Version();       // e.g. "0.1.0"
const char* GitCommit();     // short hash at configure time, or "unknown"
const char* BuildType();     // CMAKE_BUILD_TYPE
const char* CompilerId();    // e.g. "GNU 12.2.0"

}  // namespace confml
