package main

// Part B: analysis jobs on PostgreSQL and MinIO, run by `callvault worker`
// processes. The API is served in this process by server.Open with
// NoJobs (what `callvault serve` runs, less its job workers: serve has no
// -job-workers 0), so that only the worker processes analyse. Each phase
// ingests its own copies of the calls (the plain MP3, which the server
// encrypts for the tenant's voice certificate, then the metadata with a
// stop time and the mediaFiles entry) with no worker running, then starts
// the workers and times until every recording's analysis is done.

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"mime/multipart"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/jackc/pgx/v5"

	"callvault/internal/server"
	"callvault/internal/vault"
)

// workersOptions are part B's.
type workersOptions struct {
	recordings int
	phases     []int // worker processes per phase
	keep       bool
}

func workerFlags(o *workersOptions) {
	flag.IntVar(&o.recordings, "workers", 0, "ingest this many 16 kHz corpus calls into callvault on PostgreSQL + MinIO (source .ci/services.sh first) and time their analysis jobs by `callvault worker -job-workers 1` processes, one and then two; 0: skip")
	flag.BoolVar(&o.keep, "keep", false, "keep part B's work directory, database and bucket")
	o.phases = []int{1, 2}
}

const (
	benchTenant   = "bench"
	benchAdmin    = "admin@" + benchTenant
	benchPassword = "analyticsbench admin password"
)

// workersResult is part B's result.
type workersResult struct {
	Recordings int            `json:"recordings"`
	Audio      time.Duration  `json:"audioNs"`
	Phases     []workersPhase `json:"phases"`
	Ingest     time.Duration  `json:"ingestNs"` // of one phase's recordings
}

// workersPhase is one set of worker processes analysing the recordings.
type workersPhase struct {
	Workers int           `json:"workers"`
	Wall    time.Duration `json:"wallNs"` // workers started → every analysis done
	// CPU is the workers' and their children's (ffmpeg, pocketsphinx),
	// from getrusage(RUSAGE_CHILDREN) once they have exited.
	CPU    time.Duration `json:"cpuNs"`
	Failed int           `json:"failed"`
}

// benchEnv is where part B's services are and what it made.
type benchEnv struct {
	dir, bin, data     string
	pgServer, db       string
	dbName             string
	s3Endpoint, region string
	bucket             string
	s3                 *s3.Client
	env                []string // for callvault processes
	base               string   // the API's URL
	client             *http.Client
	keep               bool
}

func runWorkers(ctx context.Context, o options, calls []*call) (res *workersResult, err error) {
	if len(calls) < o.workers.recordings {
		return nil, fmt.Errorf("-workers %d: the corpus has %d calls at %d Hz (raise -calls)", o.workers.recordings, len(calls), calls[0].Rate)
	}
	calls = calls[:o.workers.recordings]
	e, err := newBenchEnv(ctx, o)
	if e != nil {
		defer func() { err = errors.Join(err, e.cleanup()) }()
	}
	if err != nil {
		return nil, err
	}
	stop, err := e.startAPI(ctx)
	if err != nil {
		return nil, err
	}
	defer stop()
	if err := e.setUpTenant(ctx); err != nil {
		return nil, err
	}
	res = &workersResult{Recordings: len(calls)}
	for _, c := range calls {
		res.Audio += c.Length
	}
	for phase, workers := range o.workers.phases {
		var ids []string
		started := time.Now()
		for _, c := range calls {
			id := fmt.Sprintf("p%d-%s", phase+1, c.Name)
			if err := e.ingest(ctx, id, c); err != nil {
				return res, err
			}
			ids = append(ids, id)
		}
		res.Ingest = time.Since(started)
		progress("workers: phase %d: %d recordings ingested in %v; starting %d worker(s)", phase+1, len(ids), res.Ingest.Round(time.Second), workers)
		p, err := e.runPhase(ctx, workers, ids)
		res.Phases = append(res.Phases, p)
		if err != nil {
			return res, err
		}
		progress("workers: phase %d: %d worker(s) analysed %d recordings in %v (CPU %v)", phase+1, workers, len(ids), p.Wall.Round(time.Second), p.CPU.Round(time.Second))
	}
	return res, nil
}

