#pragma once
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "flowbatch/options.h"
#include "flowbatch/provider.h"
#include "flowbatch/sink.h"
#include "flowbatch/source.h"
#include "flowbatch/transform.h"

namespace flowbatch {

/// A type for [sources.NAME] tables: `type = "<name>"`.
struct SourceType {
  std::string name;
  std::string summary;
  std::vector<KeySpec> keys;
  /// Reads the options (reporting errors through Options::error); may return nullptr after errors.
  std::function<std::unique_ptr<Source>(Options&)> configure;
};

/// A type for [sinks.NAME] tables (and the writer of [dead_letters.NAME]).
struct SinkType {
  std::string name;
  std::string summary;
  std::vector<KeySpec> keys;
  std::function<std::unique_ptr<Sink>(Options&)> configure;
};

/// A type for [transforms.NAME] tables.
struct TransformType {
  std::string name;
  std::string summary;
  std::vector<KeySpec> keys;
  std::function<std::unique_ptr<Transform>(Options&)> configure;
  bool concurrent = true;  ///< false: apply() is never called from two threads at once
};

/// A type for [providers.NAME] tables.
struct ProviderType {
  std::string name;
  std::string summary;
  std::vector<KeySpec> keys;
  std::function<std::shared_ptr<Provider>(Options&)> configure;
  /// What its models cost, as JSON: {"model": {"input": 0.15, "output": 0.6, ...}} in USD per
  /// million tokens (engine/cost/price.h reads it). A graph's [providers.X.prices] come first.
  std::string prices = {};
  /// Its requests go to a remote API over the network (Dispatch::send), whose answers set a run's
  /// pace: a graph whose providers all are remote runs its tasks on one thread unless
  /// pipeline.threads says otherwise (more threads would mostly wait). Since plugin API version 8.
  bool remote = false;
};

/// Where node types are registered: built-in types (nodes/) and plugins use this same interface.
/// Registering a name that is already taken in the same role is an error naming both.
class Registry {
 public:
  virtual ~Registry() = default;
  virtual void add(SourceType type) = 0;
  virtual void add(SinkType type) = 0;
  virtual void add(TransformType type) = 0;
  virtual void add(ProviderType type) = 0;
};

}  // namespace flowbatch
