package webauthn

import (
	"context"
	"encoding/json"
	"net/http"
	"slices"
	"testing"

	"github.com/keyward/keyward/internal/softauthn"
	"github.com/keyward/keyward/internal/testenv"
)

// TestWA04_UserPresenceRequired: §7.1 step 15, §7.2 step 16. A response with UP=0, otherwise
// valid and signed (UV still set), is refused by every ceremony, including a sign-in begun for
// passkey autofill.
func TestWA04_UserPresenceRequired(t *testing.T) {
	e := env(t)
	noUP := []softauthn.Forge{softauthn.SetFlag(softauthn.FlagUP, false)}
	refusedEverywhere(t, e, map[string][]softauthn.Forge{"up_off": noUP})
	t.Run("conditional_login", func(t *testing.T) {
		p := signedOutPerson(t, e, "autofill")
		before := snapshot(t, p)
		refused(t, p.loginWith(t, p.b.Auth, `{"conditional":true}`, noUP...), before)
		ok(t, p.loginWith(t, p.b.Auth, `{"conditional":true}`))
	})
}

// TestWA05_UserVerificationRequired: §7.1 step 16, §7.2 step 17, NIST SP 800-63B-4 App. B.
// Every begin asks for userVerification "required"; every ceremony refuses UV=0; and the
// ID token of a user-verified sign-in says multi-factor (amr user+mfa, acr phr/phrh).
func TestWA05_UserVerificationRequired(t *testing.T) {
	e := env(t)
	t.Run("options_require_uv", func(t *testing.T) {
		out := signedOutPerson(t, e, "opts-out")
		csrf := out.csrf(t, "/login")
		for _, body := range []string{`{}`, `{"conditional":true}`, `{"email":"` + out.email + `"}`, `{"email":"nobody-wa05@example.test"}`} {
			wantUV(t, "login "+body, out.begin(t, "/webauthn/login/begin", csrf, body), "userVerification")
		}
		in := signedUp(t, e, "opts-in")
		csrf = in.csrf(t, "/account/security")
		wantUV(t, "stepup", in.begin(t, "/webauthn/stepup/begin", csrf, `{}`), "userVerification")
		wantUV(t, "add passkey", in.begin(t, "/account/passkeys/begin", csrf, `{}`), "authenticatorSelection", "userVerification")
		n := newcomer(t, e, "opts-new")
		csrf = n.csrf(t, "/signup")
		body, _ := json.Marshal(map[string]string{"email": n.email, "display_name": "N"})
		wantUV(t, "signup", n.begin(t, "/webauthn/signup/begin", csrf, string(body)), "authenticatorSelection", "userVerification")
	})
	t.Run("uv_off_refused", func(t *testing.T) {
		refusedEverywhere(t, e, map[string][]softauthn.Forge{"uv_off": {softauthn.SetFlag(softauthn.FlagUV, false)}})
	})
	t.Run("id_token_says_mfa", func(t *testing.T) {
		// Its own Keyward on the wall clock: the subtests above move the fake clock forward
		// (rate-limit refills), and fosite checks auth_time against the wall clock.
		e := testenv.Start(t, testenv.Options{RealClock: true})
		synced := signedUp(t, e, "synced")
		wantAMR(t, e, synced, []string{"swk", "user", "mfa"}, "phr")
		// A device-bound key (BE=0, BS=0) is the hardware kind.
		off := false
		hw, err := softauthn.New(softauthn.Options{Origin: e.Issuer, BackupEligible: &off, BackupState: &off})
		if err != nil {
			t.Fatal(err)
		}
		key := &person{env: e, b: e.NewBrowser(), email: emailFor(t, "hardware")}
		key.b.Auth = hw
		ok(t, key.signupWith(t))
		wantAMR(t, e, key, []string{"hwk", "user", "mfa"}, "phrh")
	})
}

// wantUV checks the begin options ask for user verification "required" at path (under
// publicKey).
func wantUV(t *testing.T, what string, opts []byte, path ...string) {
	t.Helper()
	var v any
	if err := json.Unmarshal(opts, &v); err != nil {
		t.Fatal(err)
	}
	v = v.(map[string]any)["publicKey"]
	for _, k := range path {
		m, _ := v.(map[string]any)
		v = m[k]
	}
	if v != "required" {
		t.Fatalf("%s: userVerification %v, want required: %s", what, v, opts)
	}
}

