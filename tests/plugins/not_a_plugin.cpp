// A test shared library that is not a flowbatch plugin: it exports none of the plugin symbols.
extern "C" __attribute__((visibility("default"))) int some_other_library_function() { return 42; }
