// The restart history log: writer, readers and the on-disk format.
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <doctest/doctest.h>

#include <cctype>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <sstream>
#include <string>
#include <vector>

#include "otpsup/crc32c.h"
#include "otpsup/history_format.h"
#include "otpsup/history_reader.h"
#include "otpsup/history_writer.h"

namespace fs = std::filesystem;
using namespace otpsup;

namespace {

// A scratch directory for one test, removed with everything in it.
class TempDir {
 public:
  TempDir() {
    std::string tmpl = (fs::temp_directory_path() / "otpsup-history-XXXXXX").string();
    REQUIRE(::mkdtemp(tmpl.data()) != nullptr);
    path_ = tmpl;
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }
  std::string operator/(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

HistoryOptions options_in(const std::string& dir, HistorySync sync = HistorySync::batch) {
  HistoryOptions o;
  o.dir = dir;
  o.sync = sync;
  return o;
}

std::unique_ptr<HistoryWriter> open_log(const HistoryOptions& o,
                                        std::vector<std::string>* repairs = nullptr) {
  std::string error;
  auto w = HistoryWriter::open(o, &error, repairs);
  INFO("open error: " << error);
  REQUIRE(w != nullptr);
  return w;
}

nlohmann::ordered_json event(const std::string& child, const std::string& what) {
  nlohmann::ordered_json j;
  j["sup"] = "root";
  j["child"] = child;
  j["event"] = what;
  return j;
}

void append_ok(HistoryWriter& w, const nlohmann::ordered_json& fields,
               std::string* line = nullptr) {
  const Status st = w.append(fields, line);
  INFO(st.message());
  REQUIRE(st.ok());
}

void append_events(HistoryWriter& w, int count) {
  for (int i = 0; i < count; ++i) {
    std::string child = "c";  // not "c" + to_string(): GCC 12 -O3 warns falsely (-Wrestrict)
    child += std::to_string(i % 3);
    append_ok(w, event(child, "restarted"));
  }
}

struct Log {
  std::vector<HistoryRecord> records;
  std::vector<HistoryProblem> problems;
  std::vector<std::uint64_t> seqs() const {
    std::vector<std::uint64_t> s;
    for (const auto& r : records) s.push_back(r.seq);
    return s;
  }
};

Log read_all(const std::string& path) {
  Log log;
  const Status st = read_history(
      history_files(path),
      [&](const HistoryRecord& r) {
        log.records.push_back(r);
        return true;
      },
      [&](const HistoryProblem& p) { log.problems.push_back(p); });
  INFO(st.message());
  REQUIRE(st.ok());
  return log;
}

Log read_tail(const std::string& path, std::size_t n,
              const std::function<bool(const HistoryRecord&)>& filter = nullptr) {
  Log log;
  const Status st = read_history_tail(history_files(path), n, filter, &log.records,
                                      [&](const HistoryProblem& p) { log.problems.push_back(p); });
  INFO(st.message());
  REQUIRE(st.ok());
  return log;
}

std::vector<std::uint64_t> range(std::uint64_t first, std::uint64_t last) {
  std::vector<std::uint64_t> v;
  for (std::uint64_t s = first; s <= last; ++s) v.push_back(s);
  return v;
}

std::string slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

void overwrite(const std::string& path, const std::string& contents) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << contents;
  REQUIRE(out.good());
}

void append_raw(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::app);
  out << bytes;
  REQUIRE(out.good());
}

std::vector<std::string> split_lines(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

std::string join_lines(const std::vector<std::string>& lines) {
  std::string out;
  for (const auto& l : lines) out += l + "\n";
  return out;
}

// Changes one byte inside the "event" value of `line`, keeping the CRC.
std::string damage(std::string line) {
  const auto at = line.find("\"event\":\"");
  REQUIRE(at != std::string::npos);
  line[at + 9] = line[at + 9] == 'X' ? 'Y' : 'X';
  return line;
}

std::vector<std::string> member_names(const std::string& line) {
  std::vector<std::string> names;
  const auto json = nlohmann::ordered_json::parse(line);
  for (const auto& item : json.items()) names.push_back(item.key());
  return names;
}

// Shape checks (std::regex trips GCC 12's -Wmaybe-uninitialized at -O2).
bool is_lower_hex(const std::string& s, std::size_t n) {
  return s.size() == n && s.find_first_not_of("0123456789abcdef") == std::string::npos;
}

// "YYYY-MM-DDTHH:MM:SS.uuuuuuZ"
bool is_record_timestamp(const std::string& s) {
  const std::string shape = "dddd-dd-ddTdd:dd:dd.ddddddZ";
  if (s.size() != shape.size()) return false;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (shape[i] == 'd' ? !std::isdigit(static_cast<unsigned char>(s[i])) : s[i] != shape[i]) {
      return false;
    }
  }
  return true;
}

bool contains(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
}

}  // namespace

