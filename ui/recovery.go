package ui

import (
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"strings"
	"time"

	"github.com/go-webauthn/webauthn/protocol"

	"github.com/keyward/keyward/idp"
	"github.com/keyward/keyward/templates"
)

// Routes of account recovery, step-up and pending changes (issue 5):
//
//	GET  /recovery                       start page, or with ?token= the mailed link's page
//	POST /recovery/start                 mail a link; the same answer for every address
//	POST /webauthn/recovery/begin|finish enroll a new passkey from the link (+ optional code)
//	GET  /recovery/done                  outcome
//	GET  /recovery/cancel?token=         one-click cancel: confirmation page (GET changes nothing)
//	POST /recovery/cancel                cancel it (no sign-in: holding the link is the proof)
//	POST /webauthn/stepup/begin|finish   step-up ceremony of a signed-in session
//	GET  /account/security               pending changes and recovery codes
//	POST /account/pending/{id}/cancel    cancel a pending change (step-up)
//	POST /account/recovery-codes         new recovery codes, shown once (step-up)
//	POST /recovery/admin-link            admin-assisted recovery link (admin + step-up); account_id form field

// RecoveryConfig is the ui side of the recovery policy.
type RecoveryConfig struct {
	// StepUpMaxAge is the default step-up window; default 5 minutes.
	StepUpMaxAge time.Duration
	// SignInPerMinute and SignInBurst set the per-IP sign-in bucket; zero keeps the default.
	SignInPerMinute, SignInBurst int
	// StepUpWindows overrides StepUpMaxAge per action (keys: StepUpActions).
	StepUpWindows map[string]time.Duration
}

type recoveryDepsT struct {
	rec           *idp.Recovery
	limits        *rateLimits
	stepUpMaxAge  time.Duration
	stepUpWindows map[string]time.Duration
}

// ConfigureRecovery gives the server its recovery service and policy; call it before
// SetProvider. Without it the defaults apply.
func (s *Server) ConfigureRecovery(rec *idp.Recovery, cfg RecoveryConfig) {
	if cfg.StepUpMaxAge <= 0 {
		cfg.StepUpMaxAge = DefaultStepUpMaxAge
	}
	rules := map[string]limitRule{}
	for k, v := range defaultLimits {
		rules[k] = v
	}
	if cfg.SignInPerMinute > 0 && cfg.SignInBurst > 0 {
		rules[limitSignIn] = limitRule{every: time.Minute / time.Duration(cfg.SignInPerMinute), burst: cfg.SignInBurst}
	}
	windows := map[string]time.Duration{}
	for k, v := range cfg.StepUpWindows {
		windows[k] = v
	}
	s.recovery = &recoveryDepsT{rec: rec, limits: newRateLimits(s.now, rules), stepUpMaxAge: cfg.StepUpMaxAge, stepUpWindows: windows}
}

func (s *Server) recoveryDeps() *recoveryDepsT { return s.recovery }

func (s *Server) mountRecovery(mux *http.ServeMux) {
	if s.recovery == nil {
		rec, err := idp.NewRecovery(s.idp, idp.RecoveryConfig{})
		if err != nil {
			panic(err) // the zero config is valid: a programming error
		}
		s.ConfigureRecovery(rec, RecoveryConfig{})
	}
	mux.HandleFunc("GET /recovery", s.recoveryPage)
	mux.HandleFunc("POST /recovery/start", s.recoveryStart)
	mux.HandleFunc("POST /webauthn/recovery/begin", s.recoveryBegin)
	mux.HandleFunc("POST /webauthn/recovery/finish", s.limitByIP(limitTokenUse, s.recoveryFinish))
	mux.HandleFunc("GET /recovery/done", s.recoveryDone)
	mux.HandleFunc("GET /recovery/cancel", s.recoveryCancelPage)
	mux.HandleFunc("POST /recovery/cancel", s.limitByIP(limitTokenUse, s.recoveryCancel))
	mux.HandleFunc("POST /webauthn/stepup/begin", s.stepUpBegin)
	mux.HandleFunc("POST /webauthn/stepup/finish", s.stepUpFinish)
	mux.HandleFunc("GET /account/security", s.securityPage)
	mux.HandleFunc("POST /account/pending/{id}/cancel", s.pendingCancel)
	mux.HandleFunc("POST /account/recovery-codes", s.regenerateCodes)
	mux.HandleFunc("POST /recovery/admin-link", s.adminRecoveryLink)
	for _, p := range []string{"/recovery/start", "/webauthn/recovery/begin", "/webauthn/recovery/finish",
		"/webauthn/stepup/begin", "/webauthn/stepup/finish", "/account/pending/{id}/cancel", "/account/recovery-codes", "/recovery/admin-link"} {
		mux.HandleFunc(p, func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Allow", http.MethodPost)
			s.fail(w, r, errMethod)
		})
	}
}

