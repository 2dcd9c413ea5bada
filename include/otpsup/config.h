// The TOML configuration (otpsup.toml(5)): loading and validation.
//
// Validation is complete before anything starts: a Config is returned only
// when the whole file is valid; otherwise every error found is returned with
// file:line:column, what was expected and, where one helps, a hint
// ("did you mean 'intensity'?").
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "otpsup/spec.h"

namespace otpsup {

enum class HistorySync { always, batch, never };
const char* to_string(HistorySync s);

// [daemon] section. Empty strings mean "use the built-in default"
// (see default_socket_path() / default_state_dir() in paths.h).
struct DaemonSettings {
  std::string socket;
  std::string state_dir;
  HistorySync history_sync = HistorySync::batch;
  std::uint64_t history_max_size = 64ull << 20;  // rotate the log past this many bytes
  int history_keep = 4;                          // rotated files kept
  // Children's output logs (STATE_DIR/logs/<path>.log): rotate past this size,
  // keep this many rotated files.
  std::uint64_t log_max_size = 10ull << 20;
  int log_keep = 3;
  bool operator==(const DaemonSettings&) const = default;
};

struct Config {
  std::string source;  // file name used in messages ("<built-in demo>" for the demo)
  DaemonSettings daemon;
  // Every [supervisor.NAME], by name. The root is supervisors.at("root").
  std::map<std::string, SupervisorSpec> supervisors;
  // Every [worker.NAME] and [supervisor.NAME], by name, as the ChildSpec a
  // parent holds for it (for a supervisor: is_supervisor, restart, shutdown).
  // Includes sections not reachable from the root: templates for `add` and
  // `sandbox create --template`.
  std::map<std::string, ChildSpec> child_specs;

  const SupervisorSpec& root() const { return supervisors.at("root"); }
};

struct ConfigError {
  std::string file;
  int line = 0;  // 1-based; 0 when the error has no position (e.g. unreadable file)
  int column = 0;
  std::string message;  // what is wrong and what was expected
  std::string hint;     // may be empty

  // "file:line:col: message (hint)", the form every tool prints.
  std::string to_string() const;
};

struct ConfigLoad {
  std::optional<Config> config;     // set only when errors is empty
  std::vector<ConfigError> errors;  // in file order
  bool ok() const { return config.has_value(); }
};

// Where commands without a slash are looked up after $PATH: the directory of
// the running otpsupd (so the workers beside it are found).
struct ConfigContext {
  std::string self_dir;  // may be empty
  std::string path_env;  // value of $PATH to search; empty = do not search PATH
  // Relative `command` paths (with a '/') and `cwd`s are taken from here:
  // the directory otpsupd was started in, kept for reloads (a daemon in the
  // background runs in /). Empty: the process's current directory.
  std::string base_dir;
};

// Parses and validates TOML text. `source_name` is used in error messages.
ConfigLoad load_config_text(std::string_view text, const std::string& source_name,
                            const ConfigContext& ctx);

// Reads `path` and calls load_config_text. An unreadable file is one error.
ConfigLoad load_config_file(const std::string& path, const ConfigContext& ctx);

// The demo tree compiled into otpsupd (etc/otpsup.toml). Defined in a
// generated file linked into otpsupd only.
std::string_view embedded_demo_config();

}  // namespace otpsup
