#pragma once
#include <string>
#include <string_view>

#include "flowbatch/item.h"

namespace flowbatch {

/// An OpenAI Batch API output line for an answered item:
/// {"id", "custom_id", "response": {"status_code", "request_id", "body"}, "error": null}.
/// The response is the item's `response_field` (what a passthrough call puts there).
void append_openai_batch_line(const Item& item, std::string_view response_field, std::string& out);

/// An OpenAI Batch API error-file line for a failed item: an HTTP failure keeps its status in
/// "response" (with an error body), any other failure is an "error" {"code", "message"}.
void append_openai_batch_error_line(const Item& item, std::string& out);

}  // namespace flowbatch
