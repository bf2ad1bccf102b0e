package config

import (
	"encoding"
	"fmt"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"
)

// BurntSushi/toml's own struct decoding stops at the first wrong type and
// only reports unknown keys when everything else decoded, so the document is
// parsed into a map by BurntSushi/toml and then decoded here, field by field,
// collecting every problem with its key path.

type decoder struct {
	p       *problems
	defined map[string]bool // key paths written in the file
	bad     map[string]bool // key paths that failed to decode
}

var textUnmarshaler = reflect.TypeFor[encoding.TextUnmarshaler]()

func (d *decoder) fail(path, format string, args ...any) {
	d.bad[path] = true
	d.p.add(path, format, args...)
}

// decode stores TOML value v (as BurntSushi/toml decodes into any) in rv.
func (d *decoder) decode(path string, v any, rv reflect.Value) {
	t := rv.Type()
	if path != "" {
		d.defined[path] = true
	}
	if reflect.PointerTo(t).Implements(textUnmarshaler) {
		s, ok := v.(string)
		if !ok {
			d.typeErr(path, v, t)
			return
		}
		if err := rv.Addr().Interface().(encoding.TextUnmarshaler).UnmarshalText([]byte(s)); err != nil {
			d.fail(path, "%v", err)
		}
		return
	}
	switch t.Kind() {
	case reflect.Pointer:
		n := reflect.New(t.Elem())
		d.decode(path, v, n.Elem())
		rv.Set(n)
	case reflect.Struct:
		d.decodeStruct(path, v, rv)
	case reflect.Slice:
		d.decodeSlice(path, v, rv)
	case reflect.Map:
		d.decodeMap(path, v, rv)
	case reflect.String:
		s, ok := v.(string)
		if !ok {
			d.typeErr(path, v, t)
			return
		}
		rv.SetString(s)
	case reflect.Int, reflect.Int64, reflect.Int32:
		n, ok := v.(int64)
		if !ok {
			d.typeErr(path, v, t)
			return
		}
		if rv.OverflowInt(n) {
			d.fail(path, "%d is too large", n)
			return
		}
		rv.SetInt(n)
	case reflect.Bool:
		b, ok := v.(bool)
		if !ok {
			d.typeErr(path, v, t)
			return
		}
		rv.SetBool(b)
	default:
		// Only reachable if Config grows a field of a new kind.
		d.fail(path, "config has no decoder for %s", t)
	}
}

// decodeStruct decodes a TOML table into a struct, key by key; an unknown
// key is an error that suggests the nearest known one.
func (d *decoder) decodeStruct(path string, v any, rv reflect.Value) {
	m, ok := v.(map[string]any)
	if !ok {
		d.typeErr(path, v, rv.Type())
		return
	}
	fields, names := structFields(rv.Type())
	for _, k := range sortedKeys(m) {
		kp := joinKey(path, k)
		i, ok := fields[k]
		if !ok {
			d.defined[kp] = true
			if s := suggest(k, names); s != "" {
				d.fail(kp, "unknown key; did you mean %q?", s)
			} else {
				d.fail(kp, "unknown key (known keys: %s)", strings.Join(names, ", "))
			}
			continue
		}
		d.decode(kp, m[k], rv.Field(i))
	}
}

// decodeSlice decodes an array, or an array of tables, into a slice.
func (d *decoder) decodeSlice(path string, v any, rv reflect.Value) {
	var elems []any
	switch a := v.(type) {
	case []any:
		elems = a
	case []map[string]any:
		for _, e := range a {
			elems = append(elems, e)
		}
	default:
		d.typeErr(path, v, rv.Type())
		return
	}
	s := reflect.MakeSlice(rv.Type(), len(elems), len(elems))
	for i, e := range elems {
		d.decode(joinIndex(path, i), e, s.Index(i))
	}
	rv.Set(s)
}

