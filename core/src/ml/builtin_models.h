// Private to confml::core_ml: the built-in models, added to ModelRegistry()
// on its first use.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "confml/core/model.h"

namespace confml::internal {

void AddBuiltinModels(Registry<ModelFactory>& registry);

// "{1, 28, 28}", for messages that name a shape.
std::string ShapeText(const std::vector<int64_t>& shape);

}  // namespace confml::internal