TEST_CASE("AppendsSealedRecords") {
  TempDir tmp;
  auto w = open_log(options_in(tmp.path()));
  CHECK(w->last_seq() == 0);
  CHECK(w->current_path() == tmp / "history.log");
  CHECK(is_lower_hex(w->boot_id(), kBootIdHexChars));

  std::vector<std::string> lines(3);
  nlohmann::ordered_json restarted = event("counter1", "restarted");
  restarted["old_pid"] = 1201;
  restarted["new_pid"] = 1250;
  restarted["reason"] = "killed by SIGKILL";
  append_ok(*w, restarted, &lines[0]);
  append_ok(*w, event("counter1", "ready"), &lines[1]);
  append_ok(*w, event("printer", "started"), &lines[2]);
  REQUIRE(w->sync().ok());
  CHECK(w->last_seq() == 3);

  CHECK(slurp(tmp / "history.log") == join_lines(lines));
  CHECK(member_names(lines[0]) == std::vector<std::string>{"seq", "ts", "boot", "sup", "child",
                                                           "event", "old_pid", "new_pid", "reason",
                                                           "crc"});
  for (std::size_t i = 0; i < lines.size(); ++i) {
    const std::string& line = lines[i];
    std::string reason;
    CHECK_MESSAGE(verify_record_line(line, &reason), reason);
    // The CRC covers '{' up to, not including, the ',' before "crc".
    const std::size_t comma = line.rfind(",\"crc\":\"");
    REQUIRE(comma == line.size() - kSealBytes);
    CHECK(line.substr(comma + 8, 8) == crc_to_hex(crc32c(line.substr(0, comma))));
    const auto j = nlohmann::json::parse(line);
    CHECK(j["seq"] == i + 1);
    CHECK(j["boot"] == w->boot_id());
    CHECK(is_record_timestamp(j["ts"].get<std::string>()));
  }

  const Log log = read_all(tmp.path());
  CHECK(log.seqs() == range(1, 3));
  CHECK(log.problems.empty());
  CHECK(log.records[0].line == lines[0]);
  CHECK(log.records[0].json["reason"] == "killed by SIGKILL");
}

TEST_CASE("AppendRejectsBadFieldsWithoutPoisoning") {
  TempDir tmp;
  auto w = open_log(options_in(tmp.path()));
  CHECK_FALSE(w->append(nlohmann::ordered_json::array({1, 2})).ok());
  nlohmann::ordered_json reserved = event("a", "started");
  reserved["seq"] = 7;
  CHECK_FALSE(w->append(reserved).ok());
  nlohmann::ordered_json huge = event("a", "started");
  huge["reason"] = std::string(kMaxRecordBytes, 'x');
  CHECK_FALSE(w->append(huge).ok());
  CHECK(w->poison().ok());

  // Control characters and invalid UTF-8 still give one readable line.
  nlohmann::ordered_json odd = event("a", "exited");
  odd["reason"] = std::string("line1\nline2 \xff\xfe end");
  append_ok(*w, odd);
  const Log log = read_all(tmp.path());
  REQUIRE(log.seqs() == range(1, 1));
  CHECK(log.problems.empty());
  CHECK(contains(log.records[0].json["reason"].get<std::string>(), "line1\nline2 "));
}

TEST_CASE("SeqContinuesAcrossReopen") {
  TempDir tmp;
  std::string first_boot;
  {
    auto w = open_log(options_in(tmp.path()));
    append_events(*w, 2);
    first_boot = w->boot_id();
  }
  auto w = open_log(options_in(tmp.path()));
  CHECK(w->last_seq() == 2);
  CHECK(w->boot_id() != first_boot);
  std::string line;
  append_ok(*w, event("a", "daemon_started"), &line);
  CHECK(nlohmann::json::parse(line)["seq"] == 3);

  const Log log = read_all(tmp.path());
  CHECK(log.seqs() == range(1, 3));
  CHECK(log.records[0].json["boot"] == first_boot);
  CHECK(log.records[2].json["boot"] == w->boot_id());
}

