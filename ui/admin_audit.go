package ui

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/keyward/keyward/idp"
	"github.com/keyward/keyward/store"
	"github.com/keyward/keyward/templates"
)

// The audit log: newest first, filtered by account, event, time and IP, paged by event id
// (stable while new events arrive), and exported as JSON lines with the same filters.

const (
	auditPageSize   = 100
	auditExportPage = 1000
	// eventAuditExported records who took a copy of the audit log.
	eventAuditExported = "admin.audit.exported"
)

// knownEvents feeds the event filter's suggestions; any other name can still be typed.
var knownEvents = []string{
	idp.EventSignupBegun, idp.EventSignupCompleted, idp.EventSignupFailed, idp.EventLoginSucceeded,
	idp.EventLoginFailed, idp.EventCloneSuspected, idp.EventInviteCreated, "session.ended",
	"passkey.registered", "passkey.renamed", "passkey.revoked",
	eventAdminClientCreated, eventAdminClientUpdated, eventAdminClientRotated, eventAdminClientDeleted,
	eventAdminDisabled, eventAdminEnabled, eventAdminSessionsEnded, eventAdminRoleGranted,
	eventAdminRoleRemoved, eventAuditExported,
	eventKeysRotated, eventAdminLogoutRetried, eventAdminLogoutDropped,
}

// auditFilter is the parsed query string shared by the page and the export.
type auditFilter struct {
	q                                store.AuditQuery
	account, event, ip, since, until string
	errs                             []string
	empty                            bool // the account filter names nobody: nothing matches
}

const datetimeLocal = "2006-01-02T15:04"

func (s *Server) parseAuditFilter(r *http.Request) (auditFilter, error) {
	v := r.URL.Query()
	f := auditFilter{account: clip(v.Get("account"), 320), event: clip(v.Get("event"), 64), ip: clip(v.Get("ip"), 64),
		since: clip(v.Get("since"), 40), until: clip(v.Get("until"), 40)}
	f.q = store.AuditQuery{Event: f.event, IP: f.ip}
	if f.account != "" {
		if strings.Contains(f.account, "@") {
			acc, err := s.st.GetAccountByEmail(r.Context(), strings.ToLower(f.account))
			switch {
			case errors.Is(err, store.ErrNotFound):
				f.errs, f.empty = append(f.errs, "No account has this email address."), true
			case err != nil:
				return f, err
			default:
				f.q.AccountID = acc.ID
			}
		} else {
			f.q.AccountID = f.account
		}
	}
	var err error
	if f.q.Since, err = parseFilterTime(f.since); err != nil {
		f.errs = append(f.errs, "From: use a date and time like 2026-05-12T09:30.")
	}
	if f.q.Until, err = parseFilterTime(f.until); err != nil {
		f.errs = append(f.errs, "Until: use a date and time like 2026-05-12T17:00.")
	}
	if b := v.Get("before"); b != "" {
		if f.q.BeforeID, err = strconv.ParseInt(b, 10, 64); err != nil || f.q.BeforeID <= 0 {
			f.errs = append(f.errs, "The page position is not valid.")
			f.q.BeforeID = 0
		}
	}
	return f, nil
}

// parseFilterTime reads a datetime-local value (UTC) or RFC 3339.
func parseFilterTime(s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	if t, err := time.Parse(datetimeLocal, s); err == nil {
		return t.UTC(), nil
	}
	t, err := time.Parse(time.RFC3339, s)
	return t.UTC(), err
}

func (f auditFilter) values() url.Values {
	v := url.Values{}
	for k, val := range map[string]string{"account": f.account, "event": f.event, "ip": f.ip, "since": f.since, "until": f.until} {
		if val != "" {
			v.Set(k, val)
		}
	}
	return v
}

func clip(s string, n int) string {
	s = strings.TrimSpace(s)
	if len(s) > n {
		return s[:n]
	}
	return s
}

func (s *Server) adminAudit(w http.ResponseWriter, r *http.Request, a *adminReq) error {
	f, err := s.parseAuditFilter(r)
	if err != nil {
		return err
	}
	v := templates.AdminAuditView{AdminPage: s.adminPage(a, "audit", "Audit log"), Account: f.account, Event: f.event,
		IP: f.ip, Since: f.since, Until: f.until, KnownEvents: knownEvents, Errors: f.errs}
	v.ExportURL = "/admin/audit.jsonl?" + f.values().Encode()
	if !f.empty && len(f.errs) == 0 {
		q := f.q
		q.Limit = auditPageSize + 1
		events, err := s.st.ListAudit(r.Context(), q)
		if err != nil {
			return err
		}
		if len(events) > auditPageSize {
			events = events[:auditPageSize]
			older := f.values()
			older.Set("before", strconv.FormatInt(events[len(events)-1].ID, 10))
			v.OlderURL = "/admin/audit?" + older.Encode()
		}
		v.Events = s.eventRows(r, events)
	}
	s.render(w, r, http.StatusOK, templates.AdminAudit(v))
	return nil
}

