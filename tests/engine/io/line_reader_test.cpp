#include <doctest/doctest.h>

#include <cstdio>

#include "engine/io/line_reader.h"
#include "tests/support/fixtures.h"

using namespace flowbatch;
using namespace flowbatch::test;

TEST_CASE("lines are numbered, CRLF is stripped, and a last line without newline counts") {
  TempDir dir;
  const auto file = dir.write("a.txt", "one\r\ntwo\n\nfour");
  LineReader reader(file);
  std::string line;
  std::uint64_t n = 0;
  std::vector<std::pair<std::uint64_t, std::string>> got;
  while (reader.next(line, n)) got.emplace_back(n, line);
  REQUIRE(got.size() == 4);
  CHECK(got[0] == std::make_pair(std::uint64_t{1}, std::string("one")));
  CHECK(got[1].second == "two");
  CHECK(got[2].second.empty());
  CHECK(got[3] == std::make_pair(std::uint64_t{4}, std::string("four")));
  CHECK(reader.offset() == 14);
}

TEST_CASE("lines longer than the buffer are read whole") {
  TempDir dir;
  const std::string long_line(3 * 1024 * 1024, 'x');
  const auto file = dir.write("long.txt", "a\n" + long_line + "\nb\n");
  LineReader reader(file);
  std::string line;
  std::uint64_t n = 0;
  REQUIRE(reader.next(line, n));
  REQUIRE(reader.next(line, n));
  CHECK(line.size() == long_line.size());
  REQUIRE(reader.next(line, n));
  CHECK(line == "b");
  CHECK(n == 3);
  CHECK(!reader.next(line, n));
}

TEST_CASE("counting skips blank lines — unreadable files are explained") {
  TempDir dir;
  const auto file = dir.write("c.txt", "a\n\n  \nb\nc");
  CHECK(count_nonblank_lines(file) == 3);
  CHECK(!why_unreadable(file));
  const auto missing = why_unreadable(dir / "nope.txt");
  REQUIRE(missing);
  CHECK(missing->find("No such file") != std::string::npos);
  CHECK(why_unreadable(dir.path())->find("not a regular file") != std::string::npos);
  CHECK_THROWS_AS(LineReader(dir / "nope.txt"), std::runtime_error);
}

TEST_CASE("a UTF-8 byte order mark at the start of a file is not part of the first line") {
  TempDir dir;
  const auto file = dir.write("bom.txt", "\xEF\xBB\xBF{\"id\": 1}\nsecond \xEF\xBB\xBF kept\n");
  LineReader reader(file);
  std::string line;
  std::uint64_t n = 0;
  REQUIRE(reader.next(line, n));
  CHECK(line == "{\"id\": 1}");
  CHECK(n == 1);
  REQUIRE(reader.next(line, n));
  CHECK(line == "second \xEF\xBB\xBF kept");  // only the very first bytes are a BOM
  CHECK(!reader.next(line, n));
  CHECK(reader.offset() == std::filesystem::file_size(file));
}

TEST_CASE("a file that grows after it was opened is read whole (its buffer was sized for less)") {
  TempDir dir;
  const auto file = dir.write("grows.txt", "a\n");
  LineReader reader(file);
  const std::string long_line(100 * 1024, 'y');
  dir.write("grows.txt", "a\n" + long_line + "\nb");  // same file, rewritten longer
  std::string line;
  std::uint64_t n = 0;
  REQUIRE(reader.next(line, n));
  CHECK(line == "a");
  REQUIRE(reader.next(line, n));
  CHECK(line == long_line);
  REQUIRE(reader.next(line, n));
  CHECK(line == "b");
  CHECK(!reader.next(line, n));
}

