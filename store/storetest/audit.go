package storetest

import (
	"fmt"
	"testing"
	"time"

	"github.com/keyward/keyward/store"
)

var auditTests = map[string]func(*testing.T, store.Store){
	"AppendList": func(t *testing.T, s store.Store) {
		ctx := t.Context()
		e1 := auditEvent(1, "acc-1", "signup.completed", "192.0.2.1")
		e2 := &store.AuditEvent{Time: at(2 * time.Second), Event: "login.failed", Result: "bad_signature"}
		e3 := auditEvent(3, "acc-1", "passkey.added", "2001:db8::7")
		var last int64
		for _, e := range []*store.AuditEvent{e1, e2, e3} {
			must(t, s.AppendAudit(ctx, e))
			if e.ID <= last {
				t.Fatalf("AppendAudit assigned ID %d after %d", e.ID, last)
			}
			last = e.ID
		}
		got, err := s.ListAudit(ctx, store.AuditQuery{})
		must(t, err)
		if len(got) != 3 {
			t.Fatalf("ListAudit: %d events, want 3", len(got))
		}
		for i, want := range []*store.AuditEvent{e3, e2, e1} {
			wantSame(t, "ListAudit newest first", want, &got[i])
		}
	},
	"Filters": func(t *testing.T, s store.Store) {
		ctx := t.Context()
		var all []store.AuditEvent
		for n := 1; n <= 12; n++ {
			e := auditEvent(n, []string{"acc-a", "acc-b", ""}[n%3],
				[]string{"login.succeeded", "login.failed"}[n%2], []string{"192.0.2.1", "192.0.2.2"}[n/7])
			must(t, s.AppendAudit(ctx, e))
			all = append(all, *e)
		}
		// The expected answer is the same filter applied here, newest first.
		model := func(q store.AuditQuery) []string {
			limit := q.Limit
			if limit == 0 {
				limit = 100
			}
			var out []string
			for i := len(all) - 1; i >= 0 && len(out) < limit; i-- {
				e := all[i]
				if (q.AccountID != "" && e.AccountID != q.AccountID) || (q.Event != "" && e.Event != q.Event) ||
					(q.IP != "" && e.IP != q.IP) || (!q.Since.IsZero() && e.Time.Before(q.Since)) ||
					(!q.Until.IsZero() && !e.Time.Before(q.Until)) || (q.BeforeID != 0 && e.ID >= q.BeforeID) {
					continue
				}
				out = append(out, fmt.Sprint(e.ID))
			}
			return out
		}
		key := func(e store.AuditEvent) string { return fmt.Sprint(e.ID) }
		for _, q := range []store.AuditQuery{
			{AccountID: "acc-a"},
			{Event: "login.failed"},
			{IP: "192.0.2.2"},
			{Since: at(5 * time.Second)},
			{Until: at(9 * time.Second)},
			{Since: at(5 * time.Second), Until: at(9 * time.Second)},
			{AccountID: "acc-b", Event: "login.succeeded"},
			{AccountID: "acc-a", IP: "192.0.2.1", Since: at(2 * time.Second)},
			{Limit: 3},
			{BeforeID: all[6].ID},
			{BeforeID: all[6].ID, Limit: 2, Event: "login.succeeded"},
			{AccountID: "acc-nobody"},
		} {
			got, err := s.ListAudit(ctx, q)
			must(t, err)
			wantIDs(t, fmt.Sprintf("ListAudit %+v", q), ids(got, key), model(q))
		}
		if len(model(store.AuditQuery{Since: at(5 * time.Second), Until: at(9 * time.Second)})) != 4 {
			t.Fatal("the Since/Until case must cover a closed start and an open end")
		}
	},
	"DefaultLimitAndPaging": func(t *testing.T, s store.Store) {
		ctx := t.Context()
		const total = 130
		for n := 1; n <= total; n++ {
			must(t, s.AppendAudit(ctx, auditEvent(n, "acc-1", "login.succeeded", "192.0.2.1")))
		}
		got, err := s.ListAudit(ctx, store.AuditQuery{})
		must(t, err)
		if len(got) != 100 {
			t.Fatalf("ListAudit with no limit: %d events, want 100", len(got))
		}
		var seen []int64
		q := store.AuditQuery{AccountID: "acc-1", Limit: 40}
		for {
			page, err := s.ListAudit(ctx, q)
			must(t, err)
			if len(page) == 0 {
				break
			}
			for _, e := range page {
				if len(seen) > 0 && e.ID >= seen[len(seen)-1] {
					t.Fatalf("paging: ID %d after %d", e.ID, seen[len(seen)-1])
				}
				seen = append(seen, e.ID)
			}
			q.BeforeID = page[len(page)-1].ID
		}
		if len(seen) != total {
			t.Fatalf("paging saw %d events, want %d", len(seen), total)
		}
	},
}

