package config

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

func parse(t *testing.T, text string) *Config {
	t.Helper()
	c, err := Parse(strings.NewReader(text), "config.properties")
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	return c
}

func parseErr(t *testing.T, text string) *Error {
	t.Helper()
	c, err := Parse(strings.NewReader(text), "config.properties")
	if err == nil {
		t.Fatalf("Parse succeeded, want an error; config %+v", c)
	}
	e, ok := errors.AsType[*Error](err)
	if !ok {
		t.Fatalf("error %T %v, want *Error", err, err)
	}
	if strings.ContainsAny(err.Error(), "\n\r") {
		t.Errorf("error is not one line: %q", err)
	}
	return e
}

const minimal = "gwsUriPrefix=https://example.com/api/v2\ntargetDir=/target\n"

func hasWarning(c *Config, part string) bool {
	return slices.ContainsFunc(c.Warnings, func(w string) bool { return strings.Contains(w, part) })
}

func day(s string) time.Time {
	t, err := time.Parse("2006-01-02", s)
	if err != nil {
		panic(err)
	}
	return t
}

func at(s string) time.Time {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		panic(err)
	}
	return t.UTC()
}

// Every parameter of the newer edition, written as its tables show them.
const newerEdition = `# Recording Cloud Backup Service, newer edition
gwsUriPrefix=https://example.com/api/v2
maxAge=2
targetDir=C:/target_folder
awsProxyHost=10.0.1.31
awsProxyPort=8080
gwsProxyHost=http://10.0.1.31
gwsProxyPort=8080
minAge=0
minDate=2015-07-31
maxDate=1438128000000
mediaTypePattern=audio\mp3 video\mp4
recordingFolderFormat=yyyy/MM/dd/HH
encryptionFormat=AES-128
encryptionCertificate=C:/certs/rcbs.pem
metadataOnly=false
usePayloadSigning=false
totalRcbsInstances=4
rcbsInstanceId=0
gwsRecordingsUri=/recordings
gwsSettingsUri=/me/settings/rcbs
metadataPropertiesExclude=test
metadataPropertiesInclude=
`

func TestNewerEditionFile(t *testing.T) {
	c := parse(t, newerEdition)
	if c.GWSURIPrefix != "https://example.com/api/v2" || c.TargetDir != "C:/target_folder" {
		t.Errorf("prefix %q targetDir %q", c.GWSURIPrefix, c.TargetDir)
	}
	if c.MaxAge != (Age{Days: 2}) || !c.MinAge.IsZero() {
		t.Errorf("ages %v %v", c.MinAge, c.MaxAge)
	}
	if !c.MinDate.Equal(day("2015-07-31")) || !c.MaxDate.Equal(day("2015-07-29")) {
		t.Errorf("dates %v %v", c.MinDate, c.MaxDate)
	}
	if c.AWSProxy() != "10.0.1.31:8080" || c.GWSProxyURL().String() != "http://10.0.1.31:8080" {
		t.Errorf("proxies %q %v", c.AWSProxy(), c.GWSProxyURL())
	}
	if c.MediaTypePattern.String() != "audio/mp3|video/mp4" {
		t.Errorf("mediaTypePattern %q", c.MediaTypePattern)
	}
	if !hasWarning(c, `read as "audio/mp3|video/mp4"`) {
		t.Errorf("no warning about reading the guide's mediaTypePattern: %q", c.Warnings)
	}
	if c.TotalRcbsInstances != 4 || c.RcbsInstanceID != 0 || c.EncryptionCertificate != "C:/certs/rcbs.pem" {
		t.Errorf("instances %d/%d cert %q", c.RcbsInstanceID, c.TotalRcbsInstances, c.EncryptionCertificate)
	}
	if !slices.Equal(c.MetadataPropertiesExclude, []string{"test"}) || c.MetadataPropertiesInclude != nil {
		t.Errorf("metadata lists %q %q", c.MetadataPropertiesExclude, c.MetadataPropertiesInclude)
	}
	if c.RecordingsURL() != "https://example.com/api/v2/recordings" || c.SettingsURL() != "https://example.com/api/v2/me/settings/rcbs" {
		t.Errorf("URLs %q %q", c.RecordingsURL(), c.SettingsURL())
	}
	if !hasWarning(c, "minAge ignored") || !hasWarning(c, "maxAge ignored") {
		t.Errorf("dates override ages, want warnings: %q", c.Warnings)
	}
	if hasWarning(c, "unknown") {
		t.Errorf("unexpected unknown-key warning: %q", c.Warnings)
	}
}

// Every parameter of the older edition, in its "key = value" style.
const olderEdition = `! Recording Cloud Backup Service, older edition
gwsUriPrefix : https://example.com/api/v2
targetDir = <Installation Directory>/target
maxAge = P7DT3H
minAge = P7DT1H
downloadMode = multithread
encryptionFormat = AES-256
gwsRecordingsUri = /recordings
gwsSettingsUri = /me/settings/rcbs
mediaTypePattern = audio\/mp3|video\/mp4
metadataOnly = true
numThreads = 8
overlap = P6D
rcbsInstanceId = 3
totalRcbsInstances = 4
recordingFolderFormat = yyyy/MM/dd/HH
shardBy = 7
skipLastRecordingCheck = true
usePayloadSigning = true
awsProxyHost = 10.0.1.31
awsProxyPort = 8080
gwsProxyHost = http://10.0.1.31
gwsProxyPort = 8080
`

