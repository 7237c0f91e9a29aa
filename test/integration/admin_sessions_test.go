package integration

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/keyward/keyward/idp"
	"github.com/keyward/keyward/internal/app"
	"github.com/keyward/keyward/internal/testenv"
	"github.com/keyward/keyward/store"
)

// The console's session-ending changes do what the account page does (SA-04): the tokens
// issued in the ended sessions die with them and the apps are told (back-channel logout).

// queuedLogouts lists the back-channel logout messages waiting in the outbox.
func queuedLogouts(t *testing.T, env *testenv.Env) []store.LogoutMessage {
	t.Helper()
	msgs, err := env.Store.ListLogouts(context.Background(), store.LogoutPending, 0)
	if err != nil {
		t.Fatal(err)
	}
	return msgs
}

// exportedBy checks that the audit export holds exactly one event of the kind about the
// account, performed by the administrator.
func exportedBy(t *testing.T, env *testenv.Env, event, accountID, adminID string) map[string]any {
	t.Helper()
	_, body, err := env.Admin.Get(context.Background(), "/admin/audit.jsonl?"+url.Values{"event": {event}, "account": {accountID}}.Encode())
	if err != nil {
		t.Fatal(err)
	}
	lines := exportLines(t, body)
	if len(lines) != 1 || lines[0]["performed_by"] != adminID || lines[0]["account_id"] != accountID {
		t.Fatalf("%s export: %v, want one performed by %s", event, lines, adminID)
	}
	return lines[0]
}

func TestSA04_AdminRevokePasskeyRevokesTokensAndTellsApps(t *testing.T) {
	env := testenv.Start(t, testenv.Options{})
	admin := accountOf(t, env, "admin@example.test")
	person := env.SignedUp("ada@example.test")
	ada := accountOf(t, env, "ada@example.test")
	rp := offlineRP(env)
	env.UpdateClient(rp.ID, func(c *store.Client) { c.BackchannelLogoutURI = "http://127.0.0.1:9/bcl" })
	rt := offlineTokens(t, person, rp)

	userPage := "/admin/users/" + ada.ID
	csrf := csrfOf(t, env.Admin, userPage)
	// Bad input changes nothing: an undecodable credential and another account's passkey.
	for _, cred := range []string{"%%%", b64id(credentialsOf(t, env, "admin@example.test")[0].ID)} {
		if resp, _ := adminPost(t, env.Admin, userPage+"/passkeys/revoke", csrf, url.Values{"credential": {cred}}); resp.StatusCode != http.StatusNotFound {
			t.Fatalf("revoke %q: %d, want 404", cred, resp.StatusCode)
		}
	}
	if len(queuedLogouts(t, env)) != 0 || !signedIn(t, person) || credentialCount(t, env, ada.ID) != 1 || credentialCount(t, env, admin.ID) != 1 {
		t.Fatal("a refused revocation changed something")
	}

	cred := b64id(credentialsOf(t, env, "ada@example.test")[0].ID)
	resp, _ := adminPost(t, env.Admin, userPage+"/passkeys/revoke", csrf, url.Values{"credential": {cred}})
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("revoke: %d", resp.StatusCode)
	}
	if signedIn(t, person) {
		t.Fatal("the session of the revoked passkey lives on")
	}
	if status, code, _ := refresh(t, rp, env.Issuer, rt); status != http.StatusBadRequest || code != "invalid_grant" {
		t.Fatalf("refresh token of the revoked passkey's session: %d %s, want 400 invalid_grant", status, code)
	}
	if msgs := queuedLogouts(t, env); len(msgs) != 1 || msgs[0].ClientID != rp.ID || msgs[0].Subject != ada.ID {
		t.Fatalf("back-channel logout messages: %+v, want one for %s", msgs, rp.ID)
	}
	line := exportedBy(t, env, idp.EventPasskeyRevoked, ada.ID, admin.ID)
	if d, _ := line["detail"].(map[string]any); d["sessions_ended"] != float64(1) || d["tokens_revoked"] == float64(0) {
		t.Errorf("revocation detail %v", line["detail"])
	}
	// The administrator's own session and the console are untouched.
	if !signedIn(t, env.Admin) {
		t.Fatal("the administrator was signed out")
	}
}

