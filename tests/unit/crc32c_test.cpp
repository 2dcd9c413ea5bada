#include "otpsup/crc32c.h"

#include <doctest/doctest.h>

#include <string>

using otpsup::crc32c;
using otpsup::crc32c_extend;

TEST_CASE("Crc32cOfCheckStringIsE3069283") {
  CHECK(crc32c("123456789") == 0xE3069283u);
}

TEST_CASE("Crc32cMatchesRfc3720Vectors") {
  // iSCSI (RFC 3720 B.4) test vectors, as in leveldb's crc32c_test.
  CHECK(crc32c(std::string(32, '\0')) == 0x8A9136AAu);
  CHECK(crc32c(std::string(32, '\xff')) == 0x62A8AB43u);
  std::string ascending;
  for (int i = 0; i < 32; ++i) ascending.push_back(static_cast<char>(i));
  CHECK(crc32c(ascending) == 0x46DD794Eu);
}

TEST_CASE("Crc32cExtendEqualsOneShot") {
  std::string text;
  for (int i = 0; i < 1000; ++i) text.push_back(static_cast<char>('a' + (i * 7) % 26));
  const std::uint32_t whole = crc32c(text);
  for (std::size_t split : {0u, 1u, 7u, 8u, 9u, 63u, 500u, 999u, 1000u}) {
    const std::uint32_t first = crc32c_extend(0, text.data(), split);
    CHECK(crc32c_extend(first, text.data() + split, text.size() - split) == whole);
  }
}

TEST_CASE("Crc32cOfEmptyIsZero") {
  CHECK(crc32c("") == 0u);
  CHECK(crc32c_extend(0x12345678u, nullptr, 0) == 0x12345678u);
}
