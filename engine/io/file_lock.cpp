#include "engine/io/file_lock.h"

#include "engine/io/durable.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <optional>
#include <string>

#include <fmt/format.h>

namespace flowbatch {

namespace {
/// The pid of a process holding a lock on the open file `fd` (asked with F_GETLK, never taken),
/// or nothing when none does (or the question fails).
std::optional<pid_t> lock_holder(int fd) {
  struct flock probe {};
  probe.l_type = F_WRLCK;
  probe.l_whence = SEEK_SET;  // the whole file
  if (::fcntl(fd, F_GETLK, &probe) != 0 || probe.l_type == F_UNLCK) return std::nullopt;
  return probe.l_pid;
}
}  // namespace

void file_lock::lock_or_throw(int fd, const std::filesystem::path& path, const std::string& what) {
  struct flock lock {};
  lock.l_type = F_WRLCK;
  lock.l_whence = SEEK_SET;  // the whole file, however long it grows
  if (::fcntl(fd, F_SETLK, &lock) == 0) return;
  if (errno != EACCES && errno != EAGAIN)
    throw std::runtime_error(fmt::format("cannot lock {}: {}", path.string(), std::strerror(errno)));
  const std::optional<pid_t> holder = lock_holder(fd);
  throw FileBusy(
      fmt::format("{} is in use by another flowbatch run{} ({}); wait for it to end, or stop it, then run "
                  "this command again",
                  what, holder ? fmt::format(" (pid {})", *holder) : "", path.string()));
}

bool file_lock::held(const std::filesystem::path& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0) return false;
  const bool locked = lock_holder(fd).has_value();
  ::close(fd);
  return locked;
}

RunLock::RunLock(const std::filesystem::path& lock_file, const std::string& what) {
  if (lock_file.has_parent_path()) {
    try {
      create_folders_durably(lock_file.parent_path());  // 0700, as every folder flowbatch makes
    } catch (const std::exception&) {                   // open() below says what is wrong, naming the file
    }
  }
  fd_ = ::open(lock_file.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd_ < 0) throw std::runtime_error(fmt::format("cannot open {}: {}", lock_file.string(), std::strerror(errno)));
  try {
    file_lock::lock_or_throw(fd_, lock_file, what);
  } catch (...) {
    ::close(fd_);
    fd_ = -1;
    throw;
  }
  const std::string pid = std::to_string(::getpid()) + "\n";
  if (::ftruncate(fd_, 0) == 0 && ::pwrite(fd_, pid.data(), pid.size(), 0) < 0) {
    // The pid is only for people reading the file; the lock itself is what counts.
  }
}

RunLock::~RunLock() {
  if (fd_ >= 0) ::close(fd_);
}

}  // namespace flowbatch