func TestOlderEditionFile(t *testing.T) {
	c := parse(t, olderEdition)
	if c.MinAge != (Age{Days: 7, Clock: time.Hour}) || c.MaxAge != (Age{Days: 7, Clock: 3 * time.Hour}) {
		t.Errorf("ages %v %v", c.MinAge, c.MaxAge)
	}
	if c.DownloadMode != DownloadMultithread || c.NumThreads != 8 || c.EncryptionFormat != AES256 || c.EncryptionKeyBits() != 256 {
		t.Errorf("mode %q threads %d format %q", c.DownloadMode, c.NumThreads, c.EncryptionFormat)
	}
	if c.Overlap != (Age{Days: 6}) || c.ShardBy != 7*24*time.Hour {
		t.Errorf("overlap %v shardBy %v", c.Overlap, c.ShardBy)
	}
	if !c.MetadataOnly || !c.SkipLastRecordingCheck || !c.UsePayloadSigning {
		t.Errorf("bools %v %v %v", c.MetadataOnly, c.SkipLastRecordingCheck, c.UsePayloadSigning)
	}
	if c.RcbsInstanceID != 3 || c.TotalRcbsInstances != 4 {
		t.Errorf("instance %d of %d", c.RcbsInstanceID, c.TotalRcbsInstances)
	}
	for _, mime := range []string{"audio/mp3", "video/mp4"} {
		if !c.MediaTypePattern.MatchString(mime) {
			t.Errorf("mediaTypePattern %q does not match %s", c.MediaTypePattern, mime)
		}
	}
	if c.MediaTypePattern.MatchString("audio/wav") {
		t.Errorf("mediaTypePattern matches audio/wav")
	}
	if c.EncryptionCertificate != "" && !hasWarning(c, "encryptionFormat has no effect") {
		t.Errorf("want a warning that encryptionFormat needs encryptionCertificate: %q", c.Warnings)
	}
}

func TestDefaults(t *testing.T) {
	c := parse(t, minimal)
	checks := []struct {
		name      string
		got, want any
	}{
		{"minAge", c.MinAge, Age{}},
		{"maxAge", c.MaxAge, Age{Days: 2}},
		{"minDate", c.MinDate, (*time.Time)(nil)},
		{"maxDate", c.MaxDate, (*time.Time)(nil)},
		{"overlap", c.Overlap, Age{Clock: 6 * time.Hour}},
		{"shardBy", c.ShardBy, 24 * time.Hour},
		{"skipLastRecordingCheck", c.SkipLastRecordingCheck, false},
		{"mediaTypePattern", c.MediaTypePattern.String(), "audio/mp3|video/mp4"},
		{"metadataOnly", c.MetadataOnly, false},
		{"recordingFolderFormat", c.RecordingFolderFormat, "yyyy/MM/dd/HH"},
		{"downloadMode", c.DownloadMode, DownloadMultithread},
		{"numThreads", c.NumThreads, 4},
		{"totalRcbsInstances", c.TotalRcbsInstances, 1},
		{"rcbsInstanceId", c.RcbsInstanceID, 0},
		{"usePayloadSigning", c.UsePayloadSigning, false},
		{"encryptionFormat", c.EncryptionFormat, AES128},
		{"encryptionCertificate", c.EncryptionCertificate, ""},
		{"gwsRecordingsUri", c.GWSRecordingsURI, "/recordings"},
		{"gwsSettingsUri", c.GWSSettingsURI, "/me/settings/rcbs"},
		{"awsProxy", c.AWSProxy(), ""},
		{"gwsProxy", c.GWSProxyURL() == nil, true},
		{"include", len(c.MetadataPropertiesInclude), 0},
		{"exclude", len(c.MetadataPropertiesExclude), 0},
		{"warnings", len(c.Warnings), 0},
	}
	for _, check := range checks {
		if check.got != check.want {
			t.Errorf("%s = %v, want %v", check.name, check.got, check.want)
		}
	}
	if !c.Owns("anything") {
		t.Error("a single instance must own every recording")
	}
}

func TestRequired(t *testing.T) {
	for _, tc := range []struct{ text, key string }{
		{"targetDir=/target\n", "gwsUriPrefix"},
		{"gwsUriPrefix=https://example.com/api/v2\n", "targetDir"},
		{"gwsUriPrefix=https://example.com/api/v2\ntargetDir=\n", "targetDir"},
	} {
		if e := parseErr(t, tc.text); e.Key != tc.key || !strings.Contains(e.Error(), "required") {
			t.Errorf("%q: %v, want %s required", tc.text, e, tc.key)
		}
	}
}

func TestErrorLine(t *testing.T) {
	e := parseErr(t, minimal+"maxAge=abc\n")
	const want = `config.properties: maxAge "abc": want whole days or an ISO 8601 duration such as P30D`
	if !strings.HasPrefix(e.Error(), want) || e.Key != "maxAge" || e.Value != "abc" {
		t.Errorf("got %q, want it to start %q", e, want)
	}
}

