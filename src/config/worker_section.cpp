#include "worker_section.h"

#include <algorithm>
#include <filesystem>
#include <optional>
#include <vector>

#include "did_you_mean.h"
#include "executable_lookup.h"
#include "os/credentials.h"
#include "otpsup/exit_status.h"
#include "restart_policy_keys.h"
#include "value_readers.h"

namespace otpsup::config {
namespace {

namespace fs = std::filesystem;

// Highest signal number on Linux (SIGRTMAX).
constexpr int kMaxSignal = 64;

std::optional<int> read_stop_signal(const toml::node& node, Diagnostics& diag) {
  if (const auto* n = node.as_integer()) {
    if (n->get() >= 1 && n->get() <= kMaxSignal) return static_cast<int>(n->get());
    diag.error(pos_of(node), "stop_signal: expected a signal number from 1 to " +
                                 std::to_string(kMaxSignal) + ", found " +
                                 std::to_string(n->get()));
    return std::nullopt;
  }
  const auto* s = node.as_string();
  if (s == nullptr) {
    diag.error(pos_of(node),
               "stop_signal: expected a signal name such as \"TERM\" or a number, "
               "found " +
                   std::string(type_phrase(node)));
    return std::nullopt;
  }
  const int sig = parse_signal(s->get());
  if (sig > 0) return sig;
  // Suggest from the classic signals, as written with and without "SIG".
  std::vector<std::string> names;
  for (int i = 1; i < 32; ++i) {
    const std::string full = signal_name(i);
    names.push_back(full);
    names.push_back(full.substr(3));
  }
  const std::vector<std::string_view> views(names.begin(), names.end());
  diag.error(pos_of(node),
             "stop_signal: expected a signal name such as \"TERM\" or \"SIGINT\", found " +
                 quote_value(s->get()),
             did_you_mean(s->get(), views));
  return std::nullopt;
}

std::optional<std::vector<int>> read_exit_codes(const toml::node& node, Diagnostics& diag) {
  const auto* array = node.as_array();
  if (array == nullptr) {
    diag.error(pos_of(node), "normal_exit_codes: expected an array of integers, found " +
                                 std::string(type_phrase(node)));
    return std::nullopt;
  }
  std::vector<int> codes;
  bool ok = true;
  for (std::size_t i = 0; i < array->size(); ++i) {
    const std::string what = "normal_exit_codes[" + std::to_string(i) + "]";
    if (auto code = read_integer(*array->get(i), what, 0, 255, diag)) {
      codes.push_back(static_cast<int>(*code));
    } else {
      ok = false;
    }
  }
  if (!ok) return std::nullopt;
  return codes;
}

std::optional<std::map<std::string, std::string>> read_env(const toml::node& node,
                                                           Diagnostics& diag) {
  const auto* table = node.as_table();
  if (table == nullptr) {
    diag.error(pos_of(node), "env: expected a table of strings such as { LANG = \"C\" }, found " +
                                 std::string(type_phrase(node)));
    return std::nullopt;
  }
  std::map<std::string, std::string> env;
  bool ok = true;
  for (auto&& [key, value] : *table) {
    const std::string name(key.str());
    if (name.find('=') != std::string::npos) {
      diag.error(pos_of(key), "env: the variable name " + quote_value(name) + " contains '='");
      ok = false;
      continue;
    }
    if (auto text = read_string(value, "env." + name, diag)) {
      env.emplace(name, std::move(*text));
    } else {
      ok = false;
    }
  }
  if (!ok) return std::nullopt;
  return env;
}

// `user` or `group`: a name (or number) that exists in the passwd / group
// database now. Resolved again when the worker starts.
std::optional<std::string> read_account(const toml::node& node, std::string_view what,
                                        Diagnostics& diag) {
  auto name = read_string(node, what, diag);
  if (!name) return std::nullopt;
  const bool is_user = what == "user";
  Credentials ignored;
  Status s = is_user ? resolve_credentials(*name, std::nullopt, &ignored)
                     : resolve_credentials(std::nullopt, *name, &ignored);
  if (s.ok()) return name;
  diag.error(pos_of(node), std::string(what) + ": " + s.message(),
             is_user ? "users come from the passwd database: see getent passwd"
                     : "groups come from the group database: see getent group");
  return std::nullopt;
}

// "022" (octal digits) or an octal TOML integer (0o022).
std::optional<int> read_umask(const toml::node& node, Diagnostics& diag) {
  const std::string expected = "an octal mode such as \"022\" or 0o022";
  if (const auto* n = node.as_integer()) {
    const std::int64_t v = n->get();
    const bool octal = !!(n->flags() & toml::value_flags::format_as_octal);
    if (v >= 0 && v <= 0777 && (octal || v == 0)) return static_cast<int>(v);
    diag.error(pos_of(node), "umask: expected " + expected + ", found " + std::to_string(v),
               octal ? "" : "an integer umask must be written in octal: 0o" + std::to_string(v));
    return std::nullopt;
  }
  const auto* s = node.as_string();
  if (s == nullptr) {
    diag.error(pos_of(node),
               "umask: expected " + expected + ", found " + std::string(type_phrase(node)));
    return std::nullopt;
  }
  const std::string& text = s->get();
  int v = 0;
  bool ok = !text.empty() && text.size() <= 4;
  for (char c : text) {
    if (c < '0' || c > '7') ok = false;
    v = v * 8 + (c - '0');
  }
  if (ok && v <= 0777) return v;
  diag.error(pos_of(node), "umask: expected " + expected + ", found " + quote_value(text));
  return std::nullopt;
}

// One value of `rlimits`: an integer >= 0 or "unlimited".
std::optional<std::uint64_t> read_limit_value(const toml::node& node, const std::string& what,
                                              Diagnostics& diag) {
  if (const auto* s = node.as_string(); s && s->get() == "unlimited") {
    return ResourceLimit::kUnlimited;
  }
  if (const auto* n = node.as_integer(); n && n->get() >= 0) {
    return static_cast<std::uint64_t>(n->get());
  }
  std::string found = node.as_integer()  ? std::to_string(node.as_integer()->get())
                      : node.as_string() ? quote_value(node.as_string()->get())
                                         : std::string(type_phrase(node));
  diag.error(pos_of(node), what + ": expected an integer >= 0 or \"unlimited\", found " + found);
  return std::nullopt;
}

// rlimits = { nofile = 1024, core = 0, cpu = [10, 20], as = "unlimited" }:
// one value sets soft and hard limit, [soft, hard] sets both separately.
std::optional<std::map<std::string, ResourceLimit>> read_rlimits(const toml::node& node,
                                                                 Diagnostics& diag) {
  const auto* table = node.as_table();
  if (table == nullptr) {
    diag.error(pos_of(node),
               "rlimits: expected a table such as { nofile = 1024, core = 0 }, found " +
                   std::string(type_phrase(node)));
    return std::nullopt;
  }
  std::vector<std::string_view> names(kResourceLimitNames.begin(), kResourceLimitNames.end());
  std::map<std::string, ResourceLimit> limits;
  bool ok = true;
  for (auto&& [key, value] : *table) {
    const std::string name(key.str());
    const std::string what = "rlimits." + name;
    if (std::find(names.begin(), names.end(), name) == names.end()) {
      diag.error(
          pos_of(key),
          "rlimits: unknown limit '" + name + "', expected one of nofile, nproc, core, as, cpu",
          did_you_mean(name, names));
      ok = false;
      continue;
    }
    ResourceLimit limit;
    if (const auto* pair = value.as_array()) {
      if (pair->size() != 2) {
        diag.error(pos_of(value), what + ": expected [soft, hard], found an array of " +
                                      std::to_string(pair->size()) + " values");
        ok = false;
        continue;
      }
      auto soft = read_limit_value(*pair->get(0), what + "[0]", diag);
      auto hard = read_limit_value(*pair->get(1), what + "[1]", diag);
      if (!soft || !hard) {
        ok = false;
        continue;
      }
      if (*soft > *hard) {
        diag.error(pos_of(value), what + ": the soft limit is above the hard limit");
        ok = false;
        continue;
      }
      limit = {*soft, *hard};
    } else if (auto v = read_limit_value(value, what, diag)) {
      limit = {*v, *v};
    } else {
      ok = false;
      continue;
    }
    limits[name] = limit;
  }
  if (!ok) return std::nullopt;
  return limits;
}

// A relative `cwd` is taken from `base_dir` (see ConfigContext).
std::optional<std::string> read_cwd(const toml::node& node, const std::string& base_dir,
                                    Diagnostics& diag) {
  auto dir = read_string(node, "cwd", diag);
  if (!dir) return std::nullopt;
  if (!dir->empty() && (*dir)[0] != '/' && !base_dir.empty()) {
    *dir = (fs::path(base_dir) / *dir).string();
  }
  std::error_code ec;
  if (dir->empty() || !fs::is_directory(*dir, ec)) {
    diag.error(pos_of(node), "cwd: expected an existing directory, found " + quote_value(*dir));
    return std::nullopt;
  }
  fs::path absolute = fs::absolute(*dir, ec);
  if (ec) return dir;
  return absolute.lexically_normal().string();
}

// The highest descriptor accepted for `ready = { fd = N }`.
constexpr int kMaxReadyFd = 255;

// ready = "notify" | { fd = N }: sets spec.ready / spec.ready_fd.
void read_ready(const toml::node& node, ChildSpec& spec, Diagnostics& diag) {
  if (const auto* s = node.as_string()) {
    if (s->get() == "notify") {
      spec.ready = ReadyKind::notify;
      return;
    }
    diag.error(pos_of(node),
               "ready: expected \"notify\" or { fd = N }, found " + quote_value(s->get()));
    return;
  }
  const auto* table = node.as_table();
  if (table == nullptr) {
    diag.error(pos_of(node),
               "ready: expected \"notify\" or { fd = N }, found " + std::string(type_phrase(node)));
    return;
  }
  bool has_fd = false;
  bool other_key = false;
  for (auto&& [key, value] : *table) {
    if (key.str() != "fd") {
      other_key = true;
      diag.error(pos_of(key), "ready: expected only the key 'fd' in { fd = N }, found " +
                                  quote_value(key.str()));
      continue;
    }
    has_fd = true;
    if (auto n = read_integer(value, "ready.fd", 3, kMaxReadyFd, diag)) {
      spec.ready = ReadyKind::fd;
      spec.ready_fd = static_cast<int>(*n);
    }
  }
  if (!has_fd && !other_key) {
    diag.error(pos_of(node), "ready: expected { fd = N } with a descriptor N from 3 to " +
                                 std::to_string(kMaxReadyFd) + ", found no 'fd'");
  }
}

// start_timeout = "infinity" (0: no limit) or a positive duration.
std::optional<Duration> read_start_timeout(const toml::node& node, Diagnostics& diag) {
  if (const auto* s = node.as_string(); s != nullptr && s->get() == "infinity") return Duration{0};
  return read_duration(node, "start_timeout", true, diag);
}

}  // namespace

WorkerDraft read_worker_section(const std::string& name, SourcePos name_pos, const toml::node& node,
                                const ConfigContext& ctx, Diagnostics& diag) {
  WorkerDraft draft;
  draft.name_pos = name_pos;
  draft.spec.id = name;

  const std::string section = section_label(SectionKind::worker, name);
  const auto* table = node.as_table();
  if (table == nullptr) {
    diag.error(pos_of(node),
               "worker." + name + ": expected a table, found " + std::string(type_phrase(node)));
    return draft;
  }

  bool has_command = false;
  RestartPolicyKeys policy;
  std::optional<SourcePos> ready_pos;
  for (auto&& [key, value] : *table) {
    const std::string_view k = key.str();
    if (policy.read(k, value, draft.spec, diag)) continue;
    if (k == "command") {
      has_command = true;
      auto command = read_string_array(value, k, diag);
      if (!command) continue;
      if (command->empty()) {
        diag.error(pos_of(value), "command: expected a non-empty array of strings, found []",
                   "the first element is the program, e.g. command = [\"sleep\", \"60\"]");
        continue;
      }
      ExecutableLookup found = find_executable(command->front(), ctx);
      if (found.path.empty()) {
        std::string hint;
        if (command->front().find('/') == std::string::npos) {
          hint =
              "give an absolute path, or install the program in a directory of $PATH or "
              "next to otpsupd";
        }
        diag.error(pos_of(*value.as_array()->get(0)), "command: " + found.error, std::move(hint));
      }
      draft.spec.executable = std::move(found.path);
      draft.spec.command = std::move(*command);
    } else if (k == "restart") {
      if (auto r = read_restart(value, k, diag)) draft.spec.restart = *r;
    } else if (k == "shutdown") {
      if (auto s = read_shutdown(value, k, diag)) draft.spec.shutdown = *s;
    } else if (k == "stop_signal") {
      if (auto sig = read_stop_signal(value, diag)) draft.spec.stop_signal = *sig;
    } else if (k == "normal_exit_codes") {
      if (auto codes = read_exit_codes(value, diag)) draft.spec.normal_exit_codes = *codes;
    } else if (k == "env") {
      if (auto env = read_env(value, diag)) draft.spec.env = std::move(*env);
    } else if (k == "clear_env") {
      if (auto b = read_bool(value, k, diag)) draft.spec.clear_env = *b;
    } else if (k == "channel") {
      if (auto b = read_bool(value, k, diag)) draft.spec.channel = *b;
    } else if (k == "trace_size") {
      if (auto n = read_integer(value, k, 0, 100000, diag)) {
        draft.spec.trace_size = static_cast<int>(*n);
      }
    } else if (k == "stdout" || k == "stderr") {
      constexpr std::array<std::string_view, 3> kNames{"log", "inherit", "null"};
      constexpr std::array<OutputTarget, 3> kValues{OutputTarget::log, OutputTarget::inherit,
                                                    OutputTarget::null};
      if (auto i = read_choice(value, k, kNames, diag)) {
        (k == "stdout" ? draft.spec.stdout_target : draft.spec.stderr_target) = kValues[*i];
      }
    } else if (k == "ready") {
      read_ready(value, draft.spec, diag);
      ready_pos = pos_of(value);
    } else if (k == "start_timeout") {
      if (auto d = read_start_timeout(value, diag)) draft.spec.start_timeout = *d;
    } else if (k == "watchdog") {
      if (auto d = read_duration(value, k, true, diag)) draft.spec.watchdog = *d;
    } else if (k == "cwd") {
      if (auto dir = read_cwd(value, ctx.base_dir, diag)) draft.spec.cwd = std::move(*dir);
    } else if (k == "user" || k == "group") {
      if (auto name = read_account(value, k, diag)) {
        (k == "user" ? draft.spec.user : draft.spec.group) = std::move(*name);
      }
    } else if (k == "umask") {
      if (auto mask = read_umask(value, diag)) draft.spec.umask = *mask;
    } else if (k == "rlimits") {
      if (auto limits = read_rlimits(value, diag)) draft.spec.rlimits = std::move(*limits);
    } else if (k == "nice") {
      if (auto n = read_integer(value, k, -20, 19, diag)) draft.spec.nice = static_cast<int>(*n);
    } else if (k == "no_new_privs") {
      if (auto b = read_bool(value, k, diag)) draft.spec.no_new_privs = *b;
    } else {
      report_unknown_key(key, SectionKind::worker, section, diag);
    }
  }
  policy.check(draft.spec, diag);
  draft.significant_pos = policy.significant_pos();
  if (ready_pos && draft.spec.ready == ReadyKind::fd && draft.spec.ready_fd == 3 &&
      draft.spec.channel) {
    diag.error(*ready_pos, "ready: fd 3 is the message channel of this worker (channel = true)",
               "choose another descriptor, e.g. ready = { fd = 4 }");
  }
  if (!has_command) {
    diag.error(pos_of(node), section + ": missing required key 'command'",
               "the program and its arguments, e.g. command = [\"sleep\", \"60\"]");
  }
  return draft;
}

}  // namespace otpsup::config
