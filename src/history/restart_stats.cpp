#include "otpsup/restart_stats.h"

namespace otpsup {

namespace {

// The value of the `n` decimal digits at text[at, at + n), or -1.
int digits_at(std::string_view text, std::size_t at, std::size_t n) {
  if (at + n > text.size()) return -1;
  int value = 0;
  for (std::size_t i = at; i < at + n; ++i) {
    if (text[i] < '0' || text[i] > '9') return -1;
    value = value * 10 + (text[i] - '0');
  }
  return value;
}

std::string string_member(const nlohmann::json& record, const char* name) {
  const auto it = record.find(name);
  return it != record.end() && it->is_string() ? it->get<std::string>() : std::string();
}

}  // namespace

std::optional<std::chrono::system_clock::time_point> parse_record_timestamp(std::string_view ts) {
  using namespace std::chrono;
  // YYYY-MM-DDTHH:MM:SS is 19 characters; then [.fraction] and 'Z'.
  if (ts.size() < 20 || ts[4] != '-' || ts[7] != '-' || ts[10] != 'T' || ts[13] != ':' ||
      ts[16] != ':' || ts.back() != 'Z') {
    return std::nullopt;
  }
  const int y = digits_at(ts, 0, 4), mo = digits_at(ts, 5, 2), d = digits_at(ts, 8, 2);
  const int h = digits_at(ts, 11, 2), mi = digits_at(ts, 14, 2), s = digits_at(ts, 17, 2);
  if (y < 0 || mo < 0 || d < 0 || h < 0 || h > 23 || mi < 0 || mi > 59 || s < 0 || s > 59) {
    return std::nullopt;
  }
  const year_month_day date{year{y}, month{static_cast<unsigned>(mo)},
                            day{static_cast<unsigned>(d)}};
  if (!date.ok()) return std::nullopt;

  long micros = 0;
  const std::size_t fraction_digits = ts.size() - 20;  // between ":SS" and 'Z', '.' included
  if (fraction_digits != 0) {
    if (ts[19] != '.' || fraction_digits < 2 || fraction_digits > 10) return std::nullopt;
    for (std::size_t i = 0; i + 1 < fraction_digits; ++i) {
      const int digit = digits_at(ts, 20 + i, 1);
      if (digit < 0) return std::nullopt;
      if (i < 6) micros = micros * 10 + digit;
    }
    for (std::size_t i = fraction_digits - 1; i < 6; ++i) micros *= 10;  // fewer than 6 digits
  }
  return time_point_cast<system_clock::duration>(sys_days{date} + hours{h} + minutes{mi} +
                                                 seconds{s} + microseconds{micros});
}

RestartStats compute_restart_stats(const std::vector<nlohmann::json>& records,
                                   const std::string& path,
                                   std::chrono::system_clock::time_point now,
                                   std::chrono::milliseconds window) {
  RestartStats stats;
  stats.path = path;
  const auto window_start = now - window;

  // "Newest" rank: (seq, position); the first belonging record always wins.
  std::uint64_t exit_seq = 0, event_seq = 0;
  bool have_exit = false, have_event = false;

  for (const nlohmann::json& record : records) {
    if (!record.is_object()) continue;
    const std::string child = string_member(record, "child");
    if (child.empty()) continue;
    const std::string sup = string_member(record, "sup");
    if (sup != path && sup + "/" + child != path) continue;

    const auto seq_it = record.find("seq");
    std::uint64_t seq = 0;  // unsigned as parsed; a signed one when built in memory
    if (seq_it != record.end() && seq_it->is_number_integer() && *seq_it >= 0) {
      seq = seq_it->get<std::uint64_t>();
    }
    const std::string event = string_member(record, "event");
    const std::string ts = string_member(record, "ts");

    if (!have_event || seq >= event_seq) {
      have_event = true;
      event_seq = seq;
      stats.last_event_ts = ts;
    }
    if (event == "exited" && (!have_exit || seq >= exit_seq)) {
      have_exit = true;
      exit_seq = seq;
      stats.last_exit_ts = ts;
      stats.last_exit_reason = string_member(record, "reason");
    }

    if (window.count() <= 0) continue;
    const auto when = parse_record_timestamp(ts);
    if (!when || *when <= window_start || *when > now) continue;
    if (event == "restarted") ++stats.restarts_in_window;
    if (event == "exited") ++stats.exits_in_window;
  }

  if (window.count() > 0) {
    const double minutes = std::chrono::duration<double, std::ratio<60>>(window).count();
    stats.restarts_per_minute = static_cast<double>(stats.restarts_in_window) / minutes;
  }
  return stats;
}

nlohmann::json to_json(const RestartStats& stats) {
  auto string_or_null = [](const std::string& s) {
    return s.empty() ? nlohmann::json(nullptr) : nlohmann::json(s);
  };
  return nlohmann::json{
      {"path", stats.path},
      {"restarts_in_window", stats.restarts_in_window},
      {"restarts_per_minute", stats.restarts_per_minute},
      {"exits_in_window", stats.exits_in_window},
      {"last_exit_reason", string_or_null(stats.last_exit_reason)},
      {"last_exit_ts", string_or_null(stats.last_exit_ts)},
      {"last_event_ts", string_or_null(stats.last_event_ts)},
  };
}

}  // namespace otpsup
