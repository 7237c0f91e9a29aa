package idp

import "testing"

// TestWA13_StrictClientData: a repeated top-level member is what makes two parsers disagree on
// the origin, challenge or type; anything that is not one JSON object is refused too.
func TestWA13_StrictClientData(t *testing.T) {
	for _, tc := range []struct {
		raw string
		ok  bool
	}{
		{`{"type":"webauthn.get","challenge":"AA","origin":"http://localhost:1","crossOrigin":false}`, true},
		{`{"type":"webauthn.get","tokenBinding":{"status":"present","status2":"x"}}`, true},
		{`{"a":{"b":1,"b":2}}`, true}, // nested members are never read by a verifier
		{`{"origin":"https://evil.test","type":"webauthn.get","origin":"http://localhost:1"}`, false},
		{`{"origin":"https://evil.test","type":"webauthn.get","Origin":"http://localhost:1"}`, false}, // encoding/json reads "Origin" into origin
		{`{"challenge":"AA","challenge":"AA"}`, false},
		{`{"type":"webauthn.get","type":"webauthn.create"}`, false},
		{`[{"type":"webauthn.get"}]`, false},
		{`"webauthn.get"`, false},
		{`{"type":`, false},
		{``, false},
	} {
		if err := strictClientData([]byte(tc.raw)); (err == nil) != tc.ok {
			t.Errorf("%s: err %v, want ok=%v", tc.raw, err, tc.ok)
		}
	}
}
