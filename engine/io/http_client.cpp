#include "engine/io/http_client.h"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <mutex>
#include <unordered_map>

namespace flowbatch {

std::optional<HttpHeader> parse_header_line(std::string_view line) {
  const auto colon = line.find(':');
  if (colon == std::string_view::npos) return std::nullopt;
  std::string name(line.substr(0, colon));
  std::transform(name.begin(), name.end(), name.begin(), [](unsigned char c) { return std::tolower(c); });
  std::string_view value = line.substr(colon + 1);
  while (!value.empty() && (value.front() == ' ' || value.front() == '\t')) value.remove_prefix(1);
  while (!value.empty() && (value.back() == '\r' || value.back() == '\n' || value.back() == ' '))
    value.remove_suffix(1);
  return HttpHeader{std::move(name), std::string(value)};
}

namespace {

constexpr std::size_t kMaxResponseBytes = 256u << 20;  // a response larger than this is an error

using SteadyClock = std::chrono::steady_clock;

struct Transfer {
  explicit Transfer(HttpClient::ResponseBudget& b) : budget(b) {}
  ~Transfer() { budget.release(charged); }
  Transfer(const Transfer&) = delete;
  Transfer& operator=(const Transfer&) = delete;

  /// Counts bytes arriving for the low-speed check: whole header lines and body bytes.
  void arrived(std::size_t n) { received += n; }

  /// Whether the answer, once begun, came slower than the low-speed limit over a whole window.
  /// The first window starts with the answer's first byte, which curl notes as the "start
  /// transfer" time even when it is only part of a header line (the callbacks see whole lines).
  bool too_slow_at(SteadyClock::time_point now) {
    if (options.low_speed_limit == 0) return false;
    if (!answering) {
      curl_off_t first_byte_us = 0;
      curl_easy_getinfo(easy, CURLINFO_STARTTRANSFER_TIME_T, &first_byte_us);
      if (first_byte_us == 0) return false;
      answering = true;
      window_start = started + std::chrono::microseconds(first_byte_us);
      window_bytes = 0;
    }
    if (now - window_start < options.low_speed_time) return false;
    const double seconds = std::chrono::duration<double>(now - window_start).count();
    too_slow = static_cast<double>(received - window_bytes) < static_cast<double>(options.low_speed_limit) * seconds;
    window_start = now;
    window_bytes = received;
    return too_slow;
  }

