// A batch line that answers several requests (a pack's items back in two groups after a crash) is
// counted once: each request its items' part of the line's usage, and the parts add up to the line.
#include <doctest/doctest.h>

#include <vector>

#include "engine/runtime/provider_lane.h"

using namespace flowbatch;

namespace {

/// The parts a line of `tokens` is split into when its items are counted in groups of `groups`.
std::int64_t sum_of_parts(std::int64_t tokens, const std::vector<std::size_t>& groups) {
  std::size_t of = 0;
  for (std::size_t g : groups) of += g;
  std::int64_t sum = 0;
  std::size_t before = 0;
  for (std::size_t g : groups) {
    sum += line_share_tokens(tokens, before, g, of);
    before += g;
  }
  return sum;
}

}  // namespace

TEST_CASE("a batch line's usage split among the requests it answers adds up to the line exactly") {
  // 100 tokens over 3 items answered one by one: a plain 100 × 1 / 3 each would count 99.
  CHECK(sum_of_parts(100, {1, 1, 1}) == 100);
  CHECK(line_share_tokens(100, 0, 1, 3) == 33);
  CHECK(line_share_tokens(100, 1, 1, 3) == 33);
  CHECK(line_share_tokens(100, 2, 1, 3) == 34);
  for (std::int64_t tokens : {0, 1, 7, 99, 1000, 123457})
    for (const auto& groups : std::vector<std::vector<std::size_t>>{{1, 2}, {2, 1, 4}, {1, 1, 1, 1, 1, 1, 1}, {5}})
      CHECK(sum_of_parts(tokens, groups) == tokens);
  CHECK(line_share_tokens(100, 0, 0, 3) == 0);  // a request whose items were all counted already
  CHECK(line_share_tokens(100, 0, 1, 0) == 0);
}
