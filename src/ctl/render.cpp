#include "ctl/render.h"

#include <algorithm>
#include <array>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <optional>
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
  if (bool_member(node, "added")) label += " (added)";
  row.push_back(std::string(static_cast<std::size_t>(depth) * 2, ' ') + label);

  std::string state = string_member(node, "state");
  if (state == "running" && bool_member(node, "frozen")) state = "frozen";
  if (auto in_ms = count_member(node, "restart_in_ms"); state == "restarting" && in_ms) {
    // "restarting in 1.6s": tenths of a second, rounded up so 0.0s never shows early.
    const std::uint64_t tenths = (*in_ms + 99) / 100;
    state += " in " + std::to_string(tenths / 10) + "." + std::to_string(tenths % 10) + "s";
  }
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
  } else if (std::string text = string_member(node, "status_text"); !text.empty()) {
    // The worker's STATUS= (sd_notify), with control characters made harmless.
    for (char& ch : text) {
      if (static_cast<unsigned char>(ch) < 0x20 || ch == 0x7f) ch = '?';
    }
    row.push_back("\"" + text + "\"");
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

// A number member (integer or floating point), or nullopt.
std::optional<double> number_member(const json& object, const char* key) {
  auto found = object.find(key);
  if (found == object.end() || !found->is_number()) return std::nullopt;
  return found->get<double>();
}

std::string fixed(double value, int decimals) {
  char text[64];
  std::snprintf(text, sizeof(text), "%.*f", decimals, value);
  return text;
}

// Key/value lines with the values aligned one column after the longest key.
using Pairs = std::vector<std::pair<std::string, std::string>>;

std::string render_pairs(const Pairs& pairs) {
  std::size_t width = 0;
  for (const auto& [key, value] : pairs) width = std::max(width, key.size());
  std::string out;
  for (const auto& [key, value] : pairs) {
    std::string line = key;
    line.append(width - key.size() + 2, ' ');
    line += value.empty() ? "-" : value;
    out += line;
    out += '\n';
  }
  return out;
}

// One argument of a command line, single-quoted when a shell would split or
// reinterpret it.
std::string shell_word(const std::string& word) {
  if (!word.empty() && word.find_first_not_of("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                                              "0123456789_-./:=,+@%") == std::string::npos) {
    return word;
  }
  std::string out = "'";
  for (char c : word) {
    if (c == '\'') {
      out += "'\\''";
    } else {
      out += c;
    }
  }
  return out + "'";
}

std::string seconds_text(const json& object, const char* key) {
  auto value = number_member(object, key);
  return value ? fixed(*value, 2) + "s" : "?";
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

std::string format_bytes(std::uint64_t bytes) {
  constexpr std::uint64_t kKiB = 1024;
  constexpr std::uint64_t kMiB = kKiB * 1024;
  constexpr std::uint64_t kGiB = kMiB * 1024;
  if (bytes < kKiB) return std::to_string(bytes) + " B";
  if (bytes < kMiB) return std::to_string(bytes / kKiB) + " KiB";
  if (bytes < kGiB) return fixed(static_cast<double>(bytes) / kMiB, 1) + " MiB";
  return fixed(static_cast<double>(bytes) / kGiB, 1) + " GiB";
}

std::string render_process_info(const json& info) {
  if (!info.is_object()) return info.dump() + "\n";
  Pairs pairs;
  pairs.emplace_back("path", string_member(info, "path"));
  pairs.emplace_back("kind", string_member(info, "kind"));
  auto pid = count_member(info, "pid");
  pairs.emplace_back("pid", pid ? std::to_string(*pid) : std::string());

  std::string state = string_member(info, "state_name");
  std::string letter = string_member(info, "state");
  if (state.empty()) {
    state = letter;
  } else if (!letter.empty()) {
    state += " (" + letter + ")";
  }
  pairs.emplace_back("state", state);

  auto rss = count_member(info, "rss_bytes");
  pairs.emplace_back("rss", rss ? format_bytes(*rss) : std::string());
  auto threads = count_member(info, "threads");
  pairs.emplace_back("threads", threads ? std::to_string(*threads) : std::string());
  pairs.emplace_back("cpu", "user " + seconds_text(info, "cpu_user_s") + "  system " +
                                seconds_text(info, "cpu_system_s"));
  auto fds = count_member(info, "fd_count");
  pairs.emplace_back("fds", fds ? std::to_string(*fds) : std::string());

  std::string started = string_member(info, "start_time");
  if (!started.empty()) {
    std::string shown = render_timestamp(started);
    started = shown == started ? started : shown + " UTC";
  }
  pairs.emplace_back("started", started);
  auto uptime = number_member(info, "uptime_s");
  pairs.emplace_back("uptime", uptime && *uptime >= 0
                                   ? format_uptime(static_cast<std::uint64_t>(*uptime * 1000))
                                   : std::string());

  std::string cmdline;
  auto args = info.find("cmdline");
  if (args != info.end() && args->is_array()) {
    for (const json& arg : *args) {
      if (!cmdline.empty()) cmdline += ' ';
      cmdline += arg.is_string() ? shell_word(arg.get<std::string>()) : arg.dump();
    }
  }
  pairs.emplace_back("cmdline", cmdline);
  return render_pairs(pairs);
}

std::string render_stats(const json& stats) {
  if (!stats.is_object()) return stats.dump() + "\n";
  Pairs pairs;
  pairs.emplace_back("path", string_member(stats, "path"));
  auto window_ms = count_member(stats, "window_ms");
  pairs.emplace_back("window",
                     window_ms ? format_duration(Duration(static_cast<Duration::rep>(*window_ms)))
                               : std::string());

  std::string restarts;
  if (auto count = count_member(stats, "restarts_in_window")) {
    restarts = std::to_string(*count);
    if (auto rate = number_member(stats, "restarts_per_minute")) {
      restarts += " (" + fixed(*rate, 2) + "/min)";
    }
  }
  pairs.emplace_back("restarts", restarts);
  auto exits = count_member(stats, "exits_in_window");
  pairs.emplace_back("exits", exits ? std::to_string(*exits) : std::string());

  // Supervisors only: "used/intensity (percent) in period".
  auto intensity = count_member(stats, "intensity");
  auto used_fraction = number_member(stats, "intensity_used");
  if (intensity && used_fraction) {
    // intensity_used is used / intensity, or the plain count when intensity is 0.
    double used =
        *intensity > 0 ? *used_fraction * static_cast<double>(*intensity) : *used_fraction;
    std::string text =
        std::to_string(static_cast<std::uint64_t>(std::llround(std::max(used, 0.0)))) + "/" +
        std::to_string(*intensity);
    if (*intensity > 0) text += " (" + fixed(*used_fraction * 100, 0) + "%)";
    if (auto period_ms = count_member(stats, "period_ms")) {
      text += " in " + format_duration(Duration(static_cast<Duration::rep>(*period_ms)));
    }
    pairs.emplace_back("intensity", text);
  }

  std::string last_exit = string_member(stats, "last_exit_ts");
  if (!last_exit.empty()) {
    last_exit = render_timestamp(last_exit);
    std::string reason = string_member(stats, "last_exit_reason");
    if (!reason.empty()) last_exit += " (" + reason + ")";
  }
  pairs.emplace_back("last exit", last_exit);
  std::string last_event = string_member(stats, "last_event_ts");
  pairs.emplace_back("last event", last_event.empty() ? last_event : render_timestamp(last_event));
  return render_pairs(pairs);
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
