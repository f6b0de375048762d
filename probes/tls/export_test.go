package tls

// ForcePerfUprobes sets forcePerfUprobes for the external tests.
func ForcePerfUprobes(on bool) { forcePerfUprobes = on }
