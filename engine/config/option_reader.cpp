#include "engine/config/option_reader.h"

#include <fmt/format.h>

#include <algorithm>
#include <cstdlib>
#include <stdexcept>

#include "engine/core/text.h"

namespace flowbatch {

bool value_matches(const ConfigValue& value, KeyKind kind) {
  using K = ConfigValue::Kind;
  switch (kind) {
    case KeyKind::string:
    case KeyKind::path: return value.kind == K::string;
    case KeyKind::integer: return value.kind == K::integer;
    case KeyKind::number: return value.kind == K::integer || value.kind == K::floating;
    case KeyKind::boolean: return value.kind == K::boolean;
    case KeyKind::string_list:
      return value.kind == K::array && std::all_of(value.items.begin(), value.items.end(),
                                                   [](const ConfigValue& v) { return v.kind == K::string; });
    case KeyKind::any: return true;
  }
  return false;
}

std::string_view kind_description(KeyKind kind) {
  switch (kind) {
    case KeyKind::string: return "a string";
    case KeyKind::path: return "a path (string)";
    case KeyKind::integer: return "an integer";
    case KeyKind::number: return "a number";
    case KeyKind::boolean: return "true or false";
    case KeyKind::string_list: return "an array of strings";
    case KeyKind::any: return "a value";
  }
  return "a value";
}

OptionReader::OptionReader(const ConfigValue& table, std::string subject, std::string node_name,
                           std::vector<KeySpec> schema, Context context,
                           const std::vector<std::string>& handled_elsewhere)
    : table_(table),
      subject_(std::move(subject)),
      node_name_(std::move(node_name)),
      schema_(std::move(schema)),
      context_(std::move(context)) {
  check_keys(handled_elsewhere);
}

void OptionReader::check_keys(const std::vector<std::string>& handled_elsewhere) {
  std::vector<std::string> known;
  for (const auto& k : schema_) known.push_back(k.name);
  known.insert(known.end(), handled_elsewhere.begin(), handled_elsewhere.end());

  for (const auto& e : table_.entries) {
    const KeySpec* k = spec(e.key);
    const bool elsewhere =
        std::find(handled_elsewhere.begin(), handled_elsewhere.end(), e.key) != handled_elsewhere.end();
    if (!k && !elsewhere) {
      context_.diagnostics.error(e.key_where, subject_ + "." + e.key, "unknown key" + did_you_mean(e.key, known));
      continue;
    }
    if (k && !value_matches(e.value, k->kind)) {
      context_.diagnostics.error(e.value.where, subject_ + "." + e.key,
                                 fmt::format("expected {}, found {}", kind_description(k->kind), e.value.kind_name()));
      mistyped_.push_back(e.key);
    } else if (k && k->kind == KeyKind::path && e.value.text.empty()) {
      // An empty path names no file; opening "" would fail at run time with no node named.
      context_.diagnostics.error(e.value.where, subject_ + "." + e.key, "must name a file (the path is empty)");
      mistyped_.push_back(e.key);
    } else if (k && !k->choices.empty() && !check_choices(e.value, *k)) {
      mistyped_.push_back(e.key);  // the type then reads its default and need not say it again
    }
  }
  for (const auto& k : schema_) {
    if (k.required && !table_.find(k.name))
      context_.diagnostics.error(table_.where, subject_ + "." + k.name, "missing required key");
  }
}

/// "a, b or c".
static std::string either_of(const std::vector<std::string>& choices) {
  if (choices.size() < 2) return join(choices, "");
  const std::vector<std::string> head(choices.begin(), choices.end() - 1);
  return join(head, ", ") + " or " + choices.back();
}

bool OptionReader::check_choices(const ConfigValue& value, const KeySpec& k) {
  const auto allowed = [&](const std::string& text) {
    return std::find(k.choices.begin(), k.choices.end(), text) != k.choices.end();
  };
  const std::string subject = subject_ + "." + k.name;
  if (value.kind == ConfigValue::Kind::string) {
    if (allowed(value.text)) return true;
    context_.diagnostics.error(value.where, subject,
                               "must be " + either_of(k.choices) + did_you_mean(value.text, k.choices));
    return false;
  }
  for (const ConfigValue& item : value.items) {  // a string_list: each item is one of the choices
    if (allowed(item.text)) continue;
    context_.diagnostics.error(item.where, subject,
                               fmt::format("unknown value \"{}\"{}; each must be {}", item.text,
                                           did_you_mean(item.text, k.choices), either_of(k.choices)));
    return false;
  }
  return true;
}

const KeySpec* OptionReader::spec(std::string_view key) const {
  for (const auto& k : schema_)
    if (k.name == key) return &k;
  return nullptr;
}

const ConfigValue* OptionReader::present(std::string_view key) const {
  const ConfigValue* v = table_.find(key);
  if (!v) return nullptr;
  if (std::find(mistyped_.begin(), mistyped_.end(), key) != mistyped_.end()) return nullptr;
  return v;
}

bool OptionReader::has(std::string_view key) const { return present(key) != nullptr; }

namespace {
const std::string& default_of(const KeySpec* k) {
  static const std::string none;
  return k ? k->default_value : none;
}
}  // namespace

std::string OptionReader::string(std::string_view key) const {
  if (const ConfigValue* v = present(key)) {
    if (v->kind == ConfigValue::Kind::string) return v->text;
  }
  return default_of(spec(key));
}

std::int64_t OptionReader::integer(std::string_view key) const {
  if (const ConfigValue* v = present(key)) {
    if (v->kind == ConfigValue::Kind::integer) return v->integer;
  }
  const std::string& d = default_of(spec(key));
  return d.empty() ? 0 : std::strtoll(d.c_str(), nullptr, 10);
}

double OptionReader::number(std::string_view key) const {
  if (const ConfigValue* v = present(key)) {
    if (v->kind == ConfigValue::Kind::integer) return static_cast<double>(v->integer);
    if (v->kind == ConfigValue::Kind::floating) return v->floating;
  }
  const std::string& d = default_of(spec(key));
  return d.empty() ? 0.0 : std::strtod(d.c_str(), nullptr);
}

bool OptionReader::boolean(std::string_view key) const {
  if (const ConfigValue* v = present(key)) {
    if (v->kind == ConfigValue::Kind::boolean) return v->boolean;
  }
  return default_of(spec(key)) == "true";
}

std::vector<std::string> OptionReader::strings(std::string_view key) const {
  std::vector<std::string> out;
  if (const ConfigValue* v = present(key)) {
    for (const auto& item : v->items)
      if (item.kind == ConfigValue::Kind::string) out.push_back(item.text);
    return out;
  }
  // Defaults of list keys are written comma-separated: "rate_limit,server".
  const std::string& d = default_of(spec(key));
  if (!d.empty())
    for (auto& part : split(d, ',')) out.emplace_back(trim(part));
  return out;
}

std::filesystem::path OptionReader::path(std::string_view key) const {
  std::filesystem::path p = string(key);
  if (p.empty()) return p;
  if (!context_.outputs_under.empty()) {
    p = context_.outputs_under / (node_name_ + "." + std::string(key) + p.extension().string());
  } else if (p.is_absolute()) {
    p = p.lexically_normal();
  } else {
    const ConfigValue* v = present(key);
    p = ((v ? v->base_dir : table_.base_dir) / p).lexically_normal();
  }
  note_path_use(key, p);
  return p;
}

void OptionReader::note_path_use(std::string_view key, const std::filesystem::path& p) const {
  for (const PathUse& use : paths_used_)
    if (use.key == key) return;
  paths_used_.push_back(PathUse{std::string(key), p, location(key)});
}

boost::json::value OptionReader::json(std::string_view key) const {
  if (const ConfigValue* v = present(key)) return v->to_json();
  return nullptr;
}

std::string OptionReader::secret(std::string_view key) {
  const std::string variable = string(key);
  if (variable.empty()) return {};
  const char* value = std::getenv(variable.c_str());
  if (!value || !*value) {
    if (context_.check_environment) error(key, fmt::format("environment variable {} is not set", variable));
    return {};
  }
  holds_secret_ = true;
  if (context_.redactor.add(value) == Redactor::Added::too_short)
    warning(key, fmt::format("the value of {} is shorter than {} characters: too short to be redacted safely, it may "
                             "appear in messages and outputs",
                             variable, Redactor::kMinLength));
  return value;
}

Location OptionReader::location(std::string_view key) const {
  if (const ConfigValue* v = table_.find(key)) return v->where;
  return table_.where;
}

void OptionReader::error(std::string_view key, std::string message) {
  context_.diagnostics.error(location(key), key.empty() ? subject_ : subject_ + "." + std::string(key),
                             std::move(message));
}

void OptionReader::warning(std::string_view key, std::string message) {
  context_.diagnostics.warning(location(key), key.empty() ? subject_ : subject_ + "." + std::string(key),
                               std::move(message));
}

}  // namespace flowbatch
