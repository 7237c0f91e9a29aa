package ui

import (
	"net/http"
	"strconv"
	"time"

	"github.com/keyward/keyward/idp"
	"github.com/keyward/keyward/oidc"
	"github.com/keyward/keyward/store"
	"github.com/keyward/keyward/templates"
)

// Signing keys seen from the console (/admin/keys) and "Rotate now". The rotation is the CLI's
// (oidc.Provider.RotateKeys, `keyward keys rotate`): the new keys are published at once (on the
// other replicas at their next key reload, every minute) and sign only after the activation
// delay, so relying apps have them in their cached JWKS first (RL-06).

const eventKeysRotated = "keys.rotated"

// keyReloadEvery is internal/app's key reload interval, as the page tells it.
const keyReloadEvery = time.Minute

const noticeKeysRotated = "New signing keys published; they start signing at the time shown."

func (s *Server) adminKeys(w http.ResponseWriter, r *http.Request, a *adminReq) error {
	states, err := s.op.Keys().KeyStates(r.Context())
	if err != nil {
		return err
	}
	v := templates.AdminKeysView{AdminPage: s.adminPage(a, "keys", "Signing keys"),
		Retention: durationText(s.op.KeyRetention()), ReloadEvery: stepUpWindowText(keyReloadEvery),
		Delay: durationText(s.op.KeyActivationDelay())}
	if d := s.op.KeyRotationInterval(); d > 0 {
		v.Automatic = durationText(d)
	}
	// The notice is checked here rather than in adminNotices: it belongs to this page only.
	if r.URL.Query().Get("notice") == noticeKeysRotated {
		v.Notice = noticeKeysRotated
	}
	for _, k := range states {
		row := templates.AdminKeyRow{KID: k.KID, Alg: k.Alg, State: k.State, CreatedAt: k.CreatedAt.Format(timeFormat)}
		if !k.RetiredAt.IsZero() {
			row.RetiredAt = k.RetiredAt.Format(timeFormat)
		}
		if !k.ExpiresAt.IsZero() {
			row.Until = k.ExpiresAt.Format(timeFormat)
		}
		if !k.SignsFrom.IsZero() {
			row.SignsFrom = k.SignsFrom.Format(timeFormat)
		}
		v.Keys = append(v.Keys, row)
	}
	s.render(w, r, http.StatusOK, templates.AdminKeys(v))
	return nil
}

// adminKeysRotate rotates the keys now. Rotation writes through the store outside a
// transaction of ours (it is the CLI's path), so the audit event follows it: a rotation whose
// event failed to append answers 500 and shows in the server log, never silently.
func (s *Server) adminKeysRotate(w http.ResponseWriter, r *http.Request, a *adminReq) error {
	rot, err := s.op.RotateKeys(r.Context())
	if err != nil {
		return err
	}
	s.log.InfoContext(r.Context(), "signing keys rotated from the console", append(logAttrs(r), "performed_by", a.me.ID,
		"kids", rot.KIDs, "signs_from", rot.SignsFrom)...)
	err = s.adminTx(r.Context(), func(q store.Queries, audit *idp.AuditBatch) error {
		e := s.adminEvent(r, a, eventKeysRotated)
		e.Detail = adminDetail(map[string]any{"kids": rot.KIDs, "algs": []string{oidc.AlgRS256, oidc.AlgES256},
			"signs_from": rot.SignsFrom.UTC().Format(time.RFC3339), "retention": oidc.FormatLifetime(s.op.KeyRetention())})
		return audit.Append(r.Context(), q, e)
	})
	if err != nil {
		return err
	}
	adminRedirect(w, r, "/admin/keys", noticeKeysRotated)
	return nil
}

// durationText says a configured duration for people ("7 days", "36 hours", "90 seconds").
func durationText(d time.Duration) string {
	unit := func(n int64, one string) string {
		if n == 1 {
			return "1 " + one
		}
		return strconv.FormatInt(n, 10) + " " + one + "s"
	}
	switch {
	case d >= 24*time.Hour && d%(24*time.Hour) == 0:
		return unit(int64(d/(24*time.Hour)), "day")
	case d >= time.Hour && d%time.Hour == 0:
		return unit(int64(d/time.Hour), "hour")
	case d >= time.Minute && d%time.Minute == 0:
		return unit(int64(d/time.Minute), "minute")
	}
	return unit(int64(d/time.Second), "second")
}
