package conformance

import (
	"encoding/json"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// oidcc-discovery-endpoint-verification (OIDCCDiscoveryEndpointVerification, OC-01): every
// condition of the oidcc-config plan, plus the logout and RFC 9207 metadata Keyward adds.
func TestOIDCCDiscoveryEndpointVerification(t *testing.T) {
	o := start(t, firstParty())
	req, _ := http.NewRequestWithContext(o.ctx, http.MethodGet, o.env.Issuer+"/.well-known/openid-configuration", nil)
	r := o.do(req)
	if r.Status != http.StatusOK || !strings.HasPrefix(r.Header.Get("Content-Type"), "application/json") {
		t.Fatalf("discovery %d %q (OIDCD-4)", r.Status, r.Header.Get("Content-Type"))
	}
	d := r.Body
	str := func(k string) string { s, _ := d[k].(string); return s }
	list := func(k string) []string {
		raw, ok := d[k].([]any)
		if !ok {
			t.Fatalf("%s is not an array: %v", k, d[k])
		}
		var out []string
		for _, v := range raw {
			s, ok := v.(string)
			if !ok {
				t.Fatalf("%s has a non-string member %v", k, v)
			}
			out = append(out, s)
		}
		return out
	}

	// Issuer equals the discovery URL prefix, byte for byte, and is a valid URL (OIDCD-4.3).
	iss := str("issuer")
	if iss != o.env.Issuer || strings.HasSuffix(iss, "/") {
		t.Errorf("issuer %q, want %q", iss, o.env.Issuer)
	}
	if u, err := url.Parse(iss); err != nil || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
		t.Errorf("issuer %q is not a valid issuer URL", iss)
	}
	// Required and expected endpoints; all https when the issuer is (localhost in tests is http).
	for _, k := range []string{"authorization_endpoint", "token_endpoint", "userinfo_endpoint", "jwks_uri",
		"end_session_endpoint", "revocation_endpoint", "introspection_endpoint"} {
		v := str(k)
		if !strings.HasPrefix(v, iss+"/") {
			t.Errorf("%s = %q, want an endpoint under the issuer", k, v)
		}
		if strings.HasPrefix(iss, "https://") && !strings.HasPrefix(v, "https://") {
			t.Errorf("%s is not https", k)
		}
	}
	// No dynamic registration: registration_endpoint absent (the suite only warns).
	if _, ok := d["registration_endpoint"]; ok {
		t.Error("registration_endpoint listed but not supported")
	}
	if got := list("response_types_supported"); !slices.Equal(got, []string{"code"}) {
		t.Errorf("response_types_supported %v (OA-09: code only)", got)
	}
	if got := list("subject_types_supported"); !slices.Contains(got, "public") {
		t.Errorf("subject_types_supported %v", got)
	}
	algs := list("id_token_signing_alg_values_supported")
	if !slices.Contains(algs, "RS256") || slices.Contains(algs, "none") {
		t.Errorf("id_token_signing_alg_values_supported %v: RS256 required, none forbidden", algs)
	}
	grants := list("grant_types_supported")
	for _, g := range []string{"implicit", "password"} {
		if slices.Contains(grants, g) {
			t.Errorf("grant_types_supported lists %s (OA-09)", g)
		}
	}
	if !slices.Contains(grants, "authorization_code") || !slices.Contains(grants, "refresh_token") {
		t.Errorf("grant_types_supported %v", grants)
	}
	scopes := list("scopes_supported")
	token := regexp.MustCompile(`^[\x21\x23-\x5b\x5d-\x7e]+$`) // RFC 6749 §3.3 scope-token
	for _, s := range scopes {
		if !token.MatchString(s) {
			t.Errorf("scope %q has invalid syntax", s)
		}
	}
	if !slices.Contains(scopes, "openid") {
		t.Error("scopes_supported lacks openid")
	}
	if got := list("code_challenge_methods_supported"); !slices.Equal(got, []string{"S256"}) {
		t.Errorf("code_challenge_methods_supported %v (OA-04 d)", got)
	}
	if d["claims_parameter_supported"] != true || len(list("claims_supported")) == 0 {
		t.Error("claims_parameter_supported / claims_supported")
	}
	if d["request_parameter_supported"] != false || d["request_uri_parameter_supported"] != false {
		t.Error("request objects must be listed as unsupported")
	}
	for _, k := range []string{"authorization_response_iss_parameter_supported", "backchannel_logout_supported", "backchannel_logout_session_supported"} {
		if d[k] != true {
			t.Errorf("%s = %v, want true", k, d[k])
		}
	}
	auth := list("token_endpoint_auth_methods_supported")
	for _, m := range []string{"client_secret_basic", "client_secret_post", "none"} {
		if !slices.Contains(auth, m) {
			t.Errorf("token_endpoint_auth_methods_supported lacks %s", m)
		}
	}
	if !slices.Contains(auth, "private_key_jwt") {
		t.Error("private_key_jwt supported but not listed")
	}
	// Locales, when listed, are BCP 47 tags.
	for _, k := range []string{"ui_locales_supported", "claims_locales_supported"} {
		if _, ok := d[k]; ok {
			for _, l := range list(k) {
				if !regexp.MustCompile(`^[A-Za-z]{2,8}(-[A-Za-z0-9]{1,8})*$`).MatchString(l) {
					t.Errorf("%s has %q", k, l)
				}
			}
		}
	}
	// jwks_uri serves a valid key set with no private members (OC-01).
	jreq, _ := http.NewRequestWithContext(o.ctx, http.MethodGet, str("jwks_uri"), nil)
	jr := o.do(jreq)
	var set struct {
		Keys []map[string]any `json:"keys"`
	}
	if err := json.Unmarshal([]byte(jr.Raw), &set); err != nil || len(set.Keys) == 0 {
		t.Fatalf("jwks: %v %s", err, jr.Raw)
	}
	for _, k := range set.Keys {
		for _, private := range []string{"d", "p", "q", "dp", "dq", "qi", "k"} {
			if _, ok := k[private]; ok {
				t.Fatalf("JWKS leaks %q", private)
			}
		}
	}
	jwksKids(t, o)
}
