// Names of the spec enums as written in the config file and shown by status.
#include "otpsup/spec.h"

#include "otpsup/duration.h"

namespace otpsup {

const char* to_string(Strategy s) {
  switch (s) {
    case Strategy::one_for_one:
      return "one_for_one";
    case Strategy::one_for_all:
      return "one_for_all";
    case Strategy::rest_for_one:
      return "rest_for_one";
    case Strategy::dynamic:
      return "dynamic";
  }
  return "?";
}

const char* to_string(RestartType r) {
  switch (r) {
    case RestartType::permanent:
      return "permanent";
    case RestartType::transient:
      return "transient";
    case RestartType::temporary:
      return "temporary";
  }
  return "?";
}

const char* to_string(AutoShutdown a) {
  switch (a) {
    case AutoShutdown::never:
      return "never";
    case AutoShutdown::any_significant:
      return "any_significant";
    case AutoShutdown::all_significant:
      return "all_significant";
  }
  return "?";
}

const char* to_string(OutputTarget t) {
  switch (t) {
    case OutputTarget::log:
      return "log";
    case OutputTarget::inherit:
      return "inherit";
    case OutputTarget::null:
      return "null";
  }
  return "?";
}

const char* to_string(ReadyKind r) {
  switch (r) {
    case ReadyKind::none:
      return "none";
    case ReadyKind::notify:
      return "notify";
    case ReadyKind::fd:
      return "fd";
  }
  return "?";
}

std::string to_string(const Shutdown& s) {
  switch (s.kind) {
    case Shutdown::Kind::timeout:
      return format_duration(s.timeout);
    case Shutdown::Kind::brutal_kill:
      return "brutal_kill";
    case Shutdown::Kind::infinity:
      return "infinity";
  }
  return "?";
}

}  // namespace otpsup
