package integration

import (
	"bufio"
	"context"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/keyward/keyward/internal/app"
	"github.com/keyward/keyward/internal/softauthn"
	"github.com/keyward/keyward/internal/testenv"
	"github.com/keyward/keyward/store"
	"github.com/keyward/keyward/ui"
)

// routePath turns a console route pattern into a concrete path.
func routePath(pattern, id string) string {
	p := strings.ReplaceAll(pattern, "{$}", "")
	return strings.ReplaceAll(p, "{id}", url.PathEscape(id))
}

// TestAdminConsoleRefusesOthers: every console route, whatever the method, answers a signed-in
// non-administrator 403 and sends an anonymous browser to sign in; nothing changes.
func TestAdminConsoleRefusesOthers(t *testing.T) {
	env := testenv.Start(t, testenv.Options{})
	ctx := context.Background()
	person := env.SignedUp("person@example.test")
	acct, _ := env.Store.GetAccountByEmail(ctx, "person@example.test")
	csrf := csrfOf(t, person, "/account")
	anon := env.NewBrowser()

	routes := ui.AdminRoutes()
	if len(routes) < 20 {
		t.Fatalf("only %d console routes listed", len(routes))
	}
	// Every route with its own method and with the others, plus paths no route has.
	var cases [][2]string
	for _, rt := range routes {
		method, pattern, _ := strings.Cut(rt, " ")
		path := routePath(pattern, acct.ID)
		cases = append(cases, [2]string{method, path})
		other := http.MethodPost
		if method == http.MethodPost {
			other = http.MethodGet
		}
		cases = append(cases, [2]string{other, path}, [2]string{http.MethodDelete, path})
	}
	cases = append(cases, [2]string{"GET", "/admin/nothing-here"}, [2]string{"PUT", "/admin/users/" + acct.ID})
	before, _ := env.Store.ListAudit(ctx, store.AuditQuery{Limit: 1})
	for _, c := range cases {
		body := ""
		if c[0] != http.MethodGet {
			body = url.Values{"csrf_token": {csrf}, "credential": {"AAAA"}, "name": {"x"}}.Encode()
		}
		if resp, page := adminDo(t, person, c[0], c[1], body); resp.StatusCode != http.StatusForbidden || !strings.Contains(page, "Only administrators") {
			t.Errorf("non-admin %s %s: %d, want 403", c[0], c[1], resp.StatusCode)
		}
		if resp, _ := adminDo(t, anon, c[0], c[1], body); resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/login" {
			t.Errorf("anonymous %s %s: %d → %q, want 303 → /login", c[0], c[1], resp.StatusCode, resp.Header.Get("Location"))
		}
	}
	after, _ := env.Store.ListAudit(ctx, store.AuditQuery{Limit: 1})
	if after[0].ID != before[0].ID {
		t.Errorf("refused requests wrote audit event %s", after[0].Event)
	}
	if a, _ := env.Store.GetAccount(ctx, acct.ID); a.Admin || a.Disabled {
		t.Error("a refused request changed the account")
	}

	// The administrator reaches every page.
	for _, rt := range routes {
		method, pattern, _ := strings.Cut(rt, " ")
		if method == http.MethodGet && !strings.Contains(pattern, "{id}") {
			adminGet(t, env.Admin, routePath(pattern, ""), http.StatusOK)
		}
	}
	adminGet(t, env.Admin, "/admin/users/"+acct.ID, http.StatusOK)
	adminGet(t, env.Admin, "/admin/users/nobody", http.StatusNotFound)
}

