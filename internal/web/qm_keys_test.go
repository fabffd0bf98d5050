package web

import (
	"testing"

	"callvault/internal/vault"
)

// The quality pages name evaluation states, question types and report
// intervals by value (Label): each has its text in en-US (and so, by
// TestEveryKeyInEveryLanguage, in every language).
func TestQMLabelKeysExist(t *testing.T) {
	ref := langByTag[defaultLang].messages
	var keys []string
	for _, s := range vault.EvalStates {
		keys = append(keys, "qm_state_"+s)
	}
	for _, q := range questionTypes {
		keys = append(keys, "qm_type_"+q)
	}
	for _, i := range reportIntervals {
		keys = append(keys, "interval_"+i)
	}
	for _, key := range keys {
		if _, ok := ref[key]; !ok {
			t.Errorf("en-US lacks %q", key)
		}
	}
}

// Scores and deviations read as each language writes numbers.
func TestQMNumberFormats(t *testing.T) {
	v, d := 88.888, -11.11
	for tag, want := range map[string][3]string{
		"en-US": {"88.9%", "-11.1", "—"},
		"de-DE": {"88,9 %", "-11,1", "—"},
		"fr-FR": {"88,9 %", "-11,1", "—"},
		"tr-TR": {"%88,9", "-11,1", "—"},
	} {
		l := langByTag[tag]
		if got := [3]string{l.Pct(&v), l.Dev(&d), l.Pct(nil)}; got != want {
			t.Errorf("%s: %q, want %q", tag, got, want)
		}
	}
}
