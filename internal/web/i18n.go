package web

import (
	"bufio"
	"bytes"
	"embed"
	"fmt"
	"net/http"
	"strings"
	"time"

	"golang.org/x/text/language"
	"golang.org/x/text/message"
)

// The UI languages of the guide's "Multilingual support" table, in its
// order. Each has a message file messages/<Tag>.txt with every key of
// en-US (a test checks it).
var languages = []*Lang{
	{Tag: "nl-NL", Name: "Nederlands", dateTime: "02-01-2006 15:04:05", date: "02-01-2006"},
	{Tag: "en-US", Name: "English (US)", dateTime: "01/02/2006 3:04:05 PM", date: "01/02/2006"},
	{Tag: "fr-CA", Name: "Français (Canada)", dateTime: "2006-01-02 15 h 04 min 05 s", date: "2006-01-02"},
	{Tag: "ru-RU", Name: "Русский", dateTime: "02.01.2006 15:04:05", date: "02.01.2006"},
	{Tag: "es-MX", Name: "Español (México)", dateTime: "02/01/2006 15:04:05", date: "02/01/2006"},
	{Tag: "es-ES", Name: "Español (España)", dateTime: "02/01/2006 15:04:05", date: "02/01/2006"},
	{Tag: "de-DE", Name: "Deutsch", dateTime: "02.01.2006 15:04:05", date: "02.01.2006"},
	{Tag: "pt-BR", Name: "Português (Brasil)", dateTime: "02/01/2006 15:04:05", date: "02/01/2006"},
	{Tag: "ko-KR", Name: "한국어", dateTime: "2006. 1. 2. 15:04:05", date: "2006. 1. 2."},
	{Tag: "fr-FR", Name: "Français (France)", dateTime: "02/01/2006 15:04:05", date: "02/01/2006"},
	{Tag: "ja-JP", Name: "日本語", dateTime: "2006/01/02 15:04:05", date: "2006/01/02"},
	// The guide labels Simplified Chinese "Mandarin".
	{Tag: "zh-CN", Name: "简体中文（普通话）", dateTime: "2006/1/2 15:04:05", date: "2006/1/2"},
	{Tag: "it-IT", Name: "Italiano", dateTime: "02/01/2006 15:04:05", date: "02/01/2006"},
	{Tag: "ar", Name: "العربية", RTL: true, dateTime: "2006/01/02 15:04:05", date: "2006/01/02"},
	{Tag: "tr-TR", Name: "Türkçe", dateTime: "02.01.2006 15:04:05", date: "02.01.2006"},
	// The guide labels Traditional Chinese "Cantonese".
	{Tag: "zh-TW", Name: "繁體中文（粵語）", dateTime: "2006/1/2 15:04:05", date: "2006/1/2"},
}

const defaultLang = "en-US"

// browserLang maps a browser language to a UI language: the guide's table
// first (English-UK → English-US, Spanish-USA and Spanish-Colombia →
// Spanish-Mexican, Cantonese-Hong Kong → Traditional Chinese, …), then the
// base language with its usual UI language. Anything else is unsupported.
var browserLang = map[string]string{
	"en-us": "en-US", "en-gb": "en-US", "en-au": "en-US", "en-za": "en-US", "en-in": "en-US", "en": "en-US",
	"nl-nl": "nl-NL", "nl": "nl-NL",
	"fr-ca": "fr-CA", "fr-fr": "fr-FR", "fr": "fr-FR",
	"ru-ru": "ru-RU", "ru": "ru-RU",
	"es-us": "es-MX", "es-co": "es-MX", "es-mx": "es-MX", "es-419": "es-MX", "es-es": "es-ES", "es": "es-ES",
	"de-de": "de-DE", "de": "de-DE",
	"pt-br": "pt-BR", "pt": "pt-BR",
	"ko-kr": "ko-KR", "ko": "ko-KR",
	"ja-jp": "ja-JP", "ja": "ja-JP",
	"zh-cn": "zh-CN", "zh-hans": "zh-CN", "zh-hans-cn": "zh-CN", "zh": "zh-CN", "cmn": "zh-CN",
	"zh-hk": "zh-TW", "zh-tw": "zh-TW", "zh-hant": "zh-TW", "zh-hant-hk": "zh-TW", "zh-hant-tw": "zh-TW", "yue": "zh-TW", "yue-hk": "zh-TW",
	"it-it": "it-IT", "it": "it-IT",
	"ar":    "ar", // Arabic - World Wide: every region
	"tr-tr": "tr-TR", "tr": "tr-TR",
}

