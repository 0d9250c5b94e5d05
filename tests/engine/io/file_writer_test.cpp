#include <doctest/doctest.h>

#include "flowbatch/sink.h"
#include "tests/support/fixtures.h"

using namespace flowbatch;
using namespace flowbatch::test;

namespace {
class LineEncoder final : public RecordEncoder {
 public:
  std::string header(const Item&) const override { return "HEADER\n"; }
  void encode(const Item& item, std::string& out) const override { out += item.id + "\n"; }
};
Item item(const std::string& id) {
  Item i;
  i.id = id;
  return i;
}
}  // namespace

TEST_CASE("flush returns the committed byte offset, and a resume truncates back to it") {
  TempDir dir;
  const auto path = dir / "sub/out.txt";
  auto encoder = std::make_shared<LineEncoder>();
  std::uint64_t committed = 0;
  {
    auto w = open_file_writer(path, encoder, 0);  // creates sub/
    w->write(item("a"));
    w->write(item("b"));
    committed = w->flush();
    CHECK(committed == 11);  // "HEADER\na\nb\n"
    w->write(item("c"));     // written after the commit: a crash would leave it behind
    w->flush();
  }
  CHECK(read_file(path) == "HEADER\na\nb\nc\n");
  {
    auto w = open_file_writer(path, encoder, committed);
    w->write(item("c2"));
    CHECK(w->flush() == 14);
  }
  CHECK(read_file(path) == "HEADER\na\nb\nc2\n");  // no second header, no stale "c"
}

TEST_CASE("opening afresh truncates — a file shorter than its commit point is refused") {
  TempDir dir;
  const auto path = dir.write("out.txt", "old content\n");
  auto encoder = std::make_shared<LineEncoder>();
  { open_file_writer(path, encoder, 0)->flush(); }
  CHECK(read_file(path).empty());
  CHECK_THROWS_WITH_AS(open_file_writer(path, encoder, 100), doctest::Contains("shorter than its last committed point"),
                       std::runtime_error);
}
