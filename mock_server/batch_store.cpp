#include "mock_server/batch_store.h"

#include <fmt/chrono.h>
#include <fmt/format.h>
#include <boost/json.hpp>

#include <algorithm>
#include <cmath>
#include <ctime>
#include <limits>
#include <regex>
#include <set>
#include <sstream>

#include "engine/core/hash.h"
#include "mock_server/conversation.h"
#include "mock_server/routes.h"
#include "nodes/calls/pack_format.h"

namespace flowbatch::mock {
namespace {

constexpr double kBatchValidatingShare = 0.1;  // of batch_seconds spent "validating" before any line is done

std::int64_t batch_unix_now() { return static_cast<std::int64_t>(std::time(nullptr)); }

std::string batch_rfc3339(std::int64_t unix_seconds) {
  const std::time_t t = static_cast<std::time_t>(unix_seconds);
  std::tm tm{};
  gmtime_r(&t, &tm);
  return fmt::format("{:%Y-%m-%dT%H:%M:%SZ}", tm);
}

boost::json::value batch_body_json(const std::string& body) {
  boost::system::error_code ec;
  boost::json::value v = boost::json::parse(body, ec);
  if (ec) return boost::json::string(body);
  return v;
}

std::string_view batch_phase_name(BatchView::Phase phase) {
  switch (phase) {
    case BatchView::Phase::validating: return "validating";
    case BatchView::Phase::in_progress: return "in_progress";
    case BatchView::Phase::finalizing: return "finalizing";
    case BatchView::Phase::completed: return "completed";
    case BatchView::Phase::failed: return "failed";
    case BatchView::Phase::expired: return "expired";
    case BatchView::Phase::cancelling: return "cancelling";
    case BatchView::Phase::cancelled: return "cancelled";
  }
  return "unknown";
}

/// The request body of one JSONL line of an OpenAI batch input file, checked as OpenAI checks it.
struct OpenAiBatchLine {
  std::string custom_id, url, body;
};

std::variant<OpenAiBatchLine, std::string> read_openai_batch_line(std::string_view text, std::size_t number) {
  auto parsed = parse_json_object(text);
  if (auto* problem = std::get_if<std::string>(&parsed)) return fmt::format("line {}: {}", number, *problem);
  const auto& o = std::get<boost::json::object>(parsed);
  const auto* id = o.if_contains("custom_id");
  const auto* method = o.if_contains("method");
  const auto* url = o.if_contains("url");
  const auto* body = o.if_contains("body");
  if (!id || !id->is_string() || id->get_string().empty())
    return fmt::format("line {}: custom_id is required (a string)", number);
  if (!method || *method != "POST") return fmt::format("line {}: method must be POST", number);
  if (!url || !url->is_string()) return fmt::format("line {}: url is required", number);
  if (!body || !body->is_object()) return fmt::format("line {}: body must be an object", number);
  return OpenAiBatchLine{std::string(id->get_string()), std::string(url->get_string()), boost::json::serialize(*body)};
}

/// What a line holds of its model's batch queue: its prompt tokens, as the online route counts them.
std::int64_t batch_line_prompt_tokens(const OpenAiBatchLine& line) {
  boost::system::error_code ec;
  const boost::json::value body = boost::json::parse(line.body, ec);
  const auto* o = ec ? nullptr : body.if_object();
  if (!o) return 0;
  if (const auto* input = o->if_contains("input")) {  // embeddings
    std::size_t chars = 0;
    if (input->is_string()) chars = input->get_string().size();
    if (input->is_array())
      for (const auto& s : input->get_array()) chars += s.is_string() ? s.get_string().size() : 0;
    return estimate_tokens(chars);
  }
  auto conversation = read_messages(o->if_contains("messages"), {});
  const auto* read = std::get_if<Conversation>(&conversation);
  return read ? estimate_tokens(read->content_chars) : 0;
}

std::string batch_line_model(const OpenAiBatchLine& line) {
  boost::system::error_code ec;
  const boost::json::value body = boost::json::parse(line.body, ec);
  const auto* o = ec ? nullptr : body.if_object();
  const auto* model = o ? o->if_contains("model") : nullptr;
  return model && model->is_string() ? std::string(model->get_string()) : std::string();
}

/// The hashes of a packed request's inputs (id and text), or of an embeddings request's inputs
/// (their text): whatever request an item lands in, it is the same input. None for a request that
/// is neither (or not readable: the route says why).
std::vector<std::uint64_t> packed_inputs_of(std::string_view body) {
  boost::system::error_code ec;
  const boost::json::value request = boost::json::parse(body, ec);
  const auto* o = ec ? nullptr : request.if_object();
  if (const auto* embedding_inputs = o ? o->if_contains("input") : nullptr) {
    std::vector<std::uint64_t> hashes;
    if (embedding_inputs->is_string()) hashes.push_back(stable_hash(embedding_inputs->get_string(), 0));
    if (embedding_inputs->is_array())
      for (const auto& input : embedding_inputs->get_array())
        if (input.is_string()) hashes.push_back(stable_hash(input.get_string(), 0));
    return hashes;
  }
  const auto* messages = o ? o->if_contains("messages") : nullptr;
  if (!messages) return {};
  auto conversation = read_messages(messages, {});
  auto* read = std::get_if<Conversation>(&conversation);
  auto inputs = read ? pack::read_inputs(read->last_user_text) : std::nullopt;
  std::vector<std::uint64_t> hashes;
  if (inputs)
    for (const auto& input : *inputs) hashes.push_back(stable_hash(input.input, stable_hash(input.id, 0)));
  return hashes;
}

}  // namespace

double BatchStore::now() const {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - began_).count();
}

