#include "ctl/log_follow.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ctl/client.h"
#include "otpsup/unique_fd.h"

namespace otpsup::ctl {

namespace {

std::uint64_t inode_of(int fd) {
  struct stat st {};
  return ::fstat(fd, &st) == 0 ? static_cast<std::uint64_t>(st.st_ino) : 0;
}

std::uint64_t inode_at(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0 ? static_cast<std::uint64_t>(st.st_ino) : 0;
}

// The file being read and what of its last line has come so far.
class LogReader {
 public:
  LogReader(std::string file, std::ostream& out) : file_(std::move(file)), out_(out) {}

  // Opens the file if it exists; resumes at `offset` when it is still the
  // file with `inode`.
  void open(std::uint64_t inode, std::uint64_t offset) {
    fd_ = UniqueFd(::open(file_.c_str(), O_RDONLY | O_CLOEXEC));
    if (fd_ && inode != 0 && inode_of(fd_.get()) == inode) {
      ::lseek(fd_.get(), static_cast<off_t>(offset), SEEK_SET);
    }
  }

  // Reads what is new; after a rotation, finishes the old file and goes on
  // with the new one.
  void catch_up() {
    for (;;) {
      if (!fd_) {
        open(0, 0);
        if (!fd_) return;
      }
      read_to_end();
      const std::uint64_t now_at_path = inode_at(file_);
      if (now_at_path == inode_of(fd_.get())) return;
      // Rotated (or removed): what was written to the old file is read.
      read_to_end();
      flush_partial();
      fd_.reset();
      if (now_at_path == 0) return;
    }
  }

 private:
  void read_to_end() {
    char chunk[64 * 1024];
    for (;;) {
      const ssize_t n = ::read(fd_.get(), chunk, sizeof chunk);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) break;
      partial_.append(chunk, static_cast<std::size_t>(n));
      std::size_t start = 0;
      for (std::size_t nl; (nl = partial_.find('\n', start)) != std::string::npos; start = nl + 1) {
        out_.write(partial_.data() + start, static_cast<std::streamsize>(nl + 1 - start));
      }
      partial_.erase(0, start);
    }
    out_.flush();
  }

  void flush_partial() {
    if (partial_.empty()) return;
    out_ << partial_ << '\n';
    partial_.clear();
    out_.flush();
  }

  std::string file_;
  std::ostream& out_;
  UniqueFd fd_;
  std::string partial_;
};

}  // namespace

Status follow_log_file(const std::string& file, std::uint64_t inode, std::uint64_t offset,
                       std::ostream& out) {
  const std::string dir = file.substr(0, file.rfind('/'));
  UniqueFd watch(::inotify_init1(IN_CLOEXEC | IN_NONBLOCK));
  if (!watch) return Status::from_errno("inotify_init1", "", errno);
  if (::inotify_add_watch(watch.get(), dir.c_str(),
                          IN_MODIFY | IN_CREATE | IN_MOVED_TO | IN_MOVED_FROM | IN_DELETE) < 0) {
    return Status::from_errno("watch", dir, errno);
  }
  LogReader reader(file, out);
  reader.open(inode, offset);
  for (;;) {
    reader.catch_up();
    if (!InterruptScope::wait_readable(watch.get())) return Status::ok_status();
    // The events only say "look again": drain them.
    char events[16 * 1024];
    while (::read(watch.get(), events, sizeof events) > 0) {
    }
  }
}

}  // namespace otpsup::ctl
