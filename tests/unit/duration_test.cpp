// Durations: parse_duration / format_duration (otpsup/duration.h).
#include <doctest/doctest.h>

#include <chrono>
#include <limits>

#include "otpsup/duration.h"

using otpsup::Duration;
using otpsup::format_duration;
using otpsup::parse_duration;
using namespace std::chrono_literals;

TEST_CASE("parse_duration reads a number with a unit ms, s, m or h") {
  CHECK(parse_duration("250ms") == Duration{250});
  CHECK(parse_duration("5s") == Duration{5000});
  CHECK(parse_duration("2m") == Duration{120000});
  CHECK(parse_duration("1h") == Duration{3600000});
  CHECK(parse_duration("0s") == Duration{0});
  CHECK(parse_duration("0ms") == Duration{0});
}

TEST_CASE("parse_duration accepts a bare 0 as zero and nothing else without a unit") {
  CHECK(parse_duration("0") == Duration{0});
  CHECK_FALSE(parse_duration("5"));
  CHECK_FALSE(parse_duration("00"));
}

TEST_CASE("parse_duration accepts decimals that make whole milliseconds") {
  CHECK(parse_duration("1.5s") == Duration{1500});
  CHECK(parse_duration("0.25s") == Duration{250});
  CHECK(parse_duration("1.5m") == Duration{90000});
  CHECK(parse_duration("0.001s") == Duration{1});
  CHECK(parse_duration("1.500000000000s") == Duration{1500});
  CHECK(parse_duration("0.0000001h") == std::nullopt);  // 0.36 ms
  CHECK_FALSE(parse_duration("0.5ms"));
  CHECK_FALSE(parse_duration("1.0001s"));
}

TEST_CASE("parse_duration rejects malformed text") {
  for (const char* bad : {"", "s", "ms", "-1s", "+1s", " 5s", "5s ", "5 s", "5 parsecs", "5S",
                          "5sec", "1.s", ".5s", "1..5s", "1e3ms", "5s5", "infinity"}) {
    CAPTURE(bad);
    CHECK_FALSE(parse_duration(bad));
  }
}

TEST_CASE("parse_duration rejects values that overflow") {
  CHECK(parse_duration("9223372036854775807ms") == Duration{std::numeric_limits<long long>::max()});
  CHECK_FALSE(parse_duration("9223372036854775808ms"));
  CHECK_FALSE(parse_duration("9223372036854775807s"));
  CHECK_FALSE(parse_duration("99999999999999999999999h"));
}

TEST_CASE("format_duration prints the shortest readable form") {
  CHECK(format_duration(250ms) == "250ms");
  CHECK(format_duration(5s) == "5s");
  CHECK(format_duration(1500ms) == "1.5s");
  CHECK(format_duration(1250ms) == "1.25s");
  CHECK(format_duration(1001ms) == "1.001s");
  CHECK(format_duration(2min) == "2m");
  CHECK(format_duration(90s) == "90s");
  CHECK(format_duration(1h) == "1h");
  CHECK(format_duration(0ms) == "0s");
  CHECK(format_duration(-5s) == "-5s");
}

TEST_CASE("format_duration output parses back to the same duration") {
  for (long long ms : {0LL, 1LL, 999LL, 1000LL, 1001LL, 59999LL, 60000LL, 61500LL, 3599999LL,
                       3600000LL, 86400000LL, std::numeric_limits<long long>::max()}) {
    CAPTURE(ms);
    CHECK(parse_duration(format_duration(Duration{ms})) == Duration{ms});
  }
}
