#include "loader/elf_symbols.hpp"

#include <elf.h>

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <stdexcept>

namespace radpipe::host {
namespace {

#if defined(__x86_64__)
constexpr Elf64_Half this_machine = EM_X86_64;
#elif defined(__aarch64__)
constexpr Elf64_Half this_machine = EM_AARCH64;
#elif defined(__powerpc64__)
constexpr Elf64_Half this_machine = EM_PPC64;
#elif defined(__riscv) && __riscv_xlen == 64
constexpr Elf64_Half this_machine = EM_RISCV;
#else
#error "radpipe reads 64-bit ELF plugins only; add this machine's EM_ value"
#endif

// Tables larger than this are not a plugin's (LibTorch itself exports about 200,000 symbols).
constexpr std::uint64_t largest_table = 256u << 20;

class ElfFile {
 public:
  explicit ElfFile(const std::filesystem::path& file) : stream_(file, std::ios::binary) {
    if (!stream_) throw std::runtime_error("cannot open the file: " + std::string(std::strerror(errno)));
    stream_.seekg(0, std::ios::end);
    size_ = static_cast<std::uint64_t>(stream_.tellg());
  }

  // Reads `count` bytes at `offset`, refusing anything past the end of the file.
  void read(std::uint64_t offset, void* into, std::uint64_t count, const char* what) {
    if (offset > size_ || count > size_ - offset)
      throw std::runtime_error(std::string("truncated or corrupt ELF file: the ") + what +
                               " lies past the end of the file");
    stream_.seekg(static_cast<std::streamoff>(offset));
    stream_.read(static_cast<char*>(into), static_cast<std::streamsize>(count));
    if (!stream_) throw std::runtime_error(std::string("cannot read the ") + what);
  }

  std::uint64_t size() const { return size_; }

 private:
  std::ifstream stream_;
  std::uint64_t size_ = 0;
};

} // namespace

DynamicSymbols read_dynamic_symbols(const std::filesystem::path& path) {
  ElfFile file(path);
  unsigned char ident[EI_NIDENT] = {};
  if (file.size() < sizeof(Elf64_Ehdr)) throw std::runtime_error("not an ELF file (too short)");
  file.read(0, ident, sizeof ident, "ELF identification");
  if (std::memcmp(ident, ELFMAG, SELFMAG) != 0) throw std::runtime_error("not an ELF file");
  if (ident[EI_CLASS] != ELFCLASS64)
    throw std::runtime_error("a 32-bit ELF file; radpipe is a 64-bit program");
  if (ident[EI_DATA] != ELFDATA2LSB)
    throw std::runtime_error("a big-endian ELF file; this machine is little-endian");

  Elf64_Ehdr header;
  file.read(0, &header, sizeof header, "ELF header");
  if (header.e_type != ET_DYN)
    throw std::runtime_error("an ELF file that is not a shared object (e_type " +
                             std::to_string(header.e_type) + ")");
  if (header.e_machine != this_machine)
    throw std::runtime_error("an ELF file for another processor (e_machine " +
                             std::to_string(header.e_machine) + ", this machine " +
                             std::to_string(this_machine) + ")");
  if (header.e_shnum == 0 || header.e_shentsize != sizeof(Elf64_Shdr))
    throw std::runtime_error(
        "an ELF file without section headers; radpipe reads a plugin's dynamic symbol table before loading "
        "it");

  std::vector<Elf64_Shdr> sections(header.e_shnum);
  file.read(header.e_shoff, sections.data(), sizeof(Elf64_Shdr) * sections.size(), "section header table");

  const Elf64_Shdr* dynsym = nullptr;
  for (const auto& section : sections)
    if (section.sh_type == SHT_DYNSYM) dynsym = &section;
  DynamicSymbols symbols;
  if (dynsym == nullptr) return symbols; // a library that exports and imports nothing
  if (dynsym->sh_entsize != sizeof(Elf64_Sym) || dynsym->sh_link >= sections.size())
    throw std::runtime_error("corrupt ELF file: malformed dynamic symbol table");
  const Elf64_Shdr& strings_section = sections[dynsym->sh_link];
  if (dynsym->sh_size > largest_table || strings_section.sh_size > largest_table ||
      strings_section.sh_type != SHT_STRTAB)
    throw std::runtime_error("corrupt ELF file: malformed dynamic symbol table");

  std::vector<Elf64_Sym> table(dynsym->sh_size / sizeof(Elf64_Sym));
  file.read(dynsym->sh_offset, table.data(), table.size() * sizeof(Elf64_Sym), "dynamic symbol table");
  std::vector<char> names(strings_section.sh_size);
  file.read(strings_section.sh_offset, names.data(), names.size(), "dynamic string table");
  if (names.empty() || names.back() != '\0')
    throw std::runtime_error("corrupt ELF file: unterminated dynamic string table");

  for (const auto& symbol : table) {
    if (symbol.st_name == 0 || symbol.st_name >= names.size()) continue;
    const unsigned char binding = ELF64_ST_BIND(symbol.st_info);
    const unsigned char visibility = ELF64_ST_VISIBILITY(symbol.st_other);
    std::string name(&names[symbol.st_name]);
    if (symbol.st_shndx == SHN_UNDEF) {
      if (binding == STB_GLOBAL) symbols.undefined.push_back(std::move(name));
    } else if ((binding == STB_GLOBAL || binding == STB_WEAK) &&
               (visibility == STV_DEFAULT || visibility == STV_PROTECTED)) {
      symbols.defined.push_back(std::move(name));
    }
  }
  return symbols;
}

} // namespace radpipe::host