std::string BatchStore::next_id(std::string_view prefix) {
  return fmt::format("{}{}", prefix, hex16(hash_combine(options_.seed, ++next_)));
}

MockFile& BatchStore::add_file(std::string filename, std::string purpose, std::string content) {
  const std::lock_guard lock(mutex_);
  MockFile file{next_id("file-"), std::move(filename), std::move(purpose), std::move(content), batch_unix_now()};
  auto [it, added] = files_.emplace(file.id, std::move(file));
  (void)added;
  return it->second;
}

std::optional<MockFile> BatchStore::file(const std::string& id) {
  const std::lock_guard lock(mutex_);
  const auto it = files_.find(id);
  if (it == files_.end()) return std::nullopt;
  return it->second;
}

bool BatchStore::remove_file(const std::string& id) {
  const std::lock_guard lock(mutex_);
  return files_.erase(id) > 0;
}

std::vector<MockFile> BatchStore::files() {
  const std::lock_guard lock(mutex_);
  std::vector<MockFile> out;
  for (const auto& [id, file] : files_)
    out.push_back(MockFile{file.id, file.filename, file.purpose, {}, file.created_unix});
  return out;
}

BatchLine BatchStore::answer_line(ApiFlavor flavor, std::string custom_id, std::string_view url,
                                  const std::string& body, std::string_view version) {
  const std::uint64_t content = stable_hash(body, stable_hash(url, 0));
  stats_.on_batch_line(content, custom_id);
  const std::uint64_t sequence = hash_combine(options_.seed, ++next_);
  BatchLine line{std::move(custom_id), 200, {}};
  // The same simulated server errors as online, rolled per line: a line that meets one is retried.
  if (unit_interval(hash_combine(sequence, 0xba7c)) < options_.faults.server_error) {
    const ApiReply fault = server_error(flavor, unit_interval(hash_combine(sequence, 0xfa17)));
    line.status = fault.status;
    line.body = fault.body;
    return line;
  }
  ApiRequest request;
  request.method = "POST";
  request.path = url;
  request.target = url;
  request.body = body;
  if (flavor == ApiFlavor::anthropic) request.headers.emplace_back("anthropic-version", version);
  const RouteContext context{options_, sequence, prompt_cache_};
  RouteOutcome outcome;
  if (flavor == ApiFlavor::anthropic) outcome = prepare_anthropic_messages(request, context);
  else if (url == "/v1/chat/completions") outcome = prepare_openai_chat(request, context);
  else if (url == "/v1/embeddings") outcome = prepare_openai_embeddings(request, context);
  else outcome = openai_error(400, fmt::format("Unsupported url {} in a batch.", url), "invalid_request_error");
  if (auto* error = std::get_if<ApiReply>(&outcome)) {
    line.status = error->status;
    line.body = std::move(error->body);
    return line;
  }
  auto& prepared = std::get<PreparedAnswer>(outcome);
  stats_.add_tokens(prepared.usage_tokens);
  stats_.on_batch_packed_inputs_answered(packed_inputs_of(body));  // billed: an answered line
  line.body = std::move(prepared.body);
  return line;
}