  HttpRequest request;
  TransferOptions options;
  HttpClient::Done done;
  HttpClient::ResponseBudget& budget;
  std::size_t charged = 0;  // body bytes taken from the budget, given back when the transfer ends
  CURL* easy = nullptr;
  curl_slist* headers = nullptr;  // its own header list, when not one the worker keeps
  HttpResponse response;
  SteadyClock::time_point started;  // when curl got the transfer
  bool answering = false;           // the answer's first byte has come
  std::size_t received = 0;         // header and body bytes
  std::size_t window_bytes = 0;
  SteadyClock::time_point window_start;
  bool too_large = false;
  bool over_budget = false;
  bool too_slow = false;
  char error[CURL_ERROR_SIZE] = {};
};

std::size_t on_body(char* data, std::size_t size, std::size_t count, void* user) {
  auto* t = static_cast<Transfer*>(user);
  const std::size_t n = size * count;
  t->arrived(n);
  if (t->response.body.size() + n > kMaxResponseBytes) {
    t->too_large = true;
    return 0;  // makes curl fail the transfer with CURLE_WRITE_ERROR
  }
  if (!t->budget.charge(n)) {
    t->over_budget = true;
    t->budget.release(t->charged);  // at once: the others may go on while curl winds this one up
    t->charged = 0;
    return 0;
  }
  t->charged += n;
  t->response.body.append(data, n);
  return n;
}

std::size_t on_header(char* data, std::size_t size, std::size_t count, void* user) {
  auto* t = static_cast<Transfer*>(user);
  const std::size_t n = size * count;
  t->arrived(n);
  std::string_view line(data, n);
  if (line.rfind("HTTP/", 0) == 0) {  // a new status line (after 100 Continue or a redirect)
    t->response.headers.clear();
    return n;
  }
  if (auto header = parse_header_line(line)) {
    if (t->response.headers.empty()) t->response.headers.reserve(16);  // one allocation for a typical answer's
    t->response.headers.push_back(std::move(*header));
  }
  return n;
}

/// Failures that say for certain that the server cannot be reached as configured: nothing went out.
/// (A time-out is never certain: the server may only be slow, or every connection busy.)
bool cannot_connect(CURLcode code) {
  switch (code) {
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_RESOLVE_PROXY:
    case CURLE_COULDNT_CONNECT:
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SSL_CERTPROBLEM:
    case CURLE_UNSUPPORTED_PROTOCOL: return true;
    default: return false;
  }
}

/// A failed transfer, classified for the retry policy and worded for a person. A connect time-out
/// (a host that does not answer) is a network failure, not a slow answer: saying "no complete
/// answer" there would mislead; the whole request's time-out running out before a connection was
/// made (every connection busy) says so.
Failure transport_failure(CURL* easy, CURLcode code, const Transfer& t) {
  if (t.too_slow)
    return make_failure(
        ErrorClass::timeout,
        fmt::format("the answer arrived slower than {} bytes/s for {} ms (the provider's low_speed_limit)",
                    t.options.low_speed_limit, t.options.low_speed_time.count()));
  if (t.over_budget)
    return make_failure(ErrorClass::network,
                        fmt::format("the answers being received at once would take more than {} of memory; this one "
                                    "is dropped and retried",
                                    t.budget.limit >= (1u << 20) ? fmt::format("{} MB", t.budget.limit >> 20)
                                                                 : fmt::format("{} bytes", t.budget.limit)));
  const std::string detail = t.too_large ? fmt::format("the response is larger than {} MB", kMaxResponseBytes >> 20)
                                         : (t.error[0] ? t.error : curl_easy_strerror(code));
  if (code != CURLE_OPERATION_TIMEDOUT) return make_failure(ErrorClass::network, detail);  // refused, reset, DNS, TLS
  curl_off_t request_sent_us = 0, total_us = 0;  // set once a (new or reused) connection was ready to send on
  curl_easy_getinfo(easy, CURLINFO_PRETRANSFER_TIME_T, &request_sent_us);
  curl_easy_getinfo(easy, CURLINFO_TOTAL_TIME_T, &total_us);
  const auto timeout_us = static_cast<curl_off_t>(t.options.timeout.count()) * 1000;
  if (request_sent_us == 0 && total_us < timeout_us)
    return make_failure(ErrorClass::network,
                        fmt::format("could not connect within {} ms ({})", t.options.connect_timeout.count(), detail));
  if (request_sent_us == 0)
    return make_failure(ErrorClass::timeout, fmt::format("no connection free within the request's {} ms time-out ({})",
                                                         t.options.timeout.count(), detail));
  return make_failure(ErrorClass::timeout,
                      fmt::format("no complete answer within {} ms ({})", t.options.timeout.count(), detail));
}

/// What a transfer cut short by a stop (abort_all, a loop that stops) ends with.
Failure cancelled_by_stop() { return make_failure(ErrorClass::network, "cancelled: the run stopped"); }

}  // namespace

/// One loop's share of the transfers. Everything but `queue_` is touched only on its loop.
struct HttpClient::Worker {
  explicit Worker(EventLoop& l) : loop(l) {
    curl_multi_setopt(loop.multi(), CURLMOPT_PIPELINING, CURLPIPE_MULTIPLEX);
    // Keep many idle connections: admission, not curl, limits concurrency.
    curl_multi_setopt(loop.multi(), CURLMOPT_MAXCONNECTS, 2048L);
    loop.on_each_pass([this] {
      start_queued();
      stop_slow_transfers();
    });
    loop.on_transfer_done([this](CURLMsg* msg) { finish(msg->easy_handle, msg->data.result); });
  }

  ~Worker() {
    for (const Spare& s : spare) curl_easy_cleanup(s.easy);
    for (auto& [kept, list] : header_lists) curl_slist_free_all(list);
  }

  void enqueue(std::unique_ptr<Transfer> t) {
    bool was_empty = false;
    {
      std::lock_guard lock(mutex);
      was_empty = queue.empty();
      queue.push_back(std::move(t));
    }
    // The loop drains the whole queue on each pass: only the first transfer of a burst needs to
    // wake it (a wakeup is a syscall on both sides).
    if (was_empty) loop.wakeup();
  }

  void start_queued() {
    if (aborting.load()) cancel_everything();
    std::vector<std::unique_ptr<Transfer>> fresh;
    {
      std::lock_guard lock(mutex);
      fresh.swap(queue);
    }
    for (auto& t : fresh) start(std::move(t));
  }

