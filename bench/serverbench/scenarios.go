package main

import (
	"bytes"
	"callvault/bench/internal/benchkit"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptrace"
	"net/url"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"
)

// state is what the scenarios share.
type state struct {
	srv *server
	dir string
	o   options

	media      []string // recordings with a stored media file <id>+mediaSuffix
	mediaSize  int64    // its plaintext size
	recordings int      // recordings stored so far by this run

	// writers, when set, are the servers putRecordings spreads its clients
	// over (client w uses writers[w % len]); else every client uses srv.
	writers []*server
	// bin is the callvault binary; started lists every server started,
	// for the report's count of ERROR lines.
	bin     string
	started []*server
}

const mediaSuffix = "-a.mp3"

// fsyncPolicy is what internal/blob and internal/sqlite do, as their code
// says (checked by reading it, not measured).
const fsyncPolicy = "Media: internal/blob's writer.Close fsyncs the media file and then its directory " +
	"(\"so that a stored object survives a power loss\"), and service.PutMedia writes the metadata row only after Close returns. " +
	"Metadata: SQLite in WAL mode with synchronous=NORMAL (internal/sqlite/sqlite.go: \"synchronous=NORMAL under WAL skips the fsync on each commit: " +
	"a crash of the process loses nothing, a power loss or OS crash may lose the last transactions but never corrupts the database\"); " +
	"the WAL is fsynced only at checkpoints. One write connection, so write transactions queue in Go."

var baseTime = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

func guideTime(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000-0700") }

// defaultStart is when recording i starts unless the caller says: 7 s
// apart from baseTime.
func defaultStart(i int) time.Time { return baseTime.Add(time.Duration(i) * 7 * time.Second) }

// recordingLength is every recording's stopTime − startTime.
const recordingLength = 3 * time.Minute

// metadata is a small record: times, caller, one audio media file, and for
// half an attached-data event adding partition /half.
func metadata(id string, i int, start time.Time, half bool) []byte {
	stop := start.Add(recordingLength)
	doc := map[string]any{
		"id":                id,
		"startTime":         guideTime(start),
		"stopTime":          guideTime(stop),
		"callerPhoneNumber": fmt.Sprintf("+1905%07d", i%10_000_000),
		"mediaFiles": []any{map[string]any{
			"mediaId": id + mediaSuffix, "type": "audio/mp3",
			"startTime": guideTime(start), "stopTime": guideTime(stop),
		}},
	}
	if half {
		doc["eventHistory"] = []any{map[string]any{
			"occurredAt": guideTime(start.Add(time.Second)), "eventId": id + "_p", "event": "Data", "calluuid": id,
			"data": map[string]any{"added": map[string]any{"GRECORD_PARTITIONS": "/half"}},
		}}
	}
	b, _ := json.Marshal(doc)
	return b
}

func putMedia(ctx context.Context, srv *server, id string, i int, size int64) error {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Minute)
	defer cancel()
	req, err := srv.request(ctx, http.MethodPut, "/api/v2/recordings/"+url.PathEscape(id)+"/media/"+url.PathEscape(id+mediaSuffix),
		adminLogin, adminPassword, body('m', i, size), size)
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "audio/mp3")
	_, err = srv.call(req, http.StatusCreated, false)
	return err
}

func putMeta(ctx context.Context, srv *server, id string, i int, start time.Time, half bool) error {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	doc := metadata(id, i, start, half)
	req, err := srv.request(ctx, http.MethodPut, "/api/v2/recordings/"+url.PathEscape(id), adminLogin, adminPassword, bytes.NewReader(doc), int64(len(doc)))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	_, err = srv.call(req, http.StatusOK, false)
	return err
}

type putResult struct {
	mediaLat, metaLat, recLat lat // by index; 0 where it failed
	elapsed                   time.Duration
	ok                        int
}

