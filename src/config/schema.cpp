#include "schema.h"

#include <string>

namespace otpsup::config {

std::span<const std::string_view> keys_of(SectionKind kind) {
  switch (kind) {
    case SectionKind::daemon:
      return kDaemonKeys;
    case SectionKind::supervisor:
      return kSupervisorKeys;
    case SectionKind::worker:
      return kWorkerKeys;
  }
  return {};
}

std::string section_label(SectionKind kind, std::string_view name) {
  switch (kind) {
    case SectionKind::daemon:
      return "[daemon]";
    case SectionKind::supervisor:
      return "[supervisor." + std::string(name) + "]";
    case SectionKind::worker:
      return "[worker." + std::string(name) + "]";
  }
  return {};
}

bool is_valid_name(std::string_view name) {
  // "." and ".." match the character set but would walk the directory tree
  // when a path names a log file (state_dir/logs/<path>.log).
  if (name.empty() || name == "." || name == "..") return false;
  for (char c : name) {
    const bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                    c == '_' || c == '.' || c == '-';
    if (!ok) return false;
  }
  return true;
}

}  // namespace otpsup::config
