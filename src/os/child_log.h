// Capturing one child's stdout and stderr into a rotated log file (DESIGN.md §6).
//
// FILE FORMAT. A log file is a sequence of records, one per line:
//
//   2026-11-26T12:00:01.234567Z out hello world\n
//   <timestamp>                 <tag> <text>
//
// timestamp  UTC, RFC 3339, exactly 6 fractional digits and 'Z'
//            (format_record_timestamp): when the supervisor read the bytes
//            that completed the record.
// tag        the stream, "out" or "err", optionally followed by ONE flag:
//              out  err    a complete line (its '\n' removed; text may be empty)
//              out+ err+   a kMaxLogPieceBytes piece of a longer line: the line
//                          goes on in the next record of the same stream (the
//                          last piece carries the plain or '%' tag)
//              out% err%   the stream closed (or the child exited) in the middle
//                          of a line: the text had no terminating newline (like
//                          zsh's '%' for output without a final newline)
// text       the child's bytes, verbatim except the '\n' (so it may contain
//            '\r', NUL, invalid UTF-8...). At most kMaxLogPieceBytes.
//
// The tag is produced by the supervisor, never by the child, so a child cannot
// forge a flag. Each record is written with one write(2) to a file opened with
// O_APPEND (mode 0600; missing directories are created with mode 0700).
//
// ROTATION. Before a record is written that would make the current file pass
// max_size bytes (and the file is not empty), the chain is shifted:
// file.(keep-1) -> file.keep, ..., file.1 -> file.2, file -> file.1, and a new
// `file` is opened. So at most `keep` rotated files remain, file.1 the newest;
// keep == 0 just removes the current file. A record larger than max_size is
// still written, alone in its file.
//
// FAILURES NEVER STOP THE CHILD OR BLOCK THE SUPERVISOR. If the file cannot be
// opened or a write fails, that record is dropped and counted
// (dropped_lines()); opening is retried at most once a second. If a rotation
// fails, it is counted (rotation_failures()) and records keep going to the
// current file (which then grows past max_size) until a retry, at most once a
// second, succeeds. last_error() describes the latest such problem.
//
// Not thread-safe: one ChildLog belongs to the thread that runs its uv loop
// (the loop of its ReadableSet).
#pragma once

#include <unistd.h>
#include <uv.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "os/readable_set.h"
#include "otpsup/unique_fd.h"

namespace otpsup {

// Longest text of one record; longer lines are split into pieces this long.
inline constexpr std::size_t kMaxLogPieceBytes = std::size_t{64} << 10;

struct LogOptions {
  // e.g. STATE_DIR/logs/root/demo_tracking/counter1.log; missing directories
  // are created (0700).
  std::string file;
  // Rotate before a write would make the current file pass this many bytes.
  std::uint64_t max_size = 10 << 20;
  // Rotated files kept: file.1 (newest) ... file.keep. Negative means 0.
  int keep = 3;
  // Also write each record's text to echo_fd as "<echo_prefix> | <text>\n"
  // (--foreground). One write(2) per line, best effort: a failed or short
  // write is not retried and not counted. The echo fd is used as it is: if it
  // is a blocking descriptor (a terminal), a stalled reader stalls the loop.
  bool echo = false;
  std::string echo_prefix;  // the child's path, e.g. "root/demo_tracking/counter1"
  int echo_fd = STDOUT_FILENO;
};

// One child's output: owns the read ends of its stdout and stderr pipes (both
// non-blocking, watched in a ReadableSet) and the log file.
// Records are formed as described above; a partial line is kept (up to
// kMaxLogPieceBytes per stream) until its newline comes or its pipe closes.
// A readable callback reads at most 1 MiB per stream before returning to the
// loop. When both pipes have reached end-of-file they and the file are
// closed by themselves; finish() is then a no-op.
class ChildLog final : private ReadableSet::Listener {
 public:
  // Creates both pipes (close-on-exec; the write ends stay blocking, as a
  // child expects of its stdout); the log file is opened (and its
  // directories made) when the first record is written. Returns nullptr and
  // sets *error (if non-null) only when the pipes cannot be created; a log
  // file that cannot be opened is not an error here: see last_error() and
  // dropped_lines().
  // REQUIRES: called before fork; `readers` outlives this object.
  static std::unique_ptr<ChildLog> open(ReadableSet* readers, LogOptions options,
                                        std::string* error);

