// A test plugin whose types throw on purpose, to prove that an exception from plugin code fails
// only the item (or request) it was about, and the run goes on:
//   source "throwing_lines"   each line is {"text": line}; decode() throws on a line "boom"
//   transform "throwing"      apply() throws on an item whose text is "boom", and throws an int
//                             (not a std::exception) on "boom-int"
//   transform "unconfigurable"  configure() throws
//   provider "throwing"       dispatch() throws for a prompt "boom-dispatch"; the blocking work
//                             throws for "boom-work" (an int for "boom-int"); anything else is
//                             answered "ok:<prompt>"
#include <flowbatch/plugin.h>

#include <fstream>
#include <stdexcept>

namespace {

using namespace flowbatch;

class LineReader final : public SourceReader {
 public:
  explicit LineReader(const std::filesystem::path& path) : in_(path) {
    if (!in_) throw std::runtime_error("cannot open " + path.string());
  }
  bool read(std::vector<Record>& out, std::size_t max) override {
    std::string line;
    for (std::size_t n = 0; n < max; ++n) {
      if (!std::getline(in_, line)) return false;
      out.push_back(Record{++line_, line});
    }
    return true;
  }

 private:
  std::ifstream in_;
  std::uint64_t line_ = 0;
};

class ThrowingLines final : public Source {
 public:
  explicit ThrowingLines(std::filesystem::path path) : path_(std::move(path)) {}
  std::unique_ptr<SourceReader> open() override { return std::make_unique<LineReader>(path_); }
  std::optional<std::string> decode(const Record& record, boost::json::object& fields) const override {
    if (record.text == "boom") throw std::runtime_error("the decoder exploded");
    fields["text"] = record.text;
    return std::nullopt;
  }
  std::string describe() const override { return path_.string(); }

 private:
  std::filesystem::path path_;
};

class ThrowingTransform final : public Transform {
 public:
  void apply(Item& item, ItemOutput& out) override {
    const auto* text = item.find("text");
    if (text && text->is_string() && text->get_string() == "boom") throw std::runtime_error("the transform exploded");
    if (text && text->is_string() && text->get_string() == "boom-int") throw 42;
    out.emit(std::move(item));
  }
};

class ThrowingProvider final : public Provider {
 public:
  bool supports(Endpoint endpoint) const override { return endpoint == Endpoint::chat; }
  Dispatch dispatch(const CallRequest& request) override {
    const std::string prompt = request.messages.empty() ? "" : request.messages.back().content;
    if (prompt == "boom-dispatch") throw std::runtime_error("dispatch exploded");
    const std::size_t items = request.items.size();
    return Dispatch::run([prompt, items] {
      if (prompt == "boom-work") throw std::runtime_error("the work exploded");
      if (prompt == "boom-int") throw 7;
      CallResult result;
      for (std::size_t i = 0; i < items; ++i) result.outputs.emplace_back("ok:" + prompt);
      return result;
    });
  }
};

}  // namespace

FLOWBATCH_PLUGIN(registry) {
  registry.add(SourceType{"throwing_lines",
                          "test: lines as {text}; throws on \"boom\"",
                          {{"path", KeyKind::path, true, "", "the file"}},
                          [](Options& o) { return std::make_unique<ThrowingLines>(o.path("path")); }});
  registry.add(TransformType{"throwing",
                             "test: throws on text \"boom\"",
                             {},
                             [](Options&) { return std::make_unique<ThrowingTransform>(); },
                             true});
  registry.add(TransformType{"unconfigurable",
                             "test: configure() throws",
                             {},
                             [](Options&) -> std::unique_ptr<Transform> { throw std::runtime_error("no model file"); },
                             true});
  registry.add(ProviderType{"throwing", "test: throws on boom-dispatch and boom-work", {}, [](Options&) {
                              return std::make_shared<ThrowingProvider>();
                            }});
}
