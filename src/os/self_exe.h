// Where the running binary lives (so otpsupd finds the workers beside it).
#pragma once

#include <string>

namespace otpsup {

// Absolute path of the running binary (/proc/self/exe); empty if unreadable.
std::string self_exe_path();

// Directory of /proc/self/exe, e.g. "/usr/bin"; empty if it cannot be read.
std::string self_exe_dir();

}  // namespace otpsup
