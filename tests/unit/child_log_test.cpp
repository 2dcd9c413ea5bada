// ChildLog: children's stdout/stderr through real pipes and a real uv loop
// into timestamped, tagged, rotated log files; read_log_tail.
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <uv.h>

#include <doctest/doctest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <sstream>
#include <string>
#include <vector>

#include "os/child_log.h"
#include "otpsup/unique_fd.h"

using namespace otpsup;

namespace {

namespace fs = std::filesystem;

// A fresh mkdtemp directory, removed with everything in it at scope exit.
class LogTempDir {
 public:
  LogTempDir() {
    std::string pattern = (fs::temp_directory_path() / "otpsup-child-log-test.XXXXXX").string();
    REQUIRE(::mkdtemp(pattern.data()) != nullptr);
    path_ = pattern;
  }
  ~LogTempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  LogTempDir(const LogTempDir&) = delete;
  LogTempDir& operator=(const LogTempDir&) = delete;
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

std::size_t open_fd_count() {
  // libuv opens a process-wide pipe (its signal lock) at the first
  // uv_loop_init ever: not a leak, so take it out of the count once.
  [[maybe_unused]] static const bool warmed_up = [] {
    uv_loop_t warm;
    REQUIRE(uv_loop_init(&warm) == 0);
    return uv_loop_close(&warm) == 0;
  }();
  std::size_t n = 0;
  for ([[maybe_unused]] const auto& entry : fs::directory_iterator("/proc/self/fd")) ++n;
  return n;
}

// A uv loop and the ReadableSet that logs on it use; close() drops the set,
// runs the loop until every handle's close callback has run, then closes it
// (0 means no handle leaked) and checks that no descriptor opened since the
// loop was created is still open.
class Loop {
 public:
  Loop() : fds_before_(open_fd_count()) {
    REQUIRE(uv_loop_init(&loop_) == 0);
    std::string error;
    readers_ = ReadableSet::create(&loop_, &error);
    REQUIRE_MESSAGE(readers_ != nullptr, error);
  }
  ~Loop() {
    if (!closed_) close();
  }
  Loop(const Loop&) = delete;
  Loop& operator=(const Loop&) = delete;
  uv_loop_t* get() { return &loop_; }
  ReadableSet* readers() { return readers_.get(); }
  int close() {
    closed_ = true;
    CHECK(readers_->size() == 0);  // every log unwatched its pipes
    readers_.reset();
    uv_run(&loop_, UV_RUN_DEFAULT);
    const int rc = uv_loop_close(&loop_);
    CHECK(open_fd_count() == fds_before_);
    return rc;
  }

 private:
  std::size_t fds_before_;
  uv_loop_t loop_{};
  std::unique_ptr<ReadableSet> readers_;
  bool closed_ = false;
};

// One parsed record: "<ts> <stream><flag> <text>".
struct Record {
  std::string ts;
  std::string stream;  // "out" or "err"
  std::string flag;    // "", "+" or "%"
  std::string text;
};

// "2026-11-26T12:00:01.234567Z": UTC, microseconds. (No std::regex: GCC 12
// warns falsely inside it under -fsanitize, and -Werror is on.)
bool is_record_timestamp(const std::string& ts) {
  static const std::string shape = "dddd-dd-ddTdd:dd:dd.ddddddZ";
  if (ts.size() != shape.size()) return false;
  for (std::size_t i = 0; i < ts.size(); ++i) {
    const bool ok = shape[i] == 'd' ? (ts[i] >= '0' && ts[i] <= '9') : ts[i] == shape[i];
    if (!ok) return false;
  }
  return true;
}

Record parse_record(const std::string& line) {
  Record r;
  const auto sp1 = line.find(' ');
  REQUIRE(sp1 != std::string::npos);
  r.ts = line.substr(0, sp1);
  CHECK(is_record_timestamp(r.ts));
  const auto sp2 = line.find(' ', sp1 + 1);
  REQUIRE(sp2 != std::string::npos);
  const std::string tag = line.substr(sp1 + 1, sp2 - sp1 - 1);
  REQUIRE(tag.size() >= 3);
  r.stream = tag.substr(0, 3);
  r.flag = tag.substr(3);
  CHECK((r.stream == "out" || r.stream == "err"));
  CHECK((r.flag.empty() || r.flag == "+" || r.flag == "%"));
  r.text = line.substr(sp2 + 1);
  return r;
}

std::string slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// The records of one file, in order. Every record ends with '\n'.
std::vector<Record> records_of(const std::string& path) {
  const std::string text = slurp(path);
  std::vector<Record> out;
  std::size_t from = 0;
  while (from < text.size()) {
    const auto nl = text.find('\n', from);
    REQUIRE(nl != std::string::npos);
    out.push_back(parse_record(text.substr(from, nl - from)));
    from = nl + 1;
  }
  return out;
}

std::vector<Record> of_stream(const std::vector<Record>& all, const std::string& stream) {
  std::vector<Record> out;
  for (const auto& r : all) {
    if (r.stream == stream) out.push_back(r);
  }
  return out;
}

void write_all(int fd, const std::string& data) {
  std::size_t done = 0;
  while (done < data.size()) {
    const ssize_t n = ::write(fd, data.data() + done, data.size() - done);
    if (n < 0 && errno == EINTR) continue;
    REQUIRE(n > 0);
    done += static_cast<std::size_t>(n);
  }
}

// Forks a child that writes with `body(stdout_fd, stderr_fd)` (its fds 1 and 2
// are the log's write ends) and exits; then started(). Returns the pid.
pid_t fork_writer(ChildLog& log, const std::function<void()>& body) {
  const pid_t pid = ::fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    ::dup2(log.child_stdout_fd(), STDOUT_FILENO);
    ::dup2(log.child_stderr_fd(), STDERR_FILENO);
    body();
    ::_exit(0);
  }
  log.started();
  return pid;
}

// Writes all of `data` to `fd` from a forked child (async-signal-safe only).
void child_write(int fd, const std::string& data) {
  std::size_t done = 0;
  while (done < data.size()) {
    const ssize_t n = ::write(fd, data.data() + done, data.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) ::_exit(1);
    done += static_cast<std::size_t>(n);
  }
}

int wait_exit_code(pid_t pid) {
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0) REQUIRE(errno == EINTR);
  REQUIRE(WIFEXITED(status));
  return WEXITSTATUS(status);
}

