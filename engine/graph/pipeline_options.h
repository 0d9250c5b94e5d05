#pragma once
#include "engine/config/option_reader.h"
#include "engine/graph/plan.h"

namespace flowbatch {

/// The keys of [pipeline] and the keys every [providers.*] table takes, whatever its type.
const std::vector<KeySpec>& pipeline_keys();
const std::vector<KeySpec>& provider_keys();
/// The values of pipeline.progress (and of `run --progress`).
const std::vector<std::string>& progress_modes();

PipelineOptions read_pipeline_options(OptionReader& options, const std::filesystem::path& graph_file);
ProviderSettings read_provider_settings(OptionReader& options);
/// The provider's `prices` over `shipped` (its type's price table, JSON: {"models": {...}} or the
/// models alone; empty: none). Errors name the model and key.
PriceList read_provider_prices(OptionReader& options, std::string_view shipped);

}  // namespace flowbatch
