package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strings"
	"time"

	"callvault/internal/analytics"
)

// The aims of the speech analytics.
const (
	aimAudioPerCPU  = 20.0  // audio hours per CPU hour
	aimPeakMB       = 100.0 // per analysis, ffmpeg + recognisers
	aimRecall       = 0.90  // 16 kHz, strictness 50
	aimFalsePerHour = 2.0   // 16 kHz, strictness 50
)

// results is everything one run measured.
type results struct {
	Started time.Time         `json:"started"`
	Took    time.Duration     `json:"tookNs"`
	Render  time.Duration     `json:"renderNs"`  // making (or finding) the corpus
	Measure time.Duration     `json:"measureNs"` // the analyses
	Args    []string          `json:"args"`
	Machine map[string]string `json:"machine"`
	Seed    int64             `json:"seed"`
	Sample  time.Duration     `json:"sampleNs"`
	Phones  []phraseInfoRow   `json:"phrases"`
	// ShortPhones: phrases of fewer phones are left out of the "without
	// short phrases" figures.
	ShortPhones int            `json:"shortPhones"`
	Rates       []*rateResult  `json:"rates"`
	Workers     *workersResult `json:"workers,omitempty"`
}

// rateResult is one rate's corpus and what every configuration made of it.
type rateResult struct {
	Rate       int               `json:"rate"`
	Kbps       int               `json:"kbps"`
	Calls      int               `json:"calls"`
	AudioHours float64           `json:"audioHours"`
	Placed     int               `json:"phrasesPlaced"`
	Variants   []variant         `json:"variants"`
	Sweep      string            `json:"sweep"` // the variant swept over strictness
	Jobs       []string          `json:"jobs"`
	Tallies    map[string]*tally `json:"tallies"`
	Bare       *bare             `json:"bare,omitempty"`
	Heap       heapSample        `json:"heap"`
	Took       time.Duration     `json:"tookNs"`
}

func (rr *rateResult) tally(variant string, strictness int) *tally {
	return rr.Tallies[job{Variant: variant, Strictness: strictness}.key()]
}

// sweep is the variant swept (runs before -sweep: the default).
func (rr *rateResult) sweep() string {
	if rr.Sweep == "" {
		return "default"
	}
	return rr.Sweep
}

// strictnesses are the swept values, ascending.
func (rr *rateResult) strictnesses() []int {
	var out []int
	for _, t := range rr.Tallies {
		if t.Variant == rr.sweep() {
			out = append(out, t.Strictness)
		}
	}
	slices.Sort(out)
	return out
}

// phraseInfoRow is a phrase's length and threshold.
type phraseInfoRow struct {
	Phrase   string      `json:"phrase"`
	Speaker  string      `json:"speaker"`
	Phones   int         `json:"phones"`
	Exponent map[int]int `json:"exponentByStrictness"`
}

func phraseInfo(e *analytics.Engine) []phraseInfoRow {
	dict, err := e.Dictionary()
	if err != nil {
		return nil
	}
	var rows []phraseInfoRow
	for _, p := range benchPhrases {
		row := phraseInfoRow{Phrase: p.Text, Speaker: speakerOf(p.Speaker), Exponent: map[int]int{}}
		for _, w := range analytics.Words(p.Text) {
			n, _ := dict.Phones(w)
			row.Phones += n
		}
		for s := 0; s <= 100; s += 5 {
			row.Exponent[s] = analytics.ThresholdExponent(row.Phones, s)
		}
		rows = append(rows, row)
	}
	return rows
}

// longPhrases adds up the phrases of at least shortPhones phones.
func (t *tally) longPhrases(phrases []phraseInfoRow, shortPhones int) phraseCount {
	var sum phraseCount
	for _, info := range phrases {
		if p := t.Phrases[info.Phrase]; p != nil && info.Phones >= shortPhones {
			sum.add(*p)
		}
	}
	return sum
}

