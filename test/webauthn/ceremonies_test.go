package webauthn

import (
	"slices"
	"testing"

	"github.com/keyward/keyward/internal/softauthn"
	"github.com/keyward/keyward/internal/testenv"
)

// ceremony is one of Keyward's four WebAuthn ceremonies, ready to run once with forges
// applied to the authenticator's response. who are the people a refusal must leave as they
// were; signedIn, when set, is the person whose session the ceremony runs in and who must
// still be signed in after a refusal (step-up, add passkey); otherwise no one may end up
// signed in (sign-in, sign-up).
type ceremony struct {
	name     string
	run      func(t *testing.T, forges ...softauthn.Forge) reply
	who      []*person
	signedIn *person
}

// ceremonyKinds builds each ceremony with people of its own; tag keeps them apart when a test
// builds them more than once.
func ceremonyKinds(t *testing.T, e *testenv.Env, tag string) []ceremony {
	t.Helper()
	login := signedOutPerson(t, e, tag+"-login")
	signup := newcomer(t, e, tag+"-signup")
	adder := signedUp(t, e, tag+"-add")
	stepper := signedUp(t, e, tag+"-stepup")
	return []ceremony{
		{name: "login", who: []*person{login}, run: func(t *testing.T, forges ...softauthn.Forge) reply {
			return login.loginWith(t, login.b.Auth, `{}`, forges...)
		}},
		{name: "signup", who: []*person{signup}, run: func(t *testing.T, forges ...softauthn.Forge) reply {
			return signup.signupWith(t, forges...)
		}},
		{name: "add_passkey", who: []*person{adder}, signedIn: adder, run: func(t *testing.T, forges ...softauthn.Forge) reply {
			// A new device each time: a device already holding one of the account's passkeys
			// would refuse the ceremony itself (excludeCredentials).
			return adder.addPasskeyWith(t, e.NewAuthenticator(), forges...)
		}},
		{name: "stepup", who: []*person{stepper}, signedIn: stepper, run: func(t *testing.T, forges ...softauthn.Forge) reply {
			return stepper.stepUpWith(t, stepper.b.Auth, forges...)
		}},
	}
}

// refusedEverywhere runs each ceremony with forges and checks every run is refused without
// effect. Before that, a twin of each ceremony runs unforged and must succeed, so a refusal
// can only come from the forged field.
func refusedEverywhere(t *testing.T, e *testenv.Env, cases map[string][]softauthn.Forge, only ...string) {
	t.Helper()
	controls := ceremonyKinds(t, e, "control")
	kinds := ceremonyKinds(t, e, "forged")
	for i, c := range kinds {
		if len(only) > 0 && !slices.Contains(only, c.name) {
			continue
		}
		t.Run(c.name, func(t *testing.T) {
			ok(t, controls[i].run(t))
			for name, forges := range cases {
				before := snapshot(t, c.who...)
				r := c.run(t, forges...)
				t.Run(name, func(t *testing.T) { refused(t, r, before) })
				if c.signedIn == nil {
					for _, p := range c.who {
						if p.signedIn(t) {
							t.Fatalf("%s: a refused %s signed the browser in", name, c.name)
						}
					}
				} else if !c.signedIn.signedIn(t) {
					t.Fatalf("%s: a refused %s signed the browser out", name, c.name)
				}
			}
		})
	}
}
