// RestartStats: restart and exit counts of one tree node over a time window,
// computed from restart history records (history_format.h), for
// `otpsupctl stats`. Pure: no I/O, no clock reads (`now` is a parameter).
//
// WHICH RECORDS BELONG TO `path`: records with a non-empty "child" where
//   sup + "/" + child == path   (the node itself, as its parent recorded it), or
//   sup == path                 (a direct child of `path`, when `path` is a
//                                supervisor: what its own policy did).
// Records without a child (a supervisor's own "gave_up", "daemon_started"...)
// and grandchildren's records never belong. So for a supervisor the counts
// are its own restarts by its parent plus its direct children's restarts.
//
// THE WINDOW is the half-open interval (now - window, now]: a record exactly
// `window` old is out, one at `now` is in, a record after `now` is out. A
// record is placed in time by parse_record_timestamp(ts); a record whose ts
// does not parse is in no window (it can still be the newest exit/event).
// A window <= 0 is empty.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

namespace otpsup {

struct RestartStats {
  std::string path;                      // the node the stats are for
  std::uint64_t restarts_in_window = 0;  // belonging "restarted" records in the window
  double restarts_per_minute = 0;        // restarts_in_window / window in minutes (0 if empty)
  std::uint64_t exits_in_window = 0;     // belonging "exited" records in the window
  std::string last_exit_reason;          // "reason" of the newest belonging "exited" record
  std::string last_exit_ts;              // (any time, window or not); "" when there is none
  std::string last_event_ts;             // ts of the newest belonging record of any event; ""
};

// Parses a record's "ts": "YYYY-MM-DDTHH:MM:SS[.fraction]Z", UTC, 1 to 9
// fraction digits (digits past microseconds are truncated), 'Z' only (no
// offsets), seconds 00-59 (gmtime never produces a leap second). The inverse
// of format_record_timestamp at microsecond precision. nullopt for anything
// else (an invalid date such as Feb 30 included).
std::optional<std::chrono::system_clock::time_point> parse_record_timestamp(std::string_view ts);

// Computes the stats of `path` from `records` (JSON objects as stored: seq,
// ts, sup, child, event, reason, ...; non-objects and members of the wrong
// type are ignored) over the window ending at `now` of length `window`.
// "Newest" means the greatest "seq" (a record without a non-negative integer
// seq counts as seq 0); between equal seqs the later one in `records` is newer.
RestartStats compute_restart_stats(const std::vector<nlohmann::json>& records,
                                   const std::string& path,
                                   std::chrono::system_clock::time_point now,
                                   std::chrono::milliseconds window);

// Keys: path, restarts_in_window, restarts_per_minute, exits_in_window,
// last_exit_reason, last_exit_ts, last_event_ts; the last three are null
// when empty (no such record).
nlohmann::json to_json(const RestartStats& stats);

}  // namespace otpsup
