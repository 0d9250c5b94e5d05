#include "tests/mock_server/http_client.h"

#include <doctest/doctest.h>

#include <algorithm>
#include <cctype>
#include <memory>

#include "engine/core/hash.h"

namespace flowbatch::test {
namespace {

/// One curl easy handle with everything it writes into.
struct Transfer {
  explicit Transfer(const HttpCall& c) : call(c), curl(curl_easy_init()) {
    REQUIRE(curl != nullptr);
    for (const auto& h : call.headers) header_list = curl_slist_append(header_list, h.c_str());
    curl_easy_setopt(curl, CURLOPT_URL, call.url.c_str());
    curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, call.method.c_str());
    if (call.method == "POST") {
      curl_easy_setopt(curl, CURLOPT_POSTFIELDS, call.body.c_str());
      curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE, static_cast<long>(call.body.size()));
    }
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, header_list);
    curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, call.timeout_ms);
    curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
    if (call.expect_continue_timeout_ms > 0)
      curl_easy_setopt(curl, CURLOPT_EXPECT_100_TIMEOUT_MS, call.expect_continue_timeout_ms);
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, &Transfer::on_body);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, this);
    curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, &Transfer::on_header);
    curl_easy_setopt(curl, CURLOPT_HEADERDATA, this);
  }
  ~Transfer() {
    curl_easy_cleanup(curl);
    curl_slist_free_all(header_list);
  }
  Transfer(const Transfer&) = delete;
  Transfer& operator=(const Transfer&) = delete;

  static std::size_t on_body(char* data, std::size_t size, std::size_t count, void* self) {
    static_cast<Transfer*>(self)->response.body.append(data, size * count);
    return size * count;
  }
  static std::size_t on_header(char* data, std::size_t size, std::size_t count, void* self) {
    auto& headers = static_cast<Transfer*>(self)->response.headers;
    std::string line(data, size * count);
    if (line.rfind("HTTP/", 0) == 0) headers.clear();  // a new response (after "100 Continue")
    const auto colon = line.find(':');
    if (colon != std::string::npos) {
      std::string name = line.substr(0, colon);
      std::transform(name.begin(), name.end(), name.begin(), [](unsigned char c) { return std::tolower(c); });
      std::string value = line.substr(colon + 1);
      value.erase(0, value.find_first_not_of(" \t"));
      value.erase(value.find_last_not_of(" \t\r\n") + 1);
      headers[name] = value;
    }
    return size * count;
  }

  void finish(CURLcode code) {
    response.curl_code = code;
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &response.status);
    curl_easy_getinfo(curl, CURLINFO_NUM_CONNECTS, &response.new_connections);
    response.elapsed =
        std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - started);
  }

  HttpCall call;
  CURL* curl;
  curl_slist* header_list = nullptr;
  HttpResponse response;
  std::chrono::steady_clock::time_point started = std::chrono::steady_clock::now();
};

HttpCall json_post(const std::string& url, const boost::json::object& body) {
  HttpCall call;
  call.url = url;
  call.body = boost::json::serialize(body);
  call.headers = {"content-type: application/json"};
  return call;
}

}  // namespace

std::string HttpResponse::header(const std::string& name) const {
  const auto it = headers.find(name);
  return it == headers.end() ? std::string() : it->second;
}

boost::json::value HttpResponse::json() const {
  boost::system::error_code ec;
  boost::json::value parsed = boost::json::parse(body, ec);
  INFO("body: " << body);
  REQUIRE_FALSE(ec);
  return parsed;
}

bool HttpResponse::body_parses() const {
  boost::system::error_code ec;
  boost::json::parse(body, ec);
  return !ec;
}

HttpResponse perform(const HttpCall& call) {
  Transfer transfer(call);
  transfer.finish(curl_easy_perform(transfer.curl));
  return std::move(transfer.response);
}

std::vector<HttpResponse> perform_concurrently(const std::vector<HttpCall>& calls) {
  CURLM* multi = curl_multi_init();
  REQUIRE(multi != nullptr);
  std::vector<std::unique_ptr<Transfer>> transfers;
  for (const auto& call : calls) {
    transfers.push_back(std::make_unique<Transfer>(call));
    curl_multi_add_handle(multi, transfers.back()->curl);
  }
  int running = 1;
  while (running > 0) {
    REQUIRE(curl_multi_perform(multi, &running) == CURLM_OK);
    int messages_left = 0;
    while (CURLMsg* message = curl_multi_info_read(multi, &messages_left)) {
      if (message->msg != CURLMSG_DONE) continue;
      for (auto& t : transfers)
        if (t->curl == message->easy_handle) t->finish(message->data.result);
    }
    if (running > 0) curl_multi_poll(multi, nullptr, 0, 100, nullptr);
  }
  std::vector<HttpResponse> responses;
  for (auto& t : transfers) {
    curl_multi_remove_handle(multi, t->curl);
    responses.push_back(std::move(t->response));
  }
  transfers.clear();
  curl_multi_cleanup(multi);
  return responses;
}

HttpCall chat_call(const MockServer& server, const std::string& user_text, boost::json::object extra) {
  boost::json::object body{{"model", "mock-model"},
                           {"messages", boost::json::array{{{"role", "user"}, {"content", user_text}}}}};
  for (auto& [key, value] : extra) body[key] = value;
  return json_post(server.base_url() + "/chat/completions", body);
}

HttpCall messages_call(const MockServer& server, const std::string& user_text, boost::json::object extra) {
  boost::json::object body{{"model", "mock-claude"},
                           {"max_tokens", 256},
                           {"messages", boost::json::array{{{"role", "user"}, {"content", user_text}}}}};
  for (auto& [key, value] : extra) body[key] = value;
  HttpCall call = json_post(server.base_url() + "/messages", body);
  call.headers.push_back("anthropic-version: 2023-06-01");
  return call;
}

HttpCall embeddings_call(const MockServer& server, boost::json::value input) {
  return json_post(server.base_url() + "/embeddings", {{"model", "mock-embed"}, {"input", std::move(input)}});
}

std::string expected_reply(const std::string& user_text) { return "mock reply " + hex16(stable_hash(user_text)); }

}  // namespace flowbatch::test
