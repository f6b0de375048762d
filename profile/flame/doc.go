// Package flame renders profiles for people and for other viewers: one
// self-contained HTML flamegraph per profile (flame and icicle views, zoom,
// search, a switch between sample types, tooltips, a sandwich view, and a
// differential page for two profiles), root-first folded stacks (Brendan
// Gregg's format) and speedscope JSON.
package flame
