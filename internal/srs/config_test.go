package srs

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

func testEnv() ConfigEnv {
	return ConfigEnv{Name: "config.json", Dir: "/opt/srs", OS: "linux", Getenv: func(k string) string {
		if k == "DISPLAY" {
			return ":7"
		}
		return ""
	}}
}

func TestParseConfigDefaults(t *testing.T) {
	c, err := ParseConfig([]byte(`[]`), testEnv())
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]any{
		"host": "127.0.0.1", "port": 8080, "device": "x11grab", "display": ":7", "frameRate": 5,
		"maxWidth": 1920, "upload": "/opt/srs/upload", "log": "/opt/srs/GSR.log", "queue": int64(2048),
		"free": 10.0, "ffmpeg": "ffmpeg", "monitors": "all", "dummy": time.Duration(0), "origins": 0,
	}
	got := map[string]any{
		"host": c.AuthenticationHost.String(), "port": c.AuthenticationPort, "device": c.CaptureDevice, "display": c.Display,
		"frameRate": c.FrameRate, "maxWidth": c.MaxWidth, "upload": c.UploadFolder, "log": c.LogFile, "queue": c.MaxQueueMB,
		"free": c.MinFreeDiskPercent, "ffmpeg": c.FFmpegPath, "monitors": c.Monitors.String(), "dummy": c.DummyRecordingDuration,
		"origins": len(c.AllowedOrigins),
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("defaults\n got %v\nwant %v", got, want)
	}
	for goos, device := range map[string]string{"windows": "gdigrab", "darwin": "avfoundation", "freebsd": "x11grab"} {
		env := testEnv()
		env.OS = goos
		c, err := ParseConfig([]byte(`[]`), env)
		if err != nil || c.CaptureDevice != device {
			t.Errorf("%s: device %q, %v; want %s", goos, c.CaptureDevice, err, device)
		}
	}
}

func TestParseConfigValues(t *testing.T) {
	c, err := ParseConfig([]byte(`[
	  {"name": "authenticationHost", "value": "127.1.1.2"},
	  {"name": "authenticationCertificate", "value": "certs/srs.pem"},
	  {"name": "authenticationKey", "value": "/etc/srs/key.pem"},
	  {"name": "server", "value": "https://Vault.example.com/api/v2/"},
	  {"name": "dummyRecordingDuration", "value": "5"},
	  {"name": "preLoadVlc", "value": "true"},
	  {"name": "proxyServerHost", "value": "proxy.corp"},
	  {"name": "proxyServerPort", "value": 3128},
	  {"name": "proxyServerUsername", "value": "bob"},
	  {"name": "proxyServerPassword", "value": "s3cret"},
	  {"name": "useSystemProxy", "value": false},
	  {"name": "captureDevice", "value": "auto"},
	  {"name": "display", "value": ":1.0"},
	  {"name": "frameRate", "value": 10},
	  {"name": "monitors", "value": [1, 0]},
	  {"name": "maxWidth", "value": "1280"},
	  {"name": "uploadFolder", "value": "/var/srs/upload"},
	  {"name": "maxQueueMB", "value": 100},
	  {"name": "minFreeDiskPercent", "value": 2.5},
	  {"name": "logFile", "value": "logs/GSR.log"},
	  {"name": "ffmpegPath", "value": "bin/ffmpeg"}
	]`), testEnv())
	if err != nil {
		t.Fatal(err)
	}
	checks := []struct {
		name      string
		got, want any
	}{
		{"host", c.AuthenticationHost.String(), "127.1.1.2"},
		{"port (HTTPS default)", c.AuthenticationPort, 443},
		{"cert", c.AuthenticationCertificate, filepath.Join("/opt/srs", "certs/srs.pem")},
		{"key", c.AuthenticationKey, "/etc/srs/key.pem"},
		{"server", c.Server, "https://Vault.example.com/api/v2"},
		{"origins from server", c.AllowedOrigins, []string{"https://vault.example.com"}},
		{"dummy", c.DummyRecordingDuration, 5 * time.Second},
		{"preload", c.PreLoad, true},
		{"proxy", c.ProxyServerHost + ":" + c.ProxyServerUsername + ":" + c.ProxyServerPassword, "proxy.corp:bob:s3cret"},
		{"proxy port", c.ProxyServerPort, 3128},
		{"device", c.CaptureDevice, "x11grab"},
		{"display", c.Display, ":1.0"},
		{"frame rate", c.FrameRate, 10},
		{"monitors", c.Monitors.Indexes, []int{1, 0}},
		{"max width", c.MaxWidth, 1280},
		{"upload", c.UploadFolder, "/var/srs/upload"},
		{"queue", c.MaxQueueMB, int64(100)},
		{"free", c.MinFreeDiskPercent, 2.5},
		{"log", c.LogFile, filepath.Join("/opt/srs", "logs/GSR.log")},
		{"ffmpeg", c.FFmpegPath, filepath.Join("/opt/srs", "bin/ffmpeg")},
	}
	for _, ch := range checks {
		if !reflect.DeepEqual(ch.got, ch.want) {
			t.Errorf("%s: %v, want %v", ch.name, ch.got, ch.want)
		}
	}
	c, err = ParseConfig([]byte(`[{"name":"monitors","value":"primary"},{"name":"allowedOrigins","value":["https://A.example:8443","http://b.example"]},
		{"name":"server","value":"http://vault:8080/api/v2"},{"name":"dummyRecordingDuration","value":-1},{"name":"authenticationPort","value":0}]`), testEnv())
	if err != nil {
		t.Fatal(err)
	}
	if !c.Monitors.Primary || !reflect.DeepEqual(c.AllowedOrigins, []string{"https://a.example:8443", "http://b.example"}) ||
		c.DummyRecordingDuration != 0 || c.AuthenticationPort != 0 {
		t.Errorf("got %+v", c)
	}
}

