#include <doctest/doctest.h>

#include "engine/core/url.h"

using namespace flowbatch;

TEST_CASE("a URL's origin is its scheme and authority, the host lower-cased") {
  CHECK(url_origin("HTTPS://API.Example.com:8443/v1?x=1") == UrlOrigin{"https", "api.example.com:8443"});
  CHECK(url_origin("http://User:Pw@Host/x") == UrlOrigin{"http", "User:Pw@host"});
  CHECK(url_origin("http://host?x") == UrlOrigin{"http", "host"});
  CHECK(url_origin("file:///etc/passwd") == UrlOrigin{"file", ""});
  CHECK(!url_origin("file%3A%2F%2F%2Fetc"));
  CHECK(!url_origin("/relative/path"));
  CHECK(!url_origin("1http://x"));
}

TEST_CASE("a URL template fixes the scheme and host it writes out") {
  const FixedOrigin both = fixed_origin("https://api.example.com/score/");
  CHECK(both.scheme == std::optional<std::string>("https"));
  CHECK(both.authority == std::optional<std::string>("api.example.com"));
  // A host followed directly by a placeholder is still the whole host.
  CHECK(fixed_origin("http://127.0.0.1:8080").authority == std::optional<std::string>("127.0.0.1:8080"));
  const FixedOrigin scheme_only = fixed_origin("https://");
  CHECK(scheme_only.scheme == std::optional<std::string>("https"));
  CHECK(!scheme_only.authority);
  CHECK(!fixed_origin("").scheme);
}

TEST_CASE("percent-encoding keeps unreserved characters only") {
  std::string out;
  append_percent_encoded("aZ09-._~ /?#&=%@:+", out);
  CHECK(out == "aZ09-._~%20%2F%3F%23%26%3D%25%40%3A%2B");
  out.clear();
  append_percent_encoded(".", out);
  CHECK(out == "%2E");
  out.clear();
  append_percent_encoded("...", out);
  CHECK(out == "...");
}