mode_t mode_of(const std::string& path) {
  struct stat st {};
  REQUIRE(::stat(path.c_str(), &st) == 0);
  return st.st_mode & 07777;
}

std::unique_ptr<ChildLog> open_log(Loop& loop, LogOptions options) {
  std::string error;
  auto log = ChildLog::open(loop.readers(), std::move(options), &error);
  REQUIRE_MESSAGE(log != nullptr, error);
  CHECK(log->child_stdout_fd() >= 0);
  CHECK(log->child_stderr_fd() >= 0);
  return log;
}

}  // namespace

TEST_CASE("child_log: each line gets a UTC timestamp and an out/err tag") {
  LogTempDir dir;
  Loop loop;
  const std::string file = dir.path() + "/logs/root/demo/counter1.log";
  auto log = open_log(loop, {.file = file});
  // Nothing is created before the child writes something.
  CHECK_FALSE(fs::exists(dir.path() + "/logs"));

  const pid_t pid = fork_writer(*log, [] {
    child_write(1, "hello\n");
    child_write(2, "to stderr\n");
    child_write(1, "\nworld\r\n");
    child_write(2, "second error\n");
  });
  CHECK(log->child_stdout_fd() == -1);
  CHECK(log->child_stderr_fd() == -1);
  // The loop ends by itself: both pipes reach EOF when the child exits.
  uv_run(loop.get(), UV_RUN_DEFAULT);
  CHECK(wait_exit_code(pid) == 0);
  CHECK(mode_of(dir.path() + "/logs") == 0700);
  CHECK(mode_of(dir.path() + "/logs/root/demo") == 0700);
  CHECK(mode_of(file) == 0600);
  CHECK(log->done());
  log->finish();  // a no-op now

  const auto all = records_of(file);
  REQUIRE(all.size() == 5);
  const auto out = of_stream(all, "out");
  const auto err = of_stream(all, "err");
  REQUIRE(out.size() == 3);
  REQUIRE(err.size() == 2);
  CHECK(out[0].text == "hello");
  CHECK(out[1].text == "");
  CHECK(out[2].text == "world\r");
  CHECK(err[0].text == "to stderr");
  CHECK(err[1].text == "second error");
  for (const auto& r : all) CHECK(r.flag == "");
  CHECK(log->dropped_lines() == 0);
  CHECK(log->last_error() == "");

  log.reset();
  CHECK(loop.close() == 0);
}