  /// Ends the transfers whose answer trickles in (checked a few times a second: the loop passes
  /// at least once a second, even when no byte arrives).
  void stop_slow_transfers() {
    const auto now = SteadyClock::now();
    if (now - last_speed_check < std::chrono::milliseconds(200)) return;
    last_speed_check = now;
    std::vector<CURL*> slow;
    for (auto& [e, t] : active)
      if (t->too_slow_at(now)) slow.push_back(e);
    for (CURL* e : slow) finish(e, CURLE_OPERATION_TIMEDOUT);
  }

  void start(std::unique_ptr<Transfer> t) {
    const HttpRequest& r = t->request;
    CURL* e = take_handle(r.method, t->options.ca_file);
    t->easy = e;
    t->started = SteadyClock::now();
    // What differs from one transfer to the next; the rest was set when the handle took this shape.
    curl_easy_setopt(e, CURLOPT_URL, r.url.c_str());
    curl_easy_setopt(e, CURLOPT_PRIVATE, t.get());
    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, t->error);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, t.get());
    curl_easy_setopt(e, CURLOPT_HEADERDATA, t.get());
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, static_cast<long>(t->options.timeout.count()));
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(t->options.connect_timeout.count()));
    if (r.method != "GET" && (r.method == "POST" || !r.body.empty())) {
      curl_easy_setopt(e, CURLOPT_POSTFIELDS, r.body.data());
      curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(r.body.size()));
    }
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, header_list(*t));

    const CURLMcode added = curl_multi_add_handle(loop.multi(), e);
    Transfer* raw = t.release();
    active.emplace(e, raw);
    if (added != CURLM_OK) finish(e, CURLE_FAILED_INIT);
  }

  /// On the loop thread, when curl reports a transfer done (or it is cancelled).
  void finish(CURL* e, CURLcode code) {
    auto it = active.find(e);
    if (it == active.end()) return;
    std::unique_ptr<Transfer> t(it->second);
    active.erase(it);
    curl_multi_remove_handle(loop.multi(), e);

    HttpResponse& response = t->response;
    long status = 0;
    curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &status);
    curl_off_t micros = 0;
    curl_easy_getinfo(e, CURLINFO_TOTAL_TIME_T, &micros);
    response.seconds = static_cast<double>(micros) / 1e6;
    response.could_not_connect = cannot_connect(code);
    if (code == CURLE_OK) {
      response.status = static_cast<int>(status);
    } else {
      response.status = 0;
      response.transport_error = transport_failure(e, code, *t);
    }
    curl_slist_free_all(t->headers);
    t->headers = nullptr;
    recycle(e, *t);
    t->done(std::move(response));
  }

  void cancel_everything() {
    std::vector<CURL*> running;
    for (auto& [e, t] : active) running.push_back(e);
    for (CURL* e : running) {
      Transfer* t = active[e];
      t->response = HttpResponse{};
      t->response.transport_error = cancelled_by_stop();
      std::unique_ptr<Transfer> owned(t);
      active.erase(e);
      curl_multi_remove_handle(loop.multi(), e);
      curl_slist_free_all(owned->headers);
      recycle(e, *owned);
      owned->done(std::move(owned->response));
    }
    std::vector<std::unique_ptr<Transfer>> queued;
    {
      std::lock_guard lock(mutex);
      queued.swap(queue);
    }
    for (auto& t : queued) {
      t->response.transport_error = cancelled_by_stop();
      t->done(std::move(t->response));
    }
  }

  /// An easy handle set up for a request of this method (and CA file). A POST (nearly every
  /// request) takes a handle that last sent a POST with the same CA file as it is: its options
  /// stay, only the request's own are set again. Any other is reset first (which keeps the
  /// handle's connection and DNS caches). Resetting and setting every option for every request
  /// was a good part of libcurl's share of the CPU per request (issue 17).
  CURL* take_handle(const std::string& method, const char* ca_file) {
    const bool post = method == "POST";
    for (std::size_t i = spare.size(); post && i-- > 0;) {
      if (spare[i].post && spare[i].ca_file == ca_file) {
        CURL* e = spare[i].easy;
        spare[i] = spare.back();
        spare.pop_back();
        return e;
      }
    }
    CURL* e = nullptr;
    if (!spare.empty()) {
      e = spare.back().easy;
      spare.pop_back();
      curl_easy_reset(e);
    } else {
      e = curl_easy_init();
    }
    set_up(e, method, ca_file);
    return e;
  }

  static void set_up(CURL* e, const std::string& method, const char* ca_file) {
    // Only HTTP(S), whatever a URL says: never file://, gopher:// and the like.
    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(e, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
    if (ca_file) curl_easy_setopt(e, CURLOPT_CAINFO, ca_file);
    curl_easy_setopt(e, CURLOPT_HTTP_VERSION, CURL_HTTP_VERSION_2TLS);
    curl_easy_setopt(e, CURLOPT_PIPEWAIT, 1L);
    curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L);
    curl_easy_setopt(e, CURLOPT_ACCEPT_ENCODING, "");
    curl_easy_setopt(e, CURLOPT_USERAGENT, "flowbatch/0.1");
    if (method == "POST") curl_easy_setopt(e, CURLOPT_POST, 1L);
    else if (method == "GET") curl_easy_setopt(e, CURLOPT_HTTPGET, 1L);
    else curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, method.c_str());
  }

  /// The request's headers as curl wants them. The few distinct sets a run sends (one per
  /// provider, mostly) are built once and kept; a transfer owns only a list beyond those.
  curl_slist* header_list(Transfer& t) {
    const std::vector<HttpHeader>& wanted = t.request.headers;
    auto same = [&wanted](const std::vector<HttpHeader>& kept) {
      return std::equal(
          kept.begin(), kept.end(), wanted.begin(), wanted.end(),
          [](const HttpHeader& a, const HttpHeader& b) { return a.name == b.name && a.value == b.value; });
    };
    for (const auto& [kept, list] : header_lists)
      if (same(kept)) return list;
    curl_slist* list = nullptr;
    for (const auto& h : wanted) list = curl_slist_append(list, (h.name + ": " + h.value).c_str());
    list = curl_slist_append(list, "Expect:");  // no 100-continue round trip
    if (header_lists.size() < kKeptHeaderLists) header_lists.emplace_back(wanted, list);
    else t.headers = list;
    return list;
  }

  void recycle(CURL* e, const Transfer& t) { spare.push_back(Spare{e, t.request.method == "POST", t.options.ca_file}); }

  /// An idle handle and what it was set up for (see take_handle).
  struct Spare {
    CURL* easy = nullptr;
    bool post = false;
    const char* ca_file = nullptr;
  };
  static constexpr std::size_t kKeptHeaderLists = 16;

  EventLoop& loop;
  std::mutex mutex;
  std::vector<std::unique_ptr<Transfer>> queue;  // guarded by mutex
  std::atomic<bool> aborting{false};
  std::unordered_map<CURL*, Transfer*> active;                                // loop thread only
  std::vector<Spare> spare;                                                   // loop thread only
  std::vector<std::pair<std::vector<HttpHeader>, curl_slist*>> header_lists;  // loop thread only
  SteadyClock::time_point last_speed_check;                                   // loop thread only
};

