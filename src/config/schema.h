// The shape of otpsup.toml: which sections exist and which keys each takes.
// The single list the loader checks keys against (and suggests from); keep it
// in step with man/otpsup.toml.5.
#pragma once

#include <array>
#include <span>
#include <string>
#include <string_view>

namespace otpsup::config {

enum class SectionKind { daemon, supervisor, worker };

inline constexpr std::array<std::string_view, 3> kTopLevelTables{"daemon", "supervisor", "worker"};

inline constexpr std::array<std::string_view, 7> kDaemonKeys{
    "socket",       "state_dir",    "history_sync", "history_max_size",
    "history_keep", "log_max_size", "log_keep"};

inline constexpr std::array<std::string_view, 13> kSupervisorKeys{
    "strategy",      "intensity",   "period",       "children",      "max_children",
    "allow_add",     "restart",     "shutdown",     "restart_delay", "backoff_max",
    "backoff_reset", "significant", "auto_shutdown"};

inline constexpr std::array<std::string_view, 25> kWorkerKeys{
    "command",       "restart",     "shutdown",      "stop_signal",   "normal_exit_codes",
    "env",           "clear_env",   "cwd",           "channel",       "trace_size",
    "stdout",        "stderr",      "restart_delay", "backoff_max",   "backoff_reset",
    "significant",   "user",        "group",         "umask",         "rlimits",
    "nice",          "no_new_privs", "ready",        "start_timeout", "watchdog"};

// The keys a section of `kind` accepts.
std::span<const std::string_view> keys_of(SectionKind kind);

// How the section is written in messages: "[daemon]", "[supervisor.NAME]",
// "[worker.NAME]" (with `name` filled in; ignored for daemon).
std::string section_label(SectionKind kind, std::string_view name);

// True when `name` is a valid supervisor or worker name: one or more of
// A-Z a-z 0-9 _ . - (so never '/', which separates the parts of a path),
// and not "." or "..".
bool is_valid_name(std::string_view name);

}  // namespace otpsup::config
