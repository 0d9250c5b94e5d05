#pragma once
// What a plugin and the flowbatch program must agree on to share C++ objects: the plugin API
// version, and the libraries whose types cross the boundary (Boost.JSON in Item, the C++ standard
// library everywhere). A plugin built against anything else is refused at load time, by name.
#include <boost/version.hpp>

#include <cstddef>  // defines the standard library's configuration macros

// Bump on any change to a header in include/flowbatch/ that alters a type's layout or a virtual table.
#define FLOWBATCH_PLUGIN_API_VERSION 8

#define FLOWBATCH_DETAIL_STR2(x) #x
#define FLOWBATCH_DETAIL_STR(x) FLOWBATCH_DETAIL_STR2(x)
#if defined(_LIBCPP_VERSION)
#define FLOWBATCH_DETAIL_STDLIB "libc++"
#elif defined(_GLIBCXX_USE_CXX11_ABI)
#define FLOWBATCH_DETAIL_STDLIB "libstdc++ (cxx11 ABI " FLOWBATCH_DETAIL_STR(_GLIBCXX_USE_CXX11_ABI) ")"
#else
#define FLOWBATCH_DETAIL_STDLIB "an unknown C++ library"
#endif

// libstdc++'s debug mode changes the layout of every standard container.
#if defined(_GLIBCXX_DEBUG)
#define FLOWBATCH_DETAIL_DEBUG ", debug containers"
#else
#define FLOWBATCH_DETAIL_DEBUG ""
#endif

/// E.g. "Boost 1_81, libstdc++ (cxx11 ABI 1)".
#define FLOWBATCH_PLUGIN_BUILD "Boost " BOOST_LIB_VERSION ", " FLOWBATCH_DETAIL_STDLIB FLOWBATCH_DETAIL_DEBUG

namespace flowbatch {
inline constexpr int kPluginApiVersion = FLOWBATCH_PLUGIN_API_VERSION;
inline constexpr const char* kPluginBuild = FLOWBATCH_PLUGIN_BUILD;
}  // namespace flowbatch
