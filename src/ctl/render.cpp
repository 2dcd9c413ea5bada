#include "ctl/render.h"

#include <algorithm>
#include <array>
#include <cctype>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <optional>
#include <vector>

#include "ctl/json_document.h"
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

// The members of a protocol Node, in the order the daemon sends them
// (nlohmann::json's sorted keys); last_exit and restart are not shown.
enum class Field : std::uint8_t {
  added,
  children,
  frozen,
  intensity,
  kind,
  last_exit,
  name,
  path,
  paused,
  period_ms,
  pid,
  restart,
  restart_in_ms,
  restarts,
  restarts_in_period,
  state,
  status_text,
  strategy,
  uptime_ms,
};
constexpr std::array<std::string_view, 19> kFieldNames = {
    "added",     "children",    "frozen",        "intensity", "kind",
    "last_exit", "name",        "path",          "paused",    "period_ms",
    "pid",       "restart",     "restart_in_ms", "restarts",  "restarts_in_period",
    "state",     "status_text", "strategy",      "uptime_ms"};

const char* field_name(Field field) {
  return kFieldNames[static_cast<std::size_t>(field)].data();
}

// Read access to one protocol Node, over an nlohmann tree.
class TreeNode {
 public:
  explicit TreeNode(const json& node) : node_(node) {}
  bool is_object() const { return node_.is_object(); }
  std::string_view string(Field field) const {
    auto found = node_.find(field_name(field));
    if (found == node_.end() || !found->is_string()) return {};
    return found->get_ref<const std::string&>();
  }
  std::optional<std::uint64_t> count(Field field) const {
    return count_member(node_, field_name(field));
  }
  bool flag(Field field) const { return bool_member(node_, field_name(field)); }
  template <typename Visit>
  void for_each_child(Visit&& visit) const {
    auto children = node_.find("children");
    if (children == node_.end() || !children->is_array()) return;
    for (const json& child : *children) visit(TreeNode(child));
  }

 private:
  const json& node_;
};

// The same over a JsonDocument (no tree built: `status` of thousands of
// nodes). The members are looked up in one pass over the object.
class DocumentNode {
 public:
  DocumentNode(const JsonDocument& doc, const JsonValue& node) : doc_(doc), node_(node) {
    if (node.type != JsonType::object) return;
    // Members come in kFieldNames' order: each search starts after the last
    // match, so a Node costs about one comparison per member. Several of one
    // name: the last counts, as in nlohmann's objects.
    std::size_t cursor = 0;
    for (const JsonValue* m = doc.first(node); m != nullptr; m = doc.next(*m)) {
      for (std::size_t k = 0; k < kFieldNames.size(); ++k) {
        const std::size_t i = (cursor + k) % kFieldNames.size();
        if (m->key == kFieldNames[i]) {
          fields_[i] = m;
          cursor = i + 1;
          break;
        }
      }
    }
  }
  bool is_object() const { return node_.type == JsonType::object; }
  std::string_view string(Field field) const {
    const JsonValue* found = get(field);
    return found != nullptr && found->type == JsonType::string ? found->text : std::string_view();
  }
  std::optional<std::uint64_t> count(Field field) const {
    const JsonValue* found = get(field);
    return found != nullptr ? JsonDocument::count(*found) : std::nullopt;
  }
  bool flag(Field field) const {
    const JsonValue* found = get(field);
    return found != nullptr && found->type == JsonType::boolean && found->text == "true";
  }
  template <typename Visit>
  void for_each_child(Visit&& visit) const {
    const JsonValue* children = get(Field::children);
    if (children == nullptr || children->type != JsonType::array) return;
    for (const JsonValue* c = doc_.first(*children); c != nullptr; c = doc_.next(*c)) {
      visit(DocumentNode(doc_, *c));
    }
  }

 private:
  const JsonValue* get(Field field) const { return fields_[static_cast<std::size_t>(field)]; }

  const JsonDocument& doc_;
  const JsonValue& node_;
  std::array<const JsonValue*, kFieldNames.size()> fields_{};
};

void append_number(std::uint64_t value, std::string* out) {
  char digits[24];
  out->append(digits, std::to_chars(digits, digits + sizeof digits, value).ptr);
}

void append_two_digits(std::uint64_t value, std::string* out) {
  if (value < 10) out->push_back('0');
  append_number(value, out);
}

void append_uptime(std::uint64_t milliseconds, std::string* out) {
  std::uint64_t seconds = milliseconds / 1000;
  if (seconds < 60) {
    append_number(seconds, out);
    out->push_back('s');
    return;
  }
  std::uint64_t minutes = seconds / 60;
  if (minutes < 60) {
    append_number(minutes, out);
    out->push_back('m');
    append_two_digits(seconds % 60, out);
    out->push_back('s');
    return;
  }
  std::uint64_t hours = minutes / 60;
  if (hours < 24) {
    append_number(hours, out);
    out->push_back('h');
    append_two_digits(minutes % 60, out);
    out->push_back('m');
    return;
  }
  append_number(hours / 24, out);
  out->push_back('d');
  append_two_digits(hours % 24, out);
  out->push_back('h');
}

// The status table: every cell's text back to back in one string, so that a
// tree of thousands of nodes costs no allocation per cell.
class StatusTable {
 public:
  // The text of the cell being written; end it with end_cell().
  std::string& text() { return text_; }
  void end_cell() { cell_ends_.push_back(text_.size()); }
  void end_row() { row_ends_.push_back(cell_ends_.size()); }

