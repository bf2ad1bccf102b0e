package daemon

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/fleetwarden/fleetwarden/config"
)

// The log: JSON or text as configured, at the configured level, and no
// token in any line, whoever logged it and however.
func TestLogFormatLevelAndRedaction(t *testing.T) {
	secrets := []string{
		"sk-ant-oat01-AAAABBBBCCCCDDDDEEEEFFFFGGGG",
		"123456789:AAHfGhIjKlMnOpQrStUvWxYz0123456789",
		"MTA5ODc2NTQzMjEwOTg3NjU0Mw.GhIjKl.AbCdEfGhIjKlMnOpQrStUvWxYz0123456789ab",
	}
	for _, format := range []string{"json", "text"} {
		var buf bytes.Buffer
		cfg := config.Default()
		cfg.Log.Format, cfg.Log.Level = format, "warn"
		log := NewLogger(cfg, &buf)
		log.Info("not at warn level")
		log.Warn("getUpdates", "err", fmt.Errorf("Post https://api.telegram.org/bot%s/getUpdates: EOF", secrets[1]),
			"token", secrets[0], "evidence", "discord token "+secrets[2])
		out := buf.String()
		if strings.Contains(out, "not at warn level") {
			t.Errorf("%s: an info line at level warn:\n%s", format, out)
		}
		if format == "json" {
			var m map[string]any
			if err := json.Unmarshal([]byte(out), &m); err != nil || m["msg"] != "getUpdates" {
				t.Errorf("json: not one JSON object with msg getUpdates: %v\n%s", err, out)
			}
		} else if !strings.Contains(out, "level=WARN msg=getUpdates") {
			t.Errorf("text: %s", out)
		}
		for _, s := range secrets {
			if strings.Contains(out, s) {
				t.Errorf("%s: the log holds %s:\n%s", format, s[:12], out)
			}
		}
	}
}