// TestSA01_AdminFormsNeedCSRFAndStepUp: a console POST without the session's CSRF token (or
// with another session's) is refused with 403; one whose latest passkey assertion is older
// than the step-up window with 401 and the step-up page, which lets the administrator repeat
// the change once a user-verified step-up is done. Refusals change nothing.
func TestSA01_AdminFormsNeedCSRFAndStepUp(t *testing.T) {
	env := testenv.Start(t, testenv.Options{})
	ctx := context.Background()
	env.SignedUp("target@example.test")
	target, _ := env.Store.GetAccountByEmail(ctx, "target@example.test")
	creds, _ := env.Store.ListCredentials(ctx, target.ID)
	client := &store.Client{ID: "kept", Name: "Kept", RedirectURIs: []string{"https://app.example.test/cb"}, Source: "admin",
		SecretHash: []byte("h"), CreatedAt: time.Now(), UpdatedAt: time.Now()}
	if err := env.Store.CreateClient(ctx, client); err != nil {
		t.Fatal(err)
	}
	form := url.Values{"name": {"Changed"}, "redirect_uris": {"https://app.example.test/other"}, "type": {"public"},
		"grant": {"authorization_code"}, "scope": {"openid"}, "alg": {"RS256"}, "email": {"new@example.test"},
		"credential": {base64.RawURLEncoding.EncodeToString(creds[0].ID)}, "id": {"new-client"}}
	snapshot := func() string {
		cs, _ := env.Store.ListClients(ctx)
		a, _ := env.Store.GetAccount(ctx, target.ID)
		cr, _ := env.Store.ListCredentials(ctx, target.ID)
		ss, _ := env.Store.ListSessions(ctx, target.ID)
		ev, _ := env.Store.ListAudit(ctx, store.AuditQuery{Limit: 1})
		b, _ := json.Marshal([]any{cs, a.Admin, a.Disabled, len(cr), len(ss), ev[0].ID})
		return string(b)
	}
	other := env.SignedUp("other@example.test")
	foreign := csrfOf(t, other, "/account")
	var posts []string
	for _, rt := range ui.AdminRoutes() {
		if method, pattern, _ := strings.Cut(rt, " "); method == http.MethodPost {
			id := target.ID
			if strings.HasPrefix(pattern, "/admin/clients/") {
				id = client.ID
			}
			posts = append(posts, routePath(pattern, id))
		}
	}
	want := snapshot()
	for _, p := range posts {
		for name, token := range map[string]string{"missing": "", "foreign": foreign} {
			f := url.Values{}
			for k, v := range form {
				f[k] = v
			}
			if resp, _ := adminPost(t, env.Admin, p, token, f); resp.StatusCode != http.StatusForbidden {
				t.Errorf("POST %s with %s CSRF token: %d, want 403", p, name, resp.StatusCode)
			}
		}
	}
	if got := snapshot(); got != want {
		t.Fatalf("refused forms changed state:\n%s\n%s", want, got)
	}

	// Past the step-up window: 401 with the step-up page, which carries the refused change to
	// repeat (without the old CSRF token); a JSON call gets step_up_required. Nothing changes.
	env.Clock.Advance(6 * time.Minute)
	csrf := csrfOf(t, env.Admin, "/admin")
	for _, p := range posts {
		resp, page := adminPost(t, env.Admin, p, csrf, url.Values{"name": {"Changed"}, "type": {"public"}})
		form := resubmitForm(page)
		if resp.StatusCode != http.StatusUnauthorized || !strings.Contains(page, `id="step-up-confirm"`) ||
			!strings.HasPrefix(form, `<form id="step-up-resubmit" method="post" action="`+p+`"`) ||
			!strings.Contains(form, `<input type="hidden" name="name" value="Changed">`) || strings.Contains(form, csrf) {
			t.Errorf("stale POST %s: %d, want 401 with the step-up page and the change to repeat", p, resp.StatusCode)
		}
	}
	stale := "/admin/users/" + target.ID + "/disable"
	req, _ := http.NewRequest(http.MethodPost, env.Admin.Base+stale, strings.NewReader("{}"))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-CSRF-Token", csrf)
	req.Header.Set("Origin", env.Admin.Base)
	resp, err := env.Admin.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var body struct {
		Error  string `json:"error"`
		MaxAge int    `json:"max_age"`
	}
	_ = json.NewDecoder(resp.Body).Decode(&body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized || body.Error != "step_up_required" || body.MaxAge != 300 {
		t.Errorf("stale JSON POST: %d %+v, want 401 step_up_required max_age 300", resp.StatusCode, body)
	}
	if got := snapshot(); got != want {
		t.Fatalf("a change without step-up changed state")
	}
	if page := adminGet(t, env.Admin, "/admin/users", http.StatusOK); !strings.Contains(page, `id="admin-stale"`) {
		t.Error("console pages should say a step-up is needed before changes")
	}
	// A step-up with a passkey that does not verify the user does not count (WA-06).
	if err := stepUp(t, env.Admin, softauthn.SetFlag(softauthn.FlagUV, false)); err == nil {
		t.Fatal("step-up without user verification accepted")
	}
	if resp, _ := adminPost(t, env.Admin, stale, csrfOf(t, env.Admin, "/admin"), nil); resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("after a refused step-up: %d, want 401", resp.StatusCode)
	}
	// The refused change, repeated from its step-up page after the ceremony, goes through.
	_, page := adminPost(t, env.Admin, stale, csrfOf(t, env.Admin, "/admin"), nil)
	if err := stepUp(t, env.Admin); err != nil {
		t.Fatal(err)
	}
	if page := adminGet(t, env.Admin, "/admin/users", http.StatusOK); strings.Contains(page, `id="admin-stale"`) {
		t.Error("the stale-session notice remains after the step-up")
	}
	repeat := url.Values{}
	for _, m := range hiddenInputRE.FindAllStringSubmatch(resubmitForm(page), -1) {
		if m[1] != "csrf_token" {
			repeat.Add(m[1], m[2])
		}
	}
	if resp, _ := adminPost(t, env.Admin, stale, csrfOf(t, env.Admin, "/admin/reauth"), repeat); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("the repeated change after a step-up: %d", resp.StatusCode)
	}
	if a, _ := env.Store.GetAccount(ctx, target.ID); !a.Disabled {
		t.Fatal("account not disabled")
	}
	// The step-up lasts the window, not longer.
	env.Clock.Advance(6 * time.Minute)
	if resp, _ := adminPost(t, env.Admin, "/admin/users/"+target.ID+"/enable", csrfOf(t, env.Admin, "/admin"), nil); resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("a step-up older than the window: %d, want 401", resp.StatusCode)
	}
}

