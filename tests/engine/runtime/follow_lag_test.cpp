#include "engine/runtime/follow_lag.h"

#include <doctest/doctest.h>

#include <boost/json/serialize.hpp>

using namespace flowbatch;

TEST_CASE("followed sources' lags add up by unit, each with its unacknowledged ones") {
  FollowLags lags;
  CHECK(describe_lags(lags.entries()).empty());
  lags.set(2, "events", SourceLag{1000, "entries", 6, "pending"});
  lags.set(0, "log", SourceLag{300, "bytes", std::nullopt});
  lags.set(1, "more", SourceLag{234, "entries", 50, "pending"});
  lags.set(3, "table", SourceLag{7, "rows", 2, "claimed"});
  CHECK(describe_lags(lags.entries()) == "300 bytes, 1,234 entries (56 pending), 7 rows (2 claimed)");
  lags.set(0, "log", SourceLag{0, "bytes", std::nullopt});  // a source tells again: its latest counts
  CHECK(describe_lags(lags.entries()) == "0 bytes, 1,234 entries (56 pending), 7 rows (2 claimed)");
  CHECK(
      boost::json::serialize(lags_json(lags.entries())) ==
      R"([{"source":"log","unit":"bytes","lag":0},{"source":"more","unit":"entries","lag":234,"pending":50},)"
      R"({"source":"events","unit":"entries","lag":1000,"pending":6},{"source":"table","unit":"rows","lag":7,"claimed":2}])");
}
