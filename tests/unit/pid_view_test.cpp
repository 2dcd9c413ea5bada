// PidView: identity without an outer procfs, identity through the procfs of
// our own namespace, and the real translation of a pid 1 in a new PID
// namespace (skipped, with a message, where unshare(CLONE_NEWPID) fails).
#include <fcntl.h>
#include <sched.h>
#include <sys/wait.h>
#include <unistd.h>

#include <doctest/doctest.h>

#include <cerrno>

// src/ is not on the unit tests' include path; the OS layer's headers live there.
#include "os/pid_view.h"

using namespace otpsup;

namespace {

UniqueFd open_proc() {
  return UniqueFd(::open("/proc", O_PATH | O_DIRECTORY | O_CLOEXEC));
}

// Reads one int from fd (the whole of what a child wrote before exiting).
bool read_int(int fd, int* out) {
  ssize_t n;
  do {
    n = ::read(fd, out, sizeof *out);
  } while (n < 0 && errno == EINTR);
  return n == static_cast<ssize_t>(sizeof *out);
}

}  // namespace

TEST_CASE("a default PidView translates nothing") {
  const PidView view;
  CHECK_FALSE(view.translating());
  CHECK(view.outside(::getpid()) == ::getpid());
  CHECK(view.outside(1234567) == 1234567);
  CHECK(view.outside(0) == 0);
}

TEST_CASE("through the procfs of our own namespace a pid is itself") {
  const PidView view(open_proc());
  REQUIRE(view.translating());
  CHECK(view.outside(::getpid()) == ::getpid());
  const pid_t child = ::fork();
  if (child == 0) ::_exit(0);
  REQUIRE(child > 0);
  CHECK(view.outside(child) == child);  // alive or a zombie: not reaped yet
  int status;
  REQUIRE(::waitpid(child, &status, 0) == child);
  CHECK(view.outside(child) == child);  // reaped: returned unchanged
}

TEST_CASE("pid 1 of a new PID namespace is translated to its pid outside") {
  // From the helper: the init's pid as seen outside (or -1); from the init:
  // its own pid and the translation.
  int fds[2], init_fds[2];
  REQUIRE(::pipe2(fds, O_CLOEXEC) == 0);
  UniqueFd read_end(fds[0]), write_end(fds[1]);
  REQUIRE(::pipe2(init_fds, O_CLOEXEC) == 0);
  UniqueFd init_read(init_fds[0]), init_write(init_fds[1]);
  UniqueFd proc = open_proc();
  const pid_t helper = ::fork();
  REQUIRE(helper >= 0);
  if (helper == 0) {
    // In the helper: a namespace for the next child; report (-1) if impossible.
    if (::unshare(CLONE_NEWPID) < 0) {
      const int no = -1;
      (void)!::write(write_end.get(), &no, sizeof no);
      ::_exit(0);
    }
    const pid_t init = ::fork();
    if (init == 0) {
      // pid 1 inside; /proc is still the procfs of the test's namespace.
      const int seen = PidView(std::move(proc)).outside(::getpid());
      const int pair[2] = {::getpid(), seen};
      (void)!::write(init_write.get(), pair, sizeof pair);
      ::_exit(0);
    }
    (void)!::write(write_end.get(), &init, sizeof init);  // its pid from outside
    int status;
    ::waitpid(init, &status, 0);
    ::_exit(0);
  }
  write_end.reset();
  init_write.reset();
  int init_outside = 0;
  REQUIRE(read_int(read_end.get(), &init_outside));
  if (init_outside == -1) {
    MESSAGE("skipped: unshare(CLONE_NEWPID) not permitted here");
  } else {
    int inner_pid = 0, translated = 0;
    REQUIRE(read_int(init_read.get(), &inner_pid));
    REQUIRE(read_int(init_read.get(), &translated));
    CHECK(inner_pid == 1);
    CHECK(translated == init_outside);
    CHECK(translated != 1);
  }
  int status;
  REQUIRE(::waitpid(helper, &status, 0) == helper);
  CHECK(WIFEXITED(status));
}
