package idp

import (
	"strings"
	"testing"

	"github.com/go-webauthn/webauthn/protocol"
	"github.com/go-webauthn/webauthn/webauthn"
	"github.com/google/uuid"

	"github.com/keyward/keyward/internal/softauthn"
)

func TestParseUserAgent(t *testing.T) {
	for ua, want := range map[string]string{
		"Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/140.0.0.0 Safari/537.36":                      "Chrome on macOS",
		"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/140.0.0.0 Safari/537.36 Edg/140.0.0.0":              "Edge on Windows",
		"Mozilla/5.0 (X11; Linux x86_64; rv:142.0) Gecko/20100101 Firefox/142.0":                                                                     "Firefox on Linux",
		"Mozilla/5.0 (iPhone; CPU iPhone OS 18_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.5 Mobile/15E148 Safari/604.1":    "Safari on iOS",
		"Mozilla/5.0 (iPad; CPU OS 18_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) CriOS/140.0 Mobile/15E148 Safari/604.1":              "Chrome on iOS",
		"Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.5 Safari/605.1.15":                      "Safari on macOS",
		"Mozilla/5.0 (Linux; Android 14; SM-S918B) AppleWebKit/537.36 (KHTML, like Gecko) SamsungBrowser/27.0 Chrome/125.0.0.0 Mobile Safari/537.36": "Samsung Internet on Android",
		"Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/140.0.0.0 Mobile Safari/537.36":                      "Chrome on Android",
		"Mozilla/5.0 (X11; CrOS x86_64 14541.0.0) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/140.0.0.0 Safari/537.36":                             "Chrome on ChromeOS",
		"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/140.0.0.0 Safari/537.36 OPR/120.0.0.0":              "Opera on Windows",
		"Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/156.0.0.0 Safari/537.36":                              "Chrome on Linux",
		"Mozilla/5.0 (iPhone; CPU iPhone OS 18_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148":                              "iOS",
		"keyward-passkeyclient/1": "",
		"":                        "",
	} {
		if got := ParseUserAgent(ua).String(); got != want {
			t.Errorf("ParseUserAgent(%q) = %q, want %q", ua, got, want)
		}
	}
	// Bounded: a token beyond the first 512 bytes is not read.
	if got := ParseUserAgent(strings.Repeat("x", 600) + " Firefox/1 (Windows)"); got != (UserAgent{}) {
		t.Errorf("long header parsed as %+v", got)
	}
}

func TestDefaultPasskeyName(t *testing.T) {
	e := newEnv(t)
	e.admin()
	firefox := "Mozilla/5.0 (X11; Linux x86_64; rv:142.0) Gecko/20100101 Firefox/142.0"
	alice, _ := e.user("alice@example.com", softauthn.Options{})
	m := meta("s")
	m.UserAgent = firefox
	for _, tc := range []struct {
		opts softauthn.Options
		want string
	}{
		{softauthn.Options{}, "Passkey (Firefox on Linux)"},
		{softauthn.Options{BackupEligible: ptr(false), BackupState: ptr(false)}, "Passkey (Firefox on Linux)"}, // "internal" only
	} {
		creation, err := e.svc.BeginAddPasskey(e.ctx, m, alice.ID)
		if err != nil {
			t.Fatal(err)
		}
		pk, err := e.svc.FinishAddPasskey(e.ctx, m, alice.ID, createResponse(t, newAuthenticator(t, tc.opts), creation))
		if err != nil {
			t.Fatal(err)
		}
		if pk.Credential.Name != tc.want || pk.Credential.CreatedUA != firefox {
			t.Errorf("name %q (UA %q), want %q", pk.Credential.Name, pk.Credential.CreatedUA, tc.want)
		}
	}

	hello := uuid.MustParse("08987058-cadc-4b81-b6e1-30de50dcbe96")
	for _, tc := range []struct {
		cred webauthn.Credential
		ua   string
		want string
	}{
		{webauthn.Credential{Transport: []protocol.AuthenticatorTransport{protocol.USB, protocol.NFC}}, firefox, "Security key (Firefox on Linux)"},
		{webauthn.Credential{Transport: []protocol.AuthenticatorTransport{protocol.USB}, Flags: webauthn.CredentialFlags{BackupEligible: true}}, "", "Passkey"},
		{webauthn.Credential{Transport: []protocol.AuthenticatorTransport{protocol.Internal}}, "", "Passkey"},
		{webauthn.Credential{Authenticator: webauthn.Authenticator{AAGUID: hello[:]}}, firefox, "Windows Hello"},
	} {
		if got := e.svc.defaultPasskeyName(&tc.cred, tc.ua); got != tc.want {
			t.Errorf("defaultPasskeyName(%+v, %q) = %q, want %q", tc.cred.Transport, tc.ua, got, tc.want)
		}
	}
}
