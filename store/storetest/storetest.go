package storetest

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/keyward/keyward/store"
)

// Run runs the conformance suite; open must return a fresh, empty store for each call.
func Run(t *testing.T, open func(t *testing.T) store.Store) {
	groups := []struct {
		name  string
		tests map[string]func(*testing.T, store.Store)
	}{
		{"Accounts", accountTests},
		{"Credentials", credentialTests},
		{"Ceremonies", ceremonyTests},
		{"Sessions", sessionTests},
		{"Interactions", interactionTests},
		{"Invites", inviteTests},
		{"OAuthTokens", oauthTokenTests},
		{"Clients", clientTests},
		{"Consents", consentTests},
		{"SigningKeys", keyTests},
		{"Audit", auditTests},
		{"PurgeExpired", purgeTests},
		{"Tx", txTests},
		{"Concurrency", concurrencyTests},
		{"Recovery", recoveryTests},
		{"RateLimits", rateLimitTests},
		{"AccountChanges", accountChangeTests},
		{"ClientAssertionJTIs", jtiTests},
		{"LogoutOutbox", outboxTests},
		{"LogoutOutboxAdmin", outboxAdminTests},
		{"Restores", restoreTests},
	}
	for _, g := range groups {
		t.Run(g.name, func(t *testing.T) {
			names := make([]string, 0, len(g.tests))
			for name := range g.tests {
				names = append(names, name)
			}
			slices.Sort(names)
			for _, name := range names {
				t.Run(name, func(t *testing.T) { g.tests[name](t, open(t)) })
			}
		})
	}
}

// t0 is the suite's "now". Every time the suite writes is t0 plus whole microseconds, because
// PostgreSQL keeps microseconds; inputs are in a non-UTC zone so backends must convert.
var (
	zone = time.FixedZone("UTC+5", 5*3600)
	t0   = time.Date(2031, 3, 4, 5, 6, 7, 891234000, time.UTC)
)

// at returns t0+d, truncated to microseconds, in a non-UTC zone.
func at(d time.Duration) time.Time { return t0.Add(d).Truncate(time.Microsecond).In(zone) }

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatalf("unexpected error: %v", err)
	}
}

func wantErr(t *testing.T, err, target error, what string) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Fatalf("%s: got error %v, want %v", what, err, target)
	}
}

// wantSame fails unless got has every field of want, by the rules of diff.
func wantSame(t *testing.T, what string, want, got any) {
	t.Helper()
	if d := diff(want, got); len(d) > 0 {
		t.Fatalf("%s: fields differ:\n%s", what, joinLines(d))
	}
}

func joinLines(lines []string) string {
	var b bytes.Buffer
	for _, l := range lines {
		b.WriteString("  " + l + "\n")
	}
	return b.String()
}

var timeType = reflect.TypeFor[time.Time]()

// jsonFields are the []byte fields that hold JSON, which a backend may store as jsonb and
// hand back with different spacing or key order.
var jsonFields = map[string]bool{"Data": true, "Request": true, "Detail": true}

// diff compares two records of the same struct type (or pointers to them) field by field.
func diff(want, got any) []string {
	wv, gv := reflect.Indirect(reflect.ValueOf(want)), reflect.Indirect(reflect.ValueOf(got))
	if !gv.IsValid() {
		return []string{"got nil"}
	}
	if wv.Type() != gv.Type() {
		return []string{fmt.Sprintf("type %s, want %s", gv.Type(), wv.Type())}
	}
	var out []string
	for i := range wv.NumField() {
		f := wv.Type().Field(i)
		w, g := wv.Field(i), gv.Field(i)
		bad := false
		switch {
		case f.Type == timeType:
			wt, gt := w.Interface().(time.Time), g.Interface().(time.Time)
			if wt.IsZero() {
				bad = !gt.IsZero()
			} else {
				bad = !gt.Equal(wt) || gt.Location() != time.UTC
			}
		case f.Type.Kind() == reflect.Slice && f.Type.Elem().Kind() == reflect.Uint8:
			wb, gb := w.Bytes(), g.Bytes()
			if jsonFields[f.Name] && len(wb) > 0 {
				bad = !jsonEqual(wb, gb)
			} else {
				bad = !bytes.Equal(wb, gb)
			}
		case f.Type.Kind() == reflect.Slice && f.Type.Elem().Kind() == reflect.String:
			bad = !slices.Equal(w.Interface().([]string), g.Interface().([]string))
		default:
			bad = !reflect.DeepEqual(w.Interface(), g.Interface())
		}
		if bad {
			out = append(out, fmt.Sprintf("%s: got %v, want %v", f.Name, fmtVal(g), fmtVal(w)))
		}
	}
	return out
}

func fmtVal(v reflect.Value) string {
	if b, ok := v.Interface().([]byte); ok {
		return fmt.Sprintf("%q", b)
	}
	if tm, ok := v.Interface().(time.Time); ok {
		return tm.Format(time.RFC3339Nano) + " (" + tm.Location().String() + ")"
	}
	return fmt.Sprintf("%#v", v.Interface())
}

func jsonEqual(a, b []byte) bool {
	if bytes.Equal(a, b) {
		return true
	}
	var x, y any
	if json.Unmarshal(a, &x) != nil || json.Unmarshal(b, &y) != nil {
		return false
	}
	return reflect.DeepEqual(x, y)
}

// bytesOf derives n distinct, fixed-size byte strings (user handles, credential ids).
func bytesOf(kind string, n int) []byte {
	h := sha256.Sum256(fmt.Appendf(nil, "%s-%d", kind, n))
	return h[:]
}

// ids returns the values of key for each element, to compare list orders.
func ids[T any](xs []T, key func(T) string) []string {
	out := make([]string, len(xs))
	for i, x := range xs {
		out[i] = key(x)
	}
	return out
}

func wantIDs(t *testing.T, what string, got, want []string) {
	t.Helper()
	if !slices.Equal(got, want) {
		t.Fatalf("%s: got %q, want %q", what, got, want)
	}
}
