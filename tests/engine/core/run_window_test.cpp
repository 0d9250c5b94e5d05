#include "engine/core/run_window.h"

#include <doctest/doctest.h>

using namespace flowbatch;
using namespace std::chrono;

namespace {

/// 2026-03-02 at hh:mm UTC: a fake clock.
system_clock::time_point at(int hh, int mm, int ss = 0) {
  return sys_days{year{2026} / March / 2} + hours(hh) + minutes(mm) + seconds(ss);
}

RunWindow window(const char* text) {
  std::string why;
  auto w = parse_run_window(text, why);
  REQUIRE_MESSAGE(w, why);
  return *w;
}

}  // namespace

TEST_CASE("run window: inside it requests start at once, outside they wait until it opens") {
  const RunWindow day = window("09:00-17:00 UTC");
  CHECK(day.until_open(at(9, 0)) == seconds(0));
  CHECK(day.until_open(at(16, 59, 59)) == seconds(0));
  CHECK(day.until_open(at(17, 0)) == hours(16));
  CHECK(day.until_open(at(8, 30)) == minutes(30));
}

TEST_CASE("run window: a window over midnight, and a fixed offset from UTC") {
  const RunWindow night = window("22:00-06:00 UTC");
  CHECK(night.until_open(at(23, 0)) == seconds(0));
  CHECK(night.until_open(at(5, 59)) == seconds(0));
  CHECK(night.until_open(at(6, 0)) == hours(16));
  CHECK(night.until_open(at(21, 59, 30)) == seconds(30));
  // 22:00 at UTC+02:00 is 20:00 UTC.
  const RunWindow east = window("22:00-06:00 UTC+02:00");
  CHECK(east.until_open(at(20, 0)) == seconds(0));
  CHECK(east.until_open(at(19, 0)) == hours(1));
  CHECK(east.describe() == "22:00-06:00 UTC+02:00");
  CHECK(window("22:00-06:00 -05:30").utc_offset_minutes == -330);
  CHECK(window("22:00-06:00").describe() == "22:00-06:00 local time");
  CHECK(window("12:00:05-12:00:10 UTC").until_open(at(12, 0)) == seconds(5));
}

TEST_CASE("run window: malformed windows are refused with the reason") {
  std::string why;
  for (const char* bad : {"22-06", "25:00-06:00", "22:00", "22:00-06:00 CET", "22:00-06:00 UTC+2", "08:00-08:00"})
    CHECK_MESSAGE(!parse_run_window(bad, why), bad);
  CHECK(why.find("starts where it ends") != std::string::npos);
}
