package softauthn

import (
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/go-webauthn/webauthn/protocol"
	"github.com/go-webauthn/webauthn/webauthn"
)

func TestNewValidatesOptions(t *testing.T) {
	for _, o := range []Options{
		{},
		{Origin: "localhost:8080"},
		{Origin: testOrigin, AAGUID: make([]byte, 15)},
	} {
		if _, err := New(o); err == nil {
			t.Errorf("New(%+v) accepted", o)
		}
	}
	a, err := New(Options{Origin: testOrigin, AAGUID: bytes.Repeat([]byte{7}, 16)})
	if err != nil {
		t.Fatal(err)
	}
	rp := newTestRP(t)
	cred := rp.mustRegister(a, rp.newUser())
	if !bytes.Equal(cred.Authenticator.AAGUID, bytes.Repeat([]byte{7}, 16)) {
		t.Fatalf("AAGUID %x", cred.Authenticator.AAGUID)
	}
}

func creationJSON(t *testing.T, mutate func(*protocol.PublicKeyCredentialCreationOptions)) []byte {
	t.Helper()
	rp := newTestRP(t)
	creation, _, err := rp.wa.BeginRegistration(rp.newUser(), keywardParams)
	if err != nil {
		t.Fatal(err)
	}
	mutate(&creation.Response)
	return mustJSON(t, creation)
}

func requestJSON(t *testing.T, allow ...[]byte) []byte {
	t.Helper()
	var opts []webauthn.LoginOption
	if len(allow) > 0 {
		var list []protocol.CredentialDescriptor
		for _, id := range allow {
			list = append(list, protocol.CredentialDescriptor{Type: protocol.PublicKeyCredentialType, CredentialID: id})
		}
		opts = append(opts, webauthn.WithAllowedCredentials(list))
	}
	assertion, _, err := newTestRP(t).wa.BeginDiscoverableLogin(opts...)
	if err != nil {
		t.Fatal(err)
	}
	return mustJSON(t, assertion)
}

func TestCreateRefusesLikeABrowser(t *testing.T) {
	a := newTestAuthenticator(t)
	if _, err := a.Create(creationJSON(t, func(*protocol.PublicKeyCredentialCreationOptions) {})); err != nil {
		t.Fatal(err)
	}
	held := a.Credentials()[0].ID
	tests := []struct {
		name   string
		json   []byte
		forges []Forge
		want   error
	}{
		{"ES256 not offered", creationJSON(t, func(o *protocol.PublicKeyCredentialCreationOptions) {
			o.Parameters = []protocol.CredentialParameter{{Type: "public-key", Algorithm: -257}}
		}), nil, ErrNotSupported},
		{"excluded credential held", creationJSON(t, func(o *protocol.PublicKeyCredentialCreationOptions) {
			o.CredentialExcludeList = []protocol.CredentialDescriptor{{Type: "public-key", CredentialID: []byte("x")}, {Type: "public-key", CredentialID: held}}
		}), nil, ErrInvalidState},
		{"rp id of another site", creationJSON(t, func(o *protocol.PublicKeyCredentialCreationOptions) { o.RelyingParty.ID = "evil.test" }), nil, ErrSecurity},
		{"rp id a subdomain of the origin", creationJSON(t, func(o *protocol.PublicKeyCredentialCreationOptions) { o.RelyingParty.ID = "a.localhost" }), nil, ErrSecurity},
		{"no challenge", creationJSON(t, func(o *protocol.PublicKeyCredentialCreationOptions) { o.Challenge = nil }), nil, ErrInvalidOptions},
		{"user id too long", creationJSON(t, func(o *protocol.PublicKeyCredentialCreationOptions) {
			o.User.ID = protocol.URLEncodedBase64(make([]byte, 65))
		}), nil, ErrInvalidOptions},
		{"not JSON", []byte("{"), nil, ErrInvalidOptions},
		{"Get-only forge", creationJSON(t, func(*protocol.PublicKeyCredentialCreationOptions) {}), []Forge{UserHandle(nil)}, ErrForge},
		{"BadSignature without SelfAttestation", creationJSON(t, func(*protocol.PublicKeyCredentialCreationOptions) {}), []Forge{BadSignature()}, ErrForge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := a.Create(tt.json, tt.forges...); !errors.Is(err, tt.want) {
				t.Fatalf("err %v, want %v", err, tt.want)
			}
		})
	}
	if n := len(a.Credentials()); n != 1 {
		t.Fatalf("%d credentials after refusals, want 1", n)
	}
}

