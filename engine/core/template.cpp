#include "engine/core/template.h"

#include <boost/json/serialize.hpp>

#include <stdexcept>

#include "engine/core/text.h"
#include "engine/core/url.h"

namespace flowbatch {
namespace {

/// A placeholder's form and field: "raw:a.b" → raw, "a.b". Only the two known prefixes count, so
/// a field name with another colon in it still works.
std::pair<Template::Form, std::string> read_placeholder(std::string_view name, std::size_t at) {
  Template::Form form = Template::Form::plain;
  if (name.starts_with("raw:")) form = Template::Form::raw;
  else if (name.starts_with("json:")) form = Template::Form::json;
  if (form != Template::Form::plain) name = trim(name.substr(name.find(':') + 1));
  if (name.empty()) throw std::invalid_argument("empty \"{{}}\" at character " + std::to_string(at));
  return {form, std::string(name)};
}

}  // namespace

Template::Template(std::string_view text, Escaping plain) : plain_(plain) {
  std::size_t pos = 0;
  while (pos < text.size()) {
    const std::size_t open = text.find("{{", pos);
    if (open == std::string_view::npos) {
      parts_.push_back(Part{false, std::string(text.substr(pos)), {}});
      break;
    }
    if (open > pos) parts_.push_back(Part{false, std::string(text.substr(pos, open - pos)), {}});
    const std::size_t close = text.find("}}", open + 2);
    if (close == std::string_view::npos)
      throw std::invalid_argument("unclosed \"{{\" at character " + std::to_string(open + 1));
    auto [form, name] = read_placeholder(trim(text.substr(open + 2, close - open - 2)), open + 1);
    parts_.push_back(Part{true, name, split(name, '.'), form});
    pos = close + 2;
  }
}

const boost::json::value* find_path(const boost::json::object& fields, const std::vector<std::string>& path) {
  const boost::json::object* object = &fields;
  const boost::json::value* value = nullptr;
  for (const auto& segment : path) {
    if (!object) return nullptr;
    value = object->if_contains(segment);
    if (!value) return nullptr;
    object = value->if_object();
  }
  return value;
}

void append_as_text(const boost::json::value& value, std::string& out) {
  if (const auto* s = value.if_string()) out.append(s->data(), s->size());
  else if (!value.is_null()) out += boost::json::serialize(value);
}

std::optional<std::string> Template::render_to(const boost::json::object& fields, std::string& out) const {
  for (const Part& part : parts_) {
    if (!part.is_field) {
      out += part.text;
      continue;
    }
    const boost::json::value* v = find_path(fields, part.path);
    if (!v) return part.text;
    append_field(part, *v, out);
  }
  return std::nullopt;
}

void Template::append_field(const Part& part, const boost::json::value& value, std::string& out) const {
  if (part.form == Form::json) {
    out += boost::json::serialize(value);
  } else if (part.form == Form::plain && plain_ == Escaping::url) {
    std::string text;
    append_as_text(value, text);
    append_percent_encoded(text, out);
  } else {
    append_as_text(value, out);
  }
}

Rendering Template::render(const boost::json::object& fields) const {
  Rendering r;
  r.missing = render_to(fields, r.text);
  return r;
}

std::vector<std::string> Template::fields() const {
  std::vector<std::string> out;
  for (const Part& p : parts_) {
    if (!p.is_field) continue;
    bool seen = false;
    for (const auto& f : out) seen = seen || f == p.text;
    if (!seen) out.push_back(p.text);
  }
  return out;
}

}  // namespace flowbatch
