package config

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// Duration is a time.Duration written as a Go duration string ("90s", "5m").
type Duration struct {
	time.Duration
}

// UnmarshalText parses a duration; negative durations are refused.
func (d *Duration) UnmarshalText(b []byte) error {
	v, err := time.ParseDuration(string(b))
	if err != nil {
		return fmt.Errorf("%q is not a duration (use 90s, 5m, 1h30m)", b)
	}
	if v < 0 {
		return fmt.Errorf("%q is negative", b)
	}
	d.Duration = v
	return nil
}

// MarshalText writes the duration back as a Go duration string.
func (d Duration) MarshalText() ([]byte, error) { return []byte(d.String()), nil }

// Secret is a token or password. In the file it is written as
//
//	"env:NAME"   read from the environment variable NAME
//	"file:PATH"  read from PATH (trimmed; the file must not be readable by group or others)
//	anything else: the secret itself (a literal; prefer env: or file:)
//
// The value never appears in String, %v, JSON, TOML, slog output or errors.
type Secret struct {
	ref string // "env:NAME" or "file:PATH"; "" for a literal or when unset
	// value is the resolved secret. It sits behind a pointer because fmt,
	// on a bad verb such as %s of a *Telegram inside a Config, prints
	// structs field by field without calling Format; a pointer then prints
	// as an address.
	value *string
}

// LiteralSecret makes a resolved Secret holding value, for code and tests that
// build a Config without a file.
func LiteralSecret(value string) Secret { return Secret{value: &value} }

// Value returns the resolved secret ("" when unset or not resolved).
func (s Secret) Value() string {
	if s.value == nil {
		return ""
	}
	return *s.value
}

// IsSet reports whether the secret was configured.
func (s Secret) IsSet() bool { return s.ref != "" || s.value != nil }

// Ref says where the secret comes from without revealing it:
// "env:NAME", "file:PATH", "literal", or "" when unset.
func (s Secret) Ref() string {
	switch {
	case s.ref != "":
		return s.ref
	case s.value != nil:
		return "literal"
	}
	return ""
}

// String is Ref, except a literal shows as "[redacted]".
func (s Secret) String() string {
	if r := s.Ref(); r != "literal" {
		return r
	}
	return "[redacted]"
}

// Format makes every fmt verb (%v, %+v, %#v, %s, %q, %x, %d…) print String.
func (s Secret) Format(f fmt.State, verb rune) {
	if verb == 'q' {
		fmt.Fprintf(f, "%q", s.String())
		return
	}
	fmt.Fprint(f, s.String())
}

// MarshalJSON writes String as a JSON string.
func (s Secret) MarshalJSON() ([]byte, error) { return json.Marshal(s.String()) }

// MarshalText writes String (so re-encoding a Config never writes a secret).
func (s Secret) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// LogValue makes slog print String.
func (s Secret) LogValue() slog.Value { return slog.StringValue(s.String()) }

// UnmarshalText keeps an env: or file: reference for Load and Parse to
// resolve, or takes anything else as the secret itself.
func (s *Secret) UnmarshalText(b []byte) error {
	t := string(b)
	if isEnvRef(t) || isFileRef(t) {
		*s = Secret{ref: t}
		return nil
	}
	// A typo such as "ENV:X" or "File:x" would otherwise become a literal
	// token and fail much later, at the service.
	if i := strings.IndexByte(t, ':'); i > 0 {
		switch p := strings.ToLower(t[:i]); p {
		case "env", "file":
			return fmt.Errorf("write the %s: prefix in lower case", p)
		}
	}
	*s = Secret{value: &t}
	return nil
}

const maxSecretSize = 64 << 10

func isEnvRef(r string) bool  { return strings.HasPrefix(r, "env:") }
func isFileRef(r string) bool { return strings.HasPrefix(r, "file:") }

// resolve reads an env: or file: secret. dir resolves relative file: paths.
// Errors name the reference, never the value.
func (s *Secret) resolve(dir string) error {
	v, err := s.read(dir)
	if err != nil {
		return err
	}
	if v != "" {
		s.value = &v
	}
	return nil
}

