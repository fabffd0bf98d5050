package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"time"
)

// The aims of issue 11.
const (
	aimCPUPercent = 20.0  // srs + ffmpeg, % of one core, office content
	aimPeakMB     = 150.0 // srs + ffmpeg together
	aimMBPerHour  = 25.0  // office content
	aimMuxTimesRT = 20.0
)

// results is everything one run measured.
type results struct {
	Started     time.Time         `json:"started"`
	Took        time.Duration     `json:"tookNs"`
	Args        []string          `json:"args"`
	Window      time.Duration     `json:"windowNs"`
	Display     string            `json:"display"`
	Machine     map[string]string `json:"machine"`
	Calls       []*callResult     `json:"calls"`
	Baselines   []*baselineResult `json:"baselines"`
	Uploads     []uploadRun       `json:"uploads"`
	ServeErrors int               `json:"serveErrorLines"`
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
	words := func(s string, n int) string {
		return strings.Join(strings.Fields(s)[:min(n, len(strings.Fields(s)))], " ")
	}
	m["ffmpeg"] = strings.Replace(words(first("ffmpeg", "-hide_banner", "-version"), 3), " version", "", 1)
	m["openssl"] = words(first("openssl", "version"), 2)
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

// write prints the table and, with dir, writes it and the JSON there.
func (res *results) write(stdout io.Writer, dir string) error {
	var md strings.Builder
	res.markdown(&md)
	fmt.Fprint(stdout, md.String())
	if dir == "" {
		return nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	name := "srsbench-" + res.Started.Format("20060102T150405Z")
	js, err := json.MarshalIndent(res, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, name+".json"), append(js, '\n'), 0o644); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, name+".md"), []byte(md.String()), 0o644); err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "srsbench: wrote %s.json and .md\n", filepath.Join(dir, name))
	return nil
}

// kinds are the content kinds measured, in order.
func (res *results) kinds() []string {
	var kinds []string
	for _, c := range res.Calls {
		if !slices.Contains(kinds, c.Kind) {
			kinds = append(kinds, c.Kind)
		}
	}
	return kinds
}