func TestSA04_AdminEndSessionsRevokesTokensAndTellsApps(t *testing.T) {
	env := testenv.Start(t, testenv.Options{})
	admin := accountOf(t, env, "admin@example.test")
	person := env.SignedUp("ada@example.test")
	ada := accountOf(t, env, "ada@example.test")
	rp := offlineRP(env)
	env.UpdateClient(rp.ID, func(c *store.Client) { c.BackchannelLogoutURI = "http://127.0.0.1:9/bcl" })
	rt := offlineTokens(t, person, rp)
	adminRT := offlineTokens(t, env.Admin, rp)

	csrf := csrfOf(t, env.Admin, "/admin/users/"+ada.ID)
	if resp, _ := adminPost(t, env.Admin, "/admin/users/nobody/sessions/end", csrf, nil); resp.StatusCode != http.StatusNotFound {
		t.Fatalf("unknown account: %d, want 404", resp.StatusCode)
	}
	if len(queuedLogouts(t, env)) != 0 || !signedIn(t, person) {
		t.Fatal("ending an unknown account's sessions changed something")
	}
	if resp, _ := adminPost(t, env.Admin, "/admin/users/"+ada.ID+"/sessions/end", csrf, nil); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("end sessions: %d", resp.StatusCode)
	}
	if signedIn(t, person) {
		t.Fatal("the person's session lives on")
	}
	if status, code, _ := refresh(t, rp, env.Issuer, rt); status != http.StatusBadRequest || code != "invalid_grant" {
		t.Fatalf("refresh token of an ended session: %d %s, want 400 invalid_grant", status, code)
	}
	if msgs := queuedLogouts(t, env); len(msgs) != 1 || msgs[0].Subject != ada.ID {
		t.Fatalf("back-channel logout messages: %+v, want one for the person", msgs)
	}
	exportedBy(t, env, "admin.sessions.ended", ada.ID, admin.ID)
	// Someone else's sessions: the administrator's tokens live on.
	if status, _, _ := refresh(t, rp, env.Issuer, adminRT); status != http.StatusOK {
		t.Fatalf("the administrator's refresh token: %d", status)
	}
}