func TestParseConfigErrors(t *testing.T) {
	for _, tc := range []struct {
		json, param, msg string
	}{
		{`{}`, "", "not a JSON array"},
		{`[] []`, "", "text after"},
		{`[{"value": 1}]`, "", "no name"},
		{`[{"name": "colour", "value": 1}]`, "colour", "unknown parameter"},
		{`[{"name": "frameRate", "value": 1}, {"name": "frameRate", "value": 2}]`, "frameRate", "more than once"},
		{`[{"name": "frameRate"}]`, "frameRate", "no value"},
		{`[{"name": "frameRate", "value": 1, "other": 2}]`, "", "unknown field"},
		{`[{"name": "authenticationHost", "value": "127.0.0.0"}]`, "authenticationHost", "not allowed"},
		{`[{"name": "authenticationHost", "value": "127.255.255.255"}]`, "authenticationHost", "not allowed"},
		{`[{"name": "authenticationHost", "value": "10.0.0.1"}]`, "authenticationHost", "127.0.0.0/8"},
		{`[{"name": "authenticationHost", "value": "::1"}]`, "authenticationHost", "not an IPv4"},
		{`[{"name": "authenticationHost", "value": "localhost"}]`, "authenticationHost", "not an IPv4"},
		{`[{"name": "authenticationHost", "value": 127}]`, "authenticationHost", "not a string"},
		{`[{"name": "authenticationPort", "value": 70000}]`, "authenticationPort", "0 to 65535"},
		{`[{"name": "authenticationPort", "value": "80.5"}]`, "authenticationPort", "whole number"},
		{`[{"name": "authenticationCertificate", "value": "c.pem"}]`, "authenticationKey", "required"},
		{`[{"name": "authenticationKey", "value": "k.pem"}]`, "authenticationCertificate", "required"},
		{`[{"name": "allowedOrigins", "value": "https://a"}]`, "allowedOrigins", "array"},
		{`[{"name": "allowedOrigins", "value": ["https://a/path"]}]`, "allowedOrigins", "not an origin"},
		{`[{"name": "allowedOrigins", "value": ["*"]}]`, "allowedOrigins", "not an origin"},
		{`[{"name": "server", "value": "ftp://vault"}]`, "server", "http or https"},
		{`[{"name": "server", "value": "https://u:p@vault/api/v2"}]`, "server", "user name"},
		{`[{"name": "server", "value": "https://vault/api/v2?x=1"}]`, "server", "query"},
		{`[{"name": "dummyRecordingDuration", "value": 60}]`, "dummyRecordingDuration", "whole number"},
		{`[{"name": "dummyRecordingDuration", "value": 1.5}]`, "dummyRecordingDuration", "whole number"},
		{`[{"name": "preLoadVlc", "value": "yes"}]`, "preLoadVlc", "true or false"},
		{`[{"name": "useSystemProxy", "value": 1}]`, "useSystemProxy", "true or false"},
		{`[{"name": "proxyServerHost", "value": "bad host"}]`, "proxyServerHost", "host name"},
		{`[{"name": "proxyServerHost", "value": "proxy"}]`, "proxyServerPort", "required"},
		{`[{"name": "proxyServerPort", "value": 3128}]`, "proxyServerHost", "required"},
		{`[{"name": "proxyServerPort", "value": 0}]`, "proxyServerPort", "1 to 65535"},
		{`[{"name": "proxyServerHost", "value": "p"}, {"name": "proxyServerPort", "value": 1}, {"name": "proxyServerPassword", "value": "pw"}]`, "proxyServerUsername", "required"},
		{`[{"name": "proxyServerUsername", "value": "u"}]`, "proxyServerHost", "required"},
		{`[{"name": "captureDevice", "value": "dshow"}]`, "captureDevice", "not one of"},
		{`[{"name": "display", "value": ":0 -i x"}]`, "display", "not an X display"},
		{`[{"name": "frameRate", "value": 0}]`, "frameRate", "1 to 30"},
		{`[{"name": "frameRate", "value": true}]`, "frameRate", "not a number"},
		{`[{"name": "monitors", "value": "left"}]`, "monitors", "not \"all\""},
		{`[{"name": "monitors", "value": []}]`, "monitors", "no monitor"},
		{`[{"name": "monitors", "value": [0, 0]}]`, "monitors", "twice"},
		{`[{"name": "monitors", "value": [-1]}]`, "monitors", "not a monitor index"},
		{`[{"name": "monitors", "value": [0.5]}]`, "monitors", "not a monitor index"},
		{`[{"name": "maxWidth", "value": 100}]`, "maxWidth", "160 to 7680"},
		{`[{"name": "maxQueueMB", "value": 0}]`, "maxQueueMB", "whole number"},
		{`[{"name": "minFreeDiskPercent", "value": 100}]`, "minFreeDiskPercent", "percentage"},
		{`[{"name": "minFreeDiskPercent", "value": -1}]`, "minFreeDiskPercent", "percentage"},
		{`[{"name": "logFile", "value": 3}]`, "logFile", "not a string"},
		{`[{"name": "uploadFolder", "value": "a\u0000b"}]`, "uploadFolder", "NUL"},
	} {
		_, err := ParseConfig([]byte(tc.json), testEnv())
		var ce *ConfigError
		if !errors.As(err, &ce) {
			t.Errorf("%s: error %v, want a ConfigError", tc.json, err)
			continue
		}
		if ce.Param != tc.param || !strings.Contains(ce.Error(), tc.msg) || !strings.HasPrefix(ce.Error(), "config.json: ") {
			t.Errorf("%s:\n got %q (param %q)\nwant param %q and %q", tc.json, ce.Error(), ce.Param, tc.param, tc.msg)
		}
	}
}

