// Reads the dynamic symbol table of an ELF shared object from the file, without loading it: the
// plugin loader uses it to refuse a library that is no radpipe plugin before any of its code (its
// constructors) runs, and to find the symbols a plugin needs that nothing provides.
//
// Boost.DLL's library_info (1.74) reads .symtab, which `strip` removes from every packaged
// library, and trusts the file's offsets; this reader uses .dynsym, which the dynamic linker
// itself uses, and checks every offset against the file's size.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

namespace radpipe::host {

struct DynamicSymbols {
  std::vector<std::string> defined;   // exported (global or weak, default or protected visibility)
  std::vector<std::string> undefined; // needed from other libraries (strong references only)
};

// Throws std::runtime_error saying what is wrong when `file` is not a readable ELF shared
// object for this machine's architecture.
DynamicSymbols read_dynamic_symbols(const std::filesystem::path& file);

} // namespace radpipe::host
