#include "daemon_section.h"

#include <array>
#include <cstdint>
#include <limits>
#include <string>

#include "value_readers.h"

namespace otpsup::config {
namespace {

// sockaddr_un::sun_path is 108 bytes on Linux, including the terminating NUL.
constexpr std::size_t kMaxSocketPathLength = 107;

std::optional<std::string> read_absolute_path(const toml::node& node, std::string_view what,
                                              Diagnostics& diag) {
  auto path = read_string(node, what, diag);
  if (!path) return std::nullopt;
  if (path->empty() || path->front() != '/') {
    diag.error(pos_of(node),
               std::string(what) + ": expected an absolute path, found " + quote_value(*path));
    return std::nullopt;
  }
  return path;
}

std::optional<std::uint64_t> read_byte_size(const toml::node& node, std::string_view what,
                                            Diagnostics& diag) {
  const std::string expected = std::string(what) +
                               ": expected a size in bytes greater than zero, such as 67108864, "
                               "\"512K\" or \"64M\", found ";
  if (const auto* n = node.as_integer()) {
    if (n->get() > 0) return static_cast<std::uint64_t>(n->get());
    diag.error(pos_of(node), expected + std::to_string(n->get()));
    return std::nullopt;
  }
  if (const auto* s = node.as_string()) {
    auto size = parse_byte_size(s->get());
    if (size && *size > 0) return size;
    diag.error(pos_of(node), expected + quote_value(s->get()));
    return std::nullopt;
  }
  diag.error(pos_of(node), expected + std::string(type_phrase(node)));
  return std::nullopt;
}

}  // namespace

std::optional<std::uint64_t> parse_byte_size(std::string_view text) {
  std::size_t i = 0;
  std::uint64_t value = 0;
  constexpr std::uint64_t kMax = std::numeric_limits<std::uint64_t>::max();
  while (i < text.size() && text[i] >= '0' && text[i] <= '9') {
    const std::uint64_t digit = static_cast<std::uint64_t>(text[i] - '0');
    if (value > (kMax - digit) / 10) return std::nullopt;
    value = value * 10 + digit;
    ++i;
  }
  if (i == 0) return std::nullopt;
  std::string_view unit = text.substr(i);
  if (unit.empty()) return value;
  std::uint64_t scale = 0;
  switch (unit.front()) {
    case 'K':
    case 'k':
      scale = 1ull << 10;
      break;
    case 'M':
    case 'm':
      scale = 1ull << 20;
      break;
    case 'G':
    case 'g':
      scale = 1ull << 30;
      break;
    default:
      return std::nullopt;
  }
  unit.remove_prefix(1);
  if (!(unit.empty() || unit == "B" || unit == "b" || unit == "iB" || unit == "ib")) {
    return std::nullopt;
  }
  if (value > kMax / scale) return std::nullopt;
  return value * scale;
}

DaemonSettings read_daemon_section(const toml::node& node, Diagnostics& diag) {
  DaemonSettings settings;
  const auto* table = node.as_table();
  if (table == nullptr) {
    diag.error(pos_of(node), "daemon: expected a table, found " + std::string(type_phrase(node)));
    return settings;
  }
  const std::string section = section_label(SectionKind::daemon, "");
  for (auto&& [key, value] : *table) {
    const std::string_view name = key.str();
    if (name == "socket") {
      if (auto path = read_absolute_path(value, name, diag)) {
        if (path->size() > kMaxSocketPathLength) {
          diag.error(pos_of(value),
                     "socket: the path is " + std::to_string(path->size()) +
                         " bytes long; a Unix socket path can be at most " +
                         std::to_string(kMaxSocketPathLength),
                     "choose a shorter path");
        } else {
          settings.socket = std::move(*path);
        }
      }
    } else if (name == "state_dir") {
      if (auto path = read_absolute_path(value, name, diag)) settings.state_dir = std::move(*path);
    } else if (name == "history_sync") {
      constexpr std::array<std::string_view, 3> kNames{"always", "batch", "never"};
      constexpr std::array<HistorySync, 3> kValues{HistorySync::always, HistorySync::batch,
                                                   HistorySync::never};
      if (auto i = read_choice(value, name, kNames, diag)) settings.history_sync = kValues[*i];
    } else if (name == "history_max_size") {
      if (auto size = read_byte_size(value, name, diag)) settings.history_max_size = *size;
    } else if (name == "history_keep") {
      if (auto n = read_integer(value, name, 1, std::numeric_limits<int>::max(), diag)) {
        settings.history_keep = static_cast<int>(*n);
      }
    } else if (name == "log_max_size") {
      if (auto size = read_byte_size(value, name, diag)) settings.log_max_size = *size;
    } else if (name == "log_keep") {
      if (auto n = read_integer(value, name, 0, 1000, diag))
        settings.log_keep = static_cast<int>(*n);
    } else {
      report_unknown_key(key, SectionKind::daemon, section, diag);
    }
  }
  return settings;
}

}  // namespace otpsup::config

namespace otpsup {

const char* to_string(HistorySync s) {
  switch (s) {
    case HistorySync::always:
      return "always";
    case HistorySync::batch:
      return "batch";
    case HistorySync::never:
      return "never";
  }
  return "?";
}

}  // namespace otpsup
