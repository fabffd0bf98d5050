package srs

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"callvault/internal/cms"
)

// errNotRecording: a pause or resume with no capture running.
var errNotRecording = errors.New("no screen recording is in progress")

// recording is the capture in progress: ffmpeg's output is encrypted as it
// comes into <file>.part in the upload folder.
type recording struct {
	item *Item // changed under Service.ctl only
	sess *agentSession
	proc CaptureProcess
	file *os.File
	enc  io.WriteCloser // the CMS stream writer, or the file itself (no certificate)
	part string         // the path of the .part file

	cancel  context.CancelFunc // kills ffmpeg if it does not stop
	paused  bool
	written atomic.Int64 // bytes of video captured
	dirty   atomic.Bool  // written since the last fsync
	// firstOutput closes when ffmpeg's first bytes arrive (or the copy
	// ends): ffmpeg writes its header only once its filter graph is up,
	// and a mask sent before that is lost.
	firstOutput chan struct{}
	// firstAt is when the first bytes came (Unix ns): ffmpeg writes its
	// header once the first frame is through, so this, not the start
	// command, is when the video begins; muxing aligns the call audio
	// by it.
	firstAt  atomic.Int64
	now      func() time.Time
	copyDone chan struct{}
	copyErr  error         // set before copyDone closes
	stopped  chan struct{} // closed when finishRecording is done with it
}

// recStatus is what GET /api/v2/me/recording says about the capture.
type recStatus struct {
	State       string    // idle, recording, paused
	RecordingID string    // of the capture in progress
	MediaID     string    // of the capture in progress
	Since       time.Time // start of the capture in progress
}

func (s *Service) setRecStatus(rec *recording) {
	st := recStatus{State: "idle"}
	if rec != nil {
		st = recStatus{State: "recording", RecordingID: rec.item.RecordingID, MediaID: rec.item.MediaID, Since: rec.item.StartTime}
		if rec.paused {
			st.State = "paused"
		}
	}
	s.mu.Lock()
	s.rec = rec
	s.recState = st
	s.mu.Unlock()
}

