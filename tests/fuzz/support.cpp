#include "tests/fuzz/support.h"

#include <sys/mman.h>
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <stdexcept>

#include "engine/config/option_reader.h"
#include "engine/config/toml_loader.h"
#include "engine/io/http_client.h"
#include "nodes/builtin.h"

namespace flowbatch::fuzz {

void fail(const char* file, int line, std::string_view what) {
  std::fprintf(stderr, "%s:%d: fuzz check failed: %.*s\n", file, line, static_cast<int>(what.size()), what.data());
  std::abort();
}

TypeRegistry& registry() {
  static TypeRegistry* types = [] {
    auto* r = new TypeRegistry();  // never destroyed, like the flowbatch program's
    register_builtin(*r);
    return r;
  }();
  return *types;
}

namespace {

/// The options of a type, read from TOML text; the tables stay alive for the process, since
/// what a type configures may point into them.
template <class Type, class Configure>
auto configure(const Type* type, const std::string& name, const std::string& toml, Configure&& make) {
  static std::deque<ConfigValue> tables;
  if (!type) fail(__FILE__, __LINE__, "no built-in type " + name);
  Diagnostics diagnostics;
  Redactor redactor;
  tables.push_back(load_toml_text(toml, name + ".toml", "/fuzz", diagnostics));
  OptionReader reader(tables.back(), name, name, type->keys, {diagnostics, redactor, /*check_environment=*/false});
  auto made = make(reader);
  if (!made || diagnostics.has_errors())
    fail(__FILE__, __LINE__, "cannot configure " + name + ": " + diagnostics.str());
  return made;
}

}  // namespace

std::unique_ptr<Source> make_source(const std::string& type, const std::string& toml) {
  const SourceType* t = registry().source(type);
  return configure(t, type, toml, [&](Options& o) { return t->configure(o); });
}

std::shared_ptr<Provider> make_provider(const std::string& type, const std::string& toml) {
  const ProviderType* t = registry().provider(type);
  return configure(t, type, toml, [&](Options& o) { return t->configure(o); });
}

InputFile::InputFile() {
  fd_ = ::memfd_create("flowbatch-fuzz-input", MFD_CLOEXEC);
  if (fd_ < 0) fail(__FILE__, __LINE__, "memfd_create failed");
  path_ = "/proc/self/fd/" + std::to_string(fd_);
}

InputFile::~InputFile() { ::close(fd_); }

void InputFile::write(std::string_view data) {
  if (::ftruncate(fd_, 0) != 0) fail(__FILE__, __LINE__, "cannot truncate the input file");
  std::size_t done = 0;
  while (done < data.size()) {
    const ssize_t n = ::pwrite(fd_, data.data() + done, data.size() - done, static_cast<off_t>(done));
    if (n <= 0) fail(__FILE__, __LINE__, "cannot write the input file");
    done += static_cast<std::size_t>(n);
  }
}

std::vector<Record> read_records(Source& source, std::optional<std::uint64_t> lines) {
  constexpr std::size_t kChunk = 3;
  std::vector<Record> records;
  const std::unique_ptr<SourceReader> reader = source.open();
  bool more = true;
  while (more) {
    const std::size_t before = records.size();
    more = reader->read(records, records.size() + kChunk);
    FUZZ_CHECK(records.size() - before <= kChunk, "a reader returned more records than asked for");
    FUZZ_CHECK(!more || records.size() > before, "a reader that is not exhausted but returned nothing");
  }
  std::uint64_t previous = 0;
  for (const Record& r : records) {
    if (!lines) break;
    FUZZ_CHECK(r.line > previous, "record line numbers that do not grow");
    FUZZ_CHECK(r.line <= *lines, "a record line number past the end of the file");
    previous = r.line;
  }
  return records;
}

namespace {

/// The next line of `text` (without its "\n"), advancing past it.
std::string_view next_line(std::string_view& text) {
  const auto nl = text.find('\n');
  const std::string_view line = text.substr(0, nl);
  text.remove_prefix(nl == std::string_view::npos ? text.size() : nl + 1);
  return line;
}

/// "200 embeddings 3" into the request's endpoint and inputs, and the response's status.
void read_status_line(std::string_view line, RecordedExchange& exchange) {
  const std::string words(line);
  char endpoint[16] = {};
  unsigned inputs = 0;
  const int read = std::sscanf(words.c_str(), "%d %15s %u", &exchange.response.status, endpoint, &inputs);
  if (read < 1) exchange.response.status = 200;
  const std::string_view e(endpoint);
  CallRequest& r = exchange.request;
  r.model = "fuzz-model";
  if (e == "embeddings") {
    r.endpoint = Endpoint::embeddings;
    for (unsigned i = 0; i < std::min(inputs, 1024u); ++i) r.inputs.push_back("text " + std::to_string(i));
  } else if (e == "passthrough") {
    r.endpoint = Endpoint::passthrough;
    r.url_path = "/v1/chat/completions";
  } else {
    r.endpoint = Endpoint::chat;
    r.messages = {{"system", "Answer in one word."}, {"user", "Which category?"}};
  }
}

}  // namespace

RecordedExchange read_exchange(std::string_view text) {
  RecordedExchange exchange;
  read_status_line(next_line(text), exchange);
  while (!text.empty()) {
    std::string_view line = next_line(text);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.empty()) break;
    if (auto header = parse_header_line(line)) exchange.response.headers.push_back(std::move(*header));
  }
  exchange.response.body = std::string(text);
  return exchange;
}

namespace {
bool usable(const std::optional<double>& value) { return !value || (std::isfinite(*value) && *value >= 0); }
bool usable(const std::optional<std::chrono::milliseconds>& value) { return !value || value->count() >= 0; }
}  // namespace

void check_signals(const RateLimitSignals& s) {
  FUZZ_CHECK(usable(s.limit_requests) && usable(s.remaining_requests), "a request limit that is not a number >= 0");
  FUZZ_CHECK(usable(s.limit_tokens) && usable(s.remaining_tokens), "a token limit that is not a number >= 0");
  FUZZ_CHECK(usable(s.reset_requests) && usable(s.reset_tokens), "a negative reset time");
  FUZZ_CHECK(usable(s.retry_after), "a negative retry-after");
}

void check_call_result(const CallResult& result, const RecordedExchange& exchange) {
  check_signals(result.rate);
  if (result.failure) {
    FUZZ_CHECK(result.outputs.empty(), "a failed request with outputs");
    FUZZ_CHECK(!result.failure->message.empty(), "a failure without a message");
    FUZZ_CHECK(result.failure->retry_after_ms >= -1, "a negative retry_after_ms other than -1 (none)");
    return;
  }
  const int status = exchange.response.status;
  FUZZ_CHECK(status >= 200 && status < 300, "a non-2xx answer taken as a success");
  const std::size_t expected = exchange.request.endpoint == Endpoint::embeddings ? exchange.request.inputs.size() : 1;
  FUZZ_CHECK(result.outputs.size() == expected, "a success with the wrong number of outputs");
  FUZZ_CHECK(result.usage.input_tokens >= 0 && result.usage.output_tokens >= 0, "negative token usage");
}

}  // namespace flowbatch::fuzz