TEST_CASE("blank lines hold only spaces, tabs and carriage returns — readers and counting agree") {
  CHECK(is_blank_line(""));
  CHECK(is_blank_line(" \t\r"));
  CHECK(!is_blank_line("\v"));  // once skipped by the jsonl reader but counted (fuzzing)
  CHECK(!is_blank_line("\f "));
  CHECK(!is_blank_line(" x "));
  TempDir dir;
  CHECK(count_nonblank_lines(dir.write("v.txt", "a\n \v\n\t\r\nb\n")) == 3);
  // A first line holding only a byte order mark reads as "": blank, so not counted (fuzzing).
  CHECK(count_nonblank_lines(dir.write("bom.txt", "\xEF\xBB\xBF\na\n")) == 1);
  CHECK(count_nonblank_lines(dir.write("bom2.txt", "\xEF\xBB\xBF{}\n")) == 1);
  CHECK(count_nonblank_lines(dir.write("bom3.txt", "\xEF\xBB\xBF")) == 0);
}

TEST_CASE("a file that changes while it is read says how, once its end is reached") {
  TempDir dir;
  std::string line;
  std::uint64_t n = 0;
  SUBCASE("unchanged: nothing to say") {
    const auto file = dir.write("a.txt", "one\ntwo\n");
    LineReader reader(file);
    while (reader.next(line, n)) {}
    CHECK_FALSE(reader.changed_while_read().has_value());
  }
  SUBCASE("appended to after the end was reached") {
    const auto file = dir.write("a.txt", "one\ntwo\n");
    LineReader reader(file);
    while (reader.next(line, n)) {}
    std::FILE* f = std::fopen(file.c_str(), "a");
    REQUIRE(f);
    std::fputs("three\n", f);
    std::fclose(f);
    const auto change = reader.changed_while_read();
    REQUIRE(change.has_value());
    CHECK(change->find("grew while it was read: the 6 bytes added") != std::string::npos);
    CHECK(change->find("run the same command again") != std::string::npos);
  }
  SUBCASE("cut short before its end was read") {
    const auto file = dir.write("a.txt", "one\ntwo\nthree\nfour\n");
    LineReader reader(file);
    std::filesystem::resize_file(file, 8);  // "one\ntwo\n"
    int lines = 0;
    while (reader.next(line, n)) ++lines;
    CHECK(lines == 2);
    const auto change = reader.changed_while_read();
    REQUIRE(change.has_value());
    CHECK(change->find("shrank while it was read (from 19 to 8 bytes)") != std::string::npos);
  }
}

TEST_CASE("a line over max_line_bytes is cut short and skipped to its end without being held whole") {
  TempDir dir;
  const std::size_t max = 64 * 1024;
  // Longer than the 1 MiB read block, so the reader must drop blocks of it as it goes.
  const std::string huge(3 * 1024 * 1024, 'x');
  const auto file = dir.write(
      "long.txt", "a\n" + huge + "\n" + std::string(max + 1, 'y') + "\r\n" + std::string(max, 'z') + "\nb\n" + huge);
  LineReader reader(file, max);
  std::string line;
  std::uint64_t n = 0;
  std::vector<std::tuple<std::uint64_t, std::size_t, bool>> got;  // line, bytes kept, cut short
  while (reader.next(line, n)) got.emplace_back(n, line.size(), reader.cut_short());
  REQUIRE(got.size() == 6);
  CHECK(got[0] == std::make_tuple(std::uint64_t{1}, std::size_t{1}, false));
  CHECK(got[1] == std::make_tuple(std::uint64_t{2}, LineReader::kOverlongHead, true));
  CHECK(got[2] == std::make_tuple(std::uint64_t{3}, LineReader::kOverlongHead, true));  // found whole in the buffer
  CHECK(got[3] == std::make_tuple(std::uint64_t{4}, max, false));                       // exactly the limit is fine
  CHECK(got[4] == std::make_tuple(std::uint64_t{5}, std::size_t{1}, false));
  CHECK(got[5] == std::make_tuple(std::uint64_t{6}, LineReader::kOverlongHead, true));  // the file ends inside it
  CHECK(reader.offset() == std::filesystem::file_size(file));
}
