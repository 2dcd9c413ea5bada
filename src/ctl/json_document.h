// JsonDocument: a read-only JSON document that owns its text and is parsed
// into one flat array of values, for replies too large to turn into an
// nlohmann::ordered_json tree quickly (`status` of thousands of nodes).
//
// Strings without escapes point into the text; others are decoded once into
// storage the document owns. Accepts exactly RFC 8259 JSON (UTF-8 checked as
// nlohmann does), nested at most 10,000 deep; parse() returns false on
// anything else. A document is neither copyable nor movable: its
// values point into it.
#pragma once

#include <cstdint>
#include <deque>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace otpsup::ctl {

enum class JsonType : std::uint8_t { null, boolean, number, string, array, object };

struct JsonValue {
  JsonType type = JsonType::null;
  std::string_view key;       // the member's name (decoded) when inside an object
  std::string_view text;      // string: decoded contents; number, true, false, null: the literal
  std::uint32_t next = 0;     // index of the next element or member; 0 = this is the last
  std::uint32_t first = 0;    // index of the first element or member; 0 = none (or a scalar)
  bool key_escaped = false;   // the key held escapes in the text (decoded here)
  bool text_escaped = false;  // the string held escapes in the text (decoded here)
};

class JsonDocument {
 public:
  JsonDocument() = default;
  JsonDocument(const JsonDocument&) = delete;
  JsonDocument& operator=(const JsonDocument&) = delete;

  // Takes `text` and parses all of it (whitespace around the value allowed).
  // False when it is not one valid JSON value; the document is then empty.
  bool parse(std::string text);

  const JsonValue& root() const { return values_.front(); }
  const std::string& text() const { return text_; }

  // The member `key` of an object (the last one of that name, as nlohmann
  // keeps it), or nullptr when `object` is no object or has none.
  const JsonValue* find(const JsonValue& object, std::string_view key) const;
  // Elements of an array or members of an object: first(v), then next(e)
  // until nullptr.
  const JsonValue* first(const JsonValue& container) const {
    return container.first == 0 ? nullptr : &values_[container.first];
  }
  const JsonValue* next(const JsonValue& element) const {
    return element.next == 0 ? nullptr : &values_[element.next];
  }

  // A number that nlohmann would hold as an unsigned or a non-negative
  // signed integer; nullopt for other values (negative, fractional, too large).
  static std::optional<std::uint64_t> count(const JsonValue& value);

  // `value` as nlohmann's dump(indent) prints it after parsing the same text
  // as ordered_json (ensure_ascii off), for documents without repeated member
  // names (nlohmann keeps one of them, this prints all).
  std::string dump(const JsonValue& value, int indent) const;

 private:
  class Parser;
  void dump_value(const JsonValue& value, int indent, int depth, std::string* out) const;

  std::string text_;
  std::vector<JsonValue> values_;
  std::deque<std::string> decoded_;  // strings that held escapes
};

}  // namespace otpsup::ctl