// perPhone is the threshold exponent per phone at a strictness, as
// internal/analytics/topics.go maps it today.
func perPhone(strictness int) float64 {
	const lenient, strict = 6.0, 0.5
	return lenient - (lenient-strict)*float64(strictness)/100
}

func machineInfo(ctx context.Context) map[string]string {
	m := map[string]string{"go": runtime.Version(), "cpus": fmt.Sprint(runtime.NumCPU())}
	first := func(name string, args ...string) string {
		out, err := exec.CommandContext(ctx, name, args...).Output()
		if err != nil {
			return "?"
		}
		line, _, _ := strings.Cut(strings.TrimSpace(string(out)), "\n")
		return line
	}
	m["commit"] = first("git", "rev-parse", "--short", "HEAD")
	// The engine measured is the one built: say whether it is the commit's.
	m["analyticsTree"] = "clean"
	if out, err := exec.CommandContext(ctx, "git", "status", "--porcelain", "--", "internal/analytics", "internal/ffmpeg").Output(); err != nil {
		m["analyticsTree"] = "?"
	} else if len(bytes.TrimSpace(out)) > 0 {
		m["analyticsTree"] = "modified"
	}
	fields := strings.Fields(first("ffmpeg", "-hide_banner", "-version"))
	if len(fields) >= 3 {
		m["ffmpeg"] = "ffmpeg " + fields[2]
	}
	m["pocketsphinx"] = "pocketsphinx " + first("dpkg-query", "-W", "-f=${Version}", "pocketsphinx")
	m["kernel"] = first("uname", "-r")
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for line := range strings.SplitSeq(string(b), "\n") {
			if name, ok := strings.CutPrefix(line, "model name"); ok {
				m["cpu"] = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(name), ":"))
				break
			}
		}
	}
	if b, err := os.ReadFile("/proc/loadavg"); err == nil {
		m["loadAtStart"] = strings.Join(strings.Fields(string(b))[:3], " ")
	}
	return m
}

func (rr *rateResult) variantDescription(name string) string {
	for _, v := range rr.Variants {
		if v.Name == name {
			return v.Name + ", " + v.Description
		}
	}
	return name
}

// printJSONReport prints the report of an earlier run's JSON.
func printJSONReport(path string) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	var res results
	if err := json.Unmarshal(b, &res); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	if res.ShortPhones == 0 {
		res.ShortPhones = analytics.ShortPhrasePhones
	}
	res.markdown(os.Stdout)
	return nil
}

func (res *results) writeJSON(path string) error {
	b, err := json.MarshalIndent(res, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o644)
}

func pct(v float64) string { return fmt.Sprintf("%.1f %%", 100*v) }

// mb is KiB in MB of 10^6 bytes, as the rest of docs/PERFORMANCE.md.
func mb(kib int64) float64 { return float64(kib) * 1024 / 1e6 }

// mbOf is bytes in MB.
func mbOf(bytes int64) float64 { return float64(bytes) / 1e6 }

func (res *results) markdown(w io.Writer) {
	m := res.Machine
	fmt.Fprintf(w, "\nanalyticsbench %s, commit %s (internal/analytics and internal/ffmpeg %s), %s, %s CPUs (%s), %s, %s, load at start %s; run took %v (corpus %v, analyses %v)\n",
		res.Started.Format("2006-01-02 15:04 MST"), m["commit"], m["analyticsTree"], m["go"], m["cpus"], m["cpu"], m["ffmpeg"], m["pocketsphinx"],
		m["loadAtStart"], res.Took.Round(time.Second), res.Render.Round(time.Second), res.Measure.Round(time.Second))
	fmt.Fprintf(w, "\nArgs: %s; corpus seed %d; RSS sampled every %v\n", strings.Join(res.Args, " "), res.Seed, res.Sample)

	if len(res.Rates) == 0 {
		if res.Workers != nil {
			res.Workers.markdown(w)
		}
		return
	}
	fmt.Fprintf(w, "\nPhrases (one topic each, speaker any) and their threshold exponent N (1e-N) by strictness:\n\n")
	var strictness []int
	if len(res.Rates) > 0 {
		strictness = res.Rates[0].strictnesses()
	}
	fmt.Fprintf(w, "| phrase | said by | phones |")
	for _, s := range strictness {
		fmt.Fprintf(w, " N at %d (%.2f/phone) |", s, perPhone(s))
	}
	fmt.Fprintf(w, "\n| --- | --- | ---: |%s\n", strings.Repeat(" ---: |", len(strictness)))
	for _, p := range res.Phones {
		fmt.Fprintf(w, "| %s | %s | %d |", p.Phrase, p.Speaker, p.Phones)
		for _, s := range strictness {
			fmt.Fprintf(w, " %d |", analytics.ThresholdExponent(p.Phones, s))
		}
		fmt.Fprintln(w)
	}

	for _, rr := range res.Rates {
		rr.markdown(w, res)
	}
	res.comparisons(w)
	res.failures(w)
	res.memory(w)
	if res.Workers != nil {
		res.Workers.markdown(w)
	}
	res.aims(w)
}

