#pragma once
#include <filesystem>
#include <string>

#include "engine/ratelimit/quota_store.h"

namespace flowbatch {

/// A shared limit for the runs of one machine (`shared_limit = "local:NAME"`): the state of
/// quota_store.h in a small file mapped into every process that uses it, each step taken under an
/// exclusive flock (held for the microseconds the step takes). Time is CLOCK_MONOTONIC, the same
/// for every process of the machine. A holder whose process is gone (kill -9) gives its slots
/// back at the next step, and one not heard from for its lease does too.
class FileQuotaStore final : public QuotaStore {
 public:
  /// Opens (creating it 0600, and its folder 0700) the file of limit `name`. Throws
  /// std::runtime_error naming the file when it cannot.
  explicit FileQuotaStore(const std::string& name);
  ~FileQuotaStore() override;
  FileQuotaStore(const FileQuotaStore&) = delete;
  FileQuotaStore& operator=(const FileQuotaStore&) = delete;

  void take(const QuotaAsk& ask, Done done) override;
  std::string describe() const override { return path_.string(); }

  /// Where limit `name`'s file is: $XDG_RUNTIME_DIR/flowbatch/limits/NAME, else
  /// /tmp/flowbatch-UID/limits/NAME.
  static std::filesystem::path path_of(const std::string& name);
  /// Whether `name` may name a limit (letters, digits, '.', '_', '-').
  static bool valid_name(const std::string& name);

  struct State;

 private:
  std::filesystem::path path_;
  int fd_ = -1;
  State* state_ = nullptr;
};

}  // namespace flowbatch
