// redact_pii: a flowbatch transform plugin that replaces personal data in an item's text fields
// before it goes anywhere else (to a model API, a log, an output file).
//
//   [pipeline]
//   plugins = ["redact_pii"]
//
//   [transforms.redact]
//   type = "redact_pii"
//   inputs = ["tickets"]
//   patterns = ["email", "phone"]      # also: credit_card, ipv4
//   fields = ["text"]                  # default: every string field, nested ones included
//
// The scanners are hand-written (no std::regex): they run on every item of a job and a regex
// engine is both slower and able to blow the stack on long inputs.
#include <flowbatch/plugin.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace {

using flowbatch::Item;
using flowbatch::ItemOutput;
using flowbatch::KeyKind;
using flowbatch::Options;

enum class Kind { email, phone, credit_card, ipv4 };
constexpr std::array<std::pair<std::string_view, Kind>, 4> kKinds = {
    {{"email", Kind::email}, {"phone", Kind::phone}, {"credit_card", Kind::credit_card}, {"ipv4", Kind::ipv4}}};

std::string upper(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return out;
}

bool is_digit(char c) { return c >= '0' && c <= '9'; }
bool is_alnum(char c) { return std::isalnum(static_cast<unsigned char>(c)) != 0; }
bool is_local_char(char c) { return is_alnum(c) || c == '.' || c == '_' || c == '%' || c == '+' || c == '-'; }
bool is_domain_char(char c) { return is_alnum(c) || c == '-' || c == '.'; }

/// A match: [begin, end) of the text.
struct Span {
  std::size_t begin, end;
};

/// name@domain.tld around the '@' at `at`.
bool email_at(std::string_view t, std::size_t at, Span& span) {
  std::size_t b = at;
  while (b > 0 && is_local_char(t[b - 1])) --b;
  std::size_t e = at + 1;
  while (e < t.size() && is_domain_char(t[e])) ++e;
  while (e > at + 1 && (t[e - 1] == '.' || t[e - 1] == '-')) --e;  // a sentence's full stop
  const std::string_view domain = t.substr(at + 1, e - at - 1);
  const std::size_t dot = domain.rfind('.');
  if (b == at || dot == std::string_view::npos || dot == 0 || domain.size() - dot - 1 < 2) return false;
  span = {b, e};
  return true;
}

/// A run of digits with the separators people write numbers with; counts the digits.
std::size_t number_run(std::string_view t, std::size_t b, std::size_t& digits, std::string_view separators) {
  std::size_t e = b;
  digits = 0;
  while (e < t.size()) {
    if (is_digit(t[e])) ++digits, ++e;
    else if ((separators.find(t[e]) != std::string_view::npos && e + 1 < t.size() &&
              (is_digit(t[e + 1]) || (t[e] != '(' && t[e + 1] == '('))) ||
             (t[e] == ')' && digits > 0))  // a separator before more of the number, or a closing bracket
      ++e;
    else break;
  }
  while (e > b && !is_digit(t[e - 1]) && t[e - 1] != ')') --e;
  return e;
}

bool luhn(std::string_view t, Span s) {
  int sum = 0;
  bool twice = false;
  for (std::size_t i = s.end; i-- > s.begin;) {
    if (!is_digit(t[i])) continue;
    int d = t[i] - '0';
    if (twice && (d *= 2) > 9) d -= 9;
    sum += d;
    twice = !twice;
  }
  return sum % 10 == 0;
}

/// The end of a calendar date starting at `b` (2024-01-15, 2024/01/15, 15.01.2024, 01/15/2024),
/// or 0. Dates are not personal data, but they are digit runs a phone number could be read into.
std::size_t date_end(std::string_view t, std::size_t b) {
  std::size_t e = b;
  int lengths[3] = {0, 0, 0};
  char separator = 0;
  for (int group = 0; group < 3; ++group) {
    if (group > 0) {
      if (e >= t.size() || (separator && t[e] != separator) ||
          (!separator && t[e] != '-' && t[e] != '/' && t[e] != '.'))
        return 0;
      separator = t[e++];
    }
    while (e < t.size() && is_digit(t[e]) && lengths[group] < 5) ++e, ++lengths[group];
  }
  const bool year_first = lengths[0] == 4 && lengths[1] >= 1 && lengths[1] <= 2 && lengths[2] >= 1 && lengths[2] <= 2;
  const bool year_last = lengths[0] >= 1 && lengths[0] <= 2 && lengths[1] >= 1 && lengths[1] <= 2 && lengths[2] == 4;
  if (!year_first && !year_last) return 0;
  if (e < t.size() && is_alnum(t[e])) return 0;
  return e;
}

bool ipv4_at(std::string_view t, std::size_t b, Span& span) {
  std::size_t e = b;
  for (int part = 0; part < 4; ++part) {
    if (part > 0) {
      if (e >= t.size() || t[e] != '.') return false;
      ++e;
    }
    int value = 0, n = 0;
    while (e < t.size() && is_digit(t[e]) && n < 4) value = value * 10 + (t[e++] - '0'), ++n;
    if (n == 0 || n > 3 || value > 255) return false;
  }
  if (e < t.size() && (is_digit(t[e]) || (t[e] == '.' && e + 1 < t.size() && is_digit(t[e + 1])))) return false;
  span = {b, e};
  return true;
}

class Redactor {
 public:
  Redactor(std::vector<Kind> kinds, std::string replacement)
      : kinds_(std::move(kinds)), replacement_(std::move(replacement)) {}