// putRecordings stores n recordings <prefix><i> with conc clients: each a
// media PUT of size bytes (when size > 0) then a metadata PUT. Recording i
// starts at startOf(i) (nil: defaultStart).
func (st *state) putRecordings(ctx context.Context, prefix string, n, conc int, size int64, startOf func(int) time.Time, half func(int) bool, errs *errLog) putResult {
	if startOf == nil {
		startOf = defaultStart
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	res := putResult{mediaLat: make(lat, n), metaLat: make(lat, n), recLat: make(lat, n)}
	var next, ok atomic.Int64
	stopTicker := ticker(ctx, prefix, n, ok.Load)
	defer stopTicker()
	var wg sync.WaitGroup
	start := time.Now()
	for w := range conc {
		srv := st.srv
		if len(st.writers) > 0 {
			srv = st.writers[w%len(st.writers)]
		}
		wg.Go(func() {
			for ctx.Err() == nil {
				i := int(next.Add(1) - 1)
				if i >= n {
					return
				}
				id := fmt.Sprintf("%s%07d", prefix, i)
				t0 := time.Now()
				if size > 0 {
					if err := putMedia(ctx, srv, id, i, size); err != nil {
						if errs.add(err) {
							cancel()
						}
						continue
					}
				}
				t1 := time.Now()
				if err := putMeta(ctx, srv, id, i, startOf(i), half != nil && half(i)); err != nil {
					if errs.add(err) {
						cancel()
					}
					continue
				}
				t2 := time.Now()
				if size > 0 {
					res.mediaLat[i] = t1.Sub(t0)
				}
				res.metaLat[i], res.recLat[i] = t2.Sub(t1), t2.Sub(t0)
				ok.Add(1)
			}
		})
	}
	wg.Wait()
	res.elapsed = time.Since(start)
	res.ok = int(ok.Load())
	st.recordings += res.ok
	return res
}

// ticker prints progress every 10 s until stopped.
func ticker(ctx context.Context, label string, total int, done func() int64) (stop func()) {
	quit := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		t := time.NewTicker(10 * time.Second)
		defer t.Stop()
		for {
			select {
			case <-quit:
				return
			case <-ctx.Done():
				return
			case <-t.C:
				progress("  %s: %d of %d", label, done(), total)
			}
		}
	})
	return func() { close(quit); wg.Wait() }
}

func (st *state) ingest(ctx context.Context) (*section, error) {
	o := st.o
	errs := newErrLog(o.errorsMax)
	sec := &section{errs: errs, title: fmt.Sprintf("Ingest: %d recordings, each one %d-byte audio/mp3 PUT + one metadata PUT, %d clients", o.n, o.size, o.conc)}
	r := st.putRecordings(ctx, "ing", o.n, o.conc, o.size, nil, nil, errs)
	for i, d := range r.recLat {
		if d > 0 {
			st.media = append(st.media, fmt.Sprintf("ing%07d", i))
		}
	}
	st.mediaSize = o.size
	if ctx.Err() != nil {
		return sec, ctx.Err()
	}
	recPerS := rate(float64(r.ok), r.elapsed)
	media, meta, rec := r.mediaLat.sorted(), r.metaLat.sorted(), r.recLat.sorted()
	sec.add("recordings stored", fmt.Sprintf("%d of %d in %v", r.ok, o.n, r.elapsed.Round(time.Millisecond)), "")
	sec.add("recordings/s", fmt.Sprintf("%.0f", recPerS), "")
	sec.add("plaintext MB/s (10^6 B)", fmt.Sprintf("%.1f", rate(mb(int64(r.ok)*o.size), r.elapsed)), "")
	sec.add("per recording (media + metadata PUT) p50 / p99", ms(rec.pct(.5))+" / "+ms(rec.pct(.99)), "")
	sec.add("media PUT p50 / p99", ms(media.pct(.5))+" / "+ms(media.pct(.99)), "")
	sec.add("metadata PUT p50 / p99", ms(meta.pct(.5))+" / "+ms(meta.pct(.99)), "")

	progress("  local limit: %d files × %d B, fsync file + directory, %d writers", o.n, o.size, o.conc)
	localDir := filepath.Join(st.dir, "local")
	l, err := localLimit(ctx, localDir, o.n, o.conc, o.size)
	if !o.keep {
		os.RemoveAll(localDir)
	}
	if err != nil {
		return sec, fmt.Errorf("local limit: %w", err)
	}
	filesPerS := rate(float64(o.n), l.elapsed)
	ls := l.lat.sorted()
	sec.add("local limit: files/s (Go, same bytes, fsync file + dir)", fmt.Sprintf("%.0f in %v", filesPerS, l.elapsed.Round(time.Millisecond)), "")
	sec.add("local limit: MB/s", fmt.Sprintf("%.1f", rate(mb(int64(o.n)*o.size), l.elapsed)), "")
	sec.add("local limit: per file p50 / p99", ms(ls.pct(.5))+" / "+ms(ls.pct(.99)), "")
	sec.add("**server ÷ local limit**", fmt.Sprintf("**%.2f×**", recPerS/filesPerS), "")
	sec.note("fsync policy: %s", fsyncPolicy)
	sec.note("Local limit: for each recording, MkdirAll(dir/<id>/<mediaId>), create a file, write the same %d bytes (same ChaCha8 stream as the upload), "+
		"fsync it, close, fsync its directory; %d goroutines. No encryption, no HTTP, no SQLite.", o.size, o.conc)
	return sec, nil
}