bool HttpClient::ResponseBudget::charge(std::size_t n) {
  // Never over the limit, not even for a moment: another transfer checking meanwhile would fail.
  std::size_t now = used.load(std::memory_order_relaxed);
  do {
    if (n > limit || now > limit - n) return false;
  } while (!used.compare_exchange_weak(now, now + n, std::memory_order_relaxed));
  return true;
}

HttpClient::HttpClient(const std::vector<EventLoop*>& loops, std::size_t response_budget) : budget_{response_budget} {
  for (EventLoop* loop : loops) workers_.push_back(std::make_unique<Worker>(*loop));
}

HttpClient::~HttpClient() = default;

void HttpClient::send(HttpRequest request, TransferOptions options, Done done) {
  auto t = std::make_unique<Transfer>(budget_);
  t->request = std::move(request);
  t->options = options;
  t->done = std::move(done);
  const std::size_t i = next_.fetch_add(1, std::memory_order_relaxed) % workers_.size();
  Worker& w = *workers_[i];
  if (w.aborting.load()) {
    t->response.transport_error = cancelled_by_stop();
    t->done(std::move(t->response));
    return;
  }
  w.enqueue(std::move(t));
}

void HttpClient::abort_all() {
  for (auto& w : workers_) {
    w->aborting = true;
    w->loop.wakeup();
  }
}

}  // namespace flowbatch
