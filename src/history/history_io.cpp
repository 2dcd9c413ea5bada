#include "history_io.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "otpsup/history_format.h"

namespace otpsup::history_internal {
namespace {

constexpr std::uint64_t kBlockSize = 64 * 1024;

// pread until `length` bytes or EOF; *got is what was read.
Status pread_full(int fd, const std::string& path, std::uint64_t offset, std::size_t length,
                  char* dst, std::size_t* got) {
  std::size_t done = 0;
  while (done < length) {
    const ssize_t n = ::pread(fd, dst + done, length - done, static_cast<off_t>(offset + done));
    if (n < 0) {
      if (errno == EINTR) continue;
      return Status::from_errno("history: cannot read", path, errno);
    }
    if (n == 0) break;
    done += static_cast<std::size_t>(n);
  }
  *got = done;
  return Status::ok_status();
}

}  // namespace

bool decode_line(const Line& line, HistoryRecord* out, std::string* reason) {
  if (line.oversized) {
    *reason = "line of " + std::to_string(line.length) + " bytes exceeds the limit of " +
              std::to_string(kMaxRecordBytes);
    return false;
  }
  if (!line.terminated) {
    *reason = "unterminated line of " + std::to_string(line.length) + " bytes (no '\\n')";
    return false;
  }
  if (!verify_record_line(line.text, reason)) return false;
  nlohmann::json json = nlohmann::json::parse(line.text, nullptr, /*allow_exceptions=*/false);
  if (json.is_discarded()) {
    *reason = "invalid JSON";
    return false;
  }
  if (!json.is_object()) {
    *reason = "not a JSON object";
    return false;
  }
  const auto seq = json.find(kSeqMember);
  if (seq == json.end() || !seq->is_number_unsigned()) {
    *reason = "no unsigned \"seq\" member";
    return false;
  }
  out->seq = seq->get<std::uint64_t>();
  out->line = line.text;
  out->json = std::move(json);
  return true;
}

Status open_for_reading(const std::string& path, UniqueFd* fd, int* err) {
  *err = 0;
  for (;;) {
    const int raw = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (raw >= 0) {
      fd->reset(raw);
      struct stat st {};
      if (::fstat(raw, &st) != 0) return Status::from_errno("history: cannot stat", path, errno);
      if (!S_ISREG(st.st_mode)) {  // a device or fifo could stream forever
        fd->reset();
        return Status::error("history: cannot read " + path + ": not a regular file");
      }
      return Status::ok_status();
    }
    if (errno == EINTR) continue;
    *err = errno;
    return Status::from_errno("history: cannot open", path, errno);
  }
}

Status file_size(int fd, const std::string& path, std::uint64_t* size) {
  struct stat st {};
  if (::fstat(fd, &st) != 0) return Status::from_errno("history: cannot stat", path, errno);
  *size = S_ISREG(st.st_mode) ? static_cast<std::uint64_t>(st.st_size) : 0;
  return Status::ok_status();
}

// ---- ReverseLineReader ----------------------------------------------------

ReverseLineReader::ReverseLineReader(int fd, std::string path, std::uint64_t end)
    : fd_(fd), path_(std::move(path)), end_(end), pos_(end) {}

bool ReverseLineReader::load_block(std::uint64_t containing) {
  const std::uint64_t start = containing - containing % kBlockSize;
  if (have_block_ && block_start_ == start) return true;
  const std::size_t want = static_cast<std::size_t>(std::min(kBlockSize, end_ - start));
  block_.resize(want);
  std::size_t got = 0;
  status_ = pread_full(fd_, path_, start, want, block_.data(), &got);
  if (!status_.ok()) return false;
  if (got != want) {
    status_ = Status::error("history: " + path_ + ": file shrank while being read");
    return false;
  }
  block_start_ = start;
  have_block_ = true;
  return true;
}

bool ReverseLineReader::find_prev_newline(std::uint64_t before, bool* found, std::uint64_t* at) {
  std::uint64_t p = before;
  while (p > 0) {
    if (!load_block(p - 1)) return false;
    const std::size_t len = static_cast<std::size_t>(p - block_start_);
    const void* hit = ::memrchr(block_.data(), '\n', len);
    if (hit != nullptr) {
      *found = true;
      *at =
          block_start_ + static_cast<std::uint64_t>(static_cast<const char*>(hit) - block_.data());
      return true;
    }
    p = block_start_;
  }
  *found = false;
  return true;
}

bool ReverseLineReader::read_range(std::uint64_t offset, std::uint64_t length, std::string* out) {
  if (have_block_ && offset >= block_start_ && offset + length <= block_start_ + block_.size()) {
    out->assign(block_.data() + (offset - block_start_), static_cast<std::size_t>(length));
    return true;
  }
  out->resize(static_cast<std::size_t>(length));
  std::size_t got = 0;
  status_ = pread_full(fd_, path_, offset, out->size(), out->data(), &got);
  if (!status_.ok()) return false;
  if (got != length) {
    status_ = Status::error("history: " + path_ + ": file shrank while being read");
    return false;
  }
  return true;
}

bool ReverseLineReader::prev(Line* line) {
  if (pos_ == 0 || !status_.ok()) return false;
  // Only the last line of the range can lack its '\n': every later call
  // starts right after a '\n'.
  if (!load_block(pos_ - 1)) return false;
  const bool terminated = block_[static_cast<std::size_t>(pos_ - 1 - block_start_)] == '\n';
  const std::uint64_t line_end = terminated ? pos_ - 1 : pos_;
  bool found = false;
  std::uint64_t newline_at = 0;
  if (!find_prev_newline(line_end, &found, &newline_at)) return false;
  const std::uint64_t start = found ? newline_at + 1 : 0;
  line->offset = start;
  line->length = line_end - start;
  line->terminated = terminated;
  line->oversized = line->length > kMaxRecordBytes;
  line->text.clear();
  if (!line->oversized && !read_range(start, line->length, &line->text)) return false;
  pos_ = start;
  return true;
}

// ---- ForwardLineReader ----------------------------------------------------

ForwardLineReader::ForwardLineReader(int fd, std::string path) : fd_(fd), path_(std::move(path)) {}

bool ForwardLineReader::next(Line* line) {
  if (eof_ || !status_.ok()) return false;
  const std::uint64_t line_offset = buf_file_offset_ + pos_;
  std::uint64_t skipped = 0;  // bytes of an oversized line already dropped
  for (;;) {
    const char* begin = buf_.data() + pos_;
    const std::size_t avail = buf_.size() - pos_;
    if (const void* nl = std::memchr(begin, '\n', avail)) {
      const std::size_t len = static_cast<std::size_t>(static_cast<const char*>(nl) - begin);
      line->offset = line_offset;
      line->length = skipped + len;
      line->terminated = true;
      line->oversized = line->length > kMaxRecordBytes;
      if (line->oversized) {
        line->text.clear();
      } else {
        line->text.assign(begin, len);
      }
      pos_ += len + 1;
      return true;
    }
    if (skipped > 0 || avail > kMaxRecordBytes) {  // oversized: stop keeping its bytes
      skipped += avail;
      pos_ = buf_.size();
    }
    buf_file_offset_ += pos_;
    buf_.erase(0, pos_);
    pos_ = 0;
    const std::size_t old_size = buf_.size();
    buf_.resize(old_size + kBlockSize);
    ssize_t n;
    do {
      n = ::read(fd_, buf_.data() + old_size, kBlockSize);
    } while (n < 0 && errno == EINTR);
    if (n < 0) {
      status_ = Status::from_errno("history: cannot read", path_, errno);
      return false;
    }
    buf_.resize(old_size + static_cast<std::size_t>(n));
    if (n == 0) {
      eof_ = true;
      if (buf_.empty() && skipped == 0) return false;
      line->offset = line_offset;
      line->length = skipped + buf_.size();
      line->terminated = false;
      line->oversized = line->length > kMaxRecordBytes;
      if (line->oversized) {
        line->text.clear();
      } else {
        line->text = buf_;
      }
      buf_file_offset_ += buf_.size();
      buf_.clear();
      return true;
    }
  }
}

}  // namespace otpsup::history_internal
