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

TEST_CASE("split keeps empty parts and trim strips white space") {
  CHECK(split("a.b..c", '.') == std::vector<std::string>{"a", "b", "", "c"});
  CHECK(split("", '.') == std::vector<std::string>{""});
  CHECK(trim("  x y \t\n") == "x y");
  CHECK(join({"a", "b", "c"}, ", ") == "a, b, c");
}