type localResult struct {
	elapsed time.Duration
	lat     lat
}

// localLimit writes n files of size bytes under dir with conc goroutines,
// each fsynced with its directory, as the server's local blob store does.
func localLimit(ctx context.Context, dir string, n, conc int, size int64) (localResult, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	res := localResult{lat: make(lat, n)}
	var next atomic.Int64
	var mu sync.Mutex
	var firstErr error
	var wg sync.WaitGroup
	start := time.Now()
	for range conc {
		wg.Go(func() {
			for ctx.Err() == nil {
				i := int(next.Add(1) - 1)
				if i >= n {
					return
				}
				t0 := time.Now()
				if err := writeSynced(filepath.Join(dir, fmt.Sprintf("ing%07d", i), fmt.Sprintf("ing%07d%s", i, mediaSuffix)), body('m', i, size)); err != nil {
					mu.Lock()
					firstErr = errors.Join(firstErr, err)
					mu.Unlock()
					cancel()
					return
				}
				res.lat[i] = time.Since(t0)
			}
		})
	}
	wg.Wait()
	res.elapsed = time.Since(start)
	if firstErr == nil {
		firstErr = ctx.Err()
	}
	return res, firstErr
}

func writeSynced(dir string, r io.Reader) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	f, err := os.OpenFile(filepath.Join(dir, "data"), os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, r); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

const (
	supervisorName     = "halfsup"
	supervisorPassword = "serverbench supervisor password"
)

