package webauthn

import (
	"encoding/json"
	"fmt"
	"net/url"
	"strconv"
	"testing"

	"github.com/keyward/keyward/internal/softauthn"
)

// TestWA02_CeremonyTypeChecked: §7.1 step 7 / §7.2 step 10. An assertion whose client data
// says webauthn.create, and a registration or step-up whose client data says the other type,
// are refused; so is a response of one ceremony presented, with the other ceremony's own
// challenge, at the other's endpoint.
func TestWA02_CeremonyTypeChecked(t *testing.T) {
	e := env(t)
	t.Run("wrong_type", func(t *testing.T) {
		refusedEverywhere(t, e, map[string][]softauthn.Forge{
			"create_at_get": {softauthn.ClientDataType("webauthn.create")},
		}, "login", "stepup")
		refusedEverywhere(t, e, map[string][]softauthn.Forge{
			"get_at_create": {softauthn.ClientDataType("webauthn.get")},
		}, "signup", "add_passkey")
		refusedEverywhere(t, e, map[string][]softauthn.Forge{
			"empty":       {softauthn.ClientDataType("")},
			"payment_get": {softauthn.ClientDataType("payment.get")},
		})
	})

	// The strongest cross-ceremony replay: the response is made for the right challenge,
	// origin and RP, only by the other kind of ceremony.
	t.Run("registration_at_login", func(t *testing.T) {
		p := signedOutPerson(t, e, "reg-at-login")
		csrf := p.csrf(t, "/login")
		opts := p.begin(t, "/webauthn/login/begin", csrf, `{}`)
		creation := creationFor(t, challengeOf(t, opts))
		att, err := e.NewAuthenticator().Create(creation)
		if err != nil {
			t.Fatal(err)
		}
		before := snapshot(t, p)
		refused(t, p.postJSON(t, "/webauthn/login/finish", csrf, att), before)
		if p.signedIn(t) {
			t.Fatal("a registration response signed the browser in")
		}
	})
	t.Run("assertion_at_signup", func(t *testing.T) {
		owner := signedOutPerson(t, e, "owner")
		n := newcomer(t, e, "assert-at-signup")
		csrf := n.csrf(t, "/signup")
		body, _ := json.Marshal(map[string]string{"email": n.email, "display_name": "N"})
		opts := n.begin(t, "/webauthn/signup/begin", csrf, string(body))
		request := []byte(fmt.Sprintf(`{"publicKey":{"challenge":%q,"rpId":"localhost"}}`, challengeOf(t, opts)))
		assertion, err := owner.b.Auth.Get(request)
		if err != nil {
			t.Fatal(err)
		}
		before := snapshot(t, n, owner)
		refused(t, n.postJSON(t, "/webauthn/signup/finish", csrf, assertion), before)
	})
	t.Run("stepup_assertion_at_login", func(t *testing.T) {
		// One browser, two ceremonies open at once: an answer to the step-up challenge is no
		// answer to the sign-in challenge (ceremonies are bound to their purpose).
		p := signedUp(t, e, "two-open")
		csrf := p.csrf(t, "/account/security")
		p.begin(t, "/webauthn/login/begin", csrf, `{}`)
		stepup := p.begin(t, "/webauthn/stepup/begin", csrf, `{}`)
		forStepUp, err := p.b.Auth.Get(stepup)
		if err != nil {
			t.Fatal(err)
		}
		before := snapshot(t, p)
		refused(t, p.postJSON(t, "/webauthn/login/finish", csrf, forStepUp), before)
		// The sign-in ceremony was consumed by that attempt; the step-up one was not, and the
		// same response is accepted where it belongs.
		ok(t, p.postJSON(t, "/webauthn/stepup/finish", csrf, forStepUp))
	})
}

// TestWA03_OriginAndRPIDBinding: §7.1 steps 9, 14; §7.2 steps 12, 15; §13.5.9. Each response
// is correctly signed by the person's own passkey; only the origin, the RP ID hash or the
// framing fields differ. Every ceremony refuses every one of them.
func TestWA03_OriginAndRPIDBinding(t *testing.T) {
	e := env(t)
	u, err := url.Parse(e.Issuer)
	if err != nil {
		t.Fatal(err)
	}
	port, _ := strconv.Atoi(u.Port())
	refusedEverywhere(t, e, map[string][]softauthn.Forge{
		"evil_origin":       {softauthn.Origin("https://evil.test")},
		"no_port":           {softauthn.Origin("http://localhost")},
		"other_port":        {softauthn.Origin(fmt.Sprintf("http://localhost:%d", port+1))},
		"https_same_host":   {softauthn.Origin("https://" + u.Host)},
		"subdomain":         {softauthn.Origin("http://sub." + u.Host)},
		"ip_literal":        {softauthn.Origin(fmt.Sprintf("http://127.0.0.1:%d", port))},
		"null_origin":       {softauthn.Origin("null")},
		"upper_case_host":   {softauthn.Origin("http://LocalHost:" + u.Port())},
		"upper_case_scheme": {softauthn.Origin("HTTP://" + u.Host)},
		"trailing_slash":    {softauthn.Origin(e.Issuer + "/")},
		"empty_origin":      {softauthn.Origin("")},
		"evil_rp_id_hash":   {softauthn.RPIDHashFor("evil.test")},
		"suffix_rp_id_hash": {softauthn.RPIDHashFor("localhost.evil.test")},
		"parent_rp_id_hash": {softauthn.RPIDHashFor("")},
		"cross_origin":      {softauthn.CrossOrigin(true)},
		"cross_top_origin":  {softauthn.CrossOrigin(true), softauthn.TopOrigin("https://evil.test")},
		"top_origin_only":   {softauthn.TopOrigin("https://evil.test")},
	})
}

// challengeOf returns the base64url challenge of begin options.
func challengeOf(t *testing.T, opts []byte) string {
	t.Helper()
	var o struct {
		PublicKey struct {
			Challenge string `json:"challenge"`
		} `json:"publicKey"`
	}
	if err := json.Unmarshal(opts, &o); err != nil || o.PublicKey.Challenge == "" {
		t.Fatalf("no challenge in %s (%v)", opts, err)
	}
	return o.PublicKey.Challenge
}

// creationFor is creation options for Keyward's RP with the given challenge, as a page that
// called navigator.credentials.create() with a sign-in challenge would produce.
func creationFor(t *testing.T, challenge string) []byte {
	t.Helper()
	return []byte(fmt.Sprintf(`{"publicKey":{"rp":{"id":"localhost","name":"Keyward"},`+
		`"user":{"id":"c3RyYW5nZXI","name":"s","displayName":"s"},"challenge":%q,`+
		`"pubKeyCredParams":[{"type":"public-key","alg":-7}]}}`, challenge))
}
