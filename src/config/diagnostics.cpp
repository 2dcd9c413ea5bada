#include "diagnostics.h"

#include <algorithm>
#include <climits>
#include <utility>

namespace otpsup::config {

SourcePos pos_of(const toml::source_region& region) {
  return SourcePos{static_cast<int>(region.begin.line), static_cast<int>(region.begin.column)};
}

void Diagnostics::error(SourcePos pos, std::string message, std::string hint) {
  ConfigError e;
  e.line = pos.line;
  e.column = pos.line > 0 ? pos.column : 0;
  e.message = std::move(message);
  e.hint = std::move(hint);
  errors_.push_back(std::move(e));
}

std::vector<ConfigError> Diagnostics::sorted(const std::string& file) const {
  std::vector<ConfigError> out = errors_;
  for (auto& e : out) e.file = file;
  auto key = [](const ConfigError& e) {
    return std::pair{e.line > 0 ? e.line : INT_MAX, e.column};
  };
  std::stable_sort(out.begin(), out.end(),
                   [&](const ConfigError& a, const ConfigError& b) { return key(a) < key(b); });
  return out;
}

}  // namespace otpsup::config
