// Package conformance is the conformance suite against the real Claude Code CLI.
//
// It runs the pinned @anthropic-ai/claude-code in private tmux servers,
// offline: every call the CLI makes goes through internal/fakes/anthropictest,
// an HTTPS proxy that plays the API and OAuth servers. Each case puts the
// CLI in one situation (answering, login expired, revoked, …) and checks that
// fleetwarden's classifier reads the pane the way a human would, and that
// the login drivers work against the real thing.
//
//	go test -tags claude_e2e ./conformance/...
//
// $CLAUDE_BIN names a CLI to test; without it the release named by
// $CLAUDE_CODE_VERSION (default: the pinned one; "latest": what npm has
// now) is installed with npm into $FLEETWARDEN_CLAUDE_CACHE/claude-code-<version>
// (default ~/.cache/fleetwarden/claude-code-<version>) and reused from there:
//
//	CLAUDE_CODE_VERSION=2.1.332 go test -tags claude_e2e ./conformance/...
//
// A failing case prints its panes and every request the fake saw (unknown
// endpoints marked); E2E_REPORT=1 prints them for passing cases too.
//
// The tests carry the build tag claude_e2e, so the main suite (go test
// ./...) does not run them; this file keeps the package visible without it.
package conformance
