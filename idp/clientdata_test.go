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

// TestWA03_BrowserOriginOfConfiguredOrigins: a configured origin is compared as a browser
// writes it, so an explicit default port or a capital letter in the configuration does not
// refuse every ceremony, while a browser's case variant of the origin is still refused.
func TestWA03_BrowserOriginOfConfiguredOrigins(t *testing.T) {
	for in, want := range map[string]string{
		"https://id.example.com:443":  "https://id.example.com",
		"https://ID.Example.com/":     "https://id.example.com",
		"http://localhost:80":         "http://localhost",
		"http://localhost:8080":       "http://localhost:8080",
		"https://id.example.com:8443": "https://id.example.com:8443",
		"HTTPS://id.example.com":      "https://id.example.com",
	} {
		if got := browserOrigin(in); got != want {
			t.Errorf("browserOrigin(%q) = %q, want %q", in, got, want)
		}
	}
	s := &Service{cfg: Config{RPOrigins: []string{"https://id.example.com:443"}}}
	if err := s.exactOrigin("https://id.example.com"); err != nil {
		t.Errorf("the browser's origin refused for a configured :443: %v", err)
	}
	for _, bad := range []string{"https://ID.example.com", "https://id.example.com:443", "https://id.example.com/"} {
		if s.exactOrigin(bad) == nil {
			t.Errorf("%q accepted: no browser writes an origin that way", bad)
		}
	}
}
