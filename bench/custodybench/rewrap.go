package main

import (
	"bytes"
	"callvault/bench/internal/benchkit"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	mrand "math/rand/v2"
	"mime/multipart"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"callvault/internal/certs"
	"callvault/internal/cms"
	"callvault/internal/server"
	"callvault/internal/service"
	"callvault/internal/vault"
)

// copyResult is one timed copy of the media directory.
type copyResult struct {
	cp, sync time.Duration
	files    int
	bytes    int64
}

func (c copyResult) total() time.Duration { return c.cp + c.sync }

// rewrapResult is one timed re-wrap through a server.
type rewrapResult struct {
	mode          string
	wall          time.Duration // POST … until the poll saw it completed
	jobTook       time.Duration // the job's createdAt … finishedAt
	done, failed  int64
	attempts      int
	user, sys     time.Duration
	rssStartKiB   int64 // VmRSS once /healthz answered, before any other request
	rssBeforeKiB  int64 // VmRSS just before the POST (after a login and the upload)
	hwmBeforeKiB  int64 // VmHWM of the server's life until then
	peakKiB       int64 // VmHWM after the POST (reset just before it)
	sampledMaxKiB int64 // the largest VmRSS sampled
	files         int
	bytes         int64
	errorLines    int
	oldDeployed   int
	newDeployed   int
}

