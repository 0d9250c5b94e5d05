// The batch APIs' routes: OpenAI's /v1/files and /v1/batches, Anthropic's /v1/messages/batches.
// The store (batch_store.cpp) keeps the files and batches; this file reads requests and writes
// answers in each API's shape.
#include "mock_server/batch_routes.h"

#include <fmt/format.h>
#include <boost/json.hpp>

#include <charconv>

#include "mock_server/routes.h"

namespace flowbatch::mock {
namespace {

ApiReply batch_json_reply(const boost::json::value& body) {
  ApiReply reply;
  reply.body = boost::json::serialize(body);
  return reply;
}

ApiReply batch_not_found(ApiFlavor flavor, std::string_view what) {
  if (flavor == ApiFlavor::anthropic) return anthropic_error(404, "not_found_error", what);
  return openai_error(404, what, "invalid_request_error");
}

/// A query parameter's value ("" when absent); values are ids and numbers, never escaped.
std::string batch_query_value(std::string_view target, std::string_view name) {
  const auto q = target.find('?');
  if (q == std::string_view::npos) return {};
  std::string_view rest = target.substr(q + 1);
  while (!rest.empty()) {
    const auto amp = rest.find('&');
    const std::string_view pair = rest.substr(0, amp);
    const auto eq = pair.find('=');
    if (pair.substr(0, eq) == name && eq != std::string_view::npos) return std::string(pair.substr(eq + 1));
    if (amp == std::string_view::npos) break;
    rest.remove_prefix(amp + 1);
  }
  return {};
}

std::size_t batch_query_limit(std::string_view target) {
  const std::string text = batch_query_value(target, "limit");
  std::size_t limit = 20;
  if (!text.empty()) std::from_chars(text.data(), text.data() + text.size(), limit);
  return std::clamp<std::size_t>(limit, 1, 100);
}

/// One part of a multipart/form-data body.
struct BatchFormPart {
  std::string name, filename;
  std::string_view content;
};

/// The parts of a multipart/form-data body, or why it is not one.
std::variant<std::vector<BatchFormPart>, std::string> read_batch_form(const ApiRequest& request) {
  const auto type = request.header("content-type");
  const auto b = type ? type->find("boundary=") : std::string_view::npos;
  if (b == std::string_view::npos) return std::string("expected a multipart/form-data body with a boundary");
  std::string_view boundary_value = type->substr(b + 9);
  if (boundary_value.starts_with('"')) boundary_value = boundary_value.substr(1, boundary_value.find('"', 1) - 1);
  const std::string boundary = "--" + std::string(boundary_value.substr(0, boundary_value.find(';')));
  std::vector<BatchFormPart> parts;
  std::string_view body = request.body;
  std::size_t at = body.find(boundary);
  while (at != std::string_view::npos) {
    std::size_t start = at + boundary.size();
    if (body.substr(start, 2) == "--") break;  // the closing boundary
    start = body.find("\r\n", start);
    const std::size_t headers_end = start == std::string_view::npos ? start : body.find("\r\n\r\n", start);
    if (headers_end == std::string_view::npos) return std::string("a form part has no headers");
    const std::string_view headers = body.substr(start, headers_end - start);
    const std::size_t next = body.find("\r\n" + boundary, headers_end + 4);
    if (next == std::string_view::npos) return std::string("a form part is not closed by the boundary");
    BatchFormPart part;
    part.content = body.substr(headers_end + 4, next - headers_end - 4);
    const auto field = [&](std::string_view key) {
      const auto k = headers.find(key);
      if (k == std::string_view::npos) return std::string();
      const auto open = k + key.size();
      return std::string(headers.substr(open, headers.find('"', open) - open));
    };
    part.name = field("name=\"");
    part.filename = field("filename=\"");
    parts.push_back(std::move(part));
    at = next + 2;
  }
  return parts;
}

ApiReply upload_batch_file(BatchStore& store, const ApiRequest& request, const MockOptions& options) {
  auto form = read_batch_form(request);
  if (auto* problem = std::get_if<std::string>(&form)) return invalid_request(ApiFlavor::openai, *problem);
  std::string purpose, filename;
  std::optional<std::string_view> content;
  for (const auto& part : std::get<std::vector<BatchFormPart>>(form)) {
    if (part.name == "purpose") purpose = part.content;
    if (part.name == "file") {
      content = part.content;
      filename = part.filename;
    }
  }
  if (purpose != "batch") return invalid_request(ApiFlavor::openai, "purpose must be \"batch\"", "purpose");
  if (!content) return invalid_request(ApiFlavor::openai, "a file part is required", "file");
  if (static_cast<std::int64_t>(content->size()) > options.batch_max_bytes)
    return invalid_request(ApiFlavor::openai,
                           fmt::format("the file is {} bytes; the most a batch file may be is {}", content->size(),
                                       options.batch_max_bytes),
                           "file");
  const MockFile& file = store.add_file(filename, purpose, std::string(*content));
  return batch_json_reply(boost::json::object{{"id", file.id},
                                              {"object", "file"},
                                              {"bytes", file.content.size()},
                                              {"created_at", file.created_unix},
                                              {"filename", file.filename},
                                              {"purpose", file.purpose}});
}

ApiReply files_route(BatchStore& store, const ApiRequest& request, const MockOptions& options) {
  const std::string_view path = request.path;
  if (path == "/v1/files") {
    if (request.method == "POST") return upload_batch_file(store, request, options);
    boost::json::array data;
    for (const auto& f : store.files())
      data.push_back(boost::json::object{{"id", f.id},
                                         {"object", "file"},
                                         {"filename", f.filename},
                                         {"purpose", f.purpose},
                                         {"created_at", f.created_unix}});
    return batch_json_reply(boost::json::object{{"object", "list"}, {"data", std::move(data)}});
  }
  std::string id(path.substr(std::string_view("/v1/files/").size()));
  const bool content = id.ends_with("/content");
  if (content) id.resize(id.size() - std::string_view("/content").size());
  if (request.method == "DELETE") {
    if (!store.remove_file(id)) return batch_not_found(ApiFlavor::openai, fmt::format("No such File object: {}", id));
    return batch_json_reply(boost::json::object{{"id", id}, {"object", "file"}, {"deleted", true}});
  }
  const auto file = store.file(id);
  if (!file) return batch_not_found(ApiFlavor::openai, fmt::format("No such File object: {}", id));
  if (!content)
    return batch_json_reply(boost::json::object{{"id", file->id},
                                                {"object", "file"},
                                                {"filename", file->filename},
                                                {"purpose", file->purpose},
                                                {"bytes", file->content.size()}});
  ApiReply reply;
  reply.body = file->content;
  reply.headers.emplace_back("content-type", "application/jsonl");
  return reply;
}

/// GET, list and cancel, shared by both APIs: `prefix` is the collection's path.
ApiReply batches_route(BatchStore& store, const ApiRequest& request, ApiFlavor flavor, std::string_view prefix,
                       std::string_view results_base) {
  const std::string_view path = request.path;
  if (path == prefix) {
    if (request.method == "GET") {
      std::string after = batch_query_value(request.target, flavor == ApiFlavor::openai ? "after" : "after_id");
      return batch_json_reply(store.list(flavor, after, batch_query_limit(request.target), results_base));
    }
    auto parsed = parse_json_object(request.body);
    if (auto* problem = std::get_if<std::string>(&parsed)) return invalid_request(flavor, *problem);
    const auto& body = std::get<boost::json::object>(parsed);
    auto created = flavor == ApiFlavor::openai
                       ? store.create_openai(body)
                       : store.create_anthropic(body, request.header("anthropic-version").value_or("2023-06-01"));
    if (auto* error = std::get_if<ApiReply>(&created)) return std::move(*error);
    return batch_json_reply(std::get<boost::json::object>(created));
  }
  std::string id(path.substr(prefix.size() + 1));
  if (id.ends_with("/cancel") && request.method == "POST") {
    id.resize(id.size() - std::string_view("/cancel").size());
    if (auto batch = store.cancel(id, results_base)) return batch_json_reply(*batch);
  } else if (id.ends_with("/results") && flavor == ApiFlavor::anthropic) {
    id.resize(id.size() - std::string_view("/results").size());
    if (auto results = store.anthropic_results(id)) {
      ApiReply reply;
      reply.body = std::move(*results);
      reply.headers.emplace_back("content-type", "application/binary");
      return reply;
    }
  } else if (request.method == "GET") {
    if (auto batch = store.get(id, results_base)) return batch_json_reply(*batch);
  }
  return batch_not_found(flavor, fmt::format("No such batch: {}", id));
}

}  // namespace

std::optional<ApiFlavor> batch_route_flavor(std::string_view path) {
  if (path == "/v1/messages/batches" || path.starts_with("/v1/messages/batches/")) return ApiFlavor::anthropic;
  if (path == "/v1/files" || path.starts_with("/v1/files/") || path == "/v1/batches" ||
      path.starts_with("/v1/batches/"))
    return ApiFlavor::openai;
  return std::nullopt;
}

ApiReply handle_batch_route(BatchStore& store, const ApiRequest& request, const MockOptions& options) {
  const std::string results_base = "http://" + std::string(request.header("host").value_or("127.0.0.1"));
  if (request.path.starts_with("/v1/files")) return files_route(store, request, options);
  if (request.path.starts_with("/v1/batches"))
    return batches_route(store, request, ApiFlavor::openai, "/v1/batches", {});
  return batches_route(store, request, ApiFlavor::anthropic, "/v1/messages/batches", results_base);
}

}  // namespace flowbatch::mock
