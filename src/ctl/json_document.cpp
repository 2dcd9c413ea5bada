#include "ctl/json_document.h"

#include <array>
#include <charconv>
#include <nlohmann/json.hpp>

namespace otpsup::ctl {

// Recursive descent over the text; values are appended to values_ in
// document order (a container before its elements).
namespace {

// Bytes a string may hold as they are: printable ASCII but '"' and '\\'.
constexpr std::array<bool, 256> kPlainStringByte = [] {
  std::array<bool, 256> plain{};
  for (int c = 0x20; c < 0x80; ++c) plain[static_cast<std::size_t>(c)] = c != '"' && c != '\\';
  return plain;
}();

}  // namespace

class JsonDocument::Parser {
 public:
  explicit Parser(JsonDocument& doc)
      : doc_(doc), p_(doc.text_.data()), end_(doc.text_.data() + doc.text_.size()) {}

  bool run() {
    skip_space();
    if (!value(std::string_view(), 0)) return false;
    skip_space();
    return p_ == end_;
  }

 private:
  // Nesting deeper than this is refused rather than overflow the stack (a
  // status tree has two levels per supervisor: thousands of them fit).
  static constexpr int kMaxDepth = 10000;

  void skip_space() {
    while (p_ != end_ && (*p_ == ' ' || *p_ == '\n' || *p_ == '\r' || *p_ == '\t')) ++p_;
  }

  std::uint32_t add(JsonType type, std::string_view key) {
    doc_.values_.push_back(JsonValue{type, key, {}, 0, 0});
    return static_cast<std::uint32_t>(doc_.values_.size() - 1);
  }

  bool literal(std::string_view word, JsonType type, std::string_view key) {
    if (static_cast<std::size_t>(end_ - p_) < word.size() ||
        std::string_view(p_, word.size()) != word) {
      return false;
    }
    doc_.values_[add(type, key)].text = word;
    p_ += word.size();
    return true;
  }

  bool value(std::string_view key, int depth) {
    if (p_ == end_) return false;
    switch (*p_) {
      case '{':
        return object(key, depth);
      case '[':
        return array(key, depth);
      case '"': {
        std::string_view text;
        bool escaped = false;
        if (!string(&text, &escaped)) return false;
        JsonValue& v = doc_.values_[add(JsonType::string, key)];
        v.text = text;
        v.text_escaped = escaped;
        return true;
      }
      case 't':
        return literal("true", JsonType::boolean, key);
      case 'f':
        return literal("false", JsonType::boolean, key);
      case 'n':
        return literal("null", JsonType::null, key);
      default:
        return number(key);
    }
  }

  static bool digit(char c) { return c >= '0' && c <= '9'; }

  bool number(std::string_view key) {
    const char* start = p_;
    if (p_ != end_ && *p_ == '-') ++p_;
    if (p_ == end_ || !digit(*p_)) return false;
    if (*p_ == '0') {
      ++p_;
    } else {
      while (p_ != end_ && digit(*p_)) ++p_;
    }
    if (p_ != end_ && *p_ == '.') {
      ++p_;
      if (p_ == end_ || !digit(*p_)) return false;
      while (p_ != end_ && digit(*p_)) ++p_;
    }
    if (p_ != end_ && (*p_ == 'e' || *p_ == 'E')) {
      ++p_;
      if (p_ != end_ && (*p_ == '+' || *p_ == '-')) ++p_;
      if (p_ == end_ || !digit(*p_)) return false;
      while (p_ != end_ && digit(*p_)) ++p_;
    }
    doc_.values_[add(JsonType::number, key)].text =
        std::string_view(start, static_cast<std::size_t>(p_ - start));
    return true;
  }

  bool array(std::string_view key, int depth) {
    if (depth >= kMaxDepth) return false;
    const std::uint32_t self = add(JsonType::array, key);
    ++p_;  // '['
    skip_space();
    if (p_ != end_ && *p_ == ']') {
      ++p_;
      return true;
    }
    std::uint32_t previous = 0;
    for (;;) {
      const auto index = static_cast<std::uint32_t>(doc_.values_.size());
      if (!value(std::string_view(), depth + 1)) return false;
      link(self, previous, index);
      previous = index;
      skip_space();
      if (p_ == end_) return false;
      if (*p_ == ']') {
        ++p_;
        return true;
      }
      if (*p_ != ',') return false;
      ++p_;
      skip_space();
    }
  }

