#include <doctest/doctest.h>

#include "engine/core/redactor.h"

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
