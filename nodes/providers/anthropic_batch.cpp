// Anthropic's Message Batches: the requests go inline in POST /messages/batches, the batch is
// polled (GET /messages/batches/ID) and its results_url streamed as JSONL, one result per
// request: succeeded, errored (answered like the online API's error), canceled or expired.
// Anthropic keeps no metadata on a batch: a create whose answer was lost is recognised by its
// time and size (engine/runtime/batch_jobs.cpp). See flowbatch/batch.h.
#include <fmt/format.h>
#include <boost/json.hpp>

#include <ctime>

#include "flowbatch/http.h"
#include "nodes/providers/batch_apis.h"

namespace flowbatch {
namespace {

constexpr std::size_t kAnthropicBatchLines = 100000;        // per batch (Anthropic's limit)
constexpr std::size_t kAnthropicBatchBytes = 240ULL << 20;  // of 256 MB, with room for the envelope

/// "2026-11-30T10:00:00Z" (fractions and offsets other than Z ignored: a few seconds do not matter here).
std::int64_t unix_of_rfc3339(const std::string& rfc3339) {
  std::tm tm{};
  if (std::sscanf(rfc3339.c_str(), "%d-%d-%dT%d:%d:%d", &tm.tm_year, &tm.tm_mon, &tm.tm_mday, &tm.tm_hour, &tm.tm_min,
                  &tm.tm_sec) != 6)
    return 0;
  tm.tm_year -= 1900;
  tm.tm_mon -= 1;
  return static_cast<std::int64_t>(timegm(&tm));
}

/// The HTTP status the online API gives an error of this type.
int status_of_anthropic_error(std::string_view type) {
  if (type == "invalid_request_error") return 400;
  if (type == "authentication_error") return 401;
  if (type == "permission_error") return 403;
  if (type == "not_found_error") return 404;
  if (type == "request_too_large") return 413;
  if (type == "rate_limit_error") return 429;
  if (type == "overloaded_error") return 529;
  return 500;  // api_error and anything new: the server's fault
}

BatchJobStatus read_anthropic_batch(const boost::json::object& o) {
  BatchJobStatus job;
  job.id = string_at(o, "id");
  job.status = string_at(o, "processing_status");
  job.ended = job.status == "ended";
  if (const auto* counts = o.if_contains("request_counts"); counts && counts->is_object()) {
    const auto& c = counts->get_object();
    job.succeeded = count_at(c, "succeeded");
    job.errored = count_at(c, "errored");
    job.total =
        count_at(c, "processing") + job.succeeded + job.errored + count_at(c, "canceled") + count_at(c, "expired");
  }
  if (std::string url = string_at(o, "results_url"); !url.empty()) job.results.push_back(std::move(url));
  job.created_unix = unix_of_rfc3339(string_at(o, "created_at"));
  return job;
}

class AnthropicBatchApi final : public JsonBatchApi {
 public:
  AnthropicBatchApi(std::string base_url, std::vector<HttpHeader> headers)
      : JsonBatchApi(std::move(base_url), std::move(headers),
                     Shape{"request-id", "last_id", &read_anthropic_batch, &read_line}) {}

  std::size_t max_lines() const override { return kAnthropicBatchLines; }
  std::size_t max_bytes() const override { return kAnthropicBatchBytes; }

  std::string line(const std::string& custom_id, const HttpRequest& online) const override {
    return fmt::format(R"({{"custom_id":{},"params":{}}})", boost::json::serialize(boost::json::string(custom_id)),
                       online.body);
  }

  bool keeps_metadata() const override { return false; }
  bool uploads() const override { return false; }
  HttpRequest upload(const std::string&, const std::string&) const override { return {}; }
  std::variant<std::string, Failure> read_upload(const HttpResponse&) const override { return std::string(); }
  HttpRequest list_uploads() const override { return {}; }
  std::vector<BatchUpload> read_uploads(const HttpResponse&) const override { return {}; }
  HttpRequest remove_upload(const std::string&) const override { return {}; }

  HttpRequest create(const std::string&, const std::string&, const std::string& input,
                     const HttpRequest&) const override {
    HttpRequest r = request("POST", "/messages/batches");
    std::string requests = input;  // JSONL: one request a line, none holding a raw line break
    while (!requests.empty() && requests.back() == '\n') requests.pop_back();
    for (char& c : requests)
      if (c == '\n') c = ',';
    r.body = "{\"requests\":[" + requests + "]}";
    return r;
  }

  HttpRequest get(const std::string& id) const override { return request("GET", "/messages/batches/" + id); }
  HttpRequest cancel(const std::string& id) const override {
    return request("POST", "/messages/batches/" + id + "/cancel");
  }
  HttpRequest list(const std::string& cursor) const override {
    return request("GET", "/messages/batches?limit=100" + (cursor.empty() ? std::string() : "&after_id=" + cursor));
  }

  std::optional<HttpRequest> fetch(const std::string& url) const override {
    if (!same_origin(url, base())) return std::nullopt;  // never send the key to another host
    return request("GET", url);
  }

 private:
  static BatchLineResult read_line(const boost::json::object& o) {
    BatchLineResult r;
    r.custom_id = string_at(o, "custom_id");
    const auto* result = o.if_contains("result");
    const auto* res = result ? result->if_object() : nullptr;
    const std::string type = res ? string_at(*res, "type") : std::string();
    if (type == "succeeded" && res->contains("message")) {
      r.answered = true;
      r.response.status = 200;
      r.response.body = boost::json::serialize(res->at("message"));
    } else if (type == "errored" && res->contains("error")) {
      r.answered = true;
      const auto* outer = res->at("error").if_object();
      const auto* inner = outer ? outer->if_contains("error") : nullptr;
      r.response.status =
          status_of_anthropic_error(inner && inner->is_object() ? string_at(inner->get_object(), "type") : "");
      r.response.body = boost::json::serialize(res->at("error"));
    } else {
      r.why = type.empty() ? "no result" : type;
    }
    return r;
  }
};

}  // namespace

std::unique_ptr<BatchApi> make_anthropic_batch_api(std::string base_url, std::vector<HttpHeader> headers) {
  return std::make_unique<AnthropicBatchApi>(std::move(base_url), std::move(headers));
}

}  // namespace flowbatch