TEST_CASE("child_log: finish reads what is left and flushes a partial line without blocking") {
  LogTempDir dir;
  Loop loop;
  const std::string file = dir.path() + "/p.log";
  auto log = open_log(loop, {.file = file});
  // The test plays a helper that keeps the write end open after the child exited.
  UniqueFd helper(::dup(log->child_stdout_fd()));
  REQUIRE(helper);
  log->started();

  write_all(helper.get(), "first\npart");
  uv_run(loop.get(), UV_RUN_NOWAIT);
  {
    const auto so_far = records_of(file);
    REQUIRE(so_far.size() == 1);
    CHECK(so_far[0].text == "first");
  }
  write_all(helper.get(), "ial");  // never seen by a poll callback
  log->finish();                   // must not wait for the helper's EOF
  CHECK(log->done());

  const auto all = records_of(file);
  REQUIRE(all.size() == 2);
  CHECK(all[1].stream == "out");
  CHECK(all[1].flag == "%");
  CHECK(all[1].text == "partial");

  log.reset();
  helper.reset();
  CHECK(loop.close() == 0);
}

TEST_CASE("child_log: lines longer than 64 KiB are split into marked pieces") {
  LogTempDir dir;
  Loop loop;
  const std::string file = dir.path() + "/long.log";
  auto log = open_log(loop, {.file = file});

  std::string big(200 << 10, '\0');
  for (std::size_t i = 0; i < big.size(); ++i) big[i] = static_cast<char>('a' + i % 26);
  const std::string exact(kMaxLogPieceBytes, 'x');
  const std::string unterminated(100 << 10, 'u');
  const pid_t pid = fork_writer(*log, [&] {
    child_write(1, big + "\n");
    child_write(1, exact + "\n");
    child_write(1, "after\n");
    child_write(1, unterminated);
  });
  uv_run(loop.get(), UV_RUN_DEFAULT);
  CHECK(wait_exit_code(pid) == 0);
  log->finish();

  const auto all = records_of(file);
  // 200 KiB = 3 full pieces + 8 KiB; 64 KiB exactly is one record; 100 KiB
  // without a newline is one piece + 36 KiB flagged '%'.
  REQUIRE(all.size() == 8);
  std::string joined;
  for (int i = 0; i < 3; ++i) {
    CHECK(all[i].flag == "+");
    CHECK(all[i].text.size() == kMaxLogPieceBytes);
    joined += all[i].text;
  }
  CHECK(all[3].flag == "");
  CHECK(all[3].text.size() == (200 << 10) - 3 * kMaxLogPieceBytes);
  joined += all[3].text;
  CHECK(joined == big);
  CHECK(all[4].flag == "");
  CHECK(all[4].text == exact);
  CHECK(all[5].text == "after");
  CHECK(all[6].flag == "+");
  CHECK(all[6].text.size() == kMaxLogPieceBytes);
  CHECK(all[7].flag == "%");
  CHECK(all[6].text + all[7].text == unterminated);

  log.reset();
  CHECK(loop.close() == 0);
}

TEST_CASE("child_log: rotation keeps `keep` rotated files, each within max_size") {
  LogTempDir dir;
  Loop loop;
  const std::string file = dir.path() + "/r.log";
  constexpr std::uint64_t kMax = 1000;
  auto log = open_log(loop, {.file = file, .max_size = kMax, .keep = 2});
  UniqueFd writer(::dup(log->child_stdout_fd()));
  log->started();
  for (int i = 0; i < 200; ++i) {
    write_all(writer.get(), "line " + std::to_string(1000 + i) + "\n");
    if (i % 20 == 19) uv_run(loop.get(), UV_RUN_NOWAIT);
  }
  writer.reset();
  uv_run(loop.get(), UV_RUN_DEFAULT);  // until EOF
  CHECK(log->done());
  CHECK(log->rotation_failures() == 0);
  CHECK(log->dropped_lines() == 0);

  CHECK(fs::exists(file));
  CHECK(fs::exists(file + ".1"));
  CHECK(fs::exists(file + ".2"));
  CHECK_FALSE(fs::exists(file + ".3"));
  std::vector<Record> kept;
  for (const std::string& f : {file + ".2", file + ".1", file}) {
    CHECK(fs::file_size(f) <= kMax);
    CHECK(fs::file_size(f) > 0);
    for (auto& r : records_of(f)) kept.push_back(r);
  }
  // The newest lines, contiguous, ending with the last one written.
  REQUIRE(kept.size() > 40);
  const int first = 1200 - static_cast<int>(kept.size());
  for (std::size_t i = 0; i < kept.size(); ++i) {
    CHECK(kept[i].text == "line " + std::to_string(first + static_cast<int>(i)));
  }

  SUBCASE("read_log_tail reads across the rotated files") {
    const auto tail = read_log_tail(file, 30);
    REQUIRE(tail.size() == 30);
    CHECK(records_of(file).size() < 30);  // so the tail did reach file.1
    for (std::size_t i = 0; i < tail.size(); ++i) {
      CHECK(parse_record(tail[i]).text == "line " + std::to_string(1170 + i));
    }
    const auto everything = read_log_tail(file, 100000);
    REQUIRE(everything.size() == kept.size());
    CHECK(parse_record(everything.front()).text == kept.front().text);
    CHECK(read_log_tail(file, 0).empty());
    CHECK(read_log_tail(dir.path() + "/missing.log", 10).empty());
  }

  log.reset();
  CHECK(loop.close() == 0);
}

