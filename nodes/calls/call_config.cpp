// A call's keys: which provider and endpoint, the prompt, the answer's placement, packing, the
// response cache and batch mode, each checked against the others once, when the graph is read.
#include "nodes/calls/call_config.h"

#include <fmt/format.h>

#include "engine/core/text.h"
#include "engine/graph/plan.h"
#include "nodes/calls/batch_mode.h"
#include "nodes/calls/cost_check.h"

namespace flowbatch {
namespace {

std::optional<Endpoint> endpoint_named(std::string_view name) {
  if (name == "chat") return Endpoint::chat;
  if (name == "embeddings") return Endpoint::embeddings;
  if (name == "passthrough") return Endpoint::passthrough;
  return std::nullopt;
}

/// pack_max_items / pack_max_tokens: packing is for chat calls, and takes over response_format
/// (a pack's answer has the contract's shape; a json_schema given is the shape of each output).
void read_packing(Options& o, ParseContext& ctx, CallConfig& config) {
  const std::int64_t items = o.integer("pack_max_items");
  if (items < 1 || items > 1000) o.error("pack_max_items", "must be between 1 (no packing) and 1000");
  else config.pack_max_items = static_cast<std::size_t>(items);
  config.pack_max_tokens = o.integer("pack_max_tokens");
  if (config.pack_max_tokens < 1) o.error("pack_max_tokens", "must be at least 1");
  if (!config.packs()) return;
  if (config.endpoint != Endpoint::chat)
    o.error("pack_max_items",
            fmt::format("packs chat prompts; the {} endpoint sends {}", to_string(config.endpoint),
                        config.endpoint == Endpoint::embeddings ? "a whole batch in one request already"
                                                                : "each item's own request body"));
  config.prefill = config.provider < ctx.providers.size() && ctx.providers[config.provider].type == "anthropic";
  const boost::json::value& format = config.response_format;
  if (!format.is_null()) {
    const auto* type = format.as_object().if_contains("type");
    const auto* schema = format.as_object().if_contains("json_schema");
    if (type && *type == "json_schema" && schema && schema->is_object() && schema->as_object().contains("schema") &&
        config.placement.parse_json)
      config.output_schema = schema->as_object().at("schema");
    else if (!(type && *type == "json_object" && config.placement.parse_json))
      o.error("response_format",
              "with packing, only a json_schema (the shape of each item's answer) or json_object, "
              "with parse = \"json\"; a pack's answer has its own format (docs/packing.md)");
    config.response_format = nullptr;
  }
}

}  // namespace

std::unique_ptr<NodeConfig> parse_call(ParseContext& ctx) {
  Options& o = ctx.options;
  auto config = std::make_unique<CallConfig>();
  config->provider_name = o.string("provider");
  std::vector<std::string> names;
  bool found = false;
  for (std::size_t i = 0; i < ctx.providers.size(); ++i) {
    names.push_back(ctx.providers[i].name);
    if (ctx.providers[i].name == config->provider_name) {
      config->provider = i;
      found = true;
    }
  }
  if (!found && o.has("provider"))
    o.error("provider", fmt::format("no [providers.{}] table{}", config->provider_name,
                                    did_you_mean(config->provider_name, names)));

  const std::string prompt = o.string("prompt");
  const std::string endpoint = o.has("endpoint") ? o.string("endpoint") : (prompt.empty() ? "passthrough" : "chat");
  if (auto e = endpoint_named(endpoint)) config->endpoint = *e;  // always: the reader checked the key's choices
  if (config->endpoint != Endpoint::passthrough && prompt.empty())
    o.error("prompt", fmt::format("required for endpoint \"{}\" (e.g. prompt = \"{{{{text}}}}\")", endpoint));
  config->prompt_where = ctx.options.location("prompt");
  try {
    config->prompt = Template(prompt);
  } catch (const std::invalid_argument& e) {
    o.error("prompt", e.what());
  }
  if (found && ctx.providers[config->provider].provider &&
      !ctx.providers[config->provider].provider->supports(config->endpoint))
    o.error(o.has("endpoint") ? "endpoint" : "provider",
            fmt::format("provider \"{}\" ({}) does not support the {} endpoint", config->provider_name,
                        ctx.providers[config->provider].type, to_string(config->endpoint)));

  config->model = o.string("model");
  config->system = o.string("system");
  AnswerPlacement& placement = config->placement;
  placement.output_field_given = o.has("output_field");
  placement.output_field = placement.output_field_given
                               ? o.string("output_field")
                               : (config->endpoint == Endpoint::passthrough ? "response" : "output");
  if (placement.output_field.empty()) o.error("output_field", "must not be empty");
  if (o.has("temperature")) config->temperature = o.number("temperature");
  if (o.has("max_tokens")) {
    config->max_tokens = o.integer("max_tokens");
    if (*config->max_tokens < 1) o.error("max_tokens", "must be at least 1");
  }
  const std::string parse_mode = o.string("parse");
  placement.parse_json = parse_mode == "json";  // else "text": the reader checked the key's choices
  config->finish_reason_field = o.string("finish_reason_field");
  config->cache = o.boolean("cache");
  config->prompt_cache_key = o.string("prompt_cache_key");
  config->response_format = o.json("response_format");
  if (!config->response_format.is_null() && !config->response_format.is_object())
    o.error("response_format", "must be a table, e.g. { type = \"json_object\" }");
  read_packing(o, ctx, *config);
  config->batch = read_batch_mode(o, found ? &ctx.providers[config->provider] : nullptr);
  if (found)
    check_call_cost(
        ctx, CallCost{config->provider, config->model, config->max_tokens, config->endpoint == Endpoint::embeddings});
  return config;
}

std::vector<KeySpec> call_keys() {
  std::vector<KeySpec> keys = {
      {"provider", KeyKind::string, true, "", "the [providers.NAME] to call"},
      {"endpoint",
       KeyKind::string,
       false,
       "",
       "chat | embeddings | passthrough (default: chat with a prompt, else passthrough of the item's body)",
       {"chat", "embeddings", "passthrough"}},
      {"model", KeyKind::string, false, "", "the model to ask"},
      {"system", KeyKind::string, false, "", "the system prompt, shared by every item"},
      {"prompt", KeyKind::string, false, "", "the user prompt, templated from item fields: \"{{text}}\""},
      {"output_field", KeyKind::string, false, "", "where the answer goes (default: output; passthrough: response)"},
      {"temperature", KeyKind::number, false, "", "sampling temperature"},
      {"max_tokens", KeyKind::integer, false, "", "the most output tokens per answer"},
      {"parse", KeyKind::string, false, "text", "text | json: parse the answer as JSON into fields", {"text", "json"}},
      {"response_format", KeyKind::any, false, "", "OpenAI response_format table (JSON mode, JSON schema)"},
      {"cache", KeyKind::boolean, false, "false",
       "answer requests asked before (by any run or graph sharing pipeline.cache) from the lasting response cache"},
      {"pack_max_items", KeyKind::integer, false, "1",
       "pack up to this many items into one chat request, sharing the system prompt (1: no packing; docs/packing.md)"},
      {"pack_max_tokens", KeyKind::integer, false, "4000", "the most estimated tokens of items' prompts in one pack"},
      {"prompt_cache_key", KeyKind::string, false, "",
       "sent as OpenAI's prompt_cache_key: requests sharing it are routed to the same prompt cache"},
      {"finish_reason_field", KeyKind::string, false, "finish_reason",
       "where a finish reason other than \"stop\" (length, content_filter) is written (\"\": nowhere)"},
  };
  for (auto& key : batch_mode_keys()) keys.push_back(std::move(key));
  return keys;
}

}  // namespace flowbatch