func TestParseConfigHidesProxyPassword(t *testing.T) {
	_, err := ParseConfig([]byte(`[{"name": "proxyServerPassword", "value": 123456789}]`), testEnv())
	if err == nil || strings.Contains(err.Error(), "123456789") {
		t.Errorf("error %v shows the password", err)
	}
}

func TestLoadConfig(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "config.json")
	if err := os.WriteFile(path, []byte(`[{"name":"server","value":"http://127.0.0.1:1/api/v2"},{"name":"display","value":":0"}]`), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := LoadConfig(path)
	if err != nil {
		t.Fatal(err)
	}
	if c.UploadFolder != filepath.Join(dir, "upload") || c.LogFile != filepath.Join(dir, "GSR.log") {
		t.Errorf("paths %s %s", c.UploadFolder, c.LogFile)
	}
	if _, err := LoadConfig(filepath.Join(dir, "missing.json")); err == nil || !strings.Contains(err.Error(), "missing.json: cannot read") {
		t.Errorf("missing file: %v", err)
	}
}

func FuzzParseConfig(f *testing.F) {
	f.Add([]byte(`[{"name":"authenticationHost","value":"127.0.0.2"},{"name":"monitors","value":[0,1]}]`))
	f.Add([]byte(`[{"name":"server","value":"https://vault/api/v2"},{"name":"allowedOrigins","value":["https://x"]}]`))
	f.Add([]byte(`[{"name":"proxyServerHost","value":"p"},{"name":"proxyServerPort","value":"8080"},{"name":"minFreeDiskPercent","value":"1e1"}]`))
	f.Add([]byte(`[{"name":"dummyRecordingDuration","value":-99999999999}]`))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := ParseConfig(data, testEnv())
		if err != nil {
			var ce *ConfigError
			if !errors.As(err, &ce) {
				t.Fatalf("error %T %v is not a ConfigError", err, err)
			}
			return
		}
		b := c.AuthenticationHost.As4()
		if b[0] != 127 || b == [4]byte{127, 0, 0, 0} || b == [4]byte{127, 255, 255, 255} {
			t.Fatalf("accepted host %s", c.AuthenticationHost)
		}
		if c.AuthenticationPort < 0 || c.AuthenticationPort > 65535 || c.FrameRate < 1 || c.FrameRate > 30 ||
			c.MaxQueueMB < 1 || c.MinFreeDiskPercent < 0 || c.MinFreeDiskPercent >= 100 ||
			c.DummyRecordingDuration < 0 || c.DummyRecordingDuration >= time.Minute {
			t.Fatalf("accepted %+v", c)
		}
		if (c.AuthenticationCertificate == "") != (c.AuthenticationKey == "") {
			t.Fatalf("certificate without key: %+v", c)
		}
		for _, o := range c.AllowedOrigins {
			if _, err := checkOrigin(o); err != nil {
				t.Fatalf("accepted origin %q", o)
			}
		}
	})
}
