// Package symbolize turns raw stack addresses of a process and of the kernel
// into function names. A Symbolizer snapshots a process's executable mappings
// from /proc/PID/maps, opens every mapped binary at snapshot time (so that
// short-lived targets can still be symbolized after they exit) and resolves
// addresses lazily: Go executables through their .gopclntab (function, file
// and line, also for stripped and PIE builds, with the calls the compiler
// inlined expanded from the inline tree), other ELF objects through
// .symtab or .dynsym. A binary without .symtab (stripped) is named from the
// .symtab of its separate debug file, found by build id or .gnu_debuglink
// (CRC checked) under DebugDirs, as gdb finds it, else from the
// DEBUGINFOD_URLS servers into a bounded local cache. C++ and Rust names
// are demangled. Code a JIT generated (node --perf-basic-prof, Java,
// python -X perf) is named from the process's /tmp/perf-PID.map, re-read
// when it grows. Kernel addresses are resolved from /proc/kallsyms.
// Parsed binaries are cached by device and inode and shared between
// processes. An address is never dropped: when no symbol is known the frame
// is named "module+0xOFFSET" or "[unknown]+0xADDR".
//
// Native code also gets its source file and line, from the DWARF line
// table of the binary, else of its separate debug file (local or fetched
// from debuginfod): a binary's symbols and DWARF are read on the first
// lookup in it, never for a binary no sample touches; at first only the
// compile units' ranges, then a unit's table on the first lookup inside
// it. A binary keeps .debug_line and at most 256k decoded rows
// (MaxDWARFBytes bounds what is read). The line is that of the address
// itself. A stripped binary with no debug file found is named from its
// MiniDebugInfo (.gnu_debugdata, xz) with its .dynsym. The calls the
// compiler inlined into native code are expanded from the DWARF's inlined
// subroutines, as for Go (Frame.Inlined), a unit's on the first lookup
// inside it; the binary then keeps its DWARF sections (NativeInlining). What went wrong
// reading a binary's debug info (a debuginfod server down, DWARF too
// large) is told by Process.Warnings. Unknown frames keep their mapping
// and build id, so that pprof can symbolize them later.
package symbolize