std::variant<boost::json::object, ApiReply> BatchStore::create_openai(const boost::json::object& request) {
  const auto* file_id = request.if_contains("input_file_id");
  const auto* endpoint = request.if_contains("endpoint");
  const auto* window = request.if_contains("completion_window");
  if (!file_id || !file_id->is_string()) return invalid_request(ApiFlavor::openai, "input_file_id is required");
  if (!endpoint || !endpoint->is_string()) return invalid_request(ApiFlavor::openai, "endpoint is required");
  if (!window || *window != "24h") return invalid_request(ApiFlavor::openai, "completion_window must be \"24h\"");
  std::optional<MockFile> input = file(std::string(file_id->get_string()));
  if (!input)
    return openai_error(404, fmt::format("No such File object: {}", file_id->get_string()), "invalid_request_error");

  MockBatch batch;
  batch.flavor = ApiFlavor::openai;
  batch.endpoint = endpoint->get_string();
  batch.input_file_id = input->id;
  if (const auto* m = request.if_contains("metadata"); m && m->is_object()) batch.metadata = m->get_object();
  // Validation, as OpenAI's "validating" phase does it: a bad line fails the whole batch.
  std::istringstream lines(input->content);
  std::string text;
  std::size_t number = 0;
  std::set<std::string> ids;
  std::vector<OpenAiBatchLine> valid;
  while (batch.failure.empty() && std::getline(lines, text)) {
    ++number;
    if (text.empty()) continue;
    auto read = read_openai_batch_line(text, number);
    if (auto* problem = std::get_if<std::string>(&read)) batch.failure = *problem;
    else if (std::get<OpenAiBatchLine>(read).url != batch.endpoint)
      batch.failure = fmt::format("line {}: url must be the batch's endpoint {}", number, batch.endpoint);
    else if (!ids.insert(std::get<OpenAiBatchLine>(read).custom_id).second)
      batch.failure = fmt::format("line {}: duplicate custom_id {}", number, std::get<OpenAiBatchLine>(read).custom_id);
    else valid.push_back(std::move(std::get<OpenAiBatchLine>(read)));
  }
  if (batch.failure.empty() && valid.size() > static_cast<std::size_t>(options_.batch_max_lines))
    batch.failure =
        fmt::format("the file has {} requests; a batch may hold {}", valid.size(), options_.batch_max_lines);
  if (!valid.empty()) batch.model = batch_line_model(valid.front());
  for (const auto& line : valid) batch.tokens += batch_line_prompt_tokens(line);
  // From here under the lock: the queue is checked and the batch added to it at once.
  const std::lock_guard lock(mutex_);
  enqueue_openai(batch);
  if (batch.failure.empty()) {
    stats_.on_batch_created();
    for (auto& line : valid)
      batch.lines.push_back(answer_line(ApiFlavor::openai, line.custom_id, line.url, line.body, {}));
  }
  batch.id = next_id("batch_");
  batch.created = now();
  batch.created_unix = batch_unix_now();
  batches_.push_back(std::move(batch));
  return openai_object(batches_.back());
}

std::variant<boost::json::object, ApiReply> BatchStore::create_anthropic(const boost::json::object& request,
                                                                         std::string_view version) {
  static const std::regex kCustomId("^[a-zA-Z0-9_-]{1,64}$");
  const auto* requests = request.if_contains("requests");
  if (!requests || !requests->is_array() || requests->get_array().empty())
    return invalid_request(ApiFlavor::anthropic, "requests: a non-empty list is required");
  if (requests->get_array().size() > static_cast<std::size_t>(options_.batch_max_lines))
    return invalid_request(ApiFlavor::anthropic,
                           fmt::format("requests: at most {} in a batch", options_.batch_max_lines));
  std::set<std::string> ids;
  for (const auto& r : requests->get_array()) {
    const auto* o = r.if_object();
    const auto* id = o ? o->if_contains("custom_id") : nullptr;
    const auto* params = o ? o->if_contains("params") : nullptr;
    if (!id || !id->is_string() || !std::regex_match(std::string(id->get_string()), kCustomId))
      return invalid_request(ApiFlavor::anthropic, "requests.custom_id: must match ^[a-zA-Z0-9_-]{1,64}$");
    if (!params || !params->is_object())
      return invalid_request(ApiFlavor::anthropic, "requests.params: an object is required");
    if (!ids.insert(std::string(id->get_string())).second)
      return invalid_request(ApiFlavor::anthropic, fmt::format("requests: duplicate custom_id {}", id->get_string()));
  }
  MockBatch batch;
  batch.flavor = ApiFlavor::anthropic;
  // Under the lock from here: the queue is checked and the batch added to it at once. A refused
  // create submitted nothing (its requests are not counted as submitted).
  const std::lock_guard lock(mutex_);
  if (auto refused = refuse_anthropic(requests->get_array().size())) return std::move(*refused);
  // Params are validated asynchronously, as Anthropic does: a bad one is an errored result.
  for (const auto& r : requests->get_array())
    batch.lines.push_back(answer_line(ApiFlavor::anthropic, std::string(r.at("custom_id").get_string()), "/v1/messages",
                                      boost::json::serialize(r.at("params")), version));
  stats_.on_batch_created();
  batch.id = next_id("msgbatch_");
  batch.created = now();
  batch.created_unix = batch_unix_now();
  batches_.push_back(std::move(batch));
  return anthropic_object(batches_.back(), {});
}

