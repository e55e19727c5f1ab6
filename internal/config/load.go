package config

import (
	"errors"
	"fmt"
	"maps"
	"net/mail"
	"os"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/go-viper/mapstructure/v2"
	"github.com/spf13/viper"
	"go.yaml.in/yaml/v3"
)

// EnvPrefix starts the name of every environment override:
// ESCALATIOND_<SECTION>_<KEY>, e.g. ESCALATIOND_IMAP_PASSWORD for imap.password
// and ESCALATIOND_ESCALATION_SLA_TECHNICAL for escalation.sla.technical.
const EnvPrefix = "ESCALATIOND_"

// Load reads the YAML file at path (none when path is ""), applies the
// environment overrides found in environ (pass os.Environ(); tests pass a
// fixed slice, the process environment is never read), reads password files
// and validates the result.
//
// Precedence, highest first: environment, file, defaults. The defaults are
// Default() without its examples: imap.host, imap.username, smtp.host,
// customers, vendors and roster start empty, so a file that forgets them gets
// an error or nothing, never mail to example.com.
//
// Every key can be overridden by ESCALATIOND_<SECTION>_<KEY> (see EnvPrefix),
// whether or not the file has it; an empty value counts as unset. Lists take
// comma-separated values (ESCALATIOND_STAFF_DOMAINS=example.com,example.org)
// or YAML; customers and roster.<type> take YAML
// (ESCALATIOND_ROSTER_TECHNICAL='{"Tier 2": [t2@example.com]}'; its levels
// replace the file's levels of the same name, others are kept). A variable
// under a known section that names no key (ESCALATIOND_IMAP_PASWORD) is an
// error; other ESCALATIOND_ variables are left alone.
//
// A key given no value in YAML ("authserv_id:" alone, i.e. null) counts as
// absent and keeps its default; write "" or [] to clear one. Unknown keys in
// the file are errors. Errors about keys are *KeyError; when
// there are several they are joined with errors.Join, one per line.
func Load(path string, environ []string) (Config, error) {
	v := viper.New() // never the global one: nothing else in the program sees viper
	v.SetConfigType("yaml")
	base := loadBase()
	leaves := leafFields()
	for _, l := range leaves {
		if f := reflect.ValueOf(base).FieldByIndex(l.index); !f.IsZero() {
			v.SetDefault(l.key, f.Interface())
		}
	}
	if path != "" {
		v.SetConfigFile(path)
		if err := v.ReadInConfig(); err != nil {
			return Config{}, fmt.Errorf("read config %s: %w", path, err)
		}
	}
	if errs := unknownKeys(v.AllKeys(), leaves); len(errs) > 0 {
		return Config{}, joinKeyErrors(errs)
	}
	if errs := applyEnv(v, leaves, environ); len(errs) > 0 {
		return Config{}, joinKeyErrors(errs)
	}

	var cfg Config
	if err := v.UnmarshalExact(&cfg, viper.DecodeHook(decodeHook())); err != nil {
		return Config{}, decodeErrors(err)
	}
	cfg.Roster = cfg.Roster.normalized()

	var errs []*KeyError
	if err := cfg.IMAP.resolvePassword(); err != nil {
		errs = append(errs, err)
	}
	if err := cfg.SMTP.resolvePassword(); err != nil {
		errs = append(errs, err)
	}
	if err := cfg.Validate(); err != nil {
		var ke *KeyError
		for _, e := range flatten(err) {
			if errors.As(e, &ke) {
				errs = append(errs, ke)
			}
		}
	}
	if len(errs) > 0 {
		return Config{}, joinKeyErrors(errs)
	}
	return cfg, nil
}

// loadBase is what Load starts from: Default() without the values that only
// make sense for the demo.
func loadBase() Config {
	c := Default()
	c.IMAP.Host = ""
	c.IMAP.Username = ""
	c.SMTP.Host = ""
	c.Staff.AuthservID = "" // trust no Authentication-Results until told whose
	c.Customers = nil
	c.Vendors = Vendors{}
	c.Roster = Roster{}
	return c
}

// leaf is one settable key of Config: a field that is not a section.
type leaf struct {
	key   string // "imap.port"
	env   string // "ESCALATIOND_IMAP_PORT"
	typ   reflect.Type
	index []int
}

var durationType = reflect.TypeFor[time.Duration]()

// leafFields lists every key of Config from its mapstructure tags. Struct
// fields are sections and are walked; maps and slices (roster.technical,
// customers, staff.domains) are keys whose value is the whole map or list.
func leafFields() []leaf {
	var out []leaf
	var walk func(t reflect.Type, prefix string, index []int)
	walk = func(t reflect.Type, prefix string, index []int) {
		for i := range t.NumField() {
			f := t.Field(i)
			name := strings.Split(f.Tag.Get("mapstructure"), ",")[0]
			if !f.IsExported() || name == "" || name == "-" {
				continue
			}
			key := prefix + name
			idx := append(slices.Clone(index), i)
			if f.Type.Kind() == reflect.Struct {
				walk(f.Type, key+".", idx)
				continue
			}
			env := EnvPrefix + strings.ToUpper(strings.ReplaceAll(key, ".", "_"))
			out = append(out, leaf{key: key, env: env, typ: f.Type, index: idx})
		}
	}
	walk(reflect.TypeFor[Config](), "", nil)
	return out
}