TEST_CASE("OpenCreatesMissingDirectoriesPrivate") {
  TempDir tmp;
  const std::string dir = tmp / "state/otpsup";
  auto w = open_log(options_in(dir));
  append_events(*w, 1);
  struct stat st {};
  REQUIRE(::stat(dir.c_str(), &st) == 0);
  CHECK((st.st_mode & 0777) == 0700);
  REQUIRE(::stat((dir + "/history.log").c_str(), &st) == 0);
  CHECK((st.st_mode & 0777) == 0600);
}

TEST_CASE("TornTailIsCutAndReported") {
  TempDir tmp;
  const std::string path = tmp / "history.log";
  std::vector<std::string> lines(3);
  {
    auto w = open_log(options_in(tmp.path()));
    for (auto& l : lines) append_ok(*w, event("a", "restarted"), &l);
  }
  const std::string good = join_lines(lines);
  std::string kept;          // what must survive the repair
  std::uint64_t cut_at = 0;  // offset of the torn tail
  std::uint64_t torn_line = 0;

  SUBCASE("last line without newline") {
    append_raw(path, R"({"seq":4,"ts":"2026-11-26T12:0)");
    kept = good;
    cut_at = good.size();
    torn_line = 4;
  }
  SUBCASE("complete record without its newline") {
    append_raw(path, seal_record(R"({"seq":4,"ts":"x","boot":"y","event":"started")"));
    kept = good;
    cut_at = good.size();
    torn_line = 4;
  }
  SUBCASE("last line with bad CRC") {
    overwrite(path, join_lines({lines[0], lines[1], damage(lines[2])}));
    kept = join_lines({lines[0], lines[1]});
    cut_at = kept.size();
    torn_line = 3;
  }

  // Readers (which never modify the log) report it as torn.
  Log before = read_all(tmp.path());
  CHECK(before.seqs() == range(1, torn_line - 1));
  REQUIRE(before.problems.size() == 1);
  CHECK(before.problems[0].torn);
  CHECK(before.problems[0].line_no == torn_line);
  CHECK(before.problems[0].offset == cut_at);
  CHECK(before.problems[0].file == path);
  Log tail = read_tail(tmp.path(), 10);
  CHECK(tail.seqs() == range(1, torn_line - 1));
  REQUIRE(tail.problems.size() == 1);
  CHECK(tail.problems[0].torn);

  // The writer cuts it and says so.
  std::vector<std::string> repairs;
  auto w = open_log(options_in(tmp.path()), &repairs);
  REQUIRE(repairs.size() == 1);
  CHECK(contains(repairs[0], path + ": torn tail of "));
  CHECK(contains(repairs[0], "cut at offset " + std::to_string(cut_at)));
  CHECK(slurp(path) == kept);
  CHECK(w->last_seq() == torn_line - 1);
  append_ok(*w, event("a", "started"));

  Log after = read_all(tmp.path());
  CHECK(after.seqs() == range(1, torn_line));
  CHECK(after.problems.empty());
}

TEST_CASE("OpenRefusesToCutAFileWithNoValidRecord") {
  TempDir tmp;
  const std::string path = tmp / "history.log";
  const std::string foreign = "this is not\na history log\n";
  overwrite(path, foreign);
  std::string error;
  std::vector<std::string> repairs;
  CHECK(HistoryWriter::open(options_in(tmp.path()), &error, &repairs) == nullptr);
  CHECK(contains(error, "no valid record"));
  CHECK(repairs.empty());
  CHECK(slurp(path) == foreign);
}

