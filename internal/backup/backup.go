// Package backup is the engine of rcbs, the Recording Cloud Backup Service
// client: for each window of the period it lists the recordings, keeps
// this instance's share, fetches each media file to a partial name,
// verifies its size and SHA-256, fsyncs and renames it, writes the record
// as <id>.json, and advances last_recording_endtime.txt only when the
// whole period is safely on disk. It never prints; a Reporter hears
// about progress.
package backup

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"callvault/internal/apiclient"
	"callvault/internal/cms"
	"callvault/internal/record"
)

// Options is what one run does; rcbs fills it from config.properties.
type Options struct {
	TargetDir string
	Tenant    string
	// FolderPath maps a recording's stop time to its folder below the
	// tenant (recordingFolderFormat).
	FolderPath   func(time.Time) (string, error)
	MediaPattern *regexp.Regexp // nil: audio/mp3 and video/mp4
	MetadataOnly bool
	Threads      int // parallel downloads; 1 in single mode
	// Instance is this instance's share: recordings whose
	// InstanceOf(id, Total) is ID.
	Total, ID  int
	InstanceOf func(id string, total int) int
	// Include and Exclude filter the top-level attributes written to
	// <id>.json (empty Include: all).
	Include, Exclude []string
	// EncryptFor, when set, encrypts media that arrived unencrypted;
	// without it such media fails rather than land in clear.
	EncryptFor *x509.Certificate
	Cipher     cms.Cipher

	Windows   [][2]time.Time // half-open, in order
	PeriodEnd time.Time      // what the state file records on success
}

// Reporter hears about progress; the CLI draws it.
type Reporter interface {
	WindowStarted(from, to time.Time, overall int, query string)
	Transferred(bytes int64) // bytes written
	FileDone()               // one file handled (any outcome)
	WindowDone()
}

// Result counts what a run did, as the guide's closing line does.
type Result struct {
	Downloaded, Skipped, Failed, Total int
	Pending                            int       // media not stored on the server yet
	StateAdvanced                      bool      // last_recording_endtime.txt was written
	StateTime                          time.Time // what it now says
	Failures                           []string  // one line each
}

// Engine runs backups.
type Engine struct {
	Client   *apiclient.Client
	Options  Options
	Reporter Reporter
	Log      *slog.Logger
	Now      func() time.Time
	// S3, when set, reads media that carry a storageKey straight from
	// the bucket; media without one still come through the API.
	S3 *S3Source
}

// ErrAuth is returned when the server refuses the credentials; the run
// stops at once.
var ErrAuth = errors.New("the server refused the credentials (GWS_USERNAME/GWS_PASSWORD)")

var defaultPattern = regexp.MustCompile(`^(audio/mp3|video/mp4)$`)

// Run backs up every window. The state file advances only when nothing
// failed; a pending media file holds it back to that recording's stop
// time.
func (e *Engine) Run(ctx context.Context) (*Result, error) {
	o := &e.Options
	if o.MediaPattern == nil {
		o.MediaPattern = defaultPattern
	}
	if o.Threads < 1 {
		o.Threads = 1
	}
	if o.Cipher == 0 {
		o.Cipher = cms.AES128CBC
	}
	res := &Result{}
	var mu sync.Mutex
	holdBack := o.PeriodEnd // the state may not pass a pending recording
	for i, w := range o.Windows {
		q := url.Values{}
		q.Set("endTimeRange", fmt.Sprintf("%d,%d", w[0].UnixMilli(), w[1].UnixMilli()))
		q.Set("limit", "1000")
		overall := 100 * (i + 1) / len(o.Windows)
		e.Reporter.WindowStarted(w[0], w[1], overall, e.Client.URL("/recordings")+"?"+q.Encode())
		jobs := make(chan apiclient.Recording)
		var wg sync.WaitGroup
		var fatal atomic.Pointer[error]
		for t := 0; t < o.Threads; t++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for rec := range jobs {
					out := e.recording(ctx, rec)
					mu.Lock()
					res.add(out)
					if out.pendingStop != nil && out.pendingStop.Before(holdBack) {
						holdBack = *out.pendingStop
					}
					mu.Unlock()
					if out.fatal != nil {
						fatal.CompareAndSwap(nil, &out.fatal)
					}
				}
			}()
		}
		listErr := e.Client.Search(ctx, q, func(rec apiclient.Recording) error {
			if fatal.Load() != nil {
				return *fatal.Load()
			}
			if o.Total > 1 && o.InstanceOf(rec.ID, o.Total) != o.ID {
				return nil
			}
			select {
			case jobs <- rec:
				return nil
			case <-ctx.Done():
				return ctx.Err()
			}
		})
		close(jobs)
		wg.Wait()
		if f := fatal.Load(); f != nil {
			return res, *f
		}
		if listErr != nil {
			if apiclient.IsAuth(listErr) {
				return res, fmt.Errorf("%w: %v", ErrAuth, listErr)
			}
			return res, fmt.Errorf("cannot list recordings from %s to %s: %w", w[0].Format(time.RFC3339), w[1].Format(time.RFC3339), listErr)
		}
		e.Reporter.WindowDone()
	}
	if res.Failed == 0 {
		if err := writeState(o.TargetDir, holdBack); err != nil {
			return res, err
		}
		res.StateAdvanced, res.StateTime = true, holdBack
	}
	return res, nil
}

