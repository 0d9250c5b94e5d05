// The JSON an alert delivers (to a webhook, a command's stdin, the log): whole numbers are written
// as integers, so a script reading "window_seconds" or "threshold" sees 300, not 3E2.
#include <doctest/doctest.h>

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

#include "engine/runtime/alerter.h"

using namespace flowbatch;

TEST_CASE("an alert's JSON writes whole numbers as integers and fractions as they are") {
  AlertRule rule;
  rule.name = "alerts.slow";
  rule.kind = AlertKind::latency;
  rule.window = std::chrono::minutes(5);
  AlertEvent event;
  event.rule = &rule;
  event.value = 1500;
  event.threshold = 0.25;
  event.unit = "ms";
  const std::string text = boost::json::serialize(alert_json(event, "tickets", false));
  CHECK(text.find("\"window_seconds\":300,") != std::string::npos);
  CHECK(text.find("\"value\":1500,") != std::string::npos);
  CHECK(text.find("\"threshold\":2.5E-1,") != std::string::npos);
  const boost::json::object parsed = boost::json::parse(text).as_object();
  CHECK(parsed.at("alert").as_string() == "slow");
  CHECK(parsed.at("window_seconds").is_int64());
}