TEST_CASE("CorruptionInTheMiddleIsReportedAndSkipped") {
  TempDir tmp;
  const std::string path = tmp / "history.log";
  std::vector<std::string> lines(5);
  {
    auto w = open_log(options_in(tmp.path()));
    for (auto& l : lines) append_ok(*w, event("a", "restarted"), &l);
  }
  lines[2] = damage(lines[2]);
  const std::string corrupted = join_lines(lines);
  overwrite(path, corrupted);
  const std::uint64_t bad_offset = lines[0].size() + lines[1].size() + 2;

  Log log = read_all(tmp.path());
  CHECK(log.seqs() == std::vector<std::uint64_t>{1, 2, 4, 5});
  REQUIRE(log.problems.size() == 1);
  CHECK_FALSE(log.problems[0].torn);
  CHECK(log.problems[0].line_no == 3);
  CHECK(log.problems[0].offset == bad_offset);
  CHECK(contains(log.problems[0].reason, "crc mismatch"));

  // Reopening cuts nothing: the good records after the bad one stay.
  std::vector<std::string> repairs;
  auto w = open_log(options_in(tmp.path()), &repairs);
  CHECK(repairs.empty());
  CHECK(slurp(path) == corrupted);
  CHECK(w->last_seq() == 5);
  append_ok(*w, event("a", "started"));
  REQUIRE(w->sync().ok());

  log = read_all(tmp.path());
  CHECK(log.seqs() == std::vector<std::uint64_t>{1, 2, 4, 5, 6});
  CHECK(log.problems.size() == 1);
  const Log tail = read_tail(tmp.path(), 100);
  CHECK(tail.seqs() == std::vector<std::uint64_t>{1, 2, 4, 5, 6});
  REQUIRE(tail.problems.size() == 1);
  CHECK_FALSE(tail.problems[0].torn);
  CHECK(tail.problems[0].offset == bad_offset);
}

TEST_CASE("SealedLinesThatAreNotRecordsAreReportedAndSkipped") {
  TempDir tmp;
  const std::string path = tmp / "history.log";
  {
    auto w = open_log(options_in(tmp.path()));
    append_events(*w, 3);
  }
  std::vector<std::string> lines = split_lines(slurp(path));
  lines.insert(lines.begin() + 1, seal_record("{\"seq\":\"two\",\"event\":\"x\""));  // no uint seq
  lines.insert(lines.begin() + 2, seal_record("{not json"));
  lines.insert(lines.begin() + 4, seal_record("{\"seq\":1,\"event\":\"replayed\""));  // goes back
  lines.insert(lines.begin() + 5, "");
  overwrite(path, join_lines(lines));

  const Log log = read_all(tmp.path());
  CHECK(log.seqs() == range(1, 3));
  REQUIRE(log.problems.size() == 4);
  CHECK(contains(log.problems[0].reason, "seq"));
  CHECK(contains(log.problems[1].reason, "invalid JSON"));
  CHECK(contains(log.problems[2].reason, "not greater"));
  CHECK(log.problems[3].line_no == 6);
  for (const auto& p : log.problems) CHECK_FALSE(p.torn);
}

TEST_CASE("RotationKeepsNFilesAndSeqIncreases") {
  TempDir tmp;
  HistoryOptions o = options_in(tmp.path());
  o.max_size = 400;
  o.keep = 2;
  {
    auto w = open_log(o);
    append_events(*w, 30);
    REQUIRE(w->sync().ok());
  }
  const std::string base = tmp / "history.log";
  CHECK(history_files(tmp.path()) == std::vector<std::string>{base + ".2", base + ".1", base});
  CHECK(history_files(base) == history_files(tmp.path()));
  CHECK_FALSE(fs::exists(base + ".3"));
  for (const auto& f : history_files(tmp.path())) CHECK(fs::file_size(f) <= o.max_size);

  Log log = read_all(tmp.path());
  CHECK(log.problems.empty());
  REQUIRE(log.records.size() > 3);
  CHECK(log.records.back().seq == 30);
  CHECK(log.records.front().seq > 1);  // the oldest files were deleted
  CHECK(log.seqs() == range(log.records.front().seq, 30));

  SUBCASE("an empty current file continues from the newest rotated one") {
    const std::uint64_t newest_rotated =
        nlohmann::json::parse(split_lines(slurp(base + ".1")).back())["seq"];
    overwrite(base, "");
    auto w = open_log(o);
    CHECK(w->last_seq() == newest_rotated);
    append_events(*w, 1);
    CHECK(read_all(tmp.path()).problems.empty());
  }
  SUBCASE("a smaller keep deletes the files past it") {
    o.keep = 1;
    auto w = open_log(o);
    append_events(*w, 5);
    CHECK(history_files(tmp.path()) == std::vector<std::string>{base + ".1", base});
    log = read_all(tmp.path());
    CHECK(log.problems.empty());
    CHECK(log.records.back().seq == 35);
  }
  SUBCASE("keep = 0 keeps only the current file") {
    o.keep = 0;
    auto w = open_log(o);
    append_events(*w, 5);
    CHECK(history_files(tmp.path()) == std::vector<std::string>{base});
    CHECK(read_all(tmp.path()).records.back().seq == 35);
  }
}

