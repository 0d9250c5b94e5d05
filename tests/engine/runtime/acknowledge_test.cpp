// Queue-like sources (Source::acknowledger): a record is acknowledged only once every output that
// holds one of its items (results, dead letters) has committed it; a followed source that has
// nothing new is asked again later, and the run goes on until it is exhausted.
#include <doctest/doctest.h>
#include <fmt/format.h>

#include <mutex>
#include <set>

#include "nodes/builtin.h"
#include "tests/support/fixtures.h"

using namespace flowbatch;
using namespace flowbatch::test;

namespace {

constexpr std::uint64_t kRecords = 40;

/// Which records were acknowledged, and whether each one's item was in an output file by then.
struct Books {
  std::filesystem::path dir;
  std::mutex mutex;
  std::set<std::uint64_t> acknowledged;
  std::vector<std::uint64_t> early;  // acknowledged while no output file held it
};

class Acks final : public Acknowledger {
 public:
  explicit Acks(Books& books) : books_(books) {}
  void acknowledge(const std::vector<std::uint64_t>& lines) override {
    const std::string held = read_file(books_.dir / "out.jsonl") + read_file(books_.dir / "bad.jsonl");
    const std::lock_guard lock(books_.mutex);
    for (std::uint64_t line : lines) {
      if (held.find(fmt::format("q{}\"", line)) == std::string::npos &&
          held.find(fmt::format("q{}\\\"", line)) == std::string::npos)
        books_.early.push_back(line);
      books_.acknowledged.insert(line);
    }
  }

 private:
  Books& books_;
};

/// Serves kRecords records a few at a time, with empty reads in between (nothing arrived yet); is
/// exhausted once every record was acknowledged, as a queue that was drained.
class QueueReader final : public SourceReader {
 public:
  explicit QueueReader(Books& books) : books_(books) {}
  bool read(std::vector<Record>& out, std::size_t max) override {
    if (++calls_ % 2 == 0) return true;
    for (std::size_t i = 0; i < std::min<std::size_t>(max, 7) && next_ <= kRecords; ++i, ++next_)
      out.push_back(Record{next_, next_ % 10 == 0 ? "broken" : fmt::format(R"({{"id":"q{}"}})", next_)});
    const std::lock_guard lock(books_.mutex);
    return books_.acknowledged.size() < kRecords;
  }

 private:
  Books& books_;
  std::uint64_t next_ = 1;
  std::uint64_t calls_ = 0;
};

class QueueSource final : public Source {
 public:
  explicit QueueSource(Books& books) : books_(books), acks_(std::make_shared<Acks>(books)) {}
  std::unique_ptr<SourceReader> open() override { return std::make_unique<QueueReader>(books_); }
  std::optional<std::string> decode(const Record& record, boost::json::object& fields) const override {
    if (record.text == "broken") return fmt::format("\"q{}\" is broken", record.line);
    fields = boost::json::parse(record.text).as_object();
    return std::nullopt;
  }
  std::string describe() const override { return "a test queue"; }
  bool follows() const override { return true; }
  std::shared_ptr<Acknowledger> acknowledger() override { return acks_; }

 private:
  Books& books_;
  std::shared_ptr<Acks> acks_;
};

TypeRegistry& queue_registry(Books& books) {
  static TypeRegistry* registry = nullptr;
  static Books* current = nullptr;
  current = &books;
  if (!registry) {
    registry = new TypeRegistry();
    register_builtin(*registry);
    registry->add(SourceType{"test_queue", "a queue in memory", {}, [](Options&) -> std::unique_ptr<Source> {
                               return std::make_unique<QueueSource>(*current);
                             }});
  }
  return *registry;
}

const char* kGraph = R"([sources.in]
type = "test_queue"
id_field = "id"
[dead_letters.bad]
inputs = ["in.invalid"]
path = "bad.jsonl"
flush_every = 3
[sinks.out]
inputs = ["in"]
path = "out.jsonl"
flush_every = 5
)";

}  // namespace

TEST_CASE("a queue-like source's records are acknowledged only after their result or dead letter is committed") {
  TempDir dir;
  Books books;
  books.dir = dir.path();
  const auto run = run_text(kGraph, dir, {}, &queue_registry(books));
  REQUIRE_MESSAGE(run.report.exit_code == 3, run.console);  // finished, with dead letters
  CHECK(books.acknowledged.size() == kRecords);
  CHECK_MESSAGE(books.early.empty(), "first early: " << (books.early.empty() ? 0 : books.early.front()));
  CHECK(read_jsonl(dir / "out.jsonl").size() == kRecords - kRecords / 10);
  CHECK(read_jsonl(dir / "bad.jsonl").size() == kRecords / 10);
}

TEST_CASE("a queue-like source needs the pipeline's state, which holds its commits") {
  TempDir dir;
  Books books;
  books.dir = dir.path();
  const auto run = run_text(std::string("[pipeline]\nstate = \"none\"\n") + kGraph, dir, {}, &queue_registry(books));
  CHECK(run.report.exit_code != 0);
  CHECK(boost::json::serialize(run.report.json).find("needs the pipeline's state") != std::string::npos);
  CHECK(books.acknowledged.empty());
}
