// A shared library that exports functions but no radpipe entry symbol.
extern "C" __attribute__((visibility("default"))) int some_other_function() { return 42; }
