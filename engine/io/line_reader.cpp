#include "engine/io/line_reader.h"

#include "engine/core/text.h"

#include <fmt/format.h>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <stdexcept>

namespace flowbatch {
namespace {
constexpr std::size_t kBlock = 1 << 20;
constexpr std::size_t kSmallestBlock = 4096;

/// One read(2) block for the open file `fd`: 1 MiB, or less for a smaller file (many small
/// inputs, such as replayed dead letters, need not cost a megabyte each).
std::size_t block_size(int fd) {
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) return kBlock;
  const auto size = static_cast<std::size_t>(st.st_size);
  return size >= kBlock ? kBlock : std::max(kSmallestBlock, size + 1);  // +1: the end shows in one read
}

constexpr bool blank(char c) { return c == ' ' || c == '\t' || c == '\r'; }

std::runtime_error io_error(const std::string& what, const std::filesystem::path& path) {
  return std::runtime_error(what + " " + path.string() + ": " + std::strerror(errno));
}
}  // namespace

LineReader::LineReader(const std::filesystem::path& path, std::uint64_t max_line_bytes)
    : path_(path), max_line_bytes_(max_line_bytes) {
  fd_ = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd_ < 0) throw io_error("cannot open", path);
  capacity_ = block_size(fd_);
  buffer_ = std::make_unique_for_overwrite<char[]>(capacity_);
  struct stat st {};
  if (::fstat(fd_, &st) == 0 && S_ISREG(st.st_mode)) size_at_open_ = static_cast<std::uint64_t>(st.st_size);
}

std::optional<std::string> LineReader::changed_while_read() const {
  struct stat st {};
  if (::fstat(fd_, &st) != 0 || !S_ISREG(st.st_mode)) return std::nullopt;
  const auto now = static_cast<std::uint64_t>(st.st_size);
  if (now < size_at_open_)
    return fmt::format("{} shrank while it was read (from {} to {} bytes): only the records before the cut were read",
                       path_.string(), size_at_open_, now);
  if (now > offset_)
    return fmt::format(
        "{} grew while it was read: the {} bytes added after its end was reached were not read; run the same "
        "command again to process them (records already done are skipped)",
        path_.string(), now - offset_);
  return std::nullopt;
}

/// A followed file may start empty: its buffer is sized for what is still to come.
void LineReader::follow() {
  following_ = true;
  if (capacity_ >= kBlock) return;
  auto bigger = std::make_unique_for_overwrite<char[]>(kBlock);
  std::memcpy(bigger.get(), buffer_.get(), end_);
  buffer_ = std::move(bigger);
  capacity_ = kBlock;
}

LineReader::FileState LineReader::file_state() const {
  struct stat st {};
  if (::fstat(fd_, &st) != 0) throw io_error("cannot stat", path_);
  return FileState{static_cast<std::uint64_t>(st.st_dev), static_cast<std::uint64_t>(st.st_ino),
                   static_cast<std::uint64_t>(st.st_size)};
}

LineReader::~LineReader() {
  if (fd_ >= 0) ::close(fd_);
}

bool LineReader::fill() {
  if (eof_) return false;
  if (begin_ > 0) {  // keep the unread tail, make room behind it
    std::memmove(buffer_.get(), buffer_.get() + begin_, end_ - begin_);
    end_ -= begin_;
    begin_ = 0;
  }
  if (end_ == capacity_) {  // a line longer than the buffer
    auto bigger = std::make_unique_for_overwrite<char[]>(capacity_ * 2);
    std::memcpy(bigger.get(), buffer_.get(), end_);
    buffer_ = std::move(bigger);
    capacity_ *= 2;
  }
  const ssize_t n = ::read(fd_, buffer_.get() + end_, capacity_ - end_);
  if (n < 0) {
    if (errno == EINTR) return true;
    throw io_error("cannot read", path_);
  }
  if (n == 0) {
    eof_ = true;
    return false;
  }
  end_ += static_cast<std::size_t>(n);
  if (!bom_checked_) skip_bom();
  return true;
}

/// A UTF-8 byte order mark at the very start of a file is not part of its first line.
void LineReader::skip_bom() {
  if (bom_checked_) return;
  if (end_ < kUtf8Bom.size() && !eof_) return;  // too few bytes yet to tell
  bom_checked_ = true;
  if (std::string_view(buffer_.get(), end_).substr(0, kUtf8Bom.size()) == kUtf8Bom) {
    begin_ = kUtf8Bom.size();
    offset_ = kUtf8Bom.size();
  }
}