func TestGetPicksCredential(t *testing.T) {
	a := newTestAuthenticator(t)
	for range 3 {
		if _, err := a.Create(creationJSON(t, func(*protocol.PublicKeyCredentialCreationOptions) {})); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := a.Create(creationJSON(t, func(o *protocol.PublicKeyCredentialCreationOptions) { o.RelyingParty.ID = "" })); err != nil {
		t.Fatal(err) // no rp.id: the origin's host, as in a browser
	}
	creds := a.Credentials()
	ids := func(i int) []byte { return creds[i].ID }
	tests := []struct {
		name   string
		json   []byte
		forges []Forge
		want   []byte
		err    error
	}{
		{"discoverable: first resident", requestJSON(t), nil, ids(0), nil},
		{"allow list order wins", requestJSON(t, []byte("unknown"), ids(2), ids(1)), nil, ids(2), nil},
		{"UseCredential", requestJSON(t), []Forge{UseCredential(ids(1))}, ids(1), nil},
		{"UseCredential outside the allow list", requestJSON(t, ids(0)), []Forge{UseCredential(ids(3))}, ids(3), nil},
		{"nothing allowed is held", requestJSON(t, []byte("unknown")), nil, nil, ErrNotAllowed},
		{"UseCredential not held", requestJSON(t), []Forge{UseCredential([]byte("unknown"))}, nil, ErrNotAllowed},
		{"Create-only forge", requestJSON(t), []Forge{Alg(-8)}, nil, ErrForge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, err := a.Get(tt.json, tt.forges...)
			if !errors.Is(err, tt.err) {
				t.Fatalf("err %v, want %v", err, tt.err)
			}
			if err == nil && !bytes.Equal(decodeResponse(t, out).rawID, tt.want) {
				t.Fatalf("answered with %x, want %x", decodeResponse(t, out).rawID, tt.want)
			}
		})
	}
	empty := newTestAuthenticator(t)
	if _, err := empty.Get(requestJSON(t)); !errors.Is(err, ErrNotAllowed) {
		t.Fatalf("empty authenticator: %v", err)
	}
}

type decoded struct {
	raw                               map[string]any
	rawID, clientData, authData, user []byte
}

// decodeResponse checks the toJSON() shape: base64url without padding everywhere.
func decodeResponse(t *testing.T, out []byte) decoded {
	t.Helper()
	var d decoded
	if err := json.Unmarshal(out, &d.raw); err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(out, []byte("=")) {
		t.Fatalf("padding in %s", out)
	}
	dec := func(s any) []byte {
		b, err := base64.RawURLEncoding.DecodeString(s.(string))
		if err != nil {
			t.Fatalf("%v: %v", s, err)
		}
		return b
	}
	resp := d.raw["response"].(map[string]any)
	d.rawID = dec(d.raw["rawId"])
	d.clientData = dec(resp["clientDataJSON"])
	d.authData = dec(resp["authenticatorData"])
	if h, ok := resp["userHandle"]; ok {
		d.user = dec(h)
	}
	return d
}

func keys(m map[string]any) string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return strings.Join(ks, ",")
}

