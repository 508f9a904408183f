#include "plugins/exported_symbols.hpp"

#include <elf.h>

#include <cstring>
#include <fstream>
#include <iterator>

namespace herd::plugins {

std::optional<std::vector<std::string>> exported_symbols(const std::filesystem::path& file) {
    std::ifstream in(file, std::ios::binary);
    if (!in) return std::nullopt;
    const std::string data((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    auto fits = [&](uint64_t off, uint64_t size) { return off <= data.size() && size <= data.size() - off; };
    if (!fits(0, sizeof(Elf64_Ehdr))) return std::nullopt;
    Elf64_Ehdr eh;
    std::memcpy(&eh, data.data(), sizeof eh);
    if (std::memcmp(eh.e_ident, ELFMAG, SELFMAG) != 0 || eh.e_ident[EI_CLASS] != ELFCLASS64 || eh.e_shentsize != sizeof(Elf64_Shdr))
        return std::nullopt;
    if (!fits(eh.e_shoff, uint64_t(eh.e_shnum) * sizeof(Elf64_Shdr))) return std::nullopt;
    auto section = [&](size_t i) {
        Elf64_Shdr sh;
        std::memcpy(&sh, data.data() + eh.e_shoff + i * sizeof(Elf64_Shdr), sizeof sh);
        return sh;
    };
    std::vector<std::string> out;
    for (size_t i = 0; i < eh.e_shnum; ++i) {
        const Elf64_Shdr sym = section(i);
        if (sym.sh_type != SHT_DYNSYM || sym.sh_link >= eh.e_shnum || sym.sh_entsize != sizeof(Elf64_Sym)) continue;
        const Elf64_Shdr str = section(sym.sh_link);
        if (!fits(sym.sh_offset, sym.sh_size) || !fits(str.sh_offset, str.sh_size)) return std::nullopt;
        for (uint64_t off = 0; off + sizeof(Elf64_Sym) <= sym.sh_size; off += sizeof(Elf64_Sym)) {
            Elf64_Sym s;
            std::memcpy(&s, data.data() + sym.sh_offset + off, sizeof s);
            const int bind = ELF64_ST_BIND(s.st_info);
            if (s.st_shndx == SHN_UNDEF || (bind != STB_GLOBAL && bind != STB_WEAK) || s.st_name >= str.sh_size) continue;
            const char* name = data.data() + str.sh_offset + s.st_name;
            out.emplace_back(name, strnlen(name, str.sh_size - s.st_name));
        }
    }
    return out;
}

}  // namespace herd::plugins