func (rr *rateResult) markdown(w io.Writer, res *results) {
	phrases := res.Phones
	fmt.Fprintf(w, "\n### %d kHz (MP3 %d kbit/s stereo): %d calls, %.2f h of audio, %d phrases placed; analyses took %v\n\n",
		rr.Rate/1000, rr.Kbps, rr.Calls, rr.AudioHours, rr.Placed, rr.Took.Round(time.Second))
	fmt.Fprintf(w, "Swept: %s.\n\n", rr.variantDescription(rr.sweep()))
	fmt.Fprintf(w, "| strictness | per phone | recall | found / placed | false alarms | per audio hour | duplicates | without phrases under %d phones: recall, FA per h | audio h per CPU h |\n", res.ShortPhones)
	fmt.Fprintf(w, "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n")
	for _, s := range rr.strictnesses() {
		t := rr.tally(rr.sweep(), s)
		p, long := t.total(), t.longPhrases(phrases, res.ShortPhones)
		bold := ""
		if s == defaultStrictness {
			bold = "**"
		}
		fmt.Fprintf(w, "| %s%d%s | %.2f | %s%s%s | %d / %d | %d | %s%.1f%s | %d | %s, %.1f | %.1f |\n", bold, s, bold, perPhone(s),
			bold, pct(p.recall()), bold, p.Found, p.Placed, p.FalseAlarms, bold, t.falseAlarmsPerHour(p), bold, p.Duplicates,
			pct(long.recall()), t.falseAlarmsPerHour(long), t.audioPerCPU())
	}

	fmt.Fprintf(w, "\nPer phrase: found / placed, false alarms, by strictness\n\n| phrase | phones |")
	for _, s := range rr.strictnesses() {
		fmt.Fprintf(w, " %d |", s)
	}
	fmt.Fprintf(w, " recall at 50 | FA per h at 50 |\n| --- | ---: |%s ---: | ---: |\n", strings.Repeat(" --- |", len(rr.strictnesses())))
	for _, info := range phrases {
		fmt.Fprintf(w, "| %s | %d |", info.Phrase, info.Phones)
		for _, s := range rr.strictnesses() {
			p := rr.tally(rr.sweep(), s).Phrases[info.Phrase]
			fmt.Fprintf(w, " %d/%d, %d |", p.Found, p.Placed, p.FalseAlarms)
		}
		t := rr.tally(rr.sweep(), defaultStrictness)
		p := t.Phrases[info.Phrase]
		fmt.Fprintf(w, " %s | %.1f |\n", pct(p.recall()), t.falseAlarmsPerHour(*p))
	}

	t := rr.tally("default", defaultStrictness)
	fmt.Fprintf(w, "\nVoice activity at strictness 50, the engine as shipped (against synth.Silences ≥ 3 s and synth.Crosstalk ≥ 400 ms):\n\n")
	fmt.Fprintf(w, "| | true intervals | matched by an event | share | events | events matching nothing |\n| --- | ---: | ---: | ---: | ---: | ---: |\n")
	for _, row := range []struct {
		name string
		c    intervalCount
	}{{"silence", t.Silence}, {"cross-talk", t.Crosstalk}} {
		share := 0.0
		if row.c.True > 0 {
			share = float64(row.c.Matched) / float64(row.c.True)
		}
		fmt.Fprintf(w, "| %s | %d | %d | %s | %d | %d |\n", row.name, row.c.True, row.c.Matched, pct(share), row.c.Events, row.c.False)
	}
}