func TestInvalid(t *testing.T) {
	for _, tc := range []struct {
		line, key string
		parts     []string // in the message
	}{
		{"minAge=3", "minAge", []string{`minAge "3"`, `maxAge "2" (the default)`}},
		{"minAge=P2D\nmaxAge=2", "minAge", []string{`minAge "2"`, `maxAge "2"`}},
		{"minAge=PT30M\nmaxAge=PT30M", "minAge", []string{"PT30M"}},
		{"minAge=P1M\nmaxAge=P30D", "minAge", []string{`"P1M"`, `"30"`}},
		{"maxAge=-1", "maxAge", []string{"whole days"}},
		{"maxAge=1.5", "maxAge", []string{"whole days"}},
		{"minDate=2015-13-01", "minDate", []string{"month"}},
		{"maxDate=07/31/2015", "maxDate", []string{"YYYY-MM-DD"}},
		{"maxDate=1438300800", "maxDate", []string{"epoch seconds"}},
		{"minDate=2018-01-02\nmaxDate=2018-01-02", "minDate", []string{"empty period"}},
		{"overlap=1.5", "overlap", []string{"whole hours"}},
		{"shardBy=0", "shardBy", []string{"whole days"}},
		{"shardBy=P1D", "shardBy", []string{"whole days"}},
		{"totalRcbsInstances=4\nrcbsInstanceId=4", "rcbsInstanceId", []string{`"4"`, "0 to 3"}},
		{"totalRcbsInstances=4", "rcbsInstanceId", []string{"together"}},
		{"rcbsInstanceId=1", "rcbsInstanceId", []string{"together"}},
		{"totalRcbsInstances=0\nrcbsInstanceId=0", "totalRcbsInstances", []string{"1 or more"}},
		{"totalRcbsInstances=4\nrcbsInstanceId=-1", "rcbsInstanceId", []string{"0 to totalRcbsInstances-1"}},
		{"mediaTypePattern=audio/(mp3", "mediaTypePattern", []string{"regular expression", "missing closing )"}},
		{"recordingFolderFormat=yyyy/MMM", "recordingFolderFormat", []string{"month names"}},
		{"recordingFolderFormat=../yyyy", "recordingFolderFormat", []string{".."}},
		{"recordingFolderFormat=/yyyy", "recordingFolderFormat", []string{"relative"}},
		{`recordingFolderFormat=yyyy\MM`, "recordingFolderFormat", []string{"forward slash"}},
		{"recordingFolderFormat=yyyy//MM", "recordingFolderFormat", []string{"empty"}},
		{"downloadMode=parallel", "downloadMode", []string{"single or multithread"}},
		{"numThreads=0", "numThreads", []string{"1 to"}},
		{"encryptionFormat=DES", "encryptionFormat", []string{"AES-128 or AES-256"}},
		{"metadataOnly=yes", "metadataOnly", []string{"true or false"}},
		{"awsProxyHost=http://10.0.1.31\nawsProxyPort=8080", "awsProxyHost", []string{"only a host"}},
		{"awsProxyHost=10.0.1.31", "awsProxyPort", []string{"required"}},
		{"awsProxyHost=10.0.1.31\nawsProxyPort=70000", "awsProxyPort", []string{"1 to 65535"}},
		{"gwsProxyHost=http://10.0.1.31", "gwsProxyPort", []string{"required"}},
		{"gwsProxyHost=http://10.0.1.31:3128\ngwsProxyPort=8080", "gwsProxyPort", []string{"differs"}},
		{"gwsRecordingsUri=recordings", "gwsRecordingsUri", []string{"/recordings"}},
	} {
		e := parseErr(t, minimal+tc.line+"\n")
		if e.Key != tc.key {
			t.Errorf("%q: key %q, want %q (%v)", tc.line, e.Key, tc.key, e)
		}
		for _, part := range tc.parts {
			if !strings.Contains(e.Error(), part) {
				t.Errorf("%q: %q does not say %q", tc.line, e, part)
			}
		}
	}
	if e := parseErr(t, "targetDir=/t\ngwsUriPrefix=example.com/api/v2\n"); e.Key != "gwsUriPrefix" {
		t.Errorf("scheme-less gwsUriPrefix: %v", e)
	}
}

func TestCredentialsNeverShown(t *testing.T) {
	c := parse(t, minimal+"GWS_PASSWORD=hunter2\nawsSecretAccessKey=s3cr3t\npassword: pw123\n")
	for _, key := range []string{"GWS_PASSWORD", "awsSecretAccessKey", "password"} {
		if !hasWarning(c, key+" ignored") {
			t.Errorf("no warning for %s: %q", key, c.Warnings)
		}
	}
	all := strings.Join(append(c.Warnings, c.Summary()...), "\n")
	for _, secret := range []string{"hunter2", "s3cr3t", "pw123"} {
		if strings.Contains(all, secret) {
			t.Errorf("secret %q shown: %s", secret, all)
		}
	}
	for _, text := range []string{
		"targetDir=/t\ngwsUriPrefix=https://user:hunter2@example.com/api/v2\n",
		minimal + "gwsProxyHost=http://user:hunter2@proxy\ngwsProxyPort=8080\n",
		"targetDir=/t\ngwsUriPrefix=ftp://user:hunter2@example.com/\n",
	} {
		if e := parseErr(t, text); strings.Contains(e.Error(), "hunter2") {
			t.Errorf("error shows the password: %v", e)
		}
	}
}

func TestKeys(t *testing.T) {
	c := parse(t, minimal+"maxage=3\nfooBar=1\nbaz=2\n")
	if c.MaxAge != (Age{Days: 3}) || !hasWarning(c, "maxage read as maxAge") {
		t.Errorf("case-insensitive key: maxAge %v, warnings %q", c.MaxAge, c.Warnings)
	}
	if !hasWarning(c, "unknown keys ignored: fooBar, baz") {
		t.Errorf("unknown keys: %q", c.Warnings)
	}
	c = parse(t, minimal+"MAXAGE=5\nmaxAge=3\n")
	if c.MaxAge != (Age{Days: 3}) || !hasWarning(c, "MAXAGE ignored") {
		t.Errorf("exact key must win: %v %q", c.MaxAge, c.Warnings)
	}
	c = parse(t, minimal+"maxAge=3\nmaxAge=4\n")
	if c.MaxAge != (Age{Days: 4}) {
		t.Errorf("the last of a repeated key wins, as in Java: %v", c.MaxAge)
	}
	if len(Keys()) != len(params) {
		t.Errorf("Keys() = %d, want %d", len(Keys()), len(params))
	}
}