// startRecording starts capturing mediaID of recordingID for sess. s.ctl
// is held. Failures are logged (and the server told, so it can start a new
// part later); the desktop learns of them from the status.
func (s *Service) startRecording(sess *agentSession, recordingID, mediaID string) {
	ctx, cancel := context.WithTimeout(sess.ctx, 30*time.Second)
	defer cancel()
	// Certificates assigned since login apply to the next recording: read
	// the settings again, keeping the old ones when the server is slow.
	if settings, err := sess.client.ScreenSettings(ctx); err == nil {
		s.mu.Lock()
		sess.setSettings(settings)
		s.mu.Unlock()
	} else if errors.Is(err, ErrSessionLost) {
		s.log.Warnf("Recorder: not recording %s: the server session of %s is gone", mediaID, sess.userName)
		go s.endSession(sess, ReasonSession, false)
		return
	} else {
		s.log.Warnf("Recorder: %v; using the settings read before", err)
	}
	s.mu.Lock()
	when, certs, aliases, certErr := sess.settings.RecordingWhen, sess.certs, sess.aliases, sess.certErr
	s.mu.Unlock()
	switch {
	case when == "off":
		s.log.Infof("Recorder: not recording %s of recording %s: the tenant's recordingWhen is off", mediaID, recordingID)
		return
	case certErr != nil:
		s.setLastError("Recorder: not recording %s: %v", mediaID, certErr)
		return
	case s.queue.Has(mediaID):
		s.log.Warnf("Recorder: not recording %s again: the upload folder already holds it", mediaID)
		return
	}
	if rec := s.rec; rec != nil {
		// A start for another media file replaces the capture in progress.
		s.finishRecording(rec, "")
	}
	refuse := func(reason, format string, args ...any) {
		s.setLastError("Recorder: not recording %s: %s", mediaID, fmt.Sprintf(format, args...))
		s.goRun(func() {
			ctx, cancel := context.WithTimeout(sess.ctx, 30*time.Second)
			defer cancel()
			if err := sess.client.Stopped(ctx, recordingID, mediaID, reason); err != nil {
				s.log.Warnf("Recorder: %v", err)
			}
		})
	}
	if reason, why := s.diskProblem(); reason != "" {
		refuse(reason, "%s", why)
		return
	}
	req := s.captureRequest(sess)
	layout, err := s.capt.Plan(ctx, req)
	if err != nil {
		refuse(ReasonCapture, "cannot prepare the capture: %v", err)
		return
	}
	it := &Item{
		RecordingID: recordingID, MediaID: mediaID, State: StateRecording,
		Encrypted: len(certs) > 0, CertAliases: aliases,
		Server: sess.server, UserName: sess.userName,
		Contact:   Contact{UserName: sess.me.UserName, FirstName: sess.me.FirstName, LastName: sess.me.LastName},
		StartTime: s.opts.Now(), Layout: layout,
	}
	it.File = fileName(mediaID) + ".mp4"
	if it.Encrypted {
		it.File = fileName(mediaID) + ".cms"
	}
	// The item first: a crash before the .part exists leaves an item
	// without a file, which recovery drops.
	if err := s.queue.Create(it); err != nil {
		refuse(ReasonCapture, "%v", err)
		return
	}
	part := s.queue.Path(it.File + ".part")
	abandon := func(f *os.File) {
		if f != nil {
			f.Close()
		}
		os.Remove(part)
		_ = s.queue.Remove(it)
	}
	f, err := os.OpenFile(part, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		abandon(nil)
		refuse(ReasonCapture, "cannot create %s: %v", part, err)
		return
	}
	var enc io.WriteCloser = nopCloser{f}
	if it.Encrypted {
		if enc, err = cms.NewStreamWriter(f, certs, cms.Options{}); err != nil {
			abandon(f)
			refuse(ReasonCapture, "cannot encrypt for %s: %v", strings.Join(aliases, ", "), err)
			return
		}
	} else {
		s.log.Warnf("Recorder: the tenant has no screen certificate: %s is stored and uploaded unencrypted", mediaID)
	}
	recCtx, recCancel := context.WithCancel(s.ctx)
	proc, err := s.capt.Start(recCtx, req, layout)
	if err != nil {
		recCancel()
		abandon(f)
		refuse(ReasonCapture, "cannot start the capture: %v", err)
		return
	}
	rec := &recording{
		item: it, sess: sess, proc: proc, file: f, enc: enc, part: part, cancel: recCancel,
		firstOutput: make(chan struct{}), copyDone: make(chan struct{}), stopped: make(chan struct{}), now: s.opts.Now,
	}
	s.setRecStatus(rec)
	s.goRun(rec.copy)
	s.goRun(func() { s.watch(rec) })
	how := "unencrypted"
	if it.Encrypted {
		how = "encrypted for " + strings.Join(aliases, ", ")
	}
	s.log.Infof("Recorder: recording %s of recording %s: %s at %dx%d, %d fps, %s",
		mediaID, recordingID, plural(len(layout.Monitors), "monitor", "monitors"), layout.Width, layout.Height, req.FrameRate, how)
}

type nopCloser struct{ io.Writer }

func (nopCloser) Close() error { return nil }

