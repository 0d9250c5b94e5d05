#pragma once
#include <boost/json/object.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace flowbatch {

/// What a template made of an item: the text, or the field it names that the item lacks.
struct Rendering {
  std::string text;
  std::optional<std::string> missing;  ///< set when a placeholder names no field of the item
  bool ok() const { return !missing; }
};

/// How a template's plain `{{field}}` placeholders insert their value: as is (prompts, bodies),
/// or percent-encoded (URLs, where item data must not add path segments, a query or a host).
enum class Escaping { none, url };

/// A text template with `{{field}}` placeholders, compiled once. `{{a.b}}` reaches into nested
/// objects. Strings are inserted as is, numbers, booleans, arrays and objects as JSON, null as
/// nothing. A field the item does not have is not rendered as empty: sending (and paying for) a
/// prompt with a hole in it is never what was meant, so the rendering says which field is missing.
///
/// Two explicit forms override the template's escaping: `{{raw:field}}` inserts the value as is
/// even in a URL, and `{{json:field}}` inserts it as a JSON value (a string with its quotes and
/// escapes), so item text cannot break out of a JSON document.
class Template {
 public:
  enum class Form { plain, raw, json };
  struct Part {
    bool is_field = false;
    std::string text;               // literal text, or the field path as written (without a form)
    std::vector<std::string> path;  // field path segments
    Form form = Form::plain;
  };

  Template() = default;
  /// Throws std::invalid_argument with the reason (an unclosed "{{", an empty name).
  explicit Template(std::string_view text, Escaping plain = Escaping::none);

  Rendering render(const boost::json::object& fields) const;
  /// Appends the rendering to `out` (no allocation when `out` has room); returns the first
  /// missing field, after which `out` holds an unusable partial rendering.
  std::optional<std::string> render_to(const boost::json::object& fields, std::string& out) const;
  bool empty() const { return parts_.empty(); }
  /// The field names it uses, in order of first use.
  std::vector<std::string> fields() const;
  /// Literal text and placeholders, in order.
  const std::vector<Part>& parts() const { return parts_; }

 private:
  void append_field(const Part& part, const boost::json::value& value, std::string& out) const;

  std::vector<Part> parts_;
  Escaping plain_ = Escaping::none;
};

/// The value at a dotted path ("a.b.c") in `fields`, or nullptr.
const boost::json::value* find_path(const boost::json::object& fields, const std::vector<std::string>& path);

/// A value as prompt text: strings as is, everything else as JSON.
void append_as_text(const boost::json::value& value, std::string& out);

}  // namespace flowbatch
