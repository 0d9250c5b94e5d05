// type = "openai_batch": writes OpenAI Batch API output lines, so a job run in real time leaves
// the same file a Batch API job would.
#include "nodes/sinks/openai_batch.h"

#include <boost/json.hpp>

#include "engine/core/hash.h"
#include "engine/core/paths.h"
#include "nodes/kinds.h"

namespace flowbatch {
namespace {

std::string custom_id_of(const Item& item) {
  if (const auto* v = item.find("custom_id"); v && v->is_string()) return std::string(v->get_string());
  return item.id;
}

/// A stable per-request id in the Batch API's shape ("batch_req_...").
std::string batch_request_id(const std::string& custom_id) {
  return "batch_req_" + hex16(stable_hash(custom_id, 0xba7c4));
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

void append_openai_batch_line(const Item& item, std::string_view response_field, std::string& out) {
  const std::string custom_id = custom_id_of(item);
  boost::json::object line{{"id", batch_request_id(custom_id)}, {"custom_id", custom_id}};
  const auto* response = item.find(response_field);
  if (response && response->is_object()) {
    line["response"] = *response;
    line["error"] = nullptr;
  } else {
    line["response"] = nullptr;
    line["error"] = boost::json::object{
        {"code", "no_response"},
        {"message", "the item reached the sink without a response (is it after a passthrough call?)"}};
  }
  out += boost::json::serialize(line);
}

void append_openai_batch_error_line(const Item& item, std::string& out) {
  const std::string custom_id = custom_id_of(item);
  boost::json::object line{{"id", batch_request_id(custom_id)}, {"custom_id", custom_id}};
  const std::string cls(item.failure ? to_string(item.failure->error_class) : "unknown");
  const std::string message = item.failure ? item.failure->message : "unknown failure";
  if (item.failure && item.failure->http_status > 0) {
    line["response"] = boost::json::object{
        {"status_code", item.failure->http_status},
        {"request_id", item.failure->request_id},
        {"body",
         boost::json::object{{"error", boost::json::object{{"message", message}, {"type", cls}, {"code", nullptr}}}}}};
    line["error"] = nullptr;
  } else {
    line["response"] = nullptr;
    line["error"] = boost::json::object{{"code", cls}, {"message", message}};
  }
  out += boost::json::serialize(line);
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
