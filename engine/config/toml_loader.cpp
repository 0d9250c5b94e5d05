#include "engine/config/toml_loader.h"

#include "engine/core/text.h"

#include <fmt/format.h>

#include <toml++/toml.h>
#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>

#include "engine/core/text.h"

namespace flowbatch {
namespace {

Location location_of(const toml::source_region& region, const std::string& display_name) {
  return Location{display_name, static_cast<std::uint32_t>(region.begin.line),
                  static_cast<std::uint32_t>(region.begin.column)};
}

std::string child_path(const std::string& parent, const std::string& key) {
  return parent.empty() ? key : parent + "." + key;
}

/// How deep tables and arrays may nest. A graph needs a few levels ([providers.p.headers]);
/// each level is a stack frame here and in every later walk over the tree, so a file nested
/// thousands deep ([a.a.a...]) would overflow the stack instead of getting an error.
constexpr int kMaxDepth = 64;

struct Converter {
  const std::string& display_name;
  const std::filesystem::path& base_dir;
  Diagnostics& diagnostics;
  bool expand_variables = true;

  ConfigValue convert(const toml::node& node, const std::string& path, int depth = 0) {
    ConfigValue v;
    v.where = location_of(node.source(), display_name);
    v.base_dir = base_dir;
    if (depth > kMaxDepth && (node.is_table() || node.is_array())) {
      diagnostics.error(v.where, path, fmt::format("nested more than {} levels deep", kMaxDepth));
      return v;  // an empty table: what it holds is not read
    }
    switch (node.type()) {
      case toml::node_type::table:
        v.kind = ConfigValue::Kind::table;
        for (const auto& [key, child] : *node.as_table()) {
          std::string k(key.str());
          v.entries.push_back(
              ConfigEntry{k, location_of(key.source(), display_name), convert(child, child_path(path, k), depth + 1)});
        }
        break;
      case toml::node_type::array: {
        v.kind = ConfigValue::Kind::array;
        std::size_t i = 0;
        for (const auto& child : *node.as_array())
          v.items.push_back(convert(child, fmt::format("{}[{}]", path, i++), depth + 1));
        break;
      }
      case toml::node_type::string:
        v.kind = ConfigValue::Kind::string;
        v.text = node.as_string()->get();
        if (expand_variables) v.text = expand_env(v.text, v.where, path, diagnostics, &v.expanded);
        break;
      case toml::node_type::integer:
        v.kind = ConfigValue::Kind::integer;
        v.integer = node.as_integer()->get();
        break;
      case toml::node_type::floating_point:
        v.kind = ConfigValue::Kind::floating;
        v.floating = node.as_floating_point()->get();
        break;
      case toml::node_type::boolean:
        v.kind = ConfigValue::Kind::boolean;
        v.boolean = node.as_boolean()->get();
        break;
      default: {
        v.kind = ConfigValue::Kind::datetime;
        std::ostringstream os;
        if (auto* d = node.as_date()) os << d->get();
        else if (auto* t = node.as_time()) os << t->get();
        else if (auto* dt = node.as_date_time()) os << dt->get();
        v.text = os.str();
        break;
      }
    }
    return v;
  }
};

/// toml++ (3.3) itself walks nested tables recursively while it parses, so a table header or
/// dotted key of some 30,000 parts ([a.a.a...], a.a.a... = 1) overflows its stack before
/// kMaxDepth can apply. Such keys have one shape, a long run of dots before the "]" of a header
/// or the "=" of a key, which this looks for line by line before parsing. It can only misjudge
/// a line of a multi-line string shaped like that, which is no line anyone writes.
constexpr std::size_t kMaxKeyDots = 1000;

std::optional<Location> too_deep_key(std::string_view text, const std::string& display_name) {
  std::uint32_t line_number = 0;
  std::size_t start = 0;
  while (start <= text.size()) {
    const std::size_t end = std::min(text.find('\n', start), text.size());
    const std::string_view line = trim(text.substr(start, end - start));
    ++line_number;
    start = end + 1;
    const std::size_t key_end = line.starts_with('[') ? line.find(']') : line.find('=');
    if (key_end == std::string_view::npos && !line.starts_with('[')) continue;  // not a key's line
    const std::string_view key = line.substr(0, key_end);
    if (static_cast<std::size_t>(std::count(key.begin(), key.end(), '.')) > kMaxKeyDots)
      return Location{display_name, line_number, 1};
  }
  return std::nullopt;
}

ConfigValue parse_text(const std::string& text, const std::string& display_name, const std::filesystem::path& base_dir,
                       Diagnostics& diagnostics) {
  if (auto where = too_deep_key(text, display_name)) {
    diagnostics.error(
        *where, "",
        fmt::format("a key of more than {} dotted parts; tables nest at most {} levels deep", kMaxKeyDots, kMaxDepth));
    ConfigValue empty;
    empty.base_dir = base_dir;
    return empty;
  }
  try {
    toml::table table = toml::parse(std::string_view(text), std::string_view(display_name));
    Converter converter{display_name, base_dir, diagnostics};
    return converter.convert(table, "");
  } catch (const toml::parse_error& e) {
    diagnostics.error(location_of(e.source(), display_name), "", fmt::format("invalid TOML: {}", e.description()));
    ConfigValue empty;
    empty.base_dir = base_dir;
    return empty;
  }
}

}  // namespace

std::string expand_env(const std::string& text, const Location& where, const std::string& subject,
                       Diagnostics& diagnostics, std::vector<TextSpan>* expanded) {
  std::string out;
  out.reserve(text.size());
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text.compare(i, 3, "$${") == 0) {  // escaped: a literal "${"
      out += "${";
      i += 2;
      continue;
    }
    if (text.compare(i, 2, "${") != 0) {
      out += text[i];
      continue;
    }
    const std::size_t close = text.find('}', i + 2);
    if (close == std::string::npos) {
      diagnostics.error(where, subject, "unterminated \"${\" in value (write \"$${\" for a literal)");
      return text;
    }
    std::string inner = text.substr(i + 2, close - i - 2);
    std::string name = inner;
    std::optional<std::string> fallback;
    if (auto dash = inner.find(":-"); dash != std::string::npos) {
      name = inner.substr(0, dash);
      fallback = inner.substr(dash + 2);
    }
    const char* value = name.empty() ? nullptr : std::getenv(name.c_str());
    if (value && *value) {
      if (expanded) expanded->push_back(TextSpan{out.size(), std::strlen(value)});
      out += value;
    } else if (fallback) out += *fallback;
    else
      diagnostics.error(where, subject,
                        fmt::format("environment variable {} is not set (write ${{{}:-default}} to give a default)",
                                    name.empty() ? "\"\"" : name, name));
    i = close;
  }
  return out;
}