void BatchStore::enqueue_openai(MockBatch& batch) {
  const std::int64_t limit = options_.batch_enqueued_tokens;
  if (!batch.failure.empty() || limit <= 0) return;
  std::int64_t enqueued = 0;  // by the model's batches in progress (validating to finalizing, or cancelling)
  for (const auto& other : batches_)
    if (other.flavor == ApiFlavor::openai && other.failure.empty() && other.model == batch.model &&
        !view(other).ended())
      enqueued += other.tokens;
  if (enqueued + batch.tokens <= limit) return stats_.on_batch_enqueued(enqueued + batch.tokens);
  // As OpenAI words it; the batch is created, and fails without running a line.
  batch.failure = fmt::format(
      "Enqueued token limit reached for {} in organization org-mock. Limit: {} enqueued tokens. Please try again once "
      "some in_progress batches have been completed.",
      batch.model, limit);
  batch.failure_code = "token_limit_exceeded";
  stats_.on_batch_queue_full();
}

std::optional<ApiReply> BatchStore::refuse_anthropic(std::size_t requests) {
  const std::int64_t limit = options_.batch_processing_requests;
  if (limit <= 0) return std::nullopt;
  std::int64_t processing = 0;  // requests of the batches not ended yet
  for (const auto& other : batches_)
    if (other.flavor == ApiFlavor::anthropic && !view(other).ended())
      processing += static_cast<std::int64_t>(other.lines.size());
  if (processing + static_cast<std::int64_t>(requests) <= limit) return std::nullopt;
  stats_.on_batch_queue_full();
  return anthropic_error(429, "rate_limit_error",
                         fmt::format("Number of batch requests in the processing queue would exceed your limit of {} "
                                     "({} in progress, {} in this batch). Please try again once some batches have "
                                     "ended.",
                                     limit, processing, requests));
}

double BatchStore::done_at(const MockBatch& batch, std::size_t i) const {
  const double n = static_cast<double>(batch.lines.size());
  return batch.created + options_.batch_seconds *
                             (kBatchValidatingShare + (1 - kBatchValidatingShare) * static_cast<double>(i + 1) / n);
}

BatchView BatchStore::view(const MockBatch& batch) const {
  BatchView v;
  if (!batch.failure.empty()) {
    v.phase = BatchView::Phase::failed;
    return v;
  }
  const double t = now();
  const double seconds = options_.batch_seconds;
  const double expire = options_.batch_expire_seconds > 0 ? batch.created + options_.batch_expire_seconds
                                                          : std::numeric_limits<double>::infinity();
  const double finish = batch.created + seconds;
  double work_ends = std::min(finish, expire);
  if (batch.cancelled && *batch.cancelled < work_ends) work_ends = *batch.cancelled;
  const double cutoff = std::min(t, work_ends);
  for (std::size_t i = 0; i < batch.lines.size() && done_at(batch, i) <= cutoff + 1e-9; ++i) {
    ++v.done;
    if (batch.lines[i].status != 200) ++v.failed;
  }
  if (batch.cancelled && *batch.cancelled < std::min(finish, expire)) {
    const double settle = std::min(1.0, kBatchValidatingShare * seconds);  // "cancelling" lasts a moment
    v.phase = t < *batch.cancelled + settle ? BatchView::Phase::cancelling : BatchView::Phase::cancelled;
  } else if (t >= expire && expire < finish) {
    v.phase = BatchView::Phase::expired;
  } else if (t < batch.created + kBatchValidatingShare * seconds) {
    v.phase = BatchView::Phase::validating;
  } else if (t < finish) {
    v.phase = BatchView::Phase::in_progress;
  } else {
    v.phase = BatchView::Phase::completed;
  }
  return v;
}