func (st *state) rewrapScenario(ctx context.Context) (*section, error) {
	o := st.o
	n := o.n
	if n == 0 {
		n = 10_000
	}
	sec := &section{title: fmt.Sprintf("rewrap: certificate rotation of %s recordings of %s bytes (one media file each) through `callvault serve`, against `cp -r` + `sync`",
		commas(int64(n)), commas(o.size))}

	tmpl := filepath.Join(st.dir, "rewrap-template")
	progress("  making %s: tenant, voice certificate, %d media files of %d B through service.PutMedia, %d at once", tmpl, n, o.size, o.conc)
	aliasA, keyA, ingest, err := makeTemplate(ctx, tmpl, n, o.size, o.conc)
	if err != nil {
		return sec, err
	}
	mediaDir := filepath.Join(tmpl, "media")
	files, size, err := treeSize(mediaDir)
	if err != nil {
		return sec, err
	}
	setup := sec.table("setup", "value")
	setup.add("media files stored (service.PutMedia, in process)", fmt.Sprintf("%s in %s (%.0f files/s), %d at once", commas(int64(n)), secs(ingest), rate(float64(n), ingest), o.conc))
	setup.add("data/media", fmt.Sprintf("%s files, %.0f MB (encrypted, RSA-2048 recipient, AES-128-CBC)", commas(int64(files)), mb(size)))
	setup.add("page cache", map[bool]string{true: "sync + drop_caches before every timed copy and every re-wrap (cold)", false: "**not dropped**: warm-cache runs"}[st.cold])

	pairB, err := certs.Generate(certs.GenerateOptions{Subject: "/CN=custodybench new/O=callvault", Days: 3650})
	if err != nil {
		return sec, err
	}
	certB := certs.EncodeCertificatePEM(pairB.Cert)
	keyBPEM, err := certs.EncodePrivateKeyPEM(pairB.Key, false)
	if err != nil {
		return sec, err
	}

	// The crypto alone, in memory.
	crypto, err := cryptoFloor(mediaDir, keyA, pairB.Key, pairB.Cert, o.rsaOps)
	if err != nil {
		return sec, err
	}

	var copies []copyResult
	var runs []rewrapResult
	var fsyncCopies []copyResult
	for round := range o.rounds {
		for _, mode := range o.verify {
			if ctx.Err() != nil {
				return sec, ctx.Err()
			}
			progress("  round %d: cp -r + sync", round+1)
			c, err := st.copyMedia(ctx, mediaDir)
			if err != nil {
				return sec, err
			}
			progress("    %s + %s", secs(c.cp), secs(c.sync))
			copies = append(copies, c)
			progress("  round %d: re-wrap, verify %s", round+1, mode)
			r, err := st.rewrapRun(ctx, tmpl, aliasA, certB, keyBPEM, mode, round, n)
			if err != nil {
				return sec, err
			}
			progress("    %s (job %s), %d done, %d failed, peak RSS %d KiB", secs(r.wall), secs(r.jobTook), r.done, r.failed, r.peakKiB)
			runs = append(runs, r)
		}
		if o.fsyncCopy {
			progress("  round %d: Go copy with fsyncs", round+1)
			c, err := st.fsyncCopy(ctx, mediaDir, max(2, runtime.NumCPU()))
			if err != nil {
				return sec, err
			}
			progress("    %s", secs(c.cp))
			fsyncCopies = append(fsyncCopies, c)
		}
	}

	var workerRuns []rewrapResult
	for _, mode := range o.worker {
		progress("  re-wrap by callvault worker, verify %s", mode)
		r, err := st.rewrapWorkerRun(ctx, tmpl, aliasA, certB, keyBPEM, mode, n)
		if err != nil {
			return sec, err
		}
		progress("    %s, %d done, peak RSS %d KiB", secs(r.wall), r.done, r.peakKiB)
		workerRuns = append(workerRuns, r)
	}
	var inproc []inProcessResult
	if o.inProcess != "" {
		for _, workers := range o.inWorkers {
			for _, mode := range o.verify {
				prof := fmt.Sprintf("%s-%s-w%d", o.inProcess, mode, workers)
				progress("  in process: re-wrap, verify %s, %d workers (0: default), under the CPU profiler", mode, workers)
				r, err := st.rewrapInProcess(ctx, tmpl, aliasA, certB, keyBPEM, mode, prof, workers)
				if err != nil {
					return sec, err
				}
				progress("    %s, CPU %s", secs(r.wall), secs(r.user+r.sys))
				inproc = append(inproc, r)
			}
		}
	}

	t := sec.table("step (in run order)", "wall", "files/s", "MB/s", "÷ the `cp -r` + `sync` before it", "server CPU user + sys", "server RSS at start / before the POST / **peak during**", "aim")
	for i, r := range runs {
		c := copies[i]
		t.add(fmt.Sprintf("`cp -r data/media` + `sync` (%s files, %.0f MB)", commas(int64(c.files)), mb(c.bytes)),
			fmt.Sprintf("%s (cp %s + sync %s)", secs(c.total()), secs(c.cp), secs(c.sync)),
			commas(int64(rate(float64(c.files), c.total()))), fmt.Sprintf("%.0f", rate(mb(c.bytes), c.total())), "1", "", "", "")
		ratio := c.total().Seconds() / r.wall.Seconds()
		aim := fmt.Sprintf("≥ 0.8×: %s; RSS ≤ 64 MiB: %s", yes(ratio >= 0.8), yes(r.peakKiB <= 64<<10))
		t.add(fmt.Sprintf("**re-wrap, verify %s** (%s done, %d failed, %d attempt(s); job %s)", r.mode, commas(r.done), r.failed, r.attempts, secs(r.jobTook)),
			"**"+secs(r.wall)+"**", commas(int64(rate(float64(r.done), r.wall))), fmt.Sprintf("%.0f", rate(mb(size), r.wall)),
			fmt.Sprintf("**%.2f×** the speed", ratio),
			fmt.Sprintf("%.1f + %.1f s (%.2f ms per file)", r.user.Seconds(), r.sys.Seconds(), 1000*(r.user+r.sys).Seconds()/float64(max(r.done, 1))),
			fmt.Sprintf("%.1f / %.1f / **%.1f MiB** (sampled max %.1f; peak before the POST %.1f)", kib(r.rssStartKiB), kib(r.rssBeforeKiB), kib(r.peakKiB), kib(r.sampledMaxKiB), kib(r.hwmBeforeKiB)),
			aim)
	}
	for _, c := range fsyncCopies {
		t.add(fmt.Sprintf("context: Go copy, %d workers, fsync each file and its directory (as the blob store writes an object)", max(2, runtime.NumCPU())),
			secs(c.cp), commas(int64(rate(float64(c.files), c.cp))), fmt.Sprintf("%.0f", rate(mb(c.bytes), c.cp)), "", "", "", "")
	}
	for _, r := range workerRuns {
		t.add(fmt.Sprintf("re-wrap by `callvault worker`, verify %s (%s done; from the worker's start to its \"re-wrap done\" line)", r.mode, commas(r.done)),
			secs(r.wall), commas(int64(rate(float64(r.done), r.wall))), fmt.Sprintf("%.0f", rate(mb(size), r.wall)), "",
			fmt.Sprintf("%.1f + %.1f s (%.2f ms per file)", r.user.Seconds(), r.sys.Seconds(), 1000*(r.user+r.sys).Seconds()/float64(max(r.done, 1))),
			fmt.Sprintf("peak of the worker's whole life **%.1f MiB**", kib(r.peakKiB)), "RSS ≤ 64 MiB: "+yes(r.peakKiB <= 64<<10))
	}
	for _, r := range inproc {
		workers := "default workers"
		if r.workers > 0 {
			workers = fmt.Sprintf("RewrapWorkers %d", r.workers)
		}
		t.add(fmt.Sprintf("context: re-wrap in process, verify %s, %s (service.Work, no HTTP, no queue; CPU profile %s)", r.mode, workers, r.profile),
			secs(r.wall), commas(int64(rate(float64(r.done), r.wall))), fmt.Sprintf("%.0f", rate(mb(size), r.wall)), "",
			fmt.Sprintf("%.1f + %.1f s (%.2f ms per file)", r.user.Seconds(), r.sys.Seconds(), 1000*(r.user+r.sys).Seconds()/float64(max(r.done, 1))), "", "")
	}
	for _, r := range append(runs, workerRuns...) {
		if r.errorLines > 0 {
			sec.note("**the server logged %d ERROR lines during the %s re-wrap**", r.errorLines, r.mode)
		}
		if r.oldDeployed != 0 || r.newDeployed != n || r.files != n {
			sec.note("**after the %s re-wrap: old certificate deployedCount %d (want 0), new %d (want %d), %d files in data/media (want %d)**",
				r.mode, r.oldDeployed, r.newDeployed, n, r.files, n)
		} else {
			sec.note("after the %s re-wrap: old certificate's deployedCount 0, new one's %d, %d files in data/media (old objects deleted), %.0f MB", r.mode, n, r.files, mb(r.bytes))
		}
	}

	ct := sec.table("the crypto alone, in memory, one goroutine", "time", fmt.Sprintf("for %s files on 2 cores", commas(int64(n))))
	ct.add("RSA-2048 private-key operation (rsa.DecryptPKCS1v15 of a 16-byte key)", fmt.Sprintf("%.2f ms", ms(crypto.rsaOp)),
		fmt.Sprintf("2 per file: %s", secs(time.Duration(float64(2*n)*float64(crypto.rsaOp)/2))))
	ct.add("the same, 2 goroutines at once (per operation)", fmt.Sprintf("%.2f ms", ms(crypto.rsaOpParallel)), "")
	ct.add(fmt.Sprintf("cms.Rewrap + SHA-256 of the output, %d stored files", crypto.files), fmt.Sprintf("%.2f ms per file", ms(crypto.rewrap)), "")
	ct.add("then check, verify full (cms.Decrypt into SHA-256)", fmt.Sprintf("%.2f ms per file", ms(crypto.full)),
		fmt.Sprintf("rewrap + check: %s", secs(time.Duration(float64(n)*float64(crypto.rewrap+crypto.full)/2))))
	ct.add("then check, verify ciphertext (cms.VerifyRewrap)", fmt.Sprintf("%.2f ms per file", ms(crypto.ciphertext)),
		fmt.Sprintf("rewrap + check: %s", secs(time.Duration(float64(n)*float64(crypto.rewrap+crypto.ciphertext)/2))))
	sec.note("Per file the job reads the old object, writes the re-wrapped one (fsync of the file and its directory), reads it back to check it, " +
		"swaps the media row in a SQLite transaction of its own and deletes the old object; the crypto is one RSA private-key operation to unwrap " +
		"the content key and one more to check the new object (full: with AES decryption and SHA-256 of the plaintext; ciphertext: SHA-256 of the ciphertext).")
	if o.settle > 0 {
		sec.note("Before each POST the program waited %v after the server's first login (an argon2id check, 19 MiB, after which the Go runtime keeps the freed memory for a while); VmHWM was reset just before the POST.", o.settle)
	} else {
		sec.note("The server's first login (the certificate upload's Basic auth: an argon2id check, 19 MiB) raises its RSS from about 35 to 75 MiB for about 30 s; VmHWM was reset just before the POST, so \"peak during\" includes that memory unless -settle waits it out.")
	}
	sec.note("Wall of a re-wrap runs from the POST to the poll (every 100 ms) that saw the job completed; it includes the queue's pick-up latency. " +
		"`cp -r` fsyncs nothing; the `sync` after it flushes everything at once.")
	return sec, nil
}

