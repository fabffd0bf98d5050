// Package backup is the engine of rcbs, the Recording Cloud Backup Service
// client: for each window of the period it lists the recordings, keeps
// this instance's share, fetches each media file to a partial name,
// verifies its size and SHA-256, fsyncs and renames it, writes the record
// as <id>.json, and advances last_recording_endtime.txt only when the
// whole period is safely on disk and began where the stored one ended.
// A verified copy is never replaced by different content, and nothing is
// written outside targetDir whatever names the server gives. It never
// prints; a Reporter hears about progress.
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
	"callvault/internal/vault"
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

	Windows [][2]time.Time // half-open, in order
	// PeriodStart is where the period begins (zero: the first window's
	// start). The state moves forward only when it is at or before the
	// end stored in last_recording_endtime.txt.
	PeriodStart time.Time
	PeriodEnd   time.Time // what the state file records on success
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
	Pending                            int // media not stored on the server yet
	// Filtered counts media left out because their type does not match
	// mediaTypePattern; they are in no other count.
	Filtered int
	// Rewrapped counts verified copies replaced by the server's re-wrapped
	// file (same contentSha256, new sha256); Repaired, copies damaged on
	// disk fetched again. Both are in Downloaded too.
	Rewrapped, Repaired int
	StateAdvanced       bool      // last_recording_endtime.txt was written
	StateTime           time.Time // what it now says (when StateAdvanced)
	// StateNote says why the state was not moved to the end of the
	// period although nothing failed ("" when it was); StateHeld is set
	// when that is because the period began after the stored end.
	StateNote string
	StateHeld bool
	// Manifest is the file name of this run's manifest in
	// <tenant>/manifests ("" when it wrote no file), ManifestFiles how
	// many files it lists; Sealed, the manifests of stopped runs sealed
	// at the start.
	Manifest      string
	ManifestFiles int
	Sealed        []SealedPartial
	// Receipts counts the receipts queued for the server.
	Receipts int
	Failures []string // one line each, conflicts included
	// Conflicts are the media files whose content on the server differs
	// from the verified copy on disk, which was kept: one line each.
	Conflicts []string
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
	// Receipts, when set, hears of every recording whose files are all
	// verified on disk: one receipt per media file.
	Receipts *ReceiptSender

	// manifest lists the files this run writes; tenantDir is
	// targetDir/<tenant>.
	manifest  *Manifest
	tenantDir string

	// folders are the recording folders being written, by nameKey; see
	// claimFolder.
	foldersMu sync.Mutex
	folders   map[string]chan struct{}
}

// ErrAuth is returned when the server refuses the credentials; the run
// stops at once.
var ErrAuth = errors.New("the server refused the credentials (GWS_USERNAME/GWS_PASSWORD)")

var defaultPattern = regexp.MustCompile(`^(audio/mp3|video/mp4)$`)