ConfigValue load_toml_text(const std::string& text, const std::string& display_name,
                           const std::filesystem::path& base_dir, Diagnostics& diagnostics) {
  return parse_text(text, display_name, base_dir, diagnostics);
}

ConfigValue load_toml_file(const std::filesystem::path& file, Diagnostics& diagnostics) {
  std::ifstream in(file, std::ios::binary);
  if (!in) {
    diagnostics.error(Location{file.string(), 0, 0}, "", "cannot read the graph file");
    return ConfigValue{};
  }
  std::stringstream buffer;
  buffer << in.rdbuf();
  std::string text = buffer.str();
  if (text.rfind(kUtf8Bom, 0) == 0) text.erase(0, kUtf8Bom.size());  // editors on Windows write one
  std::filesystem::path base = file.parent_path();
  if (base.empty()) base = ".";
  return parse_text(text, file.string(), std::filesystem::absolute(base), diagnostics);
}

void apply_override(ConfigValue& root, const std::string& assignment, Diagnostics& diagnostics) {
  const Location where{"--set " + assignment, 0, 0};
  const auto eq = assignment.find('=');
  if (eq == std::string::npos || eq == 0) {
    diagnostics.error(where, "", "expected --set key.path=value");
    return;
  }
  const std::string key_path(trim(std::string_view(assignment).substr(0, eq)));
  const std::string raw = assignment.substr(eq + 1);
  std::vector<std::string> keys = split(key_path, '.');
  for (const auto& k : keys) {
    if (k.empty()) {
      diagnostics.error(where, key_path, "empty key segment in --set path");
      return;
    }
  }
  if (keys.size() > static_cast<std::size_t>(kMaxDepth)) {
    diagnostics.error(where, key_path, fmt::format("nested more than {} levels deep", kMaxDepth));
    return;
  }

  // Read the value as TOML when it is one (numbers, booleans, arrays, quoted strings); otherwise
  // take it verbatim, so `--set sources.x.path=data/other.jsonl` needs no quoting.
  ConfigValue value;
  const std::filesystem::path cwd = std::filesystem::current_path();
  try {
    const std::string document = "v = " + raw;
    toml::table t = toml::parse(std::string_view(document), std::string_view("--set"));
    Converter converter{where.file, cwd, diagnostics, /*expand_variables=*/false};
    value = converter.convert(*t.get("v"), key_path);
  } catch (const toml::parse_error&) {
    value.kind = ConfigValue::Kind::string;
    value.text = raw;
  }
  value.where = where;
  value.base_dir = cwd;

  ConfigValue* table = &root;
  for (std::size_t i = 0; i + 1 < keys.size(); ++i) {
    ConfigValue* next = table->find(keys[i]);
    if (!next) {
      ConfigValue fresh;
      fresh.where = where;
      fresh.base_dir = cwd;
      next = &table->set(keys[i], std::move(fresh), where);
    }
    if (!next->is_table()) {
      diagnostics.error(where, key_path,
                        fmt::format("cannot set a key inside \"{}\", which is a {}", keys[i], next->kind_name()));
      return;
    }
    table = next;
  }
  table->set(keys.back(), std::move(value), where);
}

}  // namespace flowbatch
