package config

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"regexp"
	"regexp/syntax"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Values the guide names.
const (
	DownloadSingle      = "single"
	DownloadMultithread = "multithread"

	AES128 = "AES-128"
	AES256 = "AES-256"

	DefaultGWSRecordingsURI = "/recordings"
	DefaultGWSSettingsURI   = "/me/settings/rcbs"
	// DefaultMediaTypePattern is what both editions mean: the older writes
	// it audio\/mp3|video\/mp4, the newer audio\mp3 video\mp4.
	DefaultMediaTypePattern = "audio/mp3|video/mp4"
	// DefaultNumThreads: the older edition gives no default for numThreads,
	// only the example value 4, which is used.
	DefaultNumThreads = 4
	// DefaultOverlap: "The default value is 6" (hours).
	DefaultOverlap = 6 * time.Hour

	// Timeouts of each request to the web service (callvault's keys; the
	// guide has none): generous for a slow server, short enough that a
	// hung one does not hold the lock for ever.
	DefaultConnectTimeout  = 30 * time.Second
	DefaultResponseTimeout = 60 * time.Second
	DefaultReadTimeout     = 120 * time.Second
	maxTimeout             = 24 * time.Hour

	maxFileSize = 1 << 20
	maxThreads  = 256
)

// Config is one config.properties file, checked, with the guide's defaults
// for whatever it leaves out.
type Config struct {
	Source string // the path given to Load, or the name given to Parse

	// Where the metadata comes from.
	GWSURIPrefix     string // gwsUriPrefix, required; no trailing slash
	GWSRecordingsURI string // gwsRecordingsUri, default /recordings
	GWSSettingsURI   string // gwsSettingsUri, default /me/settings/rcbs

	// TargetDir (targetDir, required) with forward slashes only; a UNC path
	// //server/share stays as it is.
	TargetDir string

	// The download period; see Period.
	MinAge                 Age        // minAge, default 0
	MaxAge                 Age        // maxAge, default 2 days; zero means any age
	MinDate                *time.Time // minDate: the newer bound, overrides minAge
	MaxDate                *time.Time // maxDate: the older bound, overrides maxAge and last_recording_endtime.txt
	Overlap                Age        // overlap, default 6 hours
	ShardBy                time.Duration
	SkipLastRecordingCheck bool

	// What is fetched and where it goes.
	MediaTypePattern          *regexp.Regexp // matched anywhere in a MIME type
	MetadataOnly              bool
	RecordingFolderFormat     string // checked by FolderPath
	MetadataPropertiesInclude []string
	MetadataPropertiesExclude []string

	DownloadMode string // DownloadSingle or DownloadMultithread
	NumThreads   int

	TotalRcbsInstances int // 1 unless set
	RcbsInstanceID     int // 0 … TotalRcbsInstances-1

	AWSProxyHost string // a host name or IP address only
	AWSProxyPort int
	// AWSEndpoint (awsEndpoint, callvault's key) is the S3-compatible
	// endpoint the customer trusts with requests signed by their AWS key:
	// an endpoint the server's settings name is used only when it is this
	// one. "http(s)://host[:port]", the scheme and host in lower case;
	// "" when not set (only AWS's own endpoint is used).
	AWSEndpoint  string
	GWSProxyHost string // http://host or https://host, without the port
	GWSProxyPort int

	UsePayloadSigning bool
	// EncryptionFormat (AES-128 or AES-256) is the content cipher used when a
	// media file arrives unencrypted and rcbs encrypts it for
	// EncryptionCertificate before it reaches TargetDir.
	EncryptionFormat      string
	EncryptionCertificate string

	// Timeouts of each request to the web service (callvault's keys):
	// connectTimeoutSeconds (the TCP connection, and the TLS handshake),
	// responseTimeoutSeconds (the answer's headers) and readTimeoutSeconds
	// (a pause in an answer's body). A request that passes one fails and
	// is retried like a 503.
	ConnectTimeout  time.Duration
	ResponseTimeout time.Duration
	ReadTimeout     time.Duration

	// Warnings name unknown, misspelt, ignored or misplaced keys, one line
	// each, never a value that could be secret.
	Warnings []string

	set map[string]bool // parameters the file sets to a non-empty value
}

