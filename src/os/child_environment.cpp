#include "os/child_environment.h"

#include <algorithm>

namespace otpsup {

namespace {

std::string_view name_of(std::string_view entry) {
  return entry.substr(0, entry.find('='));
}

bool is_kept_when_clearing(std::string_view entry) {
  const std::string_view name = name_of(entry);
  return name == "PATH" || name == "HOME" || name == "USER" || name == "LANG";
}

}  // namespace

ChildEnvironment::ChildEnvironment(char* const* inherited, const ChildSpec& spec,
                                   std::string_view child_path, const Credentials* identity) {
  if (identity != nullptr && !identity->user_name.empty()) {
    set("HOME", identity->home);
    set("USER", identity->user_name);
    set("LOGNAME", identity->user_name);
  }
  for (const auto& [name, value] : spec.env) set(name, value);
  set("OTPSUP_CHILD_PATH", child_path);
  std::sort(made_.begin(), made_.end(),
            [](const std::string& a, const std::string& b) { return name_of(a) < name_of(b); });

  std::size_t count = made_.size() + 1;
  for (char* const* e = inherited; e != nullptr && *e != nullptr; ++e) ++count;
  pointers_.reserve(count);
  for (char* const* e = inherited; e != nullptr && *e != nullptr; ++e) {
    const std::string_view entry(*e);
    if (spec.clear_env && !is_kept_when_clearing(entry)) continue;
    if (is_set_here(entry)) continue;
    pointers_.push_back(*e);
  }
  for (std::string& entry : made_) pointers_.push_back(entry.data());
  pointers_.push_back(nullptr);
}

void ChildEnvironment::set(std::string_view name, std::string_view value) {
  std::string entry;
  entry.reserve(name.size() + 1 + value.size());
  entry.append(name).append("=").append(value);
  auto same = std::find_if(made_.begin(), made_.end(),
                           [&](const std::string& e) { return name_of(e) == name; });
  if (same != made_.end()) {
    *same = std::move(entry);
  } else {
    made_.push_back(std::move(entry));
  }
}

bool ChildEnvironment::is_set_here(std::string_view entry) const {
  const std::string_view name = name_of(entry);
  return std::any_of(made_.begin(), made_.end(),
                     [&](const std::string& e) { return name_of(e) == name; });
}

}  // namespace otpsup
