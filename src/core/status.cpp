#include "otpsup/status.h"

#include <system_error>

namespace otpsup {

Status Status::from_errno(const std::string& what, const std::string& object, int err) {
  std::string message = what;
  message += ": ";
  if (!object.empty()) {
    message += object;
    message += ": ";
  }
  message += std::generic_category().message(err);
  return Status(std::move(message));
}

}  // namespace otpsup