// outcome is what handling one recording gave.
type outcome struct {
	downloaded, skipped, failed, total, pending int
	failures                                    []string
	pendingStop                                 *time.Time
	fatal                                       error
}

func (r *Result) add(o outcome) {
	r.Downloaded += o.downloaded
	r.Skipped += o.skipped
	r.Failed += o.failed
	r.Total += o.total
	r.Pending += o.pending
	r.Failures = append(r.Failures, o.failures...)
}

func (o *outcome) fail(format string, args ...any) {
	o.failed++
	o.failures = append(o.failures, fmt.Sprintf(format, args...))
}

// safeName refuses names that could leave their folder.
func safeName(kind, name string) error {
	if name == "" || name == "." || name == ".." || strings.ContainsAny(name, `/\`) || strings.Contains(name, "..") ||
		strings.IndexFunc(name, func(r rune) bool { return r < 0x20 || r == 0x7f }) >= 0 || len(name) > 255 {
		return fmt.Errorf("%s %q is not a safe file name", kind, name)
	}
	return nil
}

// recording backs up one recording: its media, then its metadata.
func (e *Engine) recording(ctx context.Context, rec apiclient.Recording) (out outcome) {
	o := &e.Options
	if err := safeName("recording id", rec.ID); err != nil {
		out.total++
		out.fail("%v", err)
		return out
	}
	stop, err := record.ParseTime(rec.StopTime)
	if err != nil {
		out.total++
		out.fail("recording %s: no usable stopTime %q", rec.ID, rec.StopTime)
		return out
	}
	folder, err := o.FolderPath(stop)
	if err != nil {
		out.total++
		out.fail("recording %s: %v", rec.ID, err)
		return out
	}
	dir := filepath.Join(o.TargetDir, o.Tenant, filepath.FromSlash(folder), rec.ID)
	if !o.MetadataOnly {
		verified := loadVerified(dir)
		defer func() {
			if err := verified.save(dir); err != nil {
				e.Log.Warn("cannot record verified files", "dir", dir, "err", err)
			}
		}()
		for _, m := range rec.MediaFiles {
			if !o.MediaPattern.MatchString(m.Type) {
				continue
			}
			out.total++
			if err := safeName("media id", m.MediaID); err != nil {
				out.fail("recording %s: %v", rec.ID, err)
				continue
			}
			if m.Pending || m.MediaURI == nil {
				out.pending++
				out.total--
				if out.pendingStop == nil {
					s := stop
					out.pendingStop = &s
				}
				e.Log.Info("media not stored on the server yet; the state will not pass this recording", "recording", rec.ID, "media", m.MediaID)
				continue
			}
			skipped, err := e.media(ctx, dir, rec.ID, m, verified)
			e.Reporter.FileDone()
			switch {
			case apiclient.IsAuth(err):
				out.fatal = fmt.Errorf("%w: %v", ErrAuth, err)
				out.fail("%s/%s: %v", rec.ID, m.MediaID, err)
				return out
			case errors.Is(err, ErrS3Auth):
				out.fatal = err
				out.fail("%s/%s: %v", rec.ID, m.MediaID, err)
				return out
			case err != nil:
				out.fail("%s/%s: %v", rec.ID, m.MediaID, err)
				e.Log.Error("download failed", "recording", rec.ID, "media", m.MediaID, "err", err)
			case skipped:
				out.skipped++
			default:
				out.downloaded++
				e.Log.Info("downloaded", "recording", rec.ID, "media", m.MediaID)
			}
		}
	}
	out.total++
	wrote, err := e.metadata(dir, rec)
	e.Reporter.FileDone()
	switch {
	case err != nil:
		out.fail("%s/%s.json: %v", rec.ID, rec.ID, err)
	case wrote:
		out.downloaded++
	default:
		out.skipped++
	}
	return out
}

// FormatState writes a state time as the state file holds it.
func FormatState(t time.Time) string {
	return strconv.FormatInt(t.UnixMilli(), 10) + " " + t.UTC().Format(time.RFC3339) + "\n"
}

// ParseState reads last_recording_endtime.txt's content: epoch
// milliseconds, optionally followed by a readable date.
func ParseState(s string) (time.Time, error) {
	fields := strings.Fields(s)
	if len(fields) == 0 {
		return time.Time{}, errors.New("empty")
	}
	if ms, err := strconv.ParseInt(fields[0], 10, 64); err == nil {
		return time.UnixMilli(ms).UTC(), nil
	}
	t, err := record.ParseTime(fields[0])
	if err != nil {
		return time.Time{}, fmt.Errorf("%q is neither epoch milliseconds nor a date-time", fields[0])
	}
	return t, nil
}

// filterAttributes applies the include/exclude lists to the top level of
// a record; id and mediaFiles are always kept, so the record stays usable.
func filterAttributes(keys []string, include, exclude []string) []string {
	var out []string
	for _, k := range keys {
		keep := len(include) == 0 || slices.Contains(include, k)
		if slices.Contains(exclude, k) {
			keep = false
		}
		if k == "id" || k == "mediaFiles" {
			keep = true
		}
		if keep {
			out = append(out, k)
		}
	}
	return out
}
