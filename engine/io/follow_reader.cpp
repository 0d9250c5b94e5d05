#include "engine/io/follow_reader.h"

#include <fmt/format.h>

#include <sys/stat.h>

#include <algorithm>
#include <system_error>

namespace flowbatch {
namespace {

struct Identity {
  std::uint64_t device = 0, inode = 0, size = 0;
};

/// What the path names now; nothing while no file is there (between a rename and the new file).
std::optional<Identity> identity_at(const std::filesystem::path& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) return std::nullopt;
  return Identity{static_cast<std::uint64_t>(st.st_dev), static_cast<std::uint64_t>(st.st_ino),
                  static_cast<std::uint64_t>(st.st_size)};
}

}  // namespace

/// The file being read, and where its numbers start.
struct FollowReader::Open {
  Open(const std::filesystem::path& where, std::uint64_t max_line_bytes, std::uint64_t base, bool growing)
      : reader(where, max_line_bytes), line_base(base), at_path(growing) {
    const auto state = reader.file_state();
    device = state.device;
    inode = state.inode;
    if (at_path) reader.follow();  // an earlier file renamed away is complete: read to its end
  }
  LineReader reader;
  std::uint64_t line_base;
  bool at_path;  ///< the file the path names (still growing), not one rotated away
  std::uint64_t device = 0, inode = 0;
  FollowedFile followed() const { return FollowedFile{device, inode, line_base}; }
};

FollowReader::FollowReader(std::filesystem::path path, std::uint64_t max_line_bytes, std::vector<FollowedFile> earlier,
                           std::uint64_t first_free_line)
    : path_(std::move(path)), max_line_bytes_(max_line_bytes), first_free_line_(first_free_line) {
  // A file truncated in place keeps its identity: only its last beginning still holds lines.
  for (std::size_t i = 0; i < earlier.size(); ++i) {
    const auto same = [&](const FollowedFile& f) {
      return f.device == earlier[i].device && f.inode == earlier[i].inode;
    };
    if (std::none_of(earlier.begin() + static_cast<std::ptrdiff_t>(i) + 1, earlier.end(), same))
      earlier_.push_back(earlier[i]);
    else forgettable_.push_back(earlier[i]);
  }
  open_earlier();
  if (!current_ && identity_at(path_)) begin_at_path(next_line_base());
}

FollowReader::~FollowReader() = default;

bool FollowReader::cut_short() const { return current_ && current_->reader.cut_short(); }

std::vector<FollowedFile> FollowReader::take_began_files() { return std::exchange(began_, {}); }

std::vector<FollowedFile> FollowReader::take_forgettable_files() { return std::exchange(forgettable_, {}); }

std::vector<std::string> FollowReader::take_notes() { return std::exchange(notes_, {}); }

std::uint64_t FollowReader::lag_bytes() const {
  std::uint64_t lag = 0;
  if (current_) {
    const auto state = current_->reader.file_state();
    if (state.size > current_->reader.offset()) lag += state.size - current_->reader.offset();
  }
  const auto at_path = identity_at(path_);
  if (at_path && (!current_ || at_path->inode != current_->inode || at_path->device != current_->device))
    lag += at_path->size;  // the file that took its place, not begun yet
  return lag;
}

bool FollowReader::next(std::string& line, std::uint64_t& number) {
  while (true) {
    if (current_ && next_in_current(line, number)) return true;
    if (!move_on()) return false;
  }
}

bool FollowReader::next_in_current(std::string& line, std::uint64_t& number) {
  std::uint64_t in_file = 0;
  if (!current_->reader.next(line, in_file)) return false;
  number = current_->line_base + in_file;
  return true;
}

/// At the end of what the current file holds now: goes on to the file after it, if there is one.
/// False when there is nothing more to read now.
bool FollowReader::move_on() {
  if (current_ && !current_->at_path) {  // a file rotated away, read to its end
    first_free_line_ = next_line_base() + 1;
    behind_.push_back(current_->followed());
    current_.reset();
    forget_gone_files();
    open_earlier();
    if (!current_ && identity_at(path_)) begin_at_path(next_line_base());
    return current_ != nullptr;
  }
  const auto now = identity_at(path_);
  if (!now) return false;  // renamed away, its successor not there yet: it will be
  if (!current_) {
    begin_at_path(next_line_base());
    return true;
  }
  if (now->device != current_->device || now->inode != current_->inode) {
    // Rotated: what was appended to the old file before the new one appeared is read first.
    current_->reader.finish_following();
    current_->at_path = false;
    notes_.push_back(fmt::format("{} was rotated: following the new file", path_.string()));
    return true;
  }
  if (now->size < current_->reader.offset()) {
    notes_.push_back(
        fmt::format("{} was truncated (to {} bytes): reading it again from its start", path_.string(), now->size));
    forgettable_.push_back(current_->followed());  // its lines are gone with the bytes cut off
    begin_at_path(next_line_base());
    return true;
  }
  return false;
}

/// The first earlier file that can still be found becomes the current one; those gone are noted.
void FollowReader::open_earlier() {
  while (!current_ && !earlier_.empty()) {
    const FollowedFile file = earlier_.front();
    earlier_.pop_front();
    const auto where = find(file);
    if (!where) {
      notes_.push_back(fmt::format(
          "a file an earlier run followed at {} (inode {}) is no longer there: its records not done then, if any, "
          "cannot be read",
          path_.string(), file.inode));
      forgettable_.push_back(file);
      continue;
    }
    current_ = std::make_unique<Open>(*where, max_line_bytes_, file.line_base, *where == path_);
  }
}

/// Where a file an earlier run followed is now: at the path, or renamed in its folder (rotation).
std::optional<std::filesystem::path> FollowReader::find(const FollowedFile& file) const {
  const auto matches = [&](const std::filesystem::path& p) {
    const auto id = identity_at(p);
    return id && id->device == file.device && id->inode == file.inode;
  };
  if (matches(path_)) return path_;
  std::error_code ec;
  const auto folder = path_.has_parent_path() ? path_.parent_path() : std::filesystem::path(".");
  for (const auto& entry : std::filesystem::directory_iterator(folder, ec))
    if (matches(entry.path())) return entry.path();
  return std::nullopt;
}

/// Files read to their end that are gone from disk now: nothing is left to read again in them.
/// Looked for at each rotation (a rotation scheme removes its oldest file then), so what the state
/// keeps is bounded by the files on disk.
void FollowReader::forget_gone_files() {
  const auto gone = std::stable_partition(behind_.begin(), behind_.end(),
                                          [&](const FollowedFile& file) { return find(file).has_value(); });
  forgettable_.insert(forgettable_.end(), gone, behind_.end());
  behind_.erase(gone, behind_.end());
}

void FollowReader::begin_at_path(std::uint64_t line_base) {
  current_ = std::make_unique<Open>(path_, max_line_bytes_, line_base, true);
  began_.push_back(current_->followed());
}

/// Numbers for a new file: past the current file's lines and past every number an earlier run used.
std::uint64_t FollowReader::next_line_base() const {
  std::uint64_t base = first_free_line_ > 0 ? first_free_line_ - 1 : 0;
  if (current_) base = std::max(base, current_->line_base + current_->reader.lines());
  return base;
}

}  // namespace flowbatch
