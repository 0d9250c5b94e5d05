// type = "http": any JSON-over-HTTP API. The URL, headers and body are templates over the item's
// fields (plus {{prompt}}, {{system}} and {{model}} from the call, and {{api_key}} in headers);
// the answer is taken from the response by a JSON pointer.
#include <fmt/format.h>
#include <boost/json.hpp>

#include "engine/core/template.h"
#include "engine/core/text.h"
#include "engine/core/url.h"
#include "flowbatch/http.h"
#include "flowbatch/rate_headers.h"
#include "nodes/kinds.h"

namespace flowbatch {
namespace {

struct HttpSettings {
  std::string method;
  Template url;
  FixedOrigin url_origin;  // what rendering may not change
  std::vector<std::pair<std::string, Template>> headers;
  bool body_is_json = false;
  boost::json::value body_json;  // strings inside are templates
  Template body_text;
  std::string result_pointer;
  std::string api_key;
};

/// Renders a template, remembering the first field the item lacks (the request is then not sent).
std::string render(const Template& t, const boost::json::object& vars, std::optional<std::string>& missing) {
  Rendering r = t.render(vars);
  if (!missing) missing = std::move(r.missing);
  return std::move(r.text);
}

/// Renders every string inside a JSON value as a template.
boost::json::value render_json(const boost::json::value& v, const boost::json::object& vars,
                               std::optional<std::string>& missing) {
  switch (v.kind()) {
    case boost::json::kind::string: return boost::json::value(render(Template(v.get_string()), vars, missing));
    case boost::json::kind::array: {
      boost::json::array out;
      for (const auto& e : v.get_array()) out.push_back(render_json(e, vars, missing));
      return out;
    }
    case boost::json::kind::object: {
      boost::json::object out;
      for (const auto& kv : v.get_object()) out[kv.key()] = render_json(kv.value(), vars, missing);
      return out;
    }
    default: return v;
  }
}

/// Compiles every template inside a JSON value, reporting the first bad one.
std::optional<std::string> check_templates(const boost::json::value& v) {
  if (v.is_string()) {
    try {
      Template t(v.get_string());
    } catch (const std::invalid_argument& e) {
      return e.what();
    }
  } else if (v.is_array()) {
    for (const auto& e : v.get_array())
      if (auto bad = check_templates(e)) return bad;
  } else if (v.is_object()) {
    for (const auto& kv : v.get_object())
      if (auto bad = check_templates(kv.value())) return bad;
  }
  return std::nullopt;
}

bool has_line_break_or_nul(std::string_view text) {
  return text.find_first_of(std::string_view("\r\n\0", 3)) != std::string_view::npos;
}

/// Why a rendered URL may not be sent, if it may not: it must be http(s), to the scheme and host
/// its template writes out, with no blanks or control characters.
std::optional<std::string> url_problem(std::string_view url, const FixedOrigin& fixed) {
  for (char c : url)
    if (static_cast<unsigned char>(c) <= 0x20 || c == 0x7f)
      return "the URL would contain a blank or control character (from {{raw:...}}); not sent";
  const std::optional<UrlOrigin> origin = url_origin(url);
  if (!origin || (origin->scheme != "http" && origin->scheme != "https"))
    return "the URL would not start with http:// or https:// once rendered; not sent";
  if (fixed.scheme && *fixed.scheme != origin->scheme)
    return fmt::format("the item's data changes the URL's scheme from {} to {}; not sent", *fixed.scheme,
                       origin->scheme);
  if (fixed.authority && *fixed.authority != origin->authority)
    return fmt::format("the item's data changes the URL's host from \"{}\" to \"{}\"; not sent", *fixed.authority,
                       origin->authority);
  return std::nullopt;
}

/// An item whose request may not be sent: it fails as invalid_input, without a request.
Dispatch refuse(std::string why) {
  CallResult failed;
  failed.failure = make_failure(ErrorClass::invalid_input, std::move(why));
  return Dispatch::respond(std::move(failed));
}

/// A string body that is JSON (its text starts with `{` or `[`) with plain placeholders: a value
/// holding a quote rewrites the document. Warned about, not refused: the values may be trusted.
void warn_unescaped_json(const Template& body, Options& o) {
  const auto& parts = body.parts();
  if (parts.empty() || parts.front().is_field) return;
  const std::string_view start = trim(parts.front().text);
  if (start.empty() || (start.front() != '{' && start.front() != '[')) return;
  for (const auto& part : parts)
    if (part.is_field && part.form == Template::Form::plain)
      o.warning(
          "body",
          fmt::format("{{{{{0}}}}} is inserted into this JSON body unescaped: a value with a quote in it can "
                      "rewrite the request. Write {{{{json:{0}}}}} (it adds the quotes) instead of \"{{{{{0}}}}}\", "
                      "or {{{{raw:{0}}}}} if the value is JSON already",
                      part.text));
}

/// The `url` key: a template whose plain placeholders are percent-encoded, and whose literal
/// scheme and host rendering may not change.
void read_url(Options& o, HttpSettings& s) {
  try {
    s.url = Template(o.string("url"), Escaping::url);
  } catch (const std::invalid_argument& e) {
    o.error("url", e.what());
    return;
  }
  const auto& parts = s.url.parts();
  s.url_origin = fixed_origin(parts.empty() || parts.front().is_field ? "" : parts.front().text);
  if (s.url_origin.scheme && *s.url_origin.scheme != "http" && *s.url_origin.scheme != "https")
    o.error("url", fmt::format("must be an http:// or https:// URL (found {}://)", *s.url_origin.scheme));
}

class HttpProvider final : public Provider {
 public:
  explicit HttpProvider(HttpSettings s) : s_(std::move(s)) {}

