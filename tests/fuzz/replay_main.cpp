// Runs a fuzz target's LLVMFuzzerTestOneInput over files, without libFuzzer: how `make test`
// (any compiler, no sanitizer needed) replays the seed corpus and every input that once broke a
// target. Arguments are files or folders (every file in them, in name order); a path that does
// not exist is an error, so a misspelled folder cannot pass by testing nothing. A broken property
// aborts inside the target, naming the check; the last "input:" line names the file.
#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "tests/fuzz/support.h"

namespace fs = std::filesystem;

namespace {

std::vector<fs::path> inputs_of(const fs::path& path) {
  if (!fs::is_directory(path)) return {path};
  std::vector<fs::path> files;
  for (const auto& entry : fs::directory_iterator(path))
    if (entry.is_regular_file() && entry.path().filename().string().front() != '.') files.push_back(entry.path());
  std::sort(files.begin(), files.end());
  return files;
}

std::string read_all(const fs::path& file) {
  std::ifstream in(file, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: %s FILE_OR_FOLDER...\n", argv[0]);
    return 2;
  }
  std::size_t count = 0;
  for (int i = 1; i < argc; ++i) {
    const fs::path path = argv[i];
    if (!fs::exists(path)) {
      std::fprintf(stderr, "%s: no such file or folder\n", path.c_str());
      return 1;
    }
    for (const fs::path& file : inputs_of(path)) {
      const std::string data = read_all(file);
      std::fprintf(stderr, "input: %s\n", file.c_str());
      LLVMFuzzerTestOneInput(reinterpret_cast<const std::uint8_t*>(data.data()), data.size());
      ++count;
    }
  }
  if (count == 0) {
    std::fprintf(stderr, "no inputs: nothing was tested\n");
    return 1;
  }
  std::printf("%zu inputs replayed, none failed\n", count);
  return 0;
}
