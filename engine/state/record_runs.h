#pragma once
#include <cstdint>
#include <vector>

namespace flowbatch {

/// Completed input records as runs of consecutive lines of one source, with a hash per line:
/// eight bytes a record, appended as records come (mostly in order), never sorted.
class RecordRuns {
 public:
  struct Run {
    std::uint16_t source;
    std::uint64_t first_line;
    std::size_t offset;  ///< into hashes()
    std::size_t count;
  };

  void add(std::uint16_t source, std::uint64_t line, std::uint64_t hash) {
    if (!runs_.empty()) {
      Run& last = runs_.back();
      if (last.source == source && last.first_line + last.count == line) {
        hashes_.push_back(hash);
        ++last.count;
        return;
      }
    }
    runs_.push_back(Run{source, line, hashes_.size(), 1});
    hashes_.push_back(hash);
  }
  void clear() {
    runs_.clear();
    hashes_.clear();
  }
  bool empty() const { return runs_.empty(); }
  std::size_t records() const { return hashes_.size(); }
  const std::vector<Run>& runs() const { return runs_; }
  const std::vector<std::uint64_t>& hashes() const { return hashes_; }

 private:
  std::vector<Run> runs_;
  std::vector<std::uint64_t> hashes_;
};

}  // namespace flowbatch
