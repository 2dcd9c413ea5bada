// The `status` reply's Node tree (protocol.h) written straight from a
// TreeMirror as JSON text, without building an nlohmann::json tree first.
//
// Contract: the text is byte for byte what
//   mirror.status(path, now).dump(-1, ' ', false, error_handler_t::replace)
// gives, after the same adjustments the daemon makes to that tree (the top
// node's state replaced, every non-zero pid mapped): members in the sorted
// order of nlohmann::json objects, strings escaped by nlohmann's serializer.
// Only the cost differs: one pass, one growing string, no per-node objects.
// Pure: no system calls (the pid mapping is the caller's).
#pragma once

#include <functional>
#include <string>
#include <string_view>

#include "otpsup/restart_intensity.h"
#include "otpsup/tree_mirror.h"

namespace otpsup {

struct StatusJsonOptions {
  // When not empty, the state shown for the top node (the daemon's "stopping").
  std::string_view top_state;
  // When set, maps every non-zero pid to the pid shown (--pid-namespace).
  std::function<int(int)> shown_pid;
};

// Appends the Node at `path` (and below it), or `null` when there is none.
void append_status_json(const TreeMirror& mirror, const std::string& path, TimePoint now,
                        const StatusJsonOptions& options, std::string* out);

// Appends `text` as a JSON string exactly as nlohmann::json's dump with
// error_handler_t::replace writes it (invalid UTF-8 becomes U+FFFD).
void append_json_string(std::string_view text, std::string* out);

}  // namespace otpsup
