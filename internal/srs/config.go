package srs

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"time"
)

// Defaults of config.json's parameters.
const (
	DefaultAuthenticationHost = "127.0.0.1"
	DefaultHTTPPort           = 8080
	DefaultHTTPSPort          = 443
	DefaultFrameRate          = 5
	DefaultMaxWidth           = 1920
	DefaultMaxQueueMB         = 2048
	DefaultMinFreeDiskPercent = 10
	DefaultFFmpegPath         = "ffmpeg"
	DefaultUploadFolder       = "upload"
	DefaultLogFile            = "GSR.log"

	maxConfigSize     = 1 << 20
	maxDummyRecording = 60 * time.Second
)

// Capture devices ffmpeg reads the screen with.
const (
	DeviceX11Grab      = "x11grab"
	DeviceGDIGrab      = "gdigrab"
	DeviceAVFoundation = "avfoundation"
)

// Config is one config.json, checked, with defaults for what it leaves out.
// Relative paths are resolved against the folder of config.json.
type Config struct {
	Source string // the path given to LoadConfig, or the name given to ParseConfig

	AuthenticationHost netip.Addr // authenticationHost: IPv4 in 127.0.0.0/8
	AuthenticationPort int        // authenticationPort; 0 picks a free port (tests)
	// authenticationCertificate and authenticationKey: PEM files; both set
	// means the loopback server speaks HTTPS.
	AuthenticationCertificate string
	AuthenticationKey         string
	AllowedOrigins            []string // exact Origin values browsers may call from

	Server string // the vault's /api/v2 URL without a trailing slash; may be empty (set at login)

	DummyRecordingDuration time.Duration // 0: off
	PreLoad                bool          // preLoadVlc

	ProxyServerHost     string
	ProxyServerPort     int
	ProxyServerUsername string
	ProxyServerPassword string
	UseSystemProxy      bool

	CaptureDevice      string // x11grab, gdigrab or avfoundation
	Display            string // the X display (x11grab); may be empty elsewhere
	FrameRate          int
	Monitors           MonitorSelection
	MaxWidth           int
	UploadFolder       string
	MaxQueueMB         int64
	MinFreeDiskPercent float64
	LogFile            string
	FFmpegPath         string
}

// MonitorSelection is the monitors parameter: all, the primary one, or the
// monitors at these indexes of the list ffmpeg finds.
type MonitorSelection struct {
	Primary bool  // "primary"
	Indexes []int // an array; nil with Primary false means "all"
}

// String is the selection as config.json writes it.
func (m MonitorSelection) String() string {
	switch {
	case m.Primary:
		return "primary"
	case m.Indexes == nil:
		return "all"
	}
	b, _ := json.Marshal(m.Indexes)
	return string(b)
}

// HTTPS reports whether the loopback server speaks HTTPS.
func (c *Config) HTTPS() bool { return c.AuthenticationCertificate != "" }

// ConfigError is a config.json that cannot be used. Param names the
// parameter at fault; it is empty when the file as a whole is wrong.
type ConfigError struct {
	File  string
	Param string
	Msg   string
}

func (e *ConfigError) Error() string {
	var b strings.Builder
	if e.File != "" {
		b.WriteString(e.File + ": ")
	}
	if e.Param != "" {
		b.WriteString(e.Param + ": ")
	}
	b.WriteString(e.Msg)
	return b.String()
}

// LoadConfig reads and checks config.json. Relative paths in it, and the
// default upload folder and log file, are taken from the folder it is in;
// the default display comes from $DISPLAY.
func LoadConfig(path string) (*Config, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, &ConfigError{File: path, Msg: fmt.Sprintf("cannot read: %v", errors.Unwrap(err))}
	}
	defer f.Close()
	var buf bytes.Buffer
	if _, err := buf.ReadFrom(io.LimitReader(f, maxConfigSize+1)); err != nil {
		return nil, &ConfigError{File: path, Msg: fmt.Sprintf("cannot read: %v", err)}
	}
	if buf.Len() > maxConfigSize {
		return nil, &ConfigError{File: path, Msg: "larger than 1 MiB"}
	}
	dir, err := filepath.Abs(filepath.Dir(path))
	if err != nil {
		return nil, &ConfigError{File: path, Msg: fmt.Sprintf("cannot resolve its folder: %v", err)}
	}
	return ParseConfig(buf.Bytes(), ConfigEnv{Name: path, Dir: dir, OS: runtime.GOOS, Getenv: os.Getenv})
}

