// Internal to the history module: line readers over a log file and the one
// definition of "a valid record" shared by the writer (tail repair, last seq)
// and the readers.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "otpsup/history_reader.h"
#include "otpsup/status.h"
#include "otpsup/unique_fd.h"

namespace otpsup::history_internal {

// One line of a log file.
struct Line {
  std::uint64_t offset = 0;  // of its first byte
  std::uint64_t length = 0;  // without the '\n'
  bool terminated = false;   // followed by '\n'
  bool oversized = false;    // length > kMaxRecordBytes; `text` is then empty
  std::string text;          // the bytes, without '\n'
};

// Decodes a line into *out: terminated, not oversized, framing and CRC good
// (verify_record_line), a JSON object, with an unsigned "seq". On failure
// returns false and sets *reason.
bool decode_line(const Line& line, HistoryRecord* out, std::string* reason);

// Opens `path` read-only (O_CLOEXEC); it must be a regular file. On failure
// *err is the open(2) errno (0 when the file is not a regular file).
Status open_for_reading(const std::string& path, UniqueFd* fd, int* err);

// Size of the file behind `fd`.
Status file_size(int fd, const std::string& path, std::uint64_t* size);

// Reads the lines of bytes [0, end) of a file from the last to the first, in
// 64 KiB blocks. Does not own `fd`. Memory is bounded by kMaxRecordBytes plus
// one block, whatever the file holds.
class ReverseLineReader {
 public:
  ReverseLineReader(int fd, std::string path, std::uint64_t end);
  // Moves to the previous line. Returns false at the start of the file, or
  // on a read error (then status() is not ok).
  bool prev(Line* line);
  const Status& status() const { return status_; }
  // Offset of the first byte of the last line returned (end at first).
  std::uint64_t position() const { return pos_; }

 private:
  bool load_block(std::uint64_t containing);
  bool find_prev_newline(std::uint64_t before, bool* found, std::uint64_t* at);
  bool read_range(std::uint64_t offset, std::uint64_t length, std::string* out);

  int fd_;
  std::string path_;
  std::uint64_t end_;
  std::uint64_t pos_;
  std::string block_;
  std::uint64_t block_start_ = 0;
  bool have_block_ = false;
  Status status_;
};

// Reads the lines of a file from the first to the last, until EOF. An
// unterminated last line is returned with terminated = false. Does not own
// `fd`. Memory is bounded by kMaxRecordBytes plus one block.
class ForwardLineReader {
 public:
  ForwardLineReader(int fd, std::string path);
  // Moves to the next line. Returns false at EOF or on a read error (then
  // status() is not ok).
  bool next(Line* line);
  const Status& status() const { return status_; }

 private:
  int fd_;
  std::string path_;
  std::string buf_;
  std::size_t pos_ = 0;                // next unread byte in buf_
  std::uint64_t buf_file_offset_ = 0;  // file offset of buf_[0]
  bool eof_ = false;
  Status status_;
};

}  // namespace otpsup::history_internal
