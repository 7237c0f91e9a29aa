package integration

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/keyward/keyward/internal/passkeyclient"
	"github.com/keyward/keyward/internal/testenv"
	"github.com/keyward/keyward/store"
)

// Helpers of the account-change takeover tests (accountchanges_test.go).

// pendingAnswer is the 202 body of a change that became a pending action.
type pendingAnswer struct {
	Status        string `json:"status"`
	PendingAction string `json:"pending_action"`
	Kind          string `json:"kind"`
	DueAt         string `json:"due_at"`
	NewEmail      string `json:"new_email"`
}

// postAccount posts a JSON body to an account route with b's session and CSRF token.
func postAccount(t *testing.T, b *passkeyclient.Client, path, body string, out any) error {
	t.Helper()
	csrf, err := b.CSRF(context.Background(), "/account")
	if err != nil {
		t.Fatal(err)
	}
	return b.PostJSON(context.Background(), path, csrf, []byte(body), out)
}

// postAccountStatus is postAccount that also returns the status (PostJSON hides a 2xx one).
func postAccountStatus(t *testing.T, b *passkeyclient.Client, path, body string) (int, map[string]any) {
	t.Helper()
	csrf, err := b.CSRF(context.Background(), "/account")
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest(http.MethodPost, b.Base+path, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-CSRF-Token", csrf)
	req.Header.Set("Origin", b.Base)
	resp, err := b.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	raw, _ := io.ReadAll(resp.Body)
	_ = json.Unmarshal(raw, &out)
	return resp.StatusCode, out
}

var formCSRF = regexp.MustCompile(`name="csrf_token" value="([^"]+)"`)

// followFormLink opens a mailed link (a GET page with a form) in b and posts the form to
// action with the link's token, as a person clicking the page's button would.
func followFormLink(t *testing.T, b *passkeyclient.Client, link, action string) (int, string) {
	t.Helper()
	resp, body, err := b.Get(context.Background(), link)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %v %d", link, err, resp.StatusCode)
	}
	m := formCSRF.FindStringSubmatch(string(body))
	if m == nil {
		t.Fatalf("no form on %s", link)
	}
	u, _ := url.Parse(link)
	req, _ := http.NewRequest(http.MethodPost, b.Base+action,
		strings.NewReader(url.Values{"csrf_token": {m[1]}, "token": {u.Query().Get("token")}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", b.Base)
	r, err := b.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Body.Close()
	page, _ := io.ReadAll(r.Body)
	return r.StatusCode, string(page)
}

func pendingOf(t *testing.T, env *testenv.Env, accountID string) []store.PendingAction {
	t.Helper()
	out, err := env.Store.ListPendingActions(context.Background(), accountID, store.PendingStatusPending)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// runDue runs the scheduler once and checks how many actions it executed.
func runDue(t *testing.T, env *testenv.Env, want int, when string) {
	t.Helper()
	n, err := env.App.IDP.RunDuePendingActions(context.Background())
	if err != nil || n != want {
		t.Fatalf("%s: the scheduler executed %d (%v), want %d", when, n, err, want)
	}
}

// offlineTokens signs b through an authorization code flow with offline_access and returns the
// refresh token: tokens issued in b's current session.
func offlineTokens(t *testing.T, b *passkeyclient.Client, rp *testenv.RP) string {
	t.Helper()
	ctx := context.Background()
	f := testenv.NewFlow()
	cb, err := b.Authorize(ctx, rp.AuthURL(f), true)
	if err != nil {
		t.Fatal(err)
	}
	code, err := rp.Callback(cb, f)
	if err != nil {
		t.Fatal(err)
	}
	tok, _, err := rp.Exchange(ctx, code, f)
	if err != nil {
		t.Fatal(err)
	}
	if tok.RefreshToken == "" {
		t.Fatal("no refresh token with offline_access")
	}
	return tok.RefreshToken
}

// refresh redeems a refresh token at the token endpoint; it returns the status, the OAuth
// error code and the rotated refresh token.
func refresh(t *testing.T, rp *testenv.RP, issuer, rt string) (int, string, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, issuer+"/oauth2/token",
		strings.NewReader(url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(url.QueryEscape(rp.ID), url.QueryEscape(rp.Secret))
	resp, err := rp.HTTP.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body struct {
		Error        string `json:"error"`
		RefreshToken string `json:"refresh_token"`
	}
	_ = json.NewDecoder(resp.Body).Decode(&body)
	return resp.StatusCode, body.Error, body.RefreshToken
}

// offlineRP is a first-party app that asks for refresh tokens.
func offlineRP(env *testenv.Env) *testenv.RP {
	return env.NewRP(testenv.RPOptions{FirstParty: true, Scopes: []string{"openid", "email", "offline_access"}})
}

func regexpContains(s, expr string) bool { return regexp.MustCompile(expr).MatchString(s) }

// recoverForCodes is recoverWith with a code, returning the new recovery codes of the answer.
func recoverForCodes(t *testing.T, b *passkeyclient.Client, link, code string) []string {
	t.Helper()
	ctx := context.Background()
	u, _ := url.Parse(link)
	csrf, err := b.CSRF(ctx, link)
	if err != nil {
		t.Fatal(err)
	}
	begin, _ := json.Marshal(map[string]string{"token": u.Query().Get("token"), "code": code})
	var opts json.RawMessage
	if err := b.PostJSON(ctx, "/webauthn/recovery/begin", csrf, begin, &opts); err != nil {
		t.Fatal(err)
	}
	cred, err := b.Auth.Create(opts)
	if err != nil {
		t.Fatal(err)
	}
	var out struct {
		Status string   `json:"status"`
		Codes  []string `json:"recovery_codes"`
	}
	if err := b.PostJSON(ctx, "/webauthn/recovery/finish", csrf, cred, &out); err != nil || out.Status != "active" {
		t.Fatalf("recovery with a code: %+v %v", out, err)
	}
	return out.Codes
}
