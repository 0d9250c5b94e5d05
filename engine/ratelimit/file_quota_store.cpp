#include "engine/ratelimit/file_quota_store.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <ctime>
#include <functional>
#include <stdexcept>

namespace flowbatch {

/// The file's contents. A fresh (zero-filled) file is a limit nobody has used yet.
struct FileQuotaStore::State {
  static constexpr std::uint64_t kMagic = 0x31544d494c424624;  // "$FBLIMT1"
  static constexpr std::size_t kHolders = 256;
  struct Holder {
    std::uint64_t id = 0;  // a hash of the holder's name; 0: a free entry
    std::int64_t pid = 0;
    std::int64_t slots = 0;
    double expires_us = 0;
  };
  std::uint64_t magic = 0;
  double request_tat_us = 0;
  double token_tat_us = 0;
  double pause_until_us = 0;
  Holder holders[kHolders];
};

namespace {

double monotonic_us() {
  timespec ts{};
  ::clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<double>(ts.tv_sec) * 1e6 + static_cast<double>(ts.tv_nsec) / 1e3;
}

std::runtime_error file_error(const std::filesystem::path& path, const char* what) {
  return std::runtime_error(fmt::format("shared limit {}: {}: {}", path.string(), what, std::strerror(errno)));
}

/// Values from before a reboot (the monotonic clock starts again) must not stall the limit.
void forget_other_boots(FileQuotaStore::State& s, double now) {
  const double far = now + 3600e6;
  if (s.magic != FileQuotaStore::State::kMagic || s.request_tat_us > far || s.token_tat_us > far ||
      s.pause_until_us > far) {
    s = FileQuotaStore::State{};
    s.magic = FileQuotaStore::State::kMagic;
  }
}

bool holder_gone(const FileQuotaStore::State::Holder& h, double now) {
  return h.expires_us < now || h.expires_us > now + 3600e6 ||
         (::kill(static_cast<pid_t>(h.pid), 0) != 0 && errno == ESRCH);
}

/// quota_store.h's step; redis_quota_store.cpp's script takes the same.
QuotaGrant apply_step(FileQuotaStore::State& s, const QuotaAsk& a, double now) {
  forget_other_boots(s, now);
  const std::uint64_t id = std::hash<std::string>{}(a.holder) | 1;  // never 0, the free mark
  FileQuotaStore::State::Holder* mine = nullptr;
  for (auto& h : s.holders) {
    if (h.id != 0 && holder_gone(h, now)) h = {};
    if (h.id == id) mine = &h;
  }
  if (a.pause_us > 0) s.pause_until_us = std::max(s.pause_until_us, now + static_cast<double>(a.pause_us));
  const double earliest = std::max(now, s.pause_until_us);
  auto reserve = [&](double& tat, double amount, double interval, double extra) -> double {
    if (interval <= 0 || (amount <= 0 && extra <= 0)) return 0;
    tat = std::max(tat, now) + extra * interval;
    const double start = std::max(tat, earliest);
    if (amount > 0) tat = start + amount * interval;
    return start - now;
  };
  QuotaGrant g;
  g.requests_in_us =
      static_cast<std::int64_t>(reserve(s.request_tat_us, static_cast<double>(a.requests), a.request_interval_us, 0));
  g.tokens_in_us = static_cast<std::int64_t>(reserve(s.token_tat_us, a.tokens, a.token_interval_us, a.extra_tokens));

  const std::int64_t before = mine ? mine->slots : 0;
  std::int64_t held = std::max<std::int64_t>(0, before - a.returned_slots);
  std::int64_t holders = mine ? 0 : 1;
  for (const auto& h : s.holders) holders += h.id != 0 ? 1 : 0;
  g.fair_slots = a.concurrency > 0 ? (a.concurrency + holders - 1) / holders : 0;
  if (a.slots > 0) {
    g.slots = a.slots;
    if (a.concurrency > 0) {
      std::int64_t total = held - before;
      for (const auto& h : s.holders) total += h.slots;
      g.slots = std::clamp<std::int64_t>(std::min(a.concurrency - total, g.fair_slots - held), 0, a.slots);
    }
  }
  held += g.slots;
  const bool stays = held > 0 || a.slots > 0;  // one that waits for slots counts in the fair share
  if (!mine && stays)
    mine = std::find_if(std::begin(s.holders), std::end(s.holders), [](const auto& h) { return h.id == 0; });
  if (mine == std::end(s.holders)) {  // every entry taken: nothing held, nothing granted
    g.slots = 0;
  } else if (mine && stays) {
    *mine = {id, ::getpid(), held, now + static_cast<double>(a.lease_us)};
  } else if (mine) {
    *mine = {};
  }
  g.paused_for_us = static_cast<std::int64_t>(std::max(0.0, s.pause_until_us - now));
  return g;
}

}  // namespace

bool FileQuotaStore::valid_name(const std::string& name) {
  return !name.empty() && name.size() <= 128 && name.find("..") == std::string::npos &&
         std::all_of(name.begin(), name.end(), [](char c) {
           return std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '_' || c == '-';
         });
}

std::filesystem::path FileQuotaStore::path_of(const std::string& name) {
  const char* runtime = std::getenv("XDG_RUNTIME_DIR");
  const std::filesystem::path base = runtime && *runtime
                                         ? std::filesystem::path(runtime) / "flowbatch"
                                         : std::filesystem::path(fmt::format("/tmp/flowbatch-{}", ::getuid()));
  return base / "limits" / name;
}

FileQuotaStore::FileQuotaStore(const std::string& name) : path_(path_of(name)) {
  for (const auto& dir : {path_.parent_path().parent_path(), path_.parent_path()})
    if (::mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST) throw file_error(dir, "cannot create the folder");
  fd_ = ::open(path_.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd_ < 0) throw file_error(path_, "cannot open");
  // ftruncate only grows a new file (zeros: an unused limit); one already in use keeps its state.
  struct stat st {};
  if (::fstat(fd_, &st) != 0 ||
      (st.st_size < static_cast<off_t>(sizeof(State)) && ::ftruncate(fd_, static_cast<off_t>(sizeof(State))) != 0)) {
    ::close(fd_);
    throw file_error(path_, "cannot size");
  }
  void* mapped = ::mmap(nullptr, sizeof(State), PROT_READ | PROT_WRITE, MAP_SHARED, fd_, 0);
  if (mapped == MAP_FAILED) {
    ::close(fd_);
    throw file_error(path_, "cannot map");
  }
  state_ = static_cast<State*>(mapped);
}

FileQuotaStore::~FileQuotaStore() {
  ::munmap(state_, sizeof(State));
  ::close(fd_);
}

void FileQuotaStore::take(const QuotaAsk& ask, Done done) {
  if (::flock(fd_, LOCK_EX) != 0)
    return done(nullptr, fmt::format("shared limit {}: cannot lock: {}", path_.string(), std::strerror(errno)));
  const QuotaGrant grant = apply_step(*state_, ask, monotonic_us());
  ::flock(fd_, LOCK_UN);
  done(&grant, {});
}

}  // namespace flowbatch
