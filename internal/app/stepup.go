package app

import (
	"time"

	"github.com/keyward/keyward/ui"
)

// StepUpWindowsConfig sets the step-up window of each sensitive action (recovery.step_up_windows):
// how recent the passkey assertion must be. Zero keeps recovery.step_up_max_age.
type StepUpWindowsConfig struct {
	AddPasskey      time.Duration `yaml:"add_passkey"`
	RemovePasskey   time.Duration `yaml:"remove_passkey"`
	ChangeEmail     time.Duration `yaml:"change_email"`
	RegenerateCodes time.Duration `yaml:"regenerate_codes"`
	DeleteAccount   time.Duration `yaml:"delete_account"`
	EndSessions     time.Duration `yaml:"end_sessions"`
	Admin           time.Duration `yaml:"admin"`
}

func (c StepUpWindowsConfig) byAction() map[string]time.Duration {
	return map[string]time.Duration{
		ui.StepUpAddPasskey: c.AddPasskey, ui.StepUpRemovePasskey: c.RemovePasskey, ui.StepUpChangeEmail: c.ChangeEmail,
		ui.StepUpRegenerateCodes: c.RegenerateCodes, ui.StepUpDeleteAccount: c.DeleteAccount,
		ui.StepUpEndSessions: c.EndSessions, ui.StepUpAdmin: c.Admin,
	}
}

// validateAccountChanges checks recovery.step_up_windows and recovery.change_cooling_off.
func (c RecoveryConfig) validateAccountChanges(bad func(key, format string, a ...any)) {
	for action, d := range c.StepUpWindows.byAction() {
		// A step-up is a fresh proof of presence: an hour is already generous (NIST 63B-4 §2.3.3
		// gives AAL3 reauthentication 15 minutes of inactivity).
		if d < 0 || d > time.Hour {
			bad("recovery.step_up_windows."+action, "must be between 0 (use step_up_max_age) and 1h")
		}
	}
	if c.ChangeCoolingOff < time.Hour {
		bad("recovery.change_cooling_off", "must be at least 1h")
	}
}
