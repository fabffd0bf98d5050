package srs

import (
	"errors"
	"fmt"
	"net/http"
	"os"
	"time"
)

// uploader empties the upload folder, oldest recording first, while an
// agent is logged in: each complete item of that agent on that server is
// reported stopped (when srs stopped it on its own), its file uploaded,
// then its entry merged into the recording; only then are its files
// deleted. Network failures and 5xx answers are retried with backoff
// (RetryMin doubling to RetryMax, the next attempt kept in the item so
// that it survives restarts); a 4xx answer moves the item to failed/.
func (s *Service) uploader() {
	logged := map[string]bool{} // unreadable items already logged
	for {
		wait := s.uploadPass(logged)
		var timer *time.Timer
		var due <-chan time.Time
		if wait > 0 {
			timer = time.NewTimer(wait)
			due = timer.C
		}
		select {
		case <-s.ctx.Done():
		case <-s.uploadWake:
		case <-due:
		}
		if timer != nil {
			timer.Stop()
		}
		if s.ctx.Err() != nil {
			return
		}
	}
}

// uploadPass uploads what is due and returns how long until the next
// item is due (0: nothing is, wait to be woken).
func (s *Service) uploadPass(logged map[string]bool) time.Duration {
	sess := s.session()
	if sess == nil {
		return 0
	}
	items, errs := s.queue.List()
	for _, err := range errs {
		if !logged[err.Error()] {
			logged[err.Error()] = true
			s.log.Errorf("Uploader: %v", err)
		}
	}
	var next time.Duration
	for _, it := range items {
		if it.State != StateComplete || it.Server != sess.server || it.UserName != sess.userName {
			continue
		}
		if due := it.NextAttempt.Sub(s.opts.Now()); due > 0 {
			if next == 0 || due < next {
				next = due
			}
			continue
		}
		err := s.upload(sess, it)
		switch {
		case err == nil:
			continue
		case sess.ctx.Err() != nil:
			return 0 // logged out or stopping: the item is tried at the next login
		case errors.Is(err, errStopBusy):
			continue // the recorder is reporting its stop; it wakes us after
		case errors.Is(err, ErrSessionLost):
			s.log.Warnf("Uploader: the server session of %s is gone: logged out", sess.userName)
			s.endSession(sess, ReasonSession, false)
			return 0
		case Retryable(err):
			attempts := it.Attempts + 1
			delay := backoff(attempts, s.opts.RetryMin, s.opts.RetryMax)
			s.setLastError("Uploader: %v (attempt %d, next in %s)", err, attempts, delay)
			nextAttempt := s.opts.Now().Add(delay)
			if uerr := s.queue.Update(it.MediaID, func(x *Item) {
				x.Attempts, x.NextAttempt, x.LastError = attempts, nextAttempt, err.Error()
			}); uerr != nil {
				s.log.Errorf("Uploader: %v", uerr)
			}
			// The server is likely down for the others too: wait.
			return delay
		default:
			if ferr := s.queue.Fail(it, err.Error()); ferr != nil {
				s.log.Errorf("Uploader: %v", ferr)
			}
			var apiErr *APIError
			if errors.As(err, &apiErr) && apiErr.Status == http.StatusConflict {
				s.setLastError("Uploader: %v: the server holds a different file under this id; kept in failed/, not retried", err)
			} else {
				s.setLastError("Uploader: %v: kept in failed/, not retried", err)
			}
		}
	}
	return next
}

// upload carries one item through its steps, saving each one done.
func (s *Service) upload(sess *agentSession, it *Item) error {
	ctx := sess.ctx
	if it.StopReason != "" && !it.StopReported {
		claimed, err := s.queue.claimStop(it.MediaID)
		if err != nil {
			return err
		}
		if claimed {
			err := sess.client.Stopped(ctx, it.RecordingID, it.MediaID, it.StopReason)
			retry := err != nil && (Retryable(err) || errors.Is(err, ErrSessionLost))
			if rerr := s.queue.releaseStop(it.MediaID, !retry); rerr != nil {
				return rerr
			}
			if retry {
				return err
			}
			if err != nil {
				// The server no longer cares (the call is over): upload anyway.
				s.log.Warnf("Uploader: %v", err)
			} else {
				s.log.Infof("Uploader: told the server that srs stopped %s (%s)", it.MediaID, it.StopReason)
			}
		}
	}
	if it.Empty {
		// ffmpeg died before its first byte: there is no video to store.
		if err := s.queue.Remove(it); err != nil {
			s.log.Errorf("Uploader: %v", err)
		}
		s.log.Warnf("Uploader: %s holds no video (the capture gave nothing): not uploaded", it.MediaID)
		return nil
	}
	if !it.MediaUploaded {
		f, err := os.Open(s.queue.Path(it.File))
		if err != nil {
			return fmt.Errorf("cannot open %s: %w", it.File, err)
		}
		info, err := f.Stat()
		if err != nil {
			f.Close()
			return fmt.Errorf("cannot read %s: %w", it.File, err)
		}
		err = sess.client.PutMedia(ctx, MediaUpload{
			RecordingID: it.RecordingID, MediaID: it.MediaID, Body: f, Size: info.Size(),
			Encrypted: it.Encrypted, Truncated: it.Truncated,
		})
		f.Close()
		if err != nil {
			return err
		}
		if err := s.queue.Update(it.MediaID, func(x *Item) { x.MediaUploaded = true }); err != nil {
			return err
		}
		s.log.Infof("Uploader: uploaded %s (%s%s) to recording %s", it.MediaID, formatBytes(info.Size()), map[bool]string{true: ", cut short", false: ""}[it.Truncated], it.RecordingID)
	}
	if err := sess.client.PutRecording(ctx, it.RecordingID, it.Entry()); err != nil {
		return err
	}
	if err := s.queue.Remove(it); err != nil {
		s.log.Errorf("Uploader: %v", err)
	}
	s.log.Infof("Uploader: Upload of file was successful.")
	return nil
}

// queueStats is the upload folder's count of items and bytes (failed/ aside).
func (s *Service) queueStats() (items int, bytes int64) {
	list, _ := s.queue.List()
	return len(list), s.queue.Bytes()
}
