#include <doctest/doctest.h>

#include "engine/core/text.h"

using namespace flowbatch;

TEST_CASE("edit_distance counts insertions, deletions, substitutions and transpositions") {
  CHECK(edit_distance("max_items", "max_items") == 0);
  CHECK(edit_distance("timout_ms", "timeout_ms") == 1);
  CHECK(edit_distance("mxa_items", "max_items") == 1);  // adjacent transposition
  CHECK(edit_distance("", "abc") == 3);
  CHECK(edit_distance("kitten", "sitting") == 3);
}

TEST_CASE("did_you_mean suggests only close candidates") {
  const std::vector<std::string> keys = {"max_items", "timeout_ms", "group_by", "max_tokens"};
  CHECK(did_you_mean("timout_ms", keys) == " (did you mean \"timeout_ms\"?)");
  CHECK(did_you_mean("group-by", keys) == " (did you mean \"group_by\"?)");
  CHECK(did_you_mean("colour", keys).empty());
  CHECK(closest_match("max_itmes", keys) == std::optional<std::string>("max_items"));
}

TEST_CASE("closest_match does not look for typos in names longer than 64 characters") {
  // Two such names once cost a (n+1)*(m+1) table: 800 MB for two 10,000-character node names.
  const std::string long_name(10000, 'n');
  CHECK(!closest_match(long_name.substr(1) + "m", {long_name}));
  CHECK(closest_match("max_items", {long_name, "max_itmes"}) == std::optional<std::string>("max_itmes"));
  CHECK(closest_match(std::string(64, 'a'), {std::string(63, 'a') + "b"}));
  CHECK(!closest_match(std::string(65, 'a'), {std::string(64, 'a') + "b"}));
}

TEST_CASE("split keeps empty parts and trim strips white space") {
  CHECK(split("a.b..c", '.') == std::vector<std::string>{"a", "b", "", "c"});
  CHECK(split("", '.') == std::vector<std::string>{""});
  CHECK(trim("  x y \t\n") == "x y");
  CHECK(join({"a", "b", "c"}, ", ") == "a, b, c");
}

TEST_CASE("is_valid_utf8 accepts well-formed UTF-8 and refuses what JSON may not hold") {
  CHECK(is_valid_utf8(""));
  CHECK(is_valid_utf8("plain ascii"));
  CHECK(is_valid_utf8("caf\xC3\xA9 \xE2\x82\xAC \xF0\x9F\x98\x80"));  // é € 😀
  CHECK(!is_valid_utf8("\xFF"));
  CHECK(!is_valid_utf8("caf\xE9"));           // Latin-1
  CHECK(!is_valid_utf8("\xC0\xAF"));          // overlong '/'
  CHECK(!is_valid_utf8("\xED\xA0\x80"));      // a UTF-16 surrogate
  CHECK(!is_valid_utf8("\xF4\x90\x80\x80"));  // past U+10FFFF
  CHECK(!is_valid_utf8("\xE2\x82"));          // cut short
}

TEST_CASE("to_valid_utf8 replaces each bad sequence with U+FFFD and leaves good text alone") {
  CHECK(to_valid_utf8("ok \xC3\xA9") == "ok \xC3\xA9");
  CHECK(to_valid_utf8("a\xFF"
                      "b") ==
        "a\xEF\xBF\xBD"
        "b");
  CHECK(is_valid_utf8(to_valid_utf8("\xE2\x82 tail \xC0\xAF")));
}

TEST_CASE("base64 round-trips every byte and refuses what is not base64") {
  std::string all;
  for (int c = 0; c < 256; ++c) all += static_cast<char>(c);
  for (std::size_t n : {0u, 1u, 2u, 3u, 4u, 255u, 256u}) {
    const std::string bytes = all.substr(0, n);
    const auto back = base64_decode(base64_encode(bytes));
    REQUIRE(back);
    CHECK(*back == bytes);
  }
  CHECK(base64_encode("foob") == "Zm9vYg==");
  CHECK(base64_encode("fooba") == "Zm9vYmE=");
  CHECK(!base64_decode("Zm9"));
  CHECK(!base64_decode("Zm9*"));
  CHECK(!base64_decode("Z=9v"));
}
