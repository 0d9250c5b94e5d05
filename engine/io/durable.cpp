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

}  // namespace flowbatch
