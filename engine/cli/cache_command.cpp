#include "engine/cli/cache_command.h"

#include <fmt/format.h>

#include <charconv>
#include <cstdio>
#include <ctime>

#include "engine/core/console.h"
#include "engine/core/redactor.h"
#include "engine/graph/compiler.h"
#include "engine/runtime/exit_codes.h"
#include "engine/runtime/report.h"
#include "engine/state/response_cache.h"

namespace flowbatch {
namespace {

std::string when(std::int64_t unix_seconds) {
  if (unix_seconds == 0) return "never";
  const std::time_t t = unix_seconds;
  std::tm tm{};
  gmtime_r(&t, &tm);
  char text[32];
  std::strftime(text, sizeof text, "%Y-%m-%d %H:%M UTC", &tm);
  return text;
}

/// The graph's pipeline.cache, or the default one of the current folder without a graph.
std::optional<std::filesystem::path> cache_file_of(TypeRegistry& registry, const std::string& graph) {
  if (graph.empty()) return std::filesystem::absolute(".flowbatch/cache.db").lexically_normal();
  Redactor redactor;
  CompileOptions options;
  options.check_environment = false;
  CompileResult result = compile_file(graph, registry, redactor, options);
  if (!result.diagnostics.items().empty()) std::fputs(redactor.redact(result.diagnostics.str()).c_str(), stderr);
  if (!result.plan) return std::nullopt;
  return result.plan->pipeline.cache;
}

}  // namespace

CLI::App* add_cache_command(CLI::App& app, CacheCommand& c) {
  auto* cache = app.add_subcommand("cache", "the lasting response cache (pipeline.cache): its statistics, pruning");
  cache->require_subcommand(1);
  c.stats = cache->add_subcommand("stats", "entries, size, hits and what they saved");
  c.stats->add_option("graph", c.graph, "the graph whose pipeline.cache to read (default: .flowbatch/cache.db here)");
  c.prune = cache->add_subcommand("prune", "remove the entries not used for a while");
  c.prune->add_option("--older-than", c.older_than, "e.g. 30d, 12h, 90m")->required();
  c.prune->add_option("graph", c.graph, "the graph whose pipeline.cache to prune (default: .flowbatch/cache.db here)");
  return cache;
}

int run_cache_command(TypeRegistry& registry, const CacheCommand& c) {
  std::optional<std::int64_t> age;
  if (c.prune->parsed()) {
    age = parse_age(c.older_than);
    if (!age) {
      std::fprintf(stderr, "--older-than: \"%s\" is not an age like 30d, 12h, 90m or 3600s\n", c.older_than.c_str());
      return kExitUsage;
    }
  }
  const auto file = cache_file_of(registry, c.graph);
  if (!file) return kExitConfig;
  if (file->empty()) {
    std::fprintf(stderr, "%s keeps no cache (pipeline.cache = \"none\")\n", c.graph.c_str());
    return kExitConfig;
  }
  try {
    if (age) {
      const std::uint64_t removed = ResponseCache::prune(*file, *age);
      std::printf("removed %s answers not used for %s from %s\n", with_commas(removed).c_str(), c.older_than.c_str(),
                  file->c_str());
      return kExitOk;
    }
    const CacheStats s = ResponseCache::stats(*file);
    std::printf("cache %s\n", file->c_str());
    std::printf("  %s answers, %.1f MB\n", with_commas(s.entries).c_str(), static_cast<double>(s.bytes) / 1e6);
    std::printf("  %s hits, which saved %s tokens in and %s out\n", with_commas(s.hits).c_str(),
                with_commas(s.saved_input_tokens).c_str(), with_commas(s.saved_output_tokens).c_str());
    std::printf("  least recently used %s, most recently %s\n", when(s.oldest_unix).c_str(),
                when(s.newest_unix).c_str());
    return kExitOk;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "%s\n", e.what());
    return kExitFatal;
  }
}

}  // namespace flowbatch