func (s *Secret) read(dir string) (string, error) {
	r := s.ref
	switch {
	case isEnvRef(r):
		name := strings.TrimPrefix(r, "env:")
		if name == "" {
			return "", fmt.Errorf("%q names no environment variable (write env:NAME)", r)
		}
		v, ok := os.LookupEnv(name)
		if !ok {
			return "", fmt.Errorf("%s: environment variable %s is not set", r, name)
		}
		if v = strings.TrimSpace(v); v == "" {
			return "", fmt.Errorf("%s: environment variable %s is empty", r, name)
		}
		return v, nil
	case isFileRef(r):
		p := strings.TrimPrefix(r, "file:")
		if p == "" {
			return "", fmt.Errorf("%q names no file (write file:PATH)", r)
		}
		p, err := expandPath(p, dir)
		if err != nil {
			return "", fmt.Errorf("%s: %w", r, err)
		}
		fi, err := os.Stat(p)
		if err != nil {
			return "", fmt.Errorf("%s: %w", r, unwrapPathError(err))
		}
		if !fi.Mode().IsRegular() {
			// A FIFO or device could block or never end.
			return "", fmt.Errorf("%s: not a regular file", r)
		}
		if perm := fi.Mode().Perm(); perm&0o044 != 0 {
			return "", fmt.Errorf("%s: readable by others (mode %04o); chmod 600 it", r, perm)
		}
		if fi.Size() > maxSecretSize {
			return "", fmt.Errorf("%s: larger than %d bytes; not a token", r, maxSecretSize)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return "", fmt.Errorf("%s: %w", r, unwrapPathError(err))
		}
		v := strings.TrimSpace(string(b))
		if v == "" {
			return "", fmt.Errorf("%s: file is empty", r)
		}
		return v, nil
	}
	return "", nil // unset or a literal
}

// unwrapPathError drops the path from an *os.PathError: messages already
// name the reference.
func unwrapPathError(err error) error {
	if pe, ok := err.(*os.PathError); ok {
		return pe.Err
	}
	return err
}

// cutHome splits off a leading ~, $HOME or ${HOME} (alone or before a /).
func cutHome(p string) (rest string, ok bool) {
	for _, pre := range []string{"~", "$HOME", "${HOME}"} {
		if p == pre {
			return "", true
		}
		if r, ok := strings.CutPrefix(p, pre+"/"); ok {
			return r, true
		}
	}
	return "", false
}

// expandPath expands a leading ~ ($HOME, ${HOME}) and makes a relative path relative to dir
// (when dir is not "").
func expandPath(p, dir string) (string, error) {
	if p == "" {
		return "", nil
	}
	if rest, ok := cutHome(p); ok {
		home, err := homeDir()
		if err != nil {
			return p, err
		}
		p = filepath.Join(home, rest)
	} else if strings.HasPrefix(p, "~") {
		return p, fmt.Errorf("%q: only ~ and ~/ are expanded, not ~user", p)
	}
	if !filepath.IsAbs(p) && dir != "" {
		p = filepath.Join(dir, p)
	}
	return filepath.Clean(p), nil
}

// Secrets returns the values of every secret in the config (tokens,
// passwords; the heartbeat URL, whose path is its key; webhook URLs and
// headers given as env: or file:), for code that must
// keep them away from what it hands on: a command's environment, logs.
func (c *Config) Secrets() []string {
	var out []string
	add := func(v string) {
		if v != "" {
			out = append(out, v)
		}
	}
	if c.Telegram != nil {
		add(c.Telegram.Token.Value())
	}
	if c.Discord != nil {
		add(c.Discord.Token.Value())
	}
	add(c.Dashboard.Token.Value())
	for _, cr := range c.Credentials {
		add(cr.Token.Value())
	}
	for _, r := range c.Alerts.Routes {
		add(r.Password.Value())
	}
	add(c.Heartbeat.URL)
	for _, v := range c.refSecrets {
		add(v)
	}
	return out
}