func (st *state) list(ctx context.Context) (*section, error) {
	o := st.o
	errs := newErrLog(o.errorsMax)
	sec := &section{errs: errs, title: fmt.Sprintf("List: page through the store with limit=%d, one client", o.pageLen)}
	existing := st.recordings
	toAdd := max(0, o.records-existing)
	// Mark half of the store (as near as the new recordings allow), spread
	// evenly over the new ones: exactly every other one when the store
	// starts empty.
	wantMarked := min(toAdd, o.records/2)
	half := func(i int) bool { return (i+1)*wantMarked/toAdd > i*wantMarked/toAdd }
	progress("  list setup: %d metadata-only PUTs (store holds %d)", toAdd, existing)
	r := st.putRecordings(ctx, "lst", toAdd, o.conc, 0, nil, half, errs)
	if ctx.Err() != nil {
		return sec, ctx.Err()
	}
	marked := 0
	for i, d := range r.recLat {
		if d > 0 && half(i) {
			marked++
		}
	}
	total := existing + r.ok
	meta := r.metaLat.sorted()
	sec.add("setup: metadata-only PUTs", fmt.Sprintf("%d in %v, %d clients", r.ok, r.elapsed.Round(time.Millisecond), o.conc), "")
	sec.add("setup: PUT rate", fmt.Sprintf("%.0f recordings/s (p50 %s, p99 %s)", rate(float64(r.ok), r.elapsed), ms(meta.pct(.5)), ms(meta.pct(.99))), "")
	sec.add("store holds", fmt.Sprintf("%d recordings, %d of them with partition /half", total, marked), fmt.Sprintf("%d", o.records))

	userDoc, _ := json.Marshal(map[string]any{"userName": supervisorName, "password": supervisorPassword,
		"roles": []string{"supervisor"}, "accessGroups": []string{"/half"}})
	req, err := st.srv.request(ctx, http.MethodPost, "/api/v2/users", adminLogin, adminPassword, bytes.NewReader(userDoc), int64(len(userDoc)))
	if err != nil {
		return sec, err
	}
	req.Header.Set("Content-Type", "application/json")
	if _, err := st.srv.call(req, http.StatusCreated, false); err != nil {
		return sec, fmt.Errorf("create supervisor: %w", err)
	}

	var adminRate float64
	for _, who := range []struct {
		label, login, password string
		want                   int
	}{
		{"admin (group /, sees all)", adminLogin, adminPassword, total},
		{"supervisor (group /half)", supervisorName + "@" + tenant, supervisorPassword, marked},
	} {
		progress("  paging as %s", who.label)
		p, err := st.pageAll(ctx, who.login, who.password, who.want)
		if err != nil {
			errs.add(err)
			return sec, err
		}
		pl := p.pageLat.sorted()
		rps := rate(float64(p.records), p.elapsed)
		sec.add(who.label+": records seen", fmt.Sprintf("%d in %d pages, %v", p.records, p.pages, p.elapsed.Round(time.Millisecond)), fmt.Sprintf("%d", who.want))
		if adminRate == 0 {
			adminRate = rps
			sec.add(who.label+": **records/s**", fmt.Sprintf("**%.0f**", rps), "≥ 20,000: "+yes(rps >= 20000))
		} else {
			sec.add(who.label+": **records/s**", fmt.Sprintf("**%.0f** (%.2f× the admin's)", rps, rps/adminRate), "")
			sec.add(who.label+": store rows passed per s", fmt.Sprintf("%.0f (all %d recordings ÷ time)", rate(float64(total), p.elapsed), total), "")
		}
		sec.add(who.label+": page p50 / p99 / max", ms(pl.pct(.5))+" / "+ms(pl.pct(.99))+" / "+ms(pl.pct(1)), "")
		if p.records != who.want {
			sec.note("**%s saw %d records, expected %d**", who.label, p.records, who.want)
		}
	}
	sec.note("Records are small metadata (times, caller, one pending audio/mp3 media entry; half with a Data event adding GRECORD_PARTITIONS /half); " +
		"pages are decoded by the client (json, records kept as RawMessage) on the same 2 CPUs.")
	return sec, nil
}

type pageResult struct {
	records, pages int
	elapsed        time.Duration
	pageLat        lat
}

// pageAll follows next from /api/v2/recordings?limit=L, at most
// want/L + 3 pages.
func (st *state) pageAll(ctx context.Context, login, password string, want int) (pageResult, error) {
	var res pageResult
	maxPages := want/st.o.pageLen + 3
	path := fmt.Sprintf("/api/v2/recordings?limit=%d", st.o.pageLen)
	start := time.Now()
	for res.pages < maxPages && path != "" {
		t0 := time.Now()
		rctx, cancel := context.WithTimeout(ctx, time.Minute)
		req, err := st.srv.request(rctx, http.MethodGet, path, login, password, nil, 0)
		if err != nil {
			cancel()
			return res, err
		}
		res2, err := st.srv.client.Do(req)
		if err != nil {
			cancel()
			return res, err
		}
		var page struct {
			Recordings []json.RawMessage `json:"recordings"`
			Next       *string           `json:"next"`
		}
		if res2.StatusCode != http.StatusOK {
			b, _ := io.ReadAll(io.LimitReader(res2.Body, 512))
			res2.Body.Close()
			cancel()
			return res, &statusError{method: "GET", path: path, status: res2.StatusCode, body: string(b)}
		}
		err = json.NewDecoder(io.LimitReader(res2.Body, 256<<20)).Decode(&page)
		res2.Body.Close()
		cancel()
		if err != nil {
			return res, fmt.Errorf("GET %s: %w", path, err)
		}
		res.pageLat = append(res.pageLat, time.Since(t0))
		res.pages++
		res.records += len(page.Recordings)
		path = ""
		if page.Next != nil {
			u, err := url.Parse(*page.Next)
			if err != nil {
				return res, fmt.Errorf("next %q: %w", *page.Next, err)
			}
			path = u.RequestURI() // always to our own loopback base
		}
	}
	res.elapsed = time.Since(start)
	if path != "" {
		return res, fmt.Errorf("still a next page after %d pages (%d records, want %d)", res.pages, res.records, want)
	}
	return res, nil
}

