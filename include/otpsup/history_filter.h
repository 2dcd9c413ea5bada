// HistoryFilter: which history records `otpsupctl history` shows.
// Shared by the daemon (queries, -f streams) and otpsupctl --file.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

#include <nlohmann/json.hpp>

namespace otpsup {

struct HistoryFilter {
  // A tree path or a part of one, matched at '/' boundaries against the
  // record's sup + "/" + child: "counter1" matches root/counter1,
  // "root" matches everything under root. Empty matches every record.
  std::string path;
  std::string event;            // empty: every event
  std::string since_timestamp;  // records whose ts >= this (RFC 3339, any prefix)
  std::uint64_t since_seq = 0;  // records whose seq >= this

  bool matches(const nlohmann::json& record) const;

  // Sets the "since" bound from text: a sequence number ("1234"), an RFC 3339
  // time or prefix of one ("2026-11-26T12:00"), or a duration ago ("5m",
  // "90s") counted back from `now`. Returns false for anything else.
  bool set_since(const std::string& text, std::chrono::system_clock::time_point now);
};

// The record's full path: "root/counter1" (or "root" for the supervisor's own events).
std::string record_path(const nlohmann::json& record);

}  // namespace otpsup
