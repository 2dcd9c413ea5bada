#include "os/proc_info.h"

#include <dirent.h>
#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <chrono>
#include <cstring>
#include <ctime>
#include <vector>

#include "os/credentials.h"
#include "otpsup/history_format.h"
#include "otpsup/unique_fd.h"

namespace otpsup {

namespace {

// Reads the whole of `path` (procfs files report size 0, so read to EOF).
// Returns 0 or the errno of the failure.
int read_whole_file(const std::string& path, std::string* out) {
  out->clear();
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) return errno;
  char buf[4096];
  for (;;) {
    const ssize_t n = ::read(fd.get(), buf, sizeof buf);
    if (n == 0) return 0;
    if (n < 0) {
      if (errno == EINTR) continue;
      return errno;
    }
    out->append(buf, static_cast<std::size_t>(n));
  }
}

template <typename T>
bool parse_number(std::string_view text, T* out) {
  const auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), *out);
  return ec == std::errc() && ptr == text.data() + text.size() && !text.empty();
}

// The value of the "Key:" line of a /proc status-style text, trimmed; empty
// when there is no such line.
std::string_view field_value(std::string_view text, std::string_view key) {
  std::size_t pos = 0;
  while (pos < text.size()) {
    std::size_t end = text.find('\n', pos);
    if (end == std::string_view::npos) end = text.size();
    std::string_view line = text.substr(pos, end - pos);
    if (line.size() > key.size() && line.starts_with(key) && line[key.size()] == ':') {
      line.remove_prefix(key.size() + 1);
      const std::size_t first = line.find_first_not_of(" \t");
      if (first == std::string_view::npos) return {};
      line.remove_prefix(first);
      return line.substr(0, line.find_last_not_of(" \t") + 1);
    }
    pos = end + 1;
  }
  return {};
}

// The first whitespace-separated token of `value` as a number.
template <typename T>
bool leading_number(std::string_view value, T* out) {
  return parse_number(value.substr(0, value.find_first_of(" \t")), out);
}

// The effective id of a "real effective saved fs" Uid:/Gid: value; -1 when
// it is not there.
long effective_id(std::string_view value) {
  const std::size_t first_end = value.find_first_of(" \t");
  if (first_end == std::string_view::npos) return -1;
  const std::size_t start = value.find_first_not_of(" \t", first_end);
  if (start == std::string_view::npos) return -1;
  long id = -1;
  return leading_number(value.substr(start), &id) ? id : -1;
}

// "btime" of /proc/stat: boot time in seconds since the epoch; 0 if unknown.
std::int64_t boot_time_unix_seconds() {
  std::string text;
  if (read_whole_file("/proc/stat", &text) != 0) return 0;
  std::size_t pos = text.find("\nbtime ");
  if (pos == std::string::npos) return 0;
  std::string_view rest = std::string_view(text).substr(pos + 7);
  rest = rest.substr(0, rest.find('\n'));
  std::int64_t btime = 0;
  return parse_number(rest, &btime) ? btime : 0;
}

int count_fds(int pid) {
  const std::string dir = "/proc/" + std::to_string(pid) + "/fd";
  DIR* d = ::opendir(dir.c_str());
  if (d == nullptr) return 0;
  int n = 0;
  while (const dirent* e = ::readdir(d)) {
    if (std::strcmp(e->d_name, ".") != 0 && std::strcmp(e->d_name, "..") != 0) ++n;
  }
  ::closedir(d);
  return n;
}

}  // namespace

bool parse_proc_stat(std::string_view line, ProcStat* out) {
  if (line.ends_with('\n')) line.remove_suffix(1);
  const std::size_t open = line.find('(');
  const std::size_t close = line.rfind(')');
  if (open == std::string_view::npos || close == std::string_view::npos || close < open ||
      open < 2 || line[open - 1] != ' ') {
    return false;
  }
  if (!parse_number(line.substr(0, open - 1), &out->pid)) return false;
  out->comm = std::string(line.substr(open + 1, close - open - 1));

  // Fields 3.. follow ") ", separated by single spaces.
  std::string_view rest = line.substr(close + 1);
  if (!rest.starts_with(' ')) return false;
  rest.remove_prefix(1);
  std::vector<std::string_view> fields;  // fields[i] is field i + 3
  while (!rest.empty() && fields.size() < 20) {
    const std::size_t sp = rest.find(' ');
    fields.push_back(rest.substr(0, sp));
    if (sp == std::string_view::npos) break;
    rest.remove_prefix(sp + 1);
  }
  if (fields.size() < 20) return false;
  if (fields[0].size() != 1) return false;
  out->state = fields[0][0];
  return parse_number(fields[4 - 3], &out->ppid) && parse_number(fields[6 - 3], &out->session) &&
         parse_number(fields[14 - 3], &out->utime_ticks) &&
         parse_number(fields[15 - 3], &out->stime_ticks) &&
         parse_number(fields[20 - 3], &out->num_threads) &&
         parse_number(fields[22 - 3], &out->starttime_ticks);
}

