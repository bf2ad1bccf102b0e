package claude

import (
	"strconv"
	"strings"
)

// TestedVersions are the Claude Code releases the conformance suite (conformance/)
// last passed on. A host running a newer CLI may say things the classifier
// has not seen: `check` and the dashboard say so. Add a release here after
// `CLAUDE_CODE_VERSION=<it> go test -tags claude_e2e ./conformance/...` passes.
var TestedVersions = []string{"2.1.328", "2.1.332"}

// ParseVersion reads `claude --version` output ("2.1.332 (Claude Code)")
// and returns the release, or false when the output is not one.
func ParseVersion(out string) (string, bool) {
	f := strings.Fields(out)
	if len(f) == 0 {
		return "", false
	}
	v := strings.TrimPrefix(f[0], "v")
	if _, ok := versionParts(v); !ok {
		return "", false
	}
	return v, true
}

// NewerThanTested reports whether release v is newer than every release in
// TestedVersions.
func NewerThanTested(v string) bool {
	p, ok := versionParts(v)
	if !ok {
		return false
	}
	for _, t := range TestedVersions {
		if q, ok := versionParts(t); ok && compareParts(p, q) <= 0 {
			return false
		}
	}
	return true
}

// LatestTested is the newest release in TestedVersions.
func LatestTested() string {
	best := ""
	var bp []int
	for _, t := range TestedVersions {
		if q, ok := versionParts(t); ok && (bp == nil || compareParts(q, bp) > 0) {
			best, bp = t, q
		}
	}
	return best
}

// versionParts splits "2.1.332" (a pre-release suffix "-beta.1" is cut
// off) into numbers.
func versionParts(v string) ([]int, bool) {
	v, _, _ = strings.Cut(v, "-")
	parts := strings.Split(v, ".")
	if len(parts) < 2 || len(parts) > 4 {
		return nil, false
	}
	out := make([]int, len(parts))
	for i, s := range parts {
		n, err := strconv.Atoi(s)
		if err != nil || n < 0 {
			return nil, false
		}
		out[i] = n
	}
	return out, true
}

func compareParts(a, b []int) int {
	for i := range max(len(a), len(b)) {
		var x, y int
		if i < len(a) {
			x = a[i]
		}
		if i < len(b) {
			y = b[i]
		}
		if x != y {
			if x < y {
				return -1
			}
			return 1
		}
	}
	return 0
}
