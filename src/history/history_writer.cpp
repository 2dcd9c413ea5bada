#include "otpsup/history_writer.h"

#include "os/private_dirs.h"

#include <fcntl.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>

#include "history_io.h"
#include "otpsup/history_format.h"
#include "otpsup/history_reader.h"

namespace otpsup {

using history_internal::decode_line;
using history_internal::Line;
using history_internal::ReverseLineReader;

namespace {

Status open_for_append(const std::string& path, UniqueFd* fd) {
  for (;;) {
    const int raw = ::open(path.c_str(), O_RDWR | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
    if (raw >= 0) {
      fd->reset(raw);
      return Status::ok_status();
    }
    if (errno != EINTR) return Status::from_errno("history: cannot open", path, errno);
  }
}

Status fsync_dir(const std::string& dir) {
  UniqueFd fd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!fd) return Status::from_errno("history: cannot open directory", dir, errno);
  if (::fsync(fd.get()) != 0) return Status::from_errno("history: cannot fsync", dir, errno);
  return Status::ok_status();
}

Status random_boot_id(std::string* out) {
  unsigned char bytes[kBootIdHexChars / 2];
  std::size_t got = 0;
  while (got < sizeof bytes) {
    const ssize_t n = ::getrandom(bytes + got, sizeof bytes - got, 0);
    if (n < 0) {
      if (errno == EINTR) continue;
      return Status::from_errno("history: cannot draw a boot id", "getrandom", errno);
    }
    got += static_cast<std::size_t>(n);
  }
  static constexpr char kHex[] = "0123456789abcdef";
  out->clear();
  for (unsigned char b : bytes) {
    out->push_back(kHex[b >> 4]);
    out->push_back(kHex[b & 0xFu]);
  }
  return Status::ok_status();
}

std::string dump_json(const nlohmann::ordered_json& value) {
  return value.dump(-1, ' ', /*ensure_ascii=*/false,
                    nlohmann::ordered_json::error_handler_t::replace);
}

// The seq of the last valid record of `path` (searched from the end), if any.
Status last_seq_of(const std::string& path, bool* found, std::uint64_t* seq) {
  *found = false;
  UniqueFd fd;
  int err = 0;
  Status st = history_internal::open_for_reading(path, &fd, &err);
  if (!st.ok()) return err == ENOENT ? Status::ok_status() : st;
  std::uint64_t size = 0;
  st = history_internal::file_size(fd.get(), path, &size);
  if (!st.ok()) return st;
  ReverseLineReader reader(fd.get(), path, size);
  Line line;
  HistoryRecord record;
  std::string reason;
  while (reader.prev(&line)) {
    if (decode_line(line, &record, &reason)) {
      *found = true;
      *seq = record.seq;
      return Status::ok_status();
    }
  }
  return reader.status();
}

struct Cut {
  std::uint64_t offset;
  std::uint64_t bytes;  // including its '\n', if any
  bool terminated;
  std::string reason;
};

}  // namespace

HistoryWriter::HistoryWriter(Key, const HistoryOptions& options) : options_(options) {}

HistoryWriter::~HistoryWriter() {
  if (dirty_ && poison_.ok() && fd_) (void)::fdatasync(fd_.get());
}

std::string HistoryWriter::current_path() const {
  if (!options_.dir.empty() && options_.dir.back() == '/') return options_.dir + options_.file_name;
  return options_.dir + "/" + options_.file_name;
}

std::unique_ptr<HistoryWriter> HistoryWriter::open(const HistoryOptions& options,
                                                   std::string* error,
                                                   std::vector<std::string>* repairs) {
  auto failed = [error](const Status& st) -> std::unique_ptr<HistoryWriter> {
    if (error != nullptr) *error = st.message();
    return nullptr;
  };
  if (options.dir.empty()) return failed(Status::error("history: no log directory given"));
  if (options.file_name.empty() || options.file_name.find('/') != std::string::npos) {
    return failed(Status::error("history: bad log file name '" + options.file_name + "'"));
  }
  if (options.max_size == 0) return failed(Status::error("history: max_size must be positive"));
  if (options.keep < 0) return failed(Status::error("history: keep must not be negative"));

  auto w = std::make_unique<HistoryWriter>(Key{}, options);
  const std::string path = w->current_path();
  Status st = make_private_dirs(options.dir);
  if (st.ok()) st = open_for_append(path, &w->fd_);
  if (st.ok()) st = history_internal::file_size(w->fd_.get(), path, &w->size_);
  if (st.ok()) st = random_boot_id(&w->boot_id_);
  if (!st.ok()) return failed(st);

  // Walk back from the end to the last valid record; everything after it is
  // a torn tail.
  ReverseLineReader reader(w->fd_.get(), path, w->size_);
  std::vector<Cut> cuts;  // newest first
  bool found = false;
  std::uint64_t good_end = 0;
  Line line;
  HistoryRecord record;
  while (reader.prev(&line)) {
    std::string reason;
    if (decode_line(line, &record, &reason)) {
      found = true;
      w->last_seq_ = record.seq;
      good_end = line.offset + line.length + 1;
      break;
    }
    cuts.push_back({line.offset, line.length + (line.terminated ? 1 : 0), line.terminated, reason});
  }
  if (!reader.status().ok()) return failed(reader.status());

  if (!cuts.empty()) {
    std::size_t complete_bad = 0;
    for (const Cut& c : cuts) complete_bad += c.terminated ? 1 : 0;
    if (!found && complete_bad > 1) {
      return failed(Status::error("history: " + path + " holds no valid record in its " +
                                  std::to_string(w->size_) +
                                  " bytes; refusing to cut it (move it aside)"));
    }
    if (::ftruncate(w->fd_.get(), static_cast<off_t>(good_end)) != 0) {
      return failed(Status::from_errno("history: cannot cut the torn tail", path, errno));
    }
    if (options.sync != HistorySync::never && ::fdatasync(w->fd_.get()) != 0) {
      return failed(Status::from_errno("history: cannot fsync", path, errno));
    }
    w->size_ = good_end;
    if (repairs != nullptr) {
      for (auto c = cuts.rbegin(); c != cuts.rend(); ++c) {
        repairs->push_back(path + ": torn tail of " + std::to_string(c->bytes) +
                           " bytes cut at offset " + std::to_string(c->offset) + " (" + c->reason +
                           ")");
      }
    }
  }

  if (!found) {  // the current file is empty: continue from the newest rotated file
    std::vector<std::string> files = history_files(path);
    for (auto f = files.rbegin(); f != files.rend(); ++f) {
      if (*f == path) continue;
      bool seq_found = false;
      st = last_seq_of(*f, &seq_found, &w->last_seq_);
      if (!st.ok()) return failed(st);
      if (seq_found) break;
    }
  }
  return w;
}

Status HistoryWriter::fail(Status status) {
  poison_ = status;
  return status;
}

Status HistoryWriter::append(const nlohmann::ordered_json& fields, std::string* line_out) {
  if (!poison_.ok()) {
    return Status::error("history: not appending, the writer failed earlier: " + poison_.message());
  }
  if (!fields.is_object()) return Status::error("history: record fields must be a JSON object");
  for (std::string_view reserved : {kSeqMember, kTsMember, kBootMember, kCrcMember}) {
    if (fields.contains(std::string(reserved))) {
      return Status::error("history: record field \"" + std::string(reserved) + "\" is reserved");
    }
  }

  const std::uint64_t seq = last_seq_ + 1;
  std::string body = "{\"seq\":" + std::to_string(seq) + ",\"ts\":\"" +
                     format_record_timestamp(std::chrono::system_clock::now()) + "\",\"boot\":\"" +
                     boot_id_ + "\"";
  if (!fields.empty()) {
    // The members as the object dumps them, without its braces.
    const std::string members = dump_json(fields);
    body += ',';
    body.append(members, 1, members.size() - 2);
  }
  std::string record = seal_record(body);
  if (record.size() > kMaxRecordBytes) {
    return Status::error("history: record of " + std::to_string(record.size()) +
                         " bytes exceeds the limit of " + std::to_string(kMaxRecordBytes));
  }
  record += kRecordTerminator;

  if (size_ > 0 && size_ + record.size() > options_.max_size) {
    Status st = rotate();
    if (!st.ok()) return st;
  }

  ssize_t n;
  do {
    n = ::write(fd_.get(), record.data(), record.size());
  } while (n < 0 && errno == EINTR);
  if (n < 0) return fail(Status::from_errno("history: cannot append", current_path(), errno));
  size_ += static_cast<std::uint64_t>(n);
  if (static_cast<std::size_t>(n) != record.size()) {
    return fail(Status::error("history: cannot append: " + current_path() + ": short write (" +
                              std::to_string(n) + " of " + std::to_string(record.size()) +
                              " bytes)"));
  }
  last_seq_ = seq;

  switch (options_.sync) {
    case HistorySync::always:
      if (::fdatasync(fd_.get()) != 0) {
        return fail(Status::from_errno("history: cannot fsync", current_path(), errno));
      }
      break;
    case HistorySync::batch:
      dirty_ = true;
      break;
    case HistorySync::never:
      break;
  }
  if (line_out != nullptr) {
    record.pop_back();
    *line_out = std::move(record);
  }
  return Status::ok_status();
}

Status HistoryWriter::sync() {
  if (!poison_.ok()) {
    return Status::error("history: not syncing, the writer failed earlier: " + poison_.message());
  }
  if (!dirty_) return Status::ok_status();
  if (::fdatasync(fd_.get()) != 0) {
    return fail(Status::from_errno("history: cannot fsync", current_path(), errno));
  }
  dirty_ = false;
  return Status::ok_status();
}

Status HistoryWriter::rotate() {
  const std::string base = current_path();
  const bool durable = options_.sync != HistorySync::never;
  if (durable && ::fdatasync(fd_.get()) != 0) {
    return fail(Status::from_errno("history: cannot fsync", base, errno));
  }
  dirty_ = false;
  auto rotated = [&base](int k) { return base + "." + std::to_string(k); };

  // Files past `keep` (left over from a larger keep) go first, then each
  // file moves one place older; the rename onto .keep deletes the oldest.
  for (int k = options_.keep + 1; ::unlink(rotated(k).c_str()) == 0; ++k) {
  }
  for (int k = options_.keep - 1; k >= 1; --k) {
    if (::rename(rotated(k).c_str(), rotated(k + 1).c_str()) != 0 && errno != ENOENT) {
      return fail(Status::from_errno("history: cannot rotate", rotated(k), errno));
    }
  }
  if (options_.keep > 0) {
    if (::rename(base.c_str(), rotated(1).c_str()) != 0) {
      return fail(Status::from_errno("history: cannot rotate", base, errno));
    }
  } else if (::unlink(base.c_str()) != 0 && errno != ENOENT) {
    return fail(Status::from_errno("history: cannot remove", base, errno));
  }

  UniqueFd fresh;
  Status st = open_for_append(base, &fresh);
  if (!st.ok()) return fail(st);
  if (durable) {
    st = fsync_dir(options_.dir);
    if (!st.ok()) return fail(st);
  }
  fd_ = std::move(fresh);
  size_ = 0;
  return Status::ok_status();
}

}  // namespace otpsup
