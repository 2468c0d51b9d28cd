// symbols.cpp: code addresses to function names, from the object file's
// .symtab (local functions included), cached per object.
#include "symbols.hpp"

#include <cxxabi.h>
#include <dlfcn.h>
#include <elf.h>
#include <fcntl.h>
#include <link.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

namespace duet::detail {
namespace {

/// The loaded object holding an address: its file and load bias.
struct Loaded {
  std::string path;         // the main program's is read from /proc/self/exe
  std::uintptr_t bias = 0;  // dlpi_addr: st_value + bias is the address
};

std::string main_program_path() {
  char buf[4096];
  const ssize_t n = ::readlink("/proc/self/exe", buf, sizeof buf - 1);
  return n > 0 ? std::string(buf, static_cast<std::size_t>(n)) : std::string("/proc/self/exe");
}

std::optional<Loaded> loaded_object_of(const void* code) {
  struct Query {
    std::uintptr_t addr;
    std::optional<Loaded> found;
  } q{reinterpret_cast<std::uintptr_t>(code), std::nullopt};
  dl_iterate_phdr(
      [](dl_phdr_info* info, std::size_t, void* data) -> int {
        auto& q = *static_cast<Query*>(data);
        for (int i = 0; i < info->dlpi_phnum; ++i) {
          const ElfW(Phdr)& ph = info->dlpi_phdr[i];
          if (ph.p_type != PT_LOAD) continue;
          const std::uintptr_t lo = info->dlpi_addr + ph.p_vaddr;
          if (q.addr < lo || q.addr >= lo + ph.p_memsz) continue;
          const bool main = info->dlpi_name == nullptr || info->dlpi_name[0] == '\0';
          q.found = Loaded{main ? main_program_path() : info->dlpi_name, info->dlpi_addr};
          return 1;
        }
        return 0;
      },
      &q);
  return q.found;
}

/// An object file's function symbols, sorted by address.
class SymbolTable {
 public:
  struct Entry {
    std::uintptr_t start, size;
    std::uint32_t name;  // offset in names_
  };
  explicit SymbolTable(const std::string& path) { load(path); }
  /// The function whose symbol covers `off` (an address less the bias).
  [[nodiscard]] const char* lookup(std::uintptr_t off, std::uintptr_t& start) const {
    auto it = std::upper_bound(entries_.begin(), entries_.end(), off,
                               [](std::uintptr_t a, const Entry& e) { return a < e.start; });
    if (it == entries_.begin()) return nullptr;
    --it;
    // A zero-size symbol (hand-written assembly) covers up to the next one.
    if (it->size != 0 && off >= it->start + it->size) return nullptr;
    start = it->start;
    return names_.data() + it->name;
  }

 private:
  void load(const std::string& path) {
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return;
    read_symtab(fd);
    ::close(fd);
    std::sort(entries_.begin(), entries_.end(),
              [](const Entry& a, const Entry& b) { return a.start < b.start; });
  }
  static bool read_at(int fd, void* to, std::size_t n, std::uint64_t at) {
    auto* p = static_cast<char*>(to);
    while (n > 0) {
      const ssize_t got = ::pread(fd, p, n, static_cast<off_t>(at));
      if (got <= 0) return false;
      p += got;
      n -= static_cast<std::size_t>(got);
      at += static_cast<std::uint64_t>(got);
    }
    return true;
  }
  void read_symtab(int fd) {
    ElfW(Ehdr) eh{};
    if (!read_at(fd, &eh, sizeof eh, 0) || std::memcmp(eh.e_ident, ELFMAG, SELFMAG) != 0 ||
        eh.e_ident[EI_CLASS] != ELFCLASS64 || eh.e_shentsize != sizeof(ElfW(Shdr))) {
      return;
    }
    std::vector<ElfW(Shdr)> sh(eh.e_shnum);
    if (!read_at(fd, sh.data(), sh.size() * sizeof(ElfW(Shdr)), eh.e_shoff)) return;
    for (const auto& s : sh) {
      if (s.sh_type != SHT_SYMTAB || s.sh_link >= sh.size()) continue;
      const ElfW(Shdr)& strs = sh[s.sh_link];
      names_.resize(strs.sh_size + 1, '\0');
      if (!read_at(fd, names_.data(), strs.sh_size, strs.sh_offset)) return names_.clear();
      std::vector<ElfW(Sym)> syms(s.sh_size / sizeof(ElfW(Sym)));
      if (!read_at(fd, syms.data(), syms.size() * sizeof(ElfW(Sym)), s.sh_offset)) return;
      for (const auto& y : syms) {
        if (ELF64_ST_TYPE(y.st_info) != STT_FUNC || y.st_shndx == SHN_UNDEF) continue;
        if (y.st_name >= strs.sh_size) continue;
        entries_.push_back({y.st_value, y.st_size, y.st_name});
      }
      return;
    }
  }

