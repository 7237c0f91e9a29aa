package main

import (
	"strings"
	"testing"
)

// New clients sign ID tokens with ES256 (an RS256-2048 signature costs about twelve times as
// much CPU); --id-token-alg RS256 keeps RS256 for apps that need it, and anything else is
// refused with nothing written.
func TestClientsCLIIDTokenAlg(t *testing.T) {
	e := newCLIEnv(t, "")
	if _, err := e.run("clients", "add", "new", "--public", "--redirect-uri", "https://new.example/cb"); err != nil {
		t.Fatal(err)
	}
	if got := e.show("new")["id_token_signed_response_alg"]; got != "ES256" {
		t.Fatalf("default alg %q, want ES256", got)
	}
	if _, err := e.run("clients", "add", "old", "--public", "--redirect-uri", "https://old.example/cb", "--id-token-alg", "RS256"); err != nil {
		t.Fatal(err)
	}
	if got := e.show("old")["id_token_signed_response_alg"]; got != "RS256" {
		t.Fatalf("--id-token-alg RS256 gave %q", got)
	}
	if _, err := e.run("clients", "update", "new", "--id-token-alg", "HS256"); err == nil || !strings.Contains(err.Error(), "id_token_signed_response_alg") {
		t.Fatalf("HS256: %v, want an error naming id_token_signed_response_alg", err)
	}
	if got := e.show("new")["id_token_signed_response_alg"]; got != "ES256" {
		t.Fatalf("a refused update changed the alg to %q", got)
	}
	if _, err := e.run("clients", "update", "new", "--id-token-alg", "RS256"); err != nil {
		t.Fatal(err)
	}
	if got := e.show("new")["id_token_signed_response_alg"]; got != "RS256" {
		t.Fatalf("update to RS256 gave %q", got)
	}
}
