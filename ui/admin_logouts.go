package ui

import (
	"cmp"
	"context"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"time"

	"github.com/keyward/keyward/idp"
	"github.com/keyward/keyward/store"
	"github.com/keyward/keyward/templates"
)

// The back-channel logout outbox seen from the console (/admin/logouts): what is pending, what
// was abandoned and what was delivered lately, per client, with "retry now" and "drop". Each
// action runs in one transaction with its audit event (performed_by: the administrator) and
// never touches a message whose attempt is under way (a live claim): the sender's outcome
// stands, and the administrator is told to look again.

const (
	eventAdminLogoutRetried = "admin.logout.retried"
	eventAdminLogoutDropped = "admin.logout.dropped"

	noticeLogoutRetried = "Logout message due now; it is sent on the next delivery pass."
	noticeLogoutDropped = "Logout message dropped."

	// droppedError is what a dropped message keeps as its last error.
	droppedError = "dropped by an administrator"
)

// How many messages of each list the page shows; the delivered list is only a recent sample.
const (
	logoutListLimit      = 200
	logoutDeliveredLimit = 50
)

var (
	errNoLogout = &idp.Error{Code: "not_found", Status: http.StatusNotFound,
		Message: "There is no such logout message."}
	errLogoutDelivered = &idp.Error{Code: "logout_delivered", Status: http.StatusConflict,
		Message: "This logout message was delivered already."}
	errLogoutAbandoned = &idp.Error{Code: "logout_abandoned", Status: http.StatusConflict,
		Message: "This logout message was abandoned already; retry it instead."}
	errLogoutInFlight = &idp.Error{Code: "logout_in_flight", Status: http.StatusConflict,
		Message: "This logout message is being sent right now. Look again in a minute."}
)

func (s *Server) adminLogouts(w http.ResponseWriter, r *http.Request, a *adminReq) error {
	ctx := r.Context()
	v := templates.AdminLogoutsView{AdminPage: s.adminPage(a, "logouts", "Back-channel logouts"),
		Retention: durationText(s.op.BackchannelRetention())}
	if n := r.URL.Query().Get("notice"); n == noticeLogoutRetried || n == noticeLogoutDropped {
		v.Notice = n
	}
	pending, err := s.st.ListLogouts(ctx, store.LogoutPending, logoutListLimit+1)
	if err != nil {
		return err
	}
	abandoned, err := s.st.RecentLogouts(ctx, store.LogoutAbandoned, logoutListLimit+1)
	if err != nil {
		return err
	}
	delivered, err := s.st.RecentLogouts(ctx, store.LogoutDelivered, logoutDeliveredLimit)
	if err != nil {
		return err
	}
	if len(pending) > logoutListLimit {
		pending, v.Truncated = pending[:logoutListLimit], append(v.Truncated, "pending")
	}
	if len(abandoned) > logoutListLimit {
		abandoned, v.Truncated = abandoned[:logoutListLimit], append(v.Truncated, "abandoned")
	}
	names := s.logoutNames()
	now := s.now().UTC()
	v.Pending = s.logoutRows(ctx, names, pending, now)
	v.Abandoned = s.logoutRows(ctx, names, abandoned, now)
	v.Delivered = s.logoutRows(ctx, names, delivered, now)

	byClient := map[string]*templates.AdminLogoutClient{}
	count := func(rows []templates.AdminLogoutRow, field func(*templates.AdminLogoutClient) *int) {
		for _, row := range rows {
			c := byClient[row.ClientID]
			if c == nil {
				c = &templates.AdminLogoutClient{ClientID: row.ClientID, Name: row.ClientName, URL: row.ClientURL}
				byClient[row.ClientID] = c
			}
			*field(c)++
		}
	}
	count(v.Pending, func(c *templates.AdminLogoutClient) *int { return &c.Pending })
	count(v.Abandoned, func(c *templates.AdminLogoutClient) *int { return &c.Abandoned })
	count(v.Delivered, func(c *templates.AdminLogoutClient) *int { return &c.Delivered })
	for _, c := range byClient {
		v.Clients = append(v.Clients, *c)
	}
	slices.SortFunc(v.Clients, func(x, y templates.AdminLogoutClient) int {
		return cmp.Or(cmp.Compare(x.Name, y.Name), cmp.Compare(x.ClientID, y.ClientID))
	})
	s.render(w, r, http.StatusOK, templates.AdminLogouts(v))
	return nil
}

// logoutNamer names clients and accounts once per page.
type logoutNamer struct {
	clients, accounts map[string]string
}

func (s *Server) logoutNames() *logoutNamer {
	return &logoutNamer{clients: map[string]string{}, accounts: map[string]string{}}
}

