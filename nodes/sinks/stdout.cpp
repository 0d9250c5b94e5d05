// type = "stdout": one JSON object per item on standard output (progress goes to stderr).
#include "nodes/kinds.h"
#include "nodes/sinks/item_json.h"

namespace flowbatch {
namespace {

class StdoutSink final : public Sink {
 public:
  explicit StdoutSink(std::shared_ptr<const RecordEncoder> encoder) : encoder_(std::move(encoder)) {}
  std::unique_ptr<SinkWriter> open(std::uint64_t) override { return open_stdout_writer(encoder_); }
  std::string describe() const override { return "standard output"; }

 private:
  std::shared_ptr<const RecordEncoder> encoder_;
};

}  // namespace

void register_stdout_sink(Registry& registry) {
  registry.add(SinkType{
      "stdout",
      "one JSON object per line on standard output",
      item_json_keys(),
      [](Options& o) -> std::unique_ptr<Sink> {
        return std::make_unique<StdoutSink>(std::make_shared<JsonLinesEncoder>(read_item_json_shape(o)));
      },
  });
}

}  // namespace flowbatch
