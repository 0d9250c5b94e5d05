#include "engine/state/commit_queue.h"

#include <doctest/doctest.h>

#include <atomic>
#include <stdexcept>
#include <vector>

#include "engine/core/exceptions.h"

using namespace flowbatch;

TEST_CASE("commit queue: jobs run in the order they were posted, and drain waits for them") {
  std::vector<int> order;  // written by the worker only; read after drain()
  std::vector<std::string> failures;
  CommitQueue queue([&](const std::string& m, bool) { failures.push_back(m); });
  for (int i = 0; i < 100; ++i) queue.post("job", [&order, i] { order.push_back(i); });
  queue.drain();
  REQUIRE(order.size() == 100);
  for (int i = 0; i < 100; ++i) CHECK(order[i] == i);
  CHECK(failures.empty());
  CHECK_FALSE(queue.poisoned());
}

TEST_CASE("commit queue: a failed job is reported once with its name, and nothing after it runs") {
  std::atomic<int> ran{0};
  std::vector<std::string> failures;
  CommitQueue queue([&](const std::string& m, bool) { failures.push_back(m); });
  queue.post("sink out (out.jsonl)", [&] { ++ran; });
  queue.post("sink out (out.jsonl)", [] { throw std::runtime_error("cannot sync out.jsonl: Input/output error"); });
  queue.post("sink out (out.jsonl)", [&] { ++ran; });  // must not run: its data may be lost
  queue.drain();
  CHECK(ran == 1);
  REQUIRE(failures.size() == 1);
  CHECK(failures[0] == "sink out (out.jsonl): cannot sync out.jsonl: Input/output error");
  CHECK(queue.poisoned());
  queue.post("later", [&] { ++ran; });
  queue.drain();
  CHECK(ran == 1);
}

TEST_CASE("commit queue: a full disk is reported as such, and poisons the queue too") {
  std::vector<std::pair<std::string, bool>> failures;
  CommitQueue queue([&](const std::string& m, bool disk_full) { failures.emplace_back(m, disk_full); });
  queue.post("state", [] { throw std::runtime_error("cannot sync out.jsonl: Input/output error"); });
  queue.drain();
  CommitQueue full([&](const std::string& m, bool disk_full) { failures.emplace_back(m, disk_full); });
  full.post("sink out", [] { throw StorageFull("cannot write out.jsonl: No space left on device"); });
  full.drain();
  REQUIRE(failures.size() == 2);
  CHECK_FALSE(failures[0].second);
  CHECK(failures[1].second);
  CHECK(failures[1].first == "sink out: cannot write out.jsonl: No space left on device");
  CHECK(full.poisoned());
}

TEST_CASE("commit queue: destruction runs what is still queued") {
  std::atomic<int> ran{0};
  {
    CommitQueue queue([](const std::string&, bool) {});
    for (int i = 0; i < 10; ++i) queue.post("job", [&] { ++ran; });
  }
  CHECK(ran == 10);
}
