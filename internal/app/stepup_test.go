package app

import (
	"strings"
	"testing"
	"time"

	"github.com/keyward/keyward/ui"
)

// Every configurable step-up action reaches the ui, and bad windows and cooling-off periods
// are refused with the key named.
func TestStepUpWindowsAndChangeCoolingOff(t *testing.T) {
	c := DefaultConfig()
	if err := c.Validate(); err != nil {
		t.Fatalf("defaults: %v", err)
	}
	if c.Recovery.ChangeCoolingOff != 24*time.Hour {
		t.Fatalf("default change_cooling_off %s, want 24h", c.Recovery.ChangeCoolingOff)
	}
	byAction := c.Recovery.StepUpWindows.byAction()
	for _, a := range ui.StepUpActions {
		if _, ok := byAction[a]; !ok {
			t.Errorf("step_up_windows has no key for the action %q", a)
		}
	}
	if len(byAction) != len(ui.StepUpActions) {
		t.Errorf("step_up_windows names %d actions, ui knows %d", len(byAction), len(ui.StepUpActions))
	}

	c.Recovery.StepUpWindows.Admin = 2 * time.Hour
	c.Recovery.StepUpWindows.AddPasskey = -time.Second
	c.Recovery.ChangeCoolingOff = 30 * time.Minute
	err := c.Validate()
	for _, key := range []string{"recovery.step_up_windows.admin", "recovery.step_up_windows.add_passkey", "recovery.change_cooling_off"} {
		if err == nil || !strings.Contains(err.Error(), key) {
			t.Errorf("Validate does not name %s: %v", key, err)
		}
	}
}
