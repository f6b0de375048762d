// Package flame renders profiles for people: root-first folded stacks
// (Brendan Gregg's format, one line per stack) today, and the HTML
// flamegraph and speedscope writers as they arrive.
package flame
