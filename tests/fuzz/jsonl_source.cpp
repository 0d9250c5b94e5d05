// The line-based JSON sources over any file: type "jsonl", type "openai_batch" (Batch API input
// lines), and what `flowbatch replay` reads (dead-letter lines) in front of a jsonl source.
#include <algorithm>

#include "nodes/replay_source.h"
#include "tests/fuzz/support.h"

using namespace flowbatch;

namespace {

fuzz::InputFile& input_file() {
  static fuzz::InputFile file;
  return file;
}

std::string path_key() { return "path = \"" + input_file().path().string() + "\""; }

/// Reads every record and decodes it; a record is either refused with a reason or yields fields.
std::size_t decode_all(Source& source, std::optional<std::uint64_t> lines) {
  const std::vector<Record> records = fuzz::read_records(source, lines);
  for (const Record& r : records) {
    boost::json::object fields;
    if (auto reason = source.decode(r, fields)) FUZZ_CHECK(!reason->empty(), "a record refused without a reason");
  }
  return records.size();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const std::unique_ptr<Source> jsonl = fuzz::make_source("jsonl", path_key());
  static const std::unique_ptr<Source> batch = fuzz::make_source("openai_batch", path_key());
  static const std::unique_ptr<Source> replay = make_replay_source(
      input_file().path(), "tickets", /*only_named_records=*/false, fuzz::make_source("jsonl", path_key()));
  const std::string_view text = fuzz::as_text(data, size);
  input_file().write(text);
  const std::uint64_t lines = static_cast<std::uint64_t>(std::count(text.begin(), text.end(), '\n')) + 1;

  const std::size_t records = decode_all(*jsonl, lines);
  FUZZ_CHECK(jsonl->count_records() == records,
             "jsonl: the record count (progress total) differs from the records read");
  FUZZ_CHECK(decode_all(*batch, lines) == records, "openai_batch reads other records than jsonl");
  decode_all(*replay, std::nullopt);  // replayed records keep the line they had in their own input
  return 0;
}