  bool object(std::string_view key, int depth) {
    if (depth >= kMaxDepth) return false;
    const std::uint32_t self = add(JsonType::object, key);
    ++p_;  // '{'
    skip_space();
    if (p_ != end_ && *p_ == '}') {
      ++p_;
      return true;
    }
    std::uint32_t previous = 0;
    for (;;) {
      std::string_view name;
      bool name_escaped = false;
      if (p_ == end_ || *p_ != '"' || !string(&name, &name_escaped)) return false;
      skip_space();
      if (p_ == end_ || *p_ != ':') return false;
      ++p_;
      skip_space();
      const auto index = static_cast<std::uint32_t>(doc_.values_.size());
      if (!value(name, depth + 1)) return false;
      doc_.values_[index].key_escaped = name_escaped;
      link(self, previous, index);
      previous = index;
      skip_space();
      if (p_ == end_) return false;
      if (*p_ == '}') {
        ++p_;
        return true;
      }
      if (*p_ != ',') return false;
      ++p_;
      skip_space();
    }
  }

  void link(std::uint32_t container, std::uint32_t previous, std::uint32_t index) {
    if (previous == 0) {
      doc_.values_[container].first = index;
    } else {
      doc_.values_[previous].next = index;
    }
  }

  // One UTF-8 sequence starting at a byte >= 0x80, checked against the same
  // ranges as nlohmann's lexer (RFC 3629: no overlongs, no surrogates).
  bool utf8_sequence() {
    const auto byte = [this](std::ptrdiff_t i) { return static_cast<unsigned char>(p_[i]); };
    const unsigned char lead = byte(0);
    int length = 0;
    unsigned char low = 0x80, high = 0xBF;  // range of the second byte
    if (lead >= 0xC2 && lead <= 0xDF) {
      length = 2;
    } else if (lead >= 0xE0 && lead <= 0xEF) {
      length = 3;
      if (lead == 0xE0) low = 0xA0;
      if (lead == 0xED) high = 0x9F;
    } else if (lead >= 0xF0 && lead <= 0xF4) {
      length = 4;
      if (lead == 0xF0) low = 0x90;
      if (lead == 0xF4) high = 0x8F;
    } else {
      return false;
    }
    if (end_ - p_ < length) return false;
    if (byte(1) < low || byte(1) > high) return false;
    for (int i = 2; i < length; ++i) {
      if (byte(i) < 0x80 || byte(i) > 0xBF) return false;
    }
    p_ += length;
    return true;
  }

  static int hex_value(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  }

  // Four hex digits after "\u".
  bool hex4(unsigned* out) {
    if (end_ - p_ < 4) return false;
    unsigned v = 0;
    for (int i = 0; i < 4; ++i) {
      const int h = hex_value(p_[i]);
      if (h < 0) return false;
      v = v * 16 + static_cast<unsigned>(h);
    }
    p_ += 4;
    *out = v;
    return true;
  }

  static void append_utf8(unsigned cp, std::string* out) {
    if (cp < 0x80) {
      out->push_back(static_cast<char>(cp));
    } else if (cp < 0x800) {
      out->push_back(static_cast<char>(0xC0 | (cp >> 6)));
      out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    } else if (cp < 0x10000) {
      out->push_back(static_cast<char>(0xE0 | (cp >> 12)));
      out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
      out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    } else {
      out->push_back(static_cast<char>(0xF0 | (cp >> 18)));
      out->push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
      out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
      out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    }
  }

  // A string at '"': its contents, pointing into the text when it holds no
  // escape, else decoded into the document's storage.
  bool string(std::string_view* out, bool* escaped) {
    ++p_;  // '"'
    const char* start = p_;
    std::string* decoded = nullptr;
    const char* copied = start;  // text before this is in *decoded already
    for (;;) {
      while (p_ != end_ && kPlainStringByte[static_cast<unsigned char>(*p_)]) ++p_;
      if (p_ == end_) return false;
      const auto c = static_cast<unsigned char>(*p_);
      if (c == '"') break;
      if (c < 0x20) return false;
      if (c >= 0x80) {
        if (!utf8_sequence()) return false;
        continue;
      }
      if (c != '\\') {
        ++p_;
        continue;
      }
      if (decoded == nullptr) decoded = &doc_.decoded_.emplace_back();
      decoded->append(copied, p_);
      ++p_;  // '\\'
      if (p_ == end_) return false;
      const char escape = *p_++;
      switch (escape) {
        case '"':
        case '\\':
        case '/':
          decoded->push_back(escape);
          break;
        case 'b':
          decoded->push_back('\b');
          break;
        case 'f':
          decoded->push_back('\f');
          break;
        case 'n':
          decoded->push_back('\n');
          break;
        case 'r':
          decoded->push_back('\r');
          break;
        case 't':
          decoded->push_back('\t');
          break;
        case 'u': {
          unsigned cp = 0;
          if (!hex4(&cp)) return false;
          if (cp >= 0xDC00 && cp <= 0xDFFF) return false;  // a low surrogate first
          if (cp >= 0xD800 && cp <= 0xDBFF) {
            unsigned low = 0;
            if (end_ - p_ < 2 || p_[0] != '\\' || p_[1] != 'u') return false;
            p_ += 2;
            if (!hex4(&low) || low < 0xDC00 || low > 0xDFFF) return false;
            cp = 0x10000 + ((cp - 0xD800) << 10) + (low - 0xDC00);
          }
          append_utf8(cp, decoded);
          break;
        }
        default:
          return false;
      }
      copied = p_;
    }
    *escaped = decoded != nullptr;
    if (decoded == nullptr) {
      *out = std::string_view(start, static_cast<std::size_t>(p_ - start));
    } else {
      decoded->append(copied, p_);
      *out = *decoded;
    }
    ++p_;  // '"'
    return true;
  }