  std::vector<Entry> entries_;
  std::vector<char> names_;
};

std::mutex g_tables_mu;
std::map<std::string, std::unique_ptr<SymbolTable>> g_tables;  // by object path

/// The mangled name covering `code`, and its offset in it; null if none.
const char* symbol_of(const void* code, const Loaded& obj, std::uintptr_t& offset) {
  const auto addr = reinterpret_cast<std::uintptr_t>(code);
  std::uintptr_t start = 0;
  const char* name = nullptr;
  {
    std::lock_guard lk(g_tables_mu);
    auto& t = g_tables[obj.path];
    if (!t) t = std::make_unique<SymbolTable>(obj.path);
    name = t->lookup(addr - obj.bias, start);
  }
  if (name != nullptr) {
    offset = addr - obj.bias - start;
    return name;
  }
  // Stripped: the dynamic symbols.
  Dl_info di{};
  if (dladdr(code, &di) != 0 && di.dli_sname != nullptr) {
    offset = addr - reinterpret_cast<std::uintptr_t>(di.dli_saddr);
    return di.dli_sname;
  }
  return nullptr;
}

std::string demangle(const char* mangled) {
  int status = 0;
  std::unique_ptr<char, void (*)(void*)> name(
      ::abi::__cxa_demangle(mangled, nullptr, nullptr, &status), &std::free);
  return status == 0 && name ? std::string(name.get()) : std::string(mangled);
}

std::string hex(std::uintptr_t v) {
  char buf[2 + 2 * sizeof v + 1];
  std::snprintf(buf, sizeof buf, "0x%jx", static_cast<std::uintmax_t>(v));
  return buf;
}

std::string base_name(const std::string& path) {
  const auto slash = path.rfind('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

}  // namespace

std::string clean_coroutine_name(std::string s) {
  // clang: "f(int) [clone .resume]" (or "... (.resume)" in older spellings).
  for (const char* suffix : {" [clone .resume]", " (.resume)"}) {
    const std::string sfx(suffix);
    if (s.size() > sfx.size() && s.compare(s.size() - sfx.size(), sfx.size(), sfx) == 0) {
      return s.substr(0, s.size() - sfx.size());
    }
  }
  // GCC: "f(f(int)::_Z1fi.Frame*) [clone .actor]": the source's signature is
  // the parameter's qualifier, which starts with the function's own name.
  const std::string actor = " [clone .actor]";
  if (s.size() <= actor.size() || s.compare(s.size() - actor.size(), actor.size(), actor) != 0) {
    return s;
  }
  s.resize(s.size() - actor.size());
  const auto frame = s.rfind("::_Z");
  if (frame == std::string::npos) return s;
  for (std::size_t p = s.find('(', 1); p != std::string::npos && p < frame;
       p = s.find('(', p + 1)) {
    if (frame > p + 1 + p && s.compare(p + 1, p, s, 0, p) == 0)
      return s.substr(p + 1, frame - p - 1);
  }
  return s;
}

std::string function_name(const void* code) {
  const auto obj = loaded_object_of(code);
  if (!obj) return hex(reinterpret_cast<std::uintptr_t>(code));
  std::uintptr_t offset = 0;
  if (const char* sym = symbol_of(code, *obj, offset)) return clean_coroutine_name(demangle(sym));
  return base_name(obj->path) + "+" + hex(reinterpret_cast<std::uintptr_t>(code) - obj->bias);
}

std::vector<std::string> symbolize(void* const* frames, int depth) {
  std::vector<std::string> out;
  out.reserve(static_cast<std::size_t>(depth > 0 ? depth : 0));
  for (int i = 0; i < depth; ++i) {
    const void* pc = frames[i];
    const auto addr = reinterpret_cast<std::uintptr_t>(pc);
    const auto obj = loaded_object_of(pc);
    if (!obj) {
      out.push_back(hex(addr));
      continue;
    }
    std::uintptr_t offset = 0;
    if (const char* sym = symbol_of(pc, *obj, offset)) {
      out.push_back(demangle(sym) + "+" + hex(offset) + " (" + base_name(obj->path) + ")");
    } else {
      out.push_back(base_name(obj->path) + "+" + hex(addr - obj->bias));
    }
  }
  return out;
}

}  // namespace duet::detail
