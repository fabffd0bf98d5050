//go:build linux

package srs

import (
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
)

// TestLoopbackRefusesOtherLocalUsers connects for real from a process of
// another user (nobody, uid 65534): srs finds its socket in
// /proc/net/tcp and refuses it, while its own user's request passes.
func TestLoopbackRefusesOtherLocalUsers(t *testing.T) {
	if os.Getuid() != 0 {
		t.Skip("needs root to run a client as another user")
	}
	curl, err := exec.LookPath("curl")
	if err != nil {
		t.Skip("needs curl")
	}
	ts := startSRS(t, srsSetup{})
	run := func(uid uint32) (string, string) {
		cmd := exec.Command(curl, "-s", "-o", "-", "-w", "\n%{http_code}", ts.svc.URL()+"/version")
		if uid != 0 {
			cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uid, Gid: uid}}
		}
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("curl as %d: %v", uid, err)
		}
		text := strings.TrimSpace(string(out))
		i := strings.LastIndex(text, "\n")
		return text[i+1:], text[:max(i, 0)]
	}
	if code, body := run(0); code != "200" || !strings.Contains(body, "9.9.9-test") {
		t.Errorf("root's request: %s %s", code, body)
	}
	code, body := run(65534)
	if code != "403" || !strings.Contains(body, "OTHER_USER") {
		t.Errorf("nobody's request: %s %s", code, body)
	}
	// Another desktop user configured: root is refused now.
	nobody := 65534
	ts2 := startSRS(t, srsSetup{opts: Options{DesktopUID: &nobody}})
	cmd := exec.Command(curl, "-s", "-o", "/dev/null", "-w", "%{http_code}", ts2.svc.URL()+"/version")
	if out, _ := cmd.Output(); string(out) != "403" {
		t.Errorf("root to an srs of uid 65534: %s", out)
	}
}
