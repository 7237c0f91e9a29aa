package templates

// Page is what every page shares: the header, the CSRF token and the notice on top.
type Page struct {
	Title       string
	CSRFToken   string
	SignedIn    bool
	AccountName string
	Admin       bool
	// Banner is an optional notice shown above the page content.
	Banner string
}

// LoginView is the sign-in page.
type LoginView struct {
	Page
	Interaction string
	// ClientName is the app asking for the sign-in; it may be empty.
	ClientName    string
	LoginHint     string
	Error         string
	SignupAllowed bool
}

// SignupView is the sign-up page.
type SignupView struct {
	Page
	Interaction string
	Invite      string
	// Email is prefilled from the invite.
	Email       string
	EmailLocked bool
	// Closed means registration is closed and there is no invite: the page
	// shows a message and no form.
	Closed bool
	Error  string
}

// ConsentView asks the person to let an app access their account.
type ConsentView struct {
	Page
	Interaction  string
	ClientName   string
	Scopes       []ScopeItem
	AccountEmail string
}

// ScopeItem is one scope on the consent page, as the person should read it.
type ScopeItem struct {
	Name, Description string
}

// ErrorView is the error page. Message must already be a public text: the
// page shows it as given.
type ErrorView struct {
	Page
	Status    int
	Code      string
	Message   string
	RequestID string
}

// AccountView is the account page.
type AccountView struct {
	Page
	Email         string
	EmailVerified bool
	DisplayName   string
	Passkeys      []PasskeyItem
	Sessions      []SessionItem
	Apps          []AppItem
	Events        []EventItem
	// RPID and UserID (the WebAuthn user handle, base64url) let the script tell the browser's
	// passkey manager which passkeys are still valid (WebAuthn Signal API).
	RPID, UserID string
	// Notice is a fixed confirmation text chosen by the ui layer (never request input).
	Notice string
	// UnusedCodes counts the unused recovery codes: with some, the last passkey can be removed
	// (after the cooling-off, SA-03).
	UnusedCodes int
}

// VerifyEmailView is the page an email verification link opens.
type VerifyEmailView struct {
	Page
	Verified bool
	Email    string
	// Message explains a refusal; it is a public text from the ui layer.
	Message string
}

// PasskeyItem is one passkey on the account page. Times and places are
// preformatted by the ui layer (CreatedOn / LastUsedOn name the device or
// browser, e.g. "Chrome on macOS").
type PasskeyItem struct {
	// ID is the credential id, base64url.
	ID                                           string
	Name                                         string
	Provider                                     string
	CreatedAt, CreatedOn, LastUsedAt, LastUsedOn string
	Synced                                       bool
	Transports                                   []string
	// Current marks the passkey used to sign in to this session.
	Current      bool
	CloneWarning bool
	// BackedUp is the backup state (BS) the passkey reported at its last use.
	BackedUp bool
}

// SessionItem is one signed-in browser on the account page.
type SessionItem struct {
	ID                        string
	Browser, OS, IP, LastSeen string
	Current                   bool
}

// AppItem is one app the person has granted access to.
type AppItem struct {
	ClientID, Name string
	Scopes         []string
	GrantedAt      string
}

// EventItem is one line of recent security activity.
type EventItem struct {
	Time, Event, Detail, IP string
	// Device is the browser and system the action came from ("Chrome on macOS").
	Device string
}

// LoggedOutView is the page shown after signing out.
type LoggedOutView struct {
	Page
}