  bool supports(Endpoint e) const override { return e == Endpoint::chat; }

  Dispatch dispatch(const CallRequest& r) override {
    const boost::json::object vars = variables(r);
    std::optional<std::string> missing;
    HttpRequest http;
    http.method = s_.method;
    http.url = render(s_.url, vars, missing);
    boost::json::object header_vars = vars;
    header_vars["api_key"] = s_.api_key;
    for (const auto& [name, value] : s_.headers) http.headers.push_back({name, render(value, header_vars, missing)});
    if (s_.body_is_json) {
      http.body = boost::json::serialize(render_json(s_.body_json, vars, missing));
      http.headers.push_back({"Content-Type", "application/json"});
    } else {
      http.body = render(s_.body_text, vars, missing);
    }
    // Never send (and pay for) a request with a hole in it, or one the item's data steers.
    if (missing)
      return refuse(fmt::format("the request template names {{{{{}}}}}, which this item does not have", *missing));
    if (auto problem = url_problem(http.url, s_.url_origin)) return refuse(*problem);
    for (const auto& h : http.headers)
      if (has_line_break_or_nul(h.value))
        return refuse(
            fmt::format("header \"{}\" would contain a line break or NUL (from the item's data); not sent", h.name));
    return Dispatch::send(std::move(http));
  }

  CallResult parse(const CallRequest&, const HttpResponse& response) override {
    return with_signals(read_response(response), openai_rate_signals(response));
  }

 private:
  CallResult read_response(const HttpResponse& response) const {
    const std::string* id = response.header("x-request-id");
    const std::string request_id = id ? *id : std::string();
    boost::json::value body = parse_body(response.body);
    if (response.status < 200 || response.status >= 300)
      return http_failure(response, body.is_null() ? nullptr : &body, request_id);
    CallResult result;
    result.http_status = response.status;
    result.request_id = request_id;
    if (body.is_null()) {
      if (!s_.result_pointer.empty()) return unusable_answer(response, "the answer is not JSON", request_id);
      result.outputs.emplace_back(to_valid_utf8(response.body));  // a text answer goes into JSON outputs
      return result;
    }
    boost::system::error_code ec;
    const boost::json::value* found = body.find_pointer(s_.result_pointer, ec);
    if (!found)
      return unusable_answer(response, fmt::format("the answer has nothing at \"{}\"", s_.result_pointer), request_id);
    result.outputs.push_back(*found);
    return result;
  }

