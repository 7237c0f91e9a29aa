package oidc

import (
	"context"
	"encoding/json"
	"errors"
	"mime"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/ory/fosite"
	"github.com/ory/fosite/token/jwt"
)

// Limits on authorization and token request parameters. Nothing legitimate comes near them: an
// id_token_hint is about 1 KiB, a claims request a few hundred bytes.
const (
	maxParamBytes = 8 << 10
	maxParams     = 64
)

// checkParams applies the rules fosite leaves out: RFC 6749 §3.1 and §3.2 (a parameter MUST
// NOT appear more than once — fosite silently takes the first), size limits, and OIDC Core
// §6 (request objects are refused with their own error codes, never fetched or ignored).
func checkParams(form url.Values) *fosite.RFC6749Error {
	if len(form) > maxParams {
		return fosite.ErrInvalidRequest.WithHint("The request has too many parameters.")
	}
	keys := make([]string, 0, len(form))
	for k := range form {
		keys = append(keys, k)
	}
	slices.Sort(keys) // a stable answer when several parameters are wrong
	for _, k := range keys {
		if len(form[k]) > 1 {
			return fosite.ErrInvalidRequest.WithHintf("The parameter '%s' is included more than once.", k)
		}
		if len(k) > 128 || len(form[k][0]) > maxParamBytes {
			return fosite.ErrInvalidRequest.WithHintf("The parameter '%.40s' is too long.", k)
		}
	}
	if form.Get("request") != "" {
		return fosite.ErrRequestNotSupported.WithHint("Request objects are not supported; send the parameters in the query or form body.")
	}
	if form.Get("request_uri") != "" {
		return fosite.ErrRequestURINotSupported.WithHint("request_uri is not supported; send the parameters in the query or form body.")
	}
	return nil
}

// noState stands in for an absent state parameter while fosite handles the request, and is
// removed from every response. fosite refuses a state shorter than 8 characters, absent
// included, but state is optional: PKCE is the CSRF defence (RFC 9700 §2.1.1), and certified
// libraries such as openid-client v6 leave state out when the server supports PKCE.
const noState = "kw-absent-state-7f3a9c2e51d84b06"

// fillState puts noState in place of a missing or empty state.
func fillState(form url.Values) {
	if form.Get("state") == "" {
		form.Set("state", noState)
	}
}

// firstValues is form with one value per parameter and without request objects: what fosite
// parses to find the client and redirect URI when checkParams refused the request.
func firstValues(form url.Values) url.Values {
	out := url.Values{}
	for k, v := range form {
		if k == "request" || k == "request_uri" || len(v) == 0 {
			continue
		}
		out.Set(k, v[0])
	}
	fillState(out)
	return out
}

// parseForm parses a request's parameters. A POST must be form-encoded: fosite would also
// read multipart bodies, after Keyward's checks have run on the rest.
func parseForm(r *http.Request) error {
	if r.Method == http.MethodPost {
		mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
		if err != nil || mt != "application/x-www-form-urlencoded" {
			return errors.New("oidc: the body must be application/x-www-form-urlencoded")
		}
	}
	return r.ParseForm()
}

// cleanRequest is r as a GET carrying only form's parameters.
func cleanRequest(r *http.Request, form url.Values) *http.Request {
	c := r.Clone(r.Context())
	c.Method = http.MethodGet
	u := *r.URL
	u.RawQuery = form.Encode()
	c.URL = &u
	c.Body = http.NoBody
	c.ContentLength = 0
	c.Header.Del("Content-Type")
	c.Form, c.PostForm, c.MultipartForm = nil, nil, nil
	return c
}

var allowedPrompts = []string{"none", "login", "consent", "select_account"}

// checkPrompt applies OIDC Core §3.1.2.1: known values only, and none alone.
func checkPrompt(prompts []string) *fosite.RFC6749Error {
	for _, v := range prompts {
		if !slices.Contains(allowedPrompts, v) {
			return fosite.ErrInvalidRequest.WithHintf("Unknown prompt value '%.20s'.", v)
		}
	}
	if slices.Contains(prompts, "none") && len(prompts) > 1 {
		return fosite.ErrInvalidRequest.WithHint("prompt=none cannot be combined with other values.")
	}
	return nil
}

