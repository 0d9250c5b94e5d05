#pragma once
// A real webhook receiver on loopback (tests/support/webhook_receiver.py, python3), for the tests
// of [notify.NAME]: it keeps every POST it accepts.
#include <sys/types.h>

#include <boost/json/object.hpp>
#include <string>
#include <vector>

#include "tests/support/fixtures.h"

namespace flowbatch::test {

class WebhookReceiver {
 public:
  /// Listens on a free port; answers the first `fail_first` requests 500 (not kept).
  explicit WebhookReceiver(const TempDir& dir, int fail_first = 0);
  ~WebhookReceiver();
  WebhookReceiver(const WebhookReceiver&) = delete;
  WebhookReceiver& operator=(const WebhookReceiver&) = delete;

  std::string url(const std::string& path = "/hook") const;
  /// Every request kept so far: {"path", "authorization", "content_type", "body"}.
  std::vector<boost::json::object> received() const;

 private:
  pid_t pid_ = -1;
  int port_ = 0;
  std::filesystem::path file_;
};

}  // namespace flowbatch::test