  // Rows of columns aligned (each column as wide as its widest cell, two
  // spaces between columns), trailing spaces dropped, '\n' after each row.
  std::string render() const {
    std::vector<std::size_t> widths;
    for_each_cell([&](std::size_t column, std::size_t, std::size_t begin, std::size_t end) {
      if (widths.size() <= column) widths.resize(column + 1, 0);
      widths[column] = std::max(widths[column], end - begin);
    });
    std::string out;
    out.reserve(text_.size() + row_ends_.size() * (2 * widths.size() + 1) + row_ends_.size() * 16);
    std::size_t line_start = 0;
    for_each_cell([&](std::size_t column, std::size_t columns, std::size_t begin, std::size_t end) {
      if (column == 0) line_start = out.size();
      if (column > 0) out.append("  ");
      out.append(text_, begin, end - begin);
      if (column + 1 < columns) out.append(widths[column] - (end - begin), ' ');
      if (column + 1 == columns) {
        while (out.size() > line_start && out.back() == ' ') out.pop_back();
        out.push_back('\n');
      }
    });
    return out;
  }

 private:
  // visit(column, columns in its row, begin, end) for every cell, row by row.
  template <typename Visit>
  void for_each_cell(Visit&& visit) const {
    std::size_t cell = 0;
    for (std::size_t row_end : row_ends_) {
      const std::size_t first = cell;
      for (; cell < row_end; ++cell) {
        visit(cell - first, row_end - first, cell == 0 ? 0 : cell_ends_[cell - 1],
              cell_ends_[cell]);
      }
    }
  }

  std::string text_;
  std::vector<std::size_t> cell_ends_;  // the end of each cell in text_
  std::vector<std::size_t> row_ends_;   // the end of each row in cell_ends_
};

template <typename Node>
void collect_rows(const Node& node, int depth, StatusTable* table) {
  if (!node.is_object()) return;
  std::string& cell = table->text();

  cell.append(static_cast<std::size_t>(depth) * 2, ' ');
  std::string_view label = depth == 0 ? node.string(Field::path) : std::string_view();
  if (label.empty()) label = node.string(Field::name);
  cell.append(label.empty() ? std::string_view("?") : label);
  if (node.flag(Field::added)) cell.append(" (added)");
  table->end_cell();

  std::string_view state = node.string(Field::state);
  if (state == "running" && node.flag(Field::frozen)) state = "frozen";
  cell.append(state.empty() ? std::string_view("?") : state);
  if (auto in_ms = node.count(Field::restart_in_ms); state == "restarting" && in_ms) {
    // "restarting in 1.6s": tenths of a second, rounded up so 0.0s never shows early.
    const std::uint64_t tenths = (*in_ms + 99) / 100;
    cell.append(" in ");
    append_number(tenths / 10, &cell);
    cell.push_back('.');
    append_number(tenths % 10, &cell);
    cell.push_back('s');
  }
  table->end_cell();

  auto pid = node.count(Field::pid);
  const bool has_process = pid && *pid != 0;
  cell.append("pid ");
  if (has_process) {
    append_number(*pid, &cell);
  } else {
    cell.push_back('-');
  }
  table->end_cell();
  auto uptime = node.count(Field::uptime_ms);
  cell.append("up ");
  if (has_process && uptime) {
    append_uptime(*uptime, &cell);
  } else {
    cell.push_back('-');
  }
  table->end_cell();
  cell.append("restarts ");
  append_number(node.count(Field::restarts).value_or(0), &cell);
  table->end_cell();

  if (node.string(Field::kind) == "supervisor") {
    std::string_view strategy = node.string(Field::strategy);
    cell.append(strategy.empty() ? std::string_view("?") : strategy);
    table->end_cell();
    auto intensity = node.count(Field::intensity);
    auto period_ms = node.count(Field::period_ms);
    auto in_period = node.count(Field::restarts_in_period);
    if (intensity && period_ms) {
      cell.append("intensity ");
      append_number(in_period.value_or(0), &cell);
      cell.push_back('/');
      append_number(*intensity, &cell);
      cell.append(" in ");
      cell.append(format_duration(Duration(static_cast<Duration::rep>(*period_ms))));
    }
    table->end_cell();
    if (node.flag(Field::paused)) {
      cell.append("PAUSED");
      table->end_cell();
    }
  } else if (std::string_view text = node.string(Field::status_text); !text.empty()) {
    // The worker's STATUS= (sd_notify), with control characters made harmless.
    cell.push_back('"');
    for (char ch : text) {
      cell.push_back(static_cast<unsigned char>(ch) < 0x20 || ch == 0x7f ? '?' : ch);
    }
    cell.push_back('"');
    table->end_cell();
  }
  table->end_row();

  node.for_each_child([&](const Node& child) { collect_rows(child, depth + 1, table); });
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

// "nobody:nogroup (65534:65534)": the names, then the ids; a name the
// databases do not have is left out ("(1234:1234)"); "" when nothing is known.
std::string user_text(const json& info) {
  const auto uid = count_member(info, "uid");
  const auto gid = count_member(info, "gid");
  if (!uid && !gid) return {};
  auto id = [](const std::optional<std::uint64_t>& n) { return n ? std::to_string(*n) : "?"; };
  std::string names = string_member(info, "user");
  const std::string group = string_member(info, "group");
  if (!names.empty() || !group.empty()) names += ":" + group + " ";
  return names + "(" + id(uid) + ":" + id(gid) + ")";
}

}  // namespace

std::string format_uptime(std::uint64_t milliseconds) {
  std::string out;
  append_uptime(milliseconds, &out);
  return out;
}

std::string render_status_tree(const json& node) {
  StatusTable table;
  collect_rows(TreeNode(node), 0, &table);
  return table.render();
}

std::string render_status_tree(const JsonDocument& document, const JsonValue& node) {
  StatusTable table;
  collect_rows(DocumentNode(document, node), 0, &table);
  return table.render();
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
  pairs.emplace_back("user", user_text(info));

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