func TestPropertiesSyntax(t *testing.T) {
	c := parse(t, "# comment\n! another\n"+
		"gwsUriPrefix: https\\://example.com/api/v2/\r\n"+
		"targetDir   =   /target   \r\n"+
		"metadataPropertiesExclude = a, \\\n     b,\\\r\n  c\n"+
		"encryptionCertificate = caf\\u00e9.pem\n"+
		"mediaTypePattern = ${notExpanded}|audio/mp3")
	if c.GWSURIPrefix != "https://example.com/api/v2" {
		t.Errorf("escaped colon and trailing slash: %q", c.GWSURIPrefix)
	}
	if c.TargetDir != "/target" {
		t.Errorf("trimmed targetDir: %q", c.TargetDir)
	}
	if !slices.Equal(c.MetadataPropertiesExclude, []string{"a", "b", "c"}) {
		t.Errorf("continuation lines: %q", c.MetadataPropertiesExclude)
	}
	if c.EncryptionCertificate != "café.pem" {
		t.Errorf("unicode escape: %q", c.EncryptionCertificate)
	}
	if c.MediaTypePattern.String() != "${notExpanded}|audio/mp3" {
		t.Errorf("expansion must be off: %q", c.MediaTypePattern)
	}
	c = parse(t, minimal+"metadataPropertiesInclude=[callerPhoneNumber, dialedPhoneNumber]\nmaxAge=3\\")
	if !slices.Equal(c.MetadataPropertiesInclude, []string{"callerPhoneNumber", "dialedPhoneNumber"}) || c.MaxAge != (Age{Days: 3}) {
		t.Errorf("list in log form, trailing backslash: %q %v", c.MetadataPropertiesInclude, c.MaxAge)
	}
}

