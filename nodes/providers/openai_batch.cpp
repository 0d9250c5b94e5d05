// OpenAI's Batch API: the lines are uploaded as a JSONL file (POST /files, purpose=batch), a batch
// is created over it (POST /batches, metadata naming the flowbatch job), polled (GET /batches/ID),
// and its output and error files are read back (GET /files/ID/content). See flowbatch/batch.h.
#include <fmt/format.h>
#include <boost/json.hpp>

#include "engine/core/hash.h"
#include "flowbatch/http.h"
#include "nodes/providers/batch_apis.h"

namespace flowbatch {
namespace {

constexpr std::size_t kOpenAiBatchLines = 50000;         // per batch (OpenAI's limit)
constexpr std::size_t kOpenAiBatchBytes = 190ULL << 20;  // of a 200 MB input file, with room to spare
// A batch failed (or a create answered 4xx) with this code: the organisation's enqueued tokens for
// the model leave no room for it ("Enqueued token limit reached for gpt-4o-mini ...").
constexpr std::string_view kQueueFullCode = "token_limit_exceeded";

BatchJobStatus read_openai_batch(const boost::json::object& o) {
  BatchJobStatus job;
  job.id = string_at(o, "id");
  job.status = string_at(o, "status");
  job.ended =
      job.status == "completed" || job.status == "failed" || job.status == "expired" || job.status == "cancelled";
  job.refused = job.status == "failed";
  if (const auto* errors = o.if_contains("errors"); errors && errors->is_object())
    if (const auto* data = errors->get_object().if_contains("data"); data && data->is_array())
      for (const auto& e : data->get_array()) {
        if (!e.is_object()) continue;
        job.error += (job.error.empty() ? "" : "; ") + string_at(e.get_object(), "message");
        job.queue_full = job.queue_full || string_at(e.get_object(), "code") == kQueueFullCode;
      }
  job.queue_full = job.queue_full && job.refused;
  if (const auto* counts = o.if_contains("request_counts"); counts && counts->is_object()) {
    job.total = count_at(counts->get_object(), "total");
    job.succeeded = count_at(counts->get_object(), "completed");
    job.errored = count_at(counts->get_object(), "failed");
  }
  for (const char* file : {"output_file_id", "error_file_id"})
    if (std::string id = string_at(o, file); !id.empty()) job.results.push_back(std::move(id));
  if (const auto* metadata = o.if_contains("metadata"); metadata && metadata->is_object())
    job.job_key = string_at(metadata->get_object(), "flowbatch_job");
  job.created_unix = count_at(o, "created_at");
  return job;
}

class OpenAiBatchApi final : public JsonBatchApi {
 public:
  OpenAiBatchApi(std::string base_url, std::vector<HttpHeader> headers)
      : JsonBatchApi(std::move(base_url), std::move(headers),
                     Shape{"x-request-id", "", &read_openai_batch, &read_line}) {}

  std::size_t max_lines() const override { return kOpenAiBatchLines; }
  std::size_t max_bytes() const override { return kOpenAiBatchBytes; }

  std::string line(const std::string& custom_id, const HttpRequest& online) const override {
    // The online body is spliced in as it is: the same bytes the online API would get.
    return fmt::format(R"({{"custom_id":{},"method":{},"url":{},"body":{}}})",
                       boost::json::serialize(boost::json::string(custom_id)),
                       boost::json::serialize(boost::json::string(online.method)),
                       boost::json::serialize(boost::json::string(url_path(online.url))), online.body);
  }

  bool keeps_metadata() const override { return true; }
  bool uploads() const override { return true; }

  HttpRequest upload(const std::string& job_key, const std::string& lines) const override {
    const std::string boundary = "flowbatch-" + hex16(stable_hash(lines, stable_hash(job_key)));
    HttpRequest r = request("POST", "/files");
    for (auto& h : r.headers)
      if (h.name == "Content-Type") h.value = "multipart/form-data; boundary=" + boundary;
    r.body = fmt::format(
        "--{0}\r\nContent-Disposition: form-data; name=\"purpose\"\r\n\r\nbatch\r\n"
        "--{0}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{1}.jsonl\"\r\n"
        "Content-Type: application/jsonl\r\n\r\n{2}\r\n--{0}--\r\n",
        boundary, job_key, lines);
    return r;
  }

