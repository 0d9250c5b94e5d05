#include "nodes/calls/answer.h"

#include <fmt/format.h>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

#include "engine/core/text.h"

namespace flowbatch {
namespace {

Failure parse_failure(std::string message) { return make_failure(ErrorClass::parse, std::move(message)); }

/// Merges a JSON answer's fields into the item. An answer never overwrites what the item already
/// holds (its id, its input, earlier answers): a key it repeats with the same value is fine
/// (models echo ids); one with another value fails the item, with the answer in the message,
/// rather than lose either value.
std::optional<Failure> merge_answer(Item& item, boost::json::object& answer) {
  for (const auto& kv : answer) {
    const boost::json::value* own = item.find(kv.key());
    if (!own || *own == kv.value()) continue;
    std::string shown = boost::json::serialize(answer);
    if (shown.size() > 300) shown = shown.substr(0, 300) + "...";
    return parse_failure(fmt::format(
        "the answer's field \"{}\" ({}) would overwrite the item's own ({}); the item keeps its fields: set "
        "output_field to keep the answer apart. The answer: {}",
        std::string_view(kv.key()), boost::json::serialize(kv.value()), boost::json::serialize(*own), shown));
  }
  for (auto& kv : answer)
    if (!item.find(kv.key())) item.set(kv.key(), std::move(kv.value()));
  return std::nullopt;
}

}  // namespace

std::optional<Failure> place_answer(Item& item, boost::json::value answer, const AnswerPlacement& how) {
  if (!how.parse_json) {
    item.set(how.output_field, std::move(answer));
    return std::nullopt;
  }
  const auto* text = answer.if_string();
  boost::system::error_code ec;
  boost::json::value parsed = text ? boost::json::parse(strip_code_fence(*text), ec) : std::move(answer);
  if (ec) return parse_failure(fmt::format("the model's answer is not valid JSON: {}", ec.message()));
  if (!how.output_field_given && parsed.is_object()) return merge_answer(item, parsed.get_object());
  item.set(how.output_field, std::move(parsed));
  return std::nullopt;
}

}  // namespace flowbatch