bool LineReader::next(std::string& line, std::uint64_t& line_number) {
  cut_short_ = false;
  if (following_) eof_ = false;  // the file may have grown since
  if (skipping_overlong_ && !skip_rest_of_overlong()) return false;
  std::size_t searched = 0;  // bytes after begin_ known to hold no newline (fill() keeps them)
  while (true) {
    const void* nl = std::memchr(buffer_.get() + begin_ + searched, '\n', end_ - begin_ - searched);
    if (nl) {
      const std::size_t pos = static_cast<std::size_t>(static_cast<const char*>(nl) - buffer_.get());
      std::size_t stop = pos;
      if (stop > begin_ && buffer_[stop - 1] == '\r') --stop;
      cut_short_ = max_line_bytes_ > 0 && stop - begin_ > max_line_bytes_;
      line.assign(buffer_.get() + begin_, cut_short_ ? head_size() : stop - begin_);
      offset_ += pos + 1 - begin_;
      begin_ = pos + 1;
      line_number = ++line_;
      return true;
    }
    searched = end_ - begin_;
    if (max_line_bytes_ > 0 && searched > max_line_bytes_) return skip_overlong(line, line_number);
    if (!fill()) break;
  }
  if (begin_ == end_ || following_) return false;      // following: a line without its newline is not whole yet
  line.assign(buffer_.get() + begin_, end_ - begin_);  // a last line without a newline
  if (!line.empty() && line.back() == '\r') line.pop_back();
  offset_ += end_ - begin_;
  begin_ = end_;
  line_number = ++line_;
  return true;
}

/// The line at begin_ is longer than the limit and holds no newline yet: keep its start, then
/// read on to its end dropping every block (memory stays at one block, whatever its length).
bool LineReader::skip_overlong(std::string& line, std::uint64_t& line_number) {
  line.assign(buffer_.get() + begin_, head_size());
  cut_short_ = true;
  line_number = ++line_;
  while (true) {
    const char* start = buffer_.get() + begin_;
    const void* nl = std::memchr(start, '\n', end_ - begin_);
    if (nl) {
      const std::size_t past = static_cast<std::size_t>(static_cast<const char*>(nl) - start) + 1;
      offset_ += past;
      begin_ += past;
      return true;
    }
    offset_ += end_ - begin_;
    begin_ = end_;  // fill() then reuses the buffer from its start instead of growing it
    if (!fill()) {  // the file ends inside the line; a followed one may go on with it later
      skipping_overlong_ = following_;
      return true;
    }
  }
}

/// Following: drops the rest of a line returned cut short, up to its newline; false when the file
/// ends before it (still inside the line).
bool LineReader::skip_rest_of_overlong() {
  while (true) {
    const void* nl = std::memchr(buffer_.get() + begin_, '\n', end_ - begin_);
    if (nl) {
      const std::size_t past = static_cast<std::size_t>(static_cast<const char*>(nl) - buffer_.get()) + 1 - begin_;
      offset_ += past;
      begin_ += past;
      skipping_overlong_ = false;
      return true;
    }
    offset_ += end_ - begin_;
    begin_ = end_;
    if (!fill()) return !following_;  // a finished file ends the line with itself
  }
}

bool is_blank_line(std::string_view line) {
  for (char c : line)
    if (!blank(c)) return false;
  return true;
}

std::uint64_t count_nonblank_lines(const std::filesystem::path& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return 0;
  const std::size_t capacity = block_size(fd);
  const auto block = std::make_unique_for_overwrite<char[]>(capacity);  // read(2) fills it
  std::uint64_t lines = 0;
  bool content = false;  // the current line has something besides white space
  bool first_block = true;
  while (true) {
    const ssize_t n = ::read(fd, block.get(), capacity);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    const char* p = block.get();
    const char* end = p + n;
    // LineReader does not read a byte order mark as content: a line holding only one is blank.
    if (first_block && std::string_view(p, static_cast<std::size_t>(n)).starts_with(kUtf8Bom)) p += kUtf8Bom.size();
    first_block = false;
    while (p < end) {
      const char* nl = static_cast<const char*>(std::memchr(p, '\n', static_cast<std::size_t>(end - p)));
      const char* stop = nl ? nl : end;
      // Most lines start with their content, so this usually looks at one byte.
      for (const char* c = p; !content && c < stop; ++c) content = !blank(*c);
      if (!nl) break;
      lines += content ? 1 : 0;
      content = false;
      p = nl + 1;
    }
  }
  ::close(fd);
  return lines + (content ? 1 : 0);
}

std::optional<std::string> why_unreadable(const std::filesystem::path& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return io_error("cannot read", path).what();
  if (!S_ISREG(st.st_mode)) return path.string() + " is not a regular file";
  if (::access(path.c_str(), R_OK) != 0) return io_error("cannot read", path).what();
  return std::nullopt;
}

}  // namespace flowbatch