// copy moves ffmpeg's output into the encrypted file, flushing every
// complete cipher block after each read so that the file holds all but
// the last few bytes of what was captured.
func (rec *recording) copy() {
	defer close(rec.copyDone)
	var first sync.Once
	started := func() { first.Do(func() { close(rec.firstOutput) }) }
	defer started()
	out := rec.proc.Output()
	buf := make([]byte, 64<<10)
	flusher, _ := rec.enc.(interface{ Flush() error })
	aligned := newBoxAligner(rec.enc)
	for {
		n, err := out.Read(buf)
		if n > 0 {
			if rec.firstAt.Load() == 0 {
				rec.firstAt.Store(rec.now().UnixNano())
			}
			started()
			werr := func() error {
				if _, err := aligned.Write(buf[:n]); err != nil {
					return err
				}
				if flusher != nil {
					return flusher.Flush()
				}
				return nil
			}()
			rec.dirty.Store(true)
			if werr != nil {
				rec.copyErr = fmt.Errorf("cannot write %s: %w", filepath.Base(rec.part), werr)
				// Keep ffmpeg from blocking on a full pipe until it is stopped.
				go func() { _, _ = io.Copy(io.Discard, out) }()
				return
			}
			rec.written.Add(int64(n))
		}
		if err == io.EOF {
			return
		}
		if err != nil {
			rec.copyErr = fmt.Errorf("cannot read the capture: %w", err)
			return
		}
	}
}

// watch syncs the file, checks disk and queue while rec runs, and closes
// rec when the capture ends on its own.
func (s *Service) watch(rec *recording) {
	syncT := time.NewTicker(syncInterval)
	defer syncT.Stop()
	diskT := time.NewTicker(s.opts.DiskCheckInterval)
	defer diskT.Stop()
	stopOnOwn := func(reason, format string, args ...any) {
		s.ctl.Lock()
		var it *Item
		if s.rec == rec {
			s.setLastError("Recorder: stopped recording %s: %s", rec.item.MediaID, fmt.Sprintf(format, args...))
			it = s.finishRecording(rec, reason)
		}
		s.ctl.Unlock()
		if it != nil {
			ctx, cancel := context.WithTimeout(rec.sess.ctx, 30*time.Second)
			s.reportStop(ctx, rec.sess, it)
			cancel()
		}
	}
	for {
		select {
		case <-rec.stopped:
			return
		case <-rec.copyDone:
			select {
			case <-rec.stopped:
				return
			default:
			}
			if reason, why := s.diskProblem(); reason != "" {
				stopOnOwn(reason, "%s (%v)", why, rec.copyErr)
				return
			}
			why := "the capture ended on its own"
			if rec.copyErr != nil {
				why = rec.copyErr.Error()
			}
			stopOnOwn(ReasonCapture, "%s", why)
			return
		case <-syncT.C:
			if rec.dirty.Swap(false) {
				_ = rec.file.Sync()
			}
		case <-diskT.C:
			if reason, why := s.diskProblem(); reason != "" {
				stopOnOwn(reason, "%s", why)
				return
			}
		}
	}
}

// diskProblem says why no more may be captured: too little free disk
// (minFreeDiskPercent) or too big a queue (maxQueueMB); "" when neither.
func (s *Service) diskProblem() (reason, why string) {
	dir := s.queue.Dir()
	if free, total, err := s.opts.DiskSpace(dir); err == nil && total > 0 {
		pct := float64(free) * 100 / float64(total)
		if pct < s.cfg.MinFreeDiskPercent {
			return ReasonDiskFull, fmt.Sprintf("free disk space of %s is %.1f%%, below minFreeDiskPercent %g", dir, pct, s.cfg.MinFreeDiskPercent)
		}
	}
	if size := s.queue.Bytes(); size > s.cfg.MaxQueueMB<<20 {
		return ReasonQueueFull, fmt.Sprintf("the upload queue holds %d MB, above maxQueueMB %d", size>>20, s.cfg.MaxQueueMB)
	}
	return "", ""
}

