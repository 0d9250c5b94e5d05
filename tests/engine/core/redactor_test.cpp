#include <doctest/doctest.h>

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

#include "engine/core/redactor.h"
#include "engine/core/text.h"

using namespace flowbatch;

TEST_CASE("secrets are blanked out of any text") {
  Redactor r;
  r.add("sk-test-0123456789");
  r.add("abc");  // too short to be a key: ignored
  CHECK(r.redact("Incorrect API key provided: sk-test-0123456789.") == "Incorrect API key provided: [REDACTED].");
  CHECK(r.redact("sk-test-0123456789sk-test-0123456789") == "[REDACTED][REDACTED]");
  CHECK(r.redact("abc is fine") == "abc is fine");
}

TEST_CASE("a secret containing another is blanked whole") {
  Redactor r;
  r.add("secret-123");
  r.add("secret-123-long-version");
  CHECK(r.redact("x secret-123-long-version y") == "x [REDACTED] y");
}

TEST_CASE("a secret echoed URL-encoded or base64-encoded is blanked") {
  Redactor r;
  const std::string key = "sk-test/0123+456789=";
  r.add(key);
  CHECK(r.redact("key=sk-test%2F0123%2B456789%3D&x=1") == "key=[REDACTED]&x=1");
  CHECK(r.redact("key=sk-test%2f0123%2b456789%3d") == "key=[REDACTED]");
  // Base64 at each alignment inside a longer encoded text ("Basic user:key" and the like).
  for (const std::string before : {"", "u:", "us:"}) {
    const std::string encoded = base64_encode(before + key + "!");
    const std::string shown = r.redact("Authorization: Basic " + encoded);
    CHECK_MESSAGE(shown.find("[REDACTED]") != std::string::npos, before);
    CHECK(shown.size() < 21 + encoded.size());
  }
}

TEST_CASE("a secret cut off after 8 or more characters is blanked, redacting before cutting") {
  Redactor r;
  r.add("sk-SECRETKEY-0123456789");
  CHECK(r.redact("Incorrect API key provided: sk-SECRETK...") == "Incorrect API key provided: [REDACTED]...");
  CHECK(r.redact("ends with sk-SECRETKEY-01") == "ends with [REDACTED]");
  CHECK(r.redact("another key sk-SECRETKEY-9999") == "another key sk-SECRETKEY-9999");  // not ours
  CHECK(r.redact("sk-SECR...") == "sk-SECR...");  // 7 characters of it: too little to tell
  const std::string body = std::string(290, 'x') + " sk-SECRETKEY-0123456789 rest";
  const std::string shown = r.redact_and_cut(body, 300);
  CHECK(shown.find("sk-SEC") == std::string::npos);
  CHECK(shown.size() <= 303);
}

TEST_CASE("a key too short to redact is reported once") {
  Redactor r;
  CHECK(r.add("abc12") == Redactor::Added::too_short);
  CHECK(r.add("abc12") == Redactor::Added::too_short_again);
  CHECK(r.add("abcdef") == Redactor::Added::yes);
  CHECK(r.add("abcdef") == Redactor::Added::known);
}

TEST_CASE("strings and keys inside JSON are redacted") {
  Redactor r;
  r.add("sk-json-secret-1");
  boost::json::value v =
      boost::json::parse(R"({"a":["x sk-json-secret-1"],"sk-json-secret-1":{"b":"sk-json-secret-1"}})");
  r.redact_json(v);
  CHECK(boost::json::serialize(v) == R"({"a":["x [REDACTED]"],"[REDACTED]":{"b":"[REDACTED]"}})");
}