// newBenchEnv checks the services, builds callvault, makes a database and
// a bucket and inits the tenant.
func newBenchEnv(ctx context.Context, o options) (*benchEnv, error) {
	e := &benchEnv{pgServer: os.Getenv("CALLVAULT_TEST_POSTGRES"), s3Endpoint: os.Getenv("CALLVAULT_TEST_S3_ENDPOINT"),
		region: or(os.Getenv("AWS_REGION"), "us-east-1"), keep: o.workers.keep,
		client: &http.Client{Transport: &http.Transport{Proxy: nil}, Timeout: 5 * time.Minute}}
	access, secret := os.Getenv("AWS_ACCESS_KEY_ID"), os.Getenv("AWS_SECRET_ACCESS_KEY")
	switch {
	case e.pgServer == "" || e.s3Endpoint == "" || access == "" || secret == "":
		return nil, errors.New("PostgreSQL and MinIO are not configured (CALLVAULT_TEST_POSTGRES, CALLVAULT_TEST_S3_ENDPOINT, AWS_*): source .ci/services.sh first")
	}
	for what, raw := range map[string]string{"CALLVAULT_TEST_POSTGRES": e.pgServer, "CALLVAULT_TEST_S3_ENDPOINT": e.s3Endpoint} {
		if err := onLoopback(what, raw); err != nil {
			return nil, err
		}
	}
	dir, err := os.MkdirTemp("", "analyticsbench-workers-")
	if err != nil {
		return nil, err
	}
	e.dir, e.bin, e.data = dir, filepath.Join(dir, "callvault"), filepath.Join(dir, "data")
	progress("workers: building callvault into %s", dir)
	build := exec.CommandContext(ctx, "go", "build", "-o", e.bin, "callvault/cmd/callvault")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		return e, fmt.Errorf("go build callvault/cmd/callvault: %w (run from inside the callvault module)", err)
	}

	random := make([]byte, 4)
	_, _ = rand.Read(random)
	stamp := hex.EncodeToString(random)
	e.dbName = "analyticsbench_" + stamp
	conn, err := pgx.Connect(ctx, e.pgServer)
	if err != nil {
		return e, fmt.Errorf("PostgreSQL: %w", err)
	}
	_, err = conn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{e.dbName}.Sanitize())
	conn.Close(context.Background())
	if err != nil {
		e.dbName = ""
		return e, fmt.Errorf("PostgreSQL: %w", err)
	}
	u, _ := url.Parse(e.pgServer)
	u.Path = "/" + e.dbName
	e.db = u.String()

	e.s3 = s3.New(s3.Options{Region: e.region, BaseEndpoint: aws.String(e.s3Endpoint), UsePathStyle: true,
		Credentials: credentials.NewStaticCredentialsProvider(access, secret, "")})
	bucket := "analyticsbench-" + stamp
	if _, err := e.s3.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(bucket)}); err != nil {
		return e, fmt.Errorf("MinIO: cannot create bucket %s: %w", bucket, err)
	}
	e.bucket = bucket
	e.env = append(os.Environ(), "NO_PROXY=127.0.0.1,localhost,::1", "no_proxy=127.0.0.1,localhost,::1")

	init := exec.CommandContext(ctx, e.bin, "init", "-data", e.data, "-db", e.db, "-blob", e.blobURL(), "-tenant", benchTenant, "-admin", benchAdmin)
	init.Env = append(e.env, "CALLVAULT_ADMIN_PASSWORD="+benchPassword)
	if out, err := init.CombinedOutput(); err != nil {
		return e, fmt.Errorf("callvault init: %v: %s", err, out)
	}
	return e, nil
}

// blobURL is -blob for the bucket: media under media/.
func (e *benchEnv) blobURL() string {
	q := url.Values{}
	q.Set("endpoint", e.s3Endpoint)
	q.Set("region", e.region)
	q.Set("use_path_style", "true")
	q.Set("prefix", "media/")
	return "s3://" + e.bucket + "?" + q.Encode()
}

// cleanup drops the database and the bucket and removes the work
// directory, unless -keep.
func (e *benchEnv) cleanup() error {
	if e.keep {
		progress("workers: kept %s, database %s, bucket %s", e.dir, e.dbName, e.bucket)
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var errs []error
	if e.bucket != "" {
		objects := s3.NewListObjectsV2Paginator(e.s3, &s3.ListObjectsV2Input{Bucket: aws.String(e.bucket)})
		for objects.HasMorePages() {
			page, err := objects.NextPage(ctx)
			if err != nil {
				errs = append(errs, err)
				break
			}
			for _, obj := range page.Contents {
				if _, err := e.s3.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(e.bucket), Key: obj.Key}); err != nil {
					errs = append(errs, err)
				}
			}
		}
		if _, err := e.s3.DeleteBucket(ctx, &s3.DeleteBucketInput{Bucket: aws.String(e.bucket)}); err != nil {
			errs = append(errs, fmt.Errorf("cannot remove bucket %s: %w", e.bucket, err))
		}
	}
	if e.dbName != "" {
		conn, err := pgx.Connect(ctx, e.pgServer)
		if err == nil {
			_, err = conn.Exec(ctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{e.dbName}.Sanitize()+" WITH (FORCE)")
			conn.Close(context.Background())
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("cannot drop database %s: %w", e.dbName, err))
		}
	}
	if e.dir != "" {
		errs = append(errs, os.RemoveAll(e.dir))
	}
	return errors.Join(errs...)
}

