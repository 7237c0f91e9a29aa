package templates

import (
	"net/url"

	"github.com/a-h/templ"
)

// View models of the console's operations pages: signing keys (/admin/keys) and the
// back-channel logout outbox (/admin/logouts). Times and durations are preformatted by ui.

// AdminKeysView lists the signing keys and offers a rotation.
type AdminKeysView struct {
	AdminPage
	Keys []AdminKeyRow
	// Retention is how long a retired key stays published ("7 days"); ReloadEvery is how
	// often other replicas reload the keys ("minute").
	Retention, ReloadEvery string
	// Automatic is the scheduled rotation interval ("90 days"); "" when only a person rotates.
	Automatic string
	// Delay is how long a new key is published before it signs ("6 minutes").
	Delay string
}

// AdminKeyRow is one signing key. State is "active", "pending", "standby", "retired" or
// "expired"; Until is when a retired key leaves the JWKS, SignsFrom when a pending key signs,
// and an active key's RetiredAt when it hands over to a pending one.
type AdminKeyRow struct {
	KID, Alg, State      string
	CreatedAt, RetiredAt string
	Until, SignsFrom     string
}

// AdminLogoutsView is the back-channel logout outbox: per-client counts, then the pending,
// abandoned and recently delivered messages.
type AdminLogoutsView struct {
	AdminPage
	Clients                       []AdminLogoutClient
	Pending, Abandoned, Delivered []AdminLogoutRow
	// Truncated names the lists that hold more messages than the page shows.
	Truncated []string
	Retention string // how long delivered and abandoned messages stay ("7 days")
}

// AdminLogoutClient counts one client's messages in the lists.
type AdminLogoutClient struct {
	ClientID, Name, URL           string
	Pending, Abandoned, Delivered int
}

// AdminLogoutRow is one message of the outbox.
type AdminLogoutRow struct {
	ID, Status                      string
	ClientID, ClientName, ClientURL string
	Account, AccountURL             string
	Attempts                        string
	CreatedAt, NextAttemptAt        string
	UpdatedAt                       string
	LastError                       string
	// InFlight: an attempt is under way (a live claim), so neither action is offered.
	InFlight          bool
	CanRetry, CanDrop bool
}

// logoutURL is the console address of an action on an outbox message ("retry" or "drop").
func logoutURL(id, action string) templ.SafeURL {
	return templ.SafeURL("/admin/logouts/" + url.PathEscape(id) + "/" + action)
}
