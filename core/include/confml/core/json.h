// confml/core/json.h: the small JSON writing helper shared by every place
// that prints JSON (provenance.json, token claims, verdicts, `confml measure`).
//
//   std::string j = "{\"path\":" + JsonQuote(path) + "}";
#pragma once

#include <string>
#include <string_view>

namespace confml {

// `s` as a JSON string literal, quotes included. Control characters are
// escaped; other bytes pass through (callers hold UTF-8 text).
std::string JsonQuote(std::string_view s);

}  // namespace confml