func (res *results) markdown(w io.Writer) {
	m := res.Machine
	fmt.Fprintf(w, "\nsrsbench %s, commit %s, %s, %s CPUs (%s), %s, %s, load at start %s, run took %v\n",
		res.Started.Format("2006-01-02 15:04 MST"), m["commit"], m["go"], m["cpus"], m["cpu"], m["ffmpeg"], m["openssl"],
		m["loadAtStart"], res.Took.Round(time.Second))
	fmt.Fprintf(w, "\nArgs: %s; each run %v; Xvfb %s at %dx%dx24, %d fps, maxWidth %d\n\n",
		strings.Join(res.Args, " "), res.Window, res.Display, screenWidth, screenHeight, frameRate, screenWidth)
	kinds := res.kinds()
	fmt.Fprintf(w, "| metric | %s | aim |\n| --- |%s --- |\n", strings.Join(kinds, " | "), strings.Repeat(" ---: |", len(kinds)))
	row := func(metric, aim string, cell func(c *callResult, b *baselineResult) string) {
		cells := make([]string, len(kinds))
		for i, kind := range kinds {
			var vals []string
			for _, c := range res.Calls {
				if c.Kind == kind {
					vals = append(vals, cell(c, res.baseline(kind, c.Round)))
				}
			}
			cells[i] = strings.Join(vals, " / ")
		}
		fmt.Fprintf(w, "| %s | %s | %s |\n", metric, strings.Join(cells, " | "), aim)
	}
	cpu := func(c *callResult, role string) float64 { return c.Window.Procs[role].CPUPercent }
	pct := func(v float64) string { return fmt.Sprintf("%.1f %%", v) }
	mbRSS := func(u *usage) string { return fmt.Sprintf("%.1f", kibToMB(u.PeakRSSKiB)) }
	onBase := func(f func(b *baselineResult) string) func(c *callResult, b *baselineResult) string {
		return func(_ *callResult, b *baselineResult) string {
			if b == nil {
				return "—"
			}
			return f(b)
		}
	}

	row("srs CPU, % of one core", "", func(c *callResult, _ *baselineResult) string { return pct(cpu(c, "srs")) })
	row("srs's ffmpeg CPU, % of one core", "", func(c *callResult, _ *baselineResult) string { return pct(cpu(c, "ffmpeg")) })
	row("**srs + ffmpeg CPU**", res.verdict("office", "≤ 20 % (office)", func(c *callResult) bool { return c.CPUPercent <= aimCPUPercent }),
		func(c *callResult, _ *baselineResult) string { return "**" + pct(c.CPUPercent) + "**" })
	row("plain ffmpeg, same arguments (baseline)", "", onBase(func(b *baselineResult) string { return pct(b.Window.Procs["baseline"].CPUPercent) }))
	row("srs's overhead: (srs + ffmpeg) − baseline", "", func(c *callResult, b *baselineResult) string {
		if b == nil {
			return "—"
		}
		return fmt.Sprintf("%+.1f points", c.CPUPercent-b.Window.Procs["baseline"].CPUPercent)
	})
	row("Xvfb / test content (ffplay) / whole machine CPU", "context", func(c *callResult, _ *baselineResult) string {
		return fmt.Sprintf("%.0f / %.0f / %.0f %%", procPct(c.Window, "xvfb"), procPct(c.Window, "content"), c.Window.MachineBusy)
	})
	row("peak RSS srs / ffmpeg, MB", "", func(c *callResult, _ *baselineResult) string {
		return mbRSS(c.Window.Procs["srs"]) + " / " + mbRSS(c.Window.Procs["ffmpeg"])
	})
	row("**peak RSS together, MB** (sum of peaks; highest sampled sum)", res.verdict("", "≤ 150 MB", func(c *callResult) bool { return c.PeakRSSMB <= aimPeakMB }),
		func(c *callResult, _ *baselineResult) string {
			return fmt.Sprintf("**%.1f** (%.1f)", c.PeakRSSMB, c.SampledPeakMB)
		})
	row("peak RSS from process start srs / ffmpeg, MB", "", func(c *callResult, _ *baselineResult) string {
		return fmt.Sprintf("%.1f / %.1f", kibToMB(c.Window.Procs["srs"].LifePeakKiB), kibToMB(max(c.Window.Procs["ffmpeg"].LifePeakKiB, c.Window.Procs["ffmpeg"].PeakRSSKiB)))
	})
	row("ffmpeg's RSS at the end: anonymous (of it huge pages) / file-backed / shared memory / PSS, MB", "", func(c *callResult, _ *baselineResult) string {
		e := c.Window.Procs["ffmpeg"].End
		return fmt.Sprintf("%.0f (%.0f) / %.0f / %.0f / %.0f", kibToMB(e.AnonKiB), kibToMB(e.AnonHugeKiB), kibToMB(e.FileKiB), kibToMB(e.ShmemKiB), kibToMB(e.PssKiB))
	})
	row("baseline ffmpeg peak RSS, MB", "", onBase(func(b *baselineResult) string { return mbRSS(b.Window.Procs["baseline"]) }))
	if slices.ContainsFunc(res.Baselines, func(b *baselineResult) bool { return b.NoTHP }) {
		row("baseline without huge pages: peak RSS, MB (CPU)", "", func(c *callResult, _ *baselineResult) string {
			b := res.baselineTHP(c.Kind, c.Round, true)
			if b == nil {
				return "—"
			}
			return fmt.Sprintf("%s (%.1f %%)", mbRSS(b.Window.Procs["baseline"]), b.Window.Procs["baseline"].CPUPercent)
		})
	}
	row("stored file / video duration (call)", "", func(c *callResult, _ *baselineResult) string {
		return fmt.Sprintf("%.2f MB / %.1f s (%.1f s)", float64(c.StoredBytes)/1e6, c.VideoDuration.Seconds(), c.CallDuration.Seconds())
	})
	row("**stored MB per hour**", res.verdict("office", "≤ 25 MB/h (office)", func(c *callResult) bool { return c.MBPerHour <= aimMBPerHour }),
		func(c *callResult, _ *baselineResult) string { return fmt.Sprintf("**%.1f**", c.MBPerHour) })
	row("baseline ffmpeg output, MB per hour", "", onBase(func(b *baselineResult) string { return fmt.Sprintf("%.1f", b.MBPerHour) }))
	row("stop PUT → upload logged (→ srs stopped, → uploaded)", "", func(c *callResult, _ *baselineResult) string {
		return fmt.Sprintf("%.2f s (%.2f s, +%.3f s)", c.StopToLog.Seconds(), c.StopToStopped.Seconds(), c.Upload.Seconds())
	})
	row("upload throughput: stored bytes ÷ stop → log line (÷ upload alone)", "", func(c *callResult, _ *baselineResult) string {
		return fmt.Sprintf("%.2f MB/s (%.0f MB/s)", c.StopToLogMBps, c.UploadOnlyMBps)
	})
	row("mux job's time (serve's log, \"took\")", "", func(c *callResult, _ *baselineResult) string {
		return fmt.Sprintf("%.2f s", c.Mux.Took.Seconds())
	})
	row("**mux, × real time**", res.verdict("", "≥ 20×", func(c *callResult) bool { return c.Mux.TimesRT >= aimMuxTimesRT }),
		func(c *callResult, _ *baselineResult) string { return fmt.Sprintf("**%.0f×**", c.Mux.TimesRT) })
	row("ffmpeg alone on the plain files (the brief's command), × real time", "", func(c *callResult, _ *baselineResult) string {
		return fmt.Sprintf("%.0f× (%.2f s)", c.Mux.Ref.TimesRT, c.Mux.Ref.Wall.Seconds())
	})
	row("ffmpeg alone with the job's audio (48 kHz, 64k, -shortest), × real time", "", func(c *callResult, _ *baselineResult) string {
		return fmt.Sprintf("%.0f× (%.2f s)", c.Mux.RefAsJob.TimesRT, c.Mux.RefAsJob.Wall.Seconds())
	})
	row("CPU: mux job (serve + its ffmpeg) / ffmpeg alone, both commands", "", func(c *callResult, _ *baselineResult) string {
		return fmt.Sprintf("%.2f s / %.2f s, %.2f s", c.Mux.ServeCPU.Seconds(), c.Mux.Ref.CPU.Seconds(), c.Mux.RefAsJob.CPU.Seconds())
	})
	row("audio entry PUT → muxed entry seen", "", func(c *callResult, _ *baselineResult) string {
		return fmt.Sprintf("%.2f s", c.Mux.Queued.Seconds())
	})

	if len(res.Uploads) > 0 {
		fmt.Fprintf(w, "\nSynthetic upload: %.1f MB CMS (application/pkcs7-mime) to the same server, alternating:\n\n", float64(res.Uploads[0].Bytes)/1e6)
		fmt.Fprintf(w, "| round | client | seconds | MB/s | serve CPU s | client CPU s |\n| ---: | --- | ---: | ---: | ---: | ---: |\n")
		for _, u := range res.Uploads {
			clientCPU := "(in process)"
			if u.Client == "curl" {
				clientCPU = fmt.Sprintf("%.2f", u.ClientCPU.Seconds())
			}
			name := map[string]string{"srs": "srs's client (PutMedia)", "curl": "curl -T"}[u.Client]
			fmt.Fprintf(w, "| %d | %s | %.2f | %.0f | %.2f | %s |\n", u.Round, name, u.Wall.Seconds(), u.MBps, u.ServeCPU.Seconds(), clientCPU)
		}
		var srsSum, curlSum float64
		for _, u := range res.Uploads {
			if u.Client == "srs" {
				srsSum += u.MBps
			} else {
				curlSum += u.MBps
			}
		}
		if curlSum > 0 {
			fmt.Fprintf(w, "\nsrs's client ÷ curl, mean MB/s: %.2f\n", srsSum/curlSum)
		}
	}
	fmt.Fprintf(w, "\nserve logged %d ERROR lines.\n", res.ServeErrors)
}

func (res *results) baseline(kind string, round int) *baselineResult {
	return res.baselineTHP(kind, round, false)
}

func (res *results) baselineTHP(kind string, round int, noTHP bool) *baselineResult {
	for _, b := range res.Baselines {
		if b.Kind == kind && b.Round == round && b.NoTHP == noTHP {
			return b
		}
	}
	return nil
}

// verdict is the aim followed by whether every call of kind ("" any)
// meets it.
func (res *results) verdict(kind, aim string, ok func(c *callResult) bool) string {
	seen, met := false, true
	for _, c := range res.Calls {
		if kind == "" || c.Kind == kind {
			seen = true
			met = met && ok(c)
		}
	}
	switch {
	case !seen:
		return aim
	case met:
		return aim + ": met"
	}
	return aim + ": **not met**"
}

func procPct(w *window, role string) float64 {
	if u, ok := w.Procs[role]; ok {
		return u.CPUPercent
	}
	return 0
}