std::vector<std::string> split_cmdline(std::string_view raw) {
  std::vector<std::string> args;
  if (raw.empty()) return args;
  if (raw.ends_with('\0')) raw.remove_suffix(1);
  for (;;) {
    const std::size_t nul = raw.find('\0');
    args.emplace_back(raw.substr(0, nul));
    if (nul == std::string_view::npos) break;
    raw.remove_prefix(nul + 1);
  }
  return args;
}

std::string state_name_of(char state) {
  switch (state) {
    case 'R':
      return "running";
    case 'S':
      return "sleeping";
    case 'D':
      return "disk sleep";
    case 'Z':
      return "zombie";
    case 'T':
      return "stopped";
    case 't':
      return "tracing stop";
    case 'X':
    case 'x':
      return "dead";
    case 'I':
      return "idle";
    case 'P':
      return "parked";
    case 'W':
      return "waking";  // "paging" before Linux 2.6.0; "waking" 2.6.33 to 3.13
    case 'K':
      return "wakekill";
    default:
      return "unknown";
  }
}

std::optional<ProcessInfo> read_process_info(int pid, std::string* error) {
  auto not_running = [&]() -> std::optional<ProcessInfo> {
    if (error != nullptr) *error = "not_running: no process " + std::to_string(pid);
    return std::nullopt;
  };
  if (pid <= 0) return not_running();
  const std::string dir = "/proc/" + std::to_string(pid);

  std::string text;
  if (const int err = read_whole_file(dir + "/stat", &text); err != 0) {
    if (err == ENOENT || err == ESRCH) return not_running();
    if (error != nullptr) *error = "cannot read " + dir + "/stat: " + std::strerror(err);
    return std::nullopt;
  }
  ProcStat stat;
  if (!parse_proc_stat(text, &stat)) {
    if (error != nullptr) *error = "cannot parse " + dir + "/stat";
    return std::nullopt;
  }

  ProcessInfo info;
  info.pid = pid;
  info.state = stat.state;
  info.state_name = state_name_of(stat.state);
  info.threads = static_cast<int>(stat.num_threads);
  long hz = ::sysconf(_SC_CLK_TCK);
  if (hz <= 0) hz = 100;
  info.cpu_user_seconds = static_cast<double>(stat.utime_ticks) / static_cast<double>(hz);
  info.cpu_system_seconds = static_cast<double>(stat.stime_ticks) / static_cast<double>(hz);
  const auto hz64 = static_cast<std::uint64_t>(hz);
  const auto start_ms_after_boot = static_cast<std::int64_t>(
      stat.starttime_ticks / hz64 * 1000 + stat.starttime_ticks % hz64 * 1000 / hz64);
  info.start_time_unix_ms = boot_time_unix_seconds() * 1000 + start_ms_after_boot;
  timespec boot_now{};
  if (::clock_gettime(CLOCK_BOOTTIME, &boot_now) == 0) {
    const double now_s = static_cast<double>(boot_now.tv_sec) + boot_now.tv_nsec / 1e9;
    const double up = now_s - static_cast<double>(start_ms_after_boot) / 1000.0;
    info.uptime_seconds = up > 0 ? up : 0;
  }

  if (const int err = read_whole_file(dir + "/status", &text); err == 0) {
    std::uint64_t kb = 0;
    if (leading_number(field_value(text, "VmRSS"), &kb)) info.rss_bytes = kb * 1024;
    int threads = 0;
    if (leading_number(field_value(text, "Threads"), &threads)) info.threads = threads;
    info.uid = effective_id(field_value(text, "Uid"));
    info.gid = effective_id(field_value(text, "Gid"));
    if (info.uid >= 0) info.user = user_name_of(static_cast<uid_t>(info.uid));
    if (info.gid >= 0) info.group = group_name_of(static_cast<gid_t>(info.gid));
  } else if (err == ENOENT || err == ESRCH) {
    return not_running();  // reaped since stat was read
  }

  info.fd_count = count_fds(pid);
  if (read_whole_file(dir + "/cmdline", &text) == 0) info.cmdline = split_cmdline(text);
  return info;
}

nlohmann::json to_json(const ProcessInfo& info) {
  const std::chrono::system_clock::time_point start{
      std::chrono::milliseconds(info.start_time_unix_ms)};
  nlohmann::json j{
      {"pid", info.pid},
      {"state", std::string(1, info.state)},
      {"state_name", info.state_name},
      {"rss_bytes", info.rss_bytes},
      {"threads", info.threads},
      {"cpu_user_s", info.cpu_user_seconds},
      {"cpu_system_s", info.cpu_system_seconds},
      {"fd_count", info.fd_count},
      {"start_time", format_record_timestamp(start)},
      {"uptime_s", info.uptime_seconds},
      {"cmdline", info.cmdline},
  };
  if (info.uid >= 0) j["uid"] = info.uid;
  if (info.gid >= 0) j["gid"] = info.gid;
  if (!info.user.empty()) j["user"] = info.user;
  if (!info.group.empty()) j["group"] = info.group;
  return j;
}

}  // namespace otpsup
