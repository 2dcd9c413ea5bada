#include "os/private_dirs.h"

#include <errno.h>
#include <sys/stat.h>

namespace otpsup {

namespace {
bool is_directory(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}
}  // namespace

Status make_private_dirs(const std::string& dir) {
  std::size_t from = 0;
  while (from <= dir.size()) {
    std::size_t slash = dir.find('/', from);
    if (slash == std::string::npos) slash = dir.size();
    const std::string prefix = dir.substr(0, slash);
    if (!prefix.empty() && ::mkdir(prefix.c_str(), 0700) != 0 && errno != EEXIST) {
      const int err = errno;
      if (!is_directory(prefix)) return Status::from_errno("mkdir", prefix, err);
    }
    from = slash + 1;
  }
  if (!dir.empty() && !is_directory(dir)) return Status::from_errno("mkdir", dir, ENOTDIR);
  return Status::ok_status();
}

}  // namespace otpsup
