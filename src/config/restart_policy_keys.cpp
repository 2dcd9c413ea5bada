#include "restart_policy_keys.h"

#include "otpsup/duration.h"
#include "value_readers.h"

namespace otpsup::config {

bool RestartPolicyKeys::read(std::string_view key, const toml::node& value, ChildSpec& spec,
                             Diagnostics& diag) {
  if (key == "restart_delay") {
    if (auto d = read_duration(value, key, /*positive=*/false, diag)) spec.restart_delay = *d;
  } else if (key == "backoff_max") {
    backoff_max_pos_ = pos_of(value);
    if (auto d = read_duration(value, key, /*positive=*/true, diag)) spec.backoff_max = *d;
  } else if (key == "backoff_reset") {
    backoff_reset_pos_ = pos_of(value);
    if (auto d = read_duration(value, key, /*positive=*/true, diag)) spec.backoff_reset = *d;
  } else if (key == "significant") {
    if (auto b = read_bool(value, key, diag)) {
      spec.significant = *b;
      if (*b) significant_pos_ = pos_of(value);
    }
  } else {
    return false;
  }
  return true;
}

void RestartPolicyKeys::check(const ChildSpec& spec, Diagnostics& diag) const {
  const bool delayed = spec.restart_delay.count() > 0;
  if (backoff_max_pos_ && delayed && spec.backoff_max < spec.restart_delay) {
    diag.error(*backoff_max_pos_,
               "backoff_max: expected at least restart_delay (" +
                   format_duration(spec.restart_delay) + "), found " +
                   format_duration(spec.backoff_max),
               "backoff_max caps restart_delay * 2^k; raise it or remove it");
  }
  if (!delayed && (backoff_max_pos_ || backoff_reset_pos_)) {
    diag.error(backoff_max_pos_ ? *backoff_max_pos_ : *backoff_reset_pos_,
               std::string(backoff_max_pos_ ? "backoff_max" : "backoff_reset") +
                   ": backoff applies only to a delayed restart, but restart_delay is not set",
               "add restart_delay = \"1s\" (the first delay), or remove this key");
  }
  if (significant_pos_ && spec.restart == RestartType::permanent) {
    diag.error(*significant_pos_,
               "significant: expected a transient or temporary child, but restart is "
               "\"permanent\"",
               "a permanent child is always restarted, so its exit cannot end its supervisor; "
               "use restart = \"transient\" (OTP's rule)");
  }
}

}  // namespace otpsup::config
