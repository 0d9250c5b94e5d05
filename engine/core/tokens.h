#pragma once
// The one token estimate of flowbatch, used wherever a count is needed before a provider gives
// the real one (rate limits' token budgets, batch and pack sizes): about four characters a token,
// rounded up. Rough, and the same everywhere.
#include <boost/json/value.hpp>

#include <cstddef>
#include <cstdint>

namespace flowbatch {

constexpr std::int64_t estimate_tokens(std::size_t chars) { return static_cast<std::int64_t>((chars + 3) / 4); }

/// About how many characters `value` takes as JSON text, without writing it out: every string's
/// and key's length, plus a little for punctuation and numbers.
inline std::size_t approximate_json_chars(const boost::json::value& value) {
  switch (value.kind()) {
    case boost::json::kind::string: return value.get_string().size() + 2;
    case boost::json::kind::array: {
      std::size_t n = 2;
      for (const auto& v : value.get_array()) n += approximate_json_chars(v) + 1;
      return n;
    }
    case boost::json::kind::object: {
      std::size_t n = 2;
      for (const auto& kv : value.get_object()) n += kv.key().size() + 4 + approximate_json_chars(kv.value());
      return n;
    }
    default: return 8;
  }
}

}  // namespace flowbatch
