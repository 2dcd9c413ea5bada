// JSON forms of the specs, as a parent supervisor sends them down the uplink
// to a node process (and `add` sends a new child). Round-trips exactly:
// from_json(to_json(x)) == x.
#pragma once

#include <map>
#include <string>

#include <nlohmann/json.hpp>

#include "otpsup/spec.h"

namespace otpsup {

nlohmann::json to_json(const ChildSpec& c);
nlohmann::json to_json(const SupervisorSpec& s);
nlohmann::json to_json(const std::map<std::string, SupervisorSpec>& library);

// Throw nlohmann::json::exception (or std::invalid_argument) on malformed input.
ChildSpec child_spec_from_json(const nlohmann::json& j);
SupervisorSpec supervisor_spec_from_json(const nlohmann::json& j);
std::map<std::string, SupervisorSpec> library_from_json(const nlohmann::json& j);

Strategy strategy_from_string(const std::string& s);           // throws std::invalid_argument
RestartType restart_type_from_string(const std::string& s);    // throws std::invalid_argument
AutoShutdown auto_shutdown_from_string(const std::string& s);  // throws std::invalid_argument

}  // namespace otpsup