  std::variant<std::string, Failure> read_upload(const HttpResponse& response) const override {
    boost::json::value body;
    if (auto failure = failure_of(response, body)) return *failure;
    std::string id = string_at(body.get_object(), "id");
    if (id.empty()) return make_failure(ErrorClass::malformed, "the uploaded file has no id");
    return id;
  }

  HttpRequest list_uploads() const override { return request("GET", "/files?purpose=batch"); }

  std::vector<BatchUpload> read_uploads(const HttpResponse& response) const override {
    boost::json::value body;
    std::vector<BatchUpload> out;
    if (failure_of(response, body)) return out;
    if (const auto* data = body.get_object().if_contains("data"); data && data->is_array())
      for (const auto& f : data->get_array())
        if (f.is_object()) out.push_back({string_at(f.get_object(), "id"), string_at(f.get_object(), "filename")});
    return out;
  }

  HttpRequest remove_upload(const std::string& file_id) const override {
    return request("DELETE", "/files/" + file_id);
  }

  HttpRequest create(const std::string& job_key, const std::string& pipeline, const std::string& input,
                     const HttpRequest& sample) const override {
    HttpRequest r = request("POST", "/batches");
    r.body = boost::json::serialize(boost::json::object{
        {"input_file_id", input},
        {"endpoint", url_path(sample.url)},
        {"completion_window", "24h"},
        {"metadata", {{"flowbatch_job", job_key}, {"flowbatch_pipeline", pipeline}}},
    });
    return r;
  }

  HttpRequest get(const std::string& id) const override { return request("GET", "/batches/" + id); }
  HttpRequest cancel(const std::string& id) const override { return request("POST", "/batches/" + id + "/cancel"); }
  HttpRequest list(const std::string& cursor) const override {
    return request("GET", "/batches?limit=100" + (cursor.empty() ? std::string() : "&after=" + cursor));
  }

  /// A create refused outright for the queue is not the job's failure: it is a job to create later.
  std::variant<BatchJobStatus, Failure> read_job(const HttpResponse& response) const override {
    if (response.status >= 400 && response.status < 500 && !response.transport_error) {
      const boost::json::value body = parse_body(response.body);
      const auto* o = body.if_object();
      const auto* error = o ? o->if_contains("error") : nullptr;
      if (error && error->is_object() && string_at(error->get_object(), "code") == kQueueFullCode) {
        BatchJobStatus refused;
        refused.status = std::string(kQueueFullCode);
        refused.ended = refused.refused = refused.queue_full = true;
        refused.error = string_at(error->get_object(), "message");
        return refused;
      }
    }
    return JsonBatchApi::read_job(response);
  }

  std::optional<HttpRequest> fetch(const std::string& file_id) const override {
    return request("GET", "/files/" + file_id + "/content");
  }

 private:
  static BatchLineResult read_line(const boost::json::object& o) {
    BatchLineResult r;
    r.custom_id = string_at(o, "custom_id");
    const auto* response = o.if_contains("response");
    if (response && response->is_object()) {
      const auto& res = response->get_object();
      r.answered = true;
      const auto status = res.if_contains("status_code") ? count_of(res.at("status_code")) : std::nullopt;
      r.response.status = status ? static_cast<int>(*status) : 0;
      if (const auto* b = res.if_contains("body")) r.response.body = boost::json::serialize(*b);
      if (std::string id = string_at(res, "request_id"); !id.empty())
        r.response.headers.push_back({"x-request-id", id});
      return r;
    }
    const auto* error = o.if_contains("error");
    const auto* e = error ? error->if_object() : nullptr;
    r.why = e ? fmt::format("{}: {}", string_at(*e, "code"), string_at(*e, "message")) : "no answer in the batch";
    return r;
  }
};

}  // namespace

std::unique_ptr<BatchApi> make_openai_batch_api(std::string base_url, std::vector<HttpHeader> headers) {
  return std::make_unique<OpenAiBatchApi>(std::move(base_url), std::move(headers));
}

}  // namespace flowbatch
