package idp_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/go-webauthn/webauthn/protocol"

	"github.com/keyward/keyward/idp"
	"github.com/keyward/keyward/internal/softauthn"
	"github.com/keyward/keyward/store/sqlite"
)

// Benchmarks of the passkey ceremonies on a real SQLite file. The authenticator's work (the
// client side) runs with the timer stopped and outside the CPU meter: cpu-µs/op is the process
// CPU time of the measured calls alone, the figure to compare on a shared machine.
//
//	go test -run '^$' -bench . ./idp/

// perfCPU is the process's user plus system CPU time.
func perfCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// perfMeter adds up CPU time over the measured sections only.
type perfMeter struct {
	total, start time.Duration
}

func (m *perfMeter) on()  { m.start = perfCPU() }
func (m *perfMeter) off() { m.total += perfCPU() - m.start }
func (m *perfMeter) report(b *testing.B) {
	b.ReportMetric(float64(m.total.Microseconds())/float64(b.N), "cpu-µs/op")
}

// perfService opens a Service on a new SQLite file and signs one person up (through the setup
// invite, as the first account is created in production).
func perfService(b *testing.B) (*idp.Service, *softauthn.Authenticator) {
	b.Helper()
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(b.TempDir(), "keyward.db"), sqlite.Options{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { st.Close() })
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	svc, err := idp.New(idp.Config{RPID: "localhost", RPOrigins: []string{"http://localhost:8080"},
		Registration: idp.RegistrationOpen, EnumerationKey: key}, st, nil, time.Now)
	if err != nil {
		b.Fatal(err)
	}
	auth, err := softauthn.New(softauthn.Options{Origin: "http://localhost:8080"})
	if err != nil {
		b.Fatal(err)
	}
	token, _, err := svc.EnsureSetupInvite(ctx)
	if err != nil {
		b.Fatal(err)
	}
	m := idp.RequestMeta{SessionID: "perf-signup", IP: "127.0.0.1", UserAgent: "bench"}
	creation, err := svc.BeginSignup(ctx, m, idp.SignupRequest{Email: "perf@example.com", DisplayName: "Perf", Invite: token})
	if err != nil {
		b.Fatal(err)
	}
	opts, _ := json.Marshal(creation)
	cred, err := auth.Create(opts)
	if err != nil {
		b.Fatal(err)
	}
	parsed, err := protocol.ParseCredentialCreationResponseBody(bytes.NewReader(cred))
	if err != nil {
		b.Fatal(err)
	}
	if _, err := svc.FinishSignup(ctx, m, parsed); err != nil {
		b.Fatal(err)
	}
	return svc, auth
}

// perfAssertion begins a discoverable sign-in on session sid and has the authenticator answer.
func perfAssertion(b *testing.B, svc *idp.Service, auth *softauthn.Authenticator, m idp.RequestMeta) *protocol.ParsedCredentialAssertionData {
	assertion, err := svc.BeginLogin(context.Background(), m, idp.LoginRequest{})
	if err != nil {
		b.Fatal(err)
	}
	opts, _ := json.Marshal(assertion)
	resp, err := auth.Get(opts)
	if err != nil {
		b.Fatal(err)
	}
	parsed, err := protocol.ParseCredentialRequestResponseBody(bytes.NewReader(resp))
	if err != nil {
		b.Fatal(err)
	}
	return parsed
}

// BenchmarkFinishLogin is the server side of a passkey assertion: in one transaction consume
// the ceremony, look the account up by user handle, verify the assertion, write back the
// counter and flags, append the audit event.
func BenchmarkFinishLogin(b *testing.B) {
	svc, auth := perfService(b)
	ctx := context.Background()
	var m perfMeter
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		meta := idp.RequestMeta{SessionID: fmt.Sprintf("perf-%d", i), IP: "127.0.0.1", UserAgent: "bench"}
		parsed := perfAssertion(b, svc, auth, meta)
		b.StartTimer()
		m.on()
		if _, err := svc.FinishLogin(ctx, meta, parsed); err != nil {
			b.Fatal(err)
		}
		m.off()
	}
	m.report(b)
}

// BenchmarkBeginLogin stores a discoverable sign-in challenge (one write).
func BenchmarkBeginLogin(b *testing.B) {
	svc, _ := perfService(b)
	ctx := context.Background()
	var m perfMeter
	b.ReportAllocs()
	m.on()
	for i := 0; b.Loop(); i++ {
		meta := idp.RequestMeta{SessionID: fmt.Sprintf("perf-%d", i), IP: "127.0.0.1", UserAgent: "bench"}
		if _, err := svc.BeginLogin(ctx, meta, idp.LoginRequest{}); err != nil {
			b.Fatal(err)
		}
	}
	m.off()
	m.report(b)
}

// BenchmarkAssertionSignatureFloor is the cryptographic floor of FinishLogin: one P-256 ECDSA
// verification over authenticatorData ‖ SHA-256(clientDataJSON).
func BenchmarkAssertionSignatureFloor(b *testing.B) {
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	msg := make([]byte, 37+32)
	digest := sha256.Sum256(msg)
	sig, _ := ecdsa.SignASN1(rand.Reader, key, digest[:])
	var m perfMeter
	b.ReportAllocs()
	m.on()
	for b.Loop() {
		d := sha256.Sum256(msg)
		if !ecdsa.VerifyASN1(&key.PublicKey, d[:], sig) {
			b.Fatal("signature does not verify")
		}
	}
	m.off()
	m.report(b)
}
