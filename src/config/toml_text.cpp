#include "toml_text.h"

#include <utility>

namespace otpsup::config {

std::optional<toml::table> parse_toml_text(std::string_view text, const std::string& source_name,
                                           Diagnostics& diag, std::string hint) {
#if TOML_EXCEPTIONS
  try {
    return toml::parse(text, std::string_view(source_name));
  } catch (const toml::parse_error& e) {
    diag.error(pos_of(e.source()), "TOML syntax error: " + std::string(e.description()),
               std::move(hint));
    return std::nullopt;
  }
#else
  toml::parse_result parsed = toml::parse(text, std::string_view(source_name));
  if (!parsed) {
    const toml::parse_error& e = parsed.error();
    diag.error(pos_of(e.source()), "TOML syntax error: " + std::string(e.description()),
               std::move(hint));
    return std::nullopt;
  }
  return std::move(parsed).table();
#endif
}

}  // namespace otpsup::config