// decodeMap decodes a TOML table into a map with string keys.
func (d *decoder) decodeMap(path string, v any, rv reflect.Value) {
	t := rv.Type()
	m, ok := v.(map[string]any)
	if !ok || t.Key().Kind() != reflect.String {
		d.typeErr(path, v, t)
		return
	}
	out := reflect.MakeMapWithSize(t, len(m))
	for _, k := range sortedKeys(m) {
		e := reflect.New(t.Elem()).Elem()
		d.decode(joinKey(path, k), m[k], e)
		out.SetMapIndex(reflect.ValueOf(k).Convert(t.Key()), e)
	}
	rv.Set(out)
}

var (
	durationType = reflect.TypeFor[Duration]()
	secretType   = reflect.TypeFor[Secret]()
)

// typeErr reports that v does not fit type t, with a hint for the usual slips.
func (d *decoder) typeErr(path string, v any, t reflect.Type) {
	got := describe(v, t != secretType)
	want := wantOf(t)
	hint := ""
	switch x := v.(type) {
	case string:
		if _, err := strconv.ParseInt(x, 10, 64); err == nil && (t.Kind() == reflect.Int || t.Kind() == reflect.Int64) {
			hint = "; remove the quotes"
		}
	case int64:
		if t.Kind() == reflect.String {
			hint = fmt.Sprintf("; write it in quotes: \"%d\"", x)
		}
		if t == durationType {
			want = fmt.Sprintf("a duration with a unit, e.g. \"%ds\"", x)
		}
	case map[string]any:
		if t.Kind() == reflect.Slice && t.Elem().Kind() == reflect.Struct {
			hint = fmt.Sprintf("; write [[%s]] for each entry", path)
		}
	}
	d.fail(path, "%s; want %s%s", got, want, hint)
}

// describe names the TOML type of v, and its value when show is set.
func describe(v any, show bool) string {
	var kind, val string
	switch x := v.(type) {
	case string:
		kind = "a string"
		q := x
		if len(q) > 40 {
			q = q[:40] + "…"
		}
		val = strconv.Quote(q)
	case int64:
		kind, val = "an integer", strconv.FormatInt(x, 10)
	case float64:
		kind, val = "a float", strconv.FormatFloat(x, 'g', -1, 64)
	case bool:
		kind, val = "a boolean", strconv.FormatBool(x)
	case time.Time:
		kind = "a date/time"
	case []any:
		kind = "an array"
	case []map[string]any:
		kind = "an array of tables"
	case map[string]any:
		kind = "a table"
	default:
		kind = fmt.Sprintf("a %T", v)
	}
	if show && val != "" {
		return val + " is " + kind
	}
	return "got " + kind
}

func wantOf(t reflect.Type) string {
	switch t {
	case durationType:
		return `a duration string such as "10s"`
	case secretType:
		return `a string ("env:NAME", "file:PATH")`
	}
	switch t.Kind() {
	case reflect.Pointer:
		return wantOf(t.Elem())
	case reflect.String:
		return "a string"
	case reflect.Int, reflect.Int64, reflect.Int32:
		return "an integer"
	case reflect.Bool:
		return "true or false"
	case reflect.Struct, reflect.Map:
		return "a table"
	case reflect.Slice:
		switch e := t.Elem(); {
		case e == durationType:
			return `an array of durations such as ["24h", "1h"]`
		case e.Kind() == reflect.Struct:
			return "an array of tables"
		case e.Kind() == reflect.String:
			return "an array of strings"
		case e.Kind() == reflect.Int || e.Kind() == reflect.Int64:
			return "an array of integers"
		}
		return "an array"
	}
	return t.String()
}

// structFields maps toml key names to field indexes, and lists the names.
func structFields(t reflect.Type) (map[string]int, []string) {
	fields := map[string]int{}
	var names []string
	for i := range t.NumField() {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("toml"), ",")
		if name == "-" || !f.IsExported() {
			continue
		}
		if name == "" {
			name = strings.ToLower(f.Name)
		}
		fields[name] = i
		names = append(names, name)
	}
	return fields, names
}

func sortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
