package ui

import (
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"net/url"
	"slices"
	"strings"

	"github.com/keyward/keyward/idp"
	"github.com/keyward/keyward/oidc"
	"github.com/keyward/keyward/store"
	"github.com/keyward/keyward/templates"
)

// Client management in the console. Config-file clients (Source "config") are shown
// read-only: start-up syncs them from the file and would undo any change made here.

const clientSourceAdmin = "admin"

var (
	clientGrants = []templates.Choice{
		{Value: "authorization_code", Label: "Authorization code (required)"},
		{Value: "refresh_token", Label: "Refresh token"},
	}
	clientScopes = []templates.Choice{
		{Value: "openid", Label: "sign-in (required)"},
		{Value: "profile", Label: "name"},
		{Value: "email", Label: "email address"},
		{Value: "offline_access", Label: "refresh tokens"},
	}
)

var errClientReadOnly = &idp.Error{Code: "client_read_only", Status: http.StatusConflict,
	Message: "This client is declared in the configuration file; change it there."}

var errNoClient = &idp.Error{Code: "not_found", Status: http.StatusNotFound, Message: "There is no such client."}

func (s *Server) adminClients(w http.ResponseWriter, r *http.Request, a *adminReq) error {
	cs, err := s.st.ListClients(r.Context())
	if err != nil {
		return err
	}
	v := templates.AdminClientsView{AdminPage: s.adminPage(a, "clients", "Clients")}
	v.Notice = adminNotice(r)
	for _, c := range cs {
		kind := "Confidential"
		if c.Public {
			kind = "Public"
		}
		v.Clients = append(v.Clients, templates.AdminClientRow{ID: c.ID, Name: c.Name, Kind: kind, Source: c.Source,
			RedirectURIs: strings.Join(c.RedirectURIs, " "), FirstParty: c.FirstParty, ReadOnly: c.Source == "config"})
	}
	s.render(w, r, http.StatusOK, templates.AdminClients(v))
	return nil
}

func (s *Server) adminClientNew(w http.ResponseWriter, r *http.Request, a *adminReq) error {
	f := s.clientForm(&store.Client{GrantTypes: []string{"authorization_code", "refresh_token"}, Scopes: []string{"openid", "profile", "email"}, IDTokenSignedAlg: "ES256"})
	f.AdminPage, f.New = s.adminPage(a, "clients", "Add a client"), true
	s.render(w, r, http.StatusOK, templates.AdminClient(f))
	return nil
}

func (s *Server) adminClient(w http.ResponseWriter, r *http.Request, a *adminReq) error {
	c, err := s.loadClient(r)
	if err != nil {
		return err
	}
	f := s.clientForm(c)
	f.AdminPage = s.adminPage(a, "clients", adminOr(c.Name, c.ID))
	f.Notice = adminNotice(r)
	s.render(w, r, http.StatusOK, templates.AdminClient(f))
	return nil
}

func (s *Server) loadClient(r *http.Request) (*store.Client, error) {
	c, err := s.st.GetClient(r.Context(), r.PathValue("id"))
	if errors.Is(err, store.ErrNotFound) {
		return nil, errNoClient
	}
	return c, err
}

