package idp

import (
	"testing"

	"github.com/keyward/keyward/internal/softauthn"
)

// TestWA11_UnusableKeyRefusedAtSignup: go-webauthn v0.18.2 stores an EC2 key whose curve does
// not match its alg, so idp parses the key itself before storing it.
func TestWA11_UnusableKeyRefusedAtSignup(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.Registration = RegistrationOpen })
	e.admin()
	for name, forge := range map[string]softauthn.Forge{
		"p384_label_on_es256": softauthn.Curve(2),
		"ec2_labelled_rs256":  softauthn.Alg(-257),
	} {
		t.Run(name, func(t *testing.T) {
			before := e.countAccounts()
			a := newAuthenticator(t, softauthn.Options{})
			_, err := e.signup(a, "key-"+name, SignupRequest{Email: name + "@example.com", DisplayName: "K"}, forge)
			if CodeOf(err) != CodeVerificationFailed {
				t.Fatalf("got %v, want verification_failed", err)
			}
			if e.countAccounts() != before {
				t.Fatal("an account was created with an unusable key")
			}
		})
	}
}
