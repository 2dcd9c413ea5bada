#include "worker_section.h"

#include <filesystem>
#include <optional>
#include <vector>

#include "did_you_mean.h"
#include "executable_lookup.h"
#include "otpsup/exit_status.h"
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

std::optional<std::string> read_cwd(const toml::node& node, Diagnostics& diag) {
  auto dir = read_string(node, "cwd", diag);
  if (!dir) return std::nullopt;
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
  std::optional<SourcePos> ready_pos;
  for (auto&& [key, value] : *table) {
    const std::string_view k = key.str();
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
      if (auto dir = read_cwd(value, diag)) draft.spec.cwd = std::move(*dir);
    } else {
      report_unknown_key(key, SectionKind::worker, section, diag);
    }
  }
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
