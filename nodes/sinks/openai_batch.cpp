// type = "openai_batch": writes OpenAI Batch API output lines, so a job run in real time leaves
// the same file a Batch API job would.
#include "nodes/sinks/openai_batch.h"

#include <boost/json.hpp>

#include "engine/core/hash.h"
#include "engine/core/paths.h"
#include "nodes/kinds.h"
#include "nodes/sinks/item_json.h"

namespace flowbatch {
namespace {

std::string_view custom_id_of(const Item& item) {
  if (const auto* v = item.find("custom_id"); v && v->is_string()) return v->get_string();
  return item.id;
}

/// `{"id":"batch_req_…","custom_id":…,` — a stable per-request id in the Batch API's shape, from
/// the custom_id, then the custom_id.
void open_line(std::string_view custom_id, std::string& out) {
  out += R"({"id":"batch_req_)";
  out += hex16(stable_hash(custom_id, 0xba7c4));
  out += R"(","custom_id":)";
  append_json_string(custom_id, out);
  out += ',';
}

class OpenAiBatchEncoder final : public RecordEncoder {
 public:
  explicit OpenAiBatchEncoder(std::string response_field) : response_field_(std::move(response_field)) {}
  void encode(const Item& item, std::string& out) const override {
    append_openai_batch_line(item, response_field_, out);
    out += '\n';
  }

 private:
  std::string response_field_;
};

class OpenAiBatchSink final : public Sink {
 public:
  OpenAiBatchSink(std::filesystem::path path, std::string response_field)
      : path_(std::move(path)), encoder_(std::make_shared<OpenAiBatchEncoder>(std::move(response_field))) {}
  std::unique_ptr<SinkWriter> open(std::uint64_t resume_at) override {
    return open_file_writer(path_, encoder_, resume_at);
  }
  std::string describe() const override { return display_path(path_); }

 private:
  std::filesystem::path path_;
  std::shared_ptr<const RecordEncoder> encoder_;
};

}  // namespace

// Both write the line member by member: copying the response into a line object first cost a
// deep copy of every answer (bench_http: a third of the allocations per request).
void append_openai_batch_line(const Item& item, std::string_view response_field, std::string& out) {
  open_line(custom_id_of(item), out);
  const auto* response = item.find(response_field);
  if (response && response->is_object()) {
    out += R"("response":)";
    append_json(*response, out);
    out += R"(,"error":null})";
    return;
  }
  out += R"x("response":null,"error":{"code":"no_response","message":"the item reached the sink without a )x"
         R"x(response (is it after a passthrough call?)"}})x";
}

void append_openai_batch_error_line(const Item& item, std::string& out) {
  open_line(custom_id_of(item), out);
  const std::string cls(item.failure ? to_string(item.failure->error_class) : "unknown");
  const std::string message = item.failure ? item.failure->message : "unknown failure";
  boost::json::value response = nullptr, error = nullptr;
  if (item.failure && item.failure->http_status > 0) {
    response = boost::json::object{
        {"status_code", item.failure->http_status},
        {"request_id", item.failure->request_id},
        {"body",
         boost::json::object{{"error", boost::json::object{{"message", message}, {"type", cls}, {"code", nullptr}}}}}};
  } else {
    error = boost::json::object{{"code", cls}, {"message", message}};
  }
  out += R"("response":)";
  append_json(response, out);
  out += R"(,"error":)";
  append_json(error, out);
  out += '}';
}

void register_openai_batch_sink(Registry& registry) {
  registry.add(SinkType{
      "openai_batch",
      "OpenAI Batch API output lines: {id, custom_id, response: {status_code, request_id, body}, error}",
      {{"path", KeyKind::path, true, "", "the output file"},
       {"response_field", KeyKind::string, false, "response",
        "the item field holding the response (a passthrough call's output_field)"}},
      [](Options& o) -> std::unique_ptr<Sink> {
        return std::make_unique<OpenAiBatchSink>(o.path("path"), o.string("response_field"));
      },
  });
}

}  // namespace flowbatch
