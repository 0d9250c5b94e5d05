#pragma once
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace flowbatch {

/// Edit distance (insertions, deletions, substitutions and adjacent transpositions).
std::size_t edit_distance(std::string_view a, std::string_view b);

/// The candidate closest to `word`, when it is close enough to be a likely typo.
std::optional<std::string> closest_match(std::string_view word, const std::vector<std::string>& candidates);

/// " (did you mean \"x\"?)" or "" — ready to append to a message.
std::string did_you_mean(std::string_view word, const std::vector<std::string>& candidates);

std::string join(const std::vector<std::string>& parts, std::string_view separator);

/// Splits on `separator`, keeping empty parts.
std::vector<std::string> split(std::string_view text, char separator);

/// Leading and trailing ASCII white space removed.
std::string_view trim(std::string_view text);

}  // namespace flowbatch
