#include "protocol/request_members.h"

#include <algorithm>
#include <cstdint>
#include <limits>
#include <string_view>

namespace otpsup::protocol {

namespace {

enum class Kind { string, integer, boolean, string_array, array, string_or_integer };

struct Member {
  std::string_view name;
  Kind kind;
};

constexpr Member kMembers[] = {
    {"cmd", Kind::string},
    {"path", Kind::string},
    {"child_id", Kind::string},
    {"action", Kind::string},
    {"sandbox_id", Kind::string},
    {"template", Kind::string},
    {"strategy", Kind::string},
    {"period", Kind::string},
    {"under", Kind::string},
    {"window", Kind::string},
    {"since", Kind::string},
    {"event", Kind::string},
    {"name", Kind::string},
    {"state", Kind::string},
    {"restart", Kind::string},
    {"shutdown", Kind::string},
    {"n", Kind::integer},
    {"intensity", Kind::integer},
    {"timeout_ms", Kind::integer},
    {"force", Kind::boolean},
    {"follow", Kind::boolean},
    {"stop", Kind::boolean},
    {"recursive", Kind::boolean},
    {"dry_run", Kind::boolean},
    {"command", Kind::string_array},
    {"settings", Kind::string_array},
    {"args", Kind::array},
    {"signal", Kind::string_or_integer},
};

bool is_int32(const nlohmann::json& v) {
  if (v.is_number_unsigned()) {
    return v.get<std::uint64_t>() <=
           static_cast<std::uint64_t>(std::numeric_limits<std::int32_t>::max());
  }
  if (!v.is_number_integer()) return false;
  const auto n = v.get<std::int64_t>();
  return n >= std::numeric_limits<std::int32_t>::min() &&
         n <= std::numeric_limits<std::int32_t>::max();
}

bool fits(const nlohmann::json& v, Kind kind) {
  switch (kind) {
    case Kind::string:
      return v.is_string();
    case Kind::integer:
      return is_int32(v);
    case Kind::boolean:
      return v.is_boolean();
    case Kind::string_array:
      return v.is_array() &&
             std::all_of(v.begin(), v.end(), [](const nlohmann::json& e) { return e.is_string(); });
    case Kind::array:
      return v.is_array();
    case Kind::string_or_integer:
      return v.is_string() || is_int32(v);
  }
  return false;
}

std::string_view wanted(Kind kind) {
  switch (kind) {
    case Kind::string:
      return "a string";
    case Kind::integer:
      return "an integer (32-bit)";
    case Kind::boolean:
      return "true or false";
    case Kind::string_array:
      return "an array of strings";
    case Kind::array:
      return "an array";
    case Kind::string_or_integer:
      return "a name or a number";
  }
  return "?";
}

}  // namespace

std::optional<std::string> wrong_member_type(const nlohmann::json& request) {
  for (const Member& m : kMembers) {
    auto it = request.find(m.name);
    if (it == request.end() || fits(*it, m.kind)) continue;
    return "member \"" + std::string(m.name) + "\" must be " + std::string(wanted(m.kind)) +
           ", not " +
           (it->is_number() ? std::string("the number ") + it->dump()
                            : std::string(it->type_name()));
  }
  return std::nullopt;
}

}  // namespace otpsup::protocol
