// The console's JSON log format: one object per line, naming its node, with secrets gone.
#include <doctest/doctest.h>

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <cstdio>
#include <sstream>
#include <string>
#include <vector>

#include "engine/core/console.h"

using namespace flowbatch;

namespace {

/// Every line `write` sends to a console in JSON format, each parsed.
template <class Write>
std::vector<boost::json::object> json_lines(const Redactor& redactor, Write write) {
  std::FILE* file = std::tmpfile();
  REQUIRE(file != nullptr);
  {
    Console console(redactor, file);
    console.set_format(LogFormat::json, "tickets");
    write(console);
  }
  std::rewind(file);
  std::string text;
  char buffer[4096];
  while (const std::size_t n = std::fread(buffer, 1, sizeof buffer, file)) text.append(buffer, n);
  std::fclose(file);
  std::vector<boost::json::object> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) lines.push_back(boost::json::parse(line).as_object());
  return lines;
}

}  // namespace

TEST_CASE("a console in JSON format writes one object per line: time, level, kind, node, message, fields") {
  Redactor redactor;
  const auto lines = json_lines(redactor, [](Console& c) {
    c.log(LogLevel::warn, "call:classify", "slow answers", {{"p50_ms", 1200}});
    c.log(LogLevel::info, "", "listening");
    c.print("interrupted: run the same command again\n");
    c.status("a live line never shows in JSON");
  });
  REQUIRE(lines.size() == 3);
  CHECK(lines[0].at("level").as_string() == "warn");
  CHECK(lines[0].at("kind").as_string() == "call");
  CHECK(lines[0].at("node").as_string() == "classify");
  CHECK(lines[0].at("message").as_string() == "slow answers");
  CHECK(lines[0].at("fields").at("p50_ms").as_int64() == 1200);
  const std::string time(lines[0].at("time").as_string());
  CHECK(time.size() >= 20);
  CHECK(time[10] == 'T');
  CHECK(time.back() == 'Z');
  CHECK(lines[1].at("kind").as_string() == "pipeline");  // the run's own lines name the job
  CHECK(lines[1].at("node").as_string() == "tickets");
  CHECK(lines[2].at("message").as_string() == "interrupted: run the same command again");  // no trailing newline
}

TEST_CASE("secrets never reach a JSON log line, not even escaped in a field or the message") {
  Redactor redactor;
  redactor.add(R"(sk-quote"and\backslash-0123456789)");
  redactor.add("sk-plain-0123456789abcdef");
  const auto lines = json_lines(redactor, [](Console& c) {
    c.log(LogLevel::error, "provider:openai", R"(refused key sk-quote"and\backslash-0123456789)",
          {{"header", "Bearer sk-plain-0123456789abcdef"}});
  });
  REQUIRE(lines.size() == 1);
  const std::string all = boost::json::serialize(lines[0]);
  CHECK(all.find("sk-quote") == std::string::npos);
  CHECK(all.find("sk-plain") == std::string::npos);
  CHECK(lines[0].at("node").as_string() == "openai");
}
