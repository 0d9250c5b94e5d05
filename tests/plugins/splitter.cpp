// A test plugin whose transform makes several items of one record, for the exactly-once tests of
// split records:
//   transform "split"   emits `parts` items per input (its "parts" field, else the `parts` key),
//                       each a copy with "part" = 0, 1, ... and "id" = "<id>.<part>"; an input with
//                       "parts": 0 is filtered out
#include <flowbatch/plugin.h>

namespace {

using namespace flowbatch;

class Splitter final : public Transform {
 public:
  explicit Splitter(std::int64_t parts) : parts_(parts) {}
  void apply(Item& item, ItemOutput& out) override {
    std::int64_t parts = parts_;
    if (const auto* n = item.find("parts"); n && n->is_int64()) parts = n->get_int64();
    for (std::int64_t i = 0; i < parts; ++i) {
      Item part;
      part.fields = item.fields;
      part.id = item.id + "." + std::to_string(i);
      part.fields["part"] = i;
      part.fields["id"] = part.id;
      out.emit(std::move(part));
    }
  }

 private:
  std::int64_t parts_;
};

}  // namespace

FLOWBATCH_PLUGIN(registry) {
  registry.add(TransformType{
      "split",
      "one item per part",
      {{"parts", KeyKind::integer, false, "3", "items per input without a \"parts\" field"}},
      [](Options& o) -> std::unique_ptr<Transform> { return std::make_unique<Splitter>(o.integer("parts")); }});
}
