#pragma once
#include <filesystem>
#include <string>

namespace flowbatch {

/// A path as a person wants to read it: relative to the current folder when it lies inside it,
/// else absolute. For messages, summaries and graph dumps only; never for opening files.
inline std::string display_path(const std::filesystem::path& path) {
  std::error_code ec;
  const auto cwd = std::filesystem::current_path(ec);
  if (ec || !path.is_absolute()) return path.string();
  const auto rel = path.lexically_relative(cwd);
  if (rel.empty() || rel.begin()->string() == "..") return path.string();
  return rel.string();
}

}  // namespace flowbatch
