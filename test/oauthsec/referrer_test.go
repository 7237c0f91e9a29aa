package oauthsec

import (
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/keyward/keyward/internal/testenv"
)

// resourceAttr finds the attributes through which a page loads or sends something: the
// src of scripts, images, frames and media, the href of <link>, form actions, srcset,
// poster, and CSS url() in inline styles.
var (
	resourceTag  = regexp.MustCompile(`(?is)<(script|img|iframe|frame|embed|object|source|video|audio|track|input|link|form|meta)\b[^>]*>`)
	resourceAttr = regexp.MustCompile(`(?is)\b(src|href|action|srcset|poster|data|formaction|content)\s*=\s*("[^"]*"|'[^']*'|[^\s>]+)`)
	cssURL       = regexp.MustCompile(`(?i)url\(\s*['"]?([^'")]+)`)
)

// TestOA15_NoReferrerAndNoThirdPartyContent: RFC 9700 §4.2.4, ASVS 3.4.5. The authorization
// endpoint and every page of the sign-in journey (sign-in, sign-up, consent, account, error
// pages) answer with Referrer-Policy no-referrer, their HTML loads nothing from another
// origin, and their CSP names no other host.
func TestOA15_NoReferrerAndNoThirdPartyContent(t *testing.T) {
	o := start(t, testenv.RPOptions{}) // third party: the journey includes the consent page
	signedOut := o.env.NewBrowser()

	f := testenv.NewFlow()
	authURL := o.rp.AuthURL(f)
	// Signed out, the authorization endpoint sends the browser to the sign-in page.
	resp, _, err := signedOut.Get(o.ctx, authURL)
	if err != nil {
		t.Fatal(err)
	}
	wantReferrerPolicy(t, "GET /oauth2/authorize (signed out)", resp)
	loginURL := resp.Header.Get("Location")
	if !strings.HasPrefix(loginURL, "/login?interaction=") {
		t.Fatalf("authorize sent a signed-out browser to %q", loginURL)
	}
	badRedirect := strings.Replace(authURL, url.QueryEscape(o.rp.RedirectURI), url.QueryEscape("https://evil.test/cb"), 1)

	pages := []struct {
		who  string
		path string
	}{
		{"out", loginURL},
		{"out", "/login"},
		{"out", "/signup"},
		{"out", "/logged-out"},
		{"out", "/no/such/page"},
		{"out", badRedirect}, // the OP's own error page: no redirect to an unverified URI
		{"in", "/account"},
		{"in", "/account/security"},
	}
	// Signed in, a third-party client's request stops at the consent page.
	resp, _ = o.get(authURL)
	consent := resp.Header.Get("Location")
	if !strings.HasPrefix(consent, "/consent?interaction=") {
		t.Fatalf("authorize sent a signed-in browser to %q, want the consent page", consent)
	}
	wantReferrerPolicy(t, "GET /oauth2/authorize (signed in)", resp)
	pages = append(pages, struct{ who, path string }{"in", consent})

	// The consent form's answer is a redirect to the client, which CSP form-action governs:
	// the client's registered origin is the one other origin a page may name there.
	ru, _ := url.Parse(o.rp.RedirectURI)
	rpOrigin := ru.Scheme + "://" + ru.Host
	for _, p := range pages {
		b := o.b
		if p.who == "out" {
			b = signedOut
		}
		resp, body, err := b.Get(o.ctx, p.path)
		if err != nil {
			t.Fatal(err)
		}
		what := "GET " + p.path
		if !strings.Contains(resp.Header.Get("Content-Type"), "text/html") {
			t.Fatalf("%s: answered %d %s, want an HTML page", what, resp.StatusCode, resp.Header.Get("Content-Type"))
		}
		wantReferrerPolicy(t, what, resp)
		wantOwnCSP(t, what, resp.Header.Get("Content-Security-Policy"), rpOrigin)
		wantNoThirdPartyResources(t, what, o.env.Issuer, string(body))
	}
}

func wantReferrerPolicy(t *testing.T, what string, resp *http.Response) {
	t.Helper()
	if got := resp.Header.Get("Referrer-Policy"); got != "no-referrer" && got != "strict-origin" {
		t.Fatalf("%s: Referrer-Policy %q, want no-referrer (or strict-origin)", what, got)
	}
}

// wantOwnCSP checks every source expression of the policy is a keyword, a nonce or data:
// (images): no host, no scheme wildcard, no * — except that form-action may name rpOrigin,
// where the consent form's redirect goes.
func wantOwnCSP(t *testing.T, what, csp, rpOrigin string) {
	t.Helper()
	if csp == "" {
		t.Fatalf("%s: no Content-Security-Policy", what)
	}
	for _, directive := range strings.Split(csp, ";") {
		fields := strings.Fields(directive)
		for _, src := range fields[min(1, len(fields)):] {
			switch {
			case strings.HasPrefix(src, "'") && src != "'unsafe-inline'" && src != "'unsafe-eval'":
			case src == "data:" && fields[0] == "img-src":
			case src == rpOrigin && fields[0] == "form-action":
			default:
				t.Fatalf("%s: CSP %s allows %q", what, fields[0], src)
			}
		}
	}
}

// wantNoThirdPartyResources checks that every URL the page loads or submits to is Keyward's.
func wantNoThirdPartyResources(t *testing.T, what, issuer, body string) {
	t.Helper()
	var urls []string
	for _, tag := range resourceTag.FindAllString(body, -1) {
		for _, m := range resourceAttr.FindAllStringSubmatch(tag, -1) {
			name, v := strings.ToLower(m[1]), strings.Trim(m[2], `"'`)
			if name == "content" && !strings.Contains(strings.ToLower(tag), "refresh") {
				continue // <meta name=… content=…> is text, only a refresh loads anything
			}
			if name == "content" {
				if i := strings.Index(strings.ToLower(v), "url="); i >= 0 {
					v = v[i+4:]
				}
			}
			if name == "srcset" {
				for _, part := range strings.Split(v, ",") {
					if fs := strings.Fields(part); len(fs) > 0 {
						urls = append(urls, fs[0])
					}
				}
				continue
			}
			urls = append(urls, v)
		}
	}
	for _, m := range cssURL.FindAllStringSubmatch(body, -1) {
		urls = append(urls, m[1])
	}
	if len(urls) == 0 {
		t.Fatalf("%s: found no resource URL at all; the page check is not looking", what)
	}
	for _, u := range urls {
		if strings.HasPrefix(u, "data:") || strings.HasPrefix(u, "#") {
			continue
		}
		if !sameOrigin(issuer, htmlUnescape(u)) {
			t.Fatalf("%s loads or submits to another origin: %q", what, u)
		}
	}
}

func htmlUnescape(s string) string {
	return strings.NewReplacer("&amp;", "&", "&#39;", "'", "&quot;", `"`, "&#x2F;", "/", "&#47;", "/").Replace(s)
}
