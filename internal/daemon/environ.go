package daemon

import (
	"os"
	"reflect"
	"slices"
	"strings"

	"github.com/fleetwarden/fleetwarden/config"
)

// userEnviron is the environment for everything fleetwarden starts (tmux
// commands and the servers they start, the login CLI, setup-token): its
// own (base; nil: the process's), which is the user's, without what it read as a secret — neither the
// variables the config names with env: nor any variable holding a secret's
// value. A tmux server started with a bot token in its environment hands it
// to every agent and every command an agent runs.
func userEnviron(cfg *config.Config, base []string) []string {
	names, values := configSecrets(cfg)
	var out []string
	if base == nil {
		base = os.Environ()
	}
	for _, kv := range base {
		k, v, _ := strings.Cut(kv, "=")
		if slices.Contains(names, k) || (v != "" && slices.Contains(values, strings.TrimSpace(v))) {
			continue
		}
		out = append(out, kv)
	}
	return out
}

// configSecrets lists every secret of the config: the names of the
// variables its env: references read, and the values (of every
// config.Secret, wherever it sits, and of Config.Secrets).
func configSecrets(cfg *config.Config) (names, values []string) {
	values = append(values, cfg.Secrets()...)
	secretType := reflect.TypeFor[config.Secret]()
	var walk func(v reflect.Value)
	walk = func(v reflect.Value) {
		switch v.Kind() {
		case reflect.Pointer, reflect.Interface:
			if !v.IsNil() {
				walk(v.Elem())
			}
		case reflect.Struct:
			if v.Type() == secretType {
				s := v.Interface().(config.Secret)
				if name, ok := strings.CutPrefix(s.Ref(), "env:"); ok {
					names = append(names, name)
				}
				if x := s.Value(); x != "" {
					values = append(values, x)
				}
				return
			}
			for i := range v.NumField() {
				if v.Type().Field(i).IsExported() {
					walk(v.Field(i))
				}
			}
		case reflect.Slice, reflect.Array:
			for i := range v.Len() {
				walk(v.Index(i))
			}
		case reflect.Map:
			for _, k := range v.MapKeys() {
				walk(v.MapIndex(k))
			}
		}
	}
	walk(reflect.ValueOf(cfg))
	return names, values
}
