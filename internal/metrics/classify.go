package metrics

import (
	"encoding/json"
	"slices"
	"strings"

	"github.com/keyward/keyward/idp"
	"github.com/keyward/keyward/store"
)

// Other is the label value of everything outside a label's fixed set.
const Other = "other"

// Audit event names this package reads. The idp constants are used where they exist; the rest
// are the names other parts of Keyward write (ui logout, the admin console).
//
// Recovery as idp records it: a link is sent (started); the passkey made from it is either
// active at once (with a recovery code: recovery.completed) or waits as a pending action
// (recovery.pending), and both count as completed; cancelling that pending action is the
// recovery's cancellation.
const (
	eventPasskeyRegistered = "passkey.registered"
	eventPasskeyRevoked    = "passkey.revoked"
	eventPasskeyRenamed    = "passkey.renamed"
	eventRecoveryStarted   = idp.EventRecoveryLinkSent
	eventRecoveryCompleted = idp.EventRecoveryCompleted
	eventRecoveryPending   = idp.EventRecoveryPending
	eventPendingCreated    = idp.EventPendingCreated
	eventPendingCancelled  = idp.EventPendingCancelled
	eventPendingExecuted   = idp.EventPendingExecuted
)

// pendingChangeKinds names idp's pending-action kinds as account-change kinds.
var pendingChangeKinds = map[string]string{
	idp.PendingActivateRecoveryPasskey: "new_device_after_recovery",
	idp.PendingChangeEmail:             "email_change",
	idp.PendingDeleteAccount:           "account_deletion",
	idp.PendingRemovePasskey:           "passkey_removed",
}

// Sign-in routes.
const (
	RouteSameDevice  = "same_device"  // a platform authenticator on this device
	RouteCrossDevice = "cross_device" // hybrid transport (a phone) or a roaming key
	RouteAutofill    = "autofill"     // conditional mediation (passkey autofill)
	RouteEmailFirst  = "email_first"  // allowCredentials from an email address
	RouteUnknown     = "unknown"      // the event does not say (see SignInRoute)
)

// Routes lists every route label in display order.
var Routes = []string{RouteSameDevice, RouteCrossDevice, RouteAutofill, RouteEmailFirst, RouteUnknown}

// Funnel stages, in order.
const (
	StageBegun          = "begun"
	StagePasskeyCreated = "passkey_created"
	StageCompleted      = "completed"
)

// Stages lists the enrollment funnel in order.
var Stages = []string{StageBegun, StagePasskeyCreated, StageCompleted}

// Recovery stages.
var RecoveryStages = []string{"started", "completed", "cancelled"}

// knownCodes bounds the failure-code label: idp's stable codes and the passkey lifecycle's.
var knownCodes = []string{
	idp.CodeInvalidRequest, idp.CodeRegistrationClosed, idp.CodeInviteInvalid, idp.CodeEmailTaken,
	idp.CodeCeremonyExpired, idp.CodeVerificationFailed, idp.CodeCredentialExists,
	idp.CodeAccountDisabled, idp.CodeCloneSuspected, idp.CodeForbidden, idp.CodeUnavailable,
	"passkey_not_found", "last_authenticator", "too_many_passkeys",
}

// Code returns an event's result as a bounded label: "ok", a known failure code, or "other".
func Code(result string) string {
	if result == "" || result == idp.ResultOK {
		return idp.ResultOK
	}
	if slices.Contains(knownCodes, result) {
		return result
	}
	return Other
}

var knownOS = []string{"Windows", "macOS", "iOS", "iPadOS", "Android", "ChromeOS", "Linux"}
var knownBrowsers = []string{"Chrome", "Edge", "Firefox", "Safari", "Opera", "Samsung Internet", "Vivaldi", "Internet Explorer"}

// Platform returns the OS and browser family of a user agent as bounded labels. The parsing
// is idp.ParseUserAgent's (github.com/mileusna/useragent behind an allow-list of browser
// names); its answers are checked against fixed lists here as well, so the label sets stay
// bounded whatever the parser learns later.
func Platform(userAgent string) (os, browser string) {
	ua := idp.ParseUserAgent(userAgent)
	if ua.OS == "CrOS" {
		ua.OS = "ChromeOS"
	}
	os, browser = Other, Other
	if slices.Contains(knownOS, ua.OS) {
		os = ua.OS
	}
	if slices.Contains(knownBrowsers, ua.Browser) {
		browser = ua.Browser
	}
	return os, browser
}