func kib(k int64) float64        { return float64(k) / 1024 }
func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// makeTemplate makes a data directory with the tenant, a certificate
// assigned for voice and n media files, in process, and returns the
// certificate's alias and private key.
func makeTemplate(ctx context.Context, dir string, n int, size int64, conc int) (string, *rsa.PrivateKey, time.Duration, error) {
	srv, err := server.Open(ctx, server.Config{DataDir: dir, NoJobs: true, Log: slog.New(slog.NewJSONHandler(io.Discard, nil))})
	if err != nil {
		return "", nil, 0, err
	}
	defer srv.Close()
	admin, err := srv.Svc.InitTenant(ctx, tenant, adminName, adminPassword)
	if err != nil {
		return "", nil, 0, err
	}
	pair, err := certs.Generate(certs.GenerateOptions{Subject: "/CN=custodybench old/O=callvault", Days: 3650})
	if err != nil {
		return "", nil, 0, err
	}
	keyPEM, err := certs.EncodePrivateKeyPEM(pair.Key, false)
	if err != nil {
		return "", nil, 0, err
	}
	cert, err := srv.Svc.UploadCertificate(ctx, admin, certs.EncodeCertificatePEM(pair.Cert), keyPEM, nil, []vault.Usage{vault.UsageVoice})
	if err != nil {
		return "", nil, 0, err
	}
	var (
		next  atomic.Int64
		wg    sync.WaitGroup
		mu    sync.Mutex
		first error
	)
	t0 := time.Now()
	for range conc {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= n || ctx.Err() != nil {
					return
				}
				var seed [32]byte
				binary.LittleEndian.PutUint64(seed[:], uint64(i))
				body := io.LimitReader(mrand.NewChaCha8(seed), size)
				_, err := srv.Svc.PutMedia(ctx, admin, service.PutMediaInput{RecordingID: fmt.Sprintf("R%07d", i), MediaID: fmt.Sprintf("R%07d.mp3", i),
					ContentType: "audio/mp3", Size: size, Body: body})
				if err != nil {
					mu.Lock()
					if first == nil {
						first = fmt.Errorf("PutMedia %d: %w", i, err)
					}
					mu.Unlock()
					return
				}
				if (i+1)%(n/5+1) == 0 {
					progress("    %d of %d", i+1, n)
				}
			}
		}()
	}
	wg.Wait()
	took := time.Since(t0)
	if first != nil {
		return "", nil, 0, first
	}
	return cert.Alias, pair.Key, took, ctx.Err()
}