// failures lists the analyses that failed, if any.
func (res *results) failures(w io.Writer) {
	for _, rr := range res.Rates {
		for _, key := range rr.Jobs {
			for _, f := range rr.Tallies[key].Failed {
				fmt.Fprintf(w, "\n**Failed, left out** (%d kHz, %s): %s\n", rr.Rate/1000, key, f)
			}
		}
	}
}

func (res *results) comparisons(w io.Writer) {
	if len(res.Rates) == 0 {
		return
	}
	fmt.Fprintf(w, "\n### Configurations at strictness 50, side by side (each call analysed by each in turn)\n\n| configuration |")
	for _, rr := range res.Rates {
		fmt.Fprintf(w, " %d kHz recall | FA per h | without short phrases: recall, FA per h | audio h per CPU h |", rr.Rate/1000)
	}
	fmt.Fprintf(w, "\n| --- |%s\n", strings.Repeat(" ---: | ---: | ---: | ---: |", len(res.Rates)))
	for _, v := range res.Rates[0].Variants {
		if res.Rates[0].tally(v.Name, defaultStrictness) == nil {
			continue
		}
		fmt.Fprintf(w, "| %s: %s |", v.Name, v.Description)
		for _, rr := range res.Rates {
			t := rr.tally(v.Name, defaultStrictness)
			p, long := t.total(), t.longPhrases(res.Phones, res.ShortPhones)
			fmt.Fprintf(w, " %s | %.1f | %s, %.1f | %.1f |", pct(p.recall()), t.falseAlarmsPerHour(p), pct(long.recall()), t.falseAlarmsPerHour(long), t.audioPerCPU())
		}
		fmt.Fprintln(w)
	}
	if res.Rates[0].Bare == nil {
		return
	}
	fmt.Fprintf(w, "\nThe bare recogniser, one channel: `%s`\n\n", res.Rates[0].Bare.Command)
	fmt.Fprintf(w, "| rate | channel-hours per CPU h: ffmpeg + pocketsphinx (pocketsphinx alone) | the engine, per channel (2 × its call figure) | one recogniser's start-up CPU | peak RSS of the two, MB | hits |\n")
	fmt.Fprintf(w, "| --- | ---: | ---: | ---: | ---: | ---: |\n")
	for _, rr := range res.Rates {
		b := rr.Bare
		if b == nil {
			continue
		}
		alone := b.CPU - b.DecodeCPU
		engine := rr.tally("default", defaultStrictness)
		fmt.Fprintf(w, "| %d kHz | %.1f (%.1f) | %.1f | %.2f s | %.1f | %d |\n", rr.Rate/1000,
			b.Audio.Seconds()/b.CPU.Seconds(), b.Audio.Seconds()/alone.Seconds(), 2*engine.audioPerCPU(),
			b.StartupCPU.Seconds(), mb(b.PeakKiB), b.Hits)
	}
}

