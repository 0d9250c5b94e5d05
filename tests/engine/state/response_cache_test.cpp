#include <doctest/doctest.h>

#include <sys/stat.h>

#include "engine/state/response_cache.h"
#include "tests/support/fixtures.h"

using namespace flowbatch;
using namespace flowbatch::test;

TEST_CASE("the response cache keeps answers across openings, privately, and counts what hits saved") {
  TempDir dir;
  const auto file = dir / "sub" / "cache.db";
  {
    ResponseCache cache(file);
    CHECK_FALSE(cache.get("k1"));
    cache.put("k1", CachedAnswer{std::string("answer\0with a nul", 17), 100, 7});
    cache.put("k2", CachedAnswer{"other", 1, 1});
  }
  struct stat st {};
  REQUIRE(::stat(file.c_str(), &st) == 0);
  CHECK((st.st_mode & 0777) == 0600);
  {
    ResponseCache cache(file);
    auto hit = cache.get("k1");
    REQUIRE(hit);
    CHECK(hit->value.size() == 17);
    CHECK(hit->input_tokens == 100);
    CHECK(cache.get("k1"));
  }
  const CacheStats s = ResponseCache::stats(file);
  CHECK(s.entries == 2);
  CHECK(s.hits == 2);
  CHECK(s.saved_input_tokens == 200);
  CHECK(s.saved_output_tokens == 14);
  CHECK(s.bytes > 0);
  CHECK(ResponseCache::prune(file, 3600) == 0);   // all used just now
  CHECK(ResponseCache::prune(file, -3600) == 2);  // "older than an hour from now": everything
  CHECK(ResponseCache::stats(file).entries == 0);
}

TEST_CASE("a file that is not a response cache is refused with a way out") {
  TempDir dir;
  const auto junk = dir.write("junk.db", std::string(4096, 'x'));
  CHECK_THROWS_WITH_AS(ResponseCache{junk}, doctest::Contains("set pipeline.cache to another file"),
                       std::runtime_error);
  CHECK_THROWS_WITH_AS(ResponseCache::stats(dir / "none.db"), doctest::Contains("no response cache at"),
                       std::runtime_error);
}

TEST_CASE("cache keys are 128-bit hex and differ for different requests") {
  CHECK(cache_key_of("a").size() == 32);
  CHECK(cache_key_of("a") != cache_key_of("b"));
  CHECK(cache_key_of("a") == cache_key_of("a"));
}