// wantAMR runs a code flow for a first-party client with p's browser (signed in by the
// ceremony just done) and checks the verified ID token's amr and acr.
func wantAMR(t *testing.T, e *testenv.Env, p *person, amr []string, acr string) {
	t.Helper()
	ctx := context.Background()
	rp := e.NewRP(testenv.RPOptions{FirstParty: true})
	f := testenv.NewFlow()
	cb, err := p.b.Authorize(ctx, rp.AuthURL(f), true)
	if err != nil {
		t.Fatal(err)
	}
	code, err := rp.Callback(cb, f)
	if err != nil {
		t.Fatal(err)
	}
	_, idt, err := rp.Exchange(ctx, code, f)
	if err != nil {
		t.Fatal(err)
	}
	var c struct {
		AMR []string `json:"amr"`
		ACR string   `json:"acr"`
	}
	if err := idt.Claims(&c); err != nil {
		t.Fatal(err)
	}
	slices.Sort(c.AMR)
	want := slices.Clone(amr)
	slices.Sort(want)
	if !slices.Equal(c.AMR, want) || c.ACR != acr {
		t.Fatalf("%s: amr %v acr %q, want %v %q", p.email, c.AMR, c.ACR, want, acr)
	}
}

// TestWA16_NoConditionalCreate: §7.1 step 15 waives user presence only for a registration begun
// with mediation "conditional". Keyward never begins one: its begin endpoints refuse to be asked
// for it, the options they return are modal, and a registration with UP=0 is refused at both
// registration endpoints. Conditional mediation exists for sign-in only, and still needs UP.
func TestWA16_NoConditionalCreate(t *testing.T) {
	e := env(t)
	n := newcomer(t, e, "ask")
	csrf := n.csrf(t, "/signup")
	for _, body := range []string{
		`{"email":"` + n.email + `","display_name":"N","conditional":true}`,
		`{"email":"` + n.email + `","display_name":"N","mediation":"conditional"}`,
	} {
		r := n.postJSON(t, "/webauthn/signup/begin", csrf, []byte(body))
		if r.status != http.StatusBadRequest || r.code() != "invalid_request" {
			t.Fatalf("signup begin %s: %d %s, want 400 invalid_request", body, r.status, r.body)
		}
	}
	in := signedUp(t, e, "adder")
	acsrf := in.csrf(t, "/account")
	for _, body := range []string{`{"conditional":true}`, `{"mediation":"conditional"}`} {
		r := in.postJSON(t, "/account/passkeys/begin", acsrf, []byte(body))
		if r.status != http.StatusBadRequest || r.code() != "invalid_request" {
			t.Fatalf("add passkey begin %s: %d %s, want 400 invalid_request", body, r.status, r.body)
		}
	}
	body, _ := json.Marshal(map[string]string{"email": n.email, "display_name": "N"})
	for what, opts := range map[string][]byte{
		"signup":      n.begin(t, "/webauthn/signup/begin", csrf, string(body)),
		"add passkey": in.begin(t, "/account/passkeys/begin", acsrf, `{}`),
	} {
		var o struct {
			Mediation string `json:"mediation"`
		}
		if err := json.Unmarshal(opts, &o); err != nil || o.Mediation == "conditional" {
			t.Fatalf("%s options ask for conditional create: %s", what, opts)
		}
	}
	// UP=0 against these modal ceremonies is what a conditional create would send.
	refusedEverywhere(t, e, map[string][]softauthn.Forge{"conditional_create_up_off": {softauthn.SetFlag(softauthn.FlagUP, false)}},
		"signup", "add_passkey")

	out := signedOutPerson(t, e, "autofill")
	lcsrf := out.csrf(t, "/login")
	var o struct {
		Mediation string `json:"mediation"`
	}
	if err := json.Unmarshal(out.begin(t, "/webauthn/login/begin", lcsrf, `{"conditional":true}`), &o); err != nil || o.Mediation != "conditional" {
		t.Fatalf("autofill sign-in options: mediation %q (%v)", o.Mediation, err)
	}
}
