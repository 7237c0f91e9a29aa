package webauthn

import (
	"bytes"
	"net/http"
	"testing"

	"github.com/keyward/keyward/internal/softauthn"
	"github.com/keyward/keyward/internal/testenv"
)

// FuzzWA13_LoginFinish posts arbitrary bodies to the sign-in finish of a fresh ceremony: every
// answer is a 400 (413 over the body limit), never a 5xx, never a cookie, never a change to the
// account. The seeds are real assertions and the malformed shapes of
// TestWA13_MalformedResponsesRefused; a seed answers a ceremony that is gone by the time it is
// replayed, so even a seed must be refused. Plain `go test` runs the seeds; CI may run it with
// -fuzz=FuzzWA13_LoginFinish -fuzztime=60s.
func FuzzWA13_LoginFinish(f *testing.F) {
	e := testenv.Start(f, testenv.Options{})
	p := signedOutPerson(f, e, "fuzz")
	for _, forges := range [][]softauthn.Forge{
		nil,
		{softauthn.TruncateAuthData(36)},
		{withExtensions(nestedCBOR(64))},
		{softauthn.EditClientData(func(b []byte) []byte { return append([]byte("\xef\xbb\xbf"), b...) })},
		{softauthn.EditClientData(func(b []byte) []byte { return append([]byte(`{"origin":"null",`), b[1:]...) })},
		{softauthn.UserHandle(nil)},
	} {
		csrf := p.csrf(f, "/login")
		assertion, err := p.b.Auth.Get(p.begin(f, "/webauthn/login/begin", csrf, `{}`), forges...)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(assertion)
	}
	f.Add([]byte(`{}`))
	f.Add([]byte(`{"id":"","rawId":"","type":"public-key","response":{}}`))
	f.Add(bytes.Repeat([]byte("["), 4096))
	before := p.state(f)

	f.Fuzz(func(t *testing.T, body []byte) {
		csrf := p.csrf(t, "/login")
		p.begin(t, "/webauthn/login/begin", csrf, `{}`)
		r := p.postJSON(t, "/webauthn/login/finish", csrf, body)
		switch {
		case r.status == http.StatusRequestEntityTooLarge:
		case r.status == http.StatusBadRequest:
			refused(t, r, map[*person]string{p: before})
		default:
			t.Fatalf("body %.80q: answered %d %s, want 400 or 413", body, r.status, r.body)
		}
		if len(r.header.Values("Set-Cookie")) > 0 || p.signedIn(t) {
			t.Fatal("a fuzzed body signed the browser in")
		}
	})
}