// Run backs up every window. The state file advances only when nothing
// failed and the period began at or before the stored end; it never moves
// back, except that a pending media file holds it at that recording's
// stop time.
func (e *Engine) Run(ctx context.Context) (res *Result, runErr error) {
	o := &e.Options
	if err := CheckTenant(o.Tenant); err != nil {
		return nil, err
	}
	previous, err := ReadState(o.TargetDir)
	if err != nil {
		return nil, err
	}
	if e.Now == nil {
		e.Now = time.Now
	}
	res = &Result{}
	// What a stopped run wrote is listed before this run writes more.
	e.tenantDir = filepath.Join(o.TargetDir, o.Tenant)
	if res.Sealed, err = SealPartials(e.tenantDir); err != nil {
		return res, err
	}
	for _, s := range res.Sealed {
		if s.Name == "" {
			e.Log.Info("removed the empty manifest of a run that stopped", "manifest", s.Partial)
		} else {
			e.Log.Warn("sealed the manifest of a run that stopped", "partial", s.Partial, "manifest", s.Name, "files", s.Files, "droppedBytes", s.Dropped)
		}
	}
	e.manifest = NewManifest(e.tenantDir, e.Now())
	defer func() {
		name, err := e.manifest.Close(e.Now())
		res.Manifest, res.ManifestFiles = name, e.manifest.Files()
		if name != "" {
			e.Log.Info("manifest written", "manifest", ManifestDir+"/"+name, "files", res.ManifestFiles)
		}
		if err != nil && runErr == nil {
			runErr = err
		}
	}()
	if o.PeriodStart.IsZero() {
		o.PeriodStart = o.PeriodEnd
		if len(o.Windows) > 0 {
			o.PeriodStart = o.Windows[0][0]
		}
	}
	if o.MediaPattern == nil {
		o.MediaPattern = defaultPattern
	}
	if o.Threads < 1 {
		o.Threads = 1
	}
	if o.Cipher == 0 {
		o.Cipher = cms.AES128CBC
	}
	var mu sync.Mutex
	var pendingStop *time.Time // the state may not pass a pending recording
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
					if out.pendingStop != nil && (pendingStop == nil || out.pendingStop.Before(*pendingStop)) {
						pendingStop = out.pendingStop
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
		next := NextState(previous, o.PeriodStart, o.PeriodEnd, pendingStop)
		res.StateNote, res.StateHeld = next.Note, next.Held
		if next.Write {
			if err := writeState(o.TargetDir, next.Time); err != nil {
				return res, err
			}
			res.StateAdvanced, res.StateTime = true, next.Time
		}
		switch {
		case next.Held:
			e.Log.Warn(StateFile+" held: "+next.Note, "state", *previous, "periodStart", o.PeriodStart)
		case next.Note != "":
			e.Log.Info(StateFile+": "+next.Note, "state", next.Time)
		}
	}
	return res, nil
}

// StateChange is what a run that failed nothing does to
// last_recording_endtime.txt.
type StateChange struct {
	Time  time.Time // what the file says afterwards
	Write bool      // whether it is written
	Held  bool      // the period began after the stored end: not moved
	Note  string    // why it does not say the period's end; "" when it does
}

// NextState decides the state after a run in which nothing failed, from
// what the file said before (nil: no file), the period [periodStart,
// periodEnd) and the earliest stop time of a recording with pending media
// (nil: none):
//
//   - a period that began after the stored end leaves a gap nobody
//     fetched, so the state stays (a maxDate or skipLastRecordingCheck run
//     cannot jump it over recordings);
//   - otherwise it becomes the later of the stored end and the period's
//     end: a run over an older period never moves it back;
//   - a pending media file holds it at its recording's stop time, even
//     before the stored end, so that the next runs list that recording
//     again until its media arrives.
func NextState(previous *time.Time, periodStart, periodEnd time.Time, pendingStop *time.Time) StateChange {
	const layout = time.RFC3339Nano
	if previous != nil && periodStart.After(*previous) {
		return StateChange{Time: *previous, Held: true, Note: fmt.Sprintf(
			"kept at %s: this run's period began at %s, after it, so the recordings between were not fetched; a run whose period begins at or before %[1]s fetches them and moves it on",
			previous.UTC().Format(layout), periodStart.UTC().Format(layout))}
	}
	next := StateChange{Time: periodEnd, Write: true}
	if previous != nil && periodEnd.Before(*previous) {
		next.Time = *previous
		next.Note = fmt.Sprintf("kept at %s: this run's period ended before it, at %s, and the state never moves back",
			previous.UTC().Format(layout), periodEnd.UTC().Format(layout))
	}
	if pendingStop != nil && pendingStop.Before(next.Time) {
		next.Time = *pendingStop
		next.Note = fmt.Sprintf("held at %s, the stop time of a recording whose media is not stored on the server yet", pendingStop.UTC().Format(layout))
	}
	if previous != nil && next.Time.Equal(*previous) {
		next.Write = false
	}
	return next
}

// outcome is what handling one recording gave.
type outcome struct {
	downloaded, skipped, failed, total, pending int
	filtered, rewrapped, repaired, receipts     int
	failures, conflicts                         []string
	pendingStop                                 *time.Time
	fatal                                       error
}