// Defaults returns the configuration the guide describes when the file sets
// nothing. It is not valid on its own: gwsUriPrefix and targetDir have no
// default.
func Defaults() *Config {
	return &Config{
		GWSRecordingsURI:      DefaultGWSRecordingsURI,
		GWSSettingsURI:        DefaultGWSSettingsURI,
		MaxAge:                Age{Days: 2},
		Overlap:               Age{Clock: DefaultOverlap},
		ShardBy:               24 * time.Hour,
		MediaTypePattern:      regexp.MustCompile(DefaultMediaTypePattern),
		RecordingFolderFormat: DefaultRecordingFolderFormat,
		// "The default value is multithread" (older edition; the newer one
		// does not name downloadMode).
		DownloadMode:       DownloadMultithread,
		NumThreads:         DefaultNumThreads,
		TotalRcbsInstances: 1,
		EncryptionFormat:   AES128,
		ConnectTimeout:     DefaultConnectTimeout,
		ResponseTimeout:    DefaultResponseTimeout,
		ReadTimeout:        DefaultReadTimeout,
		set:                map[string]bool{},
	}
}

// Error is a configuration the file cannot run with. Error() is one line
// naming the file and the key, such as
//
//	config.properties: maxAge "abc": want whole days or an ISO 8601 duration such as P30D
type Error struct {
	File  string // the source; may be empty
	Key   string // the parameter at fault; empty for the file as a whole
	Value string // the value as read, or a redacted form; empty when not shown
	Msg   string
}

func (e *Error) Error() string {
	var b strings.Builder
	if e.File != "" {
		b.WriteString(e.File + ": ")
	}
	if e.Key != "" {
		b.WriteString(e.Key)
		if e.Value != "" {
			v := e.Value
			if len(v) > 80 {
				v = v[:80] + "…"
			}
			fmt.Fprintf(&b, " %q", v)
		}
		b.WriteString(": ")
	}
	b.WriteString(e.Msg)
	return oneLine(b.String())
}

func oneLine(s string) string {
	return strings.Join(strings.Fields(strings.ReplaceAll(s, "\x00", " ")), " ")
}

// Load reads and checks the file at path.
func Load(path string) (*Config, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, &Error{File: path, Msg: "cannot open: " + errorText(err)}
	}
	defer f.Close()
	return Parse(f, path)
}

// errorText drops the path an *os.PathError repeats.
func errorText(err error) string {
	if pe, ok := errors.AsType[*os.PathError](err); ok {
		return pe.Err.Error()
	}
	return err.Error()
}

// Parse reads and checks a config.properties text; name is used in messages.
// The error, when not nil, is an *Error.
func Parse(r io.Reader, name string) (*Config, error) {
	data, err := io.ReadAll(io.LimitReader(r, maxFileSize+1))
	if err != nil {
		return nil, &Error{File: name, Msg: "cannot read: " + errorText(err)}
	}
	if len(data) > maxFileSize {
		return nil, &Error{File: name, Msg: "larger than 1 MiB; not a config.properties file"}
	}
	keys, values, err := readProperties(string(data))
	if err != nil {
		return nil, &Error{File: name, Msg: "cannot parse: " + err.Error()}
	}

	c := Defaults()
	c.Source = name
	settings := c.resolveKeys(keys, values)
	for _, p := range params {
		v, ok := settings[p.key]
		if !ok {
			continue
		}
		if err := p.set(c, v); err != nil {
			e, ok := errors.AsType[*Error](err)
			if !ok {
				e = &Error{Value: v, Msg: err.Error()}
			}
			e.File, e.Key = name, p.key
			return nil, e
		}
	}
	if err := c.check(); err != nil {
		err.File = name
		return nil, err
	}
	return c, nil
}

// IsSet reports whether the file set the parameter (by its guide spelling)
// to a non-empty value.
func (c *Config) IsSet(key string) bool { return c.set[key] }