  struct PassKey {
   private:
    friend class ChildLog;
    PassKey() = default;
  };
  // Use open(); public only for std::make_unique.
  ChildLog(PassKey, ReadableSet* readers, LogOptions options);
  ChildLog(const ChildLog&) = delete;
  ChildLog& operator=(const ChildLog&) = delete;
  // Closes the pipes without reading them further (the child, if still
  // writing, gets EPIPE/SIGPIPE), writes any partial lines already read with
  // the '%' flag, closes the file.
  ~ChildLog();

  // The write ends, close-on-exec, owned by this object until started(): the
  // spawner dup2()s them onto 1 and 2 in the child. -1 after started().
  int child_stdout_fd() const { return write_ends_[kOut].get(); }
  int child_stderr_fd() const { return write_ends_[kErr].get(); }

  // After fork (in the parent): closes the parent's copies of the write ends,
  // so end-of-file is seen when the child (and anything it passed its stdout
  // to) is gone, and starts watching the read ends. Call once.
  void started();

  // The child has exited: reads what is left in the pipes without blocking
  // (stopping at EAGAIN, so a helper process still holding a write end does
  // not hold this up; at most 4 MiB per pipe), writes a pending partial line
  // of each stream with the '%' flag, closes the pipes and the file.
  // Idempotent; also valid before started().
  void finish();

  // Records that could not be written to the file.
  std::uint64_t dropped_lines() const { return dropped_lines_; }
  // Rotations that failed (the records went to the current file instead).
  std::uint64_t rotation_failures() const { return rotation_failures_; }
  // The latest file problem ("open /x/y.log: Permission denied"); empty if none.
  const std::string& last_error() const { return last_error_; }
  // True once both pipes are closed (end-of-file, finish() or failure).
  bool done() const { return !streams_[kOut].open && !streams_[kErr].open; }

 private:
  enum StreamIndex { kOut = 0, kErr = 1 };
  struct Stream {
    UniqueFd read_end;    // in readers_ from started() until closed
    std::string partial;  // bytes of an unterminated line
    bool open = true;
  };

  void on_readable(int fd) override;
  // Reads up to `budget` bytes; returns false once the pipe is at EOF/error.
  bool read_some(StreamIndex s, std::size_t budget);
  void consume(StreamIndex s, std::string_view data);
  void close_stream(StreamIndex s);
  void emit(StreamIndex s, std::string_view text, char flag);
  void write_record(StreamIndex s, std::string_view text, char flag);
  void echo_line(std::string_view text);
  void open_file();
  void rotate();
  bool retry_allowed();

  ReadableSet* readers_;
  LogOptions options_;
  UniqueFd write_ends_[2];
  Stream streams_[2];
  UniqueFd file_;
  std::uint64_t file_size_ = 0;
  std::chrono::steady_clock::time_point next_retry_{};
  std::string now_;     // timestamp of the current read batch
  std::string record_;  // reused buffer for one record
  std::uint64_t dropped_lines_ = 0;
  std::uint64_t rotation_failures_ = 0;
  std::string last_error_;
  bool started_ = false;
};

// The last `n` records (lines without their '\n', oldest first) of the log
// whose current file is `file`: from `file`, then from file.1, file.2, ...
// while more are needed (stopping at the first rotated file that does not
// exist). A missing or unreadable file contributes nothing; an unterminated
// last line counts as a line. Reads backwards, so the cost is proportional to
// the lines returned, not to the file sizes.
//
// `end` (if non-null) gets the inode and the size of the current file as it
// was read, so that a follower (`log -f`) can go on from exactly there.
struct LogEnd {
  std::uint64_t inode = 0;  // 0: there is no current file
  std::uint64_t size = 0;
};
std::vector<std::string> read_log_tail(const std::string& file, std::size_t n,
                                       LogEnd* end = nullptr);

}  // namespace otpsup
