// HistoryWriter: the single appender of the restart history log
// (DESIGN.md §3; on-disk format in history_format.h).
//
// One process, one writer: the log must not be opened by two writers at once
// (otpsupd holds its state-dir lock). A HistoryWriter is not thread-safe. It
// owns the file descriptor of the current file and closes it on destruction.
//
// Durability (HistorySync, from [daemon] history_sync):
//   always  fdatasync after every append; append returns once it is durable.
//   batch   append only marks the writer dirty; the daemon calls sync() at
//           the end of a loop iteration that appended, or, while records
//           keep coming, at most once every 5 ms, so records appended
//           together share one fdatasync (group commit).
//   never   no fdatasync, ever (the directory is not fsynced either).
// A failed write(2), fdatasync or rotation POISONS the writer: that call and
// every later append()/sync() return an error Status, because the file's
// tail can no longer be trusted; reopening repairs it.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "otpsup/config.h"
#include "otpsup/status.h"
#include "otpsup/unique_fd.h"

namespace otpsup {

struct HistoryOptions {
  std::string dir;                        // log directory (created 0700 if missing)
  std::string file_name = "history.log";  // current file; rotated ones add ".1", ".2", ...
  HistorySync sync = HistorySync::batch;
  std::uint64_t max_size = 64ull << 20;  // rotate before an append would grow the file past this
  int keep = 4;                          // rotated files kept (.1 ... .keep); 0 keeps none
};

class HistoryWriter {
 public:
  // Creates `dir` (and missing parents, mode 0700) and opens dir/file_name
  // O_RDWR|O_APPEND|O_CREAT|O_CLOEXEC (mode 0600). Repairs a torn tail: an
  // unterminated last line and any bad lines after the last valid record are
  // cut with one ftruncate (made durable unless sync is never), and each cut
  // line is described in *repairs, e.g.
  //   "/var/lib/otpsup/history.log: torn tail of 37 bytes cut at offset 1234 (unterminated line)".
  // Corruption with valid records after it is left alone (readers report it).
  // The last seq is found by reading the current file backwards from its end
  // (never the whole file); when the current file is empty, from the newest
  // rotated file holding a valid record; else the log starts at seq 1.
  // A fresh random boot id is drawn (getrandom). Refuses, rather than cut, a
  // non-empty current file with no valid record and more than one bad line.
  // Returns nullptr and sets *error ("history: what: path: strerror") on
  // failure. `error` and `repairs` may be null; repairs are appended.
  // REQUIRES: options.max_size > 0, options.keep >= 0, options.dir non-empty.
  static std::unique_ptr<HistoryWriter> open(const HistoryOptions& options, std::string* error,
                                             std::vector<std::string>* repairs);

  // Best effort: fdatasyncs pending batch records (errors are lost — call
  // sync() first to see them).
  ~HistoryWriter();
  HistoryWriter(const HistoryWriter&) = delete;
  HistoryWriter& operator=(const HistoryWriter&) = delete;

  // Appends one record with a single write(2):
  //   {"seq":N,"ts":"..","boot":"..",<members of `fields`, in order>,"crc":".."}\n
  // with N = last_seq() + 1 and ts = now (UTC). Strings are written as UTF-8;
  // invalid UTF-8 is replaced by U+FFFD. Before writing, rotates when the
  // current file is non-empty and the record would grow it past max_size:
  // history.log.(keep-1) -> .keep, ..., history.log -> .1 (older files are
  // deleted), a new empty history.log is created and the directory fsynced.
  // Returns the line written (without '\n') in *line_out if non-null.
  // Errors that do NOT poison (nothing was written): `fields` is not an
  // object, uses a reserved member (seq, ts, boot, crc), or the line would
  // exceed kMaxRecordBytes. A failed write (also a short one), fdatasync or
  // rotation poisons the writer.
  Status append(const nlohmann::ordered_json& fields, std::string* line_out = nullptr);

  // fdatasync if dirty(); a no-op otherwise. Fails (and poisons) if the
  // fdatasync fails; fails if the writer is poisoned.
  Status sync();

  // True when records were appended under HistorySync::batch and not yet
  // synced. Always false under always and never.
  bool dirty() const { return dirty_; }
  // The seq of the last record in the log (0 for an empty log).
  std::uint64_t last_seq() const { return last_seq_; }
  // This writer's boot id: kBootIdHexChars lower-case hex digits.
  const std::string& boot_id() const { return boot_id_; }
  // dir/file_name.
  std::string current_path() const;
  // The error that poisoned the writer, or ok.
  const Status& poison() const { return poison_; }

 private:
  struct Key {  // only open() can construct a HistoryWriter
    explicit Key() = default;
  };

 public:
  HistoryWriter(Key, const HistoryOptions& options);

 private:
  Status rotate();
  Status fail(Status status);  // poisons with `status` and returns it

  HistoryOptions options_;
  UniqueFd fd_;
  std::uint64_t size_ = 0;  // bytes in the current file
  std::uint64_t last_seq_ = 0;
  std::string boot_id_;
  bool dirty_ = false;
  Status poison_;
};

}  // namespace otpsup