// unknownKeys reports the keys of the file that name no field. A key below a
// map-valued key (roster.technical."tier 2") is the map's business. A
// section given a scalar (imap: 5) is left to the decoder, which says so.
func unknownKeys(keys []string, leaves []leaf) []*KeyError {
	known := map[string]reflect.Type{}
	sections := map[string]bool{}
	for _, l := range leaves {
		known[l.key] = l.typ
		parts := strings.Split(l.key, ".")
		for i := 1; i < len(parts); i++ {
			sections[strings.Join(parts[:i], ".")] = true
		}
	}
	var errs []*KeyError
	reported := map[string]bool{}
	slices.Sort(keys)
	for _, k := range keys {
		parts := strings.Split(k, ".")
		for i := 1; i <= len(parts); i++ {
			p := strings.Join(parts[:i], ".")
			if t, ok := known[p]; ok {
				if i < len(parts) && t.Kind() != reflect.Map {
					bad := strings.Join(parts[:i+1], ".")
					if !reported[bad] {
						reported[bad] = true
						errs = append(errs, keyErr(bad, "unknown key: %s takes a value, not keys", p))
					}
				}
				break
			}
			if !sections[p] {
				if !reported[p] {
					reported[p] = true
					errs = append(errs, keyErr(p, "unknown key; check its spelling and section against config.example.yaml"))
				}
				break
			}
		}
	}
	return errs
}

// applyEnv sets every key that has a non-empty ESCALATIOND_ variable in
// environ, converting the text to the key's type. Later duplicates in environ
// win, as with os/exec.
func applyEnv(v *viper.Viper, leaves []leaf, environ []string) []*KeyError {
	env := map[string]string{}
	var names []string
	for _, kv := range environ {
		name, val, ok := strings.Cut(kv, "=")
		if !ok || !strings.HasPrefix(name, EnvPrefix) {
			continue
		}
		if _, dup := env[name]; !dup {
			names = append(names, name)
		}
		env[name] = val
	}
	byEnv := map[string]leaf{}
	sections := map[string]bool{}
	for _, l := range leaves {
		byEnv[l.env] = l
		sections[EnvPrefix+strings.ToUpper(strings.Split(l.key, ".")[0])] = true
	}

	var errs []*KeyError
	for _, name := range names {
		l, ok := byEnv[name]
		if !ok {
			for s := range sections {
				if name == s || strings.HasPrefix(name, s+"_") {
					errs = append(errs, keyErr(name, "names no configuration key; the form is %s<SECTION>_<KEY>, e.g. %sIMAP_PASSWORD for imap.password", EnvPrefix, EnvPrefix))
					break
				}
			}
			continue
		}
		raw := env[name]
		if raw == "" {
			continue
		}
		val, err := envValue(l.typ, raw)
		if err != nil {
			errs = append(errs, &KeyError{Key: l.key, Msg: fmt.Sprintf("from %s: %v", name, err), Err: err})
			continue
		}
		v.Set(l.key, val)
	}
	return errs
}

// envValue converts an environment value to the type of its key. Lists and
// maps are YAML; a list of strings may also be comma-separated.
func envValue(t reflect.Type, s string) (any, error) {
	if t == durationType {
		d, err := time.ParseDuration(strings.TrimSpace(s))
		if err != nil {
			return nil, fmt.Errorf("%q is not a duration; write it like 90s, 30m or 4h", s)
		}
		return d, nil
	}
	switch t.Kind() {
	case reflect.String:
		return s, nil
	case reflect.Bool:
		b, err := strconv.ParseBool(strings.TrimSpace(s))
		if err != nil {
			return nil, fmt.Errorf("%q is not true or false", s)
		}
		return b, nil
	case reflect.Int, reflect.Int64:
		n, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
		if err != nil {
			return nil, fmt.Errorf("%q is not a whole number", s)
		}
		return n, nil
	case reflect.Float64:
		f, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
		if err != nil {
			return nil, fmt.Errorf("%q is not a number", s)
		}
		return f, nil
	case reflect.Slice, reflect.Map:
		if t.Kind() == reflect.Slice && t.Elem().Kind() == reflect.String && !strings.HasPrefix(strings.TrimSpace(s), "[") {
			var list []string
			for item := range strings.SplitSeq(s, ",") {
				if item = strings.TrimSpace(item); item != "" {
					list = append(list, item)
				}
			}
			return list, nil
		}
		var val any
		if err := yaml.Unmarshal([]byte(s), &val); err != nil {
			return nil, fmt.Errorf("not valid YAML: %w", err)
		}
		return val, nil
	}
	return nil, fmt.Errorf("cannot be set from the environment (type %s)", t)
}

