package idp

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"log/slog"
	"sync"

	"github.com/keyward/keyward/store"
)

// Audit event names written by this package.
const (
	// EventSignupBegun: creation options were handed out. It is the first step of the
	// enrollment funnel and names no account (none exists before the passkey is verified).
	EventSignupBegun     = "signup.begun"
	EventSignupCompleted = "signup.completed"
	EventSignupFailed    = "signup.failed"
	EventLoginSucceeded  = "login.succeeded"
	EventLoginFailed     = "login.failed"
	EventCloneSuspected  = "passkey.clone_suspected"
	EventInviteCreated   = "invite.created"
)

// ResultOK is the Result of a successful event; failures carry their error code.
const ResultOK = "ok"

// Audit appends e to the audit log and writes it to the structured log. It never fails the
// caller: a store error is logged instead. Time defaults to now, Result to "ok".
//
// Use it for events outside a ceremony (logout, consent, admin actions); the ceremonies here
// write their events inside their own transaction.
func (s *Service) Audit(ctx context.Context, e store.AuditEvent) {
	s.fillAudit(&e)
	if err := s.st.AppendAudit(ctx, &e); err != nil {
		s.log.ErrorContext(ctx, "audit append failed", slog.String("event", e.Event), slog.Any("error", err))
		s.logAudit(ctx, e)
		return
	}
	s.logAudit(ctx, e)
	s.observers.notify(ctx, e)
}

func (s *Service) fillAudit(e *store.AuditEvent) {
	if e.Time.IsZero() {
		e.Time = s.now().UTC()
	}
	if e.Result == "" {
		e.Result = ResultOK
	}
}

// logAudit writes one line per event. It carries no challenge, key, token or session id; the
// credential appears only as a short hash (SECURITY RT-02).
func (s *Service) logAudit(ctx context.Context, e store.AuditEvent) {
	level := slog.LevelInfo
	if e.Result != ResultOK {
		level = slog.LevelWarn
	}
	attrs := []slog.Attr{slog.String("event", e.Event), slog.String("result", e.Result)}
	add := func(k, v string) {
		if v != "" {
			attrs = append(attrs, slog.String(k, v))
		}
	}
	add("account_id", e.AccountID)
	add("actor_id", e.ActorID)
	add("credential_id_hash", credentialHash(e.CredentialID))
	add("client_id", e.ClientID)
	add("ip", e.IP)
	add("user_agent", e.UserAgent)
	if len(e.Detail) > 0 {
		attrs = append(attrs, slog.String("detail", string(e.Detail)))
	}
	s.log.LogAttrs(ctx, level, "audit", attrs...)
}

// txAudit collects the events a transaction writes so they reach the log only after commit:
// a rolled-back or retried transaction must not log what did not happen.
type txAudit struct {
	s      *Service
	events []store.AuditEvent
}

func (t *txAudit) reset() { t.events = t.events[:0] }

func (t *txAudit) append(ctx context.Context, q store.Queries, e store.AuditEvent) error {
	t.s.fillAudit(&e)
	if err := q.AppendAudit(ctx, &e); err != nil {
		return err
	}
	t.events = append(t.events, e)
	return nil
}

func (t *txAudit) flush(ctx context.Context) {
	for _, e := range t.events {
		t.s.logAudit(ctx, e)
		t.s.observers.notify(ctx, e)
	}
	t.events = nil
}

// AuditBatch lets a caller outside this package (the admin console) write audit events inside
// its own store transaction with the ceremonies' guarantees: the rows commit together with the
// change they describe, and the structured log and the observers see them only after commit.
// Call Reset at the start of every attempt of the transaction (store.WithTx retries), Append
// inside it, and Flush once it has committed.
type AuditBatch struct{ t txAudit }

// NewAuditBatch starts an empty batch.
func (s *Service) NewAuditBatch() *AuditBatch { return &AuditBatch{t: txAudit{s: s}} }

// Reset forgets the events of an attempt that did not commit.
func (b *AuditBatch) Reset() { b.t.reset() }

// Append writes e through q (Time defaults to now, Result to "ok").
func (b *AuditBatch) Append(ctx context.Context, q store.Queries, e store.AuditEvent) error {
	return b.t.append(ctx, q, e)
}

// Flush logs and publishes the committed events.
func (b *AuditBatch) Flush(ctx context.Context) { b.t.flush(ctx) }

// AuditObserver sees every audit event once it is durably appended: after the commit of the
// transaction that wrote it, never for a rolled-back attempt, so counters kept by an observer
// match the audit table. It runs on the request's goroutine: it must be quick and must not call
// back into the Service.
type AuditObserver func(ctx context.Context, e store.AuditEvent)

// ObserveAudit adds an observer. Observers may be added while the server runs.
func (s *Service) ObserveAudit(fn AuditObserver) { s.observers.add(fn) }

// auditObservers is the Service's observer list.
type auditObservers struct {
	mu  sync.RWMutex
	fns []AuditObserver
}

func (o *auditObservers) add(fn AuditObserver) {
	o.mu.Lock()
	o.fns = append(o.fns, fn)
	o.mu.Unlock()
}

func (o *auditObservers) notify(ctx context.Context, e store.AuditEvent) {
	o.mu.RLock()
	fns := o.fns
	o.mu.RUnlock()
	for _, fn := range fns {
		fn(ctx, e)
	}
}

// credentialRef is how an audit row names a credential: its id in base64url.
func credentialRef(id []byte) string {
	if len(id) == 0 {
		return ""
	}
	return base64.RawURLEncoding.EncodeToString(id)
}

// credentialHash shortens a credential reference for logs.
func credentialHash(ref string) string {
	if ref == "" {
		return ""
	}
	sum := sha256.Sum256([]byte(ref))
	return hex.EncodeToString(sum[:8])
}

// detail encodes an audit detail object; the values are ours, so encoding cannot fail.
func detail(kv map[string]any) []byte {
	if len(kv) == 0 {
		return nil
	}
	b, _ := json.Marshal(kv)
	return b
}

// metaEvent starts an event from the request metadata.
func metaEvent(event string, m RequestMeta) store.AuditEvent {
	return store.AuditEvent{Event: event, IP: m.IP, UserAgent: m.UserAgent}
}

// logRefusal records why a ceremony was refused, for operators. The cause text of go-webauthn
// errors is their Details only (its DevInfo, which can hold the challenge, is never printed).
func (s *Service) logRefusal(ctx context.Context, msg string, e *Error) {
	attrs := []slog.Attr{slog.String("code", e.Code)}
	if e.Err != nil {
		attrs = append(attrs, slog.String("cause", e.Err.Error()))
	}
	s.log.LogAttrs(ctx, slog.LevelInfo, msg, attrs...)
}
