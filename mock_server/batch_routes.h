#pragma once
// The batch APIs' routes (OpenAI files and batches, Anthropic message batches), see batch_store.h.
#include <optional>
#include <string_view>

#include "mock_server/api_types.h"
#include "mock_server/batch_store.h"
#include "mock_server/error_replies.h"
#include "mock_server/options.h"

namespace flowbatch::mock {

/// Which API a batch route belongs to; nothing for a path that is not one.
std::optional<ApiFlavor> batch_route_flavor(std::string_view path);

/// Answers a request on a batch route (its flavor known to be set).
ApiReply handle_batch_route(BatchStore& store, const ApiRequest& request, const MockOptions& options);

}  // namespace flowbatch::mock
