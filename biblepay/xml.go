package biblepay

import "strings"

// ExtractXML returns the text between the first open tag and the first close
// tag after it, or "" if either is missing: the wallet's ExtractXML
// (spec §1.4), which searches for the close tag from 3 characters after the
// open tag's start. Tags are case-sensitive.
func ExtractXML(data, open, close string) string {
	start := strings.Index(data, open)
	if start < 0 {
		return ""
	}
	from := start + 3
	if from > len(data) {
		return ""
	}
	rel := strings.Index(data[from:], close)
	if rel < 0 {
		return ""
	}
	end := from + rel
	begin := start + len(open)
	if end < begin {
		return ""
	}
	return data[begin:end]
}