func (st *state) play(ctx context.Context) (*section, error) {
	o := st.o
	errs := newErrLog(o.errorsMax)
	ids, size := st.media, st.mediaSize
	if len(ids) == 0 {
		progress("  play setup: %d recordings of %d B", o.playRecordings, o.size)
		r := st.putRecordings(ctx, "ply", o.playRecordings, o.conc, o.size, nil, nil, errs)
		for i, d := range r.recLat {
			if d > 0 {
				ids = append(ids, fmt.Sprintf("ply%07d", i))
			}
		}
		size = o.size
		if len(ids) == 0 {
			return nil, fmt.Errorf("no recording to play: %v", errs.sampleList())
		}
	}
	sec := &section{errs: errs, title: fmt.Sprintf("Play: %d GET …/play/{mediaId} with a random Range (≤ %d B), %d clients, over %d recordings of %d B",
		o.playRequests, o.playMaxRange, o.playClients, len(ids), size)}

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	ttfb, full := make(lat, o.playRequests), make(lat, o.playRequests)
	var next, served atomic.Int64
	var wg sync.WaitGroup
	start := time.Now()
	for w := range o.playClients {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(42, uint64(w)))
			for ctx.Err() == nil {
				i := int(next.Add(1) - 1)
				if i >= o.playRequests {
					return
				}
				id := ids[rng.IntN(len(ids))]
				a := rng.Int64N(size)
				b := min(size-1, a+rng.Int64N(int64(o.playMaxRange)))
				first, t0, n, err := st.playOne(ctx, id, a, b)
				if err == nil && n != b-a+1 {
					err = fmt.Errorf("GET play %s bytes=%d-%d: %d bytes, want %d", id, a, b, n, b-a+1)
				}
				if err != nil {
					if errs.add(err) {
						cancel()
					}
					continue
				}
				ttfb[i], full[i] = first.Sub(t0), time.Since(t0)
				served.Add(n)
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	if err := ctx.Err(); err != nil && errs.count() < o.errorsMax {
		return sec, err
	}
	t, f := ttfb.sorted(), full.sorted()
	sec.add("requests answered 206", fmt.Sprintf("%d of %d in %v (%.0f req/s, %.1f MB/s plaintext)", len(t), o.playRequests,
		elapsed.Round(time.Millisecond), rate(float64(len(t)), elapsed), rate(mb(served.Load()), elapsed)), "")
	sec.add("time to first byte p50 / p90", ms(t.pct(.5))+" / "+ms(t.pct(.9)), "")
	sec.add("**time to first byte p99**", "**"+ms(t.pct(.99))+"**", "≤ 20 ms: "+yes(len(t) > 0 && t.pct(.99) <= 20*time.Millisecond))
	sec.add("time to first byte max", ms(t.pct(1)), "")
	sec.add("whole response p50 / p99", ms(f.pct(.5))+" / "+ms(f.pct(.99)), "")
	sec.note("TTFB = httptrace GotFirstResponseByte − just before Client.Do (includes the connection's dial on a client's first request). " +
		"Each request: Basic auth (argon2id result cached by the server), recording lookup with the access check, unsealing the tenant key, RSA-decrypting the CMS content key, seeking in AES-CBC.")
	return sec, nil
}

// playOne gets bytes a-b of a recording's media, decrypted.
func (st *state) playOne(ctx context.Context, id string, a, b int64) (first, t0 time.Time, n int64, err error) {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	ctx = httptrace.WithClientTrace(ctx, &httptrace.ClientTrace{GotFirstResponseByte: func() { first = time.Now() }})
	req, err := st.srv.request(ctx, http.MethodGet, "/api/v2/recordings/"+url.PathEscape(id)+"/play/"+url.PathEscape(id+mediaSuffix), adminLogin, adminPassword, nil, 0)
	if err != nil {
		return first, t0, 0, err
	}
	req.Header.Set("Range", fmt.Sprintf("bytes=%d-%d", a, b))
	t0 = time.Now()
	res, err := st.srv.client.Do(req)
	if err != nil {
		return first, t0, 0, err
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusPartialContent {
		msg, _ := io.ReadAll(io.LimitReader(res.Body, 512))
		return first, t0, 0, &statusError{method: "GET", path: req.URL.Path + " Range " + req.Header.Get("Range"), status: res.StatusCode, body: string(msg)}
	}
	n, err = io.Copy(io.Discard, res.Body)
	return first, t0, n, err
}

func (st *state) uploadsScenario(ctx context.Context) (*section, error) {
	o := st.o
	errs := newErrLog(o.errorsMax)
	size := o.uploadMB * 1_000_000
	sec := &section{errs: errs, title: fmt.Sprintf("Uploads: %d concurrent audio/mp3 uploads of %d MB each, streamed with Content-Length", o.uploads, o.uploadMB)}
	pid := st.srv.pid
	resetErr := benchkit.ResetPeakRSS(pid)
	before, err := benchkit.ProcStatus(pid, "VmRSS")
	if err != nil {
		return sec, err
	}

	// Sample VmRSS until the uploads end (at most one sample per
	// rssEvery for the whole -timeout).
	done := make(chan struct{})
	var peak atomic.Int64
	var samples int
	var sampler sync.WaitGroup
	sampler.Go(func() {
		t := time.NewTicker(o.rssEvery)
		defer t.Stop()
		maxSamples := int(o.timeout/o.rssEvery) + 1
		for samples < maxSamples {
			select {
			case <-done:
				return
			case <-ctx.Done():
				return
			case <-t.C:
			}
			if kib, err := benchkit.ProcStatus(pid, "VmRSS"); err == nil {
				samples++
				if kib > peak.Load() {
					peak.Store(kib)
				}
			}
		}
	})

	ctx2, cancel := context.WithCancel(ctx)
	defer cancel()
	took := make(lat, o.uploads)
	var ok atomic.Int64
	stopTicker := ticker(ctx2, "uploads", o.uploads, ok.Load)
	var wg sync.WaitGroup
	start := time.Now()
	for i := range o.uploads {
		wg.Go(func() {
			t0 := time.Now()
			if err := putMedia(ctx2, st.srv, fmt.Sprintf("upl%07d", i), i, size); err != nil {
				if errs.add(err) {
					cancel()
				}
				return
			}
			took[i] = time.Since(t0)
			ok.Add(1)
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	stopTicker()
	close(done)
	sampler.Wait()
	st.recordings += int(ok.Load())
	hwm, hwmErr := benchkit.ProcStatus(pid, "VmHWM")
	if ctx.Err() != nil {
		return sec, ctx.Err()
	}

	tk := took.sorted()
	n := ok.Load()
	sec.add("uploads stored", fmt.Sprintf("%d of %d (%.0f MB plaintext) in %v", n, o.uploads, mb(n*size), elapsed.Round(time.Millisecond)), "")
	sec.add("**total MB/s** (plaintext, 10^6 B)", fmt.Sprintf("**%.1f**", rate(mb(n*size), elapsed)), "")
	sec.add("per upload p50 / max", ms(tk.pct(.5))+" / "+ms(tk.pct(1)), "")
	sec.add("server VmRSS before", fmt.Sprintf("%.0f MB", mb(before*1024)), "")
	sec.add("**peak VmRSS sampled**", fmt.Sprintf("**%.0f MB** (%d samples every %v)", mb(peak.Load()*1024), samples, o.rssEvery),
		"≤ 150 MB: "+yes(peak.Load()*1024 <= 150_000_000))
	switch {
	case hwmErr != nil:
		sec.add("VmHWM at the end", "unreadable: "+hwmErr.Error(), "")
	case resetErr != nil:
		sec.add("VmHWM at the end (whole process life: reset failed: "+resetErr.Error()+")", fmt.Sprintf("%.0f MB", mb(hwm*1024)), "")
	default:
		sec.add("VmHWM at the end (reset before the scenario)", fmt.Sprintf("%.0f MB", mb(hwm*1024)), "≤ 150 MB: "+yes(hwm*1024 <= 150_000_000))
	}
	sec.note("MB = 10^6 bytes here (VmRSS is read in KiB and converted). Bodies are ChaCha8 streams through io.LimitReader; the client never holds a body.")
	return sec, nil
}
