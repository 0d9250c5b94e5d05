#pragma once
// What it takes for a file's existence (not only its bytes) to survive a power cut: the folder
// entry that names it must be synced too, and so must every folder created on the way to it.
#include <filesystem>
#include <string>

namespace flowbatch {

/// Throws the failure of a file operation: "`what`: <strerror(error)>". A full disk or quota
/// (ENOSPC, EDQUOT) is StorageFull, which stops a run resumable; anything else std::runtime_error.
[[noreturn]] void throw_file_error(const std::string& what, int error);

/// fsyncs a folder, so the entries created or renamed in it are durable. Throws
/// std::runtime_error naming the folder.
void sync_folder(const std::filesystem::path& folder);

/// Creates `folder` and its missing parents, syncing each new folder's parent, so the chain
/// survives a power cut. Throws std::runtime_error naming what could not be created.
void create_folders_durably(const std::filesystem::path& folder);

/// rename(2), then syncs the folder(s) involved.
void rename_durably(const std::filesystem::path& from, const std::filesystem::path& to);

/// Replaces `file` with `text` whole or not at all: written to `file`.tmp (mode 0600, as every file
/// flowbatch writes; its folder created), then renamed over it. `durable`: synced, so the new text
/// survives a power cut (a summary); else only atomic (a report rewritten every few seconds, where
/// an fsync on the I/O thread would cost more than a lost copy). Throws naming the file.
void write_file_atomically(const std::filesystem::path& file, std::string_view text, bool durable);

}  // namespace flowbatch
