#include "nodes/calls/pack_simulation.h"

#include <boost/json/serialize.hpp>

#include <algorithm>

#include "nodes/calls/pack_format.h"

namespace flowbatch::pack {

std::optional<PackedReply> answer_packed(std::string_view user_text,
                                         const std::function<boost::json::value(std::string_view, bool)>& answer_of,
                                         const PackFaults& faults, const std::function<double(std::uint64_t)>& roll,
                                         std::size_t max_chars, std::string_view prefill) {
  auto inputs = read_inputs(user_text);
  if (!inputs) return std::nullopt;
  const bool json = asks_for_json_outputs(user_text);
  boost::json::array results;
  for (const auto& in : *inputs)
    results.push_back(boost::json::object{{"id", in.id}, {"output", answer_of(in.input, json)}});

  auto pick = [&](std::uint64_t n) { return static_cast<std::size_t>(roll(n) * static_cast<double>(results.size())); };
  // Dropped first: a doubled answer keeps its right half, so every id answered once is answered
  // rightly (a wrong answer under the right id alone is what no format can catch).
  if (!results.empty() && roll(5) < faults.drop) results.erase(results.begin() + static_cast<std::ptrdiff_t>(pick(6)));
  if (!results.empty() && roll(1) < faults.shuffle) {
    for (std::size_t i = results.size() - 1; i > 0; --i)  // Fisher-Yates, from the dice
      std::swap(results[i], results[static_cast<std::size_t>(roll(100 + i) * static_cast<double>(i + 1))]);
  }
  if (!results.empty() && roll(2) < faults.duplicate) {
    boost::json::object twice = results[pick(3)].as_object();
    twice["output"] = answer_of("a different input altogether", json);
    results.push_back(std::move(twice));
  }
  if (roll(4) < faults.foreign)
    results.push_back(boost::json::object{{"id", "not-asked-" + std::to_string(results.size())},
                                          {"output", answer_of("an input nobody asked about", json)}});

  PackedReply reply;
  // Written the way kPrefill begins, so an answer continuing from the prefill is this one.
  reply.text = "{\"results\": " + boost::json::serialize(results) + "}";
  std::size_t limit = max_chars;
  if (roll(7) < faults.cut) limit = limit == 0 ? reply.text.size() / 2 : std::min(limit, reply.text.size() / 2);
  if (limit != 0 && reply.text.size() > limit) {
    reply.text.resize(limit);
    reply.cut = true;
  }
  if (!prefill.empty() && reply.text.compare(0, prefill.size(), prefill) == 0) reply.text.erase(0, prefill.size());
  return reply;
}

}  // namespace flowbatch::pack
