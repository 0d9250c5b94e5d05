// read_extra_headers (include/flowbatch/http.h): a `headers` table of a provider or a webhook,
// checked once where the graph is read.
#include <fmt/format.h>

#include <string>
#include <string_view>
#include <vector>

#include "flowbatch/http.h"

namespace flowbatch {

std::vector<HttpHeader> read_extra_headers(Options& o) {
  std::vector<HttpHeader> out;
  const boost::json::value table = o.json("headers");
  if (table.is_null()) return out;
  if (!table.is_object()) {
    o.error("headers", "must be a table of header names and string values");
    return out;
  }
  for (const auto& kv : table.get_object()) {
    if (!kv.value().is_string()) {
      o.error("headers", fmt::format("header \"{}\" must be a string", std::string(kv.key())));
      continue;
    }
    const std::string name(kv.key()), value(kv.value().get_string());
    // A line break would end the header early and start another one: refused, as curl sends it raw.
    if ((name + value).find_first_of(std::string_view("\r\n\0", 3)) != std::string::npos ||
        name.find(':') != std::string::npos) {
      o.error("headers", fmt::format("header \"{}\" may not hold a line break or NUL (nor a colon in its name)", name));
      continue;
    }
    out.push_back({name, value});
  }
  return out;
}

}  // namespace flowbatch
