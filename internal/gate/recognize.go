package gate

// ParseData reads one result file or one command's output, recognised by
// content (not by name): Go benchmark text, wrk's output, hyperfine's
// --export-json, a perfprobe capture.json, or the simple JSON of named
// samples. It adds what it understood to into; ok is false when the data
// is none of these. name is used in metric sources and messages.
func ParseData(name string, data []byte, into *Set) (ok bool, err error) {
	return false, nil // placeholder: the recognisers land in their own files
}
