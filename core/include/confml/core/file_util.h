// confml/core/file_util.h: whole-file reads and crash-safe writes.
//
// WriteFileAtomically writes to a temporary file in the same directory,
// flushes it to disk and renames it over the target, so a reader (or a run
// killed mid-write) sees either the old file or the complete new one, never
// a half-written file.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "confml/core/status.h"

namespace confml {

// NotFound when absent, PermissionDenied / Unavailable on other I/O errors.
StatusOr<std::vector<uint8_t>> ReadFileBytes(const std::string& path);
StatusOr<std::string> ReadFileText(const std::string& path);

Status WriteFileAtomically(const std::string& path, std::string_view contents);
Status WriteFileAtomically(const std::string& path, const std::vector<uint8_t>& contents);

// The temporary name WriteFileAtomically uses for `path` (exposed so that
// callers producing files with other libraries, e.g. HDF5, can write there
// and then call CommitTempFile).
std::string TempPathFor(const std::string& path);
// fsyncs `temp_path` and renames it to `path`.
Status CommitTempFile(const std::string& temp_path, const std::string& path);

}  // namespace confml
