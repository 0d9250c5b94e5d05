#include "engine/plugins/plugin_loader.h"

#include <dlfcn.h>
#include <unistd.h>

#include <fmt/format.h>

#include <cstdlib>
#include <cstring>

#include "engine/core/exceptions.h"
#include "engine/core/text.h"
#include "flowbatch/version.h"

namespace flowbatch {
namespace fs = std::filesystem;

namespace {

using ApiVersionFn = int (*)();
using BuildFn = const char* (*)();
using RegisterFn = void (*)(Registry&);

fs::path program_folder() {
  std::error_code ec;
  const fs::path self = fs::read_symlink("/proc/self/exe", ec);
  return ec ? fs::path() : self.parent_path();
}

/// A name without a folder or a ".so" is looked up; anything else is a path.
bool is_bare_name(const std::string& spec) {
  return spec.find('/') == std::string::npos && !spec.ends_with(".so") && spec.find(".so.") == std::string::npos;
}

class PluginLoader {
 public:
  PluginLoader(TypeRegistry& registry, Diagnostics& diagnostics) : registry_(registry), diagnostics_(diagnostics) {}

  void load(const PluginRef& ref) {
    ref_ = &ref;
    const fs::path path = resolve(ref);
    if (path.empty()) return;
    if (registry_.has_plugin(path.string())) return;  // listed twice, or loaded by an earlier compile
    void* handle = ::dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (!handle) {
      const char* why = ::dlerror();
      fail(fmt::format("cannot load plugin {}: {}", path.string(), why ? why : "unknown dlopen error"));
      return;
    }
    if (!check_and_register(handle, path.string())) ::dlclose(handle);  // nothing of it was used
  }

 private:
  fs::path resolve(const PluginRef& ref) {
    if (!is_bare_name(ref.spec)) {
      fs::path path =
          fs::path(ref.spec).is_absolute() ? fs::path(ref.spec) : (ref.base_dir / ref.spec).lexically_normal();
      std::error_code ec;  // e.g. a folder we may not enter: reported at the entry, not thrown
      if (!fs::is_regular_file(path, ec)) {
        fail(fmt::format("plugin {} does not exist (relative paths start at the graph file's folder)", path.string()));
        return {};
      }
      return canonical(path);
    }
    std::vector<std::string> looked;
    for (const fs::path& dir : plugin_search_path()) {
      for (const std::string& file : {"lib" + ref.spec + ".so", ref.spec + ".so"}) {
        const fs::path candidate = dir / file;
        std::error_code ec;
        if (fs::is_regular_file(candidate, ec)) return canonical(candidate);
      }
      looked.push_back(dir.string());
    }
    fail(fmt::format(
        "cannot find plugin \"{}\" (lib{}.so) in {}; give its path, or add its folder to FLOWBATCH_PLUGIN_PATH",
        ref.spec, ref.spec, looked.empty() ? "no plugin folder" : join(looked, ", ")));
    return {};
  }

  /// One name per library however it was named, so a library is loaded once.
  static fs::path canonical(const fs::path& path) {
    std::error_code ec;
    fs::path c = fs::weakly_canonical(path, ec);
    return ec ? path : c;
  }

  /// True once the plugin's registration ran (its code is in use from then on).
  bool check_and_register(void* handle, const std::string& path) {
    auto version = reinterpret_cast<ApiVersionFn>(::dlsym(handle, "flowbatch_plugin_api_version"));
    auto build = reinterpret_cast<BuildFn>(::dlsym(handle, "flowbatch_plugin_build"));
    auto register_types = reinterpret_cast<RegisterFn>(::dlsym(handle, "flowbatch_plugin_register"));
    if (!version || !build || !register_types) {
      const char* missing = !version ? "flowbatch_plugin_api_version"
                            : !build ? "flowbatch_plugin_build"
                                     : "flowbatch_plugin_register";
      fail(
          fmt::format("{} is not a flowbatch plugin: it does not export {}() (define it with FLOWBATCH_PLUGIN from "
                      "<flowbatch/plugin.h>)",
                      path, missing));
      return false;
    }
    if (const int v = version(); v != kPluginApiVersion) {
      fail(
          fmt::format("{} was built for flowbatch plugin API version {}, but this flowbatch speaks version {}; rebuild "
                      "the plugin against this flowbatch's headers",
                      path, v, kPluginApiVersion));
      return false;
    }
    if (const char* b = build(); !b || std::strcmp(b, kPluginBuild) != 0) {
      fail(fmt::format("{} was built with {}, but this flowbatch with {}; rebuild the plugin with the same libraries",
                       path, b ? b : "(nothing)", kPluginBuild));
      return false;
    }
    registry_.note_plugin(path);
    registry_.set_origin(path);
    try {
      register_types(registry_);
    } catch (const RegistrationError& e) {  // a duplicate or incomplete type: its message says which
      fail(e.what());
    } catch (...) {
      fail(fmt::format("plugin {} failed while registering its types: {}", path, current_exception_message()));
    }
    registry_.set_origin("");
    return true;
  }

  void fail(std::string message) { diagnostics_.error(ref_->where, "pipeline.plugins", std::move(message)); }

  TypeRegistry& registry_;
  Diagnostics& diagnostics_;
  const PluginRef* ref_ = nullptr;
};

}  // namespace

std::vector<fs::path> plugin_search_path() {
  std::vector<fs::path> dirs;
  if (const char* env = std::getenv("FLOWBATCH_PLUGIN_PATH"))
    for (const std::string& dir : split(env, ':'))
      if (!dir.empty()) dirs.emplace_back(dir);
  if (const fs::path self = program_folder(); !self.empty()) {
    dirs.push_back(self / "plugins");
    // Where `cmake --install` puts plugins, relative to the installed program's bin/ folder.
    const fs::path installed(FLOWBATCH_INSTALLED_PLUGIN_DIR);
    dirs.push_back(installed.is_absolute() ? installed : (self / ".." / installed).lexically_normal());
  }
  return dirs;
}

void load_plugins(const std::vector<PluginRef>& plugins, TypeRegistry& registry, Diagnostics& diagnostics) {
  PluginLoader loader(registry, diagnostics);
  for (const PluginRef& ref : plugins) loader.load(ref);
}

}  // namespace flowbatch