func (res *results) memory(w io.Writer) {
	fmt.Fprintf(w, "\n### Memory per analysis (strictness 50, the engine as shipped)\n\n")
	fmt.Fprintf(w, "| rate | children's summed RSS, peak: max / median, MB | most children at once | one child's VmHWM, max MB | Go heap, longest call: HeapInuse after − before / sampled peak − start / allocated, MB | dictionary on the Go heap, once per engine, MB |\n")
	fmt.Fprintf(w, "| --- | ---: | ---: | ---: | ---: | ---: |\n")
	for _, rr := range res.Rates {
		t := rr.tally("default", defaultStrictness)
		if t == nil || len(t.ChildrenPeakKiB) == 0 {
			continue
		}
		h := rr.Heap
		fmt.Fprintf(w, "| %d kHz | %.1f / %.1f | %d | %.1f | %.2f / %.2f / %.1f (%s) | %.1f |\n", rr.Rate/1000,
			mb(slices.Max(t.ChildrenPeakKiB)), mb(median(t.ChildrenPeakKiB)), t.MaxChildren, mb(slices.Max(t.ChildHWMKiB)),
			mbOf(h.InuseDelta), mbOf(h.PeakDelta), mbOf(h.Allocated), h.Call, mbOf(h.DictionaryBytes))
	}
}

func median(vs []int64) int64 {
	if len(vs) == 0 {
		return 0
	}
	s := slices.Clone(vs)
	slices.Sort(s)
	return s[len(s)/2]
}

func (res *results) aims(w io.Writer) {
	if len(res.Rates) == 0 {
		return
	}
	fmt.Fprintf(w, "\n### Aims\n\n| aim | measured | |\n| --- | --- | --- |\n")
	verdict := func(ok bool) string {
		if ok {
			return "met"
		}
		return "**not met**"
	}
	for _, rr := range res.Rates {
		t := rr.tally("default", defaultStrictness)
		p := t.total()
		peak := mb(slices.Max(t.ChildrenPeakKiB))
		fmt.Fprintf(w, "| ≥ %.0f audio h per CPU h (%d kHz) | %.1f | %s |\n", aimAudioPerCPU, rr.Rate/1000, t.audioPerCPU(), verdict(t.audioPerCPU() >= aimAudioPerCPU))
		fmt.Fprintf(w, "| ≤ %.0f MB peak RSS per analysis (%d kHz) | %.1f MB | %s |\n", aimPeakMB, rr.Rate/1000, peak, verdict(peak <= aimPeakMB))
		if rr.Rate == 16000 {
			fmt.Fprintf(w, "| recall ≥ %.0f %% at 50 (16 kHz) | %s | %s |\n", 100*aimRecall, pct(p.recall()), verdict(p.recall() >= aimRecall))
			fmt.Fprintf(w, "| ≤ %.0f false alarms per audio h at 50 (16 kHz) | %.1f | %s |\n", aimFalsePerHour, t.falseAlarmsPerHour(p), verdict(t.falseAlarmsPerHour(p) <= aimFalsePerHour))
		} else {
			fmt.Fprintf(w, "| recall / false alarms at 50 (%d kHz, reported, no aim) | %s / %.1f per h | |\n", rr.Rate/1000, pct(p.recall()), t.falseAlarmsPerHour(p))
		}
	}
	for _, rr := range res.Rates {
		if rr.Rate != 16000 {
			continue
		}
		var meet, meetLong []string
		for _, s := range rr.strictnesses() {
			t := rr.tally(rr.sweep(), s)
			p, long := t.total(), t.longPhrases(res.Phones, res.ShortPhones)
			if p.recall() >= aimRecall && t.falseAlarmsPerHour(p) <= aimFalsePerHour {
				meet = append(meet, fmt.Sprintf("%d (%.2f per phone)", s, perPhone(s)))
			}
			if long.recall() >= aimRecall && t.falseAlarmsPerHour(long) <= aimFalsePerHour {
				meetLong = append(meetLong, fmt.Sprintf("%d (%.2f per phone)", s, perPhone(s)))
			}
		}
		list := func(l []string) string {
			if len(l) == 0 {
				return "none"
			}
			return strings.Join(l, ", ")
		}
		fmt.Fprintf(w, "\nSwept strictness (%s) meeting both 16 kHz quality aims at %d kbit/s: %s; without phrases under %d phones: %s.\n",
			rr.sweep(), rr.Kbps, list(meet), res.ShortPhones, list(meetLong))
	}
}