func (c *Config) warnf(format string, args ...any) {
	prefix := ""
	if c.Source != "" {
		prefix = c.Source + ": "
	}
	c.Warnings = append(c.Warnings, prefix+fmt.Sprintf(format, args...))
}

// resolveKeys maps the file's keys to the guide's parameter names, warning
// about the rest, and returns the non-empty settings.
func (c *Config) resolveKeys(keys []string, values map[string]string) map[string]string {
	exact := map[string]bool{}
	for _, k := range keys {
		if paramByKey[k] {
			exact[k] = true
		}
	}
	settings := map[string]string{}
	var unknown []string
	for _, k := range keys {
		switch canonical, folded := paramByFold[strings.ToLower(k)]; {
		case exact[k]:
			settings[k] = values[k]
		case isCredentialKey(k):
			c.warnf("%s ignored: credentials are read only from the environment (GWS_USERNAME, GWS_PASSWORD, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY); remove it from the file", k)
		case !folded:
			unknown = append(unknown, k)
		case exact[canonical]:
			c.warnf("%s ignored: keys are case-sensitive and %s is set", k, canonical)
		default:
			c.warnf("%s read as %s: keys are case-sensitive", k, canonical)
			settings[canonical] = values[k]
		}
	}
	if len(unknown) == 1 {
		c.warnf("unknown key ignored: %s", unknown[0])
	} else if len(unknown) > 1 {
		c.warnf("unknown keys ignored: %s", strings.Join(unknown, ", "))
	}
	for k, v := range settings {
		if v == "" {
			delete(settings, k)
		} else {
			c.set[k] = true
		}
	}
	return settings
}

func isCredentialKey(key string) bool {
	k := strings.ToLower(key)
	k = strings.NewReplacer("_", "", "-", "", ".", "").Replace(k)
	for _, word := range []string{"password", "passwd", "secret", "token", "accesskey", "apikey", "credential", "privatekey", "username"} {
		if strings.Contains(k, word) {
			return true
		}
	}
	return false
}

type param struct {
	key string
	set func(c *Config, v string) error // v is trimmed and not empty
}

