#pragma once
// The prices the built-in provider types ship (openai.json, anthropic.json beside this file),
// compiled into the program so an installed flowbatch needs no data folder. CMake writes them
// into prices_data.cpp from the JSON files.

namespace flowbatch {

extern const char* const kOpenAiPrices;
extern const char* const kAnthropicPrices;

}  // namespace flowbatch