// decodeHook turns durations and roster contacts into their types.
func decodeHook() mapstructure.DecodeHookFunc {
	return mapstructure.ComposeDecodeHookFunc(durationHook, contactHook)
}

// durationHook parses Go durations ("90s"). A bare number is an error, not
// nanoseconds: "poll_interval: 60" is a missing unit, not 60ns.
func durationHook(from, to reflect.Type, data any) (any, error) {
	if to != durationType || from == durationType {
		return data, nil
	}
	switch from.Kind() {
	case reflect.String:
		d, err := time.ParseDuration(strings.TrimSpace(data.(string)))
		if err != nil {
			return nil, fmt.Errorf("%q is not a duration; write it like 90s, 30m or 4h", data)
		}
		return d, nil
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64,
		reflect.Float32, reflect.Float64:
		if reflect.ValueOf(data).IsZero() {
			return time.Duration(0), nil
		}
		return nil, fmt.Errorf("%v has no unit; write it like %vs or %vm", data, data, data)
	}
	return data, nil
}

var contactType = reflect.TypeFor[Contact]()

// contactHook lets a roster contact be a plain string: an address
// ("tier2@example.com") or a name and address ("Dana Lee <dana@example.com>").
// Objects ({email, name, title, phone}) decode as structs.
func contactHook(from, to reflect.Type, data any) (any, error) {
	if to != contactType || from.Kind() != reflect.String {
		return data, nil
	}
	s := strings.TrimSpace(data.(string))
	if a, err := mail.ParseAddress(s); err == nil {
		return Contact{Email: a.Address, Name: a.Name}, nil
	}
	return Contact{Email: s}, nil // Validate names the key
}

// decodeErrors turns mapstructure's errors into KeyErrors named by key, one
// per unknown key.
func decodeErrors(err error) error {
	var errs []*KeyError
	for _, e := range flatten(err) {
		var de *mapstructure.DecodeError
		if !errors.As(e, &de) {
			return fmt.Errorf("decode config: %w", err)
		}
		msg := de.Unwrap().Error()
		if keys, ok := strings.CutPrefix(msg, "has invalid keys: "); ok {
			for k := range strings.SplitSeq(keys, ", ") {
				if de.Name() != "" {
					k = de.Name() + "." + k
				}
				errs = append(errs, keyErr(k, "unknown key; check its spelling against config.example.yaml"))
			}
			continue
		}
		errs = append(errs, &KeyError{Key: de.Name(), Msg: msg, Err: de.Unwrap()})
	}
	return joinKeyErrors(errs)
}

// flatten returns the leaves of a tree of joined errors. A DecodeError that
// wraps joined errors is looked into, since its leaves carry the full names.
func flatten(err error) []error {
	if err == nil {
		return nil
	}
	var inner error = err
	if de, ok := err.(*mapstructure.DecodeError); ok {
		inner = de.Unwrap()
	}
	if j, ok := inner.(interface{ Unwrap() []error }); ok {
		var out []error
		for _, e := range j.Unwrap() {
			out = append(out, flatten(e)...)
		}
		return out
	}
	return []error{err}
}

// normalized returns r with level names lower-cased and trimmed, merging
// names that differ only in case or spacing.
func (r Roster) normalized() Roster {
	norm := func(m map[string][]Contact) map[string][]Contact {
		if m == nil {
			return nil
		}
		out := make(map[string][]Contact, len(m))
		for _, k := range slices.Sorted(maps.Keys(m)) {
			n := strings.ToLower(strings.TrimSpace(k))
			out[n] = append(out[n], m[k]...)
		}
		return out
	}
	return Roster{Technical: norm(r.Technical), Executive: norm(r.Executive), Vendor: norm(r.Vendor)}
}

// resolvePassword reads imap.password_file into Password.
func (s *IMAP) resolvePassword() *KeyError {
	p, err := readPassword("imap", s.Password, s.PasswordFile)
	if err != nil {
		return err
	}
	s.Password = p
	return nil
}

// resolvePassword reads smtp.password_file into Password.
func (s *SMTP) resolvePassword() *KeyError {
	p, err := readPassword("smtp", s.Password, s.PasswordFile)
	if err != nil {
		return err
	}
	s.Password = p
	return nil
}

// readPassword returns the password of section: password itself, or the
// contents of file without its trailing line break.
func readPassword(section, password, file string) (string, *KeyError) {
	if file == "" {
		return password, nil
	}
	key := section + ".password_file"
	if password != "" {
		return "", keyErr(key, "set either %s.password or %s.password_file, not both (the password may also come from %s%s_PASSWORD)", section, section, EnvPrefix, strings.ToUpper(section))
	}
	b, err := os.ReadFile(file)
	if err != nil {
		return "", &KeyError{Key: key, Msg: err.Error(), Err: err}
	}
	p := strings.TrimRight(string(b), "\r\n")
	if p == "" {
		return "", keyErr(key, "%s is empty", file)
	}
	return p, nil
}
