// Status: the error currency of the OS-facing layers (history, spawn, socket).
// A Status is ok, or carries one message of the form
// "what failed: object: strerror", ready to print after "otpsupd: ".
#pragma once

#include <string>
#include <utility>

namespace otpsup {

class [[nodiscard]] Status {
 public:
  Status() = default;
  static Status ok_status() { return Status(); }
  static Status error(std::string message) { return Status(std::move(message)); }
  // "what: object: strerror(err)" — the one place errno becomes text.
  static Status from_errno(const std::string& what, const std::string& object, int err);

  bool ok() const { return !failed_; }
  const std::string& message() const { return message_; }

 private:
  explicit Status(std::string message) : failed_(true), message_(std::move(message)) {}
  bool failed_ = false;
  std::string message_;
};

}  // namespace otpsup
