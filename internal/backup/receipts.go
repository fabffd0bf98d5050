package backup

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"time"

	"callvault/internal/apiclient"
)

// Receipt is what rcbs tells the server of a media file it holds a
// verified copy of.
type Receipt = apiclient.Receipt

// ReceiptPoster sends one batch; *apiclient.Client is one.
type ReceiptPoster interface {
	PostReceipts(ctx context.Context, receipts []apiclient.Receipt) (*apiclient.ReceiptsAnswer, error)
}

// MaxPendingReceipts bounds ReceiptsFile (about 150 bytes a receipt).
const MaxPendingReceipts = 1_000_000

// ReceiptStats is what a run's sender did.
type ReceiptStats struct {
	Accepted, Rejected int
	// Pending were not sent (or not answered) and are kept in
	// ReceiptsFile for the next run.
	Pending int
	// Stopped says why the sender stopped before the end of the run
	// ("" when it did not): the server has no receipts endpoint (404), or
	// refused the credentials.
	Stopped string
	// SaveErr is a failure to write ReceiptsFile.
	SaveErr error
}

// ReceiptSender posts receipts in the background, in batches of at most
// apiclient.MaxReceiptsBatch, retrying with backoff when the server
// cannot be reached or answers 5xx. It never blocks the backup: Add only
// queues. Finish waits a bounded time for the queue to drain and keeps
// what is left in ReceiptsFile, from which the next run's sender starts.
type ReceiptSender struct {
	Client ReceiptPoster
	Log    *slog.Logger
	// File is targetDir/<tenant>/ReceiptsFile.
	File string
	// Batch is the most receipts per request (default and at most
	// apiclient.MaxReceiptsBatch).
	Batch int
	// Backoff gives the pause after the n-th failed attempt in a row
	// (default: exponential from 1 s with jitter, at most 30 s).
	Backoff func(n int) time.Duration

	mu       sync.Mutex
	queue    []Receipt
	inFlight []Receipt
	known    map[Receipt]bool // queued, in flight or accepted in this run
	limit    int              // > 0: the next batch holds at most this many (a split)
	stats    ReceiptStats
	wake     chan struct{}
	closing  chan struct{} // closed by Finish: send what is queued, then end
	done     chan struct{} // closed when the loop ends
	cancel   context.CancelFunc
	started  bool
}

// Start reads the receipts left by earlier runs, queues them first, and
// starts sending. ctx ends the sending (Finish ends it too).
func (s *ReceiptSender) Start(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.started {
		return errors.New("receipt sender started twice")
	}
	s.started = true
	if s.known == nil {
		s.known = map[Receipt]bool{}
	}
	s.wake = make(chan struct{}, 1)
	s.closing = make(chan struct{})
	s.done = make(chan struct{})
	pending, err := readReceipts(s.File)
	for _, r := range pending {
		s.addLocked(r)
	}
	ctx, s.cancel = context.WithCancel(ctx)
	go s.loop(ctx)
	if err != nil {
		return fmt.Errorf("cannot read the receipts kept by the last run: %w", err)
	}
	return nil
}

// Add queues receipts; it never waits for the network.
func (s *ReceiptSender) Add(rs ...Receipt) {
	s.mu.Lock()
	for _, r := range rs {
		s.addLocked(r)
	}
	s.mu.Unlock()
	s.signal()
}

func (s *ReceiptSender) addLocked(r Receipt) {
	if s.known == nil {
		s.known = map[Receipt]bool{}
	}
	if s.known[r] {
		return
	}
	s.known[r] = true
	s.queue = append(s.queue, r)
}

func (s *ReceiptSender) signal() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

func (s *ReceiptSender) batchSize() int {
	if s.Batch <= 0 || s.Batch > apiclient.MaxReceiptsBatch {
		return apiclient.MaxReceiptsBatch
	}
	return s.Batch
}

func (s *ReceiptSender) backoff(n int) time.Duration {
	if s.Backoff != nil {
		return s.Backoff(n)
	}
	d := min(time.Second<<min(n-1, 5), 30*time.Second)
	return d/2 + rand.N(d/2+1)
}

// take moves the next batch to inFlight; nil when the queue is empty.
func (s *ReceiptSender) take() []Receipt {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := min(len(s.queue), s.batchSize())
	if s.limit > 0 {
		n, s.limit = min(n, s.limit), 0
	}
	if n == 0 {
		return nil
	}
	s.inFlight = append(s.inFlight[:0], s.queue[:n]...)
	s.queue = s.queue[n:]
	return s.inFlight
}

// putBack returns batch to the head of the queue.
func (s *ReceiptSender) putBack(batch []Receipt) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.queue = append(append([]Receipt(nil), batch...), s.queue...)
	s.inFlight = s.inFlight[:0]
}

