// Reading the restart history log (format: history_format.h).
//
// Readers never modify the log: they are safe to run while otpsupd appends
// (otpsupctl history --file). A reader sees the files as they were when it
// opened them; a concurrent rotation may make it miss or repeat a file's
// records, and a record being written shows up as a torn last line.
//
// What readers do with bad lines: a line that is unterminated, over
// kMaxRecordBytes, fails verify_record_line, is not a JSON object or lacks an
// unsigned "seq" is reported through `on_problem` and skipped; so is a valid
// record whose seq does not increase. Valid records after a bad line are
// still delivered. Callbacks are called on the caller's thread; an empty
// std::function for `on_problem` (or `filter`) means "ignore" ("accept all").
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "otpsup/status.h"

namespace otpsup {

struct HistoryRecord {
  std::uint64_t seq = 0;
  std::string line;     // the raw line, without '\n'
  nlohmann::json json;  // the parsed line (an object; includes seq, ts, boot, crc)
};

struct HistoryProblem {
  std::string file;           // path of the file holding the bad line
  std::uint64_t line_no = 0;  // 1-based line number; 0 when unknown (tail reads backwards)
  std::uint64_t offset = 0;   // byte offset of the start of the line in `file`
  std::string reason;         // e.g. "crc mismatch: stored 0badc0de, computed 8a1f02c3"
  // true: the line lies after the last valid record of the newest file — an
  // unterminated or bad last line left by a write in progress or a crash (a
  // torn tail, which HistoryWriter::open cuts). false: corruption.
  bool torn = false;
};

// The log files, oldest first: dir/history.log.K ... dir/history.log.1,
// dir/history.log — only those that exist, ordered by their number K (gaps
// allowed). `path` is either the log directory (the current file is then
// kHistoryFileName) or the current log file itself (its name is the base of
// the rotated names). Returns an empty vector when nothing exists.
std::vector<std::string> history_files(const std::string& path);

// Streams every valid record of `files` (oldest first, as history_files
// returns them), in order, to `on_record`; returning false from it stops the
// read (still an ok Status). Bad lines go to `on_problem` in file order,
// interleaved with the records. A file that no longer exists is skipped (it
// was rotated away). Returns an error Status only when a file cannot be
// opened or read, or is not a regular file.
// REQUIRES: on_record is callable.
Status read_history(const std::vector<std::string>& files,
                    const std::function<bool(const HistoryRecord&)>& on_record,
                    const std::function<void(const HistoryProblem&)>& on_problem);

// Replaces *out with the last `n` valid records accepted by `filter` (empty =
// all), oldest first. Reads the files from their END backwards in blocks and
// stops as soon as it has `n` records, so its cost is proportional to what it
// returns (and to what `filter` rejects), not to the size of the log. Problems
// met on the way are reported newest first, with line_no 0. The seq check
// runs backwards: a record whose seq is not below that of the valid record
// after it is reported and skipped.
// REQUIRES: out != nullptr.
Status read_history_tail(const std::vector<std::string>& files, std::size_t n,
                         const std::function<bool(const HistoryRecord&)>& filter,
                         std::vector<HistoryRecord>* out,
                         const std::function<void(const HistoryProblem&)>& on_problem);

}  // namespace otpsup