// startAPI serves the API in this process, running no jobs.
func (e *benchEnv) startAPI(ctx context.Context) (func(), error) {
	logFile, err := os.Create(filepath.Join(e.dir, "api.log"))
	if err != nil {
		return nil, err
	}
	srv, err := server.Open(ctx, server.Config{DataDir: e.data, DB: e.db, Blob: e.blobURL(), Addr: "127.0.0.1:0",
		NoJobs: true, Log: slog.New(slog.NewJSONHandler(logFile, nil))})
	if err != nil {
		logFile.Close()
		return nil, fmt.Errorf("cannot open the vault: %w", err)
	}
	if err := srv.Listen(); err != nil {
		srv.Close()
		logFile.Close()
		return nil, err
	}
	e.base = srv.URL()
	serveCtx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(serveCtx) }()
	stop := func() {
		cancel()
		<-done
		srv.Close()
		logFile.Close()
	}
	return stop, nil
}

// setUpTenant uploads a voice certificate and the bench's topics, and
// drains the re-analysis jobs the topics queued with one worker, so that
// the phases time the analyses of their recordings only.
func (e *benchEnv) setUpTenant(ctx context.Context) error {
	key, cert := filepath.Join(e.dir, "tenant.key"), filepath.Join(e.dir, "tenant.pem")
	for _, args := range [][]string{
		{"genrsa", "-out", key, "2048"},
		{"req", "-new", "-x509", "-key", key, "-out", cert, "-days", "3650", "-subj", "/CN=analyticsbench/O=callvault"},
	} {
		if out, err := exec.CommandContext(ctx, "openssl", args...).CombinedOutput(); err != nil {
			return fmt.Errorf("openssl %s: %v: %s", args[0], err, out)
		}
	}
	var form bytes.Buffer
	mw := multipart.NewWriter(&form)
	for field, path := range map[string]string{"certificate": cert, "key": key} {
		w, err := mw.CreateFormFile(field, filepath.Base(path))
		if err != nil {
			return err
		}
		pem, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		if _, err := w.Write(pem); err != nil {
			return err
		}
	}
	if err := mw.WriteField("assign", "voice"); err != nil {
		return err
	}
	mw.Close()
	if err := e.call(ctx, http.MethodPost, "/api/v2/certificates", mw.FormDataContentType(), &form, http.StatusCreated, nil); err != nil {
		return fmt.Errorf("certificate: %w", err)
	}
	var jobs []int64
	for _, t := range topicsAt(defaultStrictness) {
		body, _ := json.Marshal(map[string]any{"name": t.Name, "phrases": []map[string]string{{"text": t.Phrases[0].Text}},
			"strictness": t.Strictness, "speaker": t.Speaker})
		var answer struct {
			JobID int64 `json:"jobId"`
		}
		if err := e.call(ctx, http.MethodPost, "/api/v2/analytics/topics", "application/json", bytes.NewReader(body), http.StatusCreated, &answer); err != nil {
			return fmt.Errorf("topic %q: %w", t.Name, err)
		}
		if answer.JobID != 0 {
			jobs = append(jobs, answer.JobID)
		}
	}
	if len(jobs) == 0 {
		return nil
	}
	w, err := e.startWorker(0)
	if err != nil {
		return err
	}
	defer w.stop()
	return waitUntil(ctx, 2*time.Minute, "the topics' re-analysis jobs", func() (bool, error) {
		for _, id := range jobs {
			var job struct {
				State string `json:"state"`
			}
			if err := e.call(ctx, http.MethodGet, "/api/v2/jobs/"+strconv.FormatInt(id, 10), "", nil, http.StatusOK, &job); err != nil {
				return false, err
			}
			if job.State != "completed" {
				return false, nil
			}
		}
		return true, nil
	})
}

