// What a live reload changes: the difference between the running
// configuration and a new one, as a list a user can read (`reload
// --dry-run`) and the history records (`config_reloaded`). Pure.
#pragma once

#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "otpsup/spec.h"

namespace otpsup {

struct ReloadChange {
  std::string path;    // root/demo_tracking/counter1
  std::string action;  // "start", "stop", "restart", "update"
  std::string detail;  // what changed, for people
};

// Walks both trees from "root". A child that left stops (with its subtree),
// a new child starts, a worker whose spec changed restarts, a supervisor
// whose own settings changed is updated in place (never restarted for it).
std::vector<ReloadChange> plan_reload(const std::map<std::string, SupervisorSpec>& running,
                                      const std::map<std::string, SupervisorSpec>& next);

nlohmann::json to_json(const std::vector<ReloadChange>& plan);

// Supervisors reachable from root in both trees (they receive the new spec).
std::vector<std::string> common_supervisor_paths(
    const std::map<std::string, SupervisorSpec>& running,
    const std::map<std::string, SupervisorSpec>& next);

}  // namespace otpsup