var (
	hiddenInputRE  = regexp.MustCompile(`<input type="hidden" name="([^"]*)" value="([^"]*)">`)
	resubmitFormRE = regexp.MustCompile(`<form id="step-up-resubmit".*?</form>`)
)

// resubmitForm is the step-up page's form that repeats the refused change ("" if none).
func resubmitForm(page string) string { return resubmitFormRE.FindString(page) }

// TestAdminClientAndPasskeyRevocationAreAudited is the console's main story: the admin creates a
// client, it works in an authorization request; the admin revokes a person's passkey; both
// actions are in the audit log (page and export) with performed_by.
func TestAdminClientAndPasskeyRevocationAreAudited(t *testing.T) {
	env := testenv.Start(t, testenv.Options{})
	ctx := context.Background()
	admin, _ := env.Store.GetAccountByEmail(ctx, "admin@example.test")
	csrf := csrfOf(t, env.Admin, "/admin/clients/new")
	redirect := "http://127.0.0.1:9/callback/console"
	resp, page := adminPost(t, env.Admin, "/admin/clients", csrf, url.Values{"name": {"Console App"}, "redirect_uris": {redirect},
		"type": {"confidential"}, "grant": {"authorization_code", "refresh_token"}, "scope": {"openid", "profile", "email"},
		"alg": {"RS256"}, "first_party": {"1"}})
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("create client: %d\n%s", resp.StatusCode, page)
	}
	id, secret := codeText(t, page, "client-id-value"), codeText(t, page, "client-secret-value")
	stored, err := env.Store.GetClient(ctx, id)
	if err != nil || stored.Source != "admin" || !stored.FirstParty || string(stored.SecretHash) == secret {
		t.Fatalf("stored client %+v (%v)", stored, err)
	}

	person := env.SignedUp("ada@example.test")
	rp := consoleRP(t, env, id, secret, redirect)
	signIn := func(rp *testenv.RP) error {
		f := testenv.NewFlow()
		cb, err := person.Authorize(ctx, rp.AuthURL(f), true)
		if err != nil {
			return err
		}
		code, err := rp.Callback(cb, f)
		if err != nil {
			return err
		}
		_, idt, err := rp.Exchange(ctx, code, f)
		if err == nil && idt.Subject == "" {
			t.Error("no subject")
		}
		return err
	}
	if err := signIn(rp); err != nil {
		t.Fatalf("the console's client does not work: %v", err)
	}

	// Rotating the secret: the old one stops working at once, the new one works.
	csrf = csrfOf(t, env.Admin, "/admin/clients/"+id)
	resp, page = adminPost(t, env.Admin, "/admin/clients/"+id+"/secret", csrf, nil)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("rotate: %d", resp.StatusCode)
	}
	newSecret := codeText(t, page, "client-secret-value")
	if err := signIn(rp); err == nil {
		t.Error("the old secret still works after rotation")
	}
	if err := signIn(consoleRP(t, env, id, newSecret, redirect)); err != nil {
		t.Errorf("the new secret does not work: %v", err)
	}
	// Editing keeps the secret; a config-file client cannot be edited.
	resp, _ = adminPost(t, env.Admin, "/admin/clients/"+id, csrf, url.Values{"name": {"Renamed"}, "redirect_uris": {redirect},
		"type": {"confidential"}, "grant": {"authorization_code"}, "scope": {"openid", "profile", "email"}, "alg": {"ES256"}})
	if c, _ := env.Store.GetClient(ctx, id); resp.StatusCode != http.StatusSeeOther || c.Name != "Renamed" || c.IDTokenSignedAlg != "ES256" || len(c.SecretHash) == 0 {
		t.Fatalf("update: %d %+v", resp.StatusCode, c)
	}
	// Invalid input is refused with the reasons and changes nothing.
	resp, page = adminPost(t, env.Admin, "/admin/clients", csrf, url.Values{"redirect_uris": {"http://evil.example/cb"}, "type": {"public"},
		"grant": {"refresh_token"}, "scope": {"email"}, "alg": {"RS256"}, "id": {"bad id!"}})
	if resp.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(page, "loopback") || !strings.Contains(page, "openid scope is required") {
		t.Errorf("invalid client: %d", resp.StatusCode)
	}

	// Revoking the person's passkey ends the session it signed in and any later sign-in.
	pa, _ := env.Store.GetAccountByEmail(ctx, "ada@example.test")
	creds, _ := env.Store.ListCredentials(ctx, pa.ID)
	csrf = csrfOf(t, env.Admin, "/admin/users/"+pa.ID)
	resp, _ = adminPost(t, env.Admin, "/admin/users/"+pa.ID+"/passkeys/revoke", csrf,
		url.Values{"credential": {base64.RawURLEncoding.EncodeToString(creds[0].ID)}})
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("revoke: %d", resp.StatusCode)
	}
	if left, _ := env.Store.ListCredentials(ctx, pa.ID); len(left) != 0 {
		t.Fatal("passkey still stored")
	}
	if resp, _, _ := person.Get(ctx, "/account"); resp.StatusCode != http.StatusSeeOther {
		t.Errorf("the session signed in with the revoked passkey still works: %d", resp.StatusCode)
	}
	if _, err := person.SignIn(ctx, "", ""); err == nil {
		t.Error("the revoked passkey still signs in")
	}

	// Both actions in the audit log, by the admin.
	for _, ev := range []string{"admin.client.created", "passkey.revoked"} {
		evs, _ := env.Store.ListAudit(ctx, store.AuditQuery{Event: ev})
		if len(evs) != 1 || evs[0].ActorID != admin.ID {
			t.Fatalf("%s events %+v", ev, evs)
		}
	}
	page = adminGet(t, env.Admin, "/admin/audit?account=ada@example.test", http.StatusOK)
	if !strings.Contains(page, `data-event="passkey.revoked"`) || !strings.Contains(page, ">admin@example.test</a>") {
		t.Error("the audit page does not show the revocation performed by the admin")
	}
	page = adminGet(t, env.Admin, "/admin/audit?event=admin.client.created", http.StatusOK)
	if strings.Count(page, `class="audit-event"`) != 1 || !strings.Contains(page, ">admin@example.test</a>") {
		t.Error("the audit page does not show the client creation by the admin")
	}
	resp, _, _ = env.Admin.Get(ctx, "/admin/audit.jsonl?account="+url.QueryEscape(pa.ID))
	if resp.Header.Get("Content-Type") != "application/jsonl; charset=utf-8" {
		t.Errorf("export content type %q", resp.Header.Get("Content-Type"))
	}
	_, body, _ := env.Admin.Get(ctx, "/admin/audit.jsonl?event=passkey.revoked")
	lines := exportLines(t, body)
	if len(lines) != 1 || lines[0]["performed_by"] != admin.ID || lines[0]["account_id"] != pa.ID || lines[0]["event"] != "passkey.revoked" {
		t.Fatalf("export: %v", lines)
	}
	_, body, _ = env.Admin.Get(ctx, "/admin/audit.jsonl?event=admin.client.created")
	if lines := exportLines(t, body); len(lines) != 1 || lines[0]["performed_by"] != admin.ID || lines[0]["client_id"] != id {
		t.Fatalf("export: %v", lines)
	}

	// Deleting the client stops authorization requests through it.
	csrf = csrfOf(t, env.Admin, "/admin/clients/"+id)
	if resp, _ := adminPost(t, env.Admin, "/admin/clients/"+id+"/delete", csrf, nil); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("delete: %d", resp.StatusCode)
	}
	if _, err := env.Store.GetClient(ctx, id); err == nil {
		t.Fatal("client still stored")
	}
}

