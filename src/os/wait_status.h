// Decoding waitpid(2) statuses into ExitStatus values.
#pragma once

#include <sys/wait.h>

#include "otpsup/exit_status.h"

namespace otpsup {

inline ExitStatus decode_wait_status(int status) {
  if (WIFSIGNALED(status)) return ExitStatus::killed(WTERMSIG(status), WCOREDUMP(status) != 0);
  return ExitStatus::exited(WEXITSTATUS(status));
}

}  // namespace otpsup
