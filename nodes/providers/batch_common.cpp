// What the built-in batch APIs (openai_batch.cpp, anthropic_batch.cpp) share: reading their
// answers' JSON, their JSONL results and their lists of batches.
#include <boost/json.hpp>

#include "flowbatch/http.h"
#include "nodes/providers/batch_apis.h"

namespace flowbatch {

std::string string_at(const boost::json::object& o, std::string_view key) {
  const auto* v = o.if_contains(key);
  return v && v->is_string() ? std::string(v->get_string()) : std::string();
}

std::int64_t count_at(const boost::json::object& o, std::string_view key) {
  const auto* v = o.if_contains(key);
  const auto n = v ? count_of(*v) : std::nullopt;
  return n ? static_cast<std::int64_t>(*n) : 0;
}

std::optional<Failure> failure_of_answer(const HttpResponse& response, boost::json::value& body,
                                         std::string_view request_id_header) {
  if (response.transport_error) return response.transport_error;
  body = parse_body(response.body);
  const std::string* request_id = response.header(request_id_header);
  const std::string id = request_id ? *request_id : std::string();
  if (response.status < 200 || response.status >= 300)
    return http_failure(response, body.is_null() ? nullptr : &body, id).failure;
  if (!body.is_object()) return unusable_answer(response, "the answer is not a JSON object", id).failure;
  return std::nullopt;
}

void for_each_object_line(const std::string& body, const std::function<void(const boost::json::object&)>& line) {
  std::size_t start = 0;
  while (start < body.size()) {
    std::size_t end = body.find('\n', start);
    if (end == std::string::npos) end = body.size();
    boost::system::error_code ec;
    const boost::json::value parsed = boost::json::parse(std::string_view(body).substr(start, end - start), ec);
    start = end + 1;
    if (!ec && parsed.is_object()) line(parsed.get_object());
  }
}

BatchPage read_batch_page(const boost::json::object& o, BatchJobStatus (*read)(const boost::json::object&),
                          std::string_view cursor_key) {
  BatchPage page;
  if (const auto* data = o.if_contains("data"); data && data->is_array())
    for (const auto& b : data->get_array())
      if (b.is_object()) page.jobs.push_back(read(b.get_object()));
  const auto* more = o.if_contains("has_more");
  if (more && more->is_bool() && more->get_bool())
    page.next = !cursor_key.empty() ? string_at(o, cursor_key) : (page.jobs.empty() ? "" : page.jobs.back().id);
  return page;
}

std::variant<BatchJobStatus, Failure> JsonBatchApi::read_job(const HttpResponse& response) const {
  boost::json::value body;
  if (auto failure = failure_of(response, body)) return *failure;
  BatchJobStatus job = shape_.read_batch(body.get_object());
  if (job.id.empty()) return make_failure(ErrorClass::malformed, "the batch has no id");
  return job;
}

std::variant<BatchPage, Failure> JsonBatchApi::read_page(const HttpResponse& response) const {
  boost::json::value body;
  if (auto failure = failure_of(response, body)) return *failure;
  return read_batch_page(body.get_object(), shape_.read_batch, shape_.cursor_key);
}

std::vector<BatchLineResult> JsonBatchApi::read_results(const std::string& body) const {
  std::vector<BatchLineResult> out;
  for_each_object_line(body, [&](const boost::json::object& line) { out.push_back(shape_.read_line(line)); });
  return out;
}

HttpRequest JsonBatchApi::request(std::string method, const std::string& path) const {
  HttpRequest r;
  r.method = std::move(method);
  r.url = path.find("://") != std::string::npos ? path : join_url(base_, path);
  r.headers = headers_;
  return r;
}

std::string url_path(const std::string& url) {
  const auto scheme = url.find("://");
  const auto slash = url.find('/', scheme == std::string::npos ? 0 : scheme + 3);
  return slash == std::string::npos ? std::string("/") : url.substr(slash);
}

bool same_origin(const std::string& url, const std::string& base) {
  const auto origin = [](const std::string& u) {
    const auto scheme = u.find("://");
    if (scheme == std::string::npos) return std::string();
    return u.substr(0, u.find('/', scheme + 3));
  };
  const std::string a = origin(url);
  return !a.empty() && a == origin(base);
}

}  // namespace flowbatch
