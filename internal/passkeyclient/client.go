// Package passkeyclient plays a person in a browser against a running Keyward over HTTP: it
// loads the hosted pages, runs the WebAuthn ceremonies through the JSON endpoints with a
// software authenticator (internal/softauthn), answers the consent page and follows the
// authorization redirects to the relying app's callback. The integration tests and the
// `keyward loadtest` command both use it; it knows Keyward only through its public HTTP surface.
package passkeyclient

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"

	"github.com/keyward/keyward/internal/softauthn"
)

// Client is one person's browser: a cookie jar, no automatic redirects, and a passkey store.
type Client struct {
	Base string // Keyward's issuer URL
	HTTP *http.Client
	Auth *softauthn.Authenticator
	// UserAgent is sent on every request (the account page shows it).
	UserAgent string
}

// New returns a client for the Keyward at base, sharing transport t (nil: a new one).
func New(base string, t http.RoundTripper, auth *softauthn.Authenticator) *Client {
	jar, _ := cookiejar.New(nil)
	if t == nil {
		t = http.DefaultTransport
	}
	return &Client{Base: base, Auth: auth, UserAgent: "keyward-passkeyclient/1",
		HTTP: &http.Client{Jar: jar, Transport: t, CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		}}}
}

// Error is a non-2xx answer from Keyward's JSON endpoints.
type Error struct {
	Status      int
	Code        string
	Description string
}

func (e *Error) Error() string {
	return fmt.Sprintf("keyward answered %d %s: %s", e.Status, e.Code, e.Description)
}

// Do sends a request with the client's cookies and user agent.
func (c *Client) Do(req *http.Request) (*http.Response, error) {
	if req.Header.Get("User-Agent") == "" {
		req.Header.Set("User-Agent", c.UserAgent)
	}
	return c.HTTP.Do(req)
}

// Get fetches a path or absolute URL and returns status, headers and body.
func (c *Client) Get(ctx context.Context, target string) (*http.Response, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.abs(target), nil)
	if err != nil {
		return nil, nil, err
	}
	resp, err := c.Do(req)
	if err != nil {
		return nil, nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	return resp, body, err
}

func (c *Client) abs(target string) string {
	if strings.HasPrefix(target, "http://") || strings.HasPrefix(target, "https://") {
		return target
	}
	return c.Base + target
}

var csrfMeta = regexp.MustCompile(`<meta name="csrf-token" content="([^"]*)"`)

// CSRF loads page and returns the CSRF token it carries.
func (c *Client) CSRF(ctx context.Context, page string) (string, error) {
	resp, body, err := c.Get(ctx, page)
	if err != nil {
		return "", err
	}
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("GET %s: status %d", page, resp.StatusCode)
	}
	m := csrfMeta.FindSubmatch(body)
	if m == nil {
		return "", fmt.Errorf("GET %s: no csrf-token meta tag", page)
	}
	return string(m[1]), nil
}

// PostJSON posts body (already JSON) with the CSRF header and decodes a JSON answer into out.
func (c *Client) PostJSON(ctx context.Context, path, csrf string, body []byte, out any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.abs(path), bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-CSRF-Token", csrf)
	req.Header.Set("Origin", c.Base)
	req.Header.Set("Sec-Fetch-Site", "same-origin")
	resp, err := c.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode/100 != 2 {
		var e struct {
			Error       string `json:"error"`
			Description string `json:"error_description"`
		}
		_ = json.Unmarshal(data, &e)
		return &Error{Status: resp.StatusCode, Code: e.Error, Description: e.Description}
	}
	if out == nil {
		return nil
	}
	return json.Unmarshal(data, out)
}

func withInteraction(path, interaction string) string {
	if interaction == "" {
		return path
	}
	return path + "?interaction=" + url.QueryEscape(interaction)
}

// SignUp creates an account on the sign-up page (invite may be empty) and returns where
// Keyward sends the browser next.
func (c *Client) SignUp(ctx context.Context, email, name, invite, interaction string, forges ...softauthn.Forge) (string, error) {
	page := withInteraction("/signup", interaction)
	if invite != "" {
		page += map[bool]string{true: "&", false: "?"}[strings.Contains(page, "?")] + "invite=" + url.QueryEscape(invite)
	}
	csrf, err := c.CSRF(ctx, page)
	if err != nil {
		return "", err
	}
	begin, _ := json.Marshal(map[string]string{"email": email, "display_name": name, "invite": invite})
	var opts json.RawMessage
	if err := c.PostJSON(ctx, withInteraction("/webauthn/signup/begin", interaction), csrf, begin, &opts); err != nil {
		return "", err
	}
	cred, err := c.Auth.Create(opts, forges...)
	if err != nil {
		return "", fmt.Errorf("authenticator: %w", err)
	}
	var done struct {
		RedirectTo string `json:"redirect_to"`
	}
	if err := c.PostJSON(ctx, withInteraction("/webauthn/signup/finish", interaction), csrf, cred, &done); err != nil {
		return "", err
	}
	return done.RedirectTo, nil
}

