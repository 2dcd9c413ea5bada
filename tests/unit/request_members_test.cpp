// The member types every control request is checked against.
#include "protocol/request_members.h"

#include <doctest/doctest.h>

using nlohmann::json;
using otpsup::protocol::wrong_member_type;

TEST_CASE("RequestMembersOfTheRightTypePass") {
  CHECK_FALSE(wrong_member_type(json{{"cmd", "history"}, {"n", 20}, {"follow", true}}));
  CHECK_FALSE(wrong_member_type(json{{"cmd", "kill"}, {"path", "a"}, {"signal", "KILL"}}));
  CHECK_FALSE(wrong_member_type(json{{"cmd", "kill"}, {"path", "a"}, {"signal", 9}}));
  CHECK_FALSE(wrong_member_type(
      json{{"cmd", "add"}, {"command", {"/bin/true"}}, {"settings", json::array()}}));
  CHECK_FALSE(wrong_member_type(json{{"cmd", "call"}, {"args", {1, "two", nullptr}}}));
  CHECK_FALSE(wrong_member_type(json{{"cmd", "ping"}, {"id", {{"any", "thing"}}}}));
  CHECK_FALSE(wrong_member_type(json{{"cmd", "ping"}, {"unknown", nullptr}}));  // not checked
  CHECK_FALSE(wrong_member_type(json{{"n", -2147483648LL}, {"timeout_ms", 2147483647}}));
}

TEST_CASE("RequestMembersOfTheWrongTypeAreNamed") {
  CHECK(wrong_member_type(json{{"n", nullptr}}) ==
        "member \"n\" must be an integer (32-bit), not null");
  CHECK(wrong_member_type(json{{"n", 1.5}}) ==
        "member \"n\" must be an integer (32-bit), not the number 1.5");
  CHECK(wrong_member_type(json{{"n", 2147483648LL}}) ==
        "member \"n\" must be an integer (32-bit), not the number 2147483648");
  CHECK(wrong_member_type(json{{"path", 5}}) ==
        "member \"path\" must be a string, not the number 5");
  CHECK(wrong_member_type(json{{"force", "yes"}}) ==
        "member \"force\" must be true or false, not string");
  CHECK(wrong_member_type(json{{"command", {"/bin/true", 1}}}) ==
        "member \"command\" must be an array of strings, not array");
  CHECK(wrong_member_type(json{{"args", "x"}}) == "member \"args\" must be an array, not string");
  CHECK(wrong_member_type(json{{"signal", true}}) ==
        "member \"signal\" must be a name or a number, not boolean");
}