func TestBackslashes(t *testing.T) {
	for _, tc := range []struct{ line, want string }{
		{`targetDir=C:/target_folder`, "C:/target_folder"},
		{`targetDir=C:\target`, "C:/target"},
		{`targetDir=C:\\target`, "C:/target"},
		{`targetDir=C:\new\folder\\`, "C:/new/folder"},
		{`targetDir=//server_name/path`, "//server_name/path"},
		{`targetDir = //server/share/path/`, "//server/share/path"},
		{`targetDir=\\\\server\\share\\path`, "//server/share/path"},
		{`targetDir=C:/`, "C:/"},
		{`targetDir=/`, "/"},
	} {
		c := parse(t, "gwsUriPrefix=https://example.com/api/v2\n"+tc.line+"\n")
		if c.TargetDir != tc.want {
			t.Errorf("%s: targetDir %q, want %q", tc.line, c.TargetDir, tc.want)
		}
		if strings.Contains(tc.line, `\`) != hasWarning(c, `replaced by "/"`) {
			t.Errorf("%s: warnings %q", tc.line, c.Warnings)
		}
	}
	for _, tc := range []struct {
		line  string
		match []string
		not   []string
	}{
		{`mediaTypePattern=audio\mp3 video\mp4`, []string{"audio/mp3", "video/mp4"}, []string{"audio/wav"}},
		{`mediaTypePattern=audio\/mp3|video\/mp4`, []string{"audio/mp3", "video/mp4"}, []string{"audio/wav"}},
		{`mediaTypePattern=audio\\/mp3|video\\/mp4`, []string{"audio/mp3", "video/mp4"}, nil},
		{`mediaTypePattern=audio/mp3`, []string{"audio/mp3"}, []string{"video/mp4"}},
		{`mediaTypePattern=audio/mp3 | video/mp4`, []string{"audio/mp3", "video/mp4"}, []string{"audio/wav"}},
		{`mediaTypePattern=audio\wav`, []string{"audio/wav"}, nil},
		{`mediaTypePattern=^audio/\w+$`, []string{"audio/wav", "audio/mp3"}, []string{"video/mp4"}},
	} {
		c := parse(t, minimal+tc.line+"\n")
		for _, m := range tc.match {
			if !c.MediaTypePattern.MatchString(m) {
				t.Errorf("%s: %q does not match %s", tc.line, c.MediaTypePattern, m)
			}
		}
		for _, m := range tc.not {
			if c.MediaTypePattern.MatchString(m) {
				t.Errorf("%s: %q matches %s", tc.line, c.MediaTypePattern, m)
			}
		}
	}
	c := parse(t, minimal+"mediaTypePattern=audio/mp3|\n")
	if !hasWarning(c, "matches every media type") {
		t.Errorf("empty alternative: %q", c.Warnings)
	}
}

func TestSummary(t *testing.T) {
	c := parse(t, "gwsUriPrefix=https://example.com/api/v2\ntargetDir=C:/target_folder\nmetadataPropertiesExclude=test\n")
	got := c.Summary()
	for _, line := range []string{
		"Min-age:0",
		"Min-Date:",
		"Max-age:2",
		"Target Directory:C:/target_folder",
		"MetadataPropertiesExclude: [test]",
		"MetadataPropertiesInclude: []",
		"skipLastRecordingCheck:false",
		"overlap:PT6H",
	} {
		if !slices.Contains(got, line) {
			t.Errorf("summary lacks %q:\n%s", line, strings.Join(got, "\n"))
		}
	}
	if FormatList([]string{"a", "b"}) != "[a, b]" {
		t.Error("FormatList")
	}
	c = parse(t, minimal+"minDate=2018-01-04\nmaxDate=1514851200123\n")
	if !slices.Contains(c.Summary(), "Min-Date:2018-01-04") || !slices.Contains(c.Summary(), "Max-Date:2018-01-02T00:00:00.123Z") {
		t.Errorf("dates in summary: %q", c.Summary())
	}
}

func TestLoad(t *testing.T) {
	path := filepath.Join(t.TempDir(), "config.properties")
	if err := os.WriteFile(path, []byte(minimal), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := Load(path)
	if err != nil || c.Source != path {
		t.Fatalf("Load: %v %+v", err, c)
	}
	_, err = Load(path + ".missing")
	if e, ok := errors.AsType[*Error](err); !ok || !strings.Contains(e.Error(), "cannot open") {
		t.Errorf("missing file: %v", err)
	}
	_, err = Parse(strings.NewReader(strings.Repeat("#", maxFileSize+1)), "big")
	if err == nil {
		t.Error("a file over 1 MiB must be refused")
	}
}

func TestParseAge(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want Age
		str  string
	}{
		{"0", Age{}, "0"},
		{"2", Age{Days: 2}, "2"},
		{"007", Age{Days: 7}, "7"},
		{"PT30M", Age{Clock: 30 * time.Minute}, "PT30M"},
		{"P30D", Age{Days: 30}, "30"},
		{"P7DT1H", Age{Days: 7, Clock: time.Hour}, "P7DT1H"},
		{"P1Y2DT4H30M", Age{Years: 1, Days: 2, Clock: 4*time.Hour + 30*time.Minute}, "P1Y2DT4H30M"},
		{"P6MT12H", Age{Months: 6, Clock: 12 * time.Hour}, "P6MT12H"},
		{"P2W", Age{Days: 14}, "14"},
		{"P1Y2M3W4DT5H6M7S", Age{Years: 1, Months: 2, Days: 25, Clock: 5*time.Hour + 6*time.Minute + 7*time.Second}, "P1Y2M25DT5H6M7S"},
		{"PT1.5S", Age{Clock: 1500 * time.Millisecond}, "PT1.5S"},
		{"PT0,000000001S", Age{Clock: 1}, "PT0.000000001S"},
		{"pt6h", Age{Clock: 6 * time.Hour}, "PT6H"},
		{"PT36H", Age{Clock: 36 * time.Hour}, "PT36H"},
		{"P0D", Age{}, "0"},
	} {
		got, err := ParseAge(tc.in)
		if err != nil || got != tc.want {
			t.Errorf("ParseAge(%q) = %+v, %v; want %+v", tc.in, got, err, tc.want)
			continue
		}
		if got.String() != tc.str {
			t.Errorf("ParseAge(%q).String() = %q, want %q", tc.in, got.String(), tc.str)
		}
		if back, err := ParseAge(got.String()); err != nil || back != got {
			t.Errorf("String %q does not read back: %+v %v", got.String(), back, err)
		}
	}
	for _, in := range []string{"", "P", "PT", "P1H", "P1DT", "1.5", "-1", "+1", "P-1D", "PT-1H", "P1.5D", "PT1.5H",
		"P1D1Y", "PT1S1M", "P1M1M", "PT1H2H", "T1H", "1D", "P1", "PT1", "P1X", "P 1D", "PT1..5S", "PT.5S",
		"P99999999999D", "P10001Y", "PT1000001H", "4000000", "PT1.0000000001S", "P１D"} {
		if a, err := ParseAge(in); err == nil {
			t.Errorf("ParseAge(%q) = %+v, want an error", in, a)
		}
	}
}

func TestAgeBefore(t *testing.T) {
	for _, tc := range []struct {
		age, from, want string
	}{
		{"P1M", "2021-03-31T10:00:00Z", "2021-02-28T10:00:00Z"},
		{"P1M", "2024-03-31T10:00:00Z", "2024-02-29T10:00:00Z"},
		{"P1Y", "2024-02-29T00:00:00Z", "2023-02-28T00:00:00Z"},
		{"P1Y1M", "2024-03-31T00:00:00Z", "2023-02-28T00:00:00Z"},
		{"P13M", "2024-03-31T00:00:00Z", "2023-02-28T00:00:00Z"},
		{"P6MT12H", "2018-01-09T00:00:00Z", "2017-07-08T12:00:00Z"},
		{"P1Y2DT4H30M", "2018-01-09T00:00:00Z", "2017-01-06T19:30:00Z"},
		{"P3D", "2018-01-09T00:00:00Z", "2018-01-06T00:00:00Z"},
		{"PT30M", "2018-01-09T00:00:00Z", "2018-01-08T23:30:00Z"},
		{"P1M", "2018-01-15T00:00:00Z", "2017-12-15T00:00:00Z"},
	} {
		a, err := ParseAge(tc.age)
		if err != nil {
			t.Fatal(err)
		}
		if got := a.Before(at(tc.from)); !got.Equal(at(tc.want)) {
			t.Errorf("%s before %s = %s, want %s", tc.age, tc.from, got, tc.want)
		}
	}
	// Before works in UTC whatever the zone of its argument.
	ny := time.FixedZone("EST", -5*3600)
	if got := (Age{Days: 1}).Before(time.Date(2018, 1, 9, 0, 0, 0, 0, ny)); got != at("2018-01-08T05:00:00Z") {
		t.Errorf("zone: %v", got)
	}
}

func TestParseDate(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want time.Time
	}{
		{"2015-07-31", day("2015-07-31")},
		{"1438300800000", day("2015-07-31")},
		{"1438300800123", day("2015-07-31").Add(123 * time.Millisecond)},
		{"2016-02-29", day("2016-02-29")},
		{" 2018-01-04 ", day("2018-01-04")},
	} {
		got, err := ParseDate(tc.in)
		if err != nil || !got.Equal(tc.want) || got.Location() != time.UTC {
			t.Errorf("ParseDate(%q) = %v, %v; want %v", tc.in, got, err, tc.want)
		}
	}
	for _, in := range []string{"", "2015-13-01", "07/31/2015", "2015-02-29", "2015-00-10", "2015-07-32", "2015-7-31",
		"15-07-31", "2015-07-31T00:00:00Z", "1438300800", "143830080000", "14383008000000", "-1438300800000", "2015/07/31", "２０１５-07-31"} {
		if got, err := ParseDate(in); err == nil {
			t.Errorf("ParseDate(%q) = %v, want an error", in, got)
		}
	}
}

func TestFolderPath(t *testing.T) {
	when := time.Date(2018, 2, 12, 19, 5, 7, 0, time.FixedZone("CET", 3600)) // 18:05:07 UTC
	for _, tc := range []struct{ format, want string }{
		{"yyyy/MM/dd/HH", "2018/02/12/18"},
		{"yy/M/d/H", "18/2/12/18"},
		{"yyyy-MM-dd/HH-mm-ss", "2018-02-12/18-05-07"},
		{"'year'yyyy/'month'MM", "year2018/month02"},
		{"yyyy/'o''clock'HH", "2018/o'clock18"},
		{"''yyyy", "'2018"},
		{"y/yyy", "2018/2018"},
		{"'recordings'/yyyy", "recordings/2018"},
		{"yyyy/m", "2018/5"},
	} {
		got, err := FolderPath(tc.format, when)
		if err != nil || got != tc.want {
			t.Errorf("FolderPath(%q) = %q, %v; want %q", tc.format, got, err, tc.want)
		}
	}
	for _, format := range []string{"", "/yyyy", "yyyy/", "yyyy//MM", "../yyyy", "yyyy/../x", "./yyyy", `yyyy\MM`,
		"yyyy/MMM", "yyyyy", "yyyy/EEE", "yyyy/hh", "'unterminated", "C:/yyyy", "yyyy/'a/..'", "yyyy/ddd", "yyyy/x.", "'\x01'", "recordings/yyyy"} {
		if got, err := FolderPath(format, when); err == nil {
			t.Errorf("FolderPath(%q) = %q, want an error", format, got)
		}
	}
}

func TestPeriod(t *testing.T) {
	ptr := func(t time.Time) *time.Time { return &t }
	now := at("2018-01-09T00:00:00Z")
	for _, tc := range []struct {
		name     string
		text     string
		now      time.Time
		lastEnd  *time.Time
		from, to string
	}{
		// "if the current date is January 09, 2018 and … minAge=0 and
		// maxAge=3 … from 12 AM GMT on January 06 to 12 AM GMT of January 09"
		{"guide: minAge=0 maxAge=3", "minAge=0\nmaxAge=3", now, nil, "2018-01-06T00:00:00Z", "2018-01-09T00:00:00Z"},
		{"defaults", "", at("2018-02-22T16:24:58.123456Z"), nil, "2018-02-20T16:24:58.123Z", "2018-02-22T16:24:58.123Z"},
		{"minAge PT30M", "minAge=PT30M", now, nil, "2018-01-07T00:00:00Z", "2018-01-08T23:30:00Z"},
		// older edition: "minAge = P7DT1H maxAge = P7DT3H … 7 days from 1 hour ago up to 7 days 3 hours ago"
		{"guide: P7DT1H to P7DT3H", "minAge=P7DT1H\nmaxAge=P7DT3H", now, nil, "2018-01-01T21:00:00Z", "2018-01-01T23:00:00Z"},
		{"maxAge 0 is any age", "maxAge=0", now, nil, "1970-01-01T00:00:00Z", "2018-01-09T00:00:00Z"},
		// "minDate=2018-01-04 and maxDate=2018-01-02" downloads 02 to 04 January.
		{"guide: minDate and maxDate", "minDate=2018-01-04\nmaxDate=2018-01-02", now, nil, "2018-01-02T00:00:00Z", "2018-01-04T00:00:00Z"},
		{"dates the other way round", "minDate=2018-01-02\nmaxDate=2018-01-04", now, nil, "2018-01-02T00:00:00Z", "2018-01-04T00:00:00Z"},
		{"epoch ms dates", "minDate=1515024000000\nmaxDate=1514851200000", now, nil, "2018-01-02T00:00:00Z", "2018-01-04T00:00:00Z"},
		{"minDate only", "minDate=2018-01-08", now, nil, "2018-01-07T00:00:00Z", "2018-01-08T00:00:00Z"},
		{"minDate in the future", "minDate=2019-01-01", now, nil, "2018-01-07T00:00:00Z", "2018-01-09T00:00:00Z"},
		{"minDate older than maxAge: empty", "minDate=2017-01-01", now, nil, "2017-01-01T00:00:00Z", "2017-01-01T00:00:00Z"},
		{"maxDate only", "maxDate=2018-01-01", now, nil, "2018-01-01T00:00:00Z", "2018-01-09T00:00:00Z"},
		// "if maxAge is set to 2 days but the machine where RCBS is
		// installed is offline for 3 days, RCBS downloads only those
		// recordings that were missed since the last time it successfully
		// ran", re-scanning overlap (6 h) before it.
		{"guide: offline for three days", "", now, ptr(at("2018-01-06T00:00:00Z")), "2018-01-05T18:00:00Z", "2018-01-09T00:00:00Z"},
		{"lastEnd inside maxAge", "", now, ptr(at("2018-01-08T00:00:00Z")), "2018-01-07T00:00:00Z", "2018-01-09T00:00:00Z"},
		{"lastEnd just inside maxAge: overlap still re-scanned", "", now, ptr(at("2018-01-07T02:00:00Z")), "2018-01-06T20:00:00Z", "2018-01-09T00:00:00Z"},
		{"overlap 0", "overlap=0", now, ptr(at("2018-01-06T00:00:00Z")), "2018-01-06T00:00:00Z", "2018-01-09T00:00:00Z"},
		{"overlap P6D", "overlap=P6D", now, ptr(at("2018-01-06T00:00:00Z")), "2017-12-31T00:00:00Z", "2018-01-09T00:00:00Z"},
		{"lastEnd in the future", "", now, ptr(at("2018-02-01T00:00:00Z")), "2018-01-07T00:00:00Z", "2018-01-09T00:00:00Z"},
		// maxDate "override[s] the local storage's last recording endtime's value"
		{"maxDate overrides lastEnd", "maxDate=2018-01-05", now, ptr(at("2017-12-01T00:00:00Z")), "2018-01-05T00:00:00Z", "2018-01-09T00:00:00Z"},
		// "If set to true, the last_recording_endtime.txt is not processed, and the maxAge takes effect."
		{"skipLastRecordingCheck", "skipLastRecordingCheck=true", now, ptr(at("2018-01-01T00:00:00Z")), "2018-01-07T00:00:00Z", "2018-01-09T00:00:00Z"},
		{"lastEnd with minDate", "minDate=2018-01-08", now, ptr(at("2018-01-03T00:00:00Z")), "2018-01-02T18:00:00Z", "2018-01-08T00:00:00Z"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := parse(t, minimal+tc.text+"\n")
			from, to := c.Period(tc.now, tc.lastEnd)
			if !from.Equal(at(tc.from)) || !to.Equal(at(tc.to)) {
				t.Errorf("Period = [%s, %s), want [%s, %s)", from.Format(time.RFC3339Nano), to.Format(time.RFC3339Nano), tc.from, tc.to)
			}
			if from.Location() != time.UTC || to.Location() != time.UTC {
				t.Errorf("not UTC: %v %v", from, to)
			}
		})
	}
}

func TestWindows(t *testing.T) {
	const dayLen = 24 * time.Hour
	from, to := at("2018-02-19T13:30:14Z"), at("2018-02-22T16:24:58Z")
	for _, shard := range []time.Duration{dayLen, 7 * dayLen, time.Hour, 0, -1} {
		windows := Windows(from, to, shard)
		if len(windows) == 0 || !windows[0][0].Equal(from) || !windows[len(windows)-1][1].Equal(to) {
			t.Fatalf("shard %v: %v does not cover [%v, %v)", shard, windows, from, to)
		}
		for i, w := range windows {
			if !w[0].Before(w[1]) {
				t.Errorf("shard %v: empty window %v", shard, w)
			}
			if shard > 0 && w[1].Sub(w[0]) > shard {
				t.Errorf("shard %v: window %v too long", shard, w)
			}
			if i > 0 && !windows[i-1][1].Equal(w[0]) {
				t.Errorf("shard %v: gap or overlap between %v and %v", shard, windows[i-1], w)
			}
			if w[0].Location() != time.UTC {
				t.Errorf("not UTC: %v", w)
			}
		}
	}
	// The guide's console log: one-day windows from 13:30:14, the last one
	// shorter.
	windows := Windows(from, to, dayLen)
	want := [][2]string{
		{"2018-02-19T13:30:14Z", "2018-02-20T13:30:14Z"},
		{"2018-02-20T13:30:14Z", "2018-02-21T13:30:14Z"},
		{"2018-02-21T13:30:14Z", "2018-02-22T13:30:14Z"},
		{"2018-02-22T13:30:14Z", "2018-02-22T16:24:58Z"},
	}
	if len(windows) != len(want) {
		t.Fatalf("windows %v, want %v", windows, want)
	}
	for i := range want {
		if !windows[i][0].Equal(at(want[i][0])) || !windows[i][1].Equal(at(want[i][1])) {
			t.Errorf("window %d = %v, want %v", i, windows[i], want[i])
		}
	}
	// Half-open: a recording exactly on a boundary is in one window only.
	boundary := at("2018-02-21T13:30:14Z")
	in := 0
	for _, w := range windows {
		if !boundary.Before(w[0]) && boundary.Before(w[1]) {
			in++
		}
	}
	if in != 1 {
		t.Errorf("boundary falls in %d windows", in)
	}
	// Seven-day shards over 30 days: four of seven and a last of two.
	month := Windows(day("2018-01-01"), day("2018-01-31"), 7*dayLen)
	if len(month) != 5 || month[4][1].Sub(month[4][0]) != 2*dayLen {
		t.Errorf("7-day windows over 30 days: %v", month)
	}
	// "If the minAge and maxAge value is smaller than the shardBy value, the
	// shardBy value will be ignored."
	if w := Windows(from, from.Add(time.Hour), 7*dayLen); len(w) != 1 {
		t.Errorf("short period: %v", w)
	}
	if w := Windows(to, from, dayLen); w != nil {
		t.Errorf("reversed period: %v", w)
	}
	if w := Windows(from, from, dayLen); w != nil {
		t.Errorf("empty period: %v", w)
	}
	if w := Windows(epoch, day("2018-01-01"), time.Nanosecond); len(w) > maxWindows || !w[len(w)-1][1].Equal(day("2018-01-01")) {
		t.Errorf("tiny shard: %d windows", len(w))
	}
}

func TestInstanceOf(t *testing.T) {
	// Pinned: if any of these change, instances of different versions would
	// split recordings differently.
	for _, tc := range []struct {
		id    string
		total int
		want  int
	}{
		{"", 4, 1},
		{"a", 4, 0},
		{"a", 8, 4},
		{"01F62DGIBGD8369P7GC362LAES00000G", 4, 1},
		{"01F62DGIBGD8369P7GC362LAES00000G", 8, 5},
		{"011AP643CSAPR4FKQGQE31TAES0001TH", 4, 3},
		{"011AP643CSAPR4FKQGQE31TAES0001TH", 3, 1},
		{"récording-ü", 8, 5},
		{"anything", 1, 0},
		{"anything", 0, 0},
	} {
		if got := InstanceOf(tc.id, tc.total); got != tc.want {
			t.Errorf("InstanceOf(%q, %d) = %d, want %d", tc.id, tc.total, got, tc.want)
		}
	}
	counts := make([]int, 4)
	for i := range 10_000 {
		id := "rec-" + strings.Repeat("x", i%7) + time.Unix(int64(i), 0).UTC().Format("20060102150405")
		n := InstanceOf(id, 4)
		if n != InstanceOf(id, 4) {
			t.Fatal("not deterministic")
		}
		counts[n]++
	}
	for i, n := range counts {
		if n < 2300 || n > 2700 {
			t.Errorf("instance %d gets %d of 10000: %v", i, n, counts)
		}
	}
	c := parse(t, minimal+"totalRcbsInstances=4\nrcbsInstanceId=3\n")
	if !c.Owns("011AP643CSAPR4FKQGQE31TAES0001TH") || c.Owns("a") {
		t.Error("Owns")
	}
}

func TestTimeouts(t *testing.T) {
	c := parse(t, minimal)
	if c.ConnectTimeout != 30*time.Second || c.ResponseTimeout != 60*time.Second || c.ReadTimeout != 120*time.Second {
		t.Errorf("defaults: connect %v, response %v, read %v", c.ConnectTimeout, c.ResponseTimeout, c.ReadTimeout)
	}
	for _, line := range []string{"connectTimeoutSeconds:30", "responseTimeoutSeconds:60", "readTimeoutSeconds:120"} {
		if !slices.Contains(c.Summary(), line) {
			t.Errorf("summary lacks %q", line)
		}
	}
	c = parse(t, minimal+"connectTimeoutSeconds=5\nresponseTimeoutSeconds=0.25\nreadTimeoutSeconds=86400\n")
	if c.ConnectTimeout != 5*time.Second || c.ResponseTimeout != 250*time.Millisecond || c.ReadTimeout != 24*time.Hour {
		t.Errorf("set: connect %v, response %v, read %v", c.ConnectTimeout, c.ResponseTimeout, c.ReadTimeout)
	}
	if !slices.Contains(c.Summary(), "responseTimeoutSeconds:0.25") {
		t.Errorf("summary: %q", c.Summary())
	}
	if len(c.Warnings) != 0 {
		t.Errorf("warnings: %q", c.Warnings)
	}
	for _, bad := range []string{"0", "-1", "abc", "1e3", "86401", "1.2.3", "PT30S", ".", "30s", "1.0000000001"} {
		if e := parseErr(t, minimal+"readTimeoutSeconds="+bad+"\n"); e.Key != "readTimeoutSeconds" || !strings.Contains(e.Error(), "want seconds") {
			t.Errorf("readTimeoutSeconds=%s: %v", bad, e)
		}
	}
}

func TestAWSEndpoint(t *testing.T) {
	if c := parse(t, minimal); c.AWSEndpoint != "" || !slices.Contains(c.Summary(), "awsEndpoint:") {
		t.Errorf("default: %q, summary %q", c.AWSEndpoint, c.Summary())
	}
	for _, tc := range []struct{ value, want string }{
		{"https://minio.example.com:9000", "https://minio.example.com:9000"},
		{"HTTPS://MinIO.Example.com:9000/", "https://minio.example.com:9000"},
		{"minio.example.com", "https://minio.example.com"},
		{"http://127.0.0.1:9100", "http://127.0.0.1:9100"},
		{"http://[::1]:9100", "http://[::1]:9100"},
	} {
		c := parse(t, minimal+"awsEndpoint="+tc.value+"\n")
		if c.AWSEndpoint != tc.want || len(c.Warnings) != 0 {
			t.Errorf("awsEndpoint=%s: %q, warnings %q; want %q", tc.value, c.AWSEndpoint, c.Warnings, tc.want)
		}
		if !slices.Contains(c.Summary(), "awsEndpoint:"+tc.want) {
			t.Errorf("awsEndpoint=%s: summary %q", tc.value, c.Summary())
		}
	}
	if c := parse(t, minimal+"awsEndpoint=http://minio.example.com:9000\n"); !hasWarning(c, "awsEndpoint uses http://") {
		t.Errorf("http:// to another machine: warnings %q", c.Warnings)
	}
	for _, bad := range []string{"ftp://minio.example.com", "https://minio.example.com/bucket", "https://minio.example.com?x=1", "https://:9000", "https://minio.example.com:0", "https://minio.example.com:70000"} {
		if e := parseErr(t, minimal+"awsEndpoint="+bad+"\n"); e.Key != "awsEndpoint" {
			t.Errorf("awsEndpoint=%s: %v", bad, e)
		}
	}
	if e := parseErr(t, minimal+"awsEndpoint=https://key:hunter2@minio.example.com\n"); e.Key != "awsEndpoint" || strings.Contains(e.Error(), "hunter2") {
		t.Errorf("awsEndpoint with credentials: %v", e)
	}
}