// SignIn signs in on the sign-in page with a discoverable passkey (or, with email set,
// email-first) and returns where Keyward sends the browser next.
func (c *Client) SignIn(ctx context.Context, email, interaction string, forges ...softauthn.Forge) (string, error) {
	csrf, err := c.CSRF(ctx, withInteraction("/login", interaction))
	if err != nil {
		return "", err
	}
	return c.SignInWithToken(ctx, csrf, email, interaction, forges...)
}

// SignInWithToken runs the sign-in ceremony with a CSRF token already in hand.
func (c *Client) SignInWithToken(ctx context.Context, csrf, email, interaction string, forges ...softauthn.Forge) (string, error) {
	begin := []byte(`{}`)
	if email != "" {
		begin, _ = json.Marshal(map[string]string{"email": email})
	}
	var opts json.RawMessage
	if err := c.PostJSON(ctx, withInteraction("/webauthn/login/begin", interaction), csrf, begin, &opts); err != nil {
		return "", err
	}
	assertion, err := c.Auth.Get(opts, forges...)
	if err != nil {
		return "", fmt.Errorf("authenticator: %w", err)
	}
	var done struct {
		RedirectTo string `json:"redirect_to"`
	}
	if err := c.PostJSON(ctx, withInteraction("/webauthn/login/finish", interaction), csrf, assertion, &done); err != nil {
		return "", err
	}
	return done.RedirectTo, nil
}

// ErrNoCallback: the authorization flow ended somewhere other than the client's callback.
var ErrNoCallback = errors.New("passkeyclient: the flow did not reach the callback")

// Authorize follows an authorization request like a browser: through sign-in (with the
// passkey) and consent (allowed when consent is true, denied otherwise) until a redirect
// leaves Keyward; it returns that URL (the client's callback with code or error).
func (c *Client) Authorize(ctx context.Context, authURL string, consent bool) (*url.URL, error) {
	target := authURL
	for hop := 0; hop < 12; hop++ {
		if !strings.HasPrefix(c.abs(target), c.Base+"/") {
			return url.Parse(target)
		}
		resp, body, err := c.Get(ctx, target)
		if err != nil {
			return nil, err
		}
		switch {
		case resp.StatusCode == http.StatusSeeOther || resp.StatusCode == http.StatusFound:
			loc, err := resp.Location()
			if err != nil {
				return nil, err
			}
			target = loc.String()
			continue
		case resp.StatusCode != http.StatusOK:
			return nil, fmt.Errorf("%w: GET %s answered %d", ErrNoCallback, resp.Request.URL.Path, resp.StatusCode)
		}
		u := resp.Request.URL
		interaction := u.Query().Get("interaction")
		switch u.Path {
		case "/login":
			m := csrfMeta.FindSubmatch(body)
			if m == nil {
				return nil, errors.New("passkeyclient: sign-in page without CSRF token")
			}
			next, err := c.SignInWithToken(ctx, string(m[1]), "", interaction)
			if err != nil {
				return nil, err
			}
			target = next
		case "/consent":
			m := csrfMeta.FindSubmatch(body)
			if m == nil {
				return nil, errors.New("passkeyclient: consent page without CSRF token")
			}
			loc, err := c.answerConsent(ctx, string(m[1]), interaction, consent)
			if err != nil {
				return nil, err
			}
			target = loc
		default:
			return nil, fmt.Errorf("%w: stopped at %s", ErrNoCallback, u.Path)
		}
	}
	return nil, fmt.Errorf("%w: too many redirects", ErrNoCallback)
}

func (c *Client) answerConsent(ctx context.Context, csrf, interaction string, allow bool) (string, error) {
	decision := "deny"
	if allow {
		decision = "allow"
	}
	form := url.Values{"csrf_token": {csrf}, "interaction": {interaction}, "decision": {decision}}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.Base+"/consent", strings.NewReader(form.Encode()))
	if err != nil {
		return "", err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", c.Base)
	resp, err := c.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	if resp.StatusCode != http.StatusSeeOther && resp.StatusCode != http.StatusFound {
		return "", fmt.Errorf("POST /consent answered %d", resp.StatusCode)
	}
	return resp.Header.Get("Location"), nil
}