func TestResponseShape(t *testing.T) {
	a := newTestAuthenticator(t)
	reg, err := a.Create(creationJSON(t, func(o *protocol.PublicKeyCredentialCreationOptions) {
		o.Extensions = protocol.AuthenticationExtensions{CredProps: true}
	}))
	if err != nil {
		t.Fatal(err)
	}
	d := decodeResponse(t, reg)
	if got := keys(d.raw); got != "authenticatorAttachment,clientExtensionResults,id,rawId,response,type" {
		t.Fatalf("registration keys %s", got)
	}
	if got := keys(d.raw["response"].(map[string]any)); got != "attestationObject,authenticatorData,clientDataJSON,publicKey,publicKeyAlgorithm,transports" {
		t.Fatalf("attestation response keys %s", got)
	}
	if d.raw["type"] != "public-key" || d.raw["authenticatorAttachment"] != "platform" || d.raw["id"] != base64.RawURLEncoding.EncodeToString(d.rawID) {
		t.Fatalf("registration %s", reg)
	}
	if got := fmt.Sprint(d.raw["clientExtensionResults"]); got != "map[credProps:map[rk:true]]" {
		t.Fatalf("clientExtensionResults %s", got)
	}
	if !strings.HasPrefix(string(d.clientData), `{"type":"webauthn.create","challenge":"`) || !strings.HasSuffix(string(d.clientData), `","origin":"http://localhost:8080","crossOrigin":false}`) {
		t.Fatalf("clientDataJSON %s", d.clientData)
	}

	get, err := a.Get(requestJSON(t))
	if err != nil {
		t.Fatal(err)
	}
	d = decodeResponse(t, get)
	if got := keys(d.raw["response"].(map[string]any)); got != "authenticatorData,clientDataJSON,signature,userHandle" {
		t.Fatalf("assertion response keys %s", got)
	}
	if got := fmt.Sprint(d.raw["clientExtensionResults"]); got != "map[]" {
		t.Fatalf("clientExtensionResults %s", got)
	}
	if !bytes.Equal(d.user, a.Credentials()[0].UserHandle) {
		t.Fatalf("userHandle %x", d.user)
	}
	noHandle, err := a.Get(requestJSON(t), UserHandle(nil))
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := decodeResponse(t, noHandle).raw["response"].(map[string]any)["userHandle"]; ok {
		t.Fatal("UserHandle(nil) left userHandle in the response")
	}
}

func signCount(t *testing.T, out []byte) uint32 {
	t.Helper()
	return binary.BigEndian.Uint32(decodeResponse(t, out).authData[33:37])
}

func TestCounters(t *testing.T) {
	a := newTestAuthenticator(t)
	if _, err := a.Create(creationJSON(t, func(*protocol.PublicKeyCredentialCreationOptions) {}), Counter(5)); err != nil {
		t.Fatal(err)
	}
	id := a.Credentials()[0].ID
	for _, step := range []struct {
		forges []Forge
		want   uint32
	}{{nil, 6}, {nil, 7}, {[]Forge{Counter(3)}, 3}, {nil, 4}} {
		out, err := a.Get(requestJSON(t), step.forges...)
		if err != nil {
			t.Fatal(err)
		}
		if got := signCount(t, out); got != step.want {
			t.Fatalf("sign count %d, want %d", got, step.want)
		}
	}
	if c, _ := a.Credential(id); c.SignCount != 4 {
		t.Fatalf("stored count %d, want 4", c.SignCount)
	}
	if !a.SetSignCount(id, 100) || a.SetSignCount([]byte("unknown"), 1) {
		t.Fatal("SetSignCount result")
	}
	if out, _ := a.Get(requestJSON(t)); signCount(t, out) != 101 {
		t.Fatal("SetSignCount not applied")
	}
}

// TestResidentCredentialOverwrite: a second registration of the same account on the same
// authenticator replaces the first, as CTAP2 requires.
func TestResidentCredentialOverwrite(t *testing.T) {
	rp := newTestRP(t)
	a := newTestAuthenticator(t)
	u := rp.newUser()
	rp.mustRegister(a, u)
	u.creds = nil // the RP forgot it, so excludeCredentials is empty
	second := rp.mustRegister(a, u)
	creds := a.Credentials()
	if len(creds) != 1 || !bytes.Equal(creds[0].ID, second.ID) || !bytes.Equal(creds[0].UserHandle, u.id) {
		t.Fatalf("credentials %+v", creds)
	}
}

