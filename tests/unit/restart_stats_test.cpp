// RestartStats: membership, window bounds, rate, last exit; the ts parser.
#include <doctest/doctest.h>

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "otpsup/history_format.h"
#include "otpsup/restart_stats.h"

using namespace otpsup;
using namespace std::chrono;
using nlohmann::json;

namespace {

const system_clock::time_point kNow = sys_days{year{2026} / 11 / 26} + hours{12};

json rec(std::uint64_t seq, system_clock::time_point ts, const std::string& sup,
         const std::string& child, const std::string& event, const std::string& reason = "") {
  json r{{"seq", seq},
         {"ts", format_record_timestamp(ts)},
         {"boot", "0123456789abcdef"},
         {"sup", sup}};
  if (!child.empty()) r["child"] = child;
  r["event"] = event;
  if (!reason.empty()) r["reason"] = reason;
  return r;
}

}  // namespace

TEST_CASE("parse_record_timestamp inverts format_record_timestamp") {
  const auto t = kNow + microseconds{234567} + seconds{1};
  const std::string text = format_record_timestamp(t);
  CHECK(text == "2026-11-26T12:00:01.234567Z");
  const auto parsed = parse_record_timestamp(text);
  REQUIRE(parsed.has_value());
  CHECK(*parsed == t);

  // Before 1970, leap day, end of year.
  const std::vector<system_clock::time_point> samples = {
      sys_days{year{1969} / 12 / 31} + hours{23} + microseconds{999999},
      sys_days{year{2024} / 2 / 29} + hours{7} + minutes{8} + seconds{9},
      sys_days{year{2026} / 12 / 31} + hours{23} + minutes{59} + seconds{59}};
  for (const auto tp : samples) {
    const auto p = parse_record_timestamp(format_record_timestamp(tp));
    REQUIRE(p.has_value());
    CHECK(*p == time_point_cast<microseconds>(tp));
  }
}

TEST_CASE("format_record_timestamp: the per-second part is remade when the second changes") {
  const auto t = sys_days{year{2026} / 11 / 26} + hours{12};
  CHECK(format_record_timestamp(t) == "2026-11-26T12:00:00.000000Z");
  CHECK(format_record_timestamp(t + microseconds{1}) == "2026-11-26T12:00:00.000001Z");
  CHECK(format_record_timestamp(t + microseconds{999999}) == "2026-11-26T12:00:00.999999Z");
  CHECK(format_record_timestamp(t + seconds{1} + microseconds{10}) ==
        "2026-11-26T12:00:01.000010Z");
  CHECK(format_record_timestamp(t - microseconds{1}) == "2026-11-26T11:59:59.999999Z");
  CHECK(format_record_timestamp(t + days{1}) == "2026-11-27T12:00:00.000000Z");
  CHECK(format_record_timestamp(t + microseconds{500000}) == "2026-11-26T12:00:00.500000Z");
}

TEST_CASE("parse_record_timestamp: fraction lengths and rejects") {
  const auto base = sys_days{year{2026} / 11 / 26} + hours{12};
  CHECK(parse_record_timestamp("2026-11-26T12:00:00Z") == base);
  CHECK(parse_record_timestamp("2026-11-26T12:00:00.5Z") == base + milliseconds{500});
  CHECK(parse_record_timestamp("2026-11-26T12:00:00.123456789Z") == base + microseconds{123456});

  for (const char* bad :
       {"", "2026-11-26", "2026-11-26T12:00:00", "2026-11-26T12:00:00.Z",
        "2026-11-26T12:00:00.1234567890Z", "2026-11-26 12:00:00Z", "2026-11-26T12:00:00+00:00",
        "2026-02-30T12:00:00Z", "2026-13-01T12:00:00Z", "2026-11-26T24:00:00Z",
        "2026-11-26T12:60:00Z", "2026-11-26T12:00:60Z", "2026-11-2xT12:00:00Z",
        "2026-11-26T12:00:00.12a456Z", "+026-11-26T12:00:00Z"}) {
    CAPTURE(bad);
    CHECK_FALSE(parse_record_timestamp(bad).has_value());
  }
}

TEST_CASE("compute_restart_stats: window is (now - window, now]") {
  const auto w = minutes{5};
  const std::vector<json> records = {
      rec(1, kNow - w - microseconds{1}, "root", "a", "restarted"),  // before
      rec(2, kNow - w, "root", "a", "restarted"),                    // exactly window old: out
      rec(3, kNow - w + microseconds{1}, "root", "a", "restarted"),  // in
      rec(4, kNow - minutes{1}, "root", "a", "restarted"),           // in
      rec(5, kNow, "root", "a", "restarted"),                        // at now: in
      rec(6, kNow + microseconds{1}, "root", "a", "restarted"),      // future: out
  };
  const RestartStats s = compute_restart_stats(records, "root/a", kNow, w);
  CHECK(s.path == "root/a");
  CHECK(s.restarts_in_window == 3);
  CHECK(s.restarts_per_minute == doctest::Approx(3.0 / 5.0));
  CHECK(s.exits_in_window == 0);
  CHECK(s.last_exit_reason.empty());
  CHECK(s.last_exit_ts.empty());
  CHECK(s.last_event_ts == format_record_timestamp(kNow + microseconds{1}));

  // An empty window counts nothing and has no rate.
  const RestartStats none = compute_restart_stats(records, "root/a", kNow, milliseconds{0});
  CHECK(none.restarts_in_window == 0);
  CHECK(none.restarts_per_minute == 0);
}

