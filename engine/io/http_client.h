#pragma once
#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string_view>
#include <vector>

#include "engine/io/event_loop.h"
#include "flowbatch/provider.h"

namespace flowbatch {

/// One raw response header line as the client keeps it: the name lower-cased, the value without
/// the blanks around it and the line ending. Nothing for a line without a colon (the status line,
/// the blank line that ends the headers).
std::optional<HttpHeader> parse_header_line(std::string_view line);

/// Per-transfer limits, from the provider's settings.
struct TransferOptions {
  std::chrono::milliseconds timeout{60000};  ///< the whole transfer, connection included
  std::chrono::milliseconds connect_timeout{10000};
  /// PEM certificates to trust instead of the system's (nullptr: the system's). Not copied: it
  /// points into the provider's settings, which outlive every transfer of the run.
  const char* ca_file = nullptr;
  /// An answer that has begun arriving but gets fewer than this many bytes a second over
  /// `low_speed_time` is stopped as a timeout (0: never). Counted from its first byte, not from
  /// the request (curl's own low-speed limit would be): a model may think for minutes first.
  std::size_t low_speed_limit = 16;
  std::chrono::milliseconds low_speed_time{30000};
};

/// The most memory all answers being received at once may take, over every transfer and loop
/// (each one is also capped at 256 MB), unless `pipeline.response_memory_mb` says otherwise. A
/// transfer that would go beyond it fails as `network` (retried): the others finish and free
/// their share meanwhile.
inline constexpr std::size_t kDefaultResponseBudget = std::size_t{1} << 30;

/// The engine's only HTTP client: libcurl's multi interface on the I/O threads (EventLoops).
///
/// send() may be called from any thread; the request is queued for a loop (round-robin), which
/// starts it on its next pass (woken by curl_multi_wakeup) and calls `done` on that loop's thread
/// when it ends. Easy handles are reused, so connections stay alive; HTTP/2 is multiplexed when
/// the server offers it (CURLPIPE_MULTIPLEX with PIPEWAIT); TLS is verified; proxy variables
/// (https_proxy, no_proxy, ...) are honoured by libcurl. Time-outs and connection failures come
/// back as HttpResponse::transport_error, already classified (timeout, network).
class HttpClient {
 public:
  using Done = std::function<void(HttpResponse)>;

  /// Registers with each loop; call before the loops start.
  explicit HttpClient(const std::vector<EventLoop*>& loops, std::size_t response_budget = kDefaultResponseBudget);
  ~HttpClient();
  HttpClient(const HttpClient&) = delete;
  HttpClient& operator=(const HttpClient&) = delete;

  void send(HttpRequest request, TransferOptions options, Done done);
  /// Ends every queued or running transfer now, each `done` receiving a cancelled response.
  /// Used by a hard stop. Thread-safe.
  void abort_all();

  struct Worker;  // one per loop (http_client.cpp)

  /// Bytes of answers being received, shared by every transfer.
  struct ResponseBudget {
    std::size_t limit;
    std::atomic<std::size_t> used{0};
    /// Takes `n` bytes if they fit; false (and nothing taken) if they do not.
    bool charge(std::size_t n);
    void release(std::size_t n) { used.fetch_sub(n, std::memory_order_relaxed); }
  };

 private:
  ResponseBudget budget_;
  std::vector<std::unique_ptr<Worker>> workers_;
  std::atomic<std::size_t> next_{0};
};

}  // namespace flowbatch
