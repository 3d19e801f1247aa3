// A fresh empty directory for one test, removed with everything in it when
// the object goes. Header-only; include as "../common/temp_dir.h" (or
// "../../common/..." from tests/core/ml).
//
//   confml::testing::TempDir dir;
//   WriteFileAtomically(dir.File("fl.ckpt"), bytes);
#pragma once

#include <stdlib.h>

#include <filesystem>
#include <stdexcept>
#include <string>
#include <system_error>

namespace confml::testing {

class TempDir {
 public:
  TempDir() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "confml_test_XXXXXX").string();
    // Nothing a test could do without its directory: fail loudly.
    if (::mkdtemp(tmpl.data()) == nullptr) throw std::runtime_error("mkdtemp failed: " + tmpl);
    path_ = tmpl;
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const std::string& path() const { return path_; }
  std::string File(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

}  // namespace confml::testing