// ConfigEnv is what ParseConfig needs from outside the file.
type ConfigEnv struct {
	Name   string              // for messages
	Dir    string              // the folder of config.json: relative paths start here
	OS     string              // runtime.GOOS: picks the capture device
	Getenv func(string) string // $DISPLAY; nil reads nothing
}

type configEntry struct {
	Name  *string         `json:"name"`
	Value json.RawMessage `json:"value"`
}

// ParseConfig checks config.json's text: a JSON array of
// {"name": …, "value": …}. Unknown names, repeated names, wrong types and
// bad values are errors naming the parameter. Numbers and booleans may be
// written as JSON strings ("8080", "false"), as the guide's files do.
func ParseConfig(data []byte, env ConfigEnv) (*Config, error) {
	fail := func(param, format string, args ...any) error {
		return &ConfigError{File: env.Name, Param: param, Msg: fmt.Sprintf(format, args...)}
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var entries []configEntry
	if err := dec.Decode(&entries); err != nil {
		return nil, fail("", "not a JSON array of {\"name\": …, \"value\": …}: %v", err)
	}
	if dec.More() {
		return nil, fail("", "text after the JSON array")
	}
	if _, err := dec.Token(); err == nil {
		return nil, fail("", "text after the JSON array")
	}
	values := map[string]json.RawMessage{}
	for i, e := range entries {
		if e.Name == nil || *e.Name == "" {
			return nil, fail("", "entry %d has no name", i+1)
		}
		name := *e.Name
		if _, ok := parsers[name]; !ok {
			return nil, fail(name, "unknown parameter")
		}
		if _, dup := values[name]; dup {
			return nil, fail(name, "given more than once")
		}
		if len(e.Value) == 0 {
			return nil, fail(name, "has no value")
		}
		values[name] = e.Value
	}
	c := &Config{
		Source:             env.Name,
		AuthenticationHost: netip.MustParseAddr(DefaultAuthenticationHost),
		AuthenticationPort: -1,
		FrameRate:          DefaultFrameRate,
		MaxWidth:           DefaultMaxWidth,
		MaxQueueMB:         DefaultMaxQueueMB,
		MinFreeDiskPercent: DefaultMinFreeDiskPercent,
		FFmpegPath:         DefaultFFmpegPath,
	}
	// Parameters are read in a fixed order so that the first error is the
	// same whatever order the file lists them in.
	for _, name := range parameterOrder {
		raw, ok := values[name]
		if !ok {
			continue
		}
		if err := parsers[name](c, raw); err != nil {
			return nil, fail(name, "%s", err.Error())
		}
	}
	if err := c.finish(env, values); err != nil {
		var ce *ConfigError
		if errors.As(err, &ce) {
			ce.File = env.Name
		}
		return nil, err
	}
	return c, nil
}

// finish checks what involves several parameters and fills in defaults
// that depend on others.
func (c *Config) finish(env ConfigEnv, given map[string]json.RawMessage) error {
	fail := func(param, format string, args ...any) error {
		return &ConfigError{Param: param, Msg: fmt.Sprintf(format, args...)}
	}
	switch {
	case c.AuthenticationCertificate != "" && c.AuthenticationKey == "":
		return fail("authenticationKey", "required with authenticationCertificate (the PEM private key of that certificate)")
	case c.AuthenticationKey != "" && c.AuthenticationCertificate == "":
		return fail("authenticationCertificate", "required with authenticationKey")
	}
	if c.AuthenticationPort < 0 {
		c.AuthenticationPort = DefaultHTTPPort
		if c.HTTPS() {
			c.AuthenticationPort = DefaultHTTPSPort
		}
	}
	switch {
	case c.ProxyServerHost != "" && c.ProxyServerPort == 0:
		return fail("proxyServerPort", "required with proxyServerHost")
	case c.ProxyServerHost == "" && c.ProxyServerPort != 0:
		return fail("proxyServerHost", "required with proxyServerPort")
	case c.ProxyServerHost == "" && (c.ProxyServerUsername != "" || c.ProxyServerPassword != ""):
		return fail("proxyServerHost", "required with proxyServerUsername and proxyServerPassword")
	case c.ProxyServerPassword != "" && c.ProxyServerUsername == "":
		return fail("proxyServerUsername", "required with proxyServerPassword")
	}
	if _, ok := given["allowedOrigins"]; !ok && c.Server != "" {
		c.AllowedOrigins = []string{originOf(c.Server)}
	}
	if c.CaptureDevice == "" {
		switch env.OS {
		case "windows":
			c.CaptureDevice = DeviceGDIGrab
		case "darwin":
			c.CaptureDevice = DeviceAVFoundation
		default:
			c.CaptureDevice = DeviceX11Grab
		}
	}
	if _, ok := given["display"]; !ok && env.Getenv != nil {
		c.Display = env.Getenv("DISPLAY")
	}
	c.UploadFolder = resolvePath(env.Dir, c.UploadFolder, DefaultUploadFolder)
	c.LogFile = resolvePath(env.Dir, c.LogFile, DefaultLogFile)
	c.AuthenticationCertificate = resolvePath(env.Dir, c.AuthenticationCertificate, "")
	c.AuthenticationKey = resolvePath(env.Dir, c.AuthenticationKey, "")
	// A bare command name is looked up on PATH; a relative path with a
	// separator is taken from config.json's folder.
	if strings.ContainsAny(c.FFmpegPath, `/\`) {
		c.FFmpegPath = resolvePath(env.Dir, c.FFmpegPath, "")
	}
	return nil
}

func resolvePath(dir, path, def string) string {
	if path == "" {
		path = def
	}
	if path == "" || filepath.IsAbs(path) || dir == "" {
		return path
	}
	return filepath.Join(dir, path)
}

// originOf is scheme://host[:port] of an absolute URL ParseConfig checked.
func originOf(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return ""
	}
	return strings.ToLower(u.Scheme) + "://" + strings.ToLower(u.Host)
}

var parameterOrder = []string{
	"authenticationHost", "authenticationPort", "authenticationCertificate", "authenticationKey",
	"allowedOrigins", "server", "dummyRecordingDuration", "preLoadVlc",
	"proxyServerHost", "proxyServerPort", "proxyServerUsername", "proxyServerPassword", "useSystemProxy",
	"captureDevice", "display", "frameRate", "monitors", "maxWidth",
	"uploadFolder", "maxQueueMB", "minFreeDiskPercent", "logFile", "ffmpegPath",
}

var parsers = map[string]func(c *Config, raw json.RawMessage) error{
	"authenticationHost": func(c *Config, raw json.RawMessage) error {
		s, err := stringValue(raw)
		if err != nil {
			return err
		}
		if s == "" {
			return nil
		}
		addr, err := ParseAuthenticationHost(s)
		if err != nil {
			return err
		}
		c.AuthenticationHost = addr
		return nil
	},
	"authenticationPort": func(c *Config, raw json.RawMessage) error {
		return intParam(raw, &c.AuthenticationPort, 0, 65535, true)
	},
	"authenticationCertificate": pathParam(func(c *Config) *string { return &c.AuthenticationCertificate }),
	"authenticationKey":         pathParam(func(c *Config) *string { return &c.AuthenticationKey }),
	"allowedOrigins": func(c *Config, raw json.RawMessage) error {
		var list []string
		if err := json.Unmarshal(raw, &list); err != nil || list == nil {
			return errors.New(`must be an array of origins such as ["https://vault.example.com"]`)
		}
		c.AllowedOrigins = []string{}
		for _, o := range list {
			norm, err := checkOrigin(o)
			if err != nil {
				return err
			}
			c.AllowedOrigins = append(c.AllowedOrigins, norm)
		}
		return nil
	},
	"server": func(c *Config, raw json.RawMessage) error {
		s, err := stringValue(raw)
		if err != nil {
			return err
		}
		if s == "" {
			return nil
		}
		u, err := CheckServerURL(s)
		if err != nil {
			return err
		}
		c.Server = u
		return nil
	},
	"dummyRecordingDuration": func(c *Config, raw json.RawMessage) error {
		var secs int
		if err := intParam(raw, &secs, math.MinInt32, int(maxDummyRecording/time.Second)-1, false); err != nil {
			return fmt.Errorf("%w (seconds; negative: off)", err)
		}
		if secs > 0 {
			c.DummyRecordingDuration = time.Duration(secs) * time.Second
		}
		return nil
	},
	"preLoadVlc":     boolParam(func(c *Config) *bool { return &c.PreLoad }),
	"useSystemProxy": boolParam(func(c *Config) *bool { return &c.UseSystemProxy }),
	"proxyServerHost": func(c *Config, raw json.RawMessage) error {
		s, err := stringValue(raw)
		if err != nil {
			return err
		}
		if s != "" && !validHost(s) {
			return errors.New("not a host name or IP address")
		}
		c.ProxyServerHost = s
		return nil
	},
	"proxyServerPort": func(c *Config, raw json.RawMessage) error {
		return intParam(raw, &c.ProxyServerPort, 1, 65535, true)
	},
	"proxyServerUsername": func(c *Config, raw json.RawMessage) error {
		s, err := stringValue(raw)
		if err != nil {
			return err
		}
		if strings.ContainsAny(s, "\r\n") {
			return errors.New("contains a line break")
		}
		c.ProxyServerUsername = s
		return nil
	},
	"proxyServerPassword": func(c *Config, raw json.RawMessage) error {
		// The value is never shown, not even in this error.
		s, err := stringValue(raw)
		if err != nil {
			return errors.New("must be a string")
		}
		c.ProxyServerPassword = s
		return nil
	},
	"captureDevice": func(c *Config, raw json.RawMessage) error {
		s, err := stringValue(raw)
		if err != nil {
			return err
		}
		switch s {
		case "", "auto":
		case DeviceX11Grab, DeviceGDIGrab, DeviceAVFoundation:
			c.CaptureDevice = s
		default:
			return fmt.Errorf("%q is not one of auto, x11grab, gdigrab, avfoundation", s)
		}
		return nil
	},
	"display": func(c *Config, raw json.RawMessage) error {
		s, err := stringValue(raw)
		if err != nil {
			return err
		}
		if strings.ContainsAny(s, " \t\r\n\x00") {
			return fmt.Errorf("%q is not an X display such as :0", s)
		}
		c.Display = s
		return nil
	},
	"frameRate": func(c *Config, raw json.RawMessage) error {
		return intParam(raw, &c.FrameRate, 1, 30, false)
	},
	"monitors": func(c *Config, raw json.RawMessage) error {
		sel, err := parseMonitors(raw)
		if err != nil {
			return err
		}
		c.Monitors = sel
		return nil
	},
	"maxWidth": func(c *Config, raw json.RawMessage) error {
		return intParam(raw, &c.MaxWidth, 160, 7680, false)
	},
	"uploadFolder": pathParam(func(c *Config) *string { return &c.UploadFolder }),
	"maxQueueMB": func(c *Config, raw json.RawMessage) error {
		var mb int
		if err := intParam(raw, &mb, 1, 1<<30, false); err != nil {
			return err
		}
		c.MaxQueueMB = int64(mb)
		return nil
	},
	"minFreeDiskPercent": func(c *Config, raw json.RawMessage) error {
		f, err := numberValue(raw)
		if err != nil {
			return err
		}
		if math.IsNaN(f) || f < 0 || f >= 100 {
			return fmt.Errorf("%v is not a percentage from 0 to below 100", f)
		}
		c.MinFreeDiskPercent = f
		return nil
	},
	"logFile":    pathParam(func(c *Config) *string { return &c.LogFile }),
	"ffmpegPath": pathParam(func(c *Config) *string { return &c.FFmpegPath }),
}

// ParseAuthenticationHost checks the guide's rule: an IPv4 address within
// 127.0.0.0/8, but neither 127.0.0.0 nor 127.255.255.255.
func ParseAuthenticationHost(s string) (netip.Addr, error) {
	addr, err := netip.ParseAddr(s)
	if err != nil || !addr.Is4() {
		return netip.Addr{}, fmt.Errorf("%q is not an IPv4 address", s)
	}
	b := addr.As4()
	switch {
	case b[0] != 127:
		return netip.Addr{}, fmt.Errorf("%s is not within 127.0.0.0/8", s)
	case b == [4]byte{127, 0, 0, 0}, b == [4]byte{127, 255, 255, 255}:
		return netip.Addr{}, fmt.Errorf("%s is not allowed (the network and broadcast addresses of 127.0.0.0/8)", s)
	}
	return addr, nil
}

// CheckServerURL checks a vault URL (http or https, with a host, no query)
// and returns it without a trailing slash.
func CheckServerURL(s string) (string, error) {
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.Opaque != "" {
		return "", fmt.Errorf("%q is not an http or https URL such as https://vault.example.com/api/v2", s)
	}
	if u.User != nil {
		return "", errors.New("must not hold a user name or password")
	}
	if u.RawQuery != "" || u.Fragment != "" || u.ForceQuery {
		return "", fmt.Errorf("%q must not have a query or fragment", s)
	}
	if u.Port() != "" {
		if p, err := strconv.Atoi(u.Port()); err != nil || p < 1 || p > 65535 {
			return "", fmt.Errorf("%q has a bad port", s)
		}
	}
	if u.Hostname() == "" {
		return "", fmt.Errorf("%q has no host", s)
	}
	return strings.TrimRight(u.String(), "/"), nil
}

// checkOrigin accepts scheme://host[:port] exactly as a browser sends it in
// Origin, and returns it in lower case.
func checkOrigin(o string) (string, error) {
	u, err := url.Parse(o)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" ||
		u.User != nil || (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" || u.ForceQuery {
		return "", fmt.Errorf("%q is not an origin such as https://vault.example.com (scheme, host and port only)", o)
	}
	return strings.ToLower(u.Scheme + "://" + u.Host), nil
}

func validHost(s string) bool {
	if _, err := netip.ParseAddr(s); err == nil {
		return true
	}
	if len(s) > 253 {
		return false
	}
	for _, label := range strings.Split(s, ".") {
		if label == "" || len(label) > 63 {
			return false
		}
		for _, r := range label {
			if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_') {
				return false
			}
		}
	}
	return true
}

func parseMonitors(raw json.RawMessage) (MonitorSelection, error) {
	if s, err := stringValue(raw); err == nil {
		switch s {
		case "all":
			return MonitorSelection{}, nil
		case "primary":
			return MonitorSelection{Primary: true}, nil
		}
		return MonitorSelection{}, fmt.Errorf(`%q is not "all", "primary" or an array of monitor indexes such as [0, 1]`, s)
	}
	var list []json.Number
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	if err := dec.Decode(&list); err != nil || list == nil {
		return MonitorSelection{}, errors.New(`must be "all", "primary" or an array of monitor indexes such as [0, 1]`)
	}
	if len(list) == 0 {
		return MonitorSelection{}, errors.New("an empty array selects no monitor")
	}
	seen := map[int]bool{}
	sel := MonitorSelection{Indexes: []int{}}
	for _, n := range list {
		i, err := strconv.Atoi(n.String())
		if err != nil || i < 0 || i > 63 {
			return MonitorSelection{}, fmt.Errorf("%s is not a monitor index from 0 to 63", n)
		}
		if seen[i] {
			return MonitorSelection{}, fmt.Errorf("index %d is given twice", i)
		}
		seen[i] = true
		sel.Indexes = append(sel.Indexes, i)
	}
	return sel, nil
}

func pathParam(field func(c *Config) *string) func(c *Config, raw json.RawMessage) error {
	return func(c *Config, raw json.RawMessage) error {
		s, err := stringValue(raw)
		if err != nil {
			return err
		}
		if strings.ContainsRune(s, 0) {
			return errors.New("contains a NUL character")
		}
		*field(c) = s
		return nil
	}
}

func boolParam(field func(c *Config) *bool) func(c *Config, raw json.RawMessage) error {
	return func(c *Config, raw json.RawMessage) error {
		var b bool
		if err := json.Unmarshal(raw, &b); err == nil {
			*field(c) = b
			return nil
		}
		s, err := stringValue(raw)
		if err == nil {
			switch strings.ToLower(s) {
			case "true":
				*field(c) = true
				return nil
			case "false":
				*field(c) = false
				return nil
			}
		}
		return fmt.Errorf("%s is not true or false", shortJSON(raw))
	}
}

// intParam reads a whole number from lo to hi; emptyOK lets "" mean
// "not set" (the guide's "Empty" default) and leaves *dst alone.
func intParam(raw json.RawMessage, dst *int, lo, hi int, emptyOK bool) error {
	if s, err := stringValue(raw); err == nil && s == "" && emptyOK {
		return nil
	}
	f, err := numberValue(raw)
	if err != nil {
		return err
	}
	if f != math.Trunc(f) || f < float64(lo) || f > float64(hi) {
		return fmt.Errorf("%s is not a whole number from %d to %d", shortJSON(raw), lo, hi)
	}
	*dst = int(f)
	return nil
}

// numberValue reads a JSON number or a string holding one.
func numberValue(raw json.RawMessage) (float64, error) {
	var f float64
	if err := json.Unmarshal(raw, &f); err == nil {
		return f, nil
	}
	if s, err := stringValue(raw); err == nil {
		if f, err := strconv.ParseFloat(strings.TrimSpace(s), 64); err == nil && !math.IsInf(f, 0) {
			return f, nil
		}
	}
	return 0, fmt.Errorf("%s is not a number", shortJSON(raw))
}

func stringValue(raw json.RawMessage) (string, error) {
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return "", fmt.Errorf("%s is not a string", shortJSON(raw))
	}
	return s, nil
}

// shortJSON shows a bad value in an error, cut to a readable length.
func shortJSON(raw json.RawMessage) string {
	s := strings.Join(strings.Fields(string(raw)), " ")
	if len(s) > 40 {
		s = s[:40] + "…"
	}
	return s
}