// copyMedia times `cp -r src` and `sync`, then removes the copy.
func (st *state) copyMedia(ctx context.Context, src string) (copyResult, error) {
	var c copyResult
	dst := filepath.Join(st.dir, "cp-media")
	dropCaches(st.cold)
	t0 := time.Now()
	if out, err := exec.CommandContext(ctx, "cp", "-r", src, dst).CombinedOutput(); err != nil {
		return c, fmt.Errorf("cp -r: %v: %s", err, out)
	}
	c.cp = time.Since(t0)
	t1 := time.Now()
	if out, err := exec.CommandContext(ctx, "sync").CombinedOutput(); err != nil {
		return c, fmt.Errorf("sync: %v: %s", err, out)
	}
	c.sync = time.Since(t1)
	var err error
	if c.files, c.bytes, err = treeSize(dst); err != nil {
		return c, err
	}
	return c, os.RemoveAll(dst)
}

// fsyncCopy copies every file under src with workers goroutines, each file
// created, written, fsynced and closed and its directory fsynced (what the
// blob store does for each object it writes), then removes the copy.
func (st *state) fsyncCopy(ctx context.Context, src string, workers int) (copyResult, error) {
	var c copyResult
	dst := filepath.Join(st.dir, "fsync-copy")
	var paths []string
	err := filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			paths = append(paths, p)
		}
		return err
	})
	if err != nil {
		return c, err
	}
	dropCaches(st.cold)
	var (
		next  atomic.Int64
		wg    sync.WaitGroup
		total atomic.Int64
		mu    sync.Mutex
		first error
	)
	t0 := time.Now()
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			buf := make([]byte, 128<<10)
			for {
				i := int(next.Add(1)) - 1
				if i >= len(paths) || ctx.Err() != nil {
					return
				}
				rel, _ := filepath.Rel(src, paths[i])
				n, err := copySynced(paths[i], filepath.Join(dst, rel), buf)
				if err != nil {
					mu.Lock()
					first = cmpErr(first, err)
					mu.Unlock()
					return
				}
				total.Add(n)
			}
		}()
	}
	wg.Wait()
	c.cp = time.Since(t0)
	if first != nil {
		return c, first
	}
	c.files, c.bytes = len(paths), total.Load()
	return c, os.RemoveAll(dst)
}