// params lists every parameter of both editions, in the order errors are
// reported: the guide's basic table first, then the advanced ones.
var params = []param{
	{"gwsUriPrefix", func(c *Config, v string) error {
		u, err := parseHTTPURL(v)
		if err != nil {
			return err
		}
		c.GWSURIPrefix = strings.TrimRight(u.String(), "/")
		if u.Scheme == "http" && !isLoopback(u.Hostname()) {
			c.warnf("gwsUriPrefix uses http://: GWS_PASSWORD will cross the network unencrypted")
		}
		return nil
	}},
	{"targetDir", func(c *Config, v string) error {
		dir := strings.ReplaceAll(v, `\`, "/")
		if dir != v {
			// "you must use the directory separator "/" (forward slash)
			// instead of "\" (backslash)"
			c.warnf(`targetDir: "\" replaced by "/"; write a UNC path as //server_name/path`)
		}
		for len(dir) > 1 && strings.HasSuffix(dir, "/") && !isRootDir(dir) {
			dir = dir[:len(dir)-1]
		}
		if strings.ContainsFunc(dir, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
			return errors.New("contains a control character")
		}
		c.TargetDir = dir
		return nil
	}},
	{"maxAge", func(c *Config, v string) (err error) {
		c.MaxAge, err = ParseAge(v)
		return err
	}},
	{"minAge", func(c *Config, v string) (err error) {
		c.MinAge, err = ParseAge(v)
		return err
	}},
	{"minDate", func(c *Config, v string) error { return setDate(&c.MinDate, v) }},
	{"maxDate", func(c *Config, v string) error { return setDate(&c.MaxDate, v) }},
	{"overlap", func(c *Config, v string) (err error) {
		c.Overlap, err = parseOverlap(v)
		return err
	}},
	{"shardBy", func(c *Config, v string) error {
		days, err := parseInt(v, 1, maxDays, "want whole days, 1 or more")
		c.ShardBy = time.Duration(days) * 24 * time.Hour
		return err
	}},
	{"skipLastRecordingCheck", func(c *Config, v string) error { return setBool(&c.SkipLastRecordingCheck, v) }},
	{"awsProxyHost", func(c *Config, v string) error {
		if strings.Contains(v, "://") || strings.ContainsAny(v, "/@ \t") {
			return errors.New("want only a host name or IP address, such as 10.0.1.31")
		}
		if _, port, err := net.SplitHostPort(v); err == nil && port != "" {
			return errors.New("want only a host name or IP address; put the port in awsProxyPort")
		}
		c.AWSProxyHost = v
		return nil
	}},
	{"awsProxyPort", func(c *Config, v string) (err error) {
		c.AWSProxyPort, err = parseInt(v, 1, 65535, "want a port number, 1 to 65535")
		return err
	}},
	{"awsEndpoint", func(c *Config, v string) error {
		raw := v
		if !strings.Contains(raw, "://") {
			raw = "https://" + raw
		}
		const want = "want the S3 endpoint's address, such as https://minio.example.com:9000, without a path"
		u, err := url.Parse(raw)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Hostname() == "" {
			if u != nil && u.User != nil {
				return &Error{Value: u.Redacted(), Msg: want}
			}
			return errors.New(want)
		}
		if u.User != nil {
			return &Error{Value: u.Redacted(), Msg: "credentials do not belong in the file; set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY in the environment"}
		}
		if (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" {
			return errors.New(want)
		}
		host := strings.ToLower(bracketIPv6(u.Hostname()))
		if port := u.Port(); port != "" {
			n, err := parseInt(port, 1, 65535, "want a port number, 1 to 65535")
			if err != nil {
				return err
			}
			host += ":" + strconv.Itoa(n)
		}
		c.AWSEndpoint = u.Scheme + "://" + host
		if u.Scheme == "http" && !isLoopback(u.Hostname()) {
			c.warnf("awsEndpoint uses http://: requests to S3 and the media cross the network unencrypted")
		}
		return nil
	}},
	{"gwsProxyHost", func(c *Config, v string) error {
		raw := v
		if !strings.Contains(raw, "://") {
			raw = "http://" + raw
		}
		u, err := parseHTTPURL(raw)
		if err != nil {
			return err
		}
		if (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" {
			return errors.New("want a proxy address such as http://10.0.1.31, without a path")
		}
		if port := u.Port(); port != "" {
			n, _ := strconv.Atoi(port)
			c.GWSProxyPort = n // gwsProxyPort, checked after, may repeat it
		}
		c.GWSProxyHost = u.Scheme + "://" + bracketIPv6(u.Hostname())
		return nil
	}},
	{"gwsProxyPort", func(c *Config, v string) error {
		port, err := parseInt(v, 1, 65535, "want a port number, 1 to 65535")
		if err != nil {
			return err
		}
		if c.GWSProxyPort != 0 && c.GWSProxyPort != port {
			return fmt.Errorf("differs from the port in gwsProxyHost (%d)", c.GWSProxyPort)
		}
		c.GWSProxyPort = port
		return nil
	}},
	{"downloadMode", func(c *Config, v string) error {
		switch mode := strings.ToLower(v); mode {
		case DownloadSingle, DownloadMultithread:
			c.DownloadMode = mode
			return nil
		}
		return errors.New("want single or multithread")
	}},
	{"encryptionFormat", func(c *Config, v string) error {
		switch strings.ReplaceAll(strings.ToUpper(v), "-", "") {
		case "AES128":
			c.EncryptionFormat = AES128
		case "AES256":
			c.EncryptionFormat = AES256
		default:
			return errors.New("want AES-128 or AES-256")
		}
		return nil
	}},
	{"encryptionCertificate", func(c *Config, v string) error {
		c.EncryptionCertificate = v
		return nil
	}},
	{"gwsRecordingsUri", func(c *Config, v string) error { return setURI(&c.GWSRecordingsURI, v) }},
	{"gwsSettingsUri", func(c *Config, v string) error { return setURI(&c.GWSSettingsURI, v) }},
	{"mediaTypePattern", func(c *Config, v string) error {
		pattern, reread := readMediaTypePattern(v)
		re, err := regexp.Compile(pattern)
		if err != nil {
			if syntaxErr, ok := errors.AsType[*syntax.Error](err); ok {
				return fmt.Errorf("not a regular expression: %s", syntaxErr.Code)
			}
			return errors.New("not a regular expression")
		}
		if reread {
			c.warnf(`mediaTypePattern "%s" read as "%s": a MIME type has neither spaces nor backslashes`, v, pattern)
		}
		if re.MatchString("") {
			c.warnf(`mediaTypePattern "%s" matches every media type`, pattern)
		}
		c.MediaTypePattern = re
		return nil
	}},
	{"metadataOnly", func(c *Config, v string) error { return setBool(&c.MetadataOnly, v) }},
	{"metadataPropertiesInclude", func(c *Config, v string) error {
		c.MetadataPropertiesInclude = parseList(v)
		return nil
	}},
	{"metadataPropertiesExclude", func(c *Config, v string) error {
		c.MetadataPropertiesExclude = parseList(v)
		return nil
	}},
	{"numThreads", func(c *Config, v string) (err error) {
		c.NumThreads, err = parseInt(v, 1, maxThreads, fmt.Sprintf("want a whole number of threads, 1 to %d", maxThreads))
		return err
	}},
	{"totalRcbsInstances", func(c *Config, v string) (err error) {
		c.TotalRcbsInstances, err = parseInt(v, 1, 1<<20, "want the number of instances, 1 or more")
		return err
	}},
	{"rcbsInstanceId", func(c *Config, v string) (err error) {
		c.RcbsInstanceID, err = parseInt(v, 0, 1<<20, "want a whole number from 0 to totalRcbsInstances-1")
		return err
	}},
	{"recordingFolderFormat", func(c *Config, v string) error {
		if _, err := FolderPath(v, time.Date(2018, 2, 12, 19, 30, 14, 0, time.UTC)); err != nil {
			return err
		}
		c.RecordingFolderFormat = v
		return nil
	}},
	{"usePayloadSigning", func(c *Config, v string) error { return setBool(&c.UsePayloadSigning, v) }},
	// callvault's own keys.
	{"connectTimeoutSeconds", func(c *Config, v string) (err error) {
		c.ConnectTimeout, err = parseSeconds(v)
		return err
	}},
	{"responseTimeoutSeconds", func(c *Config, v string) (err error) {
		c.ResponseTimeout, err = parseSeconds(v)
		return err
	}},
	{"readTimeoutSeconds", func(c *Config, v string) (err error) {
		c.ReadTimeout, err = parseSeconds(v)
		return err
	}},
}