TEST_CASE("TailReadsLastNAcrossRotatedFiles") {
  TempDir tmp;
  HistoryOptions o = options_in(tmp.path(), HistorySync::never);
  o.max_size = 500;
  o.keep = 50;
  {
    auto w = open_log(o);
    append_events(*w, 60);
  }
  REQUIRE(history_files(tmp.path()).size() > 5);

  CHECK(read_tail(tmp.path(), 20).seqs() == range(41, 60));
  CHECK(read_tail(tmp.path(), 1).seqs() == range(60, 60));
  CHECK(read_tail(tmp.path(), 0).records.empty());
  Log all = read_tail(tmp.path(), 1000);
  CHECK(all.seqs() == range(1, 60));
  CHECK(all.problems.empty());
  CHECK(all.records[59].line == read_all(tmp.path()).records[59].line);

  // Damage the very first record: a short tail never reads that far back.
  const std::string oldest = history_files(tmp.path()).front();
  std::vector<std::string> lines = split_lines(slurp(oldest));
  lines[0] = damage(lines[0]);
  overwrite(oldest, join_lines(lines));
  Log recent = read_tail(tmp.path(), 5);
  CHECK(recent.seqs() == range(56, 60));
  CHECK(recent.problems.empty());
  all = read_tail(tmp.path(), 1000);
  CHECK(all.seqs() == range(2, 60));
  REQUIRE(all.problems.size() == 1);
  CHECK(all.problems[0].file == oldest);
  CHECK(all.problems[0].offset == 0);
  CHECK(all.problems[0].line_no == 0);  // unknown when reading backwards
  CHECK_FALSE(all.problems[0].torn);
}

TEST_CASE("TailWithFilter") {
  TempDir tmp;
  HistoryOptions o = options_in(tmp.path());
  o.max_size = 700;
  o.keep = 20;
  {
    auto w = open_log(o);
    append_events(*w, 30);  // children c0, c1, c2, c0, ... for seq 1, 2, 3, 4, ...
  }
  auto only_c1 = [](const HistoryRecord& r) { return r.json["child"] == "c1"; };
  const Log tail = read_tail(tmp / "history.log", 4, only_c1);
  CHECK(tail.seqs() == std::vector<std::uint64_t>{20, 23, 26, 29});
  CHECK(read_tail(tmp.path(), 100, only_c1).records.size() == 10);
  CHECK(read_tail(tmp.path(), 3, [](const HistoryRecord&) { return false; }).records.empty());
}

TEST_CASE("ReadHistoryStopsWhenTheCallbackSaysSo") {
  TempDir tmp;
  {
    auto w = open_log(options_in(tmp.path()));
    append_events(*w, 10);
  }
  std::vector<std::uint64_t> seen;
  const Status st = read_history(
      history_files(tmp.path()),
      [&](const HistoryRecord& r) {
        seen.push_back(r.seq);
        return r.seq < 4;
      },
      nullptr);
  CHECK(st.ok());
  CHECK(seen == range(1, 4));
  CHECK(history_files(tmp / "missing").empty());
  CHECK(read_history(
            {tmp / "gone.log"}, [](const HistoryRecord&) { return true; }, nullptr)
            .ok());
}