// emailKey names an address in the limiter without keeping it in memory in clear.
func emailKey(email string) string {
	sum := sha256.Sum256([]byte(strings.ToLower(strings.TrimSpace(email))))
	return "email:" + hex.EncodeToString(sum[:12])
}

func (s *Server) recoveryPage(w http.ResponseWriter, r *http.Request) {
	b, err := s.sessions.ensure(w, r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	token := r.URL.Query().Get("token")
	if token == "" {
		s.render(w, r, http.StatusOK, templates.RecoveryStart(templates.RecoveryStartView{Page: s.page(b, "Recover your account")}))
		return
	}
	v := templates.RecoveryLinkView{Page: s.page(b, "Create a new passkey"), Token: token}
	if _, err := s.recovery.rec.CheckRecoveryLink(r.Context(), token); err != nil {
		status, _, msg := s.classify(r, err)
		v.Token, v.Error = "", msg
		s.render(w, r, status, templates.RecoveryLink(v))
		return
	}
	s.render(w, r, http.StatusOK, templates.RecoveryLink(v))
}

func (s *Server) recoveryStart(w http.ResponseWriter, r *http.Request) {
	b, err := s.ceremonySession(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	email := r.PostFormValue("email")
	if ok, retry := s.recovery.limits.allow(limitRecoveryStart, s.ipKey(r), emailKey(email)); !ok {
		s.tooMany(w, r, retry)
		return
	}
	if err := s.recovery.rec.StartRecovery(r.Context(), s.meta(r, b), email); err != nil {
		s.fail(w, r, err)
		return
	}
	s.render(w, r, http.StatusOK, templates.RecoveryStart(templates.RecoveryStartView{Page: s.page(b, "Recover your account"), Sent: true}))
}

func (s *Server) recoveryBegin(w http.ResponseWriter, r *http.Request) {
	b, err := s.ceremonySession(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	var body struct {
		Token string `json:"token"`
		Code  string `json:"code"`
	}
	if err := decodeJSON(r, &body); err != nil {
		s.fail(w, r, err)
		return
	}
	if body.Code != "" {
		// Each code attempt is a guess: throttle per IP and per account before any hashing.
		account, err := s.recovery.rec.CheckRecoveryLink(r.Context(), body.Token)
		if err != nil {
			s.fail(w, r, err)
			return
		}
		if ok, retry := s.recovery.limits.allow(limitRecoveryCode, s.ipKey(r), "account:"+account); !ok {
			s.tooMany(w, r, retry)
			return
		}
	}
	opts, err := s.recovery.rec.BeginRecovery(r.Context(), s.meta(r, b), body.Token, body.Code)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, opts)
}

func (s *Server) recoveryFinish(w http.ResponseWriter, r *http.Request) {
	b, err := s.ceremonySession(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	parsed, err := protocol.ParseCredentialCreationResponseBody(r.Body)
	if err != nil {
		s.fail(w, r, parseError(err))
		return
	}
	res, err := s.recovery.rec.FinishRecovery(r.Context(), s.meta(r, b), parsed)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	out := map[string]any{"status": "pending", "redirect_to": "/recovery/done?state=pending&due=" + res.DueAt.UTC().Format(time.RFC3339)}
	if res.Active {
		// The used code's whole set was replaced (SA-05e): the new codes are shown once, here.
		out = map[string]any{"status": "active", "redirect_to": "/recovery/done?state=active", "recovery_codes": res.Codes}
	} else {
		out["due_at"] = res.DueAt.UTC().Format(time.RFC3339)
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) recoveryDone(w http.ResponseWriter, r *http.Request) {
	v := templates.RecoveryDoneView{Page: s.page(nil, "Recovery"), Active: r.URL.Query().Get("state") == "active"}
	if due, err := time.Parse(time.RFC3339, r.URL.Query().Get("due")); err == nil {
		v.DueAt = due.Format(timeFormat)
	} else {
		v.DueAt = "the end of the waiting period"
	}
	s.render(w, r, http.StatusOK, templates.RecoveryDone(v))
}
