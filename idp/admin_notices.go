package idp

import "context"

// AdminChange names what an administrator did to someone's account, for the notice mailed to
// that person: administrator abuse (or a stolen administrator session) is a takeover path, and
// the owner hears of every change made to their account as they do of their own.
type AdminChange string

const (
	AdminDisabledAccount AdminChange = "disabled"
	AdminEnabledAccount  AdminChange = "enabled"
	AdminEndedSessions   AdminChange = "sessions_ended"
	AdminRemovedPasskey  AdminChange = "passkey_removed"
	AdminGrantedAdmin    AdminChange = "admin_granted"
	AdminRemovedAdmin    AdminChange = "admin_removed"
)

var adminChangeText = map[AdminChange]struct{ subject, text string }{
	AdminDisabledAccount: {"Your account was disabled by an administrator",
		"An administrator disabled your account: you cannot sign in until it is enabled again, and every device was signed out."},
	AdminEnabledAccount: {"Your account was enabled again by an administrator",
		"An administrator enabled your account again: you can sign in with your passkeys."},
	AdminEndedSessions: {"An administrator signed you out everywhere",
		"An administrator ended every signed-in session of your account, and the apps that signed in through them were signed out."},
	AdminRemovedPasskey: {"An administrator removed a passkey from your account",
		"An administrator removed one of your passkeys, and the devices that signed in with it were signed out."},
	AdminGrantedAdmin: {"You are now an administrator",
		"An administrator gave your account the administrator role."},
	AdminRemovedAdmin: {"You are no longer an administrator",
		"An administrator removed the administrator role from your account."},
}

// NotifyAdminChange mails the account's owner about a change an administrator made. It runs
// after the change committed; a delivery failure is logged and changes nothing.
func (s *Service) NotifyAdminChange(ctx context.Context, accountID string, change AdminChange) {
	t, ok := adminChangeText[change]
	if !ok {
		return
	}
	acct, err := s.st.GetAccount(ctx, accountID)
	if err != nil {
		return
	}
	s.notify(ctx, acct, "admin_"+string(change), t.subject,
		t.text+"\n\nIf you did not expect this, contact your administrator.", "")
}
