#pragma once
#include <algorithm>
#include <map>
#include <stdexcept>
#include <string>
#include <vector>

#include "engine/graph/node_kind.h"
#include "flowbatch/registry.h"

namespace flowbatch {

/// A registration the registry refuses; its message says why, in words for the plugin's author.
class RegistrationError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// Registering a type name (or a node kind's table) twice in one family.
class DuplicateTypeError : public RegistrationError {
 public:
  using RegistrationError::RegistrationError;
};

/// Registering a type that lacks what every type must have: a name, a configure function.
class IncompleteTypeError : public RegistrationError {
 public:
  using RegistrationError::RegistrationError;
};

/// Every node kind and every registered type (built-in and plugin) of one process or test.
class TypeRegistry final : public Registry {
 public:
  void add(SourceType type) override;
  void add(SinkType type) override;
  void add(TransformType type) override;
  void add(ProviderType type) override;
  void add_kind(NodeKind kind);

  /// Types registered from now on are attributed to `origin` (a plugin's path) in listings and
  /// duplicate-type errors; "" means built-in.
  void set_origin(std::string origin) { origin_ = std::move(origin); }
  /// The plugins (canonical paths) whose types are in this registry, in load order.
  void note_plugin(std::string path) { plugins_.push_back(std::move(path)); }
  bool has_plugin(std::string_view path) const {
    return std::find(plugins_.begin(), plugins_.end(), path) != plugins_.end();
  }
  const std::vector<std::string>& plugins() const { return plugins_; }

  const SourceType* source(std::string_view name) const;
  const SinkType* sink(std::string_view name) const;
  const TransformType* transform(std::string_view name) const;
  const ProviderType* provider(std::string_view name) const;
  const NodeKind* kind_for_table(std::string_view table) const;

  /// Names in one family, sorted (for did-you-mean and listings).
  std::vector<std::string> names(TypeFamily family) const;
  std::vector<std::string> provider_names() const;
  const std::vector<NodeKind>& kinds() const { return kinds_; }
  /// The keys of a typed kind's type ("" when unknown).
  const std::vector<KeySpec>* type_keys(TypeFamily family, std::string_view name) const;
  /// Where a type came from: "built-in" or a plugin path.
  std::string origin_of(TypeFamily family, std::string_view name) const;
  std::string provider_origin(std::string_view name) const;

  template <class Type>
  struct Entry {
    Type type;
    std::string origin;
  };
  const std::map<std::string, Entry<SourceType>, std::less<>>& sources() const { return sources_; }
  const std::map<std::string, Entry<SinkType>, std::less<>>& sinks() const { return sinks_; }
  const std::map<std::string, Entry<TransformType>, std::less<>>& transforms() const { return transforms_; }
  const std::map<std::string, Entry<ProviderType>, std::less<>>& providers() const { return providers_; }

 private:
  template <class Type>
  void insert(std::map<std::string, Entry<Type>, std::less<>>& map, Type type, std::string_view family);

  std::map<std::string, Entry<SourceType>, std::less<>> sources_;
  std::map<std::string, Entry<SinkType>, std::less<>> sinks_;
  std::map<std::string, Entry<TransformType>, std::less<>> transforms_;
  std::map<std::string, Entry<ProviderType>, std::less<>> providers_;
  std::vector<NodeKind> kinds_;
  std::string origin_;
  std::vector<std::string> plugins_;
};

}  // namespace flowbatch