// parseSeconds reads a timeout: seconds, whole or with a decimal fraction
// ("30", "0.5"), more than 0 and at most a day.
func parseSeconds(v string) (time.Duration, error) {
	const want = "want seconds, such as 30 or 0.5: more than 0 and at most 86400"
	whole, frac, _ := strings.Cut(v, ".")
	if whole == "" && frac == "" || !allDigits(whole) || !allDigits(frac) || len(whole) > maxDigits || len(frac) > 9 {
		return 0, errors.New(want)
	}
	f, err := strconv.ParseFloat(v, 64)
	d := time.Duration(f * float64(time.Second))
	if err != nil || d <= 0 || d > maxTimeout {
		return 0, errors.New(want)
	}
	return d, nil
}

var paramByKey, paramByFold = func() (map[string]bool, map[string]string) {
	exact, folded := map[string]bool{}, map[string]string{}
	for _, p := range params {
		exact[p.key] = true
		folded[strings.ToLower(p.key)] = p.key
	}
	return exact, folded
}()

// Keys lists every parameter name the file may hold, as the guide spells them.
func Keys() []string {
	keys := make([]string, 0, len(params))
	for _, p := range params {
		keys = append(keys, p.key)
	}
	sort.Strings(keys)
	return keys
}

// check applies the rules that involve more than one parameter.
func (c *Config) check() *Error {
	if c.GWSURIPrefix == "" {
		return &Error{Key: "gwsUriPrefix", Msg: "required: the Interaction Recording Web Services URL Genesys provides, such as https://example.com/api/v2"}
	}
	if c.TargetDir == "" {
		return &Error{Key: "targetDir", Msg: "required: the folder recordings are downloaded to, such as C:/target_directory or /target"}
	}

	if c.MinDate != nil && c.MaxDate != nil {
		switch {
		case c.MinDate.Equal(*c.MaxDate):
			return &Error{Key: "minDate", Value: formatDate(c.MinDate),
				Msg: "equals maxDate, which leaves an empty period: maxDate is the older day, minDate the newer (minDate=2018-01-04 maxDate=2018-01-02 fetches 2 and 3 January)"}
		case c.MinDate.Before(*c.MaxDate):
			// The newer edition is clear that minDate is the newer bound;
			// the older says both dates are where recordings are retrieved
			// "from". Either way the two days delimit one period.
			c.warnf("minDate %s is older than maxDate %s: fetching from %[1]s to %[2]s (the guide's minDate is the newer day: minDate=2018-01-04 maxDate=2018-01-02)",
				formatDate(c.MinDate), formatDate(c.MaxDate))
			c.MinDate, c.MaxDate = c.MaxDate, c.MinDate
		}
	}
	if c.MinDate != nil && c.set["minAge"] {
		c.warnf("minAge ignored: minDate overrides it")
	}
	if c.MaxDate != nil && c.set["maxAge"] {
		c.warnf("maxAge ignored: maxDate overrides it")
	}
	// "The minAge value must be less than the maxAge value." maxAge 0 is
	// "any age", so every minAge is less.
	if c.MinDate == nil && c.MaxDate == nil && !c.MaxAge.IsZero() && c.MinAge.nominal() >= c.MaxAge.nominal() {
		maxAge := fmt.Sprintf("maxAge %q", c.MaxAge.String())
		if !c.set["maxAge"] {
			maxAge += " (the default)"
		}
		return &Error{Key: "minAge", Value: c.MinAge.String(), Msg: "must be less than " + maxAge + "; the period runs from maxAge ago to minAge ago"}
	}

	// "This parameter must be used with the rcbsInstanceId configuration
	// parameter."
	if c.set["totalRcbsInstances"] != c.set["rcbsInstanceId"] {
		return &Error{Key: "rcbsInstanceId", Msg: "totalRcbsInstances and rcbsInstanceId must be set together"}
	}
	if c.RcbsInstanceID >= c.TotalRcbsInstances {
		return &Error{Key: "rcbsInstanceId", Value: strconv.Itoa(c.RcbsInstanceID),
			Msg: fmt.Sprintf("want 0 to %d (totalRcbsInstances is %d)", c.TotalRcbsInstances-1, c.TotalRcbsInstances)}
	}

	if c.set["numThreads"] && c.DownloadMode == DownloadSingle {
		c.warnf("numThreads ignored: it is used only when downloadMode is multithread")
	}
	if c.AWSProxyHost != "" && c.AWSProxyPort == 0 {
		return &Error{Key: "awsProxyPort", Msg: "required with awsProxyHost"}
	}
	if c.AWSProxyHost == "" && c.AWSProxyPort != 0 {
		c.warnf("awsProxyPort ignored: awsProxyHost is not set")
		c.AWSProxyPort = 0
	}
	if c.GWSProxyHost != "" && c.GWSProxyPort == 0 {
		return &Error{Key: "gwsProxyPort", Msg: "required with gwsProxyHost"}
	}
	if c.GWSProxyHost == "" && c.GWSProxyPort != 0 {
		c.warnf("gwsProxyPort ignored: gwsProxyHost is not set")
		c.GWSProxyPort = 0
	}
	if c.set["encryptionFormat"] && c.EncryptionCertificate == "" {
		c.warnf("encryptionFormat has no effect without encryptionCertificate: a media file that arrives unencrypted will be refused, not stored in clear")
	}
	return nil
}