func exportLines(t *testing.T, body []byte) []map[string]any {
	t.Helper()
	var out []map[string]any
	sc := bufio.NewScanner(strings.NewReader(string(body)))
	for sc.Scan() {
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatalf("export line %q: %v", sc.Text(), err)
		}
		out = append(out, m)
	}
	return out
}

// TestAdminAccounts: disable ends sessions and sign-ins, enable restores them; the admin role
// can be granted and removed, never from the last administrator; invitations carry the
// administrator as their issuer.
func TestAdminAccounts(t *testing.T) {
	env := testenv.Start(t, testenv.Options{})
	ctx := context.Background()
	admin, _ := env.Store.GetAccountByEmail(ctx, "admin@example.test")
	person := env.SignedUp("bob@example.test")
	bob, _ := env.Store.GetAccountByEmail(ctx, "bob@example.test")
	csrf := csrfOf(t, env.Admin, "/admin/users")
	post := func(path string, form url.Values) (int, string) {
		resp, page := adminPost(t, env.Admin, path, csrf, form)
		return resp.StatusCode, page
	}

	if page := adminGet(t, env.Admin, "/admin/users?q=bob", http.StatusOK); !strings.Contains(page, "bob@example.test") || strings.Contains(page, "admin@example.test</a>") {
		t.Error("search by email")
	}
	if code, _ := post("/admin/users/"+bob.ID+"/disable", nil); code != http.StatusSeeOther {
		t.Fatalf("disable: %d", code)
	}
	if resp, _, _ := person.Get(ctx, "/account"); resp.StatusCode != http.StatusSeeOther {
		t.Error("a disabled account's session still works")
	}
	if _, err := person.SignIn(ctx, "", ""); err == nil || !strings.Contains(err.Error(), "account_disabled") {
		t.Errorf("disabled account signs in: %v", err)
	}
	if code, _ := post("/admin/users/"+bob.ID+"/enable", nil); code != http.StatusSeeOther {
		t.Fatalf("enable: %d", code)
	}
	if _, err := person.SignIn(ctx, "", ""); err != nil {
		t.Errorf("enabled account cannot sign in: %v", err)
	}
	if code, _ := post("/admin/users/"+bob.ID+"/sessions/end", nil); code != http.StatusSeeOther {
		t.Fatalf("end sessions: %d", code)
	}
	if ss, _ := env.Store.ListSessions(ctx, bob.ID); len(ss) != 0 {
		t.Errorf("%d sessions left", len(ss))
	}

	// The only administrator can neither lose the role nor disable themself.
	if code, page := post("/admin/users/"+admin.ID+"/admin/remove", nil); code != http.StatusConflict || !strings.Contains(page, "last administrator") {
		t.Errorf("removing the last admin role: %d", code)
	}
	if code, _ := post("/admin/users/"+admin.ID+"/disable", nil); code != http.StatusConflict {
		t.Errorf("disabling oneself: %d", code)
	}
	if code, _ := post("/admin/users/"+bob.ID+"/admin/grant", nil); code != http.StatusSeeOther {
		t.Fatalf("grant: %d", code)
	}
	if a, _ := env.Store.GetAccount(ctx, bob.ID); !a.Admin {
		t.Fatal("role not granted")
	}
	// With another administrator, one may step down (and leaves the console).
	if resp, _ := adminPost(t, env.Admin, "/admin/users/"+admin.ID+"/admin/remove", csrf, nil); resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/account" {
		t.Fatalf("step down: %d %s", resp.StatusCode, resp.Header.Get("Location"))
	}
	if resp, _ := adminDo(t, env.Admin, http.MethodGet, "/admin", ""); resp.StatusCode != http.StatusForbidden {
		t.Errorf("a former admin reaches the console: %d", resp.StatusCode)
	}
	for _, ev := range []string{"admin.account.disabled", "admin.account.enabled", "admin.sessions.ended", "admin.role.granted", "admin.role.removed"} {
		if evs, _ := env.Store.ListAudit(ctx, store.AuditQuery{Event: ev}); len(evs) != 1 || evs[0].ActorID != admin.ID {
			t.Errorf("%s: %+v", ev, evs)
		}
	}

	// Bob, now the administrator, invites someone; the link works once and names him.
	bobBrowser := env.NewBrowser()
	bobBrowser.Auth = person.Auth
	if _, err := bobBrowser.SignIn(ctx, "", ""); err != nil {
		t.Fatal(err)
	}
	csrf = csrfOf(t, bobBrowser, "/admin/users")
	resp, page := adminPost(t, bobBrowser, "/admin/users/invite", csrf, url.Values{"email": {"carol@example.test"}})
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("invite: %d", resp.StatusCode)
	}
	link := codeText(t, page, "invite-url")
	u, _ := url.Parse(strings.ReplaceAll(link, "&amp;", "&"))
	carol := env.NewBrowser()
	if _, err := carol.SignUp(ctx, "carol@example.test", "Carol", u.Query().Get("invite"), ""); err != nil {
		t.Fatalf("sign-up through the console's invitation: %v", err)
	}
	if evs, _ := env.Store.ListAudit(ctx, store.AuditQuery{Event: "invite.created", Limit: 1}); len(evs) != 1 || evs[0].ActorID != bob.ID {
		t.Errorf("invite.created: %+v", evs)
	}
	if resp, page := adminPost(t, bobBrowser, "/admin/users/invite", csrf, url.Values{"email": {"carol@example.test"}}); resp.StatusCode != http.StatusConflict || !strings.Contains(page, "already exists") {
		t.Errorf("inviting a taken email: %d", resp.StatusCode)
	}
}