  /// The item's fields plus what the call node built: prompt, system, model.
  static boost::json::object variables(const CallRequest& r) {
    boost::json::object vars;
    if (!r.items.empty()) vars = r.items.front()->fields;
    std::string system, prompt;
    for (const auto& m : r.messages) (m.role == "system" ? system : prompt) = m.content;
    vars["prompt"] = prompt;
    vars["system"] = system;
    vars["model"] = r.model;
    return vars;
  }

  HttpSettings s_;
};

HttpSettings read_settings(Options& o) {
  HttpSettings s;
  s.method = o.string("method");
  if (s.method != "POST" && s.method != "PUT" && s.method != "GET" && s.method != "PATCH")
    o.error("method", "must be GET, POST, PUT or PATCH");
  read_url(o, s);
  const boost::json::value headers = o.json("headers");
  if (headers.is_object()) {
    for (const auto& kv : headers.get_object()) {
      if (!kv.value().is_string()) {
        o.error("headers", fmt::format("header \"{}\" must be a string", std::string(kv.key())));
        continue;
      }
      if (has_line_break_or_nul(kv.key()) || kv.key().find(':') != boost::json::string_view::npos)
        o.error("headers",
                fmt::format("header name \"{}\" may not hold a colon, a line break or NUL", std::string(kv.key())));
      if (has_line_break_or_nul(kv.value().get_string()))
        o.error("headers", fmt::format("header \"{}\" may not hold a line break or NUL", std::string(kv.key())));
      try {
        s.headers.emplace_back(std::string(kv.key()), Template(kv.value().get_string()));
      } catch (const std::invalid_argument& e) {
        o.error("headers", e.what());
      }
    }
  } else if (!headers.is_null()) {
    o.error("headers", "must be a table of header names and string templates");
  }
  const boost::json::value body = o.json("body");
  if (body.is_string()) {
    try {
      s.body_text = Template(body.get_string());
      warn_unescaped_json(s.body_text, o);
    } catch (const std::invalid_argument& e) {
      o.error("body", e.what());
    }
  } else if (!body.is_null()) {
    s.body_is_json = true;
    s.body_json = body;
    if (auto bad = check_templates(body)) o.error("body", *bad);
  }
  s.result_pointer = o.string("result_pointer");
  if (!s.result_pointer.empty() && s.result_pointer.front() != '/')
    o.error("result_pointer",
            "must be a JSON pointer starting with '/' (e.g. \"/choices/0/text\"), or empty for the whole body");
  s.api_key = o.secret("api_key_env");
  return s;
}

}  // namespace

void register_http_provider(Registry& registry) {
  registry.add(ProviderType{
      "http",
      "any JSON-over-HTTP API: URL, headers and body templated from item fields",
      {{"url", KeyKind::string, true, "", "the URL, a template: \"https://api.example.com/items/{{id}}\""},
       {"method", KeyKind::string, false, "POST", "GET, POST, PUT or PATCH"},
       {"headers", KeyKind::any, false, "", "a table of header templates; {{api_key}} is the secret"},
       {"body", KeyKind::any, false, "",
        "a table (sent as JSON, every string a template) or a template string sent as is"},
       {"result_pointer", KeyKind::string, false, "", "JSON pointer to the answer in the response (\"\": all of it)"},
       {"api_key_env", KeyKind::string, false, "", "the environment variable holding a key for {{api_key}}"}},
      [](Options& o) -> std::shared_ptr<Provider> { return std::make_shared<HttpProvider>(read_settings(o)); },
      /*prices=*/{},
      /*remote=*/true,
  });
}

}  // namespace flowbatch