func (r *Result) add(o outcome) {
	r.Downloaded += o.downloaded
	r.Skipped += o.skipped
	r.Failed += o.failed
	r.Total += o.total
	r.Pending += o.pending
	r.Filtered += o.filtered
	r.Rewrapped += o.rewrapped
	r.Repaired += o.repaired
	r.Receipts += o.receipts
	r.Failures = append(r.Failures, o.failures...)
	r.Conflicts = append(r.Conflicts, o.conflicts...)
}

func (o *outcome) fail(format string, args ...any) {
	o.failed++
	o.failures = append(o.failures, fmt.Sprintf(format, args...))
}

// CheckTenant refuses a tenant name (from the server's /me) that could
// not be a folder of its own in targetDir: what vault.CheckID refuses, and
// the names rcbs keeps in targetDir itself (the state and the lock file,
// and any of reserved, such as a log file kept there).
func CheckTenant(tenant string, reserved ...string) error {
	if err := vault.CheckID("tenant", tenant); err != nil {
		return fmt.Errorf("the server's tenant name %q cannot be a folder in targetDir: %w", tenant, err)
	}
	for _, name := range append([]string{StateFile, LockFile}, reserved...) {
		if strings.EqualFold(tenant, name) {
			return fmt.Errorf("the server's tenant name %q cannot be a folder in targetDir: it is the name of rcbs's own %s there", tenant, name)
		}
	}
	return nil
}

// within refuses a path that is not strictly inside root once both are
// cleaned: the last check before anything is created from names the
// server gave.
func within(root, path string) error {
	rel, err := filepath.Rel(filepath.Clean(root), filepath.Clean(path))
	if err != nil || rel == "." || rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) || filepath.IsAbs(rel) {
		return fmt.Errorf("%s is not inside targetDir %s: nothing written", path, root)
	}
	return nil
}

