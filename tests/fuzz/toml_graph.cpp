// Graph text in, diagnostics out: the TOML loader and the graph compiler over any bytes.
//
// Plugins are taken out of [pipeline] before compiling: loading a shared library named by the
// input would run arbitrary code, which is what plugins are for, not a finding. Environment
// checks are off, so the result does not depend on the files of the machine it runs on.
#include <algorithm>

#include "engine/config/toml_loader.h"
#include "engine/core/redactor.h"
#include "engine/graph/compiler.h"
#include "engine/graph/dot.h"
#include "tests/fuzz/support.h"

using namespace flowbatch;

namespace {

void drop_plugins(ConfigValue& root) {
  ConfigValue* pipeline = root.find("pipeline");
  if (!pipeline || !pipeline->is_table()) return;
  std::erase_if(pipeline->entries, [](const ConfigEntry& e) { return e.key == "plugins"; });
}

void check_diagnostics(const Diagnostics& diagnostics) {
  const std::string all = diagnostics.str();  // every finding formats (with its location)
  for (const Diagnostic& d : diagnostics.items()) FUZZ_CHECK(!d.message.empty(), "a diagnostic without a message");
  FUZZ_CHECK(diagnostics.items().empty() || !all.empty(), "findings that print as nothing");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string text(fuzz::as_text(data, size));
  Diagnostics diagnostics;
  ConfigValue root = load_toml_text(text, "graph.toml", "/fuzz", diagnostics);
  if (diagnostics.has_errors() && root.entries.empty()) {  // not TOML: the loader's error says where
    check_diagnostics(diagnostics);
    return 0;
  }
  drop_plugins(root);
  (void)root.to_json();  // what `flowbatch graph` and plugin options see of the tree
  Redactor redactor;
  CompileOptions options;
  options.check_environment = false;
  CompileResult result =
      compile_tree(std::move(root), "/fuzz/graph.toml", fuzz::registry(), redactor, options, std::move(diagnostics));
  check_diagnostics(result.diagnostics);
  FUZZ_CHECK(result.plan.has_value() != result.diagnostics.has_errors(), "a plan with errors, or no plan and no error");
  if (result.plan) (void)to_dot(*result.plan);
  return 0;
}
