#pragma once
// `flowbatch estimate graph.toml`: what the whole job will cost and take, from a random sample of
// its records sent through the graph for real (their answers kept in the response cache for calls
// with cache = true), or with --no-calls from the prompts' text alone.
#include <CLI/CLI.hpp>

#include <cstdint>
#include <string>
#include <vector>

namespace flowbatch {

class TypeRegistry;

struct EstimateCommand {
  CLI::App* app = nullptr;
  std::string graph;
  std::vector<std::string> overrides;
  std::size_t sample = 100;  ///< records to send (about: each is picked with the same chance)
  std::uint64_t seed = 1;
  bool json = false;
  bool no_calls = false;
};

CLI::App* add_estimate_command(CLI::App& app, EstimateCommand& command);
int run_estimate_command(TypeRegistry& registry, const EstimateCommand& command);

}  // namespace flowbatch