func setDate(dst **time.Time, v string) error {
	t, err := ParseDate(v)
	if err != nil {
		return err
	}
	*dst = &t
	return nil
}

func setBool(dst *bool, v string) error {
	switch strings.ToLower(v) {
	case "true":
		*dst = true
	case "false":
		*dst = false
	default:
		return errors.New("want true or false")
	}
	return nil
}

func parseInt(v string, lowest, highest int, want string) (int, error) {
	if !allDigits(v) || len(strings.TrimLeft(v, "0")) > maxDigits {
		return 0, errors.New(want)
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < lowest || n > highest {
		return 0, errors.New(want)
	}
	return n, nil
}

// setURI accepts a path beginning with "/" (joined to gwsUriPrefix) or a
// whole http(s) URL.
func setURI(dst *string, v string) error {
	if strings.HasPrefix(v, "/") && !strings.HasPrefix(v, "//") && !strings.ContainsAny(v, " \t\\") {
		*dst = v
		return nil
	}
	if u, err := parseHTTPURL(v); err == nil {
		*dst = u.String()
		return nil
	}
	return errors.New("want a path such as /recordings")
}

// parseHTTPURL accepts an absolute http or https URL without credentials.
// Its error shows the address with any password redacted.
func parseHTTPURL(v string) (*url.URL, error) {
	u, err := url.Parse(v)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Hostname() == "" {
		if u != nil && u.User != nil {
			return nil, &Error{Value: u.Redacted(), Msg: "want an http:// or https:// URL"}
		}
		return nil, errors.New("want an http:// or https:// URL such as https://example.com/api/v2")
	}
	if u.User != nil {
		return nil, &Error{Value: u.Redacted(), Msg: "credentials do not belong in the file; set GWS_USERNAME and GWS_PASSWORD in the environment"}
	}
	return u, nil
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func bracketIPv6(host string) string {
	if strings.Contains(host, ":") {
		return "[" + host + "]"
	}
	return host
}

// isRootDir reports whether a trailing slash is part of the path: "/",
// "C:/" or the "//" of a UNC prefix.
func isRootDir(dir string) bool {
	return dir == "/" || dir == "//" || len(dir) == 3 && dir[1] == ':'
}

// parseList reads a comma-separated list, also in the "[a, b]" form the
// guide's verification log prints.
func parseList(v string) []string {
	v = strings.TrimSpace(v)
	if strings.HasPrefix(v, "[") && strings.HasSuffix(v, "]") {
		v = v[1 : len(v)-1]
	}
	var list []string
	for item := range strings.SplitSeq(v, ",") {
		if item = strings.TrimSpace(item); item != "" && !slices.Contains(list, item) {
			list = append(list, item)
		}
	}
	return list
}

var (
	spacesAroundBar   = regexp.MustCompile(`\s*\|\s*`)
	mimeWithBackslash = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9.+-]*\\[A-Za-z0-9][A-Za-z0-9.+-]*$`)
)

// readMediaTypePattern reads the newer edition's way of writing patterns:
// words separated by spaces are alternatives, and type\subtype means
// type/subtype. It reports whether the text was read that way.
func readMediaTypePattern(v string) (pattern string, reread bool) {
	words := strings.Fields(spacesAroundBar.ReplaceAllString(v, "|"))
	reread = len(words) > 1
	for i, w := range words {
		if mimeWithBackslash.MatchString(w) {
			words[i] = strings.Replace(w, `\`, "/", 1)
			reread = true
		}
	}
	return strings.Join(words, "|"), reread
}

// RecordingsURL is gwsUriPrefix joined with gwsRecordingsUri.
func (c *Config) RecordingsURL() string { return joinURI(c.GWSURIPrefix, c.GWSRecordingsURI) }

// SettingsURL is gwsUriPrefix joined with gwsSettingsUri.
func (c *Config) SettingsURL() string { return joinURI(c.GWSURIPrefix, c.GWSSettingsURI) }

func joinURI(prefix, uri string) string {
	if strings.Contains(uri, "://") {
		return uri
	}
	return prefix + uri
}

// AWSProxy is "host:port" for the S3 client, or "" when no proxy is set.
func (c *Config) AWSProxy() string {
	if c.AWSProxyHost == "" {
		return ""
	}
	return net.JoinHostPort(strings.Trim(c.AWSProxyHost, "[]"), strconv.Itoa(c.AWSProxyPort))
}

// GWSProxyURL is the proxy for Interaction Recording Web Services, or nil.
func (c *Config) GWSProxyURL() *url.URL {
	if c.GWSProxyHost == "" {
		return nil
	}
	u, err := url.Parse(c.GWSProxyHost + ":" + strconv.Itoa(c.GWSProxyPort))
	if err != nil {
		return nil
	}
	return u
}

// Owns reports whether this instance fetches the recording id.
func (c *Config) Owns(id string) bool {
	return InstanceOf(id, c.TotalRcbsInstances) == c.RcbsInstanceID
}

// EncryptionKeyBits is 128 or 256, from EncryptionFormat.
func (c *Config) EncryptionKeyBits() int {
	if c.EncryptionFormat == AES256 {
		return 256
	}
	return 128
}

// Summary is what rcbs prints before it starts, in the form of the guide's
// verification log ("Min-age:0", "Target Directory:C:/target_folder",
// "MetadataPropertiesExclude: [test]" …). It holds no credential: there are
// none in a Config. The log's BucketVerify line comes from the settings API,
// not the file; print it with FormatList.
func (c *Config) Summary() []string {
	b := strconv.FormatBool
	proxy := func(host string, port int) string {
		if host == "" {
			return ""
		}
		return host + ":" + strconv.Itoa(port)
	}
	return []string{
		"Min-age:" + c.MinAge.String(),
		"Min-Date:" + formatDate(c.MinDate),
		"Max-age:" + c.MaxAge.String(),
		"Max-Date:" + formatDate(c.MaxDate),
		"Target Directory:" + c.TargetDir,
		"gwsUriPrefix:" + c.GWSURIPrefix,
		"gwsRecordingsUri:" + c.GWSRecordingsURI,
		"gwsSettingsUri:" + c.GWSSettingsURI,
		"overlap:" + c.Overlap.String(),
		"shardBy:" + strconv.Itoa(int(c.ShardBy/(24*time.Hour))),
		"mediaTypePattern:" + c.MediaTypePattern.String(),
		"metadataOnly:" + b(c.MetadataOnly),
		"recordingFolderFormat:" + c.RecordingFolderFormat,
		"downloadMode:" + c.DownloadMode,
		"numThreads:" + strconv.Itoa(c.NumThreads),
		"totalRcbsInstances:" + strconv.Itoa(c.TotalRcbsInstances),
		"rcbsInstanceId:" + strconv.Itoa(c.RcbsInstanceID),
		"awsProxy:" + proxy(c.AWSProxyHost, c.AWSProxyPort),
		"awsEndpoint:" + c.AWSEndpoint,
		"gwsProxy:" + proxy(c.GWSProxyHost, c.GWSProxyPort),
		"usePayloadSigning:" + b(c.UsePayloadSigning),
		"encryptionFormat:" + c.EncryptionFormat,
		"encryptionCertificate:" + c.EncryptionCertificate,
		"MetadataPropertiesExclude: " + FormatList(c.MetadataPropertiesExclude),
		"MetadataPropertiesInclude: " + FormatList(c.MetadataPropertiesInclude),
		"skipLastRecordingCheck:" + b(c.SkipLastRecordingCheck),
		"connectTimeoutSeconds:" + formatSeconds(c.ConnectTimeout),
		"responseTimeoutSeconds:" + formatSeconds(c.ResponseTimeout),
		"readTimeoutSeconds:" + formatSeconds(c.ReadTimeout),
	}
}

// formatSeconds writes a timeout as its key takes it.
func formatSeconds(d time.Duration) string {
	return strconv.FormatFloat(d.Seconds(), 'f', -1, 64)
}

// FormatList writes a list as the guide's log does: [a, b], or [] when empty.
func FormatList(items []string) string {
	return "[" + strings.Join(items, ", ") + "]"
}