// TestCloneAndCollision drives the scenarios Import exists for through go-webauthn: a cloned
// key whose counter lags (clone warning), and a credential id registered by two accounts.
func TestCloneAndCollision(t *testing.T) {
	rp := newTestRP(t)
	a, b := newTestAuthenticator(t), newTestAuthenticator(t)
	alice := rp.newUser()
	orig := rp.mustRegister(a, alice)
	c, ok := a.Credential(orig.ID)
	if !ok {
		t.Fatal("credential not held")
	}
	if err := b.Import(c); err != nil {
		t.Fatal(err)
	}
	if err := b.Import(c); !errors.Is(err, ErrInvalidState) {
		t.Fatalf("second import: %v", err)
	}
	for range 2 {
		if _, err := rp.loginUser(a, alice); err != nil {
			t.Fatal(errText(err))
		}
	}
	cred, err := rp.loginUser(b, alice) // the clone reports 1 after the original reached 2
	if err != nil {
		t.Fatal(errText(err))
	}
	if !cred.Authenticator.CloneWarning {
		t.Fatal("no clone warning for the lagging copy")
	}

	// Bob's authenticator makes a new key under Alice's credential id. go-webauthn accepts it
	// (uniqueness is the RP's job, WA-10), and the key is Bob's own.
	bobAuth := newTestAuthenticator(t)
	bob := rp.newUser()
	dup, err := rp.register(bobAuth, bob, CredentialID(orig.ID))
	if err != nil {
		t.Fatal(errText(err))
	}
	if !bytes.Equal(dup.ID, orig.ID) || bytes.Equal(dup.PublicKey, orig.PublicKey) {
		t.Fatal("collision registration did not reuse the id with a new key")
	}
	if !a.Remove(orig.ID) || a.Remove(orig.ID) || len(a.Credentials()) != 0 {
		t.Fatal("Remove")
	}
	if err := a.Import(Credential{ID: []byte("x"), RPID: testRPID}); err == nil {
		t.Fatal("Import without a key accepted")
	}
}

// TestBackupStateMayChange: BS 0→1 is legitimate (a passkey got synced) and go-webauthn
// records it.
func TestBackupStateMayChange(t *testing.T) {
	rp := newTestRP(t)
	no := false
	a := newTestAuthenticator(t, func(o *Options) { o.BackupState = &no })
	rp.mustRegister(a, rp.newUser())
	_, cred, err := rp.login(a, SetFlag(FlagBS, true))
	if err != nil {
		t.Fatal(errText(err))
	}
	if !cred.Flags.BackupState {
		t.Fatal("BS=1 not recorded")
	}
}

func TestConcurrentGet(t *testing.T) {
	a := newTestAuthenticator(t)
	if _, err := a.Create(creationJSON(t, func(*protocol.PublicKeyCredentialCreationOptions) {})); err != nil {
		t.Fatal(err)
	}
	req := requestJSON(t)
	const n = 64
	counts := make([]uint32, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			out, err := a.Get(req)
			if err != nil {
				t.Error(err)
				return
			}
			counts[i] = signCount(t, out)
		})
	}
	wg.Wait()
	sort.Slice(counts, func(i, j int) bool { return counts[i] < counts[j] })
	for i, c := range counts {
		if c != uint32(i+1) {
			t.Fatalf("counts %v: each assertion must get its own count", counts)
		}
	}
}

func BenchmarkGet(b *testing.B) {
	rp := newTestRP(b)
	a := newTestAuthenticator(b)
	rp.mustRegister(a, rp.newUser())
	assertion, _, err := rp.wa.BeginDiscoverableLogin()
	if err != nil {
		b.Fatal(err)
	}
	req := mustJSON(b, assertion)
	for b.Loop() {
		if _, err := a.Get(req); err != nil {
			b.Fatal(err)
		}
	}
}
