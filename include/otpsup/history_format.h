// The on-disk format of the restart history log (DESIGN.md §3).
//
// A log is a directory holding the current file (default "history.log") and
// up to `keep` rotated files "history.log.1" (newest) ... "history.log.K"
// (oldest). Each file is a sequence of records, one per line:
//
//   {"seq":42,"ts":"2026-11-26T12:00:01.234567Z","boot":"7f3a09c1d2e4b5a6",
//    "sup":"root/demo","child":"counter1","event":"restarted",...,"crc":"8a1f02c3"}\n
//
// (shown wrapped; a record is a single line). A record is a JSON object whose
// members are, in this order:
//   seq   unsigned integer, strictly increasing across the whole log: across
//         files, rotations and daemon restarts. The first record is 1.
//   ts    UTC time, RFC 3339 with exactly 6 fractional digits and a 'Z'.
//   boot  kBootIdHexChars lower-case hex digits naming the daemon instance.
//   ...   the event's own members, in the order the caller gave them
//         (sup, child, event, old_pid, new_pid, reason, ...).
//   crc   the LAST member: CRC-32C (crc32c.h) as kCrcHexDigits lower-case hex
//         digits.
//
// WHICH BYTES THE CRC COVERS: the bytes of the line from its opening '{' up
// to, NOT including, the ',' that starts the crc member. Equivalently, a line
// L of n bytes (without its '\n') is
//   L[0, n - kSealBytes)          the covered "body": '{' seq ... last member
//   L[n - kSealBytes, n)          the seal: ,"crc":"xxxxxxxx"}
// so the seal has a fixed size and is found from the end of the line without
// parsing JSON. The JSON text contains no raw newline (strings escape it).
//
// A line is a valid record when verify_record_line() accepts it, it parses as
// a JSON object, and its "seq" is an unsigned integer. Torn vs corrupt, as the
// writer and readers apply it: an unterminated last line, or bad lines after
// the last valid record of the current file, are a torn tail (cut by the
// writer on open); a bad line with a valid record after it is corruption
// (reported and skipped by readers, never cut).
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace otpsup {

inline constexpr std::string_view kHistoryFileName = "history.log";
inline constexpr char kRecordTerminator = '\n';

// Member names the writer emits itself; callers' fields may not use them.
inline constexpr std::string_view kSeqMember = "seq";
inline constexpr std::string_view kTsMember = "ts";
inline constexpr std::string_view kBootMember = "boot";
inline constexpr std::string_view kCrcMember = "crc";

inline constexpr std::size_t kBootIdHexChars = 16;
inline constexpr std::size_t kCrcHexDigits = 8;
// The seal is kSealPrefix, kCrcHexDigits hex digits, kSealSuffix.
inline constexpr std::string_view kSealPrefix = ",\"crc\":\"";
inline constexpr std::string_view kSealSuffix = "\"}";
inline constexpr std::size_t kSealBytes = kSealPrefix.size() + kCrcHexDigits + kSealSuffix.size();

// Longest line (without '\n') the writer produces and readers accept.
inline constexpr std::size_t kMaxRecordBytes = std::size_t{1} << 20;

// The crc as it appears in the seal: 8 lower-case hex digits.
std::string crc_to_hex(std::uint32_t crc);

// Seals a record body. `body_without_closing_brace` is the JSON object text
// from '{' through the last member, without the closing '}' (e.g.
// {"seq":1,"ts":"..","boot":"..","event":"started"). Returns the full line,
// without '\n': body + ,"crc":"xxxxxxxx"} with the CRC-32C of the body.
// REQUIRES: the body starts with '{' and contains no '\n'.
std::string seal_record(std::string_view body_without_closing_brace);

// Checks the framing and CRC of one line (`line` without its '\n'): it starts
// with '{', ends with a well-formed seal, and the stored CRC equals the CRC of
// the body. Does NOT parse the JSON. On failure returns false and, if `reason`
// is non-null, stores a one-line explanation ("crc mismatch: stored ...").
bool verify_record_line(std::string_view line, std::string* reason);

// `t` as a record's "ts": UTC, RFC 3339, microseconds, e.g.
// "2026-11-26T12:00:01.234567Z" (truncated, not rounded, to microseconds).
std::string format_record_timestamp(std::chrono::system_clock::time_point t);

}  // namespace otpsup
