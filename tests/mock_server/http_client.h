#pragma once
// Real HTTP for the mock server's tests: libcurl, one request at a time or many at once.
#include <curl/curl.h>

#include <boost/json.hpp>

#include <chrono>
#include <map>
#include <string>
#include <vector>

#include "tests/support/mock_server.h"

namespace flowbatch::test {

struct HttpCall {
  std::string method = "POST";
  std::string url;
  std::string body;
  std::vector<std::string> headers;  ///< "name: value"
  long timeout_ms = 10000;
  long expect_continue_timeout_ms = 0;  ///< how long curl waits for "100 Continue" (0: curl's default)
};

struct HttpResponse {
  CURLcode curl_code = CURLE_OK;
  long status = 0;
  std::map<std::string, std::string> headers;  ///< names lower-cased
  std::string body;
  std::chrono::milliseconds elapsed{0};
  long new_connections = 0;  ///< 0 when a kept-alive connection was reused

  bool has_header(const std::string& name) const { return headers.count(name) > 0; }
  std::string header(const std::string& name) const;
  /// The body parsed as JSON; fails the test when it is not.
  boost::json::value json() const;
  bool body_parses() const;
};

HttpResponse perform(const HttpCall& call);
/// Every call in flight at once (curl multi, one connection each).
std::vector<HttpResponse> perform_concurrently(const std::vector<HttpCall>& calls);

/// A chat completion call: {"model":"mock-model","messages":[{"role":"user","content":text}], ...extra}.
HttpCall chat_call(const MockServer& server, const std::string& user_text, boost::json::object extra = {});
/// An Anthropic Messages call with anthropic-version set and max_tokens 256 unless `extra` says otherwise.
HttpCall messages_call(const MockServer& server, const std::string& user_text, boost::json::object extra = {});
HttpCall embeddings_call(const MockServer& server, boost::json::value input);

/// "mock reply " + hex16(stable_hash(text)): what the mock answers to `text`.
std::string expected_reply(const std::string& user_text);

}  // namespace flowbatch::test
