// elf_symbols.hpp - finds a function of a shared object mapped in another process: the symbol's
// address in the file (elfutils libelf, dynamic symbol table) plus where the process loaded it.
#pragma once

#include "proc.hpp"

#include <sys/types.h>

#include <cstdint>
#include <string>
#include <vector>

namespace nm::inject {

// The file behind a mapping, as this process can open it: through /proc/PID/root (the target may
// live in another mount namespace), or /proc/PID/map_files when the file was replaced on disk
// ("(deleted)", e.g. a libc upgraded while the analyzer runs).
std::string mapped_file_path(pid_t pid, const Mapping &m);

// The absolute address of dynamic symbol `name` in process `pid`, where `object` is the object's
// offset-0 mapping. Takes the default version of a versioned symbol (dlopen@@GLIBC_2.34 over
// dlopen@GLIBC_2.2.5). False with *error: file unreadable, symbol absent, an IFUNC (its resolver
// would have to run first).
bool resolve_symbol(pid_t pid, const Mapping &object, const std::string &name, uint64_t *address,
                    std::string *error);

// True for a 64-bit x86-64 ELF file; *what describes anything else ("32-bit", "aarch64 (183)").
bool is_x86_64_elf(const std::string &path, std::string *what);

// Whether the ELF program at `path` asks for a dynamic loader (PT_INTERP) and has a dynamic
// section. A static executable has neither; a static-pie has PT_DYNAMIC only.
bool elf_program_kind(const std::string &path, bool *has_interp, bool *has_dynamic, std::string *error);

} // namespace nm::inject
