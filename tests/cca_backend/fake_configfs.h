// A fake configfs-tsm "kernel" in a temporary directory, for tests on hosts
// that are not CCA realms.
//
// What it emulates, through ConfigfsTsmHooks (a plain directory cannot react
// to file operations by itself):
//   mkdir report/NAME   -> provider, generation ("0") and an empty outblob appear
//   close(inblob)       -> generation += generation_step; outblob := outblob_bytes
//   rmdir report/NAME   -> the attribute files go away with the directory
// Limits: it serves one fixed outblob (normally the recorded TF-RMM token,
// whose challenge is 64 x 0xab) whatever the inblob says, since it cannot
// sign a token for another challenge; it does not emulate auxblob,
// privlevel, the write-only/read-only permissions, or the kernel's locking.
// What it does check: the bytes written to inblob (last_inblob()).
#pragma once

#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdint>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "../common/temp_dir.h"
#include "confml/cca_backend/configfs_tsm.h"

namespace confml::cca_backend::testing {

class FakeConfigfsTsm {
 public:
  FakeConfigfsTsm() { ::mkdir((root_ + "/report").c_str(), 0700); }
  FakeConfigfsTsm(const FakeConfigfsTsm&) = delete;
  FakeConfigfsTsm& operator=(const FakeConfigfsTsm&) = delete;

  const std::string& root() const { return root_; }

  // Knobs for the next reports.
  std::string provider = "arm_cca_guest";
  uint64_t generation_step = 1;  // 2 plays a concurrent writer
  std::vector<uint8_t> outblob_bytes;

  const std::vector<uint8_t>& last_inblob() const { return last_inblob_; }
  int reports() const { return reports_; }

  ConfigfsTsmHooks Hooks() {
    ConfigfsTsmHooks h;
    h.after_mkdir = [this](const std::string& dir) {
      Write(dir + "/provider", provider + "\n");
      Write(dir + "/generation", "0\n");
      Write(dir + "/outblob", "");
      Write(dir + "/inblob", "");
    };
    h.after_inblob_write = [this](const std::string& dir) {
      last_inblob_ = ReadAll(dir + "/inblob");
      std::vector<uint8_t> gen = ReadAll(dir + "/generation");
      const uint64_t g = std::stoull(std::string(gen.begin(), gen.end()));
      Write(dir + "/generation", std::to_string(g + generation_step) + "\n");
      Write(dir + "/outblob", std::string(outblob_bytes.begin(), outblob_bytes.end()));
      ++reports_;
    };
    h.before_rmdir = [](const std::string& dir) { RemoveFiles(dir); };
    return h;
  }

  // Names left under report/ (the backend must remove its instances).
  std::vector<std::string> Instances() const {
    std::vector<std::string> names;
    if (DIR* d = ::opendir((root_ + "/report").c_str())) {
      while (dirent* e = ::readdir(d)) {
        std::string n = e->d_name;
        if (n != "." && n != "..") names.push_back(n);
      }
      ::closedir(d);
    }
    return names;
  }

  static std::vector<uint8_t> ReadAll(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
  }

 private:
  static void Write(const std::string& path, const std::string& text) {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out << text;
  }
  static void RemoveFiles(const std::string& dir) {
    if (DIR* d = ::opendir(dir.c_str())) {
      while (dirent* e = ::readdir(d)) {
        std::string n = e->d_name;
        if (n != "." && n != "..") ::unlink((dir + "/" + n).c_str());
      }
      ::closedir(d);
    }
  }

  // The tree goes with dir_, whatever instances the backend left behind.
  ::confml::testing::TempDir dir_;
  const std::string root_ = dir_.path();
  std::vector<uint8_t> last_inblob_;
  int reports_ = 0;
};

}  // namespace confml::cca_backend::testing
