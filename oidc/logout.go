package oidc

import (
	"context"
	"errors"
	"net/url"
	"slices"

	"github.com/keyward/keyward/store"
)

// LogoutRequest is a validated RP-Initiated Logout 1.0 request.
type LogoutRequest struct {
	// ClientID and ClientName name the relying app, when the hint or client_id does.
	ClientID   string
	ClientName string
	// HintSubject is the account a valid id_token_hint names; empty without a hint.
	HintSubject string
	// RedirectTo is post_logout_redirect_uri with state added. It is set only when the URI
	// exactly matches one the client registered and a valid id_token_hint names that client
	// (§3: without the hint Keyward cannot confirm the redirection is legitimate).
	RedirectTo string
}

// LogoutError refuses a logout request: the OP shows an error page and redirects nowhere
// (RP-Initiated Logout §4).
type LogoutError struct {
	Code    string
	Message string
}

func (e *LogoutError) Error() string { return e.Code + ": " + e.Message }

func logoutErr(msg string) *LogoutError { return &LogoutError{Code: "invalid_request", Message: msg} }

// ParseLogout validates the parameters of a request to the end_session_endpoint (GET query or
// POST form). It returns a *LogoutError for a request that must be refused; other errors are
// the store's.
func (p *Provider) ParseLogout(ctx context.Context, form url.Values) (*LogoutRequest, error) {
	if perr := checkParams(firstOnlyRequestParams(form)); perr != nil {
		return nil, logoutErr("The logout request is malformed (" + perr.GetDescription() + ")")
	}
	out := &LogoutRequest{}
	clientID := form.Get("client_id")
	var aud []string
	if hint := form.Get("id_token_hint"); hint != "" {
		claims, err := p.verifyOwnJWT(ctx, hint, true)
		if err != nil {
			return nil, logoutErr("The id_token_hint was not issued by Keyward.")
		}
		sub, _ := claims["sub"].(string)
		if sub == "" {
			return nil, logoutErr("The id_token_hint has no subject.")
		}
		out.HintSubject = sub
		switch a := claims["aud"].(type) {
		case string:
			aud = []string{a}
		case []any:
			for _, v := range a {
				if s, ok := v.(string); ok {
					aud = append(aud, s)
				}
			}
		}
		switch {
		case clientID != "" && !slices.Contains(aud, clientID):
			return nil, logoutErr("The client_id is not an audience of the id_token_hint.")
		case clientID == "" && len(aud) == 1:
			clientID = aud[0]
		case clientID == "":
			if azp, _ := claims["azp"].(string); azp != "" && slices.Contains(aud, azp) {
				clientID = azp
			}
		}
	}
	var client *Client
	if clientID != "" {
		c, err := p.storage.clients.get(ctx, clientID)
		if errors.Is(err, store.ErrNotFound) {
			return nil, logoutErr("The application is not registered with Keyward.")
		}
		if err != nil {
			return nil, err
		}
		client = c
		out.ClientID, out.ClientName = c.GetID(), c.displayName()
	}
	target := form.Get("post_logout_redirect_uri")
	if target == "" {
		return out, nil
	}
	if client == nil {
		return nil, logoutErr("post_logout_redirect_uri needs id_token_hint or client_id to name the application.")
	}
	// §3: simple string comparison with a registered value; no loopback port exception.
	if !slices.Contains(client.PostLogoutURIs, target) {
		return nil, logoutErr("The post_logout_redirect_uri is not registered for this application.")
	}
	if out.HintSubject == "" {
		return out, nil
	}
	u, err := url.Parse(target)
	if err != nil {
		return nil, logoutErr("The post_logout_redirect_uri is malformed.")
	}
	if state := form.Get("state"); state != "" {
		q := u.Query()
		q.Set("state", state)
		u.RawQuery = q.Encode()
	}
	out.RedirectTo = u.String()
	return out, nil
}

// firstOnlyRequestParams is form for checkParams: request objects mean nothing at logout, so
// only duplicates and sizes matter.
func firstOnlyRequestParams(form url.Values) url.Values {
	out := url.Values{}
	for k, v := range form {
		if k != "request" && k != "request_uri" {
			out[k] = v
		}
	}
	return out
}
