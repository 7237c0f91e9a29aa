package storetest

import (
	"slices"
	"testing"
	"time"

	"github.com/keyward/keyward/store"
)

// outboxAdminTests cover what the console does to the outbox by hand: retry and drop never
// touch a message under a live claim, a retried abandoned message gets a fresh budget, and the
// recent list is newest first.
var outboxAdminTests = map[string]func(*testing.T, store.Store){
	"RetryAbandonedGetsAFreshBudget": func(t *testing.T, s store.Store) {
		ctx := t.Context()
		must(t, s.EnqueueLogout(ctx, logoutMsg("m", 0)))
		_, err := s.ClaimLogouts(ctx, at(0), at(time.Minute), "c", 10)
		must(t, err)
		must(t, s.FinishLogout(ctx, "m", "c", store.LogoutAbandoned, at(time.Second), "status 400", at(time.Second)))
		must(t, s.RetryLogout(ctx, "m", at(time.Hour)))
		row, err := s.GetLogout(ctx, "m")
		must(t, err)
		want := logoutMsg("m", 0)
		want.NextAttemptAt, want.CreatedAt, want.UpdatedAt, want.LastError = at(time.Hour), at(time.Hour), at(time.Hour), "status 400"
		wantSame(t, "retried abandoned message", want, row)
		got, err := s.ClaimLogouts(ctx, at(time.Hour), at(2*time.Hour), "c2", 10)
		must(t, err)
		if len(got) != 1 || got[0].ID != "m" || got[0].Attempts != 1 {
			t.Fatalf("claim after the retry: %+v", got)
		}
	},
	"RetryPendingKeepsAttemptsAndSkipsLiveClaims": func(t *testing.T, s store.Store) {
		ctx := t.Context()
		must(t, s.EnqueueLogout(ctx, logoutMsg("m", 0)))
		_, err := s.ClaimLogouts(ctx, at(0), at(time.Minute), "c", 10)
		must(t, err)
		// Under a live lease: neither retry nor drop touches it.
		wantErr(t, s.RetryLogout(ctx, "m", at(time.Second)), store.ErrNotFound, "retry under a live claim")
		wantErr(t, s.DropLogout(ctx, "m", "dropped", at(time.Second)), store.ErrNotFound, "drop under a live claim")
		must(t, s.FinishLogout(ctx, "m", "c", store.LogoutPending, at(time.Hour), "status 503", at(2*time.Second)))
		must(t, s.RetryLogout(ctx, "m", at(3*time.Second)))
		row, err := s.GetLogout(ctx, "m")
		must(t, err)
		want := logoutMsg("m", 0)
		want.Attempts, want.NextAttemptAt, want.UpdatedAt, want.LastError = 1, at(3*time.Second), at(3*time.Second), "status 503"
		wantSame(t, "retried pending message", want, row)
		// A claim whose lease ended (its sender died) is cleared by a retry; the late
		// sender's outcome then changes nothing.
		_, err = s.ClaimLogouts(ctx, at(3*time.Second), at(time.Minute), "dead", 10)
		must(t, err)
		must(t, s.RetryLogout(ctx, "m", at(2*time.Minute)))
		wantErr(t, s.FinishLogout(ctx, "m", "dead", store.LogoutDelivered, at(0), "", at(2*time.Minute)),
			store.ErrNotFound, "finish by a claim the retry cleared")
		if row, _ = s.GetLogout(ctx, "m"); row.Claim != "" || row.Attempts != 2 || row.Status != store.LogoutPending {
			t.Fatalf("after retrying an expired claim: %+v", row)
		}
	},
	"DropAbandonsOnlyPending": func(t *testing.T, s store.Store) {
		ctx := t.Context()
		for _, id := range []string{"p", "d"} {
			must(t, s.EnqueueLogout(ctx, logoutMsg(id, 0)))
		}
		_, err := s.ClaimLogouts(ctx, at(0), at(time.Minute), "c", 10)
		must(t, err)
		must(t, s.FinishLogout(ctx, "d", "c", store.LogoutDelivered, at(0), "", at(time.Second)))
		must(t, s.FinishLogout(ctx, "p", "c", store.LogoutPending, at(time.Hour), "status 503", at(time.Second)))
		must(t, s.DropLogout(ctx, "p", "dropped by an administrator", at(2*time.Second)))
		row, err := s.GetLogout(ctx, "p")
		must(t, err)
		if row.Status != store.LogoutAbandoned || row.LastError != "dropped by an administrator" || !row.UpdatedAt.Equal(at(2*time.Second)) {
			t.Fatalf("dropped row %+v", row)
		}
		wantErr(t, s.DropLogout(ctx, "p", "again", at(3*time.Second)), store.ErrNotFound, "drop an abandoned message")
		wantErr(t, s.DropLogout(ctx, "d", "x", at(3*time.Second)), store.ErrNotFound, "drop a delivered message")
		wantErr(t, s.RetryLogout(ctx, "d", at(3*time.Second)), store.ErrNotFound, "retry a delivered message")
		wantErr(t, s.RetryLogout(ctx, "nope", at(3*time.Second)), store.ErrNotFound, "retry an unknown message")
		if row, _ := s.GetLogout(ctx, "d"); row.Status != store.LogoutDelivered || !row.UpdatedAt.Equal(at(time.Second)) {
			t.Fatalf("refused writes changed the delivered row: %+v", row)
		}
	},
	"RecentIsNewestFirst": func(t *testing.T, s store.Store) {
		ctx := t.Context()
		for _, id := range []string{"a", "b", "c", "p"} {
			must(t, s.EnqueueLogout(ctx, logoutMsg(id, 0)))
		}
		_, err := s.ClaimLogouts(ctx, at(0), at(time.Minute), "c", 10)
		must(t, err)
		must(t, s.FinishLogout(ctx, "b", "c", store.LogoutDelivered, at(0), "", at(time.Second)))
		must(t, s.FinishLogout(ctx, "a", "c", store.LogoutDelivered, at(0), "", at(3*time.Second)))
		must(t, s.FinishLogout(ctx, "c", "c", store.LogoutDelivered, at(0), "", at(2*time.Second)))
		got, err := s.RecentLogouts(ctx, store.LogoutDelivered, 0)
		must(t, err)
		if ids := outboxIDs(got); !slices.Equal(ids, []string{"a", "c", "b"}) {
			t.Fatalf("recent delivered %v, want a c b", ids)
		}
		if got, err = s.RecentLogouts(ctx, store.LogoutDelivered, 2); err != nil || len(got) != 2 {
			t.Fatalf("limit 2: %v %v", outboxIDs(got), err)
		}
	},
}