func (s *Server) adminClientCreate(w http.ResponseWriter, r *http.Request, a *adminReq) error {
	now := s.now().UTC()
	c := &store.Client{Source: clientSourceAdmin, CreatedAt: now, UpdatedAt: now}
	errs := s.readClientForm(r, c)
	c.ID = strings.TrimSpace(r.PostFormValue("id"))
	if c.ID == "" {
		c.ID = "c-" + strings.ToLower(strings.ReplaceAll(randomToken(12), "_", "-"))
	} else if msg := checkClientID(c.ID); msg != "" {
		errs = append(errs, msg)
	}
	if len(errs) == 0 {
		if _, err := s.st.GetClient(r.Context(), c.ID); err == nil {
			errs = append(errs, "A client with this ID already exists.")
		} else if !errors.Is(err, store.ErrNotFound) {
			return err
		}
	}
	page := s.adminPage(a, "clients", "Add a client")
	if len(errs) > 0 {
		f := s.clientForm(c)
		f.AdminPage, f.New, f.Errors, f.ID = page, true, errs, r.PostFormValue("id")
		s.render(w, r, http.StatusUnprocessableEntity, templates.AdminClient(f))
		return nil
	}
	secret := ""
	if oidc.UsesSecret(c) {
		secret = randomToken(32)
		c.SecretHash = s.op.HashSecret(secret)
	}
	err := s.adminTx(r.Context(), func(q store.Queries, audit *idp.AuditBatch) error {
		if err := q.CreateClient(r.Context(), c); err != nil {
			return err
		}
		e := s.adminEvent(r, a, eventAdminClientCreated)
		e.ClientID = c.ID
		e.Detail = adminDetail(map[string]any{"public": c.Public, "first_party": c.FirstParty, "redirect_uris": c.RedirectURIs})
		return audit.Append(r.Context(), q, e)
	})
	if errors.Is(err, store.ErrAlreadyExists) {
		f := s.clientForm(c)
		f.AdminPage, f.New, f.Errors = page, true, []string{"A client with this ID already exists."}
		s.render(w, r, http.StatusConflict, templates.AdminClient(f))
		return nil
	}
	if err != nil {
		return err
	}
	s.cors.invalidate()
	s.op.ForgetClient(c.ID)
	f := s.clientForm(c)
	f.AdminPage, f.Secret = s.adminPage(a, "clients", adminOr(c.Name, c.ID)), secret
	f.Notice = "Client created."
	s.render(w, r, http.StatusCreated, templates.AdminClient(f))
	return nil
}

func (s *Server) adminClientUpdate(w http.ResponseWriter, r *http.Request, a *adminReq) error {
	old, err := s.loadClient(r)
	if err != nil {
		return err
	}
	if old.Source == "config" {
		return errClientReadOnly
	}
	c := *old
	errs := s.readClientForm(r, &c)
	if len(errs) > 0 {
		f := s.clientForm(&c)
		f.AdminPage, f.Errors = s.adminPage(a, "clients", adminOr(old.Name, old.ID)), errs
		s.render(w, r, http.StatusUnprocessableEntity, templates.AdminClient(f))
		return nil
	}
	secret := ""
	switch {
	case !oidc.UsesSecret(&c):
		// Public, or authenticated by key: an old secret must stop working.
		c.SecretHash = nil
	case len(c.SecretHash) == 0: // it needs a secret now
		secret = randomToken(32)
		c.SecretHash = s.op.HashSecret(secret)
	}
	c.UpdatedAt = s.now().UTC()
	err = s.adminTx(r.Context(), func(q store.Queries, audit *idp.AuditBatch) error {
		if err := q.UpdateClient(r.Context(), &c); err != nil {
			return err
		}
		e := s.adminEvent(r, a, eventAdminClientUpdated)
		e.ClientID = c.ID
		e.Detail = adminDetail(map[string]any{"changed": clientChanges(old, &c)})
		return audit.Append(r.Context(), q, e)
	})
	if err != nil {
		return adminNotFound(err, errNoClient)
	}
	s.cors.invalidate()
	s.op.ForgetClient(c.ID)
	if secret == "" {
		adminRedirect(w, r, "/admin/clients/"+url.PathEscape(c.ID), noticeClientSaved)
		return nil
	}
	f := s.clientForm(&c)
	f.AdminPage, f.Secret, f.Notice = s.adminPage(a, "clients", adminOr(c.Name, c.ID)), secret, noticeClientSaved
	s.render(w, r, http.StatusOK, templates.AdminClient(f))
	return nil
}

func (s *Server) adminClientRotate(w http.ResponseWriter, r *http.Request, a *adminReq) error {
	c, err := s.loadClient(r)
	if err != nil {
		return err
	}
	if c.Source == "config" {
		return errClientReadOnly
	}
	if !oidc.UsesSecret(c) {
		return errMalformed.WithMessage("This client has no secret: it is public or authenticates with a key.")
	}
	secret := randomToken(32)
	c.SecretHash, c.UpdatedAt = s.op.HashSecret(secret), s.now().UTC()
	err = s.adminTx(r.Context(), func(q store.Queries, audit *idp.AuditBatch) error {
		if err := q.UpdateClient(r.Context(), c); err != nil {
			return err
		}
		e := s.adminEvent(r, a, eventAdminClientRotated)
		e.ClientID = c.ID
		return audit.Append(r.Context(), q, e)
	})
	if err != nil {
		return adminNotFound(err, errNoClient)
	}
	s.op.ForgetClient(c.ID)
	f := s.clientForm(c)
	f.AdminPage, f.Secret = s.adminPage(a, "clients", adminOr(c.Name, c.ID)), secret
	f.Notice = "New secret created; the old one no longer works."
	s.render(w, r, http.StatusOK, templates.AdminClient(f))
	return nil
}

