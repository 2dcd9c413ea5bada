#include "os/child_log.h"

#include "os/private_dirs.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <utility>

#include "otpsup/history_format.h"

namespace otpsup {

namespace {

// A poll callback reads at most this much per stream before returning to the
// loop; finish() at most kFinishBudget (a helper still writing cannot keep it).
constexpr std::size_t kReadBudget = std::size_t{1} << 20;
constexpr std::size_t kFinishBudget = std::size_t{4} << 20;
constexpr std::size_t kReadChunk = std::size_t{64} << 10;
constexpr auto kRetryInterval = std::chrono::seconds(1);

std::string errno_text(const std::string& what, const std::string& object, int err) {
  return what + " " + object + ": " + std::strerror(err);
}

// One read buffer for every ChildLog of the thread: reading never re-enters.
std::vector<char>& read_buffer() {
  static thread_local std::vector<char> buffer(kReadChunk);
  return buffer;
}

// mkdir -p of the directory part of `file`, 0700 for what it creates.
bool make_parent_dirs(const std::string& file, std::string* error) {
  const auto last_slash = file.rfind('/');
  if (last_slash == std::string::npos || last_slash == 0) return true;
  Status s = make_private_dirs(file.substr(0, last_slash));
  if (!s.ok()) *error = s.message();
  return s.ok();
}

std::string rotated_name(const std::string& file, int k) {
  return file + "." + std::to_string(k);
}

}  // namespace

ChildLog::ChildLog(PassKey, ReadableSet* readers, LogOptions options)
    : readers_(readers), options_(std::move(options)) {
  if (options_.keep < 0) options_.keep = 0;
}

std::unique_ptr<ChildLog> ChildLog::open(ReadableSet* readers, LogOptions options,
                                         std::string* error) {
  auto log = std::make_unique<ChildLog>(PassKey(), readers, std::move(options));
  for (int s : {kOut, kErr}) {
    int fds[2];
    if (::pipe2(fds, O_CLOEXEC) != 0) {
      if (error) *error = errno_text("pipe2", s == kOut ? "(stdout)" : "(stderr)", errno);
      return nullptr;  // the destructor closes the other pipe, if any
    }
    log->streams_[s].read_end.reset(fds[0]);
    log->write_ends_[s].reset(fds[1]);
    // A new pipe's read end has no other status flag to keep.
    if (::fcntl(fds[0], F_SETFL, O_NONBLOCK) != 0) {
      if (error) *error = errno_text("fcntl(O_NONBLOCK)", "(pipe)", errno);
      return nullptr;
    }
  }
  // The file is opened with the first record, not here: a start costs no
  // mkdir/open, and a worker that writes nothing creates no file.
  return log;
}

ChildLog::~ChildLog() {
  if (!streams_[kOut].open && !streams_[kErr].open) return;
  now_ = format_record_timestamp(std::chrono::system_clock::now());
  for (StreamIndex s : {kOut, kErr}) {
    if (streams_[s].open) close_stream(s);
  }
}

void ChildLog::started() {
  if (started_) return;
  started_ = true;
  for (auto& w : write_ends_) w.reset();
  for (Stream& stream : streams_) {
    if (!stream.open) continue;
    // If epoll refuses it, its output is read by finish(): what the pipe
    // holds by then.
    readers_->add(stream.read_end.get(), this, &last_error_);
  }
}

void ChildLog::finish() {
  for (auto& w : write_ends_) w.reset();
  for (StreamIndex s : {kOut, kErr}) {
    if (!streams_[s].open) continue;
    read_some(s, kFinishBudget);
    close_stream(s);
  }
}

void ChildLog::on_readable(int fd) {
  // Errors and hang-ups are found by read() itself; a spurious call reads
  // EAGAIN.
  const StreamIndex s = fd == streams_[kOut].read_end.get() ? kOut : kErr;
  if (streams_[s].read_end.get() != fd) return;
  if (!read_some(s, kReadBudget)) close_stream(s);
}

bool ChildLog::read_some(StreamIndex s, std::size_t budget) {
  Stream& stream = streams_[s];
  const int fd = stream.read_end.get();
  std::vector<char>& buffer = read_buffer();
  now_ = format_record_timestamp(std::chrono::system_clock::now());
  while (budget > 0) {
    const ssize_t n = ::read(fd, buffer.data(), std::min(buffer.size(), budget));
    if (n > 0) {
      consume(s, std::string_view(buffer.data(), static_cast<std::size_t>(n)));
      budget -= static_cast<std::size_t>(n);
      continue;
    }
    if (n == 0) return false;  // every write end is closed
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) return true;
    last_error_ = errno_text("read", s == kOut ? "(stdout pipe)" : "(stderr pipe)", errno);
    return false;
  }
  return true;
}