func cmpErr(a, b error) error {
	if a != nil {
		return a
	}
	return b
}

func copySynced(src, dst string, buf []byte) (int64, error) {
	in, err := os.Open(src)
	if err != nil {
		return 0, err
	}
	defer in.Close()
	dir := filepath.Dir(dst)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return 0, err
	}
	out, err := os.Create(dst)
	if err != nil {
		return 0, err
	}
	n, err := io.CopyBuffer(struct{ io.Writer }{out}, struct{ io.Reader }{in}, buf)
	if err == nil {
		err = out.Sync()
	}
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return n, err
	}
	d, err := os.Open(dir)
	if err != nil {
		return n, err
	}
	err = d.Sync()
	d.Close()
	return n, err
}

// jobJSON is what GET /api/v2/jobs/{id} answers (the fields used).
type jobJSON struct {
	ID         int64      `json:"id"`
	State      string     `json:"state"`
	Attempt    int        `json:"attempt"`
	Done       int64      `json:"done"`
	Total      int64      `json:"total"`
	Failed     int64      `json:"failed"`
	Summary    string     `json:"summary"`
	Errors     []string   `json:"errors"`
	CreatedAt  time.Time  `json:"createdAt"`
	FinishedAt *time.Time `json:"finishedAt"`
}

// rewrapRun re-wraps every file of a fresh copy of the template data
// directory through a `callvault serve` subprocess.
func (st *state) rewrapRun(ctx context.Context, tmpl, aliasA string, certB, keyB []byte, mode string, round, n int) (rewrapResult, error) {
	r := rewrapResult{mode: mode}
	runDir := filepath.Join(st.dir, fmt.Sprintf("rewrap-%s-%d", mode, round+1))
	if out, err := exec.CommandContext(ctx, "cp", "-a", tmpl, runDir).CombinedOutput(); err != nil {
		return r, fmt.Errorf("cp -a: %v: %s", err, out)
	}
	defer func() {
		if !st.o.keep {
			os.RemoveAll(runDir)
		}
	}()
	var extra []string
	if st.o.jobWorkers > 0 {
		extra = append(extra, "-job-workers", strconv.Itoa(st.o.jobWorkers))
	}
	srv, err := startServe(ctx, st.bin, runDir, runDir+".log", extra...)
	if err != nil {
		return r, err
	}
	defer srv.stop()
	r.rssStartKiB, _ = benchkit.ProcStatus(srv.pid, "VmRSS")

	// The new certificate, not assigned.
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	fw, _ := mw.CreateFormFile("certificate", "new.pem")
	fw.Write(certB)
	fw, _ = mw.CreateFormFile("key", "new.key")
	fw.Write(keyB)
	mw.Close()
	var up struct {
		Alias string `json:"alias"`
	}
	if err := srv.call(ctx, http.MethodPost, "/api/v2/certificates", mw.FormDataContentType(), &buf, http.StatusCreated, &up); err != nil {
		return r, fmt.Errorf("certificate upload: %w", err)
	}

	if st.o.settle > 0 {
		progress("    waiting %v for the login's memory to go back to the system", st.o.settle)
		select {
		case <-ctx.Done():
			return r, ctx.Err()
		case <-time.After(st.o.settle):
		}
	}
	dropCaches(st.cold)
	r.hwmBeforeKiB, _ = benchkit.ProcStatus(srv.pid, "VmHWM")
	r.rssBeforeKiB, _ = benchkit.ProcStatus(srv.pid, "VmRSS")
	if err := benchkit.ResetPeakRSS(srv.pid); err != nil {
		return r, fmt.Errorf("cannot reset the server's VmHWM: %w", err)
	}
	u0, s0, err := benchkit.ProcCPU(srv.pid)
	if err != nil {
		return r, err
	}
	sampleCtx, stopSampling := context.WithCancel(ctx)
	var sampler sync.WaitGroup
	sampler.Add(1)
	go func() {
		defer sampler.Done()
		tick := time.NewTicker(st.o.rssEvery)
		defer tick.Stop()
		for {
			if k, err := benchkit.ProcStatus(srv.pid, "VmRSS"); err == nil && k > r.sampledMaxKiB {
				r.sampledMaxKiB = k
			}
			select {
			case <-sampleCtx.Done():
				return
			case <-tick.C:
			}
		}
	}()

	t0 := time.Now()
	req, _ := json.Marshal(map[string]string{"to": up.Alias, "verify": mode})
	var job jobJSON
	err = srv.call(ctx, http.MethodPost, "/api/v2/certificates/"+aliasA+"/rewrap", "application/json", bytes.NewReader(req), http.StatusAccepted, &job)
	if err != nil {
		stopSampling()
		sampler.Wait()
		return r, err
	}
	lastLog := time.Now()
	for {
		if job.State == "completed" {
			break
		}
		if job.State == "discarded" || job.State == "cancelled" {
			stopSampling()
			sampler.Wait()
			return r, fmt.Errorf("the re-wrap job ended %s: %v", job.State, job.Errors)
		}
		if !srv.alive() {
			stopSampling()
			sampler.Wait()
			return r, fmt.Errorf("the server exited during the re-wrap (log %s)", srv.logPath)
		}
		select {
		case <-ctx.Done():
			stopSampling()
			sampler.Wait()
			return r, ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
		if err := srv.call(ctx, http.MethodGet, "/api/v2/jobs/"+strconv.FormatInt(job.ID, 10), "", nil, http.StatusOK, &job); err != nil {
			stopSampling()
			sampler.Wait()
			return r, err
		}
		if time.Since(lastLog) > 10*time.Second {
			progress("    %s: %d of %d done, %d failed, %s", job.State, job.Done, job.Total, job.Failed, secs(time.Since(t0)))
			lastLog = time.Now()
		}
	}
	r.wall = time.Since(t0)
	stopSampling()
	sampler.Wait()
	u1, s1, err := benchkit.ProcCPU(srv.pid)
	if err != nil {
		return r, err
	}
	r.user, r.sys = u1-u0, s1-s0
	r.peakKiB, _ = benchkit.ProcStatus(srv.pid, "VmHWM")
	r.done, r.failed, r.attempts = job.Done, job.Failed, job.Attempt
	if job.FinishedAt != nil {
		r.jobTook = job.FinishedAt.Sub(job.CreatedAt)
	}
	for alias, p := range map[string]*int{aliasA: &r.oldDeployed, up.Alias: &r.newDeployed} {
		var c struct {
			DeployedCount int `json:"deployedCount"`
		}
		if err := srv.call(ctx, http.MethodGet, "/api/v2/certificates/"+alias, "", nil, http.StatusOK, &c); err != nil {
			return r, err
		}
		*p = c.DeployedCount
	}
	if err := srv.stop(); err != nil {
		return r, err
	}
	if r.files, r.bytes, err = treeSize(filepath.Join(runDir, "media")); err != nil {
		return r, err
	}
	r.errorLines = countErrors(srv.logPath)
	return r, nil
}

// countErrors counts the ERROR lines of a server log.
func countErrors(path string) int {
	b, err := os.ReadFile(path)
	if err != nil {
		return -1
	}
	return strings.Count(string(b), `"level":"ERROR"`)
}

// cryptoTimes are the re-wrap's crypto, timed in memory.
type cryptoTimes struct {
	rsaOp, rsaOpParallel     time.Duration
	files                    int
	rewrap, full, ciphertext time.Duration // per file
}

// cryptoFloor times the RSA private-key operation and, on up to 200
// stored files read into memory, cms.Rewrap (with the SHA-256 the job
// takes of its output) and both checks.
func cryptoFloor(mediaDir string, keyA, keyB *rsa.PrivateKey, certB *x509.Certificate, ops int) (cryptoTimes, error) {
	var ct cryptoTimes
	//lint:ignore SA1019 the operation internal/cms does (PKCS#1 v1.5 key transport), timed
	wrapped, err := rsa.EncryptPKCS1v15(rand.Reader, &keyA.PublicKey, make([]byte, 16))
	if err != nil {
		return ct, err
	}
	t0 := time.Now()
	for range ops {
		//lint:ignore SA1019 the operation internal/cms does, timed
		if _, err := rsa.DecryptPKCS1v15(nil, keyA, wrapped); err != nil {
			return ct, err
		}
	}
	ct.rsaOp = time.Since(t0) / time.Duration(ops)
	var wg sync.WaitGroup
	t0 = time.Now()
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range ops / 2 {
				//lint:ignore SA1019 the operation internal/cms does, timed
				rsa.DecryptPKCS1v15(nil, keyA, wrapped)
			}
		}()
	}
	wg.Wait()
	ct.rsaOpParallel = time.Since(t0) / time.Duration(ops/2*2)

	var objs [][]byte
	errEnough := errors.New("enough")
	err = filepath.WalkDir(mediaDir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		if objs = append(objs, b); len(objs) == 200 {
			return errEnough
		}
		return nil
	})
	if err != nil && !errors.Is(err, errEnough) {
		return ct, err
	}
	ct.files = len(objs)
	outs := make([][]byte, len(objs))
	results := make([]*cms.RewrapResult, len(objs))
	t0 = time.Now()
	for i, b := range objs {
		var out bytes.Buffer
		sum := sha256.New()
		res, err := cms.Rewrap(io.MultiWriter(&out, sum), bytes.NewReader(b), keyA, nil, []*x509.Certificate{certB})
		if err != nil {
			return ct, err
		}
		sum.Sum(nil)
		outs[i], results[i] = out.Bytes(), res
	}
	ct.rewrap = time.Since(t0) / time.Duration(len(objs))
	t0 = time.Now()
	for _, b := range outs {
		if _, err := cms.Decrypt(sha256.New(), bytes.NewReader(b), keyB, certB); err != nil {
			return ct, err
		}
	}
	ct.full = time.Since(t0) / time.Duration(len(objs))
	t0 = time.Now()
	for i, b := range outs {
		if err := cms.VerifyRewrap(bytes.NewReader(b), keyB, certB, results[i]); err != nil {
			return ct, err
		}
	}
	ct.ciphertext = time.Since(t0) / time.Duration(len(objs))
	return ct, nil
}