// Lang is one UI language: its messages and its formats.
type Lang struct {
	Tag  string // BCP 47, as in <html lang>
	Name string // in the language itself, for the switcher
	RTL  bool

	dateTime, date string // time.Format layouts
	messages       map[string]string
	printer        *message.Printer
}

//go:embed messages/*.txt
var messageFiles embed.FS

var langByTag = map[string]*Lang{}

func init() {
	for _, l := range languages {
		data, err := messageFiles.ReadFile("messages/" + l.Tag + ".txt")
		if err != nil {
			panic("web: no messages for " + l.Tag)
		}
		l.messages = parseMessages(data)
		l.printer = message.NewPrinter(language.MustParse(l.Tag))
		langByTag[l.Tag] = l
	}
}

// parseMessages reads "key = text" lines; '#' starts a comment line.
func parseMessages(data []byte) map[string]string {
	out := map[string]string{}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		key, text, ok := strings.Cut(line, "=")
		if !ok {
			continue
		}
		out[strings.TrimSpace(key)] = strings.TrimSpace(text)
	}
	return out
}

// matchLang picks the UI language: a remembered choice (cookie) if it is
// one, else the first Accept-Language entry, by quality, that the table
// maps, else en-US.
func matchLang(cookie, acceptLanguage string) *Lang {
	if l, ok := langByTag[cookie]; ok {
		return l
	}
	tags, _, err := language.ParseAcceptLanguage(acceptLanguage)
	if err == nil {
		for _, t := range tags {
			if l := lookupBrowserLang(t); l != nil {
				return l
			}
		}
	}
	return langByTag[defaultLang]
}

func lookupBrowserLang(t language.Tag) *Lang {
	s := strings.ToLower(t.String())
	if ui, ok := browserLang[s]; ok {
		return langByTag[ui]
	}
	base, _ := t.Base()
	script, scriptConf := t.Script()
	region, _ := t.Region()
	switch base.String() {
	case "zh":
		// zh-Hant / zh-MO read Traditional Chinese; the rest Simplified.
		if scriptConf == language.Exact && script.String() == "Hant" || region.String() == "MO" {
			return langByTag["zh-TW"]
		}
	case "ar":
		return langByTag["ar"]
	}
	// A region the table does not list (es-AR, en-NZ): the base
	// language's UI language, as a browser set to it would get.
	if ui, ok := browserLang[base.String()]; ok {
		return langByTag[ui]
	}
	return nil
}

// LangCookie remembers the switcher's choice.
const LangCookie = "callvault_lang"

func requestLang(r *http.Request) *Lang {
	cookie := ""
	if c, err := r.Cookie(LangCookie); err == nil {
		cookie = c.Value
	}
	return matchLang(cookie, r.Header.Get("Accept-Language"))
}

// Dir is the text direction for <html dir>.
func (l *Lang) Dir() string {
	if l.RTL {
		return "rtl"
	}
	return "ltr"
}

// T translates key; args fill the text's %s/%d verbs. A missing key shows
// the en-US text (the test keeps that from happening) or the key.
func (l *Lang) T(key string, args ...any) string {
	text, ok := l.messages[key]
	if !ok {
		text, ok = langByTag[defaultLang].messages[key]
		if !ok {
			return key
		}
	}
	if len(args) == 0 {
		return text
	}
	return l.printer.Sprintf(text, args...)
}

// Label translates prefix+value (a job kind, a state, an outcome) and
// shows value itself for one without a message: kinds and states the UI
// does not know yet still read as what the server calls them.
func (l *Lang) Label(prefix, value string) string {
	key := prefix + value
	if text, ok := l.messages[key]; ok {
		return text
	}
	if text, ok := langByTag[defaultLang].messages[key]; ok {
		return text
	}
	return value
}

// Num formats an integer with the language's digit grouping.
func (l *Lang) Num(n any) string {
	return l.printer.Sprintf("%d", n)
}

// Time formats a time in UTC with the language's layout.
func (l *Lang) Time(t time.Time) string {
	if t.IsZero() {
		return "—"
	}
	return t.UTC().Format(l.dateTime) + " UTC"
}

// Date formats a date (UTC).
func (l *Lang) Date(t time.Time) string {
	if t.IsZero() {
		return "—"
	}
	return t.UTC().Format(l.date)
}

// Duration formats h:mm:ss, the same in every language.
func Duration(d time.Duration) string {
	if d <= 0 {
		return "—"
	}
	s := int64(d.Round(time.Second) / time.Second)
	return fmt.Sprintf("%d:%02d:%02d", s/3600, s/60%60, s%60)
}

// Languages lists the UI languages for the switcher.
func Languages() []*Lang { return languages }
