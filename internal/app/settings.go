package app

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"reflect"
	"strconv"
	"strings"
	"time"

	"github.com/keyward/keyward/ui"
)

// checkManagementListen accepts host:port on an address other than the public listener's.
// The management listener has no authentication (SECURITY RL-14), so the default is loopback.
func checkManagementListen(c Config) error {
	if c.ManagementListen == "" {
		return nil
	}
	if _, _, err := net.SplitHostPort(c.ManagementListen); err != nil {
		return fmt.Errorf("must be host:port, got %q", c.ManagementListen)
	}
	if c.ManagementListen == c.Listen {
		return errors.New("must differ from listen: the operational endpoints stay off the public listener")
	}
	return nil
}

// secretKeys are configuration keys whose values are never shown, only whether they are set.
// (secret_file and *_file name files; their contents never reach Config except the master
// secret, which has no yaml key.)
var secretKeys = map[string]bool{"clients.secret": true}

// Settings lists every scalar key of the configuration with its effective value and where it
// came from, for the console's read-only settings page. Secrets are left out (only whether one
// is set), the password of a database URL is masked, and clients are summarised (the console's
// client list shows them).
func (c Config) Settings() []ui.Setting {
	var out []ui.Setting
	var walk func(v reflect.Value, prefix string)
	walk = func(v reflect.Value, prefix string) {
		t := v.Type()
		for i := 0; i < t.NumField(); i++ {
			tag := strings.Split(t.Field(i).Tag.Get("yaml"), ",")[0]
			if tag == "" || tag == "-" {
				continue
			}
			key := prefix + tag
			fv := v.Field(i)
			if fv.Kind() == reflect.Struct && fv.Type() != reflect.TypeOf(time.Time{}) {
				walk(fv, key+".")
				continue
			}
			s := ui.Setting{Key: key, Source: c.Sources[key]}
			if s.Source == "" {
				s.Source = "default"
			}
			switch {
			case key == "clients":
				s.Value = strconv.Itoa(fv.Len()) + " declared in the file (see Clients)"
			case secretKeys[key]:
				s.Secret, s.Value = true, map[bool]string{true: "set", false: "not set"}[!fv.IsZero()]
			case key == "database":
				s.Value = maskDatabaseURL(fv.String())
			default:
				s.Value = settingText(fv)
			}
			out = append(out, s)
		}
	}
	walk(reflect.ValueOf(c), "")
	return out
}

func settingText(v reflect.Value) string {
	switch {
	case v.Type() == reflect.TypeOf(time.Duration(0)):
		return time.Duration(v.Int()).String()
	case v.Kind() == reflect.Slice && v.Type().Elem().Kind() == reflect.String:
		return strings.Join(v.Interface().([]string), ", ")
	default:
		return fmt.Sprint(v.Interface())
	}
}

// maskDatabaseURL hides the password of a postgres:// URL.
func maskDatabaseURL(s string) string {
	u, err := url.Parse(s)
	if err != nil || u.User == nil {
		return s
	}
	if _, has := u.User.Password(); has {
		u.User = url.UserPassword(u.User.Username(), "xxxxx")
	}
	return u.String()
}
