#pragma once
// The batch APIs of the built-in providers (flowbatch/batch.h): OpenAI's Batch API (an uploaded
// JSONL file, /v1/batches) and Anthropic's Message Batches (requests inline, results_url JSONL).
#include <boost/json/object.hpp>

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "flowbatch/batch.h"

namespace flowbatch {

/// `headers`: what every request of the provider carries (the key, organization, extra headers).
std::unique_ptr<BatchApi> make_openai_batch_api(std::string base_url, std::vector<HttpHeader> headers);
std::unique_ptr<BatchApi> make_anthropic_batch_api(std::string base_url, std::vector<HttpHeader> headers);

/// The path of a URL ("https://host/v1/chat/completions" → "/v1/chat/completions").
std::string url_path(const std::string& url);
/// Whether `url` is on the same scheme, host and port as `base` (results are fetched only there).
bool same_origin(const std::string& url, const std::string& base);

// What both readers share (batch_common.cpp).
/// A string member, or "" when absent or not a string.
std::string string_at(const boost::json::object& o, std::string_view key);
/// A count member (see count_of), or 0.
std::int64_t count_at(const boost::json::object& o, std::string_view key);
/// The failure of an answer that is not a 2xx JSON object (`body` is parsed either way);
/// `request_id_header` names the header with the provider's request id.
std::optional<Failure> failure_of_answer(const HttpResponse& response, boost::json::value& body,
                                         std::string_view request_id_header);
/// Calls `line` for each JSON object line of a JSONL body (other lines are skipped).
void for_each_object_line(const std::string& body, const std::function<void(const boost::json::object&)>& line);
/// A list of batches (`data`, `has_more`), each read by `read`; the cursor of the next page is the
/// last batch's id, or `cursor_key`'s value when given.
BatchPage read_batch_page(const boost::json::object& o, BatchJobStatus (*read)(const boost::json::object&),
                          std::string_view cursor_key = {});

/// What both batch APIs do alike: requests with the provider's headers; batches, lists of them and
/// result files read as JSON, each API saying how one batch and one result line look.
class JsonBatchApi : public BatchApi {
 public:
  using BatchReader = BatchJobStatus (*)(const boost::json::object&);
  using LineReader = BatchLineResult (*)(const boost::json::object&);
  struct Shape {
    std::string request_id_header;  ///< where answers carry the provider's request id
    std::string cursor_key;         ///< where a list says its next page's cursor ("": its last batch's id)
    BatchReader read_batch;
    LineReader read_line;
  };
  JsonBatchApi(std::string base_url, std::vector<HttpHeader> headers, Shape shape)
      : base_(std::move(base_url)), headers_(std::move(headers)), shape_(std::move(shape)) {}

  std::variant<BatchJobStatus, Failure> read_job(const HttpResponse& response) const override;
  std::variant<BatchPage, Failure> read_page(const HttpResponse& response) const override;
  std::vector<BatchLineResult> read_results(const std::string& body) const override;

 protected:
  /// A request to `path` under the base URL (or to `path` itself when it is a whole URL).
  HttpRequest request(std::string method, const std::string& path) const;
  std::optional<Failure> failure_of(const HttpResponse& response, boost::json::value& body) const {
    return failure_of_answer(response, body, shape_.request_id_header);
  }
  const std::string& base() const { return base_; }

 private:
  std::string base_;
  std::vector<HttpHeader> headers_;
  Shape shape_;
};

}  // namespace flowbatch
