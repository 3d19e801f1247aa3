// docs/extending.md quotes the one-file trials in full; these helpers let a
// trial's test check that the page still shows the file byte for byte.
#pragma once

#include <gtest/gtest.h>

#include <fstream>
#include <sstream>
#include <string>

namespace confml::attacks {

// A file of the source tree, or "" when it cannot be read.
inline std::string ReadSource(const std::string& relative) {
  std::ifstream in(std::string(CONFML_SOURCE_DIR) + "/" + relative, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

// Expects `doc` to hold, after the marker "<!-- NAME -->" (NAME being the
// file's base name), a ```cpp block equal to the file at `relative`.
inline void ExpectDocListsFile(const std::string& doc, const std::string& relative) {
  const std::string file = ReadSource(relative);
  ASSERT_FALSE(file.empty()) << relative;
  const std::string name = relative.substr(relative.rfind('/') + 1);
  const std::string marker = "<!-- " + name + " -->\n```cpp\n";
  const size_t start = doc.find(marker);
  ASSERT_NE(start, std::string::npos) << "the page lost the listing's marker " << marker;
  const size_t body = start + marker.size();
  const size_t end = doc.find("```\n", body);
  ASSERT_NE(end, std::string::npos);
  EXPECT_EQ(doc.substr(body, end - body), file) << "the page's listing differs from " << relative;
}

}  // namespace confml::attacks