// inProcessResult is a re-wrap run in process.
type inProcessResult struct {
	mode      string
	workers   int
	profile   string
	wall      time.Duration
	user, sys time.Duration
	done      int64
}

// rewrapInProcess opens a fresh copy of the template in process, queues
// the re-wrap (nothing runs it: the queue only inserts) and works the job
// itself through service.Work in one slice, under the CPU profiler.
func (st *state) rewrapInProcess(ctx context.Context, tmpl, aliasA string, certB, keyB []byte, mode, profPath string, workers int) (inProcessResult, error) {
	r := inProcessResult{mode: mode, profile: profPath, workers: workers}
	runDir := filepath.Join(st.dir, "rewrap-inprocess-"+mode)
	if out, err := exec.CommandContext(ctx, "cp", "-a", tmpl, runDir).CombinedOutput(); err != nil {
		return r, fmt.Errorf("cp -a: %v: %s", err, out)
	}
	defer func() {
		if !st.o.keep {
			os.RemoveAll(runDir)
		}
	}()
	srv, err := server.Open(ctx, server.Config{DataDir: runDir, NoJobs: true, Log: slog.New(slog.NewJSONHandler(io.Discard, nil))})
	if err != nil {
		return r, err
	}
	defer srv.Close()
	srv.Svc.RewrapWorkers = workers
	admin, cert, job, err := queueRewrap(ctx, srv, aliasA, certB, keyB, mode)
	if err != nil {
		return r, err
	}
	args, _ := json.Marshal(service.RewrapArgs{Tenant: tenant, From: aliasA, To: cert.Alias, Verify: mode})
	prof, err := os.Create(profPath)
	if err != nil {
		return r, err
	}
	defer prof.Close()
	dropCaches(st.cold)
	var ru0, ru1 syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru0)
	if err := pprof.StartCPUProfile(prof); err != nil {
		return r, err
	}
	t0 := time.Now()
	err = srv.Svc.Work(ctx, service.JobRun{ID: job.ID, Kind: service.KindRewrap, Args: args, Attempt: 1, Until: time.Now().Add(24 * time.Hour)})
	r.wall = time.Since(t0)
	pprof.StopCPUProfile()
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru1)
	if err != nil {
		return r, err
	}
	r.user = time.Duration(syscall.TimevalToNsec(ru1.Utime) - syscall.TimevalToNsec(ru0.Utime))
	r.sys = time.Duration(syscall.TimevalToNsec(ru1.Stime) - syscall.TimevalToNsec(ru0.Stime))
	info, err := srv.Svc.Job(ctx, admin, job.ID)
	if err != nil {
		return r, err
	}
	r.done = info.Done
	if info.Failed > 0 {
		return r, fmt.Errorf("in process: %d files failed", info.Failed)
	}
	return r, nil
}

