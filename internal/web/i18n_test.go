package web

import (
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"callvault/internal/service"
	"callvault/internal/vault"
)

// Every language has exactly the keys of en-US, none empty, with the same
// format verbs.
func TestEveryKeyInEveryLanguage(t *testing.T) {
	ref := langByTag[defaultLang].messages
	if len(languages) != 16 {
		t.Fatalf("%d languages, the guide's table has 16 UI languages", len(languages))
	}
	for _, l := range languages {
		for key, en := range ref {
			text, ok := l.messages[key]
			if !ok || text == "" {
				t.Errorf("%s lacks %q", l.Tag, key)
				continue
			}
			if strings.Count(text, "%s") != strings.Count(en, "%s") {
				t.Errorf("%s %q: %q has other verbs than %q", l.Tag, key, text, en)
			}
		}
		for key := range l.messages {
			if _, ok := ref[key]; !ok {
				t.Errorf("%s has %q, which en-US lacks", l.Tag, key)
			}
		}
	}
}

// Every key the templates and handlers use exists in en-US.
func TestUsedKeysExist(t *testing.T) {
	ref := langByTag[defaultLang].messages
	keys := []string{"role_admin", "role_supervisor", "role_agent", "role_recorder", "voice", "screen",
		"outcome_" + vault.OutcomeOK, "outcome_" + vault.OutcomeDenied, "outcome_" + vault.OutcomeFailed}
	// Job kinds and states are shown through Label, which falls back to
	// the raw name: every kind the service runs and every state River
	// reports (and "deleted", the service's) has its text.
	for _, kind := range service.Kinds() {
		keys = append(keys, "job_kind_"+kind)
	}
	for _, state := range []string{"available", "scheduled", "pending", "running", "retryable", "completed", "cancelled", "discarded", "deleted"} {
		keys = append(keys, "job_state_"+state)
	}
	// Speech analytics: speakers, channels, event types and trend kinds
	// are named by value.
	for _, speaker := range []string{vault.SpeakerAgent, vault.SpeakerCustomer, vault.SpeakerAny, vault.SpeakerUnknown} {
		keys = append(keys, "speaker_"+speaker)
	}
	keys = append(keys, "channel_left", "channel_right", "channel_mono", "ev_type_"+vault.EventTopic, "ev_type_"+vault.EventSilence,
		"ev_type_"+vault.EventCrosstalk, "kind_"+vault.EventTopic, "kind_category", "delete_topic_title", "delete_category_title",
		"delete_topic_warning", "delete_category_warning", "delete_refused_topic", "delete_refused_category")
	for _, key := range keys {
		if _, ok := ref[key]; !ok {
			t.Errorf("en-US lacks %q", key)
		}
	}
}

// Every key a template or a handler names literally exists in en-US (the
// keys made at run time are listed above).
func TestLiteralKeysExist(t *testing.T) {
	ref := langByTag[defaultLang].messages
	check := func(file string, re *regexp.Regexp, text []byte) {
		for _, m := range re.FindAllSubmatch(text, -1) {
			if _, ok := ref[string(m[1])]; !ok {
				t.Errorf("%s uses %q, which en-US lacks", file, m[1])
			}
		}
	}
	templates, err := fs.Glob(templateFiles, "templates/*.html")
	if err != nil || len(templates) == 0 {
		t.Fatalf("templates: %v", err)
	}
	for _, name := range templates {
		text, _ := templateFiles.ReadFile(name)
		check(name, regexp.MustCompile(`\.T "([A-Za-z0-9_]+)"`), text)
	}
	sources, _ := filepath.Glob("*.go")
	for _, name := range sources {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		text, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		check(name, regexp.MustCompile(`\.T\("([A-Za-z0-9_]+)"[,)]`), text)
	}
}

func TestMatchLang(t *testing.T) {
	for _, c := range []struct{ cookie, accept, want string }{
		{"", "", "en-US"},
		{"", "en-GB,en;q=0.8", "en-US"},
		{"", "en-AU", "en-US"},
		{"", "en-ZA", "en-US"},
		{"", "en-IN", "en-US"},
		{"", "es-US", "es-MX"},
		{"", "es-CO", "es-MX"},
		{"", "es-MX", "es-MX"},
		{"", "es-ES", "es-ES"},
		{"", "fr-CA", "fr-CA"},
		{"", "fr-FR", "fr-FR"},
		{"", "fr-BE", "fr-FR"},
		{"", "nl-NL", "nl-NL"},
		{"", "ru-RU", "ru-RU"},
		{"", "de-DE", "de-DE"},
		{"", "pt-BR", "pt-BR"},
		{"", "ko-KR", "ko-KR"},
		{"", "ja-JP", "ja-JP"},
		{"", "ja", "ja-JP"},
		{"", "zh-CN", "zh-CN"},
		{"", "zh-HK", "zh-TW"},
		{"", "zh-Hant", "zh-TW"},
		{"", "it-IT", "it-IT"},
		{"", "ar-EG", "ar"},
		{"", "ar-SA,en;q=0.5", "ar"},
		{"", "tr-TR", "tr-TR"},
		{"", "sv-SE", "en-US"},          // unsupported
		{"", "sv-SE,de;q=0.7", "de-DE"}, // the first supported one
		{"", "de;q=0.3,ja;q=0.9", "ja-JP"},
		{"", "garbage;;", "en-US"},
		{"ar", "ja-JP", "ar"},       // the switcher's choice wins
		{"xx-XX", "ja-JP", "ja-JP"}, // an unknown cookie is ignored
	} {
		if got := matchLang(c.cookie, c.accept).Tag; got != c.want {
			t.Errorf("cookie %q, Accept-Language %q: %s, want %s", c.cookie, c.accept, got, c.want)
		}
	}
}

func TestFormats(t *testing.T) {
	at := time.Date(2021, 7, 21, 16, 49, 0, 0, time.UTC)
	for tag, want := range map[string][2]string{
		"en-US": {"07/21/2021 4:49:00 PM UTC", "1,234,567"},
		"de-DE": {"21.07.2021 16:49:00 UTC", "1.234.567"},
		"fr-FR": {"21/07/2021 16:49:00 UTC", "1\u00a0234\u00a0567"},
		"ja-JP": {"2021/07/21 16:49:00 UTC", "1,234,567"},
	} {
		l := langByTag[tag]
		if got := l.Time(at); got != want[0] {
			t.Errorf("%s time: %q, want %q", tag, got, want[0])
		}
		if got := l.Num(1234567); got != want[1] && !(tag == "fr-FR" && strings.ContainsAny(got, "\u202f\u00a0")) {
			t.Errorf("%s number: %q, want %q", tag, got, want[1])
		}
	}
	if !langByTag["ar"].RTL || langByTag["ar"].Dir() != "rtl" || langByTag["ja-JP"].Dir() != "ltr" {
		t.Error("Arabic must be right to left, the rest left to right")
	}
	if got := Duration(37 * time.Second); got != "0:00:37" {
		t.Errorf("duration %q", got)
	}
	if !slices.ContainsFunc(languages, func(l *Lang) bool { return l.Tag == "zh-TW" }) {
		t.Error("no Traditional Chinese")
	}
}
