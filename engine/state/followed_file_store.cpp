// The state's record of the files a followed source began (its file, then each that took the
// path's place after a rotation or truncation), so a resumed run numbers their lines as before.
#include "engine/state/sqlite.h"
#include "engine/state/state_store.h"

namespace flowbatch {
namespace {

/// Binds (source, device, inode, line_base) to parameters 1 to 4.
void bind_followed_file(sqlite::Statement& s, const std::string& source, const FollowedFile& file) {
  s.bind(1, source);
  s.bind(2, static_cast<std::int64_t>(file.device));
  s.bind(3, static_cast<std::int64_t>(file.inode));
  s.bind(4, static_cast<std::int64_t>(file.line_base));
}

}  // namespace

void StateStore::create_followed_files_table() {
  exec(
      "CREATE TABLE IF NOT EXISTS followed_files(source TEXT NOT NULL, device INTEGER NOT NULL, inode INTEGER NOT "
      "NULL, line_base INTEGER NOT NULL)");
}

void StateStore::record_followed_files(const std::string& source, const std::vector<FollowedFile>& files) {
  if (files.empty()) return;
  std::lock_guard lock(mutex_);
  durable_transaction([&] {
    sqlite::Statement s(db_, "INSERT INTO followed_files(source, device, inode, line_base) VALUES (?, ?, ?, ?)");
    for (const FollowedFile& file : files) {
      bind_followed_file(s, source, file);
      check(s.step(), "record a followed file");
      s.reset();
    }
  });
}

void StateStore::forget_followed_files(const std::string& source, const std::vector<FollowedFile>& files) {
  if (files.empty()) return;
  std::lock_guard lock(mutex_);
  sqlite::Statement s(db_,
                      "DELETE FROM followed_files WHERE source = ? AND device = ? AND inode = ? AND line_base = ?");
  for (const FollowedFile& file : files) {
    bind_followed_file(s, source, file);
    check(s.step(), "forget a followed file");
    s.reset();
  }
}

std::vector<FollowedFile> StateStore::followed_files(const std::string& source) {
  std::lock_guard lock(mutex_);
  std::vector<FollowedFile> out;
  sqlite::Statement s(db_, "SELECT device, inode, line_base FROM followed_files WHERE source = ? ORDER BY rowid");
  s.bind(1, source);
  while (s.step() == SQLITE_ROW)
    out.push_back(FollowedFile{static_cast<std::uint64_t>(s.integer(0)), static_cast<std::uint64_t>(s.integer(1)),
                               static_cast<std::uint64_t>(s.integer(2))});
  return out;
}

}  // namespace flowbatch