var purgeTests = map[string]func(*testing.T, store.Store){
	"Counts": func(t *testing.T, s store.Store) {
		ctx := t.Context()
		now := at(time.Hour)
		seedAccounts(ctx, t, s, 1)
		acc := account(1).ID

		// Expired at exactly now, and long ago; alive a microsecond after now.
		c1, c2 := ceremony("s1", "login"), ceremony("s2", "login")
		c1.ExpiresAt, c2.ExpiresAt = now, now.Add(time.Microsecond)
		i1, i2 := interaction("i1", "s1"), interaction("i2", "s1")
		i1.ExpiresAt, i2.ExpiresAt = now.Add(-time.Minute), now.Add(time.Minute)
		s1, s2 := session("sess-1", acc), session("sess-2", acc)
		s1.ExpiresAt, s2.ExpiresAt = now, now.Add(time.Hour)
		v1, v2 := invite("inv-1"), invite("inv-2")
		v1.ExpiresAt, v2.ExpiresAt = now.Add(-time.Hour), now.Add(time.Hour)
		t1, t2, t3 := token(store.KindAccessToken, "t1", "r", "sub", "c"), token(store.KindRefreshToken, "t2", "r", "sub", "c"),
			token(store.KindPKCE, "t3", "r", "sub", "c")
		t1.ExpiresAt, t2.ExpiresAt, t3.ExpiresAt = now, now.Add(time.Second), time.Time{}

		must(t, s.PutCeremony(ctx, c1))
		must(t, s.PutCeremony(ctx, c2))
		must(t, s.CreateInteraction(ctx, i1))
		must(t, s.CreateInteraction(ctx, i2))
		must(t, s.CreateSession(ctx, s1))
		must(t, s.CreateSession(ctx, s2))
		must(t, s.CreateInvite(ctx, v1))
		must(t, s.CreateInvite(ctx, v2))
		for _, x := range []*store.OAuthToken{t1, t2, t3} {
			must(t, s.CreateOAuthToken(ctx, x))
		}
		must(t, s.CreateCredential(ctx, credential(1, acc)))
		must(t, s.AppendAudit(ctx, auditEvent(-100, acc, "old", "192.0.2.1")))

		n, err := s.PurgeExpired(ctx, now)
		must(t, err)
		if n != 5 {
			t.Fatalf("PurgeExpired = %d, want 5", n)
		}
		n, err = s.PurgeExpired(ctx, now)
		must(t, err)
		if n != 0 {
			t.Fatalf("second PurgeExpired = %d, want 0", n)
		}

		_, err = s.ConsumeCeremony(ctx, "s1", "login", now.Add(-time.Hour))
		wantErr(t, err, store.ErrNotFound, "purged ceremony")
		_, err = s.ConsumeCeremony(ctx, "s2", "login", now)
		must(t, err)
		_, err = s.GetInteraction(ctx, "i1", "s1", now.Add(-time.Hour))
		wantErr(t, err, store.ErrNotFound, "purged interaction")
		_, err = s.GetInteraction(ctx, "i2", "s1", now)
		must(t, err)
		_, err = s.GetSession(ctx, "sess-1")
		wantErr(t, err, store.ErrNotFound, "purged session")
		_, err = s.GetSession(ctx, "sess-2")
		must(t, err)
		_, err = s.GetInvite(ctx, "inv-1", now.Add(-2*time.Hour))
		wantErr(t, err, store.ErrNotFound, "purged invite")
		_, err = s.GetInvite(ctx, "inv-2", now)
		must(t, err)
		wantActive(t, s, t1.Kind, t1.Signature, true, true)
		wantActive(t, s, t2.Kind, t2.Signature, true, false)
		wantActive(t, s, t3.Kind, t3.Signature, true, false)
		_, err = s.GetCredential(ctx, credential(1, acc).ID)
		must(t, err)
		events, err := s.ListAudit(ctx, store.AuditQuery{})
		must(t, err)
		if len(events) != 1 {
			t.Fatalf("PurgeExpired touched the audit log: %d events", len(events))
		}
	},
}