TEST_CASE("compute_restart_stats: child vs supervisor paths") {
  const std::vector<json> records = {
      rec(1, kNow - seconds{50}, "root", "demo", "restarted"),  // demo itself
      rec(2, kNow - seconds{40}, "root/demo", "c1", "exited", "killed by SIGKILL"),
      rec(3, kNow - seconds{40}, "root/demo", "c1", "restarted"),
      rec(4, kNow - seconds{30}, "root/demo", "c2", "restarted"),
      rec(5, kNow - seconds{20}, "root/demo/sub", "g1", "restarted"),  // grandchild: not demo's
      rec(6, kNow - seconds{10}, "root/demo", "", "gave_up"),          // no child: never counted
      rec(7, kNow - seconds{5}, "root", "demo2", "restarted"),         // prefix lookalike
  };
  const auto w = minutes{1};

  const RestartStats c1 = compute_restart_stats(records, "root/demo/c1", kNow, w);
  CHECK(c1.restarts_in_window == 1);
  CHECK(c1.exits_in_window == 1);
  CHECK(c1.last_exit_reason == "killed by SIGKILL");

  // The supervisor: its own restart plus its direct children's.
  const RestartStats demo = compute_restart_stats(records, "root/demo", kNow, w);
  CHECK(demo.restarts_in_window == 3);
  CHECK(demo.exits_in_window == 1);
  CHECK(demo.restarts_per_minute == doctest::Approx(3.0));
  CHECK(demo.last_event_ts == format_record_timestamp(kNow - seconds{30}));

  const RestartStats root = compute_restart_stats(records, "root", kNow, w);
  CHECK(root.restarts_in_window == 2);  // demo and demo2, nothing deeper

  const RestartStats missing = compute_restart_stats(records, "root/nope", kNow, w);
  CHECK(missing.restarts_in_window == 0);
  CHECK(missing.last_event_ts.empty());
}

TEST_CASE("compute_restart_stats: rate over a longer window") {
  std::vector<json> records;
  for (int i = 0; i < 12; ++i) {
    records.push_back(rec(static_cast<std::uint64_t>(i + 1), kNow - minutes{i}, "root", "w",
                          i % 2 == 0 ? "restarted" : "exited", "exit " + std::to_string(i)));
  }
  const RestartStats s = compute_restart_stats(records, "root/w", kNow, minutes{10});
  // i = 0..9 are in (i = 10 is exactly 10 minutes old): restarts at 0,2,4,6,8.
  CHECK(s.restarts_in_window == 5);
  CHECK(s.exits_in_window == 5);
  CHECK(s.restarts_per_minute == doctest::Approx(0.5));
  const RestartStats hour = compute_restart_stats(records, "root/w", kNow, hours{1});
  CHECK(hour.restarts_in_window == 6);
  CHECK(hour.restarts_per_minute == doctest::Approx(0.1));
}

TEST_CASE("compute_restart_stats: last exit is the newest by seq, at any time") {
  const std::vector<json> records = {
      rec(10, kNow - hours{3}, "root", "w", "exited", "exit status 3"),
      rec(11, kNow - hours{2}, "root", "w", "exited", "killed by SIGTERM"),
      rec(12, kNow - hours{1}, "root", "w", "started"),
      rec(9, kNow - hours{4}, "root", "w", "exited", "older, listed last"),
      json("not an object"),
      // A signed seq (as built in memory, not parsed) and a non-string ts.
      json{{"seq", 13}, {"ts", 5}, {"sup", "root"}, {"child", "w"}, {"event", "exited"}},
  };
  const RestartStats s = compute_restart_stats(records, "root/w", kNow, minutes{1});
  CHECK(s.exits_in_window == 0);
  // seq 13 has a non-string ts and no reason: it is still the newest exit.
  CHECK(s.last_exit_reason.empty());
  CHECK(s.last_exit_ts.empty());

  std::vector<json> clean(records.begin(), records.begin() + 4);
  const RestartStats t = compute_restart_stats(clean, "root/w", kNow, minutes{1});
  CHECK(t.last_exit_reason == "killed by SIGTERM");
  CHECK(t.last_exit_ts == format_record_timestamp(kNow - hours{2}));
  CHECK(t.last_event_ts == format_record_timestamp(kNow - hours{1}));

  const json j = to_json(t);
  CHECK(j["path"] == "root/w");
  CHECK(j["restarts_in_window"] == 0);
  CHECK(j["exits_in_window"] == 0);
  CHECK(j["restarts_per_minute"] == 0.0);
  CHECK(j["last_exit_reason"] == "killed by SIGTERM");
  CHECK(j["last_exit_ts"] == t.last_exit_ts);
  CHECK(j["last_event_ts"] == t.last_event_ts);
  CHECK(to_json(compute_restart_stats({}, "root/w", kNow, minutes{1}))["last_exit_ts"].is_null());
}
