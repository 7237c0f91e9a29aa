package integration

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// TestSA01_AdminChangesAreMailedToTheOwner: every change an administrator makes to someone's
// account is mailed to that person (a stolen or abused administrator session is a takeover
// path too), over real SMTP; a refused or no-op change mails nothing.
func TestSA01_AdminChangesAreMailedToTheOwner(t *testing.T) {
	env, mb := recoveryEnv(t)
	const email = "ada@example.test"
	env.SignedUp(email)
	ada := accountOf(t, env, email)
	page := "/admin/users/" + ada.ID
	csrf := csrfOf(t, env.Admin, page)
	base := len(mb.to(email))

	if resp, _ := adminPost(t, env.Admin, "/admin/users/nobody/disable", csrf, nil); resp.StatusCode != http.StatusNotFound {
		t.Fatalf("unknown account: %d", resp.StatusCode)
	}
	if resp, _ := adminPost(t, env.Admin, page+"/enable", csrf, nil); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("enable an enabled account: %d", resp.StatusCode)
	}
	if n := len(mb.to(email)); n != base {
		t.Fatalf("%d mails after refused or no-op changes, want none", n-base)
	}

	cred := b64id(credentialsOf(t, env, email)[0].ID)
	for _, step := range []struct {
		path    string
		form    url.Values
		subject string
	}{
		{page + "/admin/grant", nil, "You are now an administrator"},
		{page + "/admin/remove", nil, "You are no longer an administrator"},
		{page + "/sessions/end", nil, "signed you out everywhere"},
		{page + "/passkeys/revoke", url.Values{"credential": {cred}}, "removed a passkey"},
		{page + "/disable", nil, "was disabled"},
		{page + "/enable", nil, "enabled again"},
	} {
		before := len(mb.to(email))
		if resp, _ := adminPost(t, env.Admin, step.path, csrf, step.form); resp.StatusCode != http.StatusSeeOther {
			t.Fatalf("%s: %d", step.path, resp.StatusCode)
		}
		msgs := mb.to(email)
		if len(msgs) != before+1 || !strings.Contains(msgs[len(msgs)-1].Subject, step.subject) {
			t.Fatalf("%s: %d new mails (%+v); want one about %q", step.path, len(msgs)-before, msgs[before:], step.subject)
		}
	}
}