// eventDetail is what this package reads from an event's Detail object; every field is
// optional.
type eventDetail struct {
	Mode        string `json:"mode"`        // login: "discoverable", "email", "unknown"
	Mediation   string `json:"mediation"`   // login: "conditional" for autofill
	Conditional bool   `json:"conditional"` // login: same, as a flag
	Attachment  string `json:"attachment"`  // login: authenticatorAttachment at assertion
	Kind        string `json:"kind"`        // pending actions: what is pending
}

func detailOf(e store.AuditEvent) eventDetail {
	var d eventDetail
	if len(e.Detail) > 0 {
		_ = json.Unmarshal(e.Detail, &d) // a detail we cannot read classifies as unknown
	}
	return d
}

// IsSignIn reports whether e is a sign-in attempt (successful or not).
func IsSignIn(e store.AuditEvent) bool {
	return e.Event == idp.EventLoginSucceeded || e.Event == idp.EventLoginFailed
}

// SignInRoute classifies a sign-in event by what its detail records: conditional mediation is
// autofill; an email-first ceremony (mode "email", or "unknown" for an address without an
// account) is email_first; otherwise the authenticator attachment of the assertion tells a
// platform authenticator (same_device) from a cross-platform one reached over hybrid or USB
// (cross_device). What the event does not record is "unknown": today idp writes the mode on
// successes only, and neither the mediation nor the attachment, so discoverable sign-ins and
// all failures count as unknown until idp adds those fields.
func SignInRoute(e store.AuditEvent) string {
	d := detailOf(e)
	switch {
	case d.Mediation == "conditional" || d.Conditional:
		return RouteAutofill
	case d.Mode == "email" || d.Mode == "unknown":
		return RouteEmailFirst
	case d.Attachment == "cross-platform":
		return RouteCrossDevice
	case d.Attachment == "platform":
		return RouteSameDevice
	}
	return RouteUnknown
}

// FunnelStages returns the enrollment stages e completes. A finish attempt (completed or
// refused) means the browser created a passkey; a refused one stops there.
func FunnelStages(e store.AuditEvent) []string {
	switch e.Event {
	case idp.EventSignupBegun:
		return []string{StageBegun}
	case idp.EventSignupFailed:
		return []string{StagePasskeyCreated}
	case idp.EventSignupCompleted:
		return []string{StagePasskeyCreated, StageCompleted}
	}
	return nil
}

// RecoveryStage returns "started", "completed" or "cancelled" for a recovery event.
func RecoveryStage(e store.AuditEvent) (string, bool) {
	switch e.Event {
	case eventRecoveryStarted:
		return "started", true
	case eventRecoveryCompleted, eventRecoveryPending:
		return "completed", true
	case eventPendingCancelled:
		if detailOf(e).Kind == idp.PendingActivateRecoveryPasskey {
			return "cancelled", true
		}
	}
	return "", false
}

// Account-change kinds and outcomes.
var (
	ChangeKinds    = []string{"email_change", "passkey_added", "passkey_removed", "passkey_renamed", "new_device_after_recovery", "account_deletion"}
	ChangeOutcomes = []string{"requested", "done", "cancelled"}
)

// AccountChange classifies the events that change how an account is reached, with their
// outcome: "done" for an immediate change, "requested"/"done"/"cancelled" for a pending action
// (cooling-off, issue 5) whose detail names its kind.
func AccountChange(e store.AuditEvent) (kind, outcome string, ok bool) {
	switch e.Event {
	case eventPasskeyRegistered:
		return "passkey_added", "done", e.Result == "" || e.Result == idp.ResultOK
	case eventPasskeyRevoked:
		return "passkey_removed", "done", e.Result == "" || e.Result == idp.ResultOK
	case eventPasskeyRenamed:
		return "passkey_renamed", "done", e.Result == "" || e.Result == idp.ResultOK
	case eventPendingCreated, eventPendingCancelled, eventPendingExecuted:
		kind = detailOf(e).Kind
		if e.Event == eventPendingExecuted && kind == idp.PendingRemovePasskey {
			// Its execution writes passkey.revoked, which counts the removal as done already.
			return "", "", false
		}
		if k, ok := pendingChangeKinds[kind]; ok {
			kind = k
		}
		if !slices.Contains(ChangeKinds, kind) {
			kind = Other
		}
		outcome = map[string]string{eventPendingCreated: "requested", eventPendingCancelled: "cancelled", eventPendingExecuted: "done"}[e.Event]
		return kind, outcome, true
	}
	return "", "", false
}

// AdminAction returns the action of an admin console event ("client.created", …).
func AdminAction(e store.AuditEvent) (string, bool) {
	a, ok := strings.CutPrefix(e.Event, "admin.")
	return a, ok
}
