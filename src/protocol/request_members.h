// The type each member of a control request must have when it is present.
//
// Checked for every request before any handler reads it: a request with a
// member of the wrong type is refused whole (bad_request, naming the member
// and what it must be), so no handler acts on half of it. Members not listed
// are not checked here (handlers ignore members they do not know).
//
//   strings          cmd path child_id action sandbox_id template strategy
//                    period under window since event name state restart
//                    shutdown
//   integers         n intensity timeout_ms (each within a 32-bit int)
//   booleans         force follow stop recursive dry_run
//   string arrays    command settings
//   arrays           args
//   string or int    signal
#pragma once

#include <optional>
#include <string>

#include <nlohmann/json.hpp>

namespace otpsup::protocol {

// "member \"n\" must be an integer, not a string"; nullopt when all is well.
// REQUIRES: request is an object.
std::optional<std::string> wrong_member_type(const nlohmann::json& request);

}  // namespace otpsup::protocol
