// Credentials: the user and groups a worker runs as, resolved from names.
//
// Resolution reads the passwd and group databases (getpwnam_r, getgrnam_r,
// getgrouplist: NSS, so it may allocate, open files or talk to a daemon). It
// is therefore done BEFORE fork — by the config loader, to reject unknown
// names with a position, and by spawn_worker, which passes the plain numbers
// to the child. Nothing here is async-signal-safe.
#pragma once

#include <sys/types.h>

#include <optional>
#include <string>
#include <vector>

#include "otpsup/status.h"

namespace otpsup {

struct Credentials {
  uid_t uid = 0;
  gid_t gid = 0;
  std::vector<gid_t> groups;  // supplementary groups, set with setgroups
  // For messages ("setuid(nobody)") and the worker's environment.
  std::string user_name;   // empty when no user was asked for
  std::string group_name;  // the group's name, or the user's primary group's
  std::string home;        // the user's home directory (empty without a user)
};

// Resolves `user` (a name, or a number that has a passwd entry) and `group`
// (a name or a number). With a user: its uid, its primary group (or `group`),
// and its supplementary groups from the group database (getgrouplist). With
// only a group: the current uid, that group, and it as the only
// supplementary group. Returns "user \"x\" does not exist" / "group \"x\"
// does not exist" errors. REQUIRES: user or group is set.
Status resolve_credentials(const std::optional<std::string>& user,
                           const std::optional<std::string>& group, Credentials* out);

// The name of user `uid` / group `gid` in the passwd / group database; empty
// when it has none (or the lookup failed).
std::string user_name_of(uid_t uid);
std::string group_name_of(gid_t gid);

// True when `c` is exactly the calling process's identity (effective uid and
// gid, supplementary groups in any order): then nothing needs changing, which
// lets an unprivileged otpsupd name its own user.
bool is_current_identity(const Credentials& c);

// "nofile" -> RLIMIT_NOFILE ...; -1 for a name not in kResourceLimitNames.
int resource_of(const std::string& name);

}  // namespace otpsup
