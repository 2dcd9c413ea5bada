// Following a worker's output log (`otpsupctl log PATH -f`), like tail -F.
#pragma once

#include <cstdint>
#include <ostream>
#include <string>

#include "otpsup/status.h"

namespace otpsup::ctl {

// Prints every complete line written to the log `file` from byte `offset`
// of the file whose inode is `inode` (where the daemon's tail of it ended;
// inode 0: there was no file, start at its beginning once it exists). Goes on
// across rotations: the old file is read to its end, then the new one from
// its start. Waits with inotify on the file's directory (no polling) until
// SIGINT/SIGTERM, then returns ok. Errors: the directory cannot be watched.
// REQUIRES: an InterruptScope is alive.
Status follow_log_file(const std::string& file, std::uint64_t inode, std::uint64_t offset,
                       std::ostream& out);

}  // namespace otpsup::ctl
