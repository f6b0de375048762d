// Package symbolize turns raw stack addresses of a process and of the kernel
// into function names, source files and lines. A Symbolizer snapshots a
// process's executable mappings from /proc/PID/maps, opens every mapped
// binary at snapshot time (so that short-lived targets can still be
// symbolized after they exit) and reads a binary's symbols on the first
// lookup in it, never for a binary no sample touches. Go executables
// resolve through their .gopclntab (function, file and line, also for
// stripped and PIE builds). Other ELF objects are named from .symtab; a
// binary without one from the .symtab of its separate debug file, found by
// build id or .gnu_debuglink (CRC checked) under DebugDirs, as gdb finds
// it, else from the DEBUGINFOD_URLS servers into a bounded local cache
// (fetches time-limited; off when the variable is unset), else from its
// MiniDebugInfo (.gnu_debugdata, xz), else from .dynsym. File and line of
// native code come from the DWARF line table of the binary, else of its
// debug file: only the compile units' ranges are read at first, a unit's
// table is decoded on the first lookup inside it, and a binary keeps
// .debug_line and at most 256k decoded rows (MaxDWARFBytes bounds what is
// read). The line is that of the address itself; inlined callers are not
// expanded. C++ and Rust names are demangled. Code a JIT generated (node
// --perf-basic-prof, Java, python -X perf) is named from the process's
// /tmp/perf-PID.map, re-read when it grows. Kernel addresses are resolved
// from /proc/kallsyms. Parsed binaries are cached by device and inode and
// shared between processes. What went wrong reading a binary's debug info
// (a debuginfod server down, DWARF too large) is told by
// Process.Warnings. An address is never dropped: when no symbol is known
// the frame is named "module+0xOFFSET" or "[unknown]+0xADDR", and keeps its
// mapping and build id.
package symbolize
