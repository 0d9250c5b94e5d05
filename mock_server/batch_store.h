#pragma once
// The batch APIs' server side: OpenAI's files and batches, Anthropic's message batches. Each
// line is answered when its batch is created, by the same routes that answer it online (so a
// poisoned prompt fails the same way in both), and revealed as simulated time passes: line i of n
// is done at created + batch_seconds * (0.1 + 0.9 * (i + 1) / n). A batch expires at
// batch_expire_seconds (lines not done then are expired), a cancel ends it with what is done.
#include <boost/json/object.hpp>

#include <chrono>
#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "mock_server/api_types.h"
#include "mock_server/error_replies.h"
#include "mock_server/options.h"
#include "mock_server/prompt_cache.h"
#include "mock_server/stats.h"

namespace flowbatch::mock {

/// One line's answer, as the online route gave it.
struct BatchLine {
  std::string custom_id;
  unsigned status = 200;
  std::string body;  ///< the answer's body (a completion, a message, or an error object)
};

struct MockBatch {
  std::string id;
  ApiFlavor flavor = ApiFlavor::openai;
  std::string endpoint;  ///< OpenAI: "/v1/chat/completions"...
  std::string input_file_id;
  boost::json::object metadata;
  std::string completion_window = "24h";
  std::vector<BatchLine> lines;
  std::string failure;  ///< the input did not validate: the batch is "failed" with this reason
  std::string failure_code = "invalid_file";
  std::string model;        ///< OpenAI: its first line's, whose queue it is in
  std::int64_t tokens = 0;  ///< OpenAI: its lines' prompt tokens, what it holds of that queue
  double created = 0;       ///< seconds since the store began
  std::optional<double> cancelled;
  std::int64_t created_unix = 0;
  std::string output_file_id, error_file_id;  ///< OpenAI, once ended
};

struct MockFile {
  std::string id;
  std::string filename;
  std::string purpose;
  std::string content;
  std::int64_t created_unix = 0;
};

/// What a batch looks like now.
struct BatchView {
  enum class Phase { validating, in_progress, finalizing, completed, failed, expired, cancelling, cancelled };
  Phase phase = Phase::validating;
  std::size_t done = 0;  ///< lines done (answered, successfully or not)
  std::size_t failed = 0;
  bool ended() const {
    return phase == Phase::completed || phase == Phase::failed || phase == Phase::expired || phase == Phase::cancelled;
  }
};

class BatchStore {
 public:
  BatchStore(const MockOptions& options, Stats& stats, PromptCache& cache)
      : options_(options), stats_(stats), prompt_cache_(cache) {}

  MockFile& add_file(std::string filename, std::string purpose, std::string content);
  std::optional<MockFile> file(const std::string& id);
  bool remove_file(const std::string& id);
  std::vector<MockFile> files();

  /// Creates an OpenAI batch over an uploaded file: its lines answered now, revealed later.
  /// Returns the batch, or the 400 reply (unknown file, too many lines, wrong endpoint).
  std::variant<boost::json::object, ApiReply> create_openai(const boost::json::object& request);
  /// Creates an Anthropic message batch from its inline requests.
  std::variant<boost::json::object, ApiReply> create_anthropic(const boost::json::object& request,
                                                               std::string_view version);

  std::optional<boost::json::object> get(const std::string& id, std::string_view results_base);
  std::optional<boost::json::object> cancel(const std::string& id, std::string_view results_base);
  /// The batches of one flavor, newest first, after the one named `after` (cursor pagination).
  boost::json::object list(ApiFlavor flavor, const std::string& after, std::size_t limit,
                           std::string_view results_base);
  /// Anthropic's results JSONL, or nothing when the batch is unknown or has not ended.
  std::optional<std::string> anthropic_results(const std::string& id);

 private:
  double now() const;
  BatchView view(const MockBatch& batch) const;
  /// When line i of the batch is done (seconds since the store began).
  double done_at(const MockBatch& batch, std::size_t i) const;
  BatchLine answer_line(ApiFlavor flavor, std::string custom_id, std::string_view url, const std::string& body,
                        std::string_view version);
  boost::json::object openai_object(MockBatch& batch);
  boost::json::object anthropic_object(const MockBatch& batch, std::string_view results_base) const;
  void write_openai_results(MockBatch& batch, const BatchView& view);
  /// OpenAI's batch queue: fails `batch` when the model's batches in progress and it would hold
  /// more than --batch-enqueued-tokens. Under mutex_.
  void enqueue_openai(MockBatch& batch);
  /// Anthropic's processing queue: why a batch of `requests` may not be created now (the batches
  /// in progress and it would hold more than --batch-processing-requests), or nothing. Under mutex_.
  std::optional<ApiReply> refuse_anthropic(std::size_t requests);
  std::string next_id(std::string_view prefix);

  const MockOptions& options_;
  Stats& stats_;
  PromptCache& prompt_cache_;
  const std::chrono::steady_clock::time_point began_ = std::chrono::steady_clock::now();
  std::mutex mutex_;
  std::map<std::string, MockFile> files_;
  std::vector<MockBatch> batches_;  // in creation order
  std::uint64_t next_ = 0;
};

}  // namespace flowbatch::mock
