#pragma once
// The server's view of one HTTP exchange, free of any HTTP library: the session (server.cpp)
// fills an ApiRequest, the API (api.cpp) answers with an ApiReply saying what to do and when.
#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace flowbatch::mock {

/// Views into the session's parsed request; valid only while ApiHandler::handle runs.
struct ApiRequest {
  std::string_view method;
  std::string_view path;    ///< the target without its query string
  std::string_view target;  ///< the target as sent, query string included
  std::string_view body;
  std::vector<std::pair<std::string_view, std::string_view>> headers;

  /// The first header with this name (case-insensitive), if any.
  std::optional<std::string_view> header(std::string_view name) const;
};

enum class ReplyAction {
  respond,           ///< write status, headers and body
  reset_connection,  ///< close the socket without answering (a simulated network fault)
  hang,              ///< never answer; hold the socket until the client leaves
  truncate,          ///< send the answer's headers and half its body, then close the connection
  trickle,           ///< write the answer one byte a second
};

using HeaderList = std::vector<std::pair<std::string, std::string>>;

struct ApiReply {
  ReplyAction action = ReplyAction::respond;
  unsigned status = 200;
  HeaderList headers;
  std::string body;
  std::chrono::milliseconds delay{0};  ///< simulated latency before acting
  bool counted = true;                 ///< false for /stats itself, which the stats ignore
  bool is_answer = true;               ///< false for a broken answer (malformed): not the request answered
  std::uint64_t request_hash = 0;      ///< route and body: what "the same request" means to /stats
};

/// Case-insensitive ASCII comparison (HTTP header names, auth schemes).
bool iequals(std::string_view a, std::string_view b);

}  // namespace flowbatch::mock
