#pragma once
#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

namespace flowbatch {

/// Reads a text file line by line through a large buffer (read(2), no iostreams), counting lines.
/// Strips "\n" and a trailing "\r". Throws std::runtime_error naming the file on I/O errors.
class LineReader {
 public:
  /// Lines longer than `max_line_bytes` (0: no limit) are never held whole: next() returns their
  /// first kOverlongHead bytes (at most max_line_bytes), skips the rest, and cut_short() says so.
  explicit LineReader(const std::filesystem::path& path, std::uint64_t max_line_bytes = 0);
  ~LineReader();
  LineReader(const LineReader&) = delete;
  LineReader& operator=(const LineReader&) = delete;

  /// The next line and its 1-based number; false at end of file.
  bool next(std::string& line, std::uint64_t& line_number);
  /// Bytes consumed so far (the offset just past the last line returned).
  std::uint64_t offset() const { return offset_; }
  /// Lines returned so far (the number of the last one).
  std::uint64_t lines() const { return line_; }
  /// Once next() returned false: how the file changed while it was read, worded for a warning
  /// (it shrank, or grew after its end was reached); nothing when it did not.
  std::optional<std::string> changed_while_read() const;
  /// Whether the line next() returned last was longer than the limit (only its start was kept).
  bool cut_short() const { return cut_short_; }

  /// Following a file that grows (tail -F): at its end, next() returns false without taking a
  /// last line that has no newline yet, and a later next() reads what was appended since.
  /// Switched off (finish_following) once the file is known to be complete (it was rotated away):
  /// its last line then counts even without a newline.
  void follow();
  void finish_following() { following_ = false; }
  /// The file's identity (device, inode) and its size now, as fstat sees the open file.
  struct FileState {
    std::uint64_t device = 0, inode = 0, size = 0;
  };
  FileState file_state() const;

  static constexpr std::size_t kOverlongHead = 1024;

 private:
  bool fill();
  void skip_bom();
  bool skip_overlong(std::string& line, std::uint64_t& line_number);
  bool skip_rest_of_overlong();
  std::size_t head_size() const {
    return static_cast<std::size_t>(std::min<std::uint64_t>(kOverlongHead, max_line_bytes_));
  }

  std::filesystem::path path_;
  int fd_ = -1;
  std::unique_ptr<char[]> buffer_;  // not zero-filled: read(2) fills what is used
  std::size_t capacity_ = 0;
  std::size_t begin_ = 0;  // unread data is buffer_[begin_, end_)
  std::size_t end_ = 0;
  bool eof_ = false;
  bool bom_checked_ = false;
  std::uint64_t line_ = 0;
  std::uint64_t offset_ = 0;
  std::uint64_t size_at_open_ = 0;
  std::uint64_t max_line_bytes_ = 0;
  bool cut_short_ = false;
  bool following_ = false;
  bool skipping_overlong_ = false;  // following: the end of a line already returned cut short is still to come
};

/// Whether a line holds nothing but spaces, tabs and carriage returns (JSON's white space): the
/// lines that line-based readers skip and count_nonblank_lines does not count.
bool is_blank_line(std::string_view line);

/// The number of lines that are not blank (fast: one pass over the bytes).
std::uint64_t count_nonblank_lines(const std::filesystem::path& path);

/// Why `path` cannot be read as a regular file ("cannot read x: No such file or directory"),
/// or nothing when it can.
std::optional<std::string> why_unreadable(const std::filesystem::path& path);

}  // namespace flowbatch
