#pragma once
// An obedient model answering packed prompts (see pack_format.h), with the faults real models
// show injected on purpose: an item left out, one answered twice, an id made up, the results out
// of order, the answer cut at max_tokens. Both simulated providers use it (the in-process `mock`
// and flowbatch-mock), so every rule of splitting an answer back can be tested.
#include <boost/json/value.hpp>

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

namespace flowbatch::pack {

/// Each a probability per answer, in [0, 1].
struct PackFaults {
  double drop = 0;       ///< one result left out
  double duplicate = 0;  ///< one input answered twice (the second answer a wrong one)
  double foreign = 0;    ///< a result for an id that was not asked
  double shuffle = 0;    ///< results in another order than the inputs
  double cut = 0;        ///< the answer cut short, as at max_tokens
};

struct PackedReply {
  std::string text;
  bool cut = false;
};

/// The answer to a packed user message; nothing when it is not one. `answer_of(input)` is the
/// model's answer to one input (text, or a JSON value when outputs are JSON); `roll(n)` a
/// deterministic number in [0, 1) for the n-th decision; `max_chars` cuts the answer (0: none);
/// `prefill`: what the answer continues from (left out of the text).
std::optional<PackedReply> answer_packed(
    std::string_view user_text, const std::function<boost::json::value(std::string_view input, bool json)>& answer_of,
    const PackFaults& faults, const std::function<double(std::uint64_t)>& roll, std::size_t max_chars,
    std::string_view prefill = {});

}  // namespace flowbatch::pack
