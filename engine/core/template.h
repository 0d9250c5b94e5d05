#pragma once
#include <boost/json/object.hpp>
#include <string>
#include <string_view>
#include <vector>

namespace flowbatch {

/// A text template with `{{field}}` placeholders, compiled once. `{{a.b}}` reaches into nested
/// objects. Strings are inserted as is, other values as JSON; a missing field renders empty.
class Template {
 public:
  Template() = default;
  /// Throws std::invalid_argument with the reason (an unclosed "{{", an empty name).
  explicit Template(std::string_view text);

  std::string render(const boost::json::object& fields) const;
  /// Appends the rendering to `out` (no allocation when `out` has room).
  void render_to(const boost::json::object& fields, std::string& out) const;
  bool empty() const { return parts_.empty(); }
  /// The field names it uses, in order of first use.
  std::vector<std::string> fields() const;

 private:
  struct Part {
    bool is_field = false;
    std::string text;                // literal text, or the field path as written
    std::vector<std::string> path;   // field path segments
  };
  std::vector<Part> parts_;
};

/// The value at a dotted path ("a.b.c") in `fields`, or nullptr.
const boost::json::value* find_path(const boost::json::object& fields, const std::vector<std::string>& path);

/// A value as prompt text: strings as is, everything else as JSON.
void append_as_text(const boost::json::value& value, std::string& out);

}  // namespace flowbatch