// finishRecording stops rec and queues its file: ffmpeg finishes its last
// fragment, the CMS message is closed, the file synced and renamed from
// .part, the item marked complete. reason is set when srs stops on its own
// (the caller reports it). s.ctl is held. It returns the item, or nil when
// rec was already finished.
func (s *Service) finishRecording(rec *recording, reason string) *Item {
	if s.rec != rec {
		return nil
	}
	it := rec.item
	if err := rec.proc.Stop(); err != nil && reason == "" {
		s.log.Warnf("Recorder: cannot stop the capture of %s cleanly: %v", it.MediaID, err)
	}
	select {
	case <-rec.copyDone:
	case <-time.After(15 * time.Second):
		s.log.Errorf("Recorder: the capture of %s did not stop within 15 s: killed", it.MediaID)
		rec.cancel()
		<-rec.copyDone
	}
	waitErr := rec.proc.Wait()
	rec.cancel()
	stopTime := s.opts.Now()
	var fileErr error
	if rec.copyErr == nil {
		fileErr = rec.enc.Close()
	} else {
		fileErr = rec.copyErr
	}
	if err := rec.file.Sync(); err != nil && fileErr == nil {
		fileErr = err
	}
	if err := rec.file.Close(); err != nil && fileErr == nil {
		fileErr = err
	}
	if err := os.Rename(rec.part, s.queue.Path(it.File)); err != nil {
		s.setLastError("Recorder: cannot rename %s: %v", rec.part, err)
	}
	it.State = StateComplete
	if at := rec.firstAt.Load(); at != 0 {
		it.StartTime = time.Unix(0, at).UTC()
	}
	it.StopTime = stopTime
	it.StopReason = reason
	it.Empty = rec.written.Load() == 0
	if fileErr != nil && !it.Empty {
		// What reached the disk is kept; the server keeps its complete parts.
		it.Truncated = true
		s.setLastError("Recorder: %s is cut short: %v", it.MediaID, fileErr)
	}
	if err := s.queue.Save(it); err != nil {
		s.setLastError("Recorder: %v", err)
	}
	s.setRecStatus(nil)
	close(rec.stopped)
	why := reason
	if why == "" {
		why = "stopped by the server"
	}
	queued := "queued for upload"
	if it.Empty {
		queued = "nothing to upload"
	}
	s.log.Infof("Recorder: stopped recording %s (%s): %s captured in %s, %s",
		it.MediaID, why, formatBytes(rec.written.Load()), guideDuration(stopTime.Sub(it.StartTime)), queued)
	if reason == ReasonCapture && waitErr != nil {
		s.log.Errorf("Recorder: ffmpeg: %v", waitErr)
	}
	if reason == "" {
		s.wakeUploader() // else the stop report wakes it, once sent
	}
	return it
}

// reportStop tells the server srs stopped it on its own; when the server
// cannot be reached, the uploader tells it before the upload.
func (s *Service) reportStop(ctx context.Context, sess *agentSession, it *Item) {
	defer s.wakeUploader()
	claimed, err := s.queue.claimStop(it.MediaID)
	if err != nil || !claimed {
		return
	}
	err = sess.client.Stopped(ctx, it.RecordingID, it.MediaID, it.StopReason)
	retry := err != nil && (Retryable(err) || errors.Is(err, ErrSessionLost))
	switch {
	case retry:
		s.log.Warnf("Recorder: %v (told again before the upload)", err)
	case err != nil:
		s.log.Warnf("Recorder: %v", err)
	default:
		s.log.Infof("Recorder: told the server that srs stopped %s (%s)", it.MediaID, it.StopReason)
	}
	if err := s.queue.releaseStop(it.MediaID, !retry); err != nil {
		s.log.Errorf("Recorder: %v", err)
	}
}

// maskWait bounds how long a pause waits for a capture that has just
// started to be ready for it.
const maskWait = 10 * time.Second

