#include <doctest/doctest.h>

#include <fstream>

#include "engine/io/follow_reader.h"
#include "tests/support/fixtures.h"

using namespace flowbatch;
using namespace flowbatch::test;

namespace {

void append_to_followed(const std::filesystem::path& file, const std::string& text) {
  std::ofstream out(file, std::ios::app | std::ios::binary);
  out << text;
}

/// Every whole line there is now, as (number, text).
std::vector<std::pair<std::uint64_t, std::string>> lines_now(FollowReader& reader) {
  std::vector<std::pair<std::uint64_t, std::string>> got;
  std::string line;
  std::uint64_t number = 0;
  while (reader.next(line, number)) got.emplace_back(number, line);
  return got;
}

using FollowedLines = std::vector<std::pair<std::uint64_t, std::string>>;

}  // namespace

TEST_CASE("a followed file gives the lines appended to it, each once") {
  TempDir dir;
  const auto file = dir.write("in.jsonl", "a\nb\n");
  FollowReader reader(file, 0);
  CHECK(lines_now(reader) == FollowedLines{{1, "a"}, {2, "b"}});
  CHECK(lines_now(reader).empty());
  append_to_followed(file, "c\n");
  CHECK(lines_now(reader) == FollowedLines{{3, "c"}});
  CHECK(reader.lag_bytes() == 0);
  const auto began = reader.take_began_files();
  REQUIRE(began.size() == 1);
  CHECK(began[0].line_base == 0);
  CHECK(reader.take_began_files().empty());
}

TEST_CASE("a followed line without its newline is not taken until the newline comes") {
  TempDir dir;
  const auto file = dir.write("in.jsonl", "a\npart");
  FollowReader reader(file, 0);
  CHECK(lines_now(reader) == FollowedLines{{1, "a"}});
  CHECK(reader.lag_bytes() == 4);
  append_to_followed(file, "ial");
  CHECK(lines_now(reader).empty());
  append_to_followed(file, "\nnext\n");
  CHECK(lines_now(reader) == FollowedLines{{2, "partial"}, {3, "next"}});
}

TEST_CASE("a followed file renamed away and replaced: the old one is read to its end, then the new one") {
  TempDir dir;
  const auto file = dir.write("in.jsonl", "1\n2\n");
  FollowReader reader(file, 0);
  CHECK(lines_now(reader).size() == 2);
  std::filesystem::rename(file, dir / "in.jsonl.1");
  append_to_followed(dir / "in.jsonl.1", "3\nlast without newline");  // the writer had not reopened yet
  CHECK(lines_now(reader) == FollowedLines{{3, "3"}});                // no successor yet: the old one may go on
  dir.write("in.jsonl", "x\ny\n");
  CHECK(lines_now(reader) == FollowedLines{{4, "last without newline"}, {5, "x"}, {6, "y"}});
  const auto began = reader.take_began_files();
  REQUIRE(began.size() == 2);
  CHECK(began[1].line_base == 4);
  CHECK(reader.take_notes().size() == 1);  // the rotation

  SUBCASE("a resumed reader finds the rotated file in the folder and numbers every line as before") {
    append_to_followed(file, "z\n");
    FollowReader resumed(file, 0, began, 7);
    CHECK(lines_now(resumed) ==
          FollowedLines{{1, "1"}, {2, "2"}, {3, "3"}, {4, "last without newline"}, {5, "x"}, {6, "y"}, {7, "z"}});
    CHECK(resumed.take_began_files().empty());
  }
  SUBCASE("a file an earlier run followed that is gone is skipped with a note") {
    std::filesystem::remove(dir / "in.jsonl.1");
    FollowReader resumed(file, 0, began, 7);
    CHECK(lines_now(resumed) == FollowedLines{{5, "x"}, {6, "y"}});
    CHECK(resumed.take_notes().size() == 1);
  }
  SUBCASE("a file that replaced the path while no run followed it is numbered past every earlier one") {
    std::filesystem::rename(file, dir / "in.jsonl.2");
    dir.write("in.jsonl", "new\n");
    FollowReader resumed(file, 0, {began[1]}, 7);
    CHECK(lines_now(resumed) == FollowedLines{{5, "x"}, {6, "y"}, {7, "new"}});
    const auto now = resumed.take_began_files();
    REQUIRE(now.size() == 1);
    CHECK(now[0].line_base == 6);
  }
}

