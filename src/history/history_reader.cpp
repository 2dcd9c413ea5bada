#include "otpsup/history_reader.h"

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <filesystem>
#include <utility>

#include "history_io.h"
#include "otpsup/history_format.h"

namespace otpsup {

using history_internal::decode_line;
using history_internal::ForwardLineReader;
using history_internal::Line;
using history_internal::ReverseLineReader;

std::vector<std::string> history_files(const std::string& path) {
  namespace fs = std::filesystem;
  std::error_code ec;
  std::string dir;
  std::string base;
  if (fs::is_directory(path, ec)) {
    dir = path;
    base = std::string(kHistoryFileName);
  } else {
    const fs::path p(path);
    dir = p.parent_path().string();
    base = p.filename().string();
  }
  const std::string prefix = dir.empty() ? "" : (dir.back() == '/' ? dir : dir + "/");
  const std::string rotated_stem = base + ".";

  std::vector<std::pair<std::uint64_t, std::string>> rotated;
  for (fs::directory_iterator it(dir.empty() ? "." : dir, ec), end; !ec && it != end;
       it.increment(ec)) {
    const std::string name = it->path().filename().string();
    if (!name.starts_with(rotated_stem)) continue;
    const std::string_view digits = std::string_view(name).substr(rotated_stem.size());
    if (digits.empty() || digits.front() == '0') continue;
    std::uint64_t k = 0;
    const auto [ptr, err] = std::from_chars(digits.data(), digits.data() + digits.size(), k);
    if (err != std::errc() || ptr != digits.data() + digits.size()) continue;
    rotated.emplace_back(k, prefix + name);
  }
  std::sort(rotated.begin(), rotated.end(),
            [](const auto& a, const auto& b) { return a.first > b.first; });

  std::vector<std::string> files;
  files.reserve(rotated.size() + 1);
  for (auto& r : rotated) files.push_back(std::move(r.second));
  const std::string current = prefix + base;
  if (fs::exists(current, ec)) files.push_back(current);
  return files;
}

namespace {

void report(const std::function<void(const HistoryProblem&)>& on_problem, HistoryProblem problem) {
  if (on_problem) on_problem(problem);
}

std::string seq_order_reason(std::uint64_t seq, std::uint64_t other, bool forward) {
  return forward ? "seq " + std::to_string(seq) + " is not greater than the previous seq " +
                       std::to_string(other)
                 : "seq " + std::to_string(seq) + " is not less than the next seq " +
                       std::to_string(other);
}

}  // namespace

Status read_history(const std::vector<std::string>& files,
                    const std::function<bool(const HistoryRecord&)>& on_record,
                    const std::function<void(const HistoryProblem&)>& on_problem) {
  bool have_prev = false;
  std::uint64_t prev_seq = 0;
  for (std::size_t i = 0; i < files.size(); ++i) {
    const std::string& path = files[i];
    const bool newest = i + 1 == files.size();
    UniqueFd fd;
    int err = 0;
    Status st = history_internal::open_for_reading(path, &fd, &err);
    if (!st.ok()) {
      if (err == ENOENT) continue;  // rotated away since it was listed
      return st;
    }
    ForwardLineReader reader(fd.get(), path);
    // Bad lines are held back until a valid record follows them (corruption)
    // or the file ends (a torn tail, if this is the newest file).
    std::vector<HistoryProblem> pending;
    auto flush = [&](bool torn) {
      for (HistoryProblem& p : pending) {
        p.torn = torn;
        report(on_problem, std::move(p));
      }
      pending.clear();
    };
    Line line;
    HistoryRecord record;
    std::uint64_t line_no = 0;
    while (reader.next(&line)) {
      ++line_no;
      std::string reason;
      if (!decode_line(line, &record, &reason)) {
        pending.push_back({path, line_no, line.offset, std::move(reason), false});
        continue;
      }
      flush(false);
      if (have_prev && record.seq <= prev_seq) {
        report(on_problem,
               {path, line_no, line.offset, seq_order_reason(record.seq, prev_seq, true), false});
        continue;
      }
      have_prev = true;
      prev_seq = record.seq;
      if (!on_record(record)) return Status::ok_status();
    }
    if (!reader.status().ok()) return reader.status();
    flush(newest);
  }
  return Status::ok_status();
}

Status read_history_tail(const std::vector<std::string>& files, std::size_t n,
                         const std::function<bool(const HistoryRecord&)>& filter,
                         std::vector<HistoryRecord>* out,
                         const std::function<void(const HistoryProblem&)>& on_problem) {
  out->clear();
  if (n == 0) return Status::ok_status();
  bool have_next = false;
  std::uint64_t next_seq = 0;  // seq of the valid record after the current position
  for (std::size_t i = files.size(); i-- > 0 && out->size() < n;) {
    const std::string& path = files[i];
    UniqueFd fd;
    int err = 0;
    Status st = history_internal::open_for_reading(path, &fd, &err);
    if (!st.ok()) {
      if (err == ENOENT) continue;
      return st;
    }
    std::uint64_t size = 0;
    st = history_internal::file_size(fd.get(), path, &size);
    if (!st.ok()) return st;
    ReverseLineReader reader(fd.get(), path, size);
    bool in_torn_tail = i + 1 == files.size();  // until the newest file's last valid record
    Line line;
    HistoryRecord record;
    while (out->size() < n && reader.prev(&line)) {
      std::string reason;
      if (!decode_line(line, &record, &reason)) {
        report(on_problem, {path, 0, line.offset, std::move(reason), in_torn_tail});
        continue;
      }
      in_torn_tail = false;
      if (have_next && record.seq >= next_seq) {
        report(on_problem,
               {path, 0, line.offset, seq_order_reason(record.seq, next_seq, false), false});
        continue;
      }
      have_next = true;
      next_seq = record.seq;
      if (!filter || filter(record)) out->push_back(std::move(record));
    }
    if (!reader.status().ok()) return reader.status();
  }
  std::reverse(out->begin(), out->end());
  return Status::ok_status();
}

}  // namespace otpsup
