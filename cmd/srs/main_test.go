package main

import (
	"bufio"
	"bytes"
	"errors"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"
)

// buildSRS builds the command once per test binary.
func buildSRS(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "srs")
	if runtime.GOOS == "windows" {
		bin += ".exe"
	}
	out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

func TestCommand(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("signals differ on Windows")
	}
	bin := buildSRS(t)

	out, err := exec.Command(bin, "-version").Output()
	if err != nil || strings.TrimSpace(string(out)) == "" {
		t.Errorf("-version: %q %v", out, err)
	}

	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.json")
	_ = os.WriteFile(bad, []byte(`[{"name":"authenticationHost","value":"10.0.0.1"}]`), 0o600)
	var stderr bytes.Buffer
	cmd := exec.Command(bin, "-config", bad)
	cmd.Stderr = &stderr
	err = cmd.Run()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 2 {
		t.Errorf("bad config: %v", err)
	}
	if got := stderr.String(); got != "srs: "+bad+": authenticationHost: 10.0.0.1 is not within 127.0.0.0/8\n" {
		t.Errorf("bad config said %q", got)
	}

	// A good one: srs serves, and SIGTERM stops it cleanly.
	good := filepath.Join(dir, "config.json")
	_ = os.WriteFile(good, []byte(`[{"name":"authenticationPort","value":0},{"name":"display","value":":99"},
		{"name":"server","value":"http://127.0.0.1:1/api/v2"}]`), 0o600)
	cmd = exec.Command(bin, "-config", good)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	logPath := filepath.Join(dir, "GSR.log")
	var url string
	deadline := time.Now().Add(10 * time.Second)
	for url == "" && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
		url = listenURL(logPath)
	}
	if url == "" {
		cmd.Process.Kill()
		t.Fatalf("no listening line in the log")
	}
	resp, err := http.Get(url + "/version")
	if err != nil || resp.StatusCode != 200 {
		t.Errorf("/version: %v %v", resp, err)
	}
	if resp != nil {
		resp.Body.Close()
	}
	_ = cmd.Process.Signal(syscall.SIGTERM)
	if err := cmd.Wait(); err != nil {
		t.Errorf("after SIGTERM: %v", err)
	}
	log, _ := os.ReadFile(logPath)
	if !regexp.MustCompile(`(?m)^\S+ \S+ INFO  ServiceHandler: Running Version:\S+, IP:127\.0\.0\.1, OS:`+runtime.GOOS+`$`).Match(log) ||
		!strings.Contains(string(log), "ServiceHandler: stopped") {
		t.Errorf("log:\n%s", log)
	}
}

var listening = regexp.MustCompile(`ServiceHandler: listening on (http\S+)`)

// listenURL is the loopback URL srs logged, or "".
func listenURL(logPath string) string {
	f, err := os.Open(logPath)
	if err != nil {
		return ""
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if m := listening.FindStringSubmatch(sc.Text()); m != nil {
			return m[1]
		}
	}
	return ""
}
