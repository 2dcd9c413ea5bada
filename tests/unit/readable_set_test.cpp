// ReadableSet: real pipes, a real epoll instance and a real uv loop.
#include <fcntl.h>
#include <unistd.h>
#include <uv.h>

#include <doctest/doctest.h>

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "os/readable_set.h"
#include "otpsup/unique_fd.h"

using namespace otpsup;

namespace {

struct Pipe {
  UniqueFd read_end, write_end;
  Pipe() {
    int fds[2];
    REQUIRE(::pipe2(fds, O_CLOEXEC | O_NONBLOCK) == 0);
    read_end.reset(fds[0]);
    write_end.reset(fds[1]);
  }
  void put(const std::string& s) {
    REQUIRE(::write(write_end.get(), s.data(), s.size()) == ssize_t(s.size()));
  }
  // Everything readable now; "" at EAGAIN, "<eof>" at end-of-file.
  std::string drain() {
    std::string out;
    char buf[256];
    for (;;) {
      const ssize_t n = ::read(read_end.get(), buf, sizeof buf);
      if (n > 0) {
        out.append(buf, static_cast<std::size_t>(n));
        continue;
      }
      return n == 0 ? out + "<eof>" : out;
    }
  }
};

// Records each call and runs an optional action.
struct Recorder final : ReadableSet::Listener {
  std::vector<int> calls;
  std::function<void(int)> action;
  void on_readable(int fd) override {
    calls.push_back(fd);
    if (action) action(fd);
  }
};

struct LoopWithSet {
  uv_loop_t loop{};
  std::unique_ptr<ReadableSet> set;
  LoopWithSet() {
    REQUIRE(uv_loop_init(&loop) == 0);
    std::string error;
    set = ReadableSet::create(&loop, &error);
    REQUIRE_MESSAGE(set != nullptr, error);
  }
  ~LoopWithSet() {
    set.reset();
    uv_run(&loop, UV_RUN_DEFAULT);  // the handle's close callback
    CHECK(uv_loop_close(&loop) == 0);
  }
};

}  // namespace

TEST_CASE("readable_set: only the readable descriptor's listener is called, with its fd") {
  LoopWithSet l;
  Pipe a, b;
  Recorder ra, rb;
  ra.action = [&](int) { CHECK(a.drain() == "hello"); };
  REQUIRE(l.set->add(a.read_end.get(), &ra, nullptr));
  REQUIRE(l.set->add(b.read_end.get(), &rb, nullptr));
  CHECK(l.set->size() == 2);
  a.put("hello");
  uv_run(&l.loop, UV_RUN_NOWAIT);
  CHECK(ra.calls == std::vector<int>{a.read_end.get()});
  CHECK(rb.calls.empty());
  // Level-triggered: drained, so nothing more.
  uv_run(&l.loop, UV_RUN_NOWAIT);
  CHECK(ra.calls.size() == 1);
  l.set->remove(a.read_end.get());
  l.set->remove(b.read_end.get());
  CHECK(l.set->size() == 0);
}

TEST_CASE("readable_set: end-of-file is readable, and an undrained pipe is reported again") {
  LoopWithSet l;
  Pipe p;
  Recorder r;
  REQUIRE(l.set->add(p.read_end.get(), &r, nullptr));
  p.put("x");
  uv_run(&l.loop, UV_RUN_NOWAIT);
  uv_run(&l.loop, UV_RUN_NOWAIT);
  CHECK(r.calls.size() == 2);  // not read: still readable
  CHECK(p.drain() == "x");
  p.write_end.reset();
  uv_run(&l.loop, UV_RUN_NOWAIT);
  REQUIRE(r.calls.size() == 3);
  CHECK(p.drain() == "<eof>");
  l.set->remove(p.read_end.get());
}

TEST_CASE(
    "readable_set: a descriptor removed by an earlier callback of the batch is not reported") {
  LoopWithSet l;
  Pipe a, b;
  Recorder ra, rb;
  // Whichever comes first removes the other.
  ra.action = [&](int) { l.set->remove(b.read_end.get()); };
  rb.action = [&](int) { l.set->remove(a.read_end.get()); };
  REQUIRE(l.set->add(a.read_end.get(), &ra, nullptr));
  REQUIRE(l.set->add(b.read_end.get(), &rb, nullptr));
  a.put("1");
  b.put("2");
  uv_run(&l.loop, UV_RUN_NOWAIT);
  CHECK(ra.calls.size() + rb.calls.size() == 1);
  CHECK(l.set->size() == 1);
  l.set->remove(a.read_end.get());
  l.set->remove(b.read_end.get());
  CHECK(l.set->size() == 0);
}

TEST_CASE("readable_set: an empty set keeps no loop alive") {
  LoopWithSet l;
  Pipe p;
  Recorder r;
  REQUIRE(l.set->add(p.read_end.get(), &r, nullptr));
  CHECK(uv_loop_alive(&l.loop) != 0);
  l.set->remove(p.read_end.get());
  l.set->remove(p.read_end.get());  // a no-op
  CHECK(uv_loop_alive(&l.loop) == 0);
  // So uv_run returns at once instead of waiting forever.
  CHECK(uv_run(&l.loop, UV_RUN_DEFAULT) == 0);
}

TEST_CASE("readable_set: a descriptor epoll cannot watch is refused with the reason") {
  LoopWithSet l;
  UniqueFd file(::open("/proc/self/status", O_RDONLY | O_CLOEXEC));
  REQUIRE(file);
  Recorder r;
  std::string error;
  CHECK_FALSE(l.set->add(file.get(), &r, &error));
  CHECK(error == "epoll_ctl: Operation not permitted");
  CHECK(l.set->size() == 0);
  CHECK(uv_loop_alive(&l.loop) == 0);
}
