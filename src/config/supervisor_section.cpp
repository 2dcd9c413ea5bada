#include "supervisor_section.h"

#include <array>
#include <limits>
#include <optional>

#include "restart_policy_keys.h"
#include "value_readers.h"

namespace otpsup::config {

SupervisorDraft read_supervisor_section(const std::string& name, SourcePos name_pos,
                                        const toml::node& node, Diagnostics& diag) {
  SupervisorDraft draft;
  draft.name_pos = name_pos;
  draft.spec.name = name;
  draft.spec.pos = pos_of(node);
  draft.as_child.id = name;
  draft.as_child.is_supervisor = true;
  draft.as_child.shutdown = Shutdown{Shutdown::Kind::infinity, Duration{0}};

  const std::string section = section_label(SectionKind::supervisor, name);
  const auto* table = node.as_table();
  if (table == nullptr) {
    diag.error(pos_of(node), "supervisor." + name + ": expected a table, found " +
                                 std::string(type_phrase(node)));
    return draft;
  }

  constexpr int kMaxInt = std::numeric_limits<int>::max();
  const toml::node* max_children = nullptr;
  const toml::node* children = nullptr;
  bool strategy_ok = true;  // false: the strategy was wrong and is unknown
  const toml::node* auto_shutdown = nullptr;
  RestartPolicyKeys policy;
  for (auto&& [key, value] : *table) {
    const std::string_view k = key.str();
    if (policy.read(k, value, draft.as_child, diag)) continue;
    if (k == "auto_shutdown") {
      constexpr std::array<std::string_view, 3> kNames{"never", "any_significant",
                                                       "all_significant"};
      constexpr std::array<AutoShutdown, 3> kValues{
          AutoShutdown::never, AutoShutdown::any_significant, AutoShutdown::all_significant};
      auto_shutdown = &value;
      if (auto i = read_choice(value, k, kNames, diag)) draft.spec.auto_shutdown = kValues[*i];
    } else if (k == "strategy") {
      if (auto s = read_strategy(value, k, diag)) {
        draft.spec.strategy = *s;
      } else {
        strategy_ok = false;
      }
    } else if (k == "intensity") {
      if (auto n = read_integer(value, k, 0, kMaxInt, diag)) {
        draft.spec.intensity = static_cast<int>(*n);
      }
    } else if (k == "period") {
      if (auto d = read_duration(value, k, /*positive=*/true, diag)) draft.spec.period = *d;
    } else if (k == "children") {
      draft.has_children_key = true;
      children = &value;
      if (const auto* array = value.as_array()) {
        // Elements are read one by one so each keeps its own position.
        for (std::size_t i = 0; i < array->size(); ++i) {
          const toml::node& element = *array->get(i);
          auto child = read_string(element, "children[" + std::to_string(i) + "]", diag);
          if (child) draft.children.push_back(ChildRef{std::move(*child), pos_of(element)});
        }
      } else {
        diag.error(pos_of(value), "children: expected an array of names, found " +
                                      std::string(type_phrase(value)));
      }
    } else if (k == "max_children") {
      max_children = &value;
      if (auto n = read_integer(value, k, 0, kMaxInt, diag)) {
        draft.spec.max_children = static_cast<int>(*n);
      }
    } else if (k == "allow_add") {
      if (auto b = read_bool(value, k, diag)) draft.spec.allow_add = *b;
    } else if (k == "restart") {
      if (auto r = read_restart(value, k, diag)) draft.as_child.restart = *r;
    } else if (k == "shutdown") {
      if (auto s = read_shutdown(value, k, diag)) draft.as_child.shutdown = *s;
    } else {
      report_unknown_key(key, SectionKind::supervisor, section, diag);
    }
  }

  // Rules that tie keys together (checked after all keys, since a table
  // iterates in key order, not file order). With an invalid strategy they
  // would only repeat that error.
  policy.check(draft.as_child, diag);
  draft.significant_pos = policy.significant_pos();
  if (!strategy_ok) return draft;
  const bool dynamic = draft.spec.strategy == Strategy::dynamic;
  if (dynamic && !draft.children.empty()) {
    diag.error(pos_of(*children),
               "children: a dynamic supervisor starts with no children, found " +
                   std::to_string(draft.children.size()),
               "its children are added at run time (otpsupctl add); remove 'children' or use "
               "another strategy");
    draft.children.clear();
  }
  if (!dynamic && !draft.has_children_key) {
    diag.error(draft.spec.pos, section + ": missing required key 'children'",
               "list the children in start order, e.g. children = [\"worker1\"]");
  }
  if (dynamic && auto_shutdown != nullptr && draft.spec.auto_shutdown != AutoShutdown::never) {
    diag.error(pos_of(*auto_shutdown),
               "auto_shutdown: a dynamic supervisor cannot shut down automatically (as OTP's "
               "simple_one_for_one)",
               "remove auto_shutdown, or use another strategy");
  }
  if (!dynamic && max_children != nullptr) {
    diag.error(pos_of(*max_children),
               std::string("max_children: only a dynamic supervisor takes max_children, but "
                           "strategy is \"") +
                   to_string(draft.spec.strategy) + "\"",
               "use strategy = \"dynamic\" or remove max_children");
  }
  return draft;
}

}  // namespace otpsup::config