// ingest stores a call as recording id: its MP3 (plain; the server
// encrypts it for the voice certificate) and its metadata with a stop
// time and the mediaFiles entry, which queues its analysis.
func (e *benchEnv) ingest(ctx context.Context, id string, c *call) error {
	f, err := os.Open(c.MP3)
	if err != nil {
		return err
	}
	defer f.Close()
	mediaID := id + "_voice.mp3"
	var stored struct {
		Encrypted bool `json:"encrypted"`
	}
	if err := e.call(ctx, http.MethodPut, "/api/v2/recordings/"+id+"/media/"+url.PathEscape(mediaID), "audio/mp3", f, http.StatusCreated, &stored); err != nil {
		return fmt.Errorf("media of %s: %w", id, err)
	}
	if !stored.Encrypted {
		return fmt.Errorf("media of %s was stored unencrypted", id)
	}
	start := time.Now().UTC().Add(-time.Hour).Truncate(time.Millisecond)
	stop := start.Add(c.Length)
	at := func(t time.Time) string { return t.Format(time.RFC3339Nano) }
	doc := map[string]any{"id": id, "startTime": at(start), "stopTime": at(stop), "callerPhoneNumber": "+15551230000",
		"eventHistory": []any{map[string]any{"occurredAt": at(start), "event": "Joined", "calluuid": id,
			"contact": map[string]any{"type": "User", "userName": "ann", "firstName": "Ann", "lastName": "Agent"}}},
		"mediaFiles": []any{map[string]any{"mediaId": mediaID, "type": "audio/mp3", "startTime": at(start), "stopTime": at(stop)}}}
	body, _ := json.Marshal(doc)
	if err := e.call(ctx, http.MethodPut, "/api/v2/recordings/"+id, "application/json", bytes.NewReader(body), http.StatusOK, nil); err != nil {
		return fmt.Errorf("metadata of %s: %w", id, err)
	}
	return nil
}

// runPhase starts workers worker processes and waits until every
// recording's analysis is done (or failed), then stops them.
func (e *benchEnv) runPhase(ctx context.Context, workers int, ids []string) (workersPhase, error) {
	p := workersPhase{Workers: workers}
	for _, id := range ids {
		if status, err := e.analysisStatus(ctx, id); err != nil {
			return p, err
		} else if status != vault.AnalysisPending {
			return p, fmt.Errorf("%s is %s before any worker ran: the measurement would not be of the workers", id, status)
		}
	}
	cpuStart := rusageCPU(syscall.RUSAGE_CHILDREN)
	started := time.Now()
	var procs []*workerProc
	stopAll := func() error {
		var errs []error
		for _, w := range procs {
			errs = append(errs, w.stop())
		}
		procs = nil
		return errors.Join(errs...)
	}
	defer stopAll()
	for i := range workers {
		w, err := e.startWorker(i + 1)
		if err != nil {
			return p, err
		}
		procs = append(procs, w)
	}
	pending := append([]string(nil), ids...)
	err := waitUntil(ctx, 2*time.Hour, "the analyses", func() (bool, error) {
		var still []string
		for _, id := range pending {
			status, err := e.analysisStatus(ctx, id)
			if err != nil {
				return false, err
			}
			switch status {
			case vault.AnalysisPending:
				still = append(still, id)
			case vault.AnalysisDone:
			default:
				p.Failed++
			}
		}
		pending = still
		return len(pending) == 0, nil
	})
	p.Wall = time.Since(started)
	if stopErr := stopAll(); err == nil {
		err = stopErr
	}
	p.CPU = rusageCPU(syscall.RUSAGE_CHILDREN) - cpuStart
	if err == nil && p.Failed > 0 {
		err = fmt.Errorf("%d analyses did not end done (see the worker logs in %s; -keep keeps them)", p.Failed, e.dir)
	}
	return p, err
}

func (e *benchEnv) analysisStatus(ctx context.Context, id string) (string, error) {
	var a struct {
		Status string `json:"status"`
	}
	if err := e.call(ctx, http.MethodGet, "/api/v2/recordings/"+id+"/analytics", "", nil, http.StatusOK, &a); err != nil {
		return "", err
	}
	return a.Status, nil
}

// workerProc is one `callvault worker -job-workers 1`.
type workerProc struct {
	cmd  *exec.Cmd
	log  *os.File
	done chan error
}

