// The CSV source over any file: the header row, quoted fields (delimiters, doubled quotes, line
// breaks inside quotes), ragged rows.
#include <algorithm>

#include "tests/fuzz/support.h"

using namespace flowbatch;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static fuzz::InputFile file;
  static const std::unique_ptr<Source> csv = fuzz::make_source("csv", "path = \"" + file.path().string() + "\"");
  const std::string_view text = fuzz::as_text(data, size);
  file.write(text);
  const std::uint64_t lines = static_cast<std::uint64_t>(std::count(text.begin(), text.end(), '\n')) + 1;
  std::vector<Record> records;
  try {
    records = fuzz::read_records(*csv, lines);
  } catch (const std::runtime_error& e) {  // documented: a header row that cannot be read stops the source
    FUZZ_CHECK(std::string_view(e.what()).find("header") != std::string_view::npos,
               std::string("open() failed for another reason than the header: ") + e.what());
    return 0;
  }
  for (const Record& r : records) {
    boost::json::object fields;
    if (auto reason = csv->decode(r, fields)) FUZZ_CHECK(!reason->empty(), "a row refused without a reason");
  }
  (void)csv->count_records();
  return 0;
}
