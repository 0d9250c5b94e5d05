#include "nodes/calls/pack_format.h"

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

#include "engine/core/text.h"

namespace flowbatch::pack {
namespace {

constexpr std::string_view kInstruction =
    "You are given several inputs at once. Answer each input on its own, exactly as if it were the only one: an "
    "answer must never depend on the other inputs or on the order they come in.\n"
    "Reply with one JSON object and nothing else: {\"results\": [{\"id\": \"<the input's id>\", \"output\": <your "
    "answer>}]}, with exactly one result for every input, its id copied exactly as given.\n";
constexpr std::string_view kTextOutputs = "Each output is a JSON string holding your answer to that input.";
constexpr std::string_view kJsonOutputs = "Each output is your answer to that input as a JSON value, not a string.";

}  // namespace

std::string user_message(const std::vector<Input>& inputs, bool json_outputs) {
  boost::json::array list;
  list.reserve(inputs.size());
  for (const auto& in : inputs) list.push_back(boost::json::object{{"id", in.id}, {"input", in.input}});
  std::string text(kInstruction);
  text += json_outputs ? kJsonOutputs : kTextOutputs;
  text += kInputsMarker;
  text += boost::json::serialize(list);
  return text;
}

boost::json::value response_format(bool json_outputs, const boost::json::value& output_schema) {
  if (json_outputs && output_schema.is_null()) return boost::json::object{{"type", "json_object"}};
  const boost::json::value output =
      json_outputs ? output_schema : boost::json::value(boost::json::object{{"type", "string"}});
  boost::json::object result{
      {"type", "object"},
      {"properties", boost::json::object{{"id", boost::json::object{{"type", "string"}}}, {"output", output}}},
      {"required", boost::json::array{"id", "output"}},
      {"additionalProperties", false}};
  boost::json::object schema{
      {"type", "object"},
      {"properties",
       boost::json::object{{"results", boost::json::object{{"type", "array"}, {"items", std::move(result)}}}}},
      {"required", boost::json::array{"results"}},
      {"additionalProperties", false}};
  return boost::json::object{
      {"type", "json_schema"},
      {"json_schema",
       boost::json::object{{"name", "packed_results"}, {"strict", true}, {"schema", std::move(schema)}}}};
}

std::variant<std::vector<Result>, std::string> read_answer(std::string_view text, std::string_view prefill) {
  std::string whole;
  std::string_view body = strip_code_fence(text);
  if (!prefill.empty() && body.substr(0, prefill.size()) != prefill) {
    whole.reserve(prefill.size() + body.size());
    whole.append(prefill).append(body);
    body = whole;
  }
  boost::system::error_code ec;
  const boost::json::value parsed = boost::json::parse(body, ec);
  if (ec) return "the packed answer is not valid JSON: " + ec.message();
  const auto* object = parsed.if_object();
  const auto* results = object ? object->if_contains("results") : nullptr;
  if (!results || !results->is_array()) return std::string("the packed answer has no \"results\" array");
  std::vector<Result> out;
  out.reserve(results->get_array().size());
  for (const auto& entry : results->get_array()) {
    const auto* e = entry.if_object();
    if (!e) continue;
    const auto* id = e->if_contains("id");
    const auto* output = e->if_contains("output");
    if (!id || !output) continue;
    if (id->is_string()) out.push_back(Result{std::string(id->get_string()), *output});
    else if (id->is_int64()) out.push_back(Result{std::to_string(id->get_int64()), *output});  // "7" answered as 7
  }
  return out;
}

std::optional<std::vector<Input>> read_inputs(std::string_view text) {
  const auto at = text.rfind(kInputsMarker);
  if (at == std::string_view::npos) return std::nullopt;
  boost::system::error_code ec;
  const boost::json::value parsed = boost::json::parse(text.substr(at + kInputsMarker.size()), ec);
  if (ec || !parsed.is_array()) return std::nullopt;
  std::vector<Input> inputs;
  for (const auto& entry : parsed.get_array()) {
    const auto* e = entry.if_object();
    const auto* id = e ? e->if_contains("id") : nullptr;
    const auto* input = e ? e->if_contains("input") : nullptr;
    if (!id || !id->is_string() || !input || !input->is_string()) return std::nullopt;
    inputs.push_back(Input{std::string(id->get_string()), std::string(input->get_string())});
  }
  return inputs;
}

bool asks_for_json_outputs(std::string_view text) { return text.find(kJsonOutputs) != std::string_view::npos; }

}  // namespace flowbatch::pack
