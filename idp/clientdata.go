package idp

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"
)

// strictClientData refuses a clientDataJSON that two JSON parsers could read differently
// (WA-13). encoding/json, and so go-webauthn, keeps the last of two members with the same
// name, while other parsers keep the first: with {"origin":"https://evil.test",…,"origin":
// <ours>} the signed bytes would name an origin Keyward never verified. Browsers never
// repeat a member, so refusing costs nothing.
func strictClientData(raw []byte) error {
	dec := json.NewDecoder(bytes.NewReader(raw))
	tok, err := dec.Token()
	if err != nil {
		return fmt.Errorf("client data: %w", err)
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		return errors.New("client data is not a JSON object")
	}
	seen := map[string]bool{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return fmt.Errorf("client data: %w", err)
		}
		// encoding/json matches member names case-insensitively and keeps the last match, so
		// "Origin" after "origin" would be what go-webauthn reads: compare folded names.
		name, _ := tok.(string)
		folded := strings.ToLower(name)
		if seen[folded] {
			return fmt.Errorf("client data member %q appears twice", name)
		}
		seen[folded] = true
		var skip json.RawMessage
		if err := dec.Decode(&skip); err != nil {
			return fmt.Errorf("client data: %w", err)
		}
	}
	return nil
}

// exactOrigin requires the origin a ceremony's client data names to be, byte for byte, one of
// the configured origins as a browser serialises it (lower-case scheme and host, no trailing
// slash). go-webauthn's own check is more forgiving (it accepts "http://LocalHost:8080"); no
// browser ever sends such a spelling, so accepting one only widens what a forged or replayed
// response can look like.
func (s *Service) exactOrigin(origin string) error {
	for _, o := range s.cfg.RPOrigins {
		if origin == browserOrigin(o) {
			return nil
		}
	}
	return fmt.Errorf("client data origin %q is not one of the configured origins as a browser writes it", origin)
}

// browserOrigin is a configured origin as a browser serialises it (RFC 6454 §6.1): lower-case
// scheme and host, no default port, no trailing slash.
func browserOrigin(o string) string {
	u, err := url.Parse(strings.TrimSuffix(o, "/"))
	if err != nil {
		return o
	}
	scheme, host := strings.ToLower(u.Scheme), strings.ToLower(u.Hostname())
	if p := u.Port(); p != "" && !(scheme == "https" && p == "443") && !(scheme == "http" && p == "80") {
		host = net.JoinHostPort(host, p)
	} else if strings.Contains(host, ":") {
		host = "[" + host + "]"
	}
	return scheme + "://" + host
}