TEST_CASE("child_log: a failed rotation is counted and output keeps going to the current file") {
  LogTempDir dir;
  Loop loop;
  const std::string file = dir.path() + "/f.log";
  // file.1 is a non-empty directory: rename(file, file.1) fails.
  fs::create_directories(file + ".1/occupied");
  auto log = open_log(loop, {.file = file, .max_size = 200, .keep = 1});
  UniqueFd writer(::dup(log->child_stdout_fd()));
  log->started();
  for (int i = 0; i < 20; ++i) write_all(writer.get(), "line " + std::to_string(i) + "\n");
  writer.reset();
  uv_run(loop.get(), UV_RUN_DEFAULT);
  // Retried at most once a second, so once in this test.
  CHECK(log->rotation_failures() >= 1);
  CHECK(log->dropped_lines() == 0);
  CHECK(log->last_error().find("rotate") != std::string::npos);
  const auto all = records_of(file);
  REQUIRE(all.size() == 20);
  CHECK(all.back().text == "line 19");

  log.reset();
  CHECK(loop.close() == 0);
}

TEST_CASE("child_log: an unwritable log drops and counts lines, the pipe is still drained") {
  LogTempDir dir;
  Loop loop;
  std::string file;
  std::string expected_error;
  SUBCASE("the file cannot be created") {
    std::ofstream(dir.path() + "/plain") << "a file, not a directory\n";
    file = dir.path() + "/plain/x.log";
    expected_error = "plain";
  }
  SUBCASE("writes fail") {
    file = "/dev/full";
    expected_error = "No space left";
  }
  auto log = open_log(loop, {.file = file});
  UniqueFd writer(::dup(log->child_stderr_fd()));
  log->started();
  write_all(writer.get(), "one\ntwo\nthree\n");
  writer.reset();
  uv_run(loop.get(), UV_RUN_DEFAULT);
  CHECK(log->done());
  CHECK(log->dropped_lines() == 3);
  CHECK(log->last_error().find(expected_error) != std::string::npos);

  log.reset();
  CHECK(loop.close() == 0);
}

TEST_CASE("child_log: echo writes each line prefixed with the child's path") {
  LogTempDir dir;
  Loop loop;
  int fds[2];
  REQUIRE(::pipe2(fds, O_CLOEXEC | O_NONBLOCK) == 0);
  UniqueFd echo_read(fds[0]), echo_write(fds[1]);
  const std::string file = dir.path() + "/e.log";
  auto log = open_log(loop, {.file = file,
                             .echo = true,
                             .echo_prefix = "root/demo/printer",
                             .echo_fd = echo_write.get()});
  UniqueFd out(::dup(log->child_stdout_fd())), err(::dup(log->child_stderr_fd()));
  log->started();
  write_all(out.get(), "hi\n");
  uv_run(loop.get(), UV_RUN_NOWAIT);
  write_all(err.get(), "oops\n");
  out.reset();
  err.reset();
  uv_run(loop.get(), UV_RUN_DEFAULT);

  char buf[256];
  const ssize_t n = ::read(echo_read.get(), buf, sizeof buf);
  REQUIRE(n > 0);
  CHECK(std::string(buf, static_cast<std::size_t>(n)) ==
        "root/demo/printer | hi\nroot/demo/printer | oops\n");
  CHECK(records_of(file).size() == 2);

  log.reset();
  echo_read.reset();
  echo_write.reset();
  CHECK(loop.close() == 0);
}