  JsonDocument& doc_;
  const char* p_;
  const char* end_;
};

bool JsonDocument::parse(std::string text) {
  text_ = std::move(text);
  values_.clear();
  decoded_.clear();
  // About one value per 12 bytes in a status reply.
  values_.reserve(text_.size() / 12 + 4);
  if (Parser(*this).run()) return true;
  text_.clear();
  values_.clear();
  decoded_.clear();
  return false;
}

const JsonValue* JsonDocument::find(const JsonValue& object, std::string_view key) const {
  if (object.type != JsonType::object) return nullptr;
  const JsonValue* found = nullptr;
  for (const JsonValue* m = first(object); m != nullptr; m = next(*m)) {
    if (m->key == key) found = m;
  }
  return found;
}

std::optional<std::uint64_t> JsonDocument::count(const JsonValue& value) {
  if (value.type != JsonType::number) return std::nullopt;
  std::string_view text = value.text;
  if (text.find_first_of(".eE") != std::string_view::npos) return std::nullopt;
  if (text.front() == '-') {
    // nlohmann holds "-0" as the signed integer 0; other negatives are no count.
    if (text == "-0") return 0;
    return std::nullopt;
  }
  std::uint64_t result = 0;
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), result);
  if (error != std::errc() || end != text.data() + text.size()) return std::nullopt;
  return result;
}

namespace {

// `text` as nlohmann writes a string. One that held no escape in the text
// needs none on output: the parser let no control character, '"' or '\\'
// into it.
void dump_string(std::string_view text, bool escaped, std::string* out) {
  if (!escaped) {
    out->push_back('"');
    out->append(text);
    out->push_back('"');
    return;
  }
  out->append(nlohmann::ordered_json(std::string(text)).dump());
}

// An integer literal nlohmann prints back unchanged.
bool canonical_integer(std::string_view literal) {
  if (literal.find_first_of(".eE") != std::string_view::npos || literal == "-0") return false;
  const bool negative = literal.front() == '-';
  const char* begin = literal.data() + (negative ? 1 : 0);
  const char* end = literal.data() + literal.size();
  if (negative) {
    std::int64_t v = 0;
    auto r = std::from_chars(literal.data(), end, v);
    return r.ec == std::errc() && r.ptr == end;
  }
  std::uint64_t v = 0;
  auto r = std::from_chars(begin, end, v);
  return r.ec == std::errc() && r.ptr == end;
}

}  // namespace

void JsonDocument::dump_value(const JsonValue& value, int indent, int depth,
                              std::string* out) const {
  const bool pretty = indent >= 0;
  switch (value.type) {
    case JsonType::null:
    case JsonType::boolean:
      out->append(value.text);
      return;
    case JsonType::number:
      if (canonical_integer(value.text)) {
        out->append(value.text);
      } else {
        out->append(nlohmann::ordered_json::parse(value.text).dump());
      }
      return;
    case JsonType::string:
      dump_string(value.text, value.text_escaped, out);
      return;
    case JsonType::array:
    case JsonType::object:
      break;
  }
  const bool is_object = value.type == JsonType::object;
  const JsonValue* element = first(value);
  if (element == nullptr) {
    out->append(is_object ? "{}" : "[]");
    return;
  }
  out->push_back(is_object ? '{' : '[');
  if (pretty) out->push_back('\n');
  const std::size_t inner = static_cast<std::size_t>(indent) * static_cast<std::size_t>(depth + 1);
  for (; element != nullptr; element = next(*element)) {
    if (pretty) out->append(inner, ' ');
    if (is_object) {
      dump_string(element->key, element->key_escaped, out);
      out->append(pretty ? ": " : ":");
    }
    dump_value(*element, indent, depth + 1, out);
    if (element->next != 0) out->push_back(',');
    if (pretty) out->push_back('\n');
  }
  if (pretty) out->append(static_cast<std::size_t>(indent) * static_cast<std::size_t>(depth), ' ');
  out->push_back(is_object ? '}' : ']');
}

std::string JsonDocument::dump(const JsonValue& value, int indent) const {
  std::string out;
  out.reserve(text_.size() * (indent > 0 ? 2 : 1));
  dump_value(value, indent, 0, &out);
  return out;
}

}  // namespace otpsup::ctl