// checkPKCE requires an S256 code challenge on every request (RFC 9700 §2.1.1, OA-04). fosite
// checks it too, but only after it has stored the code, so a refused request would leave rows
// behind; checking first keeps a bad request from changing anything.
func checkPKCE(form url.Values) *fosite.RFC6749Error {
	challenge, method := form.Get("code_challenge"), form.Get("code_challenge_method")
	switch {
	case challenge == "":
		return fosite.ErrInvalidRequest.WithHint("A PKCE code_challenge is required.")
	case method != "S256":
		return fosite.ErrInvalidRequest.WithHint("code_challenge_method must be S256.")
	case len(challenge) != 43 || strings.Trim(challenge, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_") != "":
		// base64url of a SHA-256 digest, without padding (RFC 7636 §4.2).
		return fosite.ErrInvalidRequest.WithHint("code_challenge must be the base64url SHA-256 of the verifier.")
	}
	return nil
}

// parseMaxAge returns max_age and whether it was sent.
func parseMaxAge(v string) (time.Duration, bool, *fosite.RFC6749Error) {
	if v == "" {
		return 0, false, nil
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < 0 || n > 1<<31 {
		return 0, false, fosite.ErrInvalidRequest.WithHint("max_age must be a non-negative integer.")
	}
	return time.Duration(n) * time.Second, true, nil
}

// claimScope is the scope that releases each claim Keyward can return (OIDC Core §5.4). A
// claim asked for with the claims parameter is released only when the client may have that
// scope, and the consent covers it, so the parameter cannot widen what the person agreed to.
var claimScope = map[string]string{
	"name": "profile", "updated_at": "profile",
	"email": "email", "email_verified": "email",
}

// claimsRequest is the parsed `claims` parameter (OIDC Core §5.5): the names asked for in the
// ID token and at UserInfo. Values and essential markers are accepted and not needed: every
// claim Keyward has is released when allowed.
type claimsRequest struct {
	IDToken  []string
	Userinfo []string
}

func parseClaims(v string) (claimsRequest, *fosite.RFC6749Error) {
	var out claimsRequest
	if v == "" {
		return out, nil
	}
	var raw map[string]json.RawMessage
	if err := json.Unmarshal([]byte(v), &raw); err != nil {
		return out, fosite.ErrInvalidRequest.WithHint("The claims parameter must be a JSON object.")
	}
	for member, body := range raw {
		if member != "id_token" && member != "userinfo" {
			continue // OIDC Core §5.5: unknown members are ignored
		}
		var names map[string]json.RawMessage
		if string(body) != "null" {
			if err := json.Unmarshal(body, &names); err != nil {
				return out, fosite.ErrInvalidRequest.WithHintf("claims.%s must be a JSON object.", member)
			}
		}
		for name, spec := range names {
			if string(spec) != "null" {
				var obj map[string]json.RawMessage
				if err := json.Unmarshal(spec, &obj); err != nil {
					return out, fosite.ErrInvalidRequest.WithHintf("claims.%s.%.40s must be null or an object.", member, name)
				}
			}
			if _, known := claimScope[name]; !known {
				continue
			}
			if member == "id_token" {
				out.IDToken = append(out.IDToken, name)
			} else {
				out.Userinfo = append(out.Userinfo, name)
			}
		}
	}
	slices.Sort(out.IDToken)
	slices.Sort(out.Userinfo)
	return out, nil
}

// allowed keeps the names whose scope the client may request.
func allowedClaims(names []string, c *Client) []string {
	var out []string
	for _, n := range names {
		if slices.Contains(c.GetScopes(), claimScope[n]) {
			out = append(out, n)
		}
	}
	return out
}

// impliedScopes are the scopes the claims request reaches into, for the consent check.
func (cr claimsRequest) impliedScopes(c *Client) []string {
	var out []string
	for _, n := range append(allowedClaims(cr.IDToken, c), allowedClaims(cr.Userinfo, c)...) {
		if s := claimScope[n]; !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	return out
}

// hintSubject verifies an id_token_hint: signed by one of this provider's published keys (a
// foreign key or alg none fails), issued by this issuer, an ID token and not a logout token.
// An expired hint is fine (OIDC Core §3.1.2.1). It returns the subject.
func (p *Provider) hintSubject(ctx context.Context, hint string) (string, error) {
	claims, err := p.verifyOwnJWT(ctx, hint, true)
	if err != nil {
		return "", err
	}
	sub, _ := claims["sub"].(string)
	if sub == "" {
		return "", errors.New("oidc: hint without subject")
	}
	return sub, nil
}

// verifyOwnJWT checks a JWT this provider issued as an ID token and returns its claims.
func (p *Provider) verifyOwnJWT(ctx context.Context, raw string, allowExpired bool) (jwt.MapClaims, error) {
	tok, err := signer{keys: p.keys}.Decode(ctx, raw)
	var ve *jwt.ValidationError
	expiredOnly := err != nil && errors.As(err, &ve) && ve.Errors == jwt.ValidationErrorExpired
	if err != nil && !(allowExpired && expiredOnly) {
		return nil, err
	}
	if tok == nil || tok.Claims == nil {
		// ParseWithClaims verifies the signature before the claims, so an expired-only
		// failure still means a token signed by one of our keys.
		return nil, errors.New("oidc: undecodable token")
	}
	if typ, _ := tok.Header["typ"].(string); typ != "" && !strings.EqualFold(typ, "JWT") {
		return nil, errors.New("oidc: not an ID token")
	}
	if iss, _ := tok.Claims["iss"].(string); iss != p.cfg.Issuer {
		return nil, errors.New("oidc: token from another issuer")
	}
	if _, isLogout := tok.Claims["events"]; isLogout {
		return nil, errors.New("oidc: logout token where an ID token was expected")
	}
	return tok.Claims, nil
}
