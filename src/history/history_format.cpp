#include "otpsup/history_format.h"

#include <cstdio>
#include <ctime>

#include "otpsup/crc32c.h"

namespace otpsup {

std::string crc_to_hex(std::uint32_t crc) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out(kCrcHexDigits, '0');
  for (std::size_t i = kCrcHexDigits; i-- > 0;) {
    out[i] = kHex[crc & 0xFu];
    crc >>= 4;
  }
  return out;
}

std::string seal_record(std::string_view body_without_closing_brace) {
  std::string line;
  line.reserve(body_without_closing_brace.size() + kSealBytes);
  line.append(body_without_closing_brace);
  line.append(kSealPrefix);
  line.append(crc_to_hex(crc32c(body_without_closing_brace)));
  line.append(kSealSuffix);
  return line;
}

namespace {

bool fail(std::string* reason, std::string text) {
  if (reason != nullptr) *reason = std::move(text);
  return false;
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;  // upper case is not the format
}

}  // namespace

bool verify_record_line(std::string_view line, std::string* reason) {
  // A record holds at least its opening '{' and the seal.
  if (line.size() < 1 + kSealBytes) return fail(reason, "line too short to be a record");
  if (line.front() != '{') return fail(reason, "line does not start with '{'");
  const std::size_t seal_at = line.size() - kSealBytes;
  const std::string_view seal = line.substr(seal_at);
  if (!seal.starts_with(kSealPrefix) || !seal.ends_with(kSealSuffix)) {
    return fail(reason, "no crc member at the end of the line");
  }
  std::uint32_t stored = 0;
  for (char c : seal.substr(kSealPrefix.size(), kCrcHexDigits)) {
    const int v = hex_value(c);
    if (v < 0) return fail(reason, "malformed crc (not 8 lower-case hex digits)");
    stored = (stored << 4) | static_cast<std::uint32_t>(v);
  }
  const std::uint32_t computed = crc32c(line.substr(0, seal_at));
  if (stored != computed) {
    return fail(reason, "crc mismatch: stored " + crc_to_hex(stored) + ", computed " +
                            crc_to_hex(computed));
  }
  return true;
}

std::string format_record_timestamp(std::chrono::system_clock::time_point t) {
  using std::chrono::duration_cast;
  using std::chrono::microseconds;
  const auto us = duration_cast<microseconds>(t.time_since_epoch()).count();
  auto secs = static_cast<std::time_t>(us / 1000000);
  auto frac = static_cast<long>(us % 1000000);
  if (frac < 0) {  // before 1970: floor, so the fraction stays in [0, 1e6)
    frac += 1000000;
    --secs;
  }
  // gmtime_r and strftime cost more than all the rest (a record is written
  // at every restart): the date and time of day are made once per second.
  thread_local std::time_t cached_secs = 0;
  thread_local char cached[32] = {};
  thread_local std::size_t cached_len = 0;
  if (cached_len == 0 || secs != cached_secs) {
    std::tm tm{};
    gmtime_r(&secs, &tm);
    cached_len = std::strftime(cached, sizeof cached, "%Y-%m-%dT%H:%M:%S", &tm);
    cached_secs = secs;
  }
  char tail[8] = {'.', '0', '0', '0', '0', '0', '0', 'Z'};
  for (int i = 6; i >= 1 && frac > 0; --i, frac /= 10) tail[i] = static_cast<char>('0' + frac % 10);
  std::string out;
  out.reserve(cached_len + sizeof tail);
  out.append(cached, cached_len);
  out.append(tail, sizeof tail);
  return out;
}

}  // namespace otpsup
