package postgres

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/keyward/keyward/store"
)

// BenchmarkSignInStoreOps measures the store traffic of one passkey sign-in: the ceremony
// stored at begin, then one transaction that consumes it, loads the account and its passkeys,
// writes back the sign count, records the audit event and creates the session.
func BenchmarkSignInStoreOps(b *testing.B) {
	ctx := context.Background()
	s := openTest(b, freshSchema(b), Options{})
	now := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	acc := testAccount("bench")
	if err := s.CreateAccount(ctx, acc); err != nil {
		b.Fatal(err)
	}
	if err := s.CreateCredential(ctx, testCredential("bench-cred", acc.ID)); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for i := range b.N {
		sid := fmt.Sprintf("pre-%d", i)
		err := s.PutCeremony(ctx, &store.Ceremony{SessionID: sid, Purpose: "login", Data: []byte(`{"challenge":"c"}`),
			CreatedAt: now, ExpiresAt: now.Add(5 * time.Minute)})
		if err != nil {
			b.Fatal(err)
		}
		err = store.WithTx(ctx, s, func(q store.Queries) error {
			if _, err := q.ConsumeCeremony(ctx, sid, "login", now); err != nil {
				return err
			}
			a, err := q.GetAccountByUserHandle(ctx, acc.UserHandle)
			if err != nil {
				return err
			}
			creds, err := q.ListCredentials(ctx, a.ID)
			if err != nil {
				return err
			}
			c := creds[0]
			c.SignCount++
			c.LastUsedAt = now
			if err := q.UpdateCredential(ctx, &c); err != nil {
				return err
			}
			if err := q.AppendAudit(ctx, &store.AuditEvent{Time: now, Event: "login.succeeded", AccountID: a.ID, Result: "ok"}); err != nil {
				return err
			}
			return q.CreateSession(ctx, &store.Session{ID: fmt.Sprintf("sess-%d", i), AccountID: a.ID, AuthTime: now,
				AMR: []string{"hwk", "user"}, CreatedAt: now, LastSeenAt: now, ExpiresAt: now.Add(time.Hour)})
		})
		if err != nil {
			b.Fatal(err)
		}
	}
}
