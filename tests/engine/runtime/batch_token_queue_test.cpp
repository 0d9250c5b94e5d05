// The provider's batch queue as a run plans it (engine/runtime/batch_token_queue.h): jobs cut to
// fit the limit, parked while the jobs in progress leave no room, created oldest first as jobs
// end; a refusal by the provider holds the model until one ends or the back-off passes.
#include <doctest/doctest.h>

#include "engine/runtime/batch_token_queue.h"

using namespace flowbatch;

namespace {

using Keys = std::vector<std::string>;

BatchTokenQueue queue_of(std::int64_t limit) { return BatchTokenQueue({{"m", limit}}); }

}  // namespace

TEST_CASE("batch queue: a model's limit by its name, a dated snapshot of it, or \"*\", and none is no limit") {
  BatchTokenQueue q({{"gpt-4o-mini", 1000}, {"*", 50}});
  CHECK(q.limit("gpt-4o-mini") == 1000);
  CHECK(q.limit("gpt-4o-mini-2024-07-18") == 1000);
  CHECK(q.limit("other") == 50);
  CHECK(BatchTokenQueue({}).limit("m") == 0);
  CHECK(BatchTokenQueue({}).fits("m", 1000000, 1000000));
  CHECK_FALSE(BatchTokenQueue({}).too_large("m", 1000000));
}

TEST_CASE("batch queue: a job is cut before a line would take it past the limit, a line alone past it fits no job") {
  const auto q = queue_of(100);
  CHECK(q.fits("m", 0, 60));
  CHECK(q.fits("m", 60, 40));
  CHECK_FALSE(q.fits("m", 60, 41));
  CHECK(q.fits("m", 0, 150));  // an empty job takes any line: too_large() is asked first
  CHECK_FALSE(q.too_large("m", 100));
  CHECK(q.too_large("m", 101));
}

TEST_CASE("batch queue: jobs past the room left are parked, and go oldest first as jobs end") {
  auto q = queue_of(100);
  CHECK(q.offer("a", "m", 60));
  CHECK(q.offer("b", "m", 40));
  CHECK_FALSE(q.offer("c", "m", 50));
  CHECK_FALSE(q.offer("d", "m", 10));  // it would fit, but waits behind c: oldest first
  CHECK(q.in_progress("m") == 100);
  CHECK(q.parked("m") == 2);
  CHECK(q.release("b") == Keys{});  // 60 + 50 > 100: c still waits
  CHECK(q.release("a") == Keys{"c", "d"});
  CHECK(q.in_progress("m") == 60);
  CHECK(q.parked("m") == 0);
  CHECK(q.release("a").empty());  // released twice: nothing changes
  CHECK(q.in_progress("m") == 60);
  CHECK(q.peak() == 100);
}

TEST_CASE(
    "batch queue: with nothing in progress a job goes whatever its size, and other models have queues of their own") {
  BatchTokenQueue q({{"m", 100}, {"n", 100}});
  CHECK(q.offer("a", "m", 100));
  CHECK(q.offer("b", "n", 100));
  CHECK_FALSE(q.offer("c", "m", 1));
  CHECK(q.release("b").empty());
  CHECK(q.release("a") == Keys{"c"});
}

TEST_CASE("batch queue: an earlier run's job, re-attached, holds room until it ends") {
  auto q = queue_of(100);
  q.enqueued("old", "m", 80);
  q.enqueued("old", "m", 80);  // counted once
  CHECK(q.in_progress("m") == 80);
  CHECK_FALSE(q.offer("new", "m", 30));
  CHECK(q.release("old") == Keys{"new"});
}

TEST_CASE("batch queue: a refusal by the provider parks the job first in line and holds the model") {
  auto q = queue_of(1000);
  CHECK(q.offer("a", "m", 100));
  CHECK(q.offer("b", "m", 100));
  CHECK(q.refused("b") == 1);  // other programs fill the queue: b waits
  CHECK(q.in_progress("m") == 100);
  CHECK_FALSE(q.offer("c", "m", 100));    // there is room by our count, but the provider said no
  CHECK(q.retry("m") == Keys{"b", "c"});  // the back-off passed: b first
  CHECK(q.refused("b") == 2);             // refused again: in a row
  CHECK(q.release("a") == Keys{"b"});     // one of ours ended: room at the provider
  q.accepted("b");
  CHECK(q.refused("c") == 1);  // the count starts again after a create went through
}

TEST_CASE("batch queue: without a limit jobs are never parked, but a refusal still holds the model") {
  BatchTokenQueue q({});
  CHECK(q.offer("a", "m", 1000000));
  CHECK(q.offer("b", "m", 1000000));
  CHECK(q.refused("b") == 1);
  CHECK_FALSE(q.offer("c", "m", 1));
  CHECK(q.release("a") == Keys{"b", "c"});
  CHECK(q.refused("unknown") == 0);
}
