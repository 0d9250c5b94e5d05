#pragma once
// nginx, started by a test as a server nobody here wrote: a rate limiter (limit_req), a TLS and
// HTTP/2 endpoint, a forward proxy. `make deps` installs it; tests skip (with a message) where
// it is missing.
#include <sys/types.h>

#include <string>
#include <vector>

#include "tests/support/fixtures.h"

namespace flowbatch::test {

/// A loopback TCP port that was free a moment ago (the kernel's pick).
int free_port();

class Nginx {
 public:
  /// The nginx program, or "" when it is not installed.
  static std::string program();

  /// Starts nginx with `http_block` as the body of its `http { }` section (server blocks,
  /// log formats, zones); its pid, logs (access.log unless the block says otherwise) and temp
  /// folders live in `dir`. Returns once every port in `ports` accepts connections.
  Nginx(const TempDir& dir, const std::string& http_block, const std::vector<int>& ports);
  ~Nginx();
  Nginx(const Nginx&) = delete;
  Nginx& operator=(const Nginx&) = delete;

  /// Everything logged to `dir`/access.log so far.
  std::string access_log() const;

 private:
  const TempDir& dir_;
  pid_t pid_ = -1;
};

}  // namespace flowbatch::test