// logoutRows formats messages; a client or account deleted since the logout keeps its id and
// gets no link.
func (s *Server) logoutRows(ctx context.Context, n *logoutNamer, list []store.LogoutMessage, now time.Time) []templates.AdminLogoutRow {
	rows := make([]templates.AdminLogoutRow, 0, len(list))
	for _, m := range list {
		client, ok := n.clients[m.ClientID]
		if !ok {
			client = ""
			if c, err := s.st.GetClient(ctx, m.ClientID); err == nil {
				client = cmp.Or(c.Name, c.ID)
			}
			n.clients[m.ClientID] = client
		}
		account, ok := n.accounts[m.Subject]
		if !ok {
			account = ""
			if acc, err := s.st.GetAccount(ctx, m.Subject); err == nil {
				account = acc.Email
			}
			n.accounts[m.Subject] = account
		}
		row := templates.AdminLogoutRow{ID: m.ID, Status: m.Status, ClientID: m.ClientID, ClientName: cmp.Or(client, m.ClientID),
			Account: cmp.Or(account, m.Subject), Attempts: strconv.Itoa(m.Attempts),
			CreatedAt: m.CreatedAt.Format(timeFormat), UpdatedAt: m.UpdatedAt.Format(timeFormat), LastError: m.LastError,
			InFlight: logoutInFlight(&m, now)}
		if client != "" {
			row.ClientURL = "/admin/clients/" + url.PathEscape(m.ClientID)
		}
		if account != "" {
			row.AccountURL = userPath(m.Subject)
		}
		if m.Status == store.LogoutPending && !row.InFlight {
			row.NextAttemptAt = m.NextAttemptAt.Format(timeFormat)
		}
		row.CanRetry = !row.InFlight && m.Status != store.LogoutDelivered
		row.CanDrop = !row.InFlight && m.Status == store.LogoutPending
		rows = append(rows, row)
	}
	return rows
}

// logoutInFlight: a sender holds the message and its lease has not ended. A claim past its
// lease belongs to a sender that died; the store's retry and drop clear it.
func logoutInFlight(m *store.LogoutMessage, now time.Time) bool {
	return m.Claim != "" && m.NextAttemptAt.After(now)
}

// adminLogoutRetry makes a pending or abandoned message due now (an abandoned one with a fresh
// attempt budget) and wakes this replica's delivery loop.
func (s *Server) adminLogoutRetry(w http.ResponseWriter, r *http.Request, a *adminReq) error {
	err := s.adminLogoutChange(r, a, eventAdminLogoutRetried, func(ctx context.Context, q store.Queries, m *store.LogoutMessage, now time.Time) error {
		if m.Status == store.LogoutDelivered {
			return errLogoutDelivered
		}
		return q.RetryLogout(ctx, m.ID, now)
	})
	if err != nil {
		return err
	}
	s.op.WakeLogoutDelivery()
	adminRedirect(w, r, "/admin/logouts", noticeLogoutRetried)
	return nil
}

// adminLogoutDrop abandons a pending message: the relying app is not told of that logout.
func (s *Server) adminLogoutDrop(w http.ResponseWriter, r *http.Request, a *adminReq) error {
	err := s.adminLogoutChange(r, a, eventAdminLogoutDropped, func(ctx context.Context, q store.Queries, m *store.LogoutMessage, now time.Time) error {
		switch m.Status {
		case store.LogoutDelivered:
			return errLogoutDelivered
		case store.LogoutAbandoned:
			return errLogoutAbandoned
		}
		return q.DropLogout(ctx, m.ID, droppedError, now)
	})
	if err != nil {
		return err
	}
	adminRedirect(w, r, "/admin/logouts", noticeLogoutDropped)
	return nil
}

// adminLogoutChange loads the message of the path in a transaction (locked on PostgreSQL, under
// the write lock on SQLite, so no claim slips in between), refuses one under a live claim, applies
// change and audits it with what the message was before.
func (s *Server) adminLogoutChange(r *http.Request, a *adminReq, event string,
	change func(ctx context.Context, q store.Queries, m *store.LogoutMessage, now time.Time) error) error {
	ctx := r.Context()
	id := r.PathValue("id")
	return s.adminTx(ctx, func(q store.Queries, audit *idp.AuditBatch) error {
		m, err := q.GetLogout(ctx, id)
		if errors.Is(err, store.ErrNotFound) {
			return errNoLogout
		}
		if err != nil {
			return err
		}
		now := s.now().UTC()
		if logoutInFlight(m, now) {
			return errLogoutInFlight
		}
		if err := change(ctx, q, m, now); err != nil {
			return adminNotFound(err, errLogoutInFlight)
		}
		e := s.adminEvent(r, a, event)
		e.AccountID, e.ClientID = m.Subject, m.ClientID
		e.Detail = adminDetail(map[string]any{"message_id": m.ID, "was": m.Status, "attempts": m.Attempts, "last_error": m.LastError})
		return audit.Append(ctx, q, e)
	})
}
