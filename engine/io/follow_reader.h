#pragma once
// Following a file as it grows, like `tail -F`: whole lines as they are appended, surviving the
// file being renamed away and replaced (rotation) or cut back (truncation).
#include <deque>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "engine/io/line_reader.h"
#include "flowbatch/source.h"

namespace flowbatch {

/// Reads the lines of the file at a path and of the files that take its place, numbering them
/// across files (FollowedFile::line_base). Never waits: next() says when nothing whole is there
/// yet, and the caller asks again later. A line without its newline is not taken until the newline
/// comes, unless its file was rotated away (then nothing more will come to it).
///
/// A rotation is seen when the path names another file (device, inode) than the one being read:
/// the old one is read to its end first. A truncation is seen when the file is shorter than what
/// was read of it: it is read again from its start, as a new file. Not thread-safe.
class FollowReader {
 public:
  /// `earlier`: the files an earlier run began (oldest first), read again before anything newer,
  /// wherever they are now (at the path, or renamed in its folder); `first_free_line`: the first
  /// number no earlier run used (a new file's lines are numbered from it on). Throws std::runtime_error when a file
  /// found cannot be opened.
  FollowReader(std::filesystem::path path, std::uint64_t max_line_bytes, std::vector<FollowedFile> earlier = {},
               std::uint64_t first_free_line = 1);
  ~FollowReader();

  /// The next whole line and its number; false when none is there now.
  bool next(std::string& line, std::uint64_t& number);
  /// Whether the line next() returned last was longer than max_line_bytes (only its start was kept).
  bool cut_short() const;
  /// The files begun since the last call.
  std::vector<FollowedFile> take_began_files();
  /// Files (as take_began_files() gave them, in this run or an earlier one) that no resumed run
  /// could read again, found since the last call: gone from disk (looked for whenever a rotated
  /// file has been read to its end), or an earlier beginning of a file truncated since.
  std::vector<FollowedFile> take_forgettable_files();
  /// Warnings since the last call (an earlier file that is gone, a rotation, a truncation).
  std::vector<std::string> take_notes();
  /// Bytes in the file being read (and the path's, when it is another one) not read yet.
  std::uint64_t lag_bytes() const;

 private:
  struct Open;
  bool next_in_current(std::string& line, std::uint64_t& number);
  bool move_on();
  void begin_at_path(std::uint64_t line_base);
  void open_earlier();
  std::optional<std::filesystem::path> find(const FollowedFile& file) const;
  std::uint64_t next_line_base() const;
  void forget_gone_files();

  std::filesystem::path path_;
  std::uint64_t max_line_bytes_;
  std::deque<FollowedFile> earlier_;
  std::uint64_t first_free_line_;
  std::unique_ptr<Open> current_;
  std::vector<FollowedFile> began_;
  std::vector<FollowedFile> behind_;       // rotated away and read to their end: kept while on disk
  std::vector<FollowedFile> forgettable_;  // since take_forgettable_files()
  std::vector<std::string> notes_;
};

}  // namespace flowbatch