// auditLine is one exported event. performed_by is the administrator (or other actor) who
// acted on the account; detail is the event's JSON object as stored.
type auditLine struct {
	ID           int64           `json:"id"`
	Time         time.Time       `json:"time"`
	Event        string          `json:"event"`
	Result       string          `json:"result"`
	AccountID    string          `json:"account_id,omitempty"`
	PerformedBy  string          `json:"performed_by,omitempty"`
	CredentialID string          `json:"credential_id,omitempty"`
	ClientID     string          `json:"client_id,omitempty"`
	IP           string          `json:"ip,omitempty"`
	UserAgent    string          `json:"user_agent,omitempty"`
	Detail       json.RawMessage `json:"detail,omitempty"`
}

// adminAuditExport streams every matching event, newest first, one JSON object per line.
// The export itself is audited: a copy of the log is worth knowing about.
func (s *Server) adminAuditExport(w http.ResponseWriter, r *http.Request, a *adminReq) error {
	f, err := s.parseAuditFilter(r)
	if err != nil {
		return err
	}
	if len(f.errs) > 0 && !f.empty {
		return errMalformed.WithMessage(strings.Join(f.errs, " "))
	}
	e := s.adminEvent(r, a, eventAuditExported)
	e.Detail = adminDetail(map[string]any{"filters": f.values()})
	s.idp.Audit(r.Context(), e)

	h := w.Header()
	h.Set("Content-Type", "application/jsonl; charset=utf-8")
	h.Set("Content-Disposition", `attachment; filename="keyward-audit.jsonl"`)
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	if f.empty {
		return nil
	}
	enc := json.NewEncoder(w)
	q := f.q
	q.Limit = auditExportPage
	for {
		events, err := s.st.ListAudit(r.Context(), q)
		if err != nil {
			// The status line is gone; a truncated file is all that can be said.
			s.log.ErrorContext(r.Context(), "audit export failed", append(logAttrs(r), "err", err.Error())...)
			return nil
		}
		for _, ev := range events {
			line := auditLine{ID: ev.ID, Time: ev.Time.UTC(), Event: ev.Event, Result: ev.Result, AccountID: ev.AccountID,
				PerformedBy: ev.ActorID, CredentialID: ev.CredentialID, ClientID: ev.ClientID, IP: ev.IP, UserAgent: ev.UserAgent}
			if json.Valid(ev.Detail) {
				line.Detail = ev.Detail
			}
			if err := enc.Encode(line); err != nil {
				return nil // the client went away
			}
		}
		if len(events) < auditExportPage {
			return nil
		}
		q.BeforeID = events[len(events)-1].ID
	}
}

// eventRows formats events for the console, naming accounts by email where they still exist.
func (s *Server) eventRows(r *http.Request, events []store.AuditEvent) []templates.AdminEventRow {
	names := map[string]string{}
	name := func(ctx context.Context, id string) (string, string) {
		if id == "" {
			return "", ""
		}
		n, ok := names[id]
		if !ok {
			n = id
			if acc, err := s.st.GetAccount(ctx, id); err == nil {
				n = acc.Email
			}
			names[id] = n
		}
		return n, userPath(id)
	}
	rows := make([]templates.AdminEventRow, 0, len(events))
	for _, e := range events {
		row := templates.AdminEventRow{ID: strconv.FormatInt(e.ID, 10), Time: e.Time.UTC().Format("2006-01-02 15:04:05"),
			Event: e.Event, Result: e.Result, IP: e.IP, Client: e.ClientID, Failed: e.Result != idp.ResultOK,
			UserAgent: idp.ParseUserAgent(e.UserAgent).String()}
		row.Account, row.AccountURL = name(r.Context(), e.AccountID)
		if e.ActorID != e.AccountID { // self-service events name the account as their actor too
			row.PerformedBy, row.PerformedURL = name(r.Context(), e.ActorID)
		}
		if len(e.CredentialID) > 12 {
			row.Credential = e.CredentialID[:12] + "…"
		} else {
			row.Credential = e.CredentialID
		}
		if len(e.Detail) > 0 && len(e.Detail) <= 500 {
			row.Detail = string(e.Detail)
		}
		rows = append(rows, row)
	}
	return rows
}