func (s *Server) adminClientDelete(w http.ResponseWriter, r *http.Request, a *adminReq) error {
	c, err := s.loadClient(r)
	if err != nil {
		return err
	}
	if c.Source == "config" {
		return errClientReadOnly
	}
	err = s.adminTx(r.Context(), func(q store.Queries, audit *idp.AuditBatch) error {
		if err := q.DeleteClient(r.Context(), c.ID); err != nil {
			return err
		}
		e := s.adminEvent(r, a, eventAdminClientDeleted)
		e.ClientID = c.ID
		e.Detail = adminDetail(map[string]any{"name": c.Name})
		return audit.Append(r.Context(), q, e)
	})
	if err != nil {
		return adminNotFound(err, errNoClient)
	}
	s.cors.invalidate()
	s.op.ForgetClient(c.ID)
	adminRedirect(w, r, "/admin/clients", noticeClientDeleted)
	return nil
}

// readClientForm sets the editable fields of c from the form and returns what is wrong.
func (s *Server) readClientForm(r *http.Request, c *store.Client) []string {
	var errs []string
	c.Name = strings.TrimSpace(r.PostFormValue("name"))
	if len([]rune(c.Name)) > 100 {
		errs = append(errs, "The name is longer than 100 characters.")
	}
	c.RedirectURIs = adminLines(r.PostFormValue("redirect_uris"))
	c.PostLogoutRedirectURIs = adminLines(r.PostFormValue("post_logout_redirect_uris"))
	if len(c.RedirectURIs) == 0 {
		errs = append(errs, "Add at least one redirect URI.")
	}
	if len(c.RedirectURIs) > 20 || len(c.PostLogoutRedirectURIs) > 20 {
		errs = append(errs, "At most 20 URIs of each kind.")
	}
	for _, u := range append(slices.Clone(c.RedirectURIs), c.PostLogoutRedirectURIs...) {
		if err := checkClientURI(u); err != nil {
			errs = append(errs, fmt.Sprintf("%q: %v.", u, err))
		}
	}
	c.BackchannelLogoutURI = strings.TrimSpace(r.PostFormValue("backchannel_logout_uri"))
	if c.BackchannelLogoutURI != "" {
		if err := checkClientURI(c.BackchannelLogoutURI); err != nil {
			errs = append(errs, fmt.Sprintf("Back-channel logout URI: %v.", err))
		}
	}
	// Checked with the other oidc.CheckClient rules (admin_clients_tokens.go).
	c.FrontchannelLogoutURI = strings.TrimSpace(r.PostFormValue("frontchannel_logout_uri"))
	c.FrontchannelLogoutSessionRequired = r.PostFormValue("frontchannel_logout_session_required") == "1"
	switch r.PostFormValue("type") {
	case "public":
		c.Public = true
	case "confidential":
		c.Public = false
	default:
		errs = append(errs, "Choose public or confidential.")
	}
	c.FirstParty = r.PostFormValue("first_party") == "1"
	c.GrantTypes = adminChosen(r.PostForm["grant"], clientGrants)
	if !slices.Contains(c.GrantTypes, "authorization_code") {
		errs = append(errs, "The authorization code grant is required.")
	}
	c.Scopes = adminChosen(r.PostForm["scope"], clientScopes)
	if !slices.Contains(c.Scopes, "openid") {
		errs = append(errs, "The openid scope is required.")
	}
	if slices.Contains(c.Scopes, "offline_access") && !slices.Contains(c.GrantTypes, "refresh_token") {
		errs = append(errs, "The offline_access scope needs the refresh token grant.")
	}
	c.ResponseTypes = []string{"code"}
	switch alg := r.PostFormValue("alg"); alg {
	case "RS256", "ES256":
		c.IDTokenSignedAlg = alg
	default:
		errs = append(errs, "Choose RS256 or ES256.")
	}
	errs = append(errs, s.readClientTokenFields(r, c)...)
	return errs
}

// adminChosen keeps the submitted values that are offered, in the offered order.
func adminChosen(got []string, offered []templates.Choice) []string {
	var out []string
	for _, o := range offered {
		if slices.Contains(got, o.Value) {
			out = append(out, o.Value)
		}
	}
	return out
}

