package idp

import (
	"context"

	"github.com/keyward/keyward/store"
)

// Administration rules the console enforces but does not own. The server must always keep
// someone who can run it: the last enabled administrator can neither lose the role (their own
// or by another's hand) nor be disabled. The checks run inside the caller's transaction, so
// the change and the check see the same rows; on SQLite the write lock serialises two
// administrators demoting each other, on PostgreSQL (read committed, no admin count to lock)
// both could pass, which `keyward users invite --admin` repairs.

// CodeLastAdmin refuses a change that would leave no enabled administrator.
const CodeLastAdmin = "last_admin"

// ErrLastAdmin is CodeLastAdmin's error.
var ErrLastAdmin = &Error{Code: CodeLastAdmin, Status: 409,
	Message: "This is the last administrator: make someone else an administrator first."}

// adminScanPage bounds each read of the account list while looking for another administrator:
// the store port has no count of administrators.
const adminScanPage = 500

// RequireOtherAdmin returns ErrLastAdmin unless an enabled administrator other than accountID
// exists. Call it in the transaction q of any change that makes accountID stop being an enabled
// administrator (removing the role, disabling the account) before making the change.
func RequireOtherAdmin(ctx context.Context, q store.Queries, accountID string) error {
	for offset := 0; ; offset += adminScanPage {
		accts, err := q.ListAccounts(ctx, store.AccountQuery{Limit: adminScanPage, Offset: offset})
		if err != nil {
			return err
		}
		for _, acc := range accts {
			if acc.Admin && !acc.Disabled && acc.ID != accountID {
				return nil
			}
		}
		if len(accts) < adminScanPage {
			return ErrLastAdmin
		}
	}
}

// CancelPendingAsAdmin cancels a pending action of any account on an administrator's behalf
// (the caller checks step-up). The pending.cancelled event names the administrator as its
// actor (performed_by), and the account is notified as for a cancellation of its own. An
// unknown or no longer pending action is ErrPendingNotFound; a caller who is not an enabled
// administrator is ErrForbidden and nothing changes.
func (s *Service) CancelPendingAsAdmin(ctx context.Context, m RequestMeta, adminID, id string) (*store.PendingAction, error) {
	admin, err := s.activeAccount(ctx, s.st, adminID)
	if err != nil {
		return nil, txError("cancel pending action", err)
	}
	if !admin.Admin {
		return nil, ErrForbidden
	}
	return s.cancelPending(ctx, m, admin.ID, func(q store.Queries) (*store.PendingAction, error) {
		return q.GetPendingAction(ctx, id)
	})
}