// maskLocked blacks the capture out (pause) or shows it again, and notes
// the mask in the entry. s.ctl is held.
func (s *Service) maskLocked(on bool) error {
	rec := s.rec
	if rec == nil {
		return errNotRecording
	}
	if rec.paused == on {
		return nil
	}
	select {
	case <-rec.firstOutput:
	case <-time.After(maskWait):
		return fmt.Errorf("the capture has produced nothing for %s", maskWait)
	}
	if err := rec.proc.Mask(on); err != nil {
		return err
	}
	typ := "resume"
	if on {
		typ = "pause"
	}
	rec.paused = on
	rec.item.Masks = append(rec.item.Masks, Mask{Time: s.opts.Now(), Type: typ})
	if err := s.queue.Save(rec.item); err != nil {
		s.setLastError("Recorder: %v", err)
	}
	s.setRecStatus(rec)
	s.log.Infof("Recorder: %s of %s (%s)", typ, rec.item.MediaID, map[bool]string{true: "masked", false: "shown"}[on])
	return nil
}

// recover closes what a crash left: an item still "recording" becomes
// complete and truncated, stopped at its file's last write, to be
// reported stopped and uploaded.
func (s *Service) recover() {
	if tmps, _ := filepath.Glob(filepath.Join(s.queue.Dir(), "*.tmp")); len(tmps) > 0 {
		for _, tmp := range tmps {
			os.Remove(tmp)
		}
	}
	items, errs := s.queue.List()
	for _, err := range errs {
		s.log.Errorf("Recorder: %v", err)
	}
	for _, it := range items {
		if it.State != StateRecording {
			continue
		}
		part, final := s.queue.Path(it.File+".part"), s.queue.Path(it.File)
		info, err := os.Stat(part)
		if err == nil {
			err = os.Rename(part, final)
		} else if errors.Is(err, fs.ErrNotExist) {
			info, err = os.Stat(final)
		}
		if err != nil {
			s.log.Errorf("Recorder: %s was being recorded when srs stopped, but its file cannot be used (%v): dropped", it.MediaID, err)
			_ = s.queue.Remove(it)
			continue
		}
		it.State = StateComplete
		it.Truncated = true
		it.StopTime = info.ModTime()
		if it.StopTime.Before(it.StartTime) {
			it.StopTime = it.StartTime
		}
		it.StopReason = ReasonCrash
		it.StopReported = false
		if err := s.queue.Save(it); err != nil {
			s.log.Errorf("Recorder: %v", err)
			continue
		}
		s.log.Warnf("Recorder: %s was being recorded when srs stopped: queued for upload as cut short (%s)", it.MediaID, formatBytes(info.Size()))
	}
}

// dummyRecording is dummyRecordingDuration: a test capture at start,
// thrown away, to show in the log that capturing works.
func (s *Service) dummyRecording() {
	d := s.cfg.DummyRecordingDuration
	ctx, cancel := context.WithTimeout(s.ctx, d+30*time.Second)
	defer cancel()
	req := s.captureRequest(nil)
	layout, err := s.capt.Plan(ctx, req)
	if err != nil {
		s.setLastError("DummyRecording: cannot prepare the capture: %v", err)
		return
	}
	proc, err := s.capt.Start(ctx, req, layout)
	if err != nil {
		s.setLastError("DummyRecording: cannot start the capture: %v", err)
		return
	}
	var n int64
	done := make(chan struct{})
	go func() {
		n, _ = io.Copy(io.Discard, proc.Output())
		close(done)
	}()
	sleep(ctx, d)
	_ = proc.Stop()
	<-done
	if err := proc.Wait(); err != nil && n == 0 {
		s.setLastError("DummyRecording: the capture failed: %v", err)
		return
	}
	s.log.Infof("DummyRecording: a test capture of %s at %dx%d made %s; nothing was kept or uploaded", d, layout.Width, layout.Height, formatBytes(n))
}

func formatBytes(n int64) string {
	switch {
	case n >= 10<<20:
		return fmt.Sprintf("%d MB", n>>20)
	case n >= 10<<10:
		return fmt.Sprintf("%d KB", n>>10)
	}
	return fmt.Sprintf("%d bytes", n)
}