// TestSA01_AdminConsoleUsesTheAdminStepUpWindow: the console's changes take the window
// configured for admin (recovery.step_up_windows.admin), longer or shorter than the default.
func TestSA01_AdminConsoleUsesTheAdminStepUpWindow(t *testing.T) {
	for _, c := range []struct {
		name          string
		window        time.Duration
		fresh, stale  time.Duration // ages after sign-in: accepted, refused
		wantMaxAgeSec float64
		text          string // how the reauth page names the window
	}{
		{"longer than the default", 10 * time.Minute, 7 * time.Minute, 11 * time.Minute, 600, "for the next 10 minutes"},
		{"shorter than the default", time.Minute, 50 * time.Second, 2 * time.Minute, 60, "for the next minute"},
	} {
		t.Run(c.name, func(t *testing.T) {
			env := testenv.Start(t, testenv.Options{Configure: func(cfg *app.Config) {
				cfg.Recovery.StepUpWindows.Admin = c.window
			}})
			env.SignedUp("ada@example.test")
			ada := accountOf(t, env, "ada@example.test")
			path := "/admin/users/" + ada.ID + "/sessions/end"
			csrf := csrfOf(t, env.Admin, "/admin/users/"+ada.ID)
			env.Clock.Advance(c.fresh)
			if page := adminGet(t, env.Admin, "/admin/reauth", http.StatusOK); !strings.Contains(page, c.text) {
				t.Errorf("the reauth page does not say %q", c.text)
			}
			if resp, _ := adminPost(t, env.Admin, path, csrf, nil); resp.StatusCode != http.StatusSeeOther {
				t.Fatalf("a change %s after sign-in: %d, want 303", c.fresh, resp.StatusCode)
			}
			env.Clock.Advance(c.stale - c.fresh)
			before, _ := env.Store.ListAudit(context.Background(), store.AuditQuery{Event: "admin.sessions.ended"})
			if resp, _ := adminPost(t, env.Admin, path, csrf, nil); resp.StatusCode != http.StatusUnauthorized {
				t.Fatalf("a change %s after sign-in: %d, want 401", c.stale, resp.StatusCode)
			}
			status, body := adminJSON(t, env, path, csrf)
			if status != http.StatusUnauthorized || body["error"] != "step_up_required" || body["max_age"] != c.wantMaxAgeSec {
				t.Fatalf("JSON change %s after sign-in: %d %v, want 401 max_age %v", c.stale, status, body, c.wantMaxAgeSec)
			}
			if after, _ := env.Store.ListAudit(context.Background(), store.AuditQuery{Event: "admin.sessions.ended"}); len(after) != len(before) {
				t.Fatal("a refused change was carried out")
			}
			if err := stepUp(t, env.Admin); err != nil {
				t.Fatal(err)
			}
			csrf = csrfOf(t, env.Admin, "/admin/users/"+ada.ID)
			if resp, _ := adminPost(t, env.Admin, path, csrf, nil); resp.StatusCode != http.StatusSeeOther {
				t.Fatalf("a change after the step-up: %d, want 303", resp.StatusCode)
			}
		})
	}
}

// adminJSON posts a console change as a script would (JSON, CSRF header).
func adminJSON(t *testing.T, env *testenv.Env, path, csrf string) (int, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, env.Admin.Base+path, strings.NewReader(`{}`))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	req.Header.Set("X-CSRF-Token", csrf)
	req.Header.Set("Origin", env.Admin.Base)
	resp, err := env.Admin.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&out)
	return resp.StatusCode, out
}

// TestSA02_CancelledPendingNamesWhoCancelled: the audit of a cancelled change says whether the
// owner ("account") or an administrator ("admin") cancelled it.
func TestSA02_CancelledPendingNamesWhoCancelled(t *testing.T) {
	env, _ := recoveryEnv(t)
	owner := env.SignedUp("ada@example.test")
	ada := accountOf(t, env, "ada@example.test")
	admin := accountOf(t, env, "admin@example.test")
	schedule := func() string {
		var out pendingAnswer
		if err := postAccount(t, owner, "/account/delete", `{}`, &out); err != nil || out.PendingAction == "" {
			t.Fatalf("delete: %+v %v", out, err)
		}
		return out.PendingAction
	}
	id := schedule()
	if status, body := postAccountStatus(t, owner, "/account/pending/"+id+"/cancel", `{}`); status != http.StatusOK {
		t.Fatalf("owner cancel: %d %v", status, body)
	}
	id = schedule()
	csrf := csrfOf(t, env.Admin, "/admin/users/"+ada.ID)
	if resp, _ := adminPost(t, env.Admin, "/admin/pending/"+id+"/cancel", csrf, nil); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("admin cancel: %d", resp.StatusCode)
	}
	evs, err := env.Store.ListAudit(context.Background(), store.AuditQuery{AccountID: ada.ID, Event: idp.EventPendingCancelled})
	if err != nil || len(evs) != 2 {
		t.Fatalf("pending.cancelled events: %d %v", len(evs), err)
	}
	via := map[string]string{}
	for _, e := range evs {
		var d struct {
			Via string `json:"via"`
		}
		_ = json.Unmarshal(e.Detail, &d)
		via[e.ActorID] = d.Via
	}
	if via[ada.ID] != "account" || via[admin.ID] != "admin" {
		t.Fatalf("via by actor: %v, want the owner's account and the administrator's admin", via)
	}
}
