// The checks and repairs of bytes from outside (engine/core/text.h): UTF-8 validation and repair
// (every line flowbatch writes is UTF-8 JSON), and base64 (dead letters keep undecodable input
// that way, and replay decodes it). Input: any bytes.
#include <boost/json/parse.hpp>

#include "engine/core/text.h"
#include "tests/fuzz/support.h"

using namespace flowbatch;

namespace {

/// Whether Boost.JSON, an independent UTF-8 validator, takes `bytes` as a string's content.
/// Only what JSON itself forbids unescaped is escaped; every other byte goes in as it is.
bool json_takes(std::string_view bytes) {
  std::string document = "\"";
  for (char c : bytes) {
    if (c == '"' || c == '\\') document += '\\';
    if (static_cast<unsigned char>(c) < 0x20) {
      document += "\\u00";
      document += "0123456789abcdef"[(c >> 4) & 0xF];
      document += "0123456789abcdef"[c & 0xF];
      continue;
    }
    document += c;
  }
  document += '"';
  boost::system::error_code ec;
  (void)boost::json::parse(document, ec);
  return !ec;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view bytes = fuzz::as_text(data, size);
  const bool valid = is_valid_utf8(bytes);
  FUZZ_CHECK(valid == json_takes(bytes), valid ? "valid UTF-8 that JSON refuses" : "invalid UTF-8 that JSON takes");
  const std::string repaired = to_valid_utf8(bytes);
  FUZZ_CHECK(is_valid_utf8(repaired), "a repair that is not valid UTF-8");
  FUZZ_CHECK(!valid || repaired == bytes, "valid UTF-8 changed by the repair");

  const std::string encoded = base64_encode(bytes);
  FUZZ_CHECK(encoded.size() % 4 == 0 && is_valid_utf8(encoded), "base64 that is not padded ASCII");
  FUZZ_CHECK(base64_decode(encoded) == std::string(bytes), "base64 that does not decode to its bytes");
  if (auto decoded = base64_decode(bytes))
    FUZZ_CHECK(base64_decode(base64_encode(*decoded)) == *decoded, "decoded bytes that do not round-trip");
  return 0;
}