void BatchStore::write_openai_results(MockBatch& batch, const BatchView& view) {
  if (!batch.output_file_id.empty() || !view.ended() || view.phase == BatchView::Phase::failed) return;
  std::string output, errors;
  for (std::size_t i = 0; i < batch.lines.size(); ++i) {
    const BatchLine& line = batch.lines[i];
    const std::string request_id = "batch_req_" + hex16(hash_combine(stable_hash(batch.id), i));
    boost::json::object record{{"id", request_id}, {"custom_id", line.custom_id}};
    if (i < view.done) {
      record["response"] = boost::json::object{{"status_code", line.status},
                                               {"request_id", "req_" + hex16(stable_hash(request_id))},
                                               {"body", batch_body_json(line.body)}};
      record["error"] = nullptr;
      (line.status == 200 ? output : errors) += boost::json::serialize(record) + "\n";
      continue;
    }
    const bool expired = view.phase == BatchView::Phase::expired;
    record["response"] = nullptr;
    record["error"] = boost::json::object{
        {"code", expired ? "batch_expired" : "batch_cancelled"},
        {"message", expired ? "This request could not be executed before the completion window expired."
                            : "This request was cancelled before it was executed."}};
    errors += boost::json::serialize(record) + "\n";
  }
  const auto add = [&](std::string content) {
    MockFile file{next_id("file-"), batch.id + "_output.jsonl", "batch_output", std::move(content), batch_unix_now()};
    std::string id = file.id;
    files_.emplace(id, std::move(file));
    return id;
  };
  batch.output_file_id = add(std::move(output));
  if (!errors.empty()) batch.error_file_id = add(std::move(errors));
}

boost::json::object BatchStore::openai_object(MockBatch& batch) {
  const BatchView v = view(batch);
  write_openai_results(batch, v);
  const auto at = [&](double seconds) { return batch.created_unix + static_cast<std::int64_t>(std::llround(seconds)); };
  const auto when = [&](bool set, double seconds) -> boost::json::value {
    if (!set) return nullptr;
    return at(seconds);
  };
  const double s = options_.batch_seconds;
  boost::json::value errors = nullptr;
  if (!batch.failure.empty())
    errors = boost::json::object{
        {"object", "list"}, {"data", boost::json::array{{{"code", batch.failure_code}, {"message", batch.failure}}}}};
  return boost::json::object{
      {"id", batch.id},
      {"object", "batch"},
      {"endpoint", batch.endpoint},
      {"errors", errors},
      {"input_file_id", batch.input_file_id},
      {"completion_window", batch.completion_window},
      {"status", batch_phase_name(v.phase)},
      {"output_file_id",
       batch.output_file_id.empty() ? boost::json::value(nullptr) : boost::json::value(batch.output_file_id)},
      {"error_file_id",
       batch.error_file_id.empty() ? boost::json::value(nullptr) : boost::json::value(batch.error_file_id)},
      {"created_at", batch.created_unix},
      {"in_progress_at", when(v.phase != BatchView::Phase::validating && v.phase != BatchView::Phase::failed, 0.1 * s)},
      {"expires_at", batch.created_unix + 24LL * 3600},
      {"completed_at", when(v.phase == BatchView::Phase::completed, s)},
      {"failed_at", when(v.phase == BatchView::Phase::failed, 0)},
      {"expired_at", when(v.phase == BatchView::Phase::expired, options_.batch_expire_seconds)},
      {"cancelling_at", when(batch.cancelled.has_value(), batch.cancelled.value_or(0) - batch.created)},
      {"cancelled_at", when(v.phase == BatchView::Phase::cancelled, batch.cancelled.value_or(0) - batch.created)},
      {"request_counts", {{"total", batch.lines.size()}, {"completed", v.done - v.failed}, {"failed", v.failed}}},
      {"metadata", batch.metadata},
  };
}