// recording backs up one recording: its media, then its metadata.
func (e *Engine) recording(ctx context.Context, rec apiclient.Recording) (out outcome) {
	o := &e.Options
	if err := vault.CheckID("recording id", rec.ID); err != nil {
		out.total++
		out.fail("recording %q: %v: nothing written", rec.ID, err)
		e.Log.Error("recording refused", "recording", rec.ID, "err", err)
		return out
	}
	stop, err := record.ParseTime(rec.StopTime)
	if err != nil {
		out.total++
		out.fail("recording %s: no usable stopTime %q", rec.ID, rec.StopTime)
		return out
	}
	folder, err := o.FolderPath(stop)
	if err == nil {
		if err = CheckFolderRoot(folder); err != nil {
			err = fmt.Errorf("recordingFolderFormat: %w", err)
		}
	}
	if err != nil {
		out.total++
		out.fail("recording %s: %v", rec.ID, err)
		return out
	}
	dir := filepath.Join(o.TargetDir, o.Tenant, filepath.FromSlash(folder), rec.ID)
	if err := within(o.TargetDir, dir); err != nil {
		out.total++
		out.fail("recording %s: %v", rec.ID, err)
		return out
	}
	if err := checkMediaNames(rec); err != nil && !o.MetadataOnly {
		out.total++
		out.fail("recording %s: %v: nothing written", rec.ID, err)
		e.Log.Error("recording refused", "recording", rec.ID, "err", err)
		return out
	}
	// One recording at a time per folder (as a disk that ignores case
	// sees it), and only in a folder that holds no other's record.
	defer e.claimFolder(dir)()
	if err := checkFolderOwner(dir, rec.ID); err != nil {
		out.total++
		out.fail("recording %s: %v", rec.ID, err)
		e.Log.Error("recording refused", "recording", rec.ID, "err", err)
		return out
	}
	conflict := false
	if !o.MetadataOnly {
		verified := loadVerified(dir)
		defer func() {
			if err := verified.save(dir); err != nil {
				e.Log.Warn("cannot record verified files", "dir", dir, "err", err)
			}
		}()
		// Read only when a copy on disk differs from the server's file.
		known := sync.OnceValue(func() map[string]copyRecord { return priorRecord(dir, rec.ID) })
		for _, m := range rec.MediaFiles {
			if !o.MediaPattern.MatchString(m.Type) {
				out.filtered++
				e.Log.Info("media type does not match mediaTypePattern; not downloaded", "recording", rec.ID, "media", m.MediaID, "type", m.Type)
				continue
			}
			out.total++
			if err := checkMediaID(rec.ID, m.MediaID); err != nil {
				out.fail("recording %s: media id %q: %v: nothing written", rec.ID, m.MediaID, err)
				e.Log.Error("media refused", "recording", rec.ID, "media", m.MediaID, "err", err)
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
			got, err := e.media(ctx, dir, rec.ID, m, verified, known)
			e.Reporter.FileDone()
			var conflictErr *ConflictError
			switch {
			case apiclient.IsAuth(err):
				out.fatal = fmt.Errorf("%w: %v", ErrAuth, err)
				out.fail("%s/%s: %v", rec.ID, m.MediaID, err)
				return out
			case errors.Is(err, ErrS3Auth):
				out.fatal = err
				out.fail("%s/%s: %v", rec.ID, m.MediaID, err)
				return out
			case errors.As(err, &conflictErr):
				conflict = true
				out.fail("%v", err)
				out.conflicts = append(out.conflicts, err.Error())
				e.Log.Error("the server's content differs from the verified copy; the copy on disk was kept", "recording", rec.ID, "media", m.MediaID,
					"serverSha256", m.SHA256, "serverContentSha256", m.ContentSHA256, "verifiedSha256", conflictErr.VerifiedSHA256, "verifiedContentSha256", conflictErr.VerifiedContent)
			case err != nil:
				out.fail("%s/%s: %v", rec.ID, m.MediaID, err)
				e.Log.Error("download failed", "recording", rec.ID, "media", m.MediaID, "err", err)
			case got == mediaSkipped:
				out.skipped++
			case got == mediaRewrapped:
				out.downloaded++
				out.rewrapped++
			case got == mediaRepaired:
				out.downloaded++
				out.repaired++
			default:
				out.downloaded++
				e.Log.Info("downloaded", "recording", rec.ID, "media", m.MediaID)
			}
		}
	}
	out.total++
	if conflict {
		// <id>.json keeps describing the copy that was kept: it is what
		// rcbs check verifies it against, and what the next run learns
		// the copy's contentSha256 from.
		out.skipped++
		e.Reporter.FileDone()
		e.Log.Warn("record not rewritten: it describes the verified copy kept on disk", "recording", rec.ID)
		return out
	}
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
	// Every file of the recording is on disk and verified: tell the
	// server, one receipt per media file, with the SHA-256 of the
	// server's stored bytes that rcbs verified.
	if e.Receipts != nil && err == nil && !o.MetadataOnly && out.failed == 0 && out.pending == 0 && out.filtered == 0 && len(rec.MediaFiles) > 0 {
		receipts := make([]Receipt, 0, len(rec.MediaFiles))
		for _, m := range rec.MediaFiles {
			receipts = append(receipts, Receipt{RecordingID: rec.ID, MediaID: m.MediaID, SHA256: m.SHA256})
		}
		e.Receipts.Add(receipts...)
		out.receipts += len(receipts)
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

// BackupStateKeys are the attributes of a server's record that describe
// its backup receipts (backedUp, backedUpAt, backedUpBy): the state of the
// copy, not the recording. They are never written to <id>.json, or every
// record would change, and be written again, the run after its receipts
// were accepted.
var BackupStateKeys = []string{"backedUp", "backedUpAt", "backedUpBy"}

// filterAttributes applies the include/exclude lists to the top level of
// a record; id and mediaFiles are always kept, so the record stays usable,
// and BackupStateKeys always left out.
func filterAttributes(keys []string, include, exclude []string) []string {
	var out []string
	for _, k := range keys {
		if slices.Contains(BackupStateKeys, k) {
			continue
		}
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
