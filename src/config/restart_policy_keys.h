// The child keys shared by [worker.NAME] and [supervisor.NAME] that shape how
// its supervisor restarts or outlives it: restart_delay, backoff_max,
// backoff_reset (a delayed, exponentially backed-off restart) and
// significant (OTP 24's auto_shutdown trigger). See otpsup.toml(5).
#pragma once

#include <optional>
#include <string_view>

#include <toml++/toml.h>

#include "diagnostics.h"
#include "otpsup/spec.h"

namespace otpsup::config {

class RestartPolicyKeys {
 public:
  // Reads `key` into `spec` when it is one of these keys (reporting a bad
  // value to `diag`) and returns true; returns false for any other key.
  bool read(std::string_view key, const toml::node& value, ChildSpec& spec, Diagnostics& diag);

  // Rules that tie these keys to others of the same section, checked once
  // every key is read: backoff_max is not below restart_delay, the backoff
  // keys need restart_delay, significant needs transient or temporary.
  void check(const ChildSpec& spec, Diagnostics& diag) const;

  // Where `significant = true` was written, for the linker's check that the
  // parent has auto_shutdown.
  std::optional<SourcePos> significant_pos() const { return significant_pos_; }

 private:
  std::optional<SourcePos> significant_pos_;
  std::optional<SourcePos> backoff_max_pos_;
  std::optional<SourcePos> backoff_reset_pos_;
};

}  // namespace otpsup::config
