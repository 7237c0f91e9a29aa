package integration

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/keyward/keyward/internal/testenv"
	"github.com/keyward/keyward/store"
)

// The back-channel logout outbox page of the console (/admin/logouts): an abandoned message
// retried from the console is delivered on the next pass; a pending one can be dropped; bad
// input and messages under a live claim change nothing.

// bclApp is a relying app's back-channel logout endpoint answering status (changeable).
type bclApp struct {
	srv    *httptest.Server
	mu     sync.Mutex
	status int
	tokens []string
}

func newBCLApp(t *testing.T, status int) *bclApp {
	a := &bclApp{status: status}
	a.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		a.mu.Lock()
		defer a.mu.Unlock()
		a.tokens = append(a.tokens, r.PostFormValue("logout_token"))
		w.WriteHeader(a.status)
	}))
	t.Cleanup(a.srv.Close)
	return a
}

func (a *bclApp) answer(status int) { a.mu.Lock(); a.status = status; a.mu.Unlock() }

func (a *bclApp) received() []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]string(nil), a.tokens...)
}

// outboxRows is the whole outbox plus the latest audit event id, to prove refusals change nothing.
func outboxRows(t *testing.T, env *testenv.Env) string {
	t.Helper()
	ctx := context.Background()
	msgs, err := env.Store.ListLogouts(ctx, "", 0)
	if err != nil {
		t.Fatal(err)
	}
	ev, _ := env.Store.ListAudit(ctx, store.AuditQuery{Limit: 1})
	b, _ := json.Marshal([]any{msgs, ev[0].ID})
	return string(b)
}