func (e *benchEnv) startWorker(n int) (*workerProc, error) {
	log, err := os.Create(filepath.Join(e.dir, fmt.Sprintf("worker-%d-%d.log", n, time.Now().UnixNano())))
	if err != nil {
		return nil, err
	}
	// Not CommandContext: stop ends it with SIGINT, as an operator would.
	cmd := exec.Command(e.bin, "worker", "-data", e.data, "-db", e.db, "-blob", e.blobURL(), "-job-workers", "1")
	cmd.Env, cmd.Stdout, cmd.Stderr = e.env, log, log
	if err := cmd.Start(); err != nil {
		log.Close()
		return nil, fmt.Errorf("callvault worker: %w", err)
	}
	w := &workerProc{cmd: cmd, log: log, done: make(chan error, 1)}
	go func() { w.done <- cmd.Wait() }()
	return w, nil
}

// stop sends SIGINT and waits up to 40 s (the worker gives running jobs
// 30 s), then kills it (ours, by its pid).
func (w *workerProc) stop() error {
	defer w.log.Close()
	_ = w.cmd.Process.Signal(os.Interrupt)
	select {
	case err := <-w.done:
		if err != nil {
			return fmt.Errorf("callvault worker: %w", err)
		}
		return nil
	case <-time.After(40 * time.Second):
		_ = w.cmd.Process.Kill()
		<-w.done
		return errors.New("callvault worker did not stop within 40 s of SIGINT; killed")
	}
}

// call sends a request as the administrator and decodes a JSON answer of
// status want into out (nil: discard).
func (e *benchEnv) call(ctx context.Context, method, path, contentType string, body io.Reader, want int, out any) error {
	req, err := http.NewRequestWithContext(ctx, method, e.base+path, body)
	if err != nil {
		return err
	}
	req.SetBasicAuth(benchAdmin, benchPassword)
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	if f, ok := body.(*os.File); ok {
		if info, err := f.Stat(); err == nil {
			req.ContentLength = info.Size()
		}
	}
	res, err := e.client.Do(req)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	answer, err := io.ReadAll(io.LimitReader(res.Body, 16<<20))
	if err != nil {
		return err
	}
	if res.StatusCode != want {
		return fmt.Errorf("%s %s: status %d: %s", method, path, res.StatusCode, strings.TrimSpace(string(answer[:min(len(answer), 512)])))
	}
	if out != nil {
		return json.Unmarshal(answer, out)
	}
	return nil
}

// waitUntil polls ok every 500 ms until it holds, fails, limit passes or
// ctx ends.
func waitUntil(ctx context.Context, limit time.Duration, what string, ok func() (bool, error)) error {
	deadline := time.Now().Add(limit)
	for {
		done, err := ok()
		if err != nil || done {
			return err
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("timed out after %v waiting for %s", limit, what)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(500 * time.Millisecond):
		}
	}
}

// onLoopback refuses a URL whose host is not a loopback address.
func onLoopback(what, raw string) error {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return fmt.Errorf("%s: want a URL such as postgres://user@127.0.0.1:5432/db or http://127.0.0.1:9000", what)
	}
	host := u.Hostname()
	if ip := net.ParseIP(host); host == "localhost" || (ip != nil && ip.IsLoopback()) {
		return nil
	}
	return fmt.Errorf("%s %s: the benchmark sends traffic only to loopback (127.0.0.1, localhost, ::1)", what, u.Redacted())
}

func (r *workersResult) markdown(w io.Writer) {
	fmt.Fprintf(w, "\n### Analysis jobs on PostgreSQL + MinIO: %d recordings (%.2f h of 16 kHz audio), `callvault worker -job-workers 1` processes\n\n",
		r.Recordings, r.Audio.Hours())
	fmt.Fprintf(w, "| worker processes | workers started → all analyses done | audio h per wall h | CPU of the workers and their children | audio h per CPU h |\n| ---: | ---: | ---: | ---: | ---: |\n")
	for _, p := range r.Phases {
		fmt.Fprintf(w, "| %d | %.1f s | %.1f | %.1f s | %.1f |\n", p.Workers, p.Wall.Seconds(), r.Audio.Seconds()/p.Wall.Seconds(),
			p.CPU.Seconds(), r.Audio.Seconds()/p.CPU.Seconds())
	}
	if len(r.Phases) == 2 && r.Phases[1].Wall > 0 {
		fmt.Fprintf(w, "\nOne worker's time ÷ two workers' time: %.2f (one phase's ingest took %v).\n", r.Phases[0].Wall.Seconds()/r.Phases[1].Wall.Seconds(), r.Ingest.Round(time.Second))
	}
}
