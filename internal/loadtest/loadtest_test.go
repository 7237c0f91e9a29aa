package loadtest

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/keyward/keyward/internal/app"
	"github.com/keyward/keyward/internal/testenv"
)

// start runs an in-process Keyward (real SQLite file, loopback HTTP) with a confidential client
// registered for the load, and returns the target for it.
func start(t *testing.T, firstParty bool, alg string, people int) (*testenv.Env, Target) {
	t.Helper()
	env := testenv.Start(t, testenv.Options{RealClock: true})
	rp := env.NewRP(testenv.RPOptions{FirstParty: firstParty, Alg: alg,
		Grants: []string{"authorization_code", "refresh_token", "client_credentials"}})
	return env, Target{Issuer: env.Issuer, ClientID: rp.ID, ClientSecret: rp.Secret, RedirectURI: rp.RedirectURI,
		Alg: alg, People: Identities(strings.ToLower(t.Name()), people)}
}

// TestSignInLoad is what CI runs: complete sign-ins for two seconds at concurrency 4 against a
// started Keyward, with no error allowed. No timing is asserted: the machine is shared.
func TestSignInLoad(t *testing.T) {
	_, target := start(t, true, "ES256", 8)
	res, err := Run(context.Background(), target, Options{Mode: ModeSignIn, Concurrency: 4,
		Duration: 2 * time.Second, MaxOps: 20_000})
	if err != nil {
		t.Fatal(err)
	}
	var out strings.Builder
	_ = res.WriteText(&out)
	t.Log("\n" + out.String())
	if err := res.Err(); err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	if res.OK == 0 {
		t.Fatal("no sign-in completed")
	}
	if res.Concurrency != 4 || res.People != 8 {
		t.Errorf("concurrency %d with %d people, want 4 with 8", res.Concurrency, res.People)
	}
	// Every step of the flow was taken, each once per completed sign-in (no error: no retries).
	want := []string{"GET /oauth2/authorize", "GET /login", "POST /webauthn/login/begin",
		"POST /webauthn/login/finish", "GET /oauth2/resume", "POST /oauth2/token"}
	got := map[string]uint64{}
	for _, r := range res.Routes {
		got[r.Route] = r.Latency.Count
	}
	for _, w := range want {
		if got[w] != res.OK {
			t.Errorf("%s requested %d times for %d sign-ins", w, got[w], res.OK)
		}
	}
}

// TestModes runs every other mode (and sign-in through the consent page) for a bounded number
// of operations, each with no error allowed.
func TestModes(t *testing.T) {
	cases := []struct {
		mode       Mode
		firstParty bool
		alg        string
	}{
		{ModeSignIn, false, "RS256"}, // third-party: the first sign-in of each person consents
		{ModeRefresh, true, "RS256"},
		{ModeClientCredentials, true, ""},
		{ModeUserInfo, true, "ES256"},
		{ModeIntrospect, true, "ES256"},
		{ModeJWKS, true, ""},
		{ModeDiscovery, true, ""},
	}
	for _, c := range cases {
		t.Run(string(c.mode), func(t *testing.T) {
			people := 0
			if c.mode.NeedsPeople() {
				people = 3
			}
			_, target := start(t, c.firstParty, c.alg, people)
			res, err := Run(context.Background(), target, Options{Mode: c.mode, Concurrency: 3,
				Duration: 10 * time.Second, MaxOps: 30})
			if err != nil {
				t.Fatal(err)
			}
			if err := res.Err(); err != nil {
				var out strings.Builder
				_ = res.WriteText(&out)
				t.Fatalf("%v\n%s", err, out.String())
			}
			if res.OK != 30 {
				t.Errorf("%d operations completed, want exactly the limit of 30", res.OK)
			}
		})
	}
}

// TestErrorsAreCounted: a run against a client whose secret is wrong fails every operation,
// reports the kind, and Err makes the command exit non-zero.
func TestErrorsAreCounted(t *testing.T) {
	_, target := start(t, true, "", 0)
	target.ClientSecret = "not-the-secret-not-the-secret-00"
	res, err := Run(context.Background(), target, Options{Mode: ModeClientCredentials, Concurrency: 2,
		Duration: 10 * time.Second, MaxOps: 10})
	if err != nil {
		t.Fatal(err)
	}
	if res.Err() == nil || res.Failed != 10 || res.OK != 0 {
		t.Fatalf("failed %d, ok %d, err %v: want 10 failures and an error", res.Failed, res.OK, res.Err())
	}
	if len(res.Errors) != 1 || res.Errors[0].Kind != "client_credentials: HTTP 401 invalid_client" {
		t.Fatalf("errors by kind = %+v", res.Errors)
	}
	if r := res.Routes[0]; r.Route != "POST /oauth2/token" || r.Errors[401] != 10 {
		t.Fatalf("route table = %+v", res.Routes)
	}
	var out strings.Builder
	_ = res.WriteText(&out)
	if !strings.Contains(out.String(), "errors by kind") || strings.Contains(out.String(), target.ClientSecret) {
		t.Fatalf("report:\n%s", out.String())
	}
}

// TestSetupFailureStopsTheRun: people who cannot sign up (an invite that does not exist, with
// registration by invite) make Prepare fail before any load starts.
func TestSetupFailureStopsTheRun(t *testing.T) {
	env := testenv.Start(t, testenv.Options{RealClock: true, Configure: func(c *app.Config) { c.Registration = "invite" }})
	rp := env.NewRP(testenv.RPOptions{FirstParty: true})
	target := Target{Issuer: env.Issuer, ClientID: rp.ID, ClientSecret: rp.Secret, RedirectURI: rp.RedirectURI,
		People: []Identity{{Email: "nobody@loadtest.example", Invite: "no-such-invite"}}}
	_, err := Prepare(context.Background(), target, Options{Mode: ModeSignIn, Concurrency: 1})
	if err == nil || !strings.Contains(err.Error(), "set-up failed for the first person") {
		t.Fatalf("Prepare = %v, want a set-up failure", err)
	}
}
