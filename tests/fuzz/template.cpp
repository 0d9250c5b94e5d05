// The prompt template: compiling any text, and rendering it over any item fields (or finding
// the field the item lacks).
//
// Input: the template text, then optionally a line "%%" and the item's fields as a JSON object.
#include <boost/json/parse.hpp>

#include <algorithm>
#include <stdexcept>

#include "engine/core/template.h"
#include "tests/fuzz/support.h"

using namespace flowbatch;

namespace {

constexpr std::string_view kFieldsMark = "\n%%\n";

boost::json::object fields_of(std::string_view text) {
  boost::system::error_code ec;
  boost::json::value v = boost::json::parse(text, ec);
  if (ec || !v.is_object()) return {};
  return std::move(v.get_object());
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view input = fuzz::as_text(data, size);
  const auto mark = input.find(kFieldsMark);
  const std::string_view text = input.substr(0, mark);
  const boost::json::object fields =
      mark == std::string_view::npos ? boost::json::object{} : fields_of(input.substr(mark + kFieldsMark.size()));
  Template t;
  try {
    t = Template(text);
  } catch (const std::invalid_argument& e) {  // the documented way a template is refused
    FUZZ_CHECK(text.find("{{") != std::string_view::npos, std::string("refused without a \"{{\": ") + e.what());
    return 0;
  }
  const Rendering rendering = t.render(fields);
  const std::vector<std::string> names = t.fields();
  if (rendering.missing)
    FUZZ_CHECK(std::find(names.begin(), names.end(), *rendering.missing) != names.end(),
               "a missing field that the template does not name: " + *rendering.missing);
  const bool literal = text.find("{{") == std::string_view::npos;
  FUZZ_CHECK(!literal || (rendering.ok() && rendering.text == text),
             "a template without placeholders rendered as something else");
  FUZZ_CHECK(!literal || names.empty(), "fields found in a template without placeholders");
  FUZZ_CHECK(t.render({}).ok() == names.empty(), "an item without fields lacks none of a template's, or one of none");
  std::string appended = "x";
  const std::optional<std::string> missing = t.render_to(fields, appended);
  FUZZ_CHECK(missing == rendering.missing, "render_to and render disagree on the missing field");
  FUZZ_CHECK(missing || appended == "x" + rendering.text, "render_to does not append what render returns");
  return 0;
}