boost::json::object BatchStore::anthropic_object(const MockBatch& batch, std::string_view results_base) const {
  const BatchView v = view(batch);
  const bool ended = v.ended();
  const bool cancelled = v.phase == BatchView::Phase::cancelled || v.phase == BatchView::Phase::cancelling;
  const std::size_t rest = batch.lines.size() - v.done;
  return boost::json::object{
      {"id", batch.id},
      {"type", "message_batch"},
      {"processing_status", ended ? "ended" : (v.phase == BatchView::Phase::cancelling ? "canceling" : "in_progress")},
      {"request_counts",
       {{"processing", ended ? 0 : rest},
        {"succeeded", v.done - v.failed},
        {"errored", v.failed},
        {"canceled", ended && cancelled ? rest : 0},
        {"expired", ended && !cancelled ? rest : 0}}},
      {"created_at", batch_rfc3339(batch.created_unix)},
      {"expires_at", batch_rfc3339(batch.created_unix + 24LL * 3600)},
      {"ended_at", ended ? boost::json::value(batch_rfc3339(batch_unix_now())) : boost::json::value(nullptr)},
      {"cancel_initiated_at",
       batch.cancelled ? boost::json::value(batch_rfc3339(batch_unix_now())) : boost::json::value(nullptr)},
      {"archived_at", nullptr},
      {"results_url", ended
                          ? boost::json::value(fmt::format("{}/v1/messages/batches/{}/results", results_base, batch.id))
                          : boost::json::value(nullptr)},
  };
}

std::optional<boost::json::object> BatchStore::get(const std::string& id, std::string_view results_base) {
  const std::lock_guard lock(mutex_);
  for (auto& batch : batches_)
    if (batch.id == id)
      return batch.flavor == ApiFlavor::openai ? openai_object(batch) : anthropic_object(batch, results_base);
  return std::nullopt;
}

std::optional<boost::json::object> BatchStore::cancel(const std::string& id, std::string_view results_base) {
  const std::lock_guard lock(mutex_);
  for (auto& batch : batches_) {
    if (batch.id != id) continue;
    if (!batch.cancelled && !view(batch).ended()) {
      batch.cancelled = now();
      stats_.on_batch_cancelled();
    }
    return batch.flavor == ApiFlavor::openai ? openai_object(batch) : anthropic_object(batch, results_base);
  }
  return std::nullopt;
}

boost::json::object BatchStore::list(ApiFlavor flavor, const std::string& after, std::size_t limit,
                                     std::string_view results_base) {
  const std::lock_guard lock(mutex_);
  boost::json::array data;
  bool skipping = !after.empty();
  bool more = false;
  for (auto it = batches_.rbegin(); it != batches_.rend(); ++it) {
    if (it->flavor != flavor) continue;
    if (skipping) {
      skipping = it->id != after;
      continue;
    }
    if (data.size() == limit) {
      more = true;
      break;
    }
    data.push_back(flavor == ApiFlavor::openai ? openai_object(*it) : anthropic_object(*it, results_base));
  }
  boost::json::object page;
  const std::string first = data.empty() ? std::string() : std::string(data.front().at("id").get_string());
  const std::string last = data.empty() ? std::string() : std::string(data.back().at("id").get_string());
  if (flavor == ApiFlavor::openai) page["object"] = "list";
  page["data"] = std::move(data);
  page["first_id"] = first;
  page["last_id"] = last;
  page["has_more"] = more;
  return page;
}

std::optional<std::string> BatchStore::anthropic_results(const std::string& id) {
  const std::lock_guard lock(mutex_);
  for (const auto& batch : batches_) {
    if (batch.id != id || batch.flavor != ApiFlavor::anthropic) continue;
    const BatchView v = view(batch);
    if (!v.ended()) return std::nullopt;
    const bool cancelled = v.phase == BatchView::Phase::cancelled;
    std::string out;
    for (std::size_t i = 0; i < batch.lines.size(); ++i) {
      const BatchLine& line = batch.lines[i];
      boost::json::object result;
      if (i >= v.done) result = {{"type", cancelled ? "canceled" : "expired"}};
      else if (line.status == 200) result = {{"type", "succeeded"}, {"message", batch_body_json(line.body)}};
      else result = {{"type", "errored"}, {"error", batch_body_json(line.body)}};
      out += boost::json::serialize(boost::json::object{{"custom_id", line.custom_id}, {"result", std::move(result)}});
      out += '\n';
    }
    return out;
  }
  return std::nullopt;
}

}  // namespace flowbatch::mock
