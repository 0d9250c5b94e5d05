#pragma once
#include <string>
#include <string_view>

#include "engine/config/config_value.h"
#include "engine/core/diagnostics.h"
#include "engine/core/redactor.h"

namespace flowbatch {

/// Registers for redaction every environment value (`${VAR}`) expanded into a header (a value
/// anywhere under a `headers` table) or into a URL (a string starting with http:// or https://),
/// except where it is only the URL's scheme, host or port. `Authorization = "Bearer ${KEY}"` or
/// `url = "https://x/v1?key=${KEY}"` hold keys as surely as api_key_env does. A value too short to
/// be redacted is warned about (never printed). A value expanded anywhere into a `connection` key
/// (a PostgreSQL connection string) is registered whole, like a header's.
void register_expanded_secrets(const ConfigValue& tree, const std::string& subject, Redactor& redactor,
                               Diagnostics& diagnostics);

/// Whether the host of `url` is this machine's loopback (localhost, 127.0.0.0/8, ::1).
bool has_loopback_host(std::string_view url);

/// The first value in `tree` that is a plain-text http:// URL to a host other than loopback:
/// where a provider's key would cross the network unencrypted. Null if none.
const ConfigValue* find_plain_http_url(const ConfigValue& tree);

}  // namespace flowbatch
