// The engine's implementations of open_file_writer / open_stdout_writer (include/flowbatch/sink.h).
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <stdexcept>

#include "engine/core/text.h"
#include "engine/io/durable.h"
#include "engine/io/file_lock.h"
#include "flowbatch/sink.h"

namespace flowbatch {
namespace {

[[noreturn]] void throw_io_error(const std::string& what, const std::filesystem::path& path) {
  throw_file_error(what + " " + path.string(), errno);
}

/// Encodes one record onto `buffer`. Whatever a node put on an item (a plugin's bytes included),
/// what is written is UTF-8: ill-formed bytes become U+FFFD, which keeps JSON well-formed since
/// every byte JSON's syntax uses is ASCII.
void encode_utf8(const RecordEncoder& encoder, const Item& item, std::string& buffer) {
  const std::size_t start = buffer.size();
  encoder.encode(item, buffer);
  const std::string_view added(buffer.data() + start, buffer.size() - start);
  if (is_valid_utf8(added)) return;
  std::string repaired = to_valid_utf8(added);
  buffer.resize(start);
  buffer += repaired;
}

/// Buffers encoded records and writes them with write(2); flush() adds fdatasync, so the
/// position it returns names bytes that are really on disk.
class FileWriter final : public SinkWriter {
 public:
  FileWriter(std::filesystem::path path, std::shared_ptr<const RecordEncoder> encoder, std::uint64_t resume_at)
      : path_(std::move(path)), encoder_(std::move(encoder)), position_(resume_at) {
    // Folders and the file's own entry are synced when created: after a power cut a committed
    // position must never point into a file whose name was lost.
    const auto folder = path_.has_parent_path() ? path_.parent_path() : std::filesystem::path(".");
    create_folders_durably(folder);
    const bool existed = std::filesystem::exists(path_);
    // 0600: outputs hold prompts and answers. O_NOFOLLOW: a link put in an output's place must
    // not make the run truncate whatever it points at (the compiler refuses links; this closes
    // the gap between that check and the run).
    fd_ = ::open(path_.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd_ < 0) throw_io_error("cannot open", path_);
    if (!existed) sync_folder(folder);
    // Before anything is cut back: another run writing this file (another graph, another state)
    // would otherwise have its results truncated and interleaved with ours.
    file_lock::lock_or_throw(fd_, path_, "the output " + path_.string());
    struct stat st {};
    if (::fstat(fd_, &st) != 0) throw_io_error("cannot stat", path_);
    if (resume_at == kAppend) resume_at = static_cast<std::uint64_t>(st.st_size);
    position_ = resume_at;
    if (static_cast<std::uint64_t>(st.st_size) < resume_at)
      throw std::runtime_error(path_.string() + " is shorter than its last committed point (" +
                               std::to_string(resume_at) + " bytes); it was changed outside flowbatch");
    // Discard anything after the committed point: records of a run that was killed mid-way.
    if (::ftruncate(fd_, static_cast<off_t>(resume_at)) != 0) throw_io_error("cannot truncate", path_);
    if (::lseek(fd_, static_cast<off_t>(resume_at), SEEK_SET) < 0) throw_io_error("cannot seek in", path_);
    header_done_ = resume_at > 0;
    buffer_.reserve(kFlushBytes + 4096);
  }

  ~FileWriter() override {
    if (fd_ >= 0) ::close(fd_);
  }

  void write(const Item& item) override {
    if (!header_done_) {
      buffer_ += to_valid_utf8(encoder_->header(item));
      header_done_ = true;
    }
    encode_utf8(*encoder_, item, buffer_);
    if (buffer_.size() >= kFlushBytes) write_buffer();
  }

  std::uint64_t write_out() override {
    write_buffer();
    return position_;
  }

  /// Only the descriptor is touched: safe while another thread writes.
  void sync() override {
    if (::fdatasync(fd_) != 0) throw_io_error("cannot sync", path_);
  }

 private:
  static constexpr std::size_t kFlushBytes = 1 << 20;

  void write_buffer() {
    std::size_t done = 0;
    while (done < buffer_.size()) {
      const ssize_t n = ::write(fd_, buffer_.data() + done, buffer_.size() - done);
      if (n < 0) {
        if (errno == EINTR) continue;
        throw_io_error("cannot write", path_);
      }
      done += static_cast<std::size_t>(n);
    }
    position_ += buffer_.size();
    buffer_.clear();
  }

  std::filesystem::path path_;
  std::shared_ptr<const RecordEncoder> encoder_;
  int fd_ = -1;
  std::uint64_t position_ = 0;
  bool header_done_ = false;
  std::string buffer_;
};

/// Standard output cannot be taken back, so positions simply count records.
class StdoutWriter final : public SinkWriter {
 public:
  explicit StdoutWriter(std::shared_ptr<const RecordEncoder> encoder) : encoder_(std::move(encoder)) {}

  void write(const Item& item) override {
    if (records_ == 0) buffer_ += to_valid_utf8(encoder_->header(item));
    encode_utf8(*encoder_, item, buffer_);
    ++records_;
    if (buffer_.size() >= std::size_t{64} * 1024) write_out();
  }

  std::uint64_t write_out() override {
    if (!buffer_.empty()) {
      if (std::fwrite(buffer_.data(), 1, buffer_.size(), stdout) != buffer_.size())
        throw std::runtime_error(std::string("cannot write to standard output: ") + std::strerror(errno));
      buffer_.clear();
    }
    std::fflush(stdout);
    return records_;
  }

  void sync() override {}  // a stream is as durable as it gets once flushed

 private:
  std::shared_ptr<const RecordEncoder> encoder_;
  std::string buffer_;
  std::uint64_t records_ = 0;
};

}  // namespace

std::unique_ptr<SinkWriter> open_file_writer(const std::filesystem::path& path,
                                             std::shared_ptr<const RecordEncoder> encoder, std::uint64_t resume_at) {
  return std::make_unique<FileWriter>(path, std::move(encoder), resume_at);
}

std::unique_ptr<SinkWriter> open_stdout_writer(std::shared_ptr<const RecordEncoder> encoder) {
  return std::make_unique<StdoutWriter>(std::move(encoder));
}

}  // namespace flowbatch
