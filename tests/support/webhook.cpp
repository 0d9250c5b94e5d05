#include "tests/support/webhook.h"

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <doctest/doctest.h>

#include <boost/json/parse.hpp>
#include <sstream>

#include "tests/support/nginx.h"  // free_port

namespace flowbatch::test {

WebhookReceiver::WebhookReceiver(const TempDir& dir, int fail_first)
    : port_(free_port()), file_(dir / "webhook.jsonl") {
  const std::string script = source_path("tests/support/webhook_receiver.py").string();
  std::vector<std::string> args = {"python3", script, std::to_string(port_), file_.string(),
                                   std::to_string(fail_first)};
  pid_ = start_program(args);
  const auto ready = std::filesystem::path(file_.string() + ".ready");
  REQUIRE_MESSAGE(eventually([&] { return std::filesystem::exists(ready); }, std::chrono::seconds(10)),
                  "the webhook receiver did not start");
}

WebhookReceiver::~WebhookReceiver() {
  if (pid_ <= 0) return;
  ::kill(pid_, SIGTERM);
  ::waitpid(pid_, nullptr, 0);
}

std::string WebhookReceiver::url(const std::string& path) const {
  return "http://127.0.0.1:" + std::to_string(port_) + path;
}

std::vector<boost::json::object> WebhookReceiver::received() const {
  std::vector<boost::json::object> out;
  std::istringstream in(read_file(file_));
  for (std::string line; std::getline(in, line);)
    if (!line.empty()) out.push_back(boost::json::parse(line).as_object());
  return out;
}

}  // namespace flowbatch::test