TEST_CASE("child_log: a 10 MB flood arrives whole and the loop keeps turning") {
  LogTempDir dir;
  Loop loop;
  const std::string file = dir.path() + "/flood.log";
  auto log = open_log(loop, {.file = file});  // default max_size 10 MiB: one rotation

  // Counts loop iterations (unref'd: does not keep the loop alive).
  uv_check_t check;
  REQUIRE(uv_check_init(loop.get(), &check) == 0);
  int iterations = 0;
  check.data = &iterations;
  uv_check_start(&check, [](uv_check_t* h) { ++*static_cast<int*>(h->data); });
  uv_unref(reinterpret_cast<uv_handle_t*>(&check));

  constexpr int kLines = 10240;
  constexpr std::size_t kLineBytes = 1024;  // with its '\n': 10 MiB in all
  std::string block;
  for (int i = 0; i < 64; ++i)
    block += std::string(kLineBytes - 1, static_cast<char>('A' + i % 26)) + "\n";
  const pid_t pid = fork_writer(*log, [&] {
    for (int i = 0; i < kLines / 64; ++i) {
      child_write(1, block);
      if (i % 40 == 0) child_write(2, "progress\n");
    }
  });
  uv_run(loop.get(), UV_RUN_DEFAULT);
  CHECK(wait_exit_code(pid) == 0);
  log->finish();
  CHECK(log->dropped_lines() == 0);
  // At most 1 MiB per callback, and the pipe holds far less: many turns.
  CHECK(iterations > 10);
  uv_close(reinterpret_cast<uv_handle_t*>(&check), nullptr);

  CHECK(fs::exists(file + ".1"));
  const auto lines = read_log_tail(file, 1000000);
  std::size_t out_lines = 0, err_lines = 0, out_bytes = 0;
  for (const auto& line : lines) {
    const Record r = parse_record(line);
    CHECK(r.flag == "");
    if (r.stream == "out") {
      ++out_lines;
      out_bytes += r.text.size() + 1;
      CHECK(r.text.size() == kLineBytes - 1);
    } else {
      ++err_lines;
      CHECK(r.text == "progress");
    }
  }
  CHECK(out_lines == kLines);
  CHECK(out_bytes == std::size_t{10} << 20);
  CHECK(err_lines == (kLines / 64 + 39) / 40);

  log.reset();
  CHECK(loop.close() == 0);
}

TEST_CASE("child_log: destroyed before or after started(), no handle leaks") {
  LogTempDir dir;
  Loop loop;
  const std::string file = dir.path() + "/d.log";
  SUBCASE("fork failed: never started") {
    auto log = open_log(loop, {.file = file});
  }
  SUBCASE("started, child still running: partial line flushed") {
    auto log = open_log(loop, {.file = file});
    UniqueFd writer(::dup(log->child_stdout_fd()));
    log->started();
    write_all(writer.get(), "half");
    uv_run(loop.get(), UV_RUN_NOWAIT);
    log.reset();
    const auto all = records_of(file);
    REQUIRE(all.size() == 1);
    CHECK(all[0].flag == "%");
    CHECK(all[0].text == "half");
  }
  CHECK(loop.close() == 0);
}

TEST_CASE("child_log: read_log_tail edge cases") {
  LogTempDir dir;
  const std::string file = dir.path() + "/t.log";
  auto put = [](const std::string& path, const std::string& text) {
    std::ofstream(path, std::ios::binary) << text;
  };
  SUBCASE("empty lines and an unterminated last line") {
    put(file, "a\n\nb");
    CHECK(read_log_tail(file, 10) == std::vector<std::string>{"a", "", "b"});
    CHECK(read_log_tail(file, 1) == std::vector<std::string>{"b"});
    put(file, "\nx\n");
    CHECK(read_log_tail(file, 10) == std::vector<std::string>{"", "x"});
    put(file, "");
    CHECK(read_log_tail(file, 10).empty());
  }
  SUBCASE("lines spanning read blocks") {
    std::string text;
    std::vector<std::string> want;
    for (int i = 0; i < 300; ++i) {
      want.push_back(std::to_string(i) + std::string(997 + i % 7, '.'));
      text += want.back() + "\n";
    }
    put(file, text);
    const auto got = read_log_tail(file, 1000);
    CHECK(got == want);
    CHECK(read_log_tail(file, 150) == std::vector<std::string>(want.end() - 150, want.end()));
  }
  SUBCASE("rotated files, in order, stopping at the first missing one") {
    put(file, "5\n");
    put(file + ".1", "3\n4\n");
    put(file + ".2", "2\n");
    put(file + ".4", "0\n");  // after a gap: not reached
    CHECK(read_log_tail(file, 2) == std::vector<std::string>{"4", "5"});
    CHECK(read_log_tail(file, 100) == std::vector<std::string>{"2", "3", "4", "5"});
    fs::remove(file);  // the current file missing: the rotated ones still count
    CHECK(read_log_tail(file, 100) == std::vector<std::string>{"2", "3", "4"});
  }
}
