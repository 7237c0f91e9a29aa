package integration

import (
	"context"
	"html"
	"net/http"
	"strings"
	"testing"

	"github.com/keyward/keyward/internal/testenv"
)

// The console's front-channel logout fields round-trip through the form; a URI the logout
// page must not frame is shown in the form with its reason and changes nothing.
func TestAdminClientFrontchannelFields(t *testing.T) {
	env := testenv.Start(t, testenv.Options{})
	ctx := context.Background()
	csrf := csrfOf(t, env.Admin, "/admin/clients/new")
	form := consoleClientForm("https://app.example/cb")
	form.Set("id", "fcl")
	form.Set("frontchannel_logout_uri", "https://app.example/logout/front?tenant=1")
	form.Set("frontchannel_logout_session_required", "1")
	if resp, page := adminPost(t, env.Admin, "/admin/clients", csrf, form); resp.StatusCode != http.StatusCreated {
		t.Fatalf("create: %d\n%s", resp.StatusCode, page)
	}
	c, err := env.Store.GetClient(ctx, "fcl")
	if err != nil || c.FrontchannelLogoutURI != "https://app.example/logout/front?tenant=1" || !c.FrontchannelLogoutSessionRequired {
		t.Fatalf("stored: %+v (%v)", c, err)
	}
	page := html.UnescapeString(adminGet(t, env.Admin, "/admin/clients/fcl", http.StatusOK))
	for _, want := range []string{`name="frontchannel_logout_uri" type="text" value="https://app.example/logout/front?tenant=1"`,
		`name="frontchannel_logout_session_required" value="1" checked`} {
		if !strings.Contains(page, want) {
			t.Errorf("edit form lacks %q", want)
		}
	}

	for bad, reason := range map[string]string{
		"https://app.example/front#x":  "Front-channel logout URI: must not have a fragment",
		"http://app.example/front":     "Front-channel logout URI: must use https",
		"https://other.example/front":  "Front-channel logout URI: must have the scheme, host and port of one of the redirect URIs",
		"https://app.example/f?sid=1":  "Front-channel logout URI: must not carry iss or sid",
		"javascript:alert(document.x)": "Front-channel logout URI: must be an absolute URL",
	} {
		edit := consoleClientForm("https://app.example/cb")
		edit.Set("frontchannel_logout_uri", bad)
		resp, page := adminPost(t, env.Admin, "/admin/clients/fcl", csrf, edit)
		if resp.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(html.UnescapeString(page), reason) {
			t.Errorf("%q: %d, want 422 with %q", bad, resp.StatusCode, reason)
		}
	}
	if after, _ := env.Store.GetClient(ctx, "fcl"); after.FrontchannelLogoutURI != c.FrontchannelLogoutURI || !after.FrontchannelLogoutSessionRequired {
		t.Fatalf("a refused update changed the client: %+v", after)
	}

	// Clearing the URI with the box still ticked is refused too; clearing both is fine.
	edit := consoleClientForm("https://app.example/cb")
	edit.Set("frontchannel_logout_session_required", "1")
	if resp, page := adminPost(t, env.Admin, "/admin/clients/fcl", csrf, edit); resp.StatusCode != http.StatusUnprocessableEntity ||
		!strings.Contains(page, "Front-channel logout: needs a frontchannel_logout_uri") {
		t.Errorf("session required without a URI: %d", resp.StatusCode)
	}
	edit.Del("frontchannel_logout_session_required")
	if resp, page := adminPost(t, env.Admin, "/admin/clients/fcl", csrf, edit); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("clear: %d\n%s", resp.StatusCode, page)
	}
	if after, _ := env.Store.GetClient(ctx, "fcl"); after.FrontchannelLogoutURI != "" || after.FrontchannelLogoutSessionRequired {
		t.Fatalf("cleared client: %+v", after)
	}
}
