#include "otpsup/history_filter.h"

#include <algorithm>
#include <cctype>

#include "otpsup/duration.h"
#include "otpsup/history_format.h"

namespace otpsup {

std::string record_path(const nlohmann::json& record) {
  std::string path = record.value("sup", "");
  const std::string child = record.value("child", "");
  if (!child.empty()) path += "/" + child;
  return path;
}

namespace {
// True when `part` occurs in `path` aligned on '/' boundaries at both ends.
bool contains_segments(const std::string& path, const std::string& part) {
  for (std::size_t pos = path.find(part); pos != std::string::npos;
       pos = path.find(part, pos + 1)) {
    const bool starts = pos == 0 || path[pos - 1] == '/';
    const std::size_t end = pos + part.size();
    const bool ends = end == path.size() || path[end] == '/';
    if (starts && ends) return true;
  }
  return false;
}
}  // namespace

bool HistoryFilter::matches(const nlohmann::json& record) const {
  if (!record.is_object()) return false;
  if (!event.empty() && record.value("event", "") != event) return false;
  if (since_seq != 0 && record.value("seq", std::uint64_t{0}) < since_seq) return false;
  if (!since_timestamp.empty() && record.value("ts", "") < since_timestamp) return false;
  if (!path.empty() && !contains_segments(record_path(record), path)) return false;
  return true;
}

bool HistoryFilter::set_since(const std::string& text, std::chrono::system_clock::time_point now) {
  if (text.empty()) return false;
  if (std::all_of(text.begin(), text.end(), [](unsigned char c) { return std::isdigit(c); })) {
    if (text.size() > 19) return false;
    since_seq = std::stoull(text);
    return true;
  }
  if (auto ago = parse_duration(text)) {
    since_timestamp = format_record_timestamp(now - *ago);
    return true;
  }
  // RFC 3339 or a prefix of one: digits, '-', ':', 'T', '.', 'Z'.
  if (text.size() >= 4 && std::all_of(text.begin(), text.end(), [](unsigned char c) {
        return std::isdigit(c) || c == '-' || c == ':' || c == 'T' || c == '.' || c == 'Z';
      })) {
    since_timestamp = text;
    return true;
  }
  return false;
}

}  // namespace otpsup
