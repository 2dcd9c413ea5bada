#include "ctl/render.h"

#include <array>
#include <cctype>
#include <vector>

#include "otpsup/duration.h"

namespace otpsup::ctl {
namespace {

using json = nlohmann::ordered_json;

// The members a history record's human line shows in fixed places.
constexpr std::array<std::string_view, 11> kPlacedRecordMembers = {
    "seq", "ts", "boot", "sup", "child", "event", "pid", "old_pid", "new_pid", "reason", "crc"};

std::string string_member(const json& object, const char* key) {
  auto found = object.find(key);
  if (found == object.end() || !found->is_string()) return {};
  return found->get<std::string>();
}

// A non-negative integer member, or nullopt when absent or of another type.
std::optional<std::uint64_t> count_member(const json& object, const char* key) {
  auto found = object.find(key);
  if (found == object.end()) return std::nullopt;
  if (found->is_number_unsigned()) return found->get<std::uint64_t>();
  if (found->is_number_integer() && found->get<std::int64_t>() >= 0) {
    return static_cast<std::uint64_t>(found->get<std::int64_t>());
  }
  return std::nullopt;
}

bool bool_member(const json& object, const char* key) {
  auto found = object.find(key);
  return found != object.end() && found->is_boolean() && found->get<bool>();
}

std::string two_digits(std::uint64_t value) {
  return (value < 10 ? "0" : "") + std::to_string(value);
}

// One row of the status table: cells, the first one already indented.
using Row = std::vector<std::string>;

void collect_rows(const json& node, int depth, std::vector<Row>* rows) {
  if (!node.is_object()) return;
  Row row;
  std::string label = depth == 0 ? string_member(node, "path") : std::string();
  if (label.empty()) label = string_member(node, "name");
  if (label.empty()) label = "?";
  row.push_back(std::string(static_cast<std::size_t>(depth) * 2, ' ') + label);

  std::string state = string_member(node, "state");
  row.push_back(state.empty() ? "?" : state);
  auto pid = count_member(node, "pid");
  row.push_back("pid " + (pid && *pid != 0 ? std::to_string(*pid) : std::string("-")));
  auto uptime = count_member(node, "uptime_ms");
  bool has_process = pid && *pid != 0;
  row.push_back("up " + (has_process && uptime ? format_uptime(*uptime) : std::string("-")));
  row.push_back("restarts " + std::to_string(count_member(node, "restarts").value_or(0)));

  if (string_member(node, "kind") == "supervisor") {
    std::string strategy = string_member(node, "strategy");
    row.push_back(strategy.empty() ? "?" : strategy);
    auto intensity = count_member(node, "intensity");
    auto period_ms = count_member(node, "period_ms");
    auto in_period = count_member(node, "restarts_in_period");
    if (intensity && period_ms) {
      row.push_back("intensity " + std::to_string(in_period.value_or(0)) + "/" +
                    std::to_string(*intensity) + " in " +
                    format_duration(Duration(static_cast<Duration::rep>(*period_ms))));
    } else {
      row.push_back({});
    }
    if (bool_member(node, "paused")) row.push_back("PAUSED");
  }
  rows->push_back(std::move(row));

  auto children = node.find("children");
  if (children != node.end() && children->is_array()) {
    for (const json& child : *children) collect_rows(child, depth + 1, rows);
  }
}

// A value for key=value: strings bare unless they hold spaces or are empty.
std::string render_value(const json& value) {
  if (value.is_string()) {
    const auto& text = value.get_ref<const std::string&>();
    if (!text.empty() && text.find_first_of(" \t\"=") == std::string::npos) return text;
  }
  return value.dump();
}

}  // namespace

std::string format_uptime(std::uint64_t milliseconds) {
  std::uint64_t seconds = milliseconds / 1000;
  if (seconds < 60) return std::to_string(seconds) + "s";
  std::uint64_t minutes = seconds / 60;
  if (minutes < 60) return std::to_string(minutes) + "m" + two_digits(seconds % 60) + "s";
  std::uint64_t hours = minutes / 60;
  if (hours < 24) return std::to_string(hours) + "h" + two_digits(minutes % 60) + "m";
  return std::to_string(hours / 24) + "d" + two_digits(hours % 24) + "h";
}

std::string render_status_tree(const json& node) {
  std::vector<Row> rows;
  collect_rows(node, 0, &rows);

  std::vector<std::size_t> widths;
  for (const Row& row : rows) {
    if (widths.size() < row.size()) widths.resize(row.size(), 0);
    for (std::size_t i = 0; i < row.size(); ++i) widths[i] = std::max(widths[i], row[i].size());
  }

  std::string out;
  for (const Row& row : rows) {
    std::string line;
    for (std::size_t i = 0; i < row.size(); ++i) {
      if (i > 0) line += "  ";
      line += row[i];
      if (i + 1 < row.size()) line.append(widths[i] - row[i].size(), ' ');
    }
    while (!line.empty() && line.back() == ' ') line.pop_back();
    out += line;
    out += '\n';
  }
  return out;
}

std::string render_timestamp(std::string_view ts) {
  auto digit = [&ts](std::size_t i) {
    return i < ts.size() && std::isdigit(static_cast<unsigned char>(ts[i]));
  };
  // YYYY-MM-DDTHH:MM:SS, with any separator between date and time.
  if (ts.size() < 19 || ts[4] != '-' || ts[7] != '-' || ts[13] != ':' || ts[16] != ':' ||
      !digit(0) || !digit(11) || !digit(18)) {
    return std::string(ts);
  }
  std::string out(ts.substr(0, 19));
  out[10] = ' ';
  std::string millis;
  if (ts.size() > 19 && ts[19] == '.') {
    for (std::size_t i = 20; i < ts.size() && digit(i) && millis.size() < 3; ++i) millis += ts[i];
  }
  millis.resize(3, '0');
  return out + "." + millis;
}

std::string render_history_record(const json& record) {
  if (!record.is_object()) return record.dump();
  std::string line;
  auto add = [&line](const std::string& part) {
    if (part.empty()) return;
    if (!line.empty()) line += ' ';
    line += part;
  };

  add(render_timestamp(string_member(record, "ts")));
  if (auto seq = count_member(record, "seq")) add("#" + std::to_string(*seq));

  std::string sup = string_member(record, "sup");
  std::string child = string_member(record, "child");
  add(child.empty() ? sup : (sup.empty() ? child : sup + "/" + child));

  std::string event = string_member(record, "event");
  add(event.empty() ? "?" : event);

  auto old_pid = count_member(record, "old_pid");
  auto new_pid = count_member(record, "new_pid");
  auto pid = count_member(record, "pid");
  if (old_pid && new_pid) {
    add("pid " + std::to_string(*old_pid) + " -> " + std::to_string(*new_pid));
  } else if (pid) {
    add("pid " + std::to_string(*pid));
  } else if (new_pid) {
    add("pid " + std::to_string(*new_pid));
  } else if (old_pid) {
    add("pid " + std::to_string(*old_pid));
  }

  for (const auto& [key, value] : record.items()) {
    bool placed = false;
    for (std::string_view known : kPlacedRecordMembers) placed = placed || key == known;
    if (!placed) add(key + "=" + render_value(value));
  }

  auto reason = record.find("reason");
  if (reason != record.end()) {
    add("(" + (reason->is_string() ? reason->get<std::string>() : reason->dump()) + ")");
  }
  return line;
}

std::string render_history_line(std::string_view raw_line) {
  auto record = json::parse(raw_line, nullptr, /*allow_exceptions=*/false);
  if (record.is_discarded() || !record.is_object()) return std::string(raw_line);
  return render_history_record(record);
}

}  // namespace otpsup::ctl
