#include "executable_lookup.h"

#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <vector>

namespace otpsup::config {
namespace {

namespace fs = std::filesystem;

enum class FileCheck { executable, missing, directory, not_regular, not_executable };

FileCheck check_file(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return FileCheck::missing;
  if (S_ISDIR(st.st_mode)) return FileCheck::directory;
  if (!S_ISREG(st.st_mode)) return FileCheck::not_regular;
  if (::access(path.c_str(), X_OK) != 0) return FileCheck::not_executable;
  return FileCheck::executable;
}

std::string absolute_path(const std::string& path) {
  std::error_code ec;
  fs::path p = fs::absolute(path, ec);
  if (ec) p = path;
  return p.lexically_normal().string();
}

std::string quote(std::string_view s) {
  return "'" + std::string(s) + "'";
}

}  // namespace

ExecutableLookup find_executable(std::string_view name, const ConfigContext& ctx) {
  std::string given(name);
  if (given.empty()) return {{}, "the program name is empty"};

  if (given.find('/') != std::string::npos) {
    if (given[0] != '/' && !ctx.base_dir.empty()) given = (fs::path(ctx.base_dir) / given).string();
    switch (check_file(given)) {
      case FileCheck::executable:
        return {absolute_path(given), {}};
      case FileCheck::missing:
        return {{}, quote(given) + " does not exist"};
      case FileCheck::directory:
        return {{}, quote(given) + " is a directory"};
      case FileCheck::not_regular:
        return {{}, quote(given) + " is not a regular file"};
      case FileCheck::not_executable:
        return {{}, quote(given) + " is not executable"};
    }
  }

  std::vector<std::string> dirs;
  std::string_view rest = ctx.path_env;
  while (!rest.empty()) {
    const std::size_t colon = rest.find(':');
    const std::string_view dir = rest.substr(0, colon);
    if (!dir.empty()) dirs.emplace_back(dir);
    if (colon == std::string_view::npos) break;
    rest.remove_prefix(colon + 1);
  }
  if (!ctx.self_dir.empty()) dirs.push_back(ctx.self_dir);

  std::string not_executable;  // first candidate that exists but cannot run
  for (const std::string& dir : dirs) {
    const std::string candidate = (fs::path(dir) / given).string();
    const FileCheck check = check_file(candidate);
    if (check == FileCheck::executable) return {absolute_path(candidate), {}};
    if (check == FileCheck::not_executable && not_executable.empty()) {
      not_executable = candidate;
    }
  }
  if (!not_executable.empty()) {
    return {{},
            quote(given) + " was found as " + quote(not_executable) + ", which is not executable"};
  }

  std::string where;
  if (!ctx.path_env.empty()) where = "$PATH";
  if (!ctx.self_dir.empty()) {
    where += where.empty() ? "" : " or ";
    where += quote(ctx.self_dir);
  }
  if (where.empty()) return {{}, quote(given) + " not found (no directories to search)"};
  return {{}, quote(given) + " not found in " + where};
}

}  // namespace otpsup::config
