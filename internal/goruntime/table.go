package goruntime

// Offsets by Go version, for executables without DWARF (linux/amd64).
//
// What is verified and what is not:
//   - go1.26: read from the DWARF of a binary built with go1.26.8
//     (TestTableMatchesDWARF checks it against the local Go).
//   - go1.25: computed by hand from go1.25.3's runtime2.go (gobuf without
//     ret; m with allpSnapshot, without signalSecret and idleNode, the
//     fields go1.26 adds before lockedg); not checked against a binary.
//   - go1.24: computed by hand from a copy of go1.24's runtime2.go (gobuf
//     with ret; m without allpSnapshot); not checked against a binary.
//   - go1.22, go1.23: assumed as go1.24 (the fields they add or drop
//     before m.lockedg are bools that fit in existing padding); go1.21
//     also has m.fastrand (8 bytes) before lockedg. Not checked.
//   - go1.27: assumed unchanged from go1.26; not checked.
//
// The method (Go's layout rules over the struct's fields) gives go1.26's
// DWARF offsets exactly from its source.
//
// A wrong entry does no harm: the BPF side takes a locked goroutine only
// when its saved context names it (gobuf.g == the g) and its frame
// pointer lies in its stack, and counts the threads where that fails
// (sched_go_locked_invalid).
var table = []struct {
	minor int
	o     Offsets
}{
	{21, layout(56, 352)},
	{22, layout(56, 344)},
	{23, layout(56, 344)},
	{24, layout(56, 344)},
	{25, layout(48, 360)},
	{26, layout(48, 384)},
	{27, layout(48, 384)},
}

// layout returns the offsets of a version whose gobuf is gobufSize bytes
// (bp is its last word) and whose m.lockedg is at lockedg; g's head
// (stack, stackguard0/1, _panic, _defer, m, sched) and gobuf's head (sp,
// pc, g) are the same in every version the table knows.
func layout(gobufSize, lockedg uint32) Offsets {
	return Offsets{
		GStackHi: 8, GM: 48, GSched: 56,
		GobufSP: 0, GobufPC: 8, GobufG: 16, GobufBP: gobufSize - 8,
		MG0: 0, MLockedg: lockedg,
	}
}
