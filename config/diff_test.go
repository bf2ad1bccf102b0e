package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func parseDiff(t *testing.T, text string) *Config {
	t.Helper()
	c, err := Parse("config.toml", []byte("[state]\ndir = \"/tmp/fw-diff\"\n"+text))
	if err != nil {
		t.Fatalf("parse: %v", err)
	}
	return c
}

const diffBase = `
[telegram]
token = "123:abc"
admins = [1]
viewers = [3]
alert_chats = [1]

[watchdog]
interval = "10s"

[[agent]]
name = "builder"
target = "fleet:builder"

[[agent]]
name = "docs"
target = "fleet:docs"
`

func TestDiff(t *testing.T) {
	for _, tc := range []struct {
		name    string
		new     string
		want    []string // substrings of the changes, in order
		confirm bool
	}{
		{"same", diffBase, nil, false},
		{"agent removed", strings.Replace(diffBase, "[[agent]]\nname = \"docs\"\ntarget = \"fleet:docs\"\n", "", 1),
			[]string{"- agent docs removed (fleet:docs)"}, true},
		{"agent added", diffBase + "[[agent]]\nname = \"ops\"\ntarget = \"fleet:ops\"\n",
			[]string{"+ agent ops added (fleet:ops)"}, false},
		{"agent changed", strings.Replace(diffBase, "fleet:docs", "fleet:docs2", 1),
			[]string{"~ agent docs: target: fleet:docs → fleet:docs2"}, false},
		{"alert chat added", strings.Replace(diffBase, "alert_chats = [1]", "alert_chats = [1, -100200]", 1),
			[]string{"+ telegram alert chat -100200 added"}, true},
		{"alert chat removed", strings.Replace(diffBase, "alert_chats = [1]", "alert_chats = []", 1),
			[]string{"- telegram alert chat 1 removed"}, false},
		{"operator added", strings.Replace(diffBase, "admins = [1]", "admins = [1]\noperators = [2]", 1),
			[]string{"+ telegram operator 2 added"}, true},
		{"token changed", strings.Replace(diffBase, "123:abc", "123:xyz", 1),
			[]string{"~ telegram.token changed"}, true},
		{"limits failover set", diffBase + "[limits]\nfailover = \"api\"\n[[credential]]\nname = \"api\"\nkind = \"api-key\"\ntoken = \"sk-ant-api03-abcdefabcdefabcdefabcdef\"\n",
			[]string{"+ credential api added", `~ limits.failover: "" → api`}, true},
		{"limits grace", diffBase + "[limits]\ngrace = \"5m\"\n",
			[]string{"~ limits.grace: 2m0s → 5m0s"}, false},
		{"interval", strings.Replace(diffBase, `"10s"`, `"5s"`, 1),
			[]string{"~ watchdog.interval: 10s → 5s"}, false},
		{"route added", diffBase + "[[alerts.route]]\ntype = \"webhook\"\nurl = \"https://hooks.example/secret-key\"\n",
			[]string{"+ alert route webhook0 added (webhook https://hooks.example/…)"}, true},
		{"host added", diffBase + "[[host]]\nname = \"gpu\"\naddress = \"10.0.0.7\"\n",
			[]string{"+ host gpu added"}, true},
		{"schedule", diffBase + "[schedule]\nmorning_report = \"off\"\n",
			[]string{"~ schedule.morning_report: CRON_TZ=UTC 0 8 * * * → \"\""}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := Diff(parseDiff(t, diffBase), parseDiff(t, tc.new))
			if len(got) != len(tc.want) {
				t.Fatalf("got %d changes, want %d:\n%s", len(got), len(tc.want), got)
			}
			for i, w := range tc.want {
				if !strings.Contains(got[i].Text, w) {
					t.Errorf("change %d = %q, want it to contain %q", i, got[i].Text, w)
				}
			}
			if got.NeedConfirm() != tc.confirm {
				t.Errorf("NeedConfirm = %v, want %v", got.NeedConfirm(), tc.confirm)
			}
			if strings.Contains(got.String(), "secret-key") || strings.Contains(got.String(), "xyz") {
				t.Errorf("a secret shows in the diff:\n%s", got)
			}
		})
	}
}

func TestStateDirHint(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct{ name, text, want string }{
		{"valid toml, invalid config", "[state]\ndir = \"st\"\n[[agent]]\nname = 1\n", filepath.Join(dir, "st")},
		{"syntax error elsewhere", "[watchdog\ninterval = \n[state]\ndir = \"/var/lib/fw\" # here\n", "/var/lib/fw"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := filepath.Join(dir, "c.toml")
			if err := os.WriteFile(p, []byte(tc.text), 0o600); err != nil {
				t.Fatal(err)
			}
			if got := StateDirHint(p); got != tc.want {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
}