TEST_CASE("PoisonedWriterFailsEveryAppend") {
  TempDir tmp;
  SUBCASE("writes to a full device") {
    REQUIRE(::symlink("/dev/full", (tmp / "history.log").c_str()) == 0);
    auto w = open_log(options_in(tmp.path()));
    const Status first = w->append(event("a", "started"));
    REQUIRE_FALSE(first.ok());
    INFO(first.message());
    CHECK(contains(first.message(), "history: cannot append: " + (tmp / "history.log") +
                                        ": No space left on device"));
    CHECK_FALSE(w->poison().ok());
    for (int i = 0; i < 3; ++i) {
      const Status again = w->append(event("a", "started"));
      CHECK_FALSE(again.ok());
      CHECK(contains(again.message(), "failed earlier"));
    }
    CHECK_FALSE(w->sync().ok());
    // Readers refuse a device instead of reading its endless zeros.
    CHECK_FALSE(read_history(
                    history_files(tmp.path()), [](const HistoryRecord&) { return true; }, nullptr)
                    .ok());
  }
  SUBCASE("a short write poisons even after the cause is gone, and reopening repairs") {
    HistoryOptions o = options_in(tmp.path(), HistorySync::always);
    auto w = open_log(o);
    append_events(*w, 2);
    const auto size = fs::file_size(tmp / "history.log");

    // Let the next write stop 10 bytes in (RLIMIT_FSIZE), then lift the limit.
    rlimit saved{};
    REQUIRE(::getrlimit(RLIMIT_FSIZE, &saved) == 0);
    if (saved.rlim_max != RLIM_INFINITY && saved.rlim_max < size + 10) return;
    rlimit tight = saved;
    tight.rlim_cur = size + 10;
    struct sigaction ignore {};
    struct sigaction old_action {};
    ignore.sa_handler = SIG_IGN;
    REQUIRE(::sigaction(SIGXFSZ, &ignore, &old_action) == 0);
    REQUIRE(::setrlimit(RLIMIT_FSIZE, &tight) == 0);
    const Status first = w->append(event("a", "exited"));
    REQUIRE(::setrlimit(RLIMIT_FSIZE, &saved) == 0);
    REQUIRE(::sigaction(SIGXFSZ, &old_action, nullptr) == 0);

    CHECK_FALSE(first.ok());
    CHECK(contains(first.message(), "short write"));
    CHECK(fs::file_size(tmp / "history.log") == size + 10);
    CHECK_FALSE(w->append(event("a", "started")).ok());
    CHECK_FALSE(w->append(event("a", "started")).ok());
    CHECK_FALSE(w->sync().ok());
    CHECK(fs::file_size(tmp / "history.log") == size + 10);  // nothing more was written
    w.reset();

    std::vector<std::string> repairs;
    w = open_log(o, &repairs);
    REQUIRE(repairs.size() == 1);
    CHECK(contains(repairs[0], "torn tail of 10 bytes cut at offset " + std::to_string(size)));
    CHECK(w->last_seq() == 2);
    append_events(*w, 1);
    const Log log = read_all(tmp.path());
    CHECK(log.seqs() == range(1, 3));
    CHECK(log.problems.empty());
  }
}

TEST_CASE("SyncModes") {
  for (HistorySync mode : {HistorySync::always, HistorySync::batch, HistorySync::never}) {
    CAPTURE(static_cast<int>(mode));
    TempDir tmp;
    HistoryOptions o = options_in(tmp.path(), mode);
    o.max_size = 300;  // rotate too: the directory fsync path runs
    {
      auto w = open_log(o);
      append_ok(*w, event("a", "started"));
      CHECK(w->dirty() == (mode == HistorySync::batch));
      append_events(*w, 9);
      REQUIRE(w->sync().ok());
      CHECK_FALSE(w->dirty());
      REQUIRE(w->sync().ok());  // nothing to do
      append_events(*w, 1);     // left for the destructor under batch
    }
    const Log log = read_all(tmp.path());
    CHECK(log.problems.empty());
    CHECK(log.records.back().seq == 11);
    CHECK(history_files(tmp.path()).size() > 1);
  }
}

TEST_CASE("RecordFormatHelpers") {
  const std::string line = seal_record(R"({"seq":1,"event":"started")");
  CHECK(line.size() == std::string(R"({"seq":1,"event":"started")").size() + kSealBytes);
  CHECK(verify_record_line(line, nullptr));
  std::string reason;
  CHECK_FALSE(verify_record_line("", &reason));
  CHECK_FALSE(verify_record_line(line.substr(0, line.size() - 1), &reason));
  std::string upper = line;
  for (std::size_t i = upper.size() - 10; i < upper.size() - 2; ++i) {
    upper[i] = static_cast<char>(std::toupper(static_cast<unsigned char>(upper[i])));
  }
  if (upper != line) CHECK_FALSE(verify_record_line(upper, &reason));
  CHECK(verify_record_line(R"({"seq":1,"crc":"x","event":"a","crc":")" +
                               crc_to_hex(crc32c(R"({"seq":1,"crc":"x","event":"a")")) + "\"}",
                           nullptr));

  using namespace std::chrono;
  const system_clock::time_point t =
      system_clock::time_point(seconds(1795694401)) + microseconds(234567);
  CHECK(format_record_timestamp(t) == "2026-11-26T12:00:01.234567Z");
  CHECK(format_record_timestamp(system_clock::time_point(seconds(0))) ==
        "1970-01-01T00:00:00.000000Z");
}
