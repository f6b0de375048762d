// Package iostall is the I/O-stall probe: for the target's threads it times
// every I/O syscall (read and write families, fsync, fdatasync,
// sync_file_range, open, close, AIO and io_uring_enter) into a log2
// histogram per syscall with calls, bytes and errors, attributes the
// syscalls at or over Options.IOThreshold to the user stack that made them
// (sample type iowait, labelled with the syscall), and times block
// requests per disk from block_io_start until their last byte completed,
// split by whether the target submitted them. All of it is aggregated in
// the kernel.
package iostall