// queueRewrap uploads the new certificate and queues the re-wrap to it,
// in process.
func queueRewrap(ctx context.Context, srv *server.Server, aliasA string, certB, keyB []byte, mode string) (*vault.User, *vault.Certificate, *vault.JobInfo, error) {
	admin, err := srv.Svc.Store.User(ctx, tenant, adminName)
	if err != nil {
		return nil, nil, nil, err
	}
	cert, err := srv.Svc.UploadCertificate(ctx, &admin, certB, keyB, nil, nil)
	if err != nil {
		return nil, nil, nil, err
	}
	job, err := srv.Svc.StartRewrap(ctx, &admin, aliasA, cert.Alias, mode)
	if err != nil {
		return nil, nil, nil, err
	}
	return &admin, cert, job, nil
}

// rewrapWorkerRun queues the re-wrap in process on a fresh copy of the
// template, then lets a `callvault worker` process run it: no HTTP and no
// login in that process, so its peak RSS is the job's.
func (st *state) rewrapWorkerRun(ctx context.Context, tmpl, aliasA string, certB, keyB []byte, mode string, n int) (rewrapResult, error) {
	r := rewrapResult{mode: mode}
	runDir := filepath.Join(st.dir, "rewrap-worker-"+mode)
	if out, err := exec.CommandContext(ctx, "cp", "-a", tmpl, runDir).CombinedOutput(); err != nil {
		return r, fmt.Errorf("cp -a: %v: %s", err, out)
	}
	defer func() {
		if !st.o.keep {
			os.RemoveAll(runDir)
		}
	}()
	srv, err := server.Open(ctx, server.Config{DataDir: runDir, NoJobs: true, Log: slog.New(slog.NewJSONHandler(io.Discard, nil))})
	if err != nil {
		return r, err
	}
	_, cert, job, err := queueRewrap(ctx, srv, aliasA, certB, keyB, mode)
	srv.Close()
	if err != nil {
		return r, err
	}
	args := []string{"worker", "-data", runDir}
	if st.o.jobWorkers > 0 {
		args = append(args, "-job-workers", strconv.Itoa(st.o.jobWorkers))
	}
	dropCaches(st.cold)
	t0 := time.Now()
	w, err := startProc(st.bin, runDir+".log", args...)
	if err != nil {
		return r, err
	}
	defer w.stop()
	for {
		b, err := os.ReadFile(w.logPath)
		if err != nil {
			return r, err
		}
		if bytes.Contains(b, []byte(`"msg":"re-wrap done"`)) {
			break
		}
		if !w.alive() {
			return r, fmt.Errorf("callvault worker exited: %v (log %s)", w.waitErr, w.logPath)
		}
		select {
		case <-ctx.Done():
			return r, ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
	r.wall = time.Since(t0)
	if r.user, r.sys, err = benchkit.ProcCPU(w.pid); err != nil {
		return r, err
	}
	r.peakKiB, _ = benchkit.ProcStatus(w.pid, "VmHWM")
	if err := w.stop(); err != nil {
		return r, err
	}
	r.errorLines = countErrors(w.logPath)
	store, err := server.OpenStore(ctx, runDir, "")
	if err != nil {
		return r, err
	}
	defer store.Close()
	info, err := store.JobInfo(ctx, tenant, job.ID)
	if err != nil {
		return r, err
	}
	r.done, r.failed = info.Done, info.Failed
	old, err := store.Certificate(ctx, tenant, aliasA)
	if err != nil {
		return r, err
	}
	neu, err := store.Certificate(ctx, tenant, cert.Alias)
	if err != nil {
		return r, err
	}
	r.oldDeployed, r.newDeployed = old.DeployedCount, neu.DeployedCount
	if r.files, r.bytes, err = treeSize(filepath.Join(runDir, "media")); err != nil {
		return r, err
	}
	if r.done != int64(n) {
		return r, fmt.Errorf("the worker re-wrapped %d files of %d (log %s)", r.done, n, w.logPath)
	}
	return r, nil
}
