#pragma once
// The packing contract (version 1): how several items share one chat request, and how the answer
// is split back. Documented in docs/packing.md; the mocks answer by it; the cache keys of packed
// items include its version, so a new contract never serves answers made under an old one.
//
//   system:    the call's `system`, once
//   user:      kInstruction(...) + "\n\nInputs:\n" + [{"id": "<item id>", "input": "<rendered prompt>"}, ...]
//   answer:    {"results": [{"id": "<item id>", "output": <answer>}, ...]}
//
// The answer is split back by id, never by position.
#include <boost/json/value.hpp>

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

namespace flowbatch::pack {

inline constexpr int kVersion = 1;
/// Where the inputs begin in the user message (the last occurrence).
inline constexpr std::string_view kInputsMarker = "\n\nInputs:\n";
/// What an Anthropic answer is made to begin with (the assistant turn is prefilled with it).
inline constexpr std::string_view kPrefill = "{\"results\": [";

struct Input {
  std::string id;
  std::string input;
};

/// The user message of a pack. `json_outputs`: answers are JSON values (parse = "json"), else strings.
std::string user_message(const std::vector<Input>& inputs, bool json_outputs);

/// OpenAI's response_format for the answer: a strict JSON schema of {"results": [...]}, whose
/// `output` is a string, or `output_schema` when one is given (parse = "json" with a json_schema
/// response_format); JSON mode when outputs are JSON values of no given schema.
boost::json::value response_format(bool json_outputs, const boost::json::value& output_schema);

/// One result of an answer, as the model gave it.
struct Result {
  std::string id;
  boost::json::value output;
};

/// Reads an answer's text (in a ```json fence or not; `prefill` is what the answer was made to
/// begin with and so does not repeat). The problem when it is not {"results": [...]}; results
/// without a usable id are left out (their items count as unanswered).
std::variant<std::vector<Result>, std::string> read_answer(std::string_view text, std::string_view prefill = {});

// --- what a model reads (for the simulated providers) ------------------------------------------

/// The inputs of a packed user message; nothing when `text` is not one.
std::optional<std::vector<Input>> read_inputs(std::string_view text);
/// Whether a packed user message asks for JSON values as outputs.
bool asks_for_json_outputs(std::string_view text);

}  // namespace flowbatch::pack