TEST_CASE("a followed file cut back is read again from its start, its lines numbered on") {
  TempDir dir;
  const auto file = dir.write("in.jsonl", "aaaa\nbbbb\n");
  FollowReader reader(file, 0);
  CHECK(lines_now(reader).size() == 2);
  std::filesystem::resize_file(file, 0);
  append_to_followed(file, "c\n");
  CHECK(lines_now(reader) == FollowedLines{{3, "c"}});
  const auto began = reader.take_began_files();
  REQUIRE(began.size() == 2);
  CHECK(began[0].inode == began[1].inode);
  CHECK(began[1].line_base == 2);
  CHECK(reader.take_forgettable_files() == std::vector<FollowedFile>{began[0]});  // its lines are cut off
  SUBCASE("resumed, only the file's last beginning counts") {
    FollowReader resumed(file, 0, began, 4);
    CHECK(lines_now(resumed) == FollowedLines{{3, "c"}});
    CHECK(resumed.take_forgettable_files() == std::vector<FollowedFile>{began[0]});
  }
}

TEST_CASE("a followed file's rotated files are forgettable once gone from disk, not before") {
  TempDir dir;
  const auto file = dir.write("in.jsonl", "1\n");
  FollowReader reader(file, 0);
  CHECK(lines_now(reader).size() == 1);
  // Each rotation: the new file is made first (so no inode is free to be reused), the oldest goes.
  const auto rotate = [&](const std::string& next) {
    dir.write("in.jsonl.new", next);
    std::filesystem::rename(file, dir / "in.jsonl.1");  // replaces (removes) the one rotated before
    std::filesystem::rename(dir / "in.jsonl.new", file);
  };
  rotate("2\n");
  CHECK(lines_now(reader) == FollowedLines{{2, "2"}});
  const auto first = reader.take_began_files();
  CHECK(reader.take_forgettable_files().empty());  // in.jsonl.1 now: a resumed run could read it
  rotate("3\n");
  CHECK(lines_now(reader) == FollowedLines{{3, "3"}});
  const auto second = reader.take_began_files();
  REQUIRE(first.size() == 2);
  CHECK(reader.take_forgettable_files() == std::vector<FollowedFile>{first[0]});
  rotate("4\n");
  CHECK(lines_now(reader) == FollowedLines{{4, "4"}});
  CHECK(reader.take_forgettable_files() == std::vector<FollowedFile>{first[1]});

  SUBCASE("a resumed reader forgets the earlier files it cannot find") {
    // (Not the first file: removed before the last one was made, its inode may be the last one's.)
    FollowReader resumed(file, 0, {first[1], second[0]}, 4);
    CHECK(resumed.take_forgettable_files() == std::vector<FollowedFile>{first[1]});
  }
}

TEST_CASE("a followed line longer than the limit is cut short once, even when it arrives in pieces") {
  TempDir dir;
  const auto file = dir.write("in.jsonl", std::string(100, 'x'));
  FollowReader reader(file, 10);
  std::string line;
  std::uint64_t number = 0;
  REQUIRE(reader.next(line, number));
  CHECK(reader.cut_short());
  CHECK(line.size() == 10);
  append_to_followed(file, std::string(50, 'y'));
  CHECK_FALSE(reader.next(line, number));
  append_to_followed(file, "yy\nok\n");
  CHECK(lines_now(reader) == FollowedLines{{2, "ok"}});
}
