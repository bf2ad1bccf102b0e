// Package fold matches text ignoring ASCII case without changing byte
// offsets, so a match can be cut out of (or replaced in) the original.
package fold

// Index is strings.Index ignoring ASCII case; lower must be lower case.
// Unlike strings.ToLower it keeps byte offsets valid for s.
func Index(s, lower string) int {
	n := len(lower)
	for i := 0; i+n <= len(s); i++ {
		j := 0
		for j < n {
			c := s[i+j]
			if c >= 'A' && c <= 'Z' {
				c += 'a' - 'A'
			}
			if c != lower[j] {
				break
			}
			j++
		}
		if j == n {
			return i
		}
	}
	return -1
}
