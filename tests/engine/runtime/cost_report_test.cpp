#include "engine/runtime/cost_report.h"

#include <doctest/doctest.h>

using namespace flowbatch;

TEST_CASE("amounts of money read as people write them, and small ones are never shown as zero") {
  CHECK(format_usd(from_usd(1234.5)) == "$1234.50");
  CHECK(format_usd(from_usd(1.23456)) == "$1.2346");
  CHECK(format_usd(from_usd(0.0126)) == "$0.0126");
  CHECK(format_usd(from_usd(0.0000063)) == "$0.00000630");
  CHECK(format_usd(1) == "$0.000000001");
  CHECK(format_usd(0) == "$0.0000");
  CHECK(format_usd(from_usd(-0.5)) == "-$0.5000");
}