func adminLines(s string) []string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if l = strings.TrimSpace(l); l != "" {
			out = append(out, l)
		}
	}
	return out
}

// checkClientID accepts ids that are safe in URLs, logs and the CLI.
func checkClientID(id string) string {
	if id == "new" {
		return "The client ID \"new\" is reserved."
	}
	if len(id) > 64 {
		return "The client ID is longer than 64 characters."
	}
	for _, c := range id {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.') {
			return "The client ID may hold only letters, digits, '-', '_' and '.'."
		}
	}
	return ""
}

// checkClientURI applies the registration rules of config-file clients (RFC 9700 §2.6):
// absolute, no fragment, no code or state parameter, https, or http only on loopback.
func checkClientURI(raw string) error {
	u, err := url.Parse(raw)
	if err != nil || !u.IsAbs() || u.Host == "" {
		return errors.New("must be an absolute URL")
	}
	if u.Fragment != "" || strings.Contains(raw, "#") {
		return errors.New("must not have a fragment")
	}
	if q := u.Query(); q.Has("code") || q.Has("state") {
		return errors.New("must not carry code or state parameters")
	}
	switch u.Scheme {
	case "https":
		return nil
	case "http":
		h := u.Hostname()
		if a, err := netip.ParseAddr(h); (err == nil && a.IsLoopback()) || h == "localhost" {
			return nil
		}
		return errors.New("http is allowed only for loopback addresses")
	}
	return fmt.Errorf("scheme %q is not allowed", u.Scheme)
}

// clientForm is the form view of c.
func (s *Server) clientForm(c *store.Client) templates.AdminClientForm {
	f := templates.AdminClientForm{ID: c.ID, Name: c.Name, RedirectURIs: strings.Join(c.RedirectURIs, "\n"),
		PostLogoutURIs: strings.Join(c.PostLogoutRedirectURIs, "\n"), Public: c.Public, FirstParty: c.FirstParty,
		BackchannelLogoutURI: c.BackchannelLogoutURI, Alg: c.IDTokenSignedAlg, Source: c.Source,
		ReadOnly: c.Source == "config", FrontchannelLogoutURI: c.FrontchannelLogoutURI,
		FrontchannelLogoutSessionRequired: c.FrontchannelLogoutSessionRequired}
	if !c.CreatedAt.IsZero() {
		f.CreatedAt, f.UpdatedAt = c.CreatedAt.Format(timeFormat), c.UpdatedAt.Format(timeFormat)
	}
	grants := c.GrantTypes
	if len(grants) == 0 && c.ID != "" {
		grants = []string{"authorization_code", "refresh_token"} // oidc's default for an empty list
	}
	scopes := c.Scopes
	if len(scopes) == 0 && c.ID != "" {
		scopes = []string{"openid", "profile", "email", "offline_access"}
	}
	for _, g := range clientGrants {
		g.Checked = slices.Contains(grants, g.Value)
		f.Grants = append(f.Grants, g)
	}
	for _, sc := range clientScopes {
		sc.Checked = slices.Contains(scopes, sc.Value)
		f.Scopes = append(f.Scopes, sc)
	}
	s.clientTokenView(&f, c)
	return f
}

// clientChanges names the fields an update changed, for the audit detail.
func clientChanges(a, b *store.Client) []string {
	var out []string
	add := func(name string, changed bool) {
		if changed {
			out = append(out, name)
		}
	}
	add("name", a.Name != b.Name)
	add("redirect_uris", !slices.Equal(a.RedirectURIs, b.RedirectURIs))
	add("post_logout_redirect_uris", !slices.Equal(a.PostLogoutRedirectURIs, b.PostLogoutRedirectURIs))
	add("grant_types", !slices.Equal(a.GrantTypes, b.GrantTypes))
	add("scopes", !slices.Equal(a.Scopes, b.Scopes))
	add("public", a.Public != b.Public)
	add("first_party", a.FirstParty != b.FirstParty)
	add("backchannel_logout_uri", a.BackchannelLogoutURI != b.BackchannelLogoutURI)
	add("frontchannel_logout_uri", a.FrontchannelLogoutURI != b.FrontchannelLogoutURI)
	add("frontchannel_logout_session_required", a.FrontchannelLogoutSessionRequired != b.FrontchannelLogoutSessionRequired)
	add("id_token_signed_response_alg", a.IDTokenSignedAlg != b.IDTokenSignedAlg)
	out = append(out, clientTokenChanges(a, b)...)
	return out
}
