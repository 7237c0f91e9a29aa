package idp

import (
	"context"

	"github.com/keyward/keyward/store"
)

// finishCeremony runs the body of a ceremony's finish in one transaction and keeps the rule
// every finish shares: the ceremony is single use, so a refusal (*Error from body) commits what
// body wrote — the consumed ceremony, a clone warning — together with the failure event that
// failed builds; a store error rolls everything back, so the same response may be retried.
// op names the operation for errors and logs ("login", "signup", "step-up").
func finishCeremony[T any](ctx context.Context, s *Service, op string,
	body func(q store.Queries, audit *txAudit) (T, *Error, error),
	failed func(f *Error) store.AuditEvent) (T, error) {
	audit := &txAudit{s: s}
	var (
		out  T
		fail *Error
	)
	err := store.WithTx(ctx, s.st, func(q store.Queries) error {
		var zero T
		audit.reset()
		out, fail = zero, nil
		a, f, err := body(q, audit)
		if err != nil {
			return err
		}
		if f != nil {
			fail = f
			return audit.append(ctx, q, failed(f))
		}
		out = a
		return nil
	})
	if err != nil {
		var zero T
		return zero, txError("finish "+op, err)
	}
	audit.flush(ctx)
	if fail != nil {
		s.logRefusal(ctx, op+" refused", fail)
		var zero T
		return zero, fail
	}
	return out, nil
}