// TestAdminSettingsShowSourcesNotSecrets: the settings page lists the configuration with
// where each value came from and never a client secret.
func TestAdminSettingsShowSourcesNotSecrets(t *testing.T) {
	const secret = "a-very-long-client-secret-that-must-not-show"
	env := testenv.Start(t, testenv.Options{Configure: func(c *app.Config) {
		c.Clients = []app.ClientConfig{{ID: "from-file", Secret: secret, RedirectURIs: []string{"https://app.example.test/cb"}}}
		c.Sources = map[string]string{"clients": "file", "session.idle_timeout": "env KEYWARD_SESSION_IDLE_TIMEOUT"}
	}})
	env.App.UI.SetSettings(env.App.Config.Settings())
	page := adminGet(t, env.Admin, "/admin/settings", http.StatusOK)
	for _, want := range []string{`data-key="session.idle_timeout"`, "env KEYWARD_SESSION_IDLE_TIMEOUT", `data-key="management_listen"`, "127.0.0.1:9090"} {
		if !strings.Contains(page, want) {
			t.Errorf("settings page lacks %q", want)
		}
	}
	if strings.Contains(page, secret) || strings.Contains(page, "keyward.secret\x00") {
		t.Fatal("settings page shows a secret")
	}
	// The config-file client is listed read-only and refuses changes.
	if page := adminGet(t, env.Admin, "/admin/clients", http.StatusOK); !strings.Contains(page, "Read-only") {
		t.Error("config client not marked read-only")
	}
	csrf := csrfOf(t, env.Admin, "/admin/clients")
	if resp, _ := adminPost(t, env.Admin, "/admin/clients/from-file/delete", csrf, nil); resp.StatusCode != http.StatusConflict {
		t.Errorf("deleting a config client: %d", resp.StatusCode)
	}
}