func (s *ReceiptSender) loop(ctx context.Context) {
	defer close(s.done)
	failures := 0
	for {
		batch := s.take()
		if batch == nil {
			select {
			case <-s.wake:
				continue
			case <-s.closing:
				if s.empty() {
					return
				}
				continue
			case <-ctx.Done():
				return
			}
		}
		batch = append([]Receipt(nil), batch...)
		ans, err := s.Client.PostReceipts(ctx, batch)
		var apiErr *apiclient.Error
		switch {
		case err == nil:
			failures = 0
			s.answered(batch, ans)
		case ctx.Err() != nil:
			s.putBack(batch)
			return
		case apiclient.IsNotFound(err):
			s.putBack(batch)
			s.stop("the server has no receipts endpoint (404): it is older than this rcbs", err)
			return
		case apiclient.IsAuth(err):
			s.putBack(batch)
			s.stop("the server refused the credentials for receipts", err)
			return
		case errors.As(err, &apiErr) && apiErr.Status >= 400 && apiErr.Status < 500 &&
			apiErr.Status != http.StatusTooManyRequests && apiErr.Status != http.StatusRequestTimeout:
			// A batch the server finds malformed: halve it until the
			// receipt it refuses is alone, and drop that one.
			failures = 0
			if len(batch) > 1 {
				s.putBack(batch)
				s.mu.Lock()
				s.limit = len(batch) / 2
				s.mu.Unlock()
				continue
			}
			s.mu.Lock()
			s.stats.Rejected++
			s.inFlight = s.inFlight[:0]
			s.mu.Unlock()
			s.Log.Error("backup receipt refused; dropped", "recording", batch[0].RecordingID, "media", batch[0].MediaID,
				"sha256", batch[0].SHA256, "status", apiErr.Status, "code", apiErr.Code, "message", apiErr.Message)
		default:
			s.putBack(batch)
			failures++
			pause := s.backoff(failures)
			s.Log.Warn("cannot send backup receipts; retrying", "receipts", len(batch), "attempt", failures, "pause", pause, "err", err)
			select {
			case <-time.After(pause):
			case <-ctx.Done():
				return
			}
		}
	}
}

func (s *ReceiptSender) empty() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.queue) == 0 && len(s.inFlight) == 0
}

func (s *ReceiptSender) answered(batch []Receipt, ans *apiclient.ReceiptsAnswer) {
	s.mu.Lock()
	s.stats.Accepted += min(max(ans.Accepted, 0), len(batch))
	s.stats.Rejected += len(ans.Rejected)
	s.inFlight = s.inFlight[:0]
	s.mu.Unlock()
	for _, r := range ans.Rejected {
		s.Log.Warn("backup receipt rejected by the server", "recording", r.RecordingID, "media", r.MediaID, "code", r.Code, "message", r.Message)
	}
}

func (s *ReceiptSender) stop(why string, err error) {
	s.mu.Lock()
	s.stats.Stopped = why
	s.mu.Unlock()
	s.Log.Warn("not sending backup receipts for the rest of this run: "+why+"; they are kept for the next run", "err", err)
}

// Finish stops taking receipts, waits at most wait for the queue to be
// sent, then stops the sending and keeps what was not sent in File (an
// atomic rewrite; removed when nothing is left).
func (s *ReceiptSender) Finish(wait time.Duration) ReceiptStats {
	s.mu.Lock()
	started := s.started
	s.mu.Unlock()
	if started {
		close(s.closing)
		s.signal()
		select {
		case <-s.done:
		case <-time.After(wait):
		}
		s.cancel()
		<-s.done
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	left := append(append([]Receipt(nil), s.inFlight...), s.queue...)
	if drop := len(left) - MaxPendingReceipts; drop > 0 {
		// A server that never takes receipts must not grow the file
		// without end: the oldest go.
		s.Log.Warn("too many unsent backup receipts; the oldest are dropped", "dropped", drop, "kept", MaxPendingReceipts)
		left = left[drop:]
	}
	s.stats.Pending = len(left)
	if s.File != "" {
		if err := writeReceipts(s.File, left); err != nil {
			s.stats.SaveErr = err
			s.Log.Error("cannot keep the unsent backup receipts", "file", s.File, "err", err)
		}
	}
	return s.stats
}

// readReceipts reads a ReceiptsFile; none when it is absent. A damaged
// line is skipped: the receipt it held is sent again when a later run
// verifies its recording.
func readReceipts(path string) ([]Receipt, error) {
	if path == "" {
		return nil, nil
	}
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []Receipt
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		var r Receipt
		if json.Unmarshal(sc.Bytes(), &r) == nil && r.RecordingID != "" && r.MediaID != "" && r.SHA256 != "" {
			out = append(out, r)
		}
	}
	return out, sc.Err()
}

// writeReceipts replaces path with rs, one JSON line each; no receipts:
// no file.
func writeReceipts(path string, rs []Receipt) error {
	if len(rs) == 0 {
		if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
		return nil
	}
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	for _, r := range rs {
		if err := enc.Encode(r); err != nil {
			return err
		}
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	return writeAtomic(path, b.Bytes())
}