void ChildLog::consume(StreamIndex s, std::string_view data) {
  std::string& partial = streams_[s].partial;
  while (!data.empty()) {
    const auto nl = data.find('\n');
    if (nl == std::string_view::npos) {
      partial.append(data);
      // Keep at most one piece back: the rest of a long line goes out now.
      std::size_t from = 0;
      while (partial.size() - from > kMaxLogPieceBytes) {
        write_record(s, std::string_view(partial).substr(from, kMaxLogPieceBytes), '+');
        from += kMaxLogPieceBytes;
      }
      partial.erase(0, from);
      return;
    }
    const std::string_view line = data.substr(0, nl);
    data.remove_prefix(nl + 1);
    if (partial.empty()) {
      emit(s, line, '\0');
    } else {
      partial.append(line);
      emit(s, partial, '\0');
      partial.clear();
    }
  }
}

void ChildLog::emit(StreamIndex s, std::string_view text, char flag) {
  while (text.size() > kMaxLogPieceBytes) {
    write_record(s, text.substr(0, kMaxLogPieceBytes), '+');
    text.remove_prefix(kMaxLogPieceBytes);
  }
  write_record(s, text, flag);
}

void ChildLog::close_stream(StreamIndex s) {
  Stream& stream = streams_[s];
  if (!stream.partial.empty()) {
    emit(s, stream.partial, '%');
    stream.partial.clear();
    stream.partial.shrink_to_fit();
  }
  readers_->remove(stream.read_end.get());  // a no-op if it was not watched
  stream.read_end.reset();
  stream.open = false;
  if (done()) file_.reset();
}

void ChildLog::write_record(StreamIndex s, std::string_view text, char flag) {
  if (options_.echo) echo_line(text);

  record_.clear();
  record_.append(now_);
  record_.append(s == kOut ? " out" : " err");
  if (flag != '\0') record_.push_back(flag);
  record_.push_back(' ');
  record_.append(text);
  record_.push_back('\n');

  if (!file_ && retry_allowed()) open_file();
  if (!file_) {
    ++dropped_lines_;
    return;
  }
  if (file_size_ > 0 && file_size_ + record_.size() > options_.max_size && retry_allowed()) {
    rotate();
  }
  const char* p = record_.data();
  std::size_t left = record_.size();
  while (left > 0) {
    const ssize_t n = ::write(file_.get(), p, left);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      last_error_ = errno_text("write", options_.file, n < 0 ? errno : EIO);
      ++dropped_lines_;
      return;
    }
    file_size_ += static_cast<std::uint64_t>(n);
    p += n;
    left -= static_cast<std::size_t>(n);
  }
}

void ChildLog::echo_line(std::string_view text) {
  if (options_.echo_fd < 0) return;
  std::string line;
  line.reserve(options_.echo_prefix.size() + text.size() + 4);
  line.append(options_.echo_prefix).append(" | ").append(text).push_back('\n');
  ssize_t n;
  do {
    n = ::write(options_.echo_fd, line.data(), line.size());
  } while (n < 0 && errno == EINTR);
}

bool ChildLog::retry_allowed() {
  return std::chrono::steady_clock::now() >= next_retry_;
}

void ChildLog::open_file() {
  std::string error;
  if (!make_parent_dirs(options_.file, &error)) {
    last_error_ = error;
    next_retry_ = std::chrono::steady_clock::now() + kRetryInterval;
    return;
  }
  UniqueFd fd(::open(options_.file.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600));
  struct stat st {};
  if (!fd || ::fstat(fd.get(), &st) != 0) {
    last_error_ = errno_text("open", options_.file, errno);
    next_retry_ = std::chrono::steady_clock::now() + kRetryInterval;
    return;
  }
  file_ = std::move(fd);
  file_size_ = static_cast<std::uint64_t>(st.st_size);
}

