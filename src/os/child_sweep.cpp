#include "os/child_sweep.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstddef>
#include <cstring>

namespace otpsup {

namespace {

// Appends the decimal digits of `n` to `buf` at `*len`.
void append_number(char* buf, std::size_t* len, long n) {
  char digits[24];
  int k = 0;
  do {
    digits[k++] = static_cast<char>('0' + n % 10);
    n /= 10;
  } while (n > 0);
  while (k > 0) buf[(*len)++] = digits[--k];
}

void append_text(char* buf, std::size_t* len, const char* text) {
  const std::size_t n = std::strlen(text);
  std::memcpy(buf + *len, text, n);
  *len += n;
}

int open_retrying(const char* path, int flags) {
  int fd;
  do {
    fd = ::open(path, flags | O_CLOEXEC);
  } while (fd < 0 && errno == EINTR);
  return fd;
}

// /proc/PID/task/PID/children: pids separated by spaces. False when the file
// does not exist (kernel without CONFIG_PROC_CHILDREN).
bool read_children_file(pid_t self, void (*fn)(int, void*), void* ctx) {
  char path[64];
  std::size_t len = 0;
  append_text(path, &len, "/proc/");
  append_number(path, &len, self);
  append_text(path, &len, "/task/");
  append_number(path, &len, self);
  append_text(path, &len, "/children");
  path[len] = '\0';
  const int fd = open_retrying(path, O_RDONLY);
  if (fd < 0) return false;
  // The kernel fills at most one page per read(2), and every read(2) walks
  // the list of children from its head to where the previous one stopped:
  // a smaller buffer multiplies those walks (O(children^2 / buffer)).
  char buf[4096];
  long pid = 0;
  bool in_number = false;
  for (;;) {
    const ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    for (ssize_t i = 0; i < n; ++i) {
      if (buf[i] >= '0' && buf[i] <= '9') {
        pid = pid * 10 + (buf[i] - '0');
        in_number = true;
      } else if (in_number) {
        fn(static_cast<int>(pid), ctx);
        pid = 0;
        in_number = false;
      }
    }
  }
  if (in_number) fn(static_cast<int>(pid), ctx);
  ::close(fd);
  return true;
}

// The parent pid in /proc/PID/stat ("pid (comm) S ppid ..."), or -1.
long parent_of(const char* pid_text) {
  char path[64];
  std::size_t len = 0;
  append_text(path, &len, "/proc/");
  const std::size_t name_len = std::strlen(pid_text);
  if (name_len > 20) return -1;
  append_text(path, &len, pid_text);
  append_text(path, &len, "/stat");
  path[len] = '\0';
  const int fd = open_retrying(path, O_RDONLY);
  if (fd < 0) return -1;
  char buf[1024];
  ssize_t n;
  do {
    n = ::read(fd, buf, sizeof buf - 1);
  } while (n < 0 && errno == EINTR);
  ::close(fd);
  if (n <= 0) return -1;
  buf[n] = '\0';
  const char* p = std::strrchr(buf, ')');  // comm may hold anything but ends at the last ')'
  if (p == nullptr || p[1] != ' ' || p[2] == '\0' || p[3] != ' ') return -1;
  p += 4;
  long ppid = 0;
  while (*p >= '0' && *p <= '9') ppid = ppid * 10 + (*p++ - '0');
  return ppid;
}

// Fallback: every /proc/<digits> whose parent is us, read with getdents64.
bool scan_proc(pid_t self, void (*fn)(int, void*), void* ctx) {
  const int dir = open_retrying("/proc", O_RDONLY | O_DIRECTORY);
  if (dir < 0) return false;
  alignas(8) char buf[4096];
  for (;;) {
    const long n = ::syscall(SYS_getdents64, dir, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    for (long off = 0; off < n;) {
      // struct linux_dirent64: ino (8), off (8), reclen (2), type (1), name.
      unsigned short reclen;
      std::memcpy(&reclen, buf + off + 16, sizeof reclen);
      const char* name = buf + off + 19;
      off += reclen;
      if (name[0] < '1' || name[0] > '9') continue;
      if (parent_of(name) != self) continue;
      long pid = 0;
      for (const char* c = name; *c >= '0' && *c <= '9'; ++c) pid = pid * 10 + (*c - '0');
      fn(static_cast<int>(pid), ctx);
    }
  }
  ::close(dir);
  return true;
}

void kill_group_and_pid(int pid, void*) {
  // A child leads its own group (setsid); an adopted orphan may not, and then
  // no group has its pid as id: only the process itself is hit.
  ::kill(-pid, SIGKILL);
  ::kill(pid, SIGKILL);
}

}  // namespace

bool for_each_own_child(void (*fn)(int pid, void* ctx), void* ctx) {
  const pid_t self = ::getpid();
  if (read_children_file(self, fn, ctx)) return true;
  return scan_proc(self, fn, ctx);
}

std::vector<int> own_children() {
  std::vector<int> pids;
  for_each_own_child([](int pid, void* v) { static_cast<std::vector<int>*>(v)->push_back(pid); },
                     &pids);
  return pids;
}

void kill_and_reap_all_children() {
  for (;;) {
    for_each_own_child(kill_group_and_pid, nullptr);
    int status;
    const pid_t reaped = ::waitpid(-1, &status, 0);
    if (reaped < 0 && errno == EINTR) continue;
    if (reaped < 0) return;  // ECHILD: nothing left
  }
}

}  // namespace otpsup
