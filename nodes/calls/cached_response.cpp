#include "nodes/calls/cached_response.h"

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

namespace flowbatch {

std::string encode_response(const HttpResponse& r, const Redactor& redactor) {
  boost::system::error_code ec;
  boost::json::value body = boost::json::parse(r.body, ec);
  std::string text;
  if (ec) {
    text = redactor.redact(r.body);
  } else {  // parsed, so that a key written with JSON escapes is found too
    redactor.redact_json(body);
    text = boost::json::serialize(body);
  }
  return boost::json::serialize(boost::json::object{{"status", r.status}, {"body", std::move(text)}});
}

std::optional<HttpResponse> decode_response(const std::string& text) {
  boost::system::error_code ec;
  const boost::json::value v = boost::json::parse(text, ec);
  const auto* o = v.if_object();
  const auto* status = o ? o->if_contains("status") : nullptr;
  const auto* body = o ? o->if_contains("body") : nullptr;
  if (ec || !status || !status->is_int64() || !body || !body->is_string()) return std::nullopt;
  HttpResponse r;
  r.status = static_cast<int>(status->get_int64());
  r.body = std::string(body->get_string());
  return r;
}

}  // namespace flowbatch
