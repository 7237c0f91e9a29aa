package templates

// The admin console's view models. Every value is preformatted by the ui layer; the
// components only lay them out.

// AdminPage is what every console page shares: the site page plus the console's own
// navigation and notices.
type AdminPage struct {
	Page
	// Section names the active navigation entry: "dashboard", "users", "clients", "audit",
	// "settings".
	Section string
	// Notice is a one-line confirmation of the last change ("Client created.").
	Notice string
	// StaleAuth is set when the session's sign-in is too old for changes: the page offers to
	// confirm it's you before any change is attempted.
	StaleAuth bool
}

// AdminReauthView asks the administrator to sign in again before a change.
type AdminReauthView struct {
	AdminPage
	Message string
}

// AdminClientsView lists the clients.
type AdminClientsView struct {
	AdminPage
	Clients []AdminClientRow
}

// AdminClientRow is one client in the list.
type AdminClientRow struct {
	ID, Name, Kind, Source, RedirectURIs string
	FirstParty, ReadOnly                 bool
}

// AdminClientForm is the create and edit form of a client. Lists are one value per line.
type AdminClientForm struct {
	AdminPage
	New      bool
	ReadOnly bool // a config-file client: shown, never changed here
	Errors   []string
	ID, Name string
	// RedirectURIs and PostLogoutURIs hold one URI per line.
	RedirectURIs, PostLogoutURIs string
	Grants                       []Choice
	Scopes                       []Choice
	Public, FirstParty           bool
	BackchannelLogoutURI         string
	Alg                          string // "RS256" or "ES256"
	Source, CreatedAt, UpdatedAt string
	// Secret is a freshly created or rotated client secret, shown once.
	Secret string
	// AuthMethod of a confidential client: client_secret_basic, client_secret_post or
	// private_key_jwt; JWKS (inline) or JWKSURI hold a private_key_jwt client's keys.
	AuthMethod, JWKS, JWKSURI, AuthSigningAlg string
	RequirePAR                                bool
	// AccessTokenFormat is "opaque" or "jwt". The lifetimes are written as ParseLifetime
	// reads them ("15m", "30d"); empty means the server default, shown in the Default* fields.
	AccessTokenFormat                                                string
	AccessTokenLifetime, RefreshTokenLifetime, IDTokenLifetime       string
	DefaultAccessLifetime, DefaultRefreshLifetime, DefaultIDLifetime string
	// AllowedOrigins holds one browser origin per line (CORS on the token endpoints).
	AllowedOrigins string
	// FrontchannelLogoutURI is framed at logout; with the flag it gets iss and sid.
	FrontchannelLogoutURI             string
	FrontchannelLogoutSessionRequired bool
}

// Choice is one checkbox of a set.
type Choice struct {
	Value, Label string
	Checked      bool
}

// AdminUsersView is the user search page with the invite form.
type AdminUsersView struct {
	AdminPage
	Query     string
	Users     []AdminUserRow
	PrevURL   string
	NextURL   string
	InviteURL string // a freshly created invitation link, shown once
	Errors    []string
}

// AdminUserRow is one account in the search results.
type AdminUserRow struct {
	ID, Email, DisplayName, CreatedAt string
	Admin, Disabled, EmailVerified    bool
}

// AdminUserView is one account with its passkeys, sessions and recent events.
type AdminUserView struct {
	AdminPage
	Errors                              []string
	ID, Email, DisplayName              string
	CreatedAt, UpdatedAt                string
	Admin, Disabled, EmailVerified, You bool
	Passkeys                            []PasskeyItem
	Sessions                            []SessionItem
	Events                              []AdminEventRow
	AuditURL                            string
}

// AdminAuditView is the audit log with its filters.
type AdminAuditView struct {
	AdminPage
	Account, Event, IP, Since, Until string
	Events                           []AdminEventRow
	OlderURL, ExportURL              string
	KnownEvents                      []string
	Errors                           []string
}

// AdminEventRow is one audit event.
type AdminEventRow struct {
	ID, Time, Event, Result   string
	Account, AccountURL       string
	PerformedBy, PerformedURL string
	IP, UserAgent, Credential string
	Client, Detail            string
	Failed                    bool
}

// AdminDashboardView is the dashboard: charts over a time range plus coverage.
type AdminDashboardView struct {
	AdminPage
	Range     string // "24h", "7d", "30d", "90d"
	Ranges    []Choice
	Period    string // "12 May 2026 10:00 – 13 May 2026 10:00 UTC"
	Truncated bool
	DataURL   string
	Funnel    Chart
	Platforms []FunnelRow
	Routes    Chart
	RouteRows []RouteRow
	Series    Chart
	Coverage  Chart
	// CoverageText summarises coverage ("41 of 120 active accounts (34%) have two or more
	// passkeys").
	CoverageText string
	Recovery     []Stat
	Changes      []Stat
	Admin        []Stat
}

// FunnelRow is the funnel of one OS and browser family.
type FunnelRow struct {
	Platform                  string
	Begun, Created, Completed int
	Conversion                string
}

// RouteRow is the sign-ins of one route with their failure codes.
type RouteRow struct {
	Route    string
	OK       int
	Failed   int
	Failures string // "verification_failed 3, ceremony_expired 1"
}

// Stat is one labelled number.
type Stat struct {
	Label string
	Value int
}

// Chart is a server-rendered SVG chart: the ui layer computes every coordinate.
type Chart struct {
	Title         string
	Width, Height int
	Bars          []ChartBar
	Texts         []ChartText
	Lines         []ChartLine
	Legend        []LegendItem
}

// ChartBar is one rectangle with its tooltip.
type ChartBar struct {
	X, Y, W, H int
	Fill       string
	Title      string
}

// ChartText is one label.
type ChartText struct {
	X, Y   int
	Anchor string // "start", "middle", "end"
	Text   string
}

// ChartLine is an axis or grid line.
type ChartLine struct {
	X1, Y1, X2, Y2 int
}

// LegendItem explains a colour.
type LegendItem struct {
	Fill, Label string
}

// AdminSettingsView is the configuration, read-only.
type AdminSettingsView struct {
	AdminPage
	Settings []SettingRow
}

// SettingRow is one configuration key: its value (never a secret) and where it came from.
type SettingRow struct {
	Key, Value, Source string
	Secret             bool
}
