// Package store is the continuous agent's embedded local profile store: a
// bounded directory of gzipped pprof files, one per target per window,
// that `perfprobe flame`, `diff` and `diagnose` query by time range,
// service and pid.
//
// Layout:
//
//	DIR/.perfprobe-store                                       marker: DIR is a store (layout version)
//	DIR/<service>/<YYYY-MM-DD>/<startMilli>-<endMilli>-<pid>.pb.gz
//
// The day is the UTC date of the window's start; start and end are Unix
// milliseconds. The service directory is the service name with every byte
// outside [A-Za-z0-9._-] mapped to '_', a leading '.' mapped to '_', and
// "_" for an empty name (so two names that differ only in such bytes share a
// directory). Each file also carries every label of its window as pprof
// comments "perfprobe-label k=v" (go tool pprof -comments shows them), so a
// file describes itself when copied out of the store.
//
// Writes are atomic: a window is encoded in memory, written to a ".tmp-*"
// file in its day directory, fsynced, renamed to its name and the directory
// fsynced. A reader never sees a partial file, and Open removes the temp
// files a writer killed mid-write left behind. One process writes a store
// (Open); any number read it (OpenReadOnly), also while it is written.
//
// The store is bounded by Limits: after each Put, windows whose end is older
// than MaxAge are deleted, then the oldest (by end) until the files total at
// most MaxBytes; empty day and service directories go with them.
//
// Load merges the windows of a query with pprof's profile.Merge, after
// giving every window the union of their sample types (first appearance
// order, zero where a window lacks a type). A file that cannot be read
// (deleted by the writer's limits meanwhile, or corrupt) is skipped: Load
// fails only when nothing could be read, and otherwise records each skipped
// file as a comment beginning with SkippedComment in the merged profile.
package store
