#pragma once
// A table keyed by model name, as the graph writes one ([providers.X.prices],
// batch_enqueued_tokens): a model is found under its own name, else under the longest name it
// starts with followed by '-' (a dated snapshot: "gpt-4o-mini-2024-07-18" is "gpt-4o-mini"),
// else under "*".
#include <functional>
#include <map>
#include <string>
#include <string_view>

namespace flowbatch {

template <class T>
const T* model_entry(const std::map<std::string, T, std::less<>>& table, std::string_view model) {
  if (auto it = table.find(model); it != table.end()) return &it->second;
  for (std::size_t cut = model.rfind('-'); cut != std::string_view::npos && cut > 0; cut = model.rfind('-', cut - 1))
    if (auto it = table.find(model.substr(0, cut)); it != table.end()) return &it->second;
  if (auto it = table.find(std::string_view("*")); it != table.end()) return &it->second;
  return nullptr;
}

}  // namespace flowbatch
