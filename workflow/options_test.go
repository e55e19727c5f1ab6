package workflow

import (
	"reflect"
	"strings"
	"testing"
)

// The engine is given no credential: nothing in Options, however deep, is a
// password, a password file, a user name or a server.
func TestOptionsCarryNoCredentials(t *testing.T) {
	var walk func(typ reflect.Type, path string)
	seen := map[reflect.Type]bool{}
	walk = func(typ reflect.Type, path string) {
		for typ.Kind() == reflect.Pointer || typ.Kind() == reflect.Slice || typ.Kind() == reflect.Map {
			typ = typ.Elem()
		}
		if typ.Kind() != reflect.Struct || seen[typ] {
			return
		}
		seen[typ] = true
		for i := range typ.NumField() {
			f := typ.Field(i)
			name := strings.ToLower(f.Name)
			for _, bad := range []string{"password", "username", "host", "port", "token", "clientsecret"} {
				if strings.Contains(name, bad) {
					t.Errorf("Options%s.%s: the engine has no use for a %s", path, f.Name, bad)
				}
			}
			if f.IsExported() {
				walk(f.Type, path+"."+f.Name)
			}
		}
	}
	walk(reflect.TypeOf(Options{}), "")
}
