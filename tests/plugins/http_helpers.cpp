// A test plugin: an OpenAI-compatible chat provider written only with the published HTTP helpers
// (flowbatch/http.h, flowbatch/rate_headers.h), as a plugin author would write one. It proves the
// helpers are usable from a plugin, resolved from the flowbatch program it is loaded into.
//   provider "compat_chat"   base_url: an OpenAI-compatible server; model
#include <boost/json.hpp>

#include <flowbatch/http.h>
#include <flowbatch/plugin.h>
#include <flowbatch/rate_headers.h>

namespace {

using namespace flowbatch;

class CompatChat final : public Provider {
 public:
  CompatChat(std::string base_url, std::string model) : base_url_(std::move(base_url)), model_(std::move(model)) {}
  bool supports(Endpoint e) const override { return e == Endpoint::chat; }

  Dispatch dispatch(const CallRequest& request) override {
    boost::json::array messages;
    for (const auto& m : request.messages)
      messages.push_back(boost::json::object{{"role", m.role}, {"content", m.content}});
    HttpRequest http;
    http.url = join_url(base_url_, "/chat/completions");
    http.headers = {{"Content-Type", "application/json"}};
    http.body = boost::json::serialize(boost::json::object{{"model", model_}, {"messages", std::move(messages)}});
    return Dispatch::send(std::move(http));
  }

  CallResult parse(const CallRequest&, const HttpResponse& response) override {
    const std::string* id = response.header("x-request-id");
    const std::string request_id = id ? *id : std::string();
    boost::json::value body = parse_body(response.body);
    if (response.status < 200 || response.status >= 300)
      return with_signals(http_failure(response, body.is_null() ? nullptr : &body, request_id),
                          openai_rate_signals(response));
    const auto* text = body.is_object() ? body.as_object().if_contains("choices") : nullptr;
    if (!text || !text->is_array() || text->as_array().empty())
      return unusable_answer(response, "the answer has no choices", request_id);
    CallResult result;
    result.http_status = response.status;
    result.request_id = request_id;
    result.finish_reason = "stop";
    result.outputs.push_back(text->as_array()[0].at("message").at("content"));
    return with_signals(std::move(result), openai_rate_signals(response));
  }

 private:
  std::string base_url_;
  std::string model_;
};

}  // namespace

FLOWBATCH_PLUGIN(registry) {
  registry.add(ProviderType{"compat_chat",
                            "an OpenAI-compatible chat API, written with the published HTTP helpers",
                            {{"base_url", KeyKind::string, true, "", "the server, e.g. http://127.0.0.1:8000/v1"},
                             {"model", KeyKind::string, false, "m", "the model to ask"}},
                            [](Options& o) -> std::shared_ptr<Provider> {
                              return std::make_shared<CompatChat>(read_base_url(o), o.string("model"));
                            }});
}
