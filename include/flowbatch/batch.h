#pragma once
// A provider's batch API (OpenAI Batch, Anthropic Message Batches): how its requests are written,
// and how its answers are read, with no I/O — the engine sends every request, keeps the jobs in
// the run's state, polls them on its timers and hands each line's answer to the provider's
// parse() as if the online API had given it.
#include <cstdint>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "flowbatch/item.h"
#include "flowbatch/provider.h"

namespace flowbatch {

/// A batch job as the provider reports it.
struct BatchJobStatus {
  std::string id;
  std::string status;    ///< the provider's own word ("in_progress", "ended", ...)
  bool ended = false;    ///< no line changes any more: its results can be fetched
  bool refused = false;  ///< the job as a whole was refused (its input did not validate): `error` says why
  /// Refused for the provider's queue, not for its input: the tokens already enqueued for its model
  /// (by every job of the account, other programs' too) leave no room for it (OpenAI's
  /// token_limit_exceeded). No line ran; the same job is created again once a job ends. With an
  /// empty `id`, the create itself was refused and no batch exists.
  bool queue_full = false;
  std::string error;
  std::int64_t total = 0;
  std::int64_t succeeded = 0;
  std::int64_t errored = 0;
  std::vector<std::string> results;  ///< what to fetch for its results (file ids, URLs), once ended
  std::string job_key;               ///< the flowbatch job it was created for, when the provider shows it
  std::int64_t created_unix = 0;
};

/// One page of the provider's list of batch jobs, newest first.
struct BatchPage {
  std::vector<BatchJobStatus> jobs;
  std::string next;  ///< the cursor of the next page; empty on the last one
};

/// One line of a job's results.
struct BatchLineResult {
  std::string custom_id;
  bool answered = false;  ///< `response` is the request's own answer (a success or that request's error)
  HttpResponse response;  ///< as the online API would have answered the request
  std::string why;        ///< not answered: expired, cancelled, ...
};

/// An uploaded input file (OpenAI), as the provider lists it.
struct BatchUpload {
  std::string id;
  std::string name;
};

class BatchApi {
 public:
  virtual ~BatchApi() = default;
  /// The most lines and bytes one job may hold.
  virtual std::size_t max_lines() const = 0;
  virtual std::size_t max_bytes() const = 0;
  /// One line of a job's input (no line break): `online` is the request the online API would get.
  virtual std::string line(const std::string& custom_id, const HttpRequest& online) const = 0;

  /// Whether a job keeps the metadata create() gives it (OpenAI does; Anthropic does not, so a
  /// job whose create answer was lost is recognised by its creation time and size instead).
  virtual bool keeps_metadata() const = 0;
  /// OpenAI uploads the lines as a file first; Anthropic sends them in the create request.
  virtual bool uploads() const = 0;
  virtual HttpRequest upload(const std::string& job_key, const std::string& lines) const = 0;
  virtual std::variant<std::string, Failure> read_upload(const HttpResponse& response) const = 0;
  virtual HttpRequest list_uploads() const = 0;
  virtual std::vector<BatchUpload> read_uploads(const HttpResponse& response) const = 0;
  virtual HttpRequest remove_upload(const std::string& file_id) const = 0;

  /// Creates a job: `input` is the uploaded file's id, or the lines themselves; `sample` is one of
  /// its online requests (where they go); `job_key` and `pipeline` are kept with it where the API
  /// keeps metadata, so a create whose answer was lost can be found again.
  virtual HttpRequest create(const std::string& job_key, const std::string& pipeline, const std::string& input,
                             const HttpRequest& sample) const = 0;
  virtual HttpRequest get(const std::string& id) const = 0;
  virtual HttpRequest cancel(const std::string& id) const = 0;
  /// The provider's jobs, newest first, from `cursor` ("" for the first page).
  virtual HttpRequest list(const std::string& cursor) const = 0;
  /// What create, get and cancel answer.
  virtual std::variant<BatchJobStatus, Failure> read_job(const HttpResponse& response) const = 0;
  virtual std::variant<BatchPage, Failure> read_page(const HttpResponse& response) const = 0;

  /// Fetches one of BatchJobStatus::results; `nullopt` when it is not the provider's to fetch (a
  /// URL on another host: the key is never sent there).
  virtual std::optional<HttpRequest> fetch(const std::string& what) const = 0;
  /// Reads a fetched result file: one entry per line.
  virtual std::vector<BatchLineResult> read_results(const std::string& body) const = 0;
};

}  // namespace flowbatch
