#pragma once
// What the fuzz targets share: the built-in registry, node types configured from TOML snippets, an
// in-memory file for readers that take a path, and the "recorded answer" text format of the
// provider targets. Every target is one LLVMFuzzerTestOneInput over the project's real code; it
// aborts (through FUZZ_CHECK) when a property of that code does not hold, so libFuzzer and the
// replay driver both report it.
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "engine/graph/type_registry.h"
#include "flowbatch/provider.h"
#include "flowbatch/source.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size);

namespace flowbatch::fuzz {

/// Prints `what` (with the check's place) and aborts: the input broke a property of the code.
[[noreturn]] void fail(const char* file, int line, std::string_view what);

#define FUZZ_CHECK(condition, what)                                                   \
  do {                                                                                \
    if (!(condition)) ::flowbatch::fuzz::fail(__FILE__, __LINE__, std::string(what)); \
  } while (false)

inline std::string_view as_text(const std::uint8_t* data, std::size_t size) {
  return {reinterpret_cast<const char*>(data), size};
}

/// Every built-in node kind and type, registered once per process.
TypeRegistry& registry();

/// A source of a built-in type configured from TOML text (the keys of its [sources.NAME] table).
/// Aborts when the text does not configure it: that is a mistake in the target, not a finding.
std::unique_ptr<Source> make_source(const std::string& type, const std::string& toml);

/// Same for a provider ([providers.NAME] keys).
std::shared_ptr<Provider> make_provider(const std::string& type, const std::string& toml);

/// An in-memory file (memfd) that readers open by path, rewritten for each input: no disk, no
/// temporary files left behind by a crash.
class InputFile {
 public:
  InputFile();
  ~InputFile();
  InputFile(const InputFile&) = delete;
  InputFile& operator=(const InputFile&) = delete;

  /// Replaces the file's content.
  void write(std::string_view data);
  const std::filesystem::path& path() const { return path_; }

 private:
  int fd_ = -1;
  std::filesystem::path path_;
};

/// Every record of a source's file, read in small chunks (so chunk ends fall everywhere). With
/// `lines` (the file's line count), checks that line numbers start at 1, grow and stay within it.
std::vector<Record> read_records(Source& source, std::optional<std::uint64_t> lines);

/// A recorded answer of an HTTP API, with the request it answers:
///
///     <status> [chat|embeddings|passthrough [inputs]]
///     header-name: value
///     ...
///     <blank line>
///     <body>
///
/// `inputs` is the number of texts an embeddings request sent (at most 1024). Header lines go
/// through the HTTP client's own header parsing.
struct RecordedExchange {
  CallRequest request;
  HttpResponse response;
};
RecordedExchange read_exchange(std::string_view text);

/// Checks what every provider promises of a CallResult, whatever the answer was: a failure or
/// outputs, never both; one output per item on success; rate signals that are numbers a rate
/// gate can use.
void check_call_result(const CallResult& result, const RecordedExchange& exchange);

/// Checks that every signal is a finite, non-negative number (durations non-negative).
void check_signals(const RateLimitSignals& signals);

}  // namespace flowbatch::fuzz