  /// Redacts `text` in place; returns how many matches were replaced.
  std::size_t redact(std::string& text) const {
    std::string out;
    std::size_t copied = 0, count = 0;
    const std::string_view t = text;
    Scan scan;
    for (std::size_t i = 0; i < t.size();) {
      Span span{};
      Kind kind{};
      if (!match_at(t, i, span, kind, scan)) {
        ++i;
        continue;
      }
      out.append(t.substr(copied, span.begin - copied));
      out += label(kind);
      copied = i = span.end;
      ++count;
    }
    if (count > 0) {
      out.append(t.substr(copied));
      text = std::move(out);
    }
    return count;
  }

 private:
  bool enabled(Kind k) const { return std::find(kinds_.begin(), kinds_.end(), k) != kinds_.end(); }

  /// How far the scan already knows there is no match: every word start inside a run of e-mail
  /// characters (or digits) scans to the same end and fails alike, so it is not scanned again.
  /// This keeps a text linear however long its runs are ("a-b-c-...", "1 2 3 ...").
  struct Scan {
    std::size_t no_email_before = 0;
    std::size_t no_number_before = 0;
  };

  /// A match that starts at `i` (emails are found from their '@' and start before it).
  bool match_at(std::string_view t, std::size_t i, Span& span, Kind& kind, Scan& scan) const {
    const bool word_start = i == 0 || !is_alnum(t[i - 1]);
    if (enabled(Kind::email) && word_start && i >= scan.no_email_before && is_local_char(t[i])) {
      std::size_t at = i;
      while (at < t.size() && is_local_char(t[at])) ++at;
      if (at < t.size() && t[at] == '@' && email_at(t, at, span) && span.begin == i) return kind = Kind::email, true;
      scan.no_email_before = at;
    }
    if (!word_start || i < scan.no_number_before || !(is_digit(t[i]) || t[i] == '+' || t[i] == '(')) return false;
    if (const std::size_t date = is_digit(t[i]) ? date_end(t, i) : 0) {  // left as it is
      scan.no_number_before = date;
      return false;
    }
    if (enabled(Kind::ipv4) && is_digit(t[i]) && ipv4_at(t, i, span)) return kind = Kind::ipv4, true;
    std::size_t digits = 0;
    const std::size_t b = t[i] == '+' ? i + 1 : i;
    const std::size_t e = number_run(t, b, digits, " -.()");
    scan.no_number_before = std::max(e, i + 1);        // a run that is no number here is none further in
    if (e < t.size() && is_alnum(t[e])) return false;  // part of a word or code
    span = {i, e};
    if (enabled(Kind::credit_card) && digits >= 13 && digits <= 19 && luhn(t, span))
      return kind = Kind::credit_card, true;
    if (enabled(Kind::phone) && digits >= 7 && digits <= 15) return kind = Kind::phone, true;
    return false;
  }

  std::string label(Kind kind) const {
    std::string out = replacement_;
    const std::size_t at = out.find("{kind}");
    if (at != std::string::npos) {
      for (const auto& [name, k] : kKinds)
        if (k == kind) out.replace(at, 6, upper(name));
    }
    return out;
  }

  std::vector<Kind> kinds_;
  std::string replacement_;
};

class RedactTransform final : public flowbatch::Transform {
 public:
  RedactTransform(Redactor redactor, std::vector<std::string> fields, std::string count_field)
      : redactor_(std::move(redactor)), fields_(std::move(fields)), count_field_(std::move(count_field)) {}

  void apply(Item& item, ItemOutput& out) override {
    std::size_t count = 0;
    if (fields_.empty()) {
      for (auto& entry : item.fields) count += redact_value(entry.value());
    } else {
      for (const auto& name : fields_)
        if (auto* v = item.fields.if_contains(name)) count += redact_value(*v);
    }
    if (!count_field_.empty()) item.set(count_field_, static_cast<std::int64_t>(count));
    out.emit(std::move(item));
  }

 private:
  std::size_t redact_value(boost::json::value& v) const {
    if (auto* s = v.if_string()) {
      std::string text(s->data(), s->size());
      const std::size_t n = redactor_.redact(text);
      if (n > 0) *s = text;
      return n;
    }
    std::size_t n = 0;
    if (auto* a = v.if_array())
      for (auto& e : *a) n += redact_value(e);
    if (auto* o = v.if_object())
      for (auto& e : *o) n += redact_value(e.value());
    return n;
  }

  Redactor redactor_;
  std::vector<std::string> fields_;
  std::string count_field_;
};

std::unique_ptr<flowbatch::Transform> configure(Options& options) {
  std::vector<Kind> kinds;
  for (const std::string& name : options.strings("patterns")) {
    auto it = std::find_if(kKinds.begin(), kKinds.end(), [&](const auto& k) { return k.first == name; });
    if (it == kKinds.end()) {
      options.error("patterns", "unknown pattern \"" + name + "\"; known: email, phone, credit_card, ipv4");
      return nullptr;
    }
    kinds.push_back(it->second);
  }
  if (kinds.empty()) {
    options.error("patterns", "name at least one pattern");
    return nullptr;
  }
  return std::make_unique<RedactTransform>(Redactor(std::move(kinds), options.string("replacement")),
                                           options.strings("fields"), options.string("count_field"));
}

}  // namespace

FLOWBATCH_PLUGIN(registry) {
  flowbatch::TransformType type;
  type.name = "redact_pii";
  type.summary = "replaces e-mail addresses, phone numbers, card numbers and IPv4 addresses in text fields";
  type.keys = {
      {"patterns", KeyKind::string_list, false, "email,phone", "what to redact: email, phone, credit_card, ipv4"},
      {"fields", KeyKind::string_list, false, "",
       "the fields to redact (default: every string field, nested ones too)"},
      {"replacement", KeyKind::string, false, "[{kind}]", "what a match becomes; {kind} is EMAIL, PHONE, ..."},
      {"count_field", KeyKind::string, false, "", "also set this field to the number of matches replaced"},
  };
  type.configure = configure;
  registry.add(std::move(type));
}
