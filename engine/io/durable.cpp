#include "engine/io/durable.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>
#include <vector>

#include "engine/core/exceptions.h"

namespace flowbatch {
namespace {

std::filesystem::path folder_of(const std::filesystem::path& path) {
  const auto parent = path.parent_path();
  return parent.empty() ? std::filesystem::path(".") : parent;
}

}  // namespace

void throw_file_error(const std::string& what, int error) {
  const std::string message = what + ": " + std::strerror(error);
  if (error == ENOSPC || error == EDQUOT)
    throw StorageFull(message + " (free some space, then run the same command to go on)");
  throw std::runtime_error(message);
}

void sync_folder(const std::filesystem::path& folder) {
  const int fd = ::open(folder.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) throw_file_error("cannot open the folder " + folder.string(), errno);
  const int rc = ::fsync(fd);
  const int saved = errno;
  ::close(fd);
  if (rc != 0) throw_file_error("cannot sync the folder " + folder.string(), saved);
}

void create_folders_durably(const std::filesystem::path& folder) {
  std::vector<std::filesystem::path> missing;  // deepest first
  auto p = folder;
  for (; !p.empty() && !std::filesystem::exists(p); p = p.parent_path()) {
    missing.push_back(p);
    if (p == p.parent_path()) break;
  }
  if (!p.empty() && std::filesystem::exists(p) && !std::filesystem::is_directory(p))
    throw std::runtime_error("cannot create the folder " + folder.string() + ": " + p.string() +
                             " is a file, not a folder");
  for (auto it = missing.rbegin(); it != missing.rend(); ++it) {
    // 0700: the folders hold outputs and the state (prompts, answers); the umask may take more away.
    if (::mkdir(it->c_str(), 0700) != 0 && errno != EEXIST)
      throw_file_error("cannot create the folder " + it->string(), errno);
    sync_folder(folder_of(*it));
  }
}

void rename_durably(const std::filesystem::path& from, const std::filesystem::path& to) {
  std::error_code ec;
  std::filesystem::rename(from, to, ec);
  if (ec) throw_file_error("cannot move " + from.string() + " to " + to.string(), ec.value());
  sync_folder(folder_of(to));
  if (folder_of(from) != folder_of(to)) sync_folder(folder_of(from));
}

void write_file_atomically(const std::filesystem::path& file, std::string_view text, bool durable) {
  if (!file.parent_path().empty()) {
    if (durable) create_folders_durably(file.parent_path());
    else std::filesystem::create_directories(file.parent_path());
  }
  const std::filesystem::path temporary = file.string() + ".tmp";
  const int fd = ::open(temporary.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (fd < 0) throw_file_error("cannot write " + temporary.string(), errno);
  std::size_t written = 0;
  while (written < text.size()) {
    const ssize_t n = ::write(fd, text.data() + written, text.size() - written);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      const int error = errno;
      ::close(fd);
      throw_file_error("cannot write " + temporary.string(), error);
    }
    written += static_cast<std::size_t>(n);
  }
  if ((durable && ::fsync(fd) != 0) || ::close(fd) != 0) throw_file_error("cannot write " + temporary.string(), errno);
  if (durable) rename_durably(temporary, file);
  else std::filesystem::rename(temporary, file);
}

}  // namespace flowbatch
