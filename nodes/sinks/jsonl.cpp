// type = "jsonl": one JSON object per item, its fields plus its id.
#include "engine/core/paths.h"
#include "nodes/kinds.h"
#include "nodes/sinks/item_json.h"

namespace flowbatch {
namespace {

class JsonlSink final : public Sink {
 public:
  JsonlSink(std::filesystem::path path, std::shared_ptr<const RecordEncoder> encoder)
      : path_(std::move(path)), encoder_(std::move(encoder)) {}
  std::unique_ptr<SinkWriter> open(std::uint64_t resume_at) override {
    return open_file_writer(path_, encoder_, resume_at);
  }
  std::string describe() const override { return display_path(path_); }

 private:
  std::filesystem::path path_;
  std::shared_ptr<const RecordEncoder> encoder_;
};

}  // namespace

void register_jsonl_sink(Registry& registry) {
  std::vector<KeySpec> keys = {{"path", KeyKind::path, true, "", "the file to write (its folder is created)"}};
  for (auto& k : item_json_keys()) keys.push_back(std::move(k));
  registry.add(SinkType{
      "jsonl",
      "one JSON object per line",
      std::move(keys),
      [](Options& o) -> std::unique_ptr<Sink> {
        auto encoder = std::make_shared<JsonLinesEncoder>(read_item_json_shape(o));
        return std::make_unique<JsonlSink>(o.path("path"), std::move(encoder));
      },
  });
}

}  // namespace flowbatch