func logoutOf(t *testing.T, env *testenv.Env, id string) *store.LogoutMessage {
	t.Helper()
	m, err := env.Store.GetLogout(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// jtiOf returns the jti claim of a JWT (its signature is the conformance tests' business).
func jtiOf(t *testing.T, raw string) string {
	t.Helper()
	parts := strings.Split(raw, ".")
	if len(parts) != 3 {
		t.Fatalf("not a JWT: %q", raw)
	}
	b, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var c struct {
		JTI string `json:"jti"`
	}
	if err := json.Unmarshal(b, &c); err != nil {
		t.Fatal(err)
	}
	return c.JTI
}

// TestRL11_ConsoleRetriesAbandonedLogoutAndDropsPending: a message the app refused (400, so
// abandoned after one attempt) is listed with its error; "Retry now" makes it due with a fresh
// budget and the next delivery pass delivers it with the same jti. "Drop" abandons a pending
// message, which is then never sent. Both are audited with performed_by.
func TestRL11_ConsoleRetriesAbandonedLogoutAndDropsPending(t *testing.T) {
	env := testenv.Start(t, testenv.Options{})
	ctx := context.Background()
	admin := accountOf(t, env, "admin@example.test")
	env.SignedUp("ada@example.test")
	ada := accountOf(t, env, "ada@example.test")
	app := newBCLApp(t, http.StatusBadRequest)
	rp := env.NewRP(testenv.RPOptions{FirstParty: true})
	env.UpdateClient(rp.ID, func(c *store.Client) { c.BackchannelLogoutURI = app.srv.URL + "/bcl" })
	now := env.Clock.Now()
	for _, m := range []store.LogoutMessage{
		{ID: "refused-msg", NextAttemptAt: now},
		{ID: "later-msg", NextAttemptAt: now.Add(time.Hour)},
	} {
		m.ClientID, m.URI, m.SID, m.Subject, m.Status = rp.ID, app.srv.URL+"/bcl", "sid-1", ada.ID, store.LogoutPending
		m.CreatedAt, m.UpdatedAt = now, now
		if err := env.Store.EnqueueLogout(ctx, &m); err != nil {
			t.Fatal(err)
		}
	}
	if n := deliverLogouts(t, env); n != 1 || logoutOf(t, env, "refused-msg").Status != store.LogoutAbandoned {
		t.Fatalf("first pass: %d attempts, want the refused message abandoned", n)
	}

	page := adminGet(t, env.Admin, "/admin/logouts", http.StatusOK)
	for _, want := range []string{
		`data-message-id="refused-msg" data-status="abandoned"`, `data-message-id="later-msg" data-status="pending"`,
		`<code class="last-error">status 400</code>`, `action="/admin/logouts/refused-msg/retry"`,
		`action="/admin/logouts/later-msg/drop"`, `data-client-id="` + rp.ID + `"`, ">ada@example.test</a>",
	} {
		if !strings.Contains(page, want) {
			t.Errorf("the outbox page lacks %s", want)
		}
	}
	if strings.Contains(page, `action="/admin/logouts/refused-msg/drop"`) {
		t.Error("an abandoned message is offered for dropping")
	}

	app.answer(http.StatusOK)
	csrf := csrfOf(t, env.Admin, "/admin/logouts")
	resp, body := adminPost(t, env.Admin, "/admin/logouts/refused-msg/retry", csrf, nil)
	if resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(resp.Header.Get("Location"), "/admin/logouts?notice=") {
		t.Fatalf("retry: %d %s\n%s", resp.StatusCode, resp.Header.Get("Location"), body)
	}
	if m := logoutOf(t, env, "refused-msg"); m.Status != store.LogoutPending || m.Attempts != 0 || !m.NextAttemptAt.Equal(env.Clock.Now()) {
		t.Fatalf("after retry: %+v, want pending, no attempts, due now", m)
	}
	if n := deliverLogouts(t, env); n != 1 {
		t.Fatalf("pass after the retry: %d attempts, want 1", n)
	}
	got := app.received()
	if m := logoutOf(t, env, "refused-msg"); m.Status != store.LogoutDelivered || len(got) != 2 || jtiOf(t, got[1]) != "refused-msg" {
		t.Fatalf("after the pass: %+v, %d tokens received", m, len(got))
	}
	if page := adminGet(t, env.Admin, "/admin/logouts", http.StatusOK); !strings.Contains(page, `data-message-id="refused-msg" data-status="delivered"`) {
		t.Error("the delivered message is not in the recently delivered list")
	}

	resp, _ = adminPost(t, env.Admin, "/admin/logouts/later-msg/drop", csrf, nil)
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("drop: %d", resp.StatusCode)
	}
	if m := logoutOf(t, env, "later-msg"); m.Status != store.LogoutAbandoned || m.LastError != "dropped by an administrator" {
		t.Fatalf("after drop: %+v", m)
	}
	env.Clock.Advance(2 * time.Hour)
	if n := deliverLogouts(t, env); n != 0 || len(app.received()) != 2 {
		t.Fatal("a dropped message was sent")
	}

	for event, id := range map[string]string{"admin.logout.retried": "refused-msg", "admin.logout.dropped": "later-msg"} {
		evs, err := env.Store.ListAudit(ctx, store.AuditQuery{Event: event})
		if err != nil || len(evs) != 1 || evs[0].ActorID != admin.ID || evs[0].AccountID != ada.ID || evs[0].ClientID != rp.ID ||
			!strings.Contains(string(evs[0].Detail), `"message_id":"`+id+`"`) {
			t.Errorf("%s events %+v %v, want one performed by the administrator", event, evs, err)
		}
	}
}

// TestSA01_LogoutActionsRefuseBadInput: an unknown message (404), a missing CSRF token (403),
// a stale step-up (401), a delivered message (409), dropping an abandoned one (409) and either
// action on a message whose attempt is under way (409) change nothing.
func TestSA01_LogoutActionsRefuseBadInput(t *testing.T) {
	env := testenv.Start(t, testenv.Options{})
	ctx := context.Background()
	now := env.Clock.Now()
	for _, id := range []string{"done", "gave-up", "busy"} {
		m := store.LogoutMessage{ID: id, ClientID: "gone-client", URI: "http://127.0.0.1:9/bcl", SID: "s", Subject: "nobody",
			Status: store.LogoutPending, NextAttemptAt: now, CreatedAt: now, UpdatedAt: now}
		if err := env.Store.EnqueueLogout(ctx, &m); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := env.Store.ClaimLogouts(ctx, now, now.Add(time.Minute), "c", 10); err != nil {
		t.Fatal(err)
	}
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(env.Store.FinishLogout(ctx, "done", "c", store.LogoutDelivered, now, "", now))
	must(env.Store.FinishLogout(ctx, "gave-up", "c", store.LogoutAbandoned, now, "status 410", now))
	// "busy" stays claimed: its attempt is under way for another minute.

	page := adminGet(t, env.Admin, "/admin/logouts", http.StatusOK)
	if !strings.Contains(page, "being attempted now") || strings.Contains(page, "/admin/logouts/busy/") ||
		strings.Contains(page, "/admin/logouts/done/") {
		t.Error("a message under way or delivered is offered an action")
	}
	want := outboxRows(t, env)
	csrf := csrfOf(t, env.Admin, "/admin/logouts")
	cases := []struct {
		path, csrf string
		status     int
	}{
		{"/admin/logouts/no-such-msg/retry", csrf, http.StatusNotFound},
		{"/admin/logouts/no-such-msg/drop", csrf, http.StatusNotFound},
		{"/admin/logouts/gave-up/retry", "", http.StatusForbidden},
		{"/admin/logouts/done/retry", csrf, http.StatusConflict},
		{"/admin/logouts/done/drop", csrf, http.StatusConflict},
		{"/admin/logouts/gave-up/drop", csrf, http.StatusConflict},
		{"/admin/logouts/busy/retry", csrf, http.StatusConflict},
		{"/admin/logouts/busy/drop", csrf, http.StatusConflict},
	}
	for _, c := range cases {
		if resp, _ := adminPost(t, env.Admin, c.path, c.csrf, nil); resp.StatusCode != c.status {
			t.Errorf("POST %s: %d, want %d", c.path, resp.StatusCode, c.status)
		}
	}
	if got := outboxRows(t, env); got != want {
		t.Fatalf("refused actions changed the outbox or the audit log:\n%s\n%s", want, got)
	}
	// Past the step-up window: 401, nothing changes, even for a message that could be retried.
	env.Clock.Advance(6 * time.Minute)
	want = outboxRows(t, env)
	csrf = csrfOf(t, env.Admin, "/admin/logouts")
	if resp, _ := adminPost(t, env.Admin, "/admin/logouts/gave-up/retry", csrf, url.Values{}); resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("retry with a stale step-up: %d, want 401", resp.StatusCode)
	}
	if got := outboxRows(t, env); got != want {
		t.Fatal("a retry without step-up changed the outbox")
	}
}
