#pragma once
// Putting a model's answer on its item: as text, as parsed JSON merged into the item's fields, or
// under output_field — the same for an answer of its own and for one split out of a pack.
#include <optional>
#include <string>

#include "flowbatch/item.h"

namespace flowbatch {

struct AnswerPlacement {
  std::string output_field;         ///< where the answer goes
  bool output_field_given = false;  ///< false: a JSON object answer is merged into the item instead
  bool parse_json = false;          ///< parse = "json"
};

/// Puts `answer` (a string, or already a JSON value) on `item`; the failure when it cannot be
/// used (class `parse`: not JSON when JSON was asked for, or a field it would overwrite).
std::optional<Failure> place_answer(Item& item, boost::json::value answer, const AnswerPlacement& how);

}  // namespace flowbatch
