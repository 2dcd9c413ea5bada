// Default locations of the control socket and the state directory
// (paths.h). Reads the environment and the effective uid, nothing else.
#include "otpsup/paths.h"

#include <pwd.h>
#include <unistd.h>

#include <cstdlib>
#include <string>

namespace otpsup {
namespace {

// $NAME when set and non-empty.
std::string env_or_empty(const char* name) {
  const char* value = std::getenv(name);
  return value != nullptr ? std::string(value) : std::string();
}

// $HOME, or the home directory in the password database.
std::string home_dir() {
  std::string home = env_or_empty("HOME");
  if (!home.empty()) return home;
  if (const passwd* pw = ::getpwuid(::geteuid()); pw != nullptr && pw->pw_dir != nullptr) {
    return pw->pw_dir;
  }
  return "/";
}

}  // namespace

std::string default_socket_path() {
  if (std::string path = env_or_empty("OTPSUP_SOCKET"); !path.empty()) return path;
  const uid_t uid = ::geteuid();
  if (uid == 0) return "/run/otpsup/otpsupd.sock";
  if (std::string runtime = env_or_empty("XDG_RUNTIME_DIR"); !runtime.empty()) {
    return runtime + "/otpsup/otpsupd.sock";
  }
  return "/tmp/otpsup-" + std::to_string(uid) + "/otpsupd.sock";
}

std::string default_state_dir() {
  if (::geteuid() == 0) return "/var/lib/otpsup";
  if (std::string state = env_or_empty("XDG_STATE_HOME"); !state.empty()) {
    return state + "/otpsup";
  }
  return home_dir() + "/.local/state/otpsup";
}

}  // namespace otpsup
