#include "os/credentials.h"

#include <grp.h>
#include <pwd.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>

namespace otpsup {

namespace {

bool is_number(const std::string& s) {
  return !s.empty() && s.size() < 10 &&
         std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

// getpwnam_r / getpwuid_r with a growing buffer. Returns false when there is
// no such entry (or the lookup failed).
bool find_user(const std::string& name, passwd* pw, std::vector<char>* buf) {
  buf->assign(1024, '\0');
  for (;;) {
    passwd* result = nullptr;
    const int rc = is_number(name)
                       ? ::getpwuid_r(static_cast<uid_t>(std::stoul(name)), pw, buf->data(),
                                      buf->size(), &result)
                       : ::getpwnam_r(name.c_str(), pw, buf->data(), buf->size(), &result);
    if (rc == ERANGE && buf->size() < (1u << 20)) {
      buf->resize(buf->size() * 2);
      continue;
    }
    // A number without a passwd entry is refused too: a user needs its groups.
    return rc == 0 && result != nullptr;
  }
}

bool find_group(const std::string& name, group* gr, std::vector<char>* buf) {
  buf->assign(1024, '\0');
  for (;;) {
    struct group* result = nullptr;
    const int rc = is_number(name)
                       ? ::getgrgid_r(static_cast<gid_t>(std::stoul(name)), gr, buf->data(),
                                      buf->size(), &result)
                       : ::getgrnam_r(name.c_str(), gr, buf->data(), buf->size(), &result);
    if (rc == ERANGE && buf->size() < (1u << 20)) {
      buf->resize(buf->size() * 2);
      continue;
    }
    return rc == 0 && result != nullptr;
  }
}

}  // namespace

std::string user_name_of(uid_t uid) {
  passwd pw{};
  std::vector<char> buf;
  return find_user(std::to_string(uid), &pw, &buf) ? pw.pw_name : std::string();
}

std::string group_name_of(gid_t gid) {
  struct group gr {};
  std::vector<char> buf;
  return find_group(std::to_string(gid), &gr, &buf) ? gr.gr_name : std::string();
}

Status resolve_credentials(const std::optional<std::string>& user,
                           const std::optional<std::string>& group, Credentials* out) {
  Credentials c;
  c.uid = ::geteuid();
  c.gid = ::getegid();
  if (group) {
    struct group gr {};
    std::vector<char> buf;
    if (find_group(*group, &gr, &buf)) {
      c.gid = gr.gr_gid;
      c.group_name = gr.gr_name;
    } else if (is_number(*group)) {
      c.gid = static_cast<gid_t>(std::stoul(*group));  // a gid without a name is still a gid
      c.group_name = *group;
    } else {
      return Status::error("group \"" + *group + "\" does not exist");
    }
  }
  if (user) {
    passwd pw{};
    std::vector<char> buf;
    if (!find_user(*user, &pw, &buf)) return Status::error("user \"" + *user + "\" does not exist");
    c.uid = pw.pw_uid;
    c.user_name = pw.pw_name;
    c.home = pw.pw_dir ? pw.pw_dir : "";
    if (!group) {
      c.gid = pw.pw_gid;
      struct group gr {};
      std::vector<char> gbuf;
      c.group_name = find_group(std::to_string(pw.pw_gid), &gr, &gbuf) ? std::string(gr.gr_name)
                                                                       : std::to_string(pw.pw_gid);
    }
    int n = 32;
    std::vector<gid_t> groups(static_cast<std::size_t>(n));
    while (::getgrouplist(pw.pw_name, c.gid, groups.data(), &n) < 0) {
      groups.resize(static_cast<std::size_t>(n) + 32);
      n = static_cast<int>(groups.size());
    }
    groups.resize(static_cast<std::size_t>(n));
    c.groups = std::move(groups);
  } else {
    c.groups = {c.gid};
  }
  *out = std::move(c);
  return Status::ok_status();
}

bool is_current_identity(const Credentials& c) {
  if (c.uid != ::geteuid() || c.gid != ::getegid()) return false;
  const int n = ::getgroups(0, nullptr);
  if (n < 0) return false;
  std::vector<gid_t> current(static_cast<std::size_t>(n));
  if (::getgroups(n, current.data()) < 0) return false;
  std::vector<gid_t> wanted = c.groups;
  // getgroups may or may not list the effective gid: compare without it.
  std::erase(current, c.gid);
  std::erase(wanted, c.gid);
  std::sort(current.begin(), current.end());
  std::sort(wanted.begin(), wanted.end());
  current.erase(std::unique(current.begin(), current.end()), current.end());
  wanted.erase(std::unique(wanted.begin(), wanted.end()), wanted.end());
  return current == wanted;
}

int resource_of(const std::string& name) {
  if (name == "nofile") return RLIMIT_NOFILE;
  if (name == "nproc") return RLIMIT_NPROC;
  if (name == "core") return RLIMIT_CORE;
  if (name == "as") return RLIMIT_AS;
  if (name == "cpu") return RLIMIT_CPU;
  return -1;
}

}  // namespace otpsup