void ChildLog::rotate() {
  const std::string& file = options_.file;
  auto fail = [&](const std::string& what, const std::string& object, int err) {
    last_error_ = errno_text(what, object, err);
    ++rotation_failures_;
    next_retry_ = std::chrono::steady_clock::now() + kRetryInterval;
  };
  // Oldest first, so no rename overwrites a file that is still wanted. A
  // missing link (ENOENT) is normal: fewer than `keep` rotations so far.
  for (int k = options_.keep; k >= 2; --k) {
    const std::string from = rotated_name(file, k - 1);
    if (::rename(from.c_str(), rotated_name(file, k).c_str()) != 0 && errno != ENOENT) {
      return fail("rotate: rename", from, errno);
    }
  }
  // ENOENT: the current file was moved away already (an earlier rotation
  // whose reopen failed, or someone else): just open a new one.
  const int rc = options_.keep == 0 ? ::unlink(file.c_str())
                                    : ::rename(file.c_str(), rotated_name(file, 1).c_str());
  if (rc != 0 && errno != ENOENT) return fail("rotate: rename", file, errno);
  UniqueFd fd(::open(file.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600));
  if (!fd) return fail("rotate: open", file, errno);  // keep writing to the old file
  file_ = std::move(fd);
  file_size_ = 0;
}

// ------------------------------------------------------------ reading --

namespace {

// Prepends the last lines of `path` to `newest_first` (newest first) until it
// holds `n`. Returns false if the file does not exist (or cannot be read).
// Reads `fd` backwards from byte `end`.
bool tail_of_fd(int fd, std::uint64_t end, std::size_t n, std::vector<std::string>* newest_first);

bool tail_of_file(const std::string& path, std::size_t n, std::vector<std::string>* newest_first,
                  LogEnd* current = nullptr) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  struct stat st {};
  if (!fd || ::fstat(fd.get(), &st) != 0) return false;
  if (current != nullptr) {
    current->inode = static_cast<std::uint64_t>(st.st_ino);
    current->size = static_cast<std::uint64_t>(st.st_size);
  }
  return tail_of_fd(fd.get(), static_cast<std::uint64_t>(st.st_size), n, newest_first);
}

bool tail_of_fd(int fd, std::uint64_t end_offset, std::size_t n,
                std::vector<std::string>* newest_first) {
  std::uint64_t pos = end_offset;
  if (pos == 0 || newest_first->size() >= n) return true;

  constexpr std::size_t kBlock = std::size_t{64} << 10;
  std::vector<char> block(kBlock);
  std::string carry;  // the end of a line whose start is in an earlier block
  bool at_end = true;
  while (pos > 0 && newest_first->size() < n) {
    const std::size_t len = static_cast<std::size_t>(std::min<std::uint64_t>(kBlock, pos));
    pos -= len;
    std::size_t got = 0;
    while (got < len) {
      const ssize_t r = ::pread(fd, block.data() + got, len - got, static_cast<off_t>(pos + got));
      if (r < 0 && errno == EINTR) continue;
      if (r <= 0) return true;  // truncated under us or unreadable: what we have
      got += static_cast<std::size_t>(r);
    }
    std::size_t end = len;  // block[i + 1, end) + carry is the line being scanned
    if (at_end) {
      at_end = false;
      if (block[len - 1] == '\n') end = len - 1;  // the last line's terminator
    }
    for (std::size_t i = end; i-- > 0;) {
      if (block[i] != '\n') continue;
      std::string line(block.data() + i + 1, end - i - 1);
      line += carry;
      carry.clear();
      newest_first->push_back(std::move(line));
      end = i;
      if (newest_first->size() >= n) return true;
    }
    carry.insert(0, block.data(), end);
  }
  // pos == 0: what is left is the file's first line (no '\n' before it),
  // possibly empty (a file starting with an empty line).
  if (newest_first->size() < n) newest_first->push_back(std::move(carry));
  return true;
}

}  // namespace

std::vector<std::string> read_log_tail(const std::string& file, std::size_t n, LogEnd* end) {
  std::vector<std::string> newest_first;
  if (end != nullptr) *end = LogEnd{};
  tail_of_file(file, n, &newest_first, end);
  if (n == 0) return newest_first;
  for (int k = 1; newest_first.size() < n; ++k) {
    if (!tail_of_file(rotated_name(file, k), n, &newest_first)) break;
  }
  std::reverse(newest_first.begin(), newest_first.end());
  return newest_first;
}

}  // namespace otpsup
