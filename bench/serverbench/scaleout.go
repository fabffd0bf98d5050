package main

// The scale-out scenarios of issue 5. Each makes its own PostgreSQL
// database (and, when it needs media, its own MinIO bucket), starts its own
// `callvault serve` processes on them, and drops both at the end unless
// -keep. PostgreSQL and MinIO must be on loopback: the benchmark refuses
// any other address.

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"

	"callvault/internal/testenv"
)

// rcloneRemote is the name of the rclone remote the benchmark defines in
// rclone's environment (RCLONE_CONFIG_SERVERBENCH_*) for MinIO.
const rcloneRemote = "serverbench"

// scaleEnv says where PostgreSQL and MinIO are.
type scaleEnv struct {
	pg                   string // a server URL where databases may be created
	s3, region           string // MinIO endpoint and the bucket region
	accessKey, secretKey string // never printed
	rclone, rcloneConfig string // the rclone binary and an empty config file of our own
	stamp                string // names this run's databases and buckets
	keep                 bool
	databases, buckets   []string // made by this run, dropped by cleanup
	noProxy              []string
}

// scaleEnv checks the options and the environment for a scale-out
// scenario; needS3 when it stores media in MinIO.
func (st *state) scaleEnv(name string, needS3 bool) (*scaleEnv, error) {
	o := st.o
	e := &scaleEnv{pg: o.pgURL, s3: o.s3Endpoint, region: o.s3Region, rclone: o.rclone, keep: o.keep,
		accessKey: os.Getenv("AWS_ACCESS_KEY_ID"), secretKey: os.Getenv("AWS_SECRET_ACCESS_KEY"),
		stamp:   fmt.Sprintf("%s-%d", name, time.Now().Unix()),
		noProxy: []string{"NO_PROXY=127.0.0.1,localhost,::1", "no_proxy=127.0.0.1,localhost,::1"}}
	if e.pg == "" {
		return nil, errors.New("no PostgreSQL: give -pg postgres://… or set CALLVAULT_TEST_POSTGRES (source .ci/services.sh)")
	}
	if err := onLoopback("-pg", e.pg); err != nil {
		return nil, err
	}
	if !needS3 {
		return e, nil
	}
	switch {
	case e.s3 == "":
		return nil, errors.New("no MinIO: give -s3-endpoint http://127.0.0.1:PORT or set CALLVAULT_TEST_S3_ENDPOINT (source .ci/services.sh)")
	case e.accessKey == "" || e.secretKey == "":
		return nil, errors.New("set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY for MinIO (source .ci/services.sh)")
	}
	if err := onLoopback("-s3-endpoint", e.s3); err != nil {
		return nil, err
	}
	var err error
	if e.rclone, err = exec.LookPath(e.rclone); err != nil {
		return nil, fmt.Errorf("rclone (apt-get install rclone, or give -rclone): %w", err)
	}
	e.rcloneConfig = filepath.Join(st.dir, "rclone.conf")
	if err := os.WriteFile(e.rcloneConfig, nil, 0o600); err != nil {
		return nil, err
	}
	return e, nil
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

// createDatabase makes a new database on the PostgreSQL server and returns
// its URL.
func (e *scaleEnv) createDatabase(ctx context.Context) (string, error) {
	name := "serverbench_" + strings.ReplaceAll(e.stamp, "-", "_")
	conn, err := pgx.Connect(ctx, e.pg)
	if err != nil {
		return "", fmt.Errorf("PostgreSQL: %w", err)
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()); err != nil {
		return "", fmt.Errorf("CREATE DATABASE %s: %w", name, err)
	}
	e.databases = append(e.databases, name)
	u, _ := url.Parse(e.pg) // onLoopback parsed it
	u.Path = "/" + name
	return u.String(), nil
}

// createBucket makes a new MinIO bucket with rclone and returns its name.
func (e *scaleEnv) createBucket(ctx context.Context) (string, error) {
	name := "serverbench-" + e.stamp
	if _, err := e.run(ctx, "mkdir", rcloneRemote+":"+name); err != nil {
		return "", err
	}
	e.buckets = append(e.buckets, name)
	return name, nil
}

// blobURL is the server's -blob for bucket: media under media/<tenant>/.
func (e *scaleEnv) blobURL(bucket string) string {
	q := url.Values{}
	q.Set("endpoint", e.s3)
	q.Set("region", e.region)
	q.Set("use_path_style", "true")
	q.Set("prefix", "media/")
	return "s3://" + bucket + "?" + q.Encode()
}

// cleanup drops the databases and buckets this scenario made (bounded by
// a minute each), unless -keep.
func (e *scaleEnv) cleanup() error {
	if e.keep {
		for _, d := range e.databases {
			progress("  kept database %s", d)
		}
		for _, b := range e.buckets {
			progress("  kept bucket %s", b)
		}
		return nil
	}
	var errs []error
	for _, b := range e.buckets {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		if _, err := e.run(ctx, "purge", rcloneRemote+":"+b); err != nil {
			errs = append(errs, fmt.Errorf("remove bucket %s: %w", b, err))
		}
		cancel()
	}
	for _, d := range e.databases {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		conn, err := pgx.Connect(ctx, e.pg)
		if err == nil {
			_, err = conn.Exec(ctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{d}.Sanitize()+" WITH (FORCE)")
			conn.Close(context.Background())
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("drop database %s: %w", d, err))
		}
		cancel()
	}
	return errors.Join(errs...)
}

// rcloneEnv defines the MinIO remote in rclone's environment, with a
// config file of our own so that the user's is neither read nor written.
// The AWS_* variables are left out: the remote carries the credentials,
// and rclone's S3 backend fails on AWS_CA_BUNDLE ("unsupported transport").
func (e *scaleEnv) rcloneEnv() []string {
	p := "RCLONE_CONFIG_" + strings.ToUpper(rcloneRemote) + "_"
	env := slices.DeleteFunc(os.Environ(), func(kv string) bool { return strings.HasPrefix(kv, "AWS_") })
	return append(append(env, e.noProxy...), "RCLONE_CONFIG="+e.rcloneConfig,
		p+"TYPE=s3", p+"PROVIDER=Minio", p+"ENDPOINT="+e.s3, p+"REGION="+e.region,
		p+"ACCESS_KEY_ID="+e.accessKey, p+"SECRET_ACCESS_KEY="+e.secretKey, p+"FORCE_PATH_STYLE=true")
}

// run runs rclone and returns its stdout.
func (e *scaleEnv) run(ctx context.Context, args ...string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, e.rclone, args...)
	cmd.Env = e.rcloneEnv()
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &limitedBuffer{b: &stdout, max: 1 << 20}, &limitedBuffer{b: &stderr, max: 64 << 10}
	if err := cmd.Run(); err != nil {
		return stdout.Bytes(), fmt.Errorf("rclone %s: %v: %s", args[0], err, oneLine(stderr.String(), 600))
	}
	return stdout.Bytes(), nil
}

// size is `rclone size --json` of a remote path.
func (e *scaleEnv) size(ctx context.Context, path string) (count int, size int64, err error) {
	out, err := e.run(ctx, "size", "--json", rcloneRemote+":"+path)
	if err != nil {
		return 0, 0, err
	}
	var s struct {
		Count int   `json:"count"`
		Bytes int64 `json:"bytes"`
	}
	if err := json.Unmarshal(out, &s); err != nil {
		return 0, 0, fmt.Errorf("rclone size: %w: %s", err, oneLine(string(out), 200))
	}
	return s.Count, s.Bytes, nil
}

// serverEnv is what every replica gets: one master key (the tenant keys
// sealed by one must open in the other), the S3 credentials, no proxy.
func (e *scaleEnv) serverEnv(master string) []string {
	env := append([]string{"CALLVAULT_MASTER_KEY=" + master}, e.noProxy...)
	if e.accessKey != "" {
		env = append(env, "AWS_ACCESS_KEY_ID="+e.accessKey, "AWS_SECRET_ACCESS_KEY="+e.secretKey, "AWS_REGION="+e.region)
	}
	return env
}

// newMasterKey is 32 random bytes in base64, as CALLVAULT_MASTER_KEY wants.
func newMasterKey() string {
	b := make([]byte, 32)
	rand.Read(b)
	return base64.StdEncoding.EncodeToString(b)
}

// cpuMeter measures CPU use over a step: the whole machine (/proc/stat),
// this process (the benchmark's clients), the servers (/proc/PID/stat),
// and every process named postgres or minio (read from /proc; backends
// that start and end within the step are missed, and another user's
// PostgreSQL backends are counted). What is left is other work on the
// machine.
type cpuMeter struct {
	t0        time.Time
	busy      int64 // /proc/stat ticks
	self      time.Duration
	servers   []*server
	serverCPU []time.Duration
	named     map[int]namedCPU
}

type namedCPU struct {
	comm string
	cpu  time.Duration
}

type cpuUse struct {
	wall, machine, self time.Duration
	servers             []time.Duration
	postgres, minio     time.Duration
	ncpu                int
}

func startCPU(servers ...*server) *cpuMeter {
	m := &cpuMeter{t0: time.Now(), servers: servers}
	m.busy, _ = machineTicks()
	m.self = selfCPU()
	for _, s := range servers {
		c, _ := procCPU(s.pid)
		m.serverCPU = append(m.serverCPU, c)
	}
	m.named = namedProcesses()
	return m
}

func (m *cpuMeter) stop() cpuUse {
	u := cpuUse{wall: time.Since(m.t0), ncpu: numCPU()}
	if busy, err := machineTicks(); err == nil {
		u.machine = time.Duration(busy-m.busy) * 10 * time.Millisecond
	}
	u.self = selfCPU() - m.self
	for i, s := range m.servers {
		c, _ := procCPU(s.pid)
		u.servers = append(u.servers, c-m.serverCPU[i])
	}
	for pid, p := range namedProcesses() {
		d := p.cpu - m.named[pid].cpu // a process new since the start counts whole
		if before, ok := m.named[pid]; ok && before.comm != p.comm {
			d = p.cpu
		}
		switch p.comm {
		case "postgres":
			u.postgres += d
		case "minio":
			u.minio += d
		}
	}
	return u
}

// namedProcesses is the CPU time of every process named postgres or
// minio, by pid.
func namedProcesses() map[int]namedCPU {
	out := map[int]namedCPU{}
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return out
	}
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		comm, err := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid))
		if err != nil {
			continue
		}
		name := strings.TrimSpace(string(comm))
		if name != "postgres" && name != "minio" {
			continue
		}
		if c, err := procCPU(pid); err == nil {
			out[pid] = namedCPU{comm: name, cpu: c}
		}
	}
	return out
}

// String is e.g. "machine busy 3.4 s of 2 × 2.0 s (85%): server 1.2 s,
// serverbench clients 0.9 s, PostgreSQL 0.6 s, MinIO 0.5 s, other 0.2 s".
func (u cpuUse) String() string {
	var servers time.Duration
	parts := make([]string, len(u.servers))
	for i, s := range u.servers {
		servers += s
		parts[i] = fmt.Sprintf("%.1f", s.Seconds())
	}
	srv := fmt.Sprintf("server %.1f s", servers.Seconds())
	if len(u.servers) > 1 {
		srv = fmt.Sprintf("servers %.1f s (%s)", servers.Seconds(), strings.Join(parts, " + "))
	}
	rest := u.machine - servers - u.self - u.postgres - u.minio
	return fmt.Sprintf("machine busy %.1f s of %d × %.1f s (%.0f%%): %s, serverbench clients %.1f s, PostgreSQL %.1f s, MinIO %.1f s, other work %.1f s",
		u.machine.Seconds(), u.ncpu, u.wall.Seconds(), 100*u.machine.Seconds()/(float64(u.ncpu)*u.wall.Seconds()),
		srv, u.self.Seconds(), u.postgres.Seconds(), u.minio.Seconds(), max(0, rest.Seconds()))
}

// per is CPU per item (a recording), in ms: machine, servers,
// PostgreSQL, MinIO.
func (u cpuUse) per(n int) string {
	if n <= 0 {
		return "–"
	}
	var servers time.Duration
	for _, s := range u.servers {
		servers += s
	}
	f := func(d time.Duration) float64 { return float64(d) / 1e6 / float64(n) }
	return fmt.Sprintf("machine %.1f ms: servers %.1f, clients %.1f, PostgreSQL %.1f, MinIO %.1f",
		f(u.machine), f(servers), f(u.self), f(u.postgres), f(u.minio))
}

// machineTicks reads the busy ticks of all CPUs from /proc/stat (busy =
// user + nice + system + irq + softirq + steal: all but idle and iowait).
func machineTicks() (busy int64, err error) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, err
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line)
	if len(f) < 6 || f[0] != "cpu" {
		return 0, errors.New("/proc/stat: no cpu line")
	}
	var idle, total int64
	for i, s := range f[1:] {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return 0, err
		}
		if i >= 8 { // guest and guest_nice are counted in user and nice already
			break
		}
		total += n
		if i == 3 || i == 4 {
			idle += n
		}
	}
	return total - idle, nil
}

func selfCPU() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "unknown"
	}
	return strings.Join(f[:3], " ")
}

// ---------------------------------------------------------------- s3rcbs

func (st *state) s3rcbsScenario(ctx context.Context) (sec *section, err error) {
	o := st.o
	errs := newErrLog(o.errorsMax)
	sec = &section{errs: errs, title: fmt.Sprintf("s3rcbs: %d recordings of one %d-byte audio/mp3 each in MinIO (server on PostgreSQL + MinIO); "+
		"rcbs numThreads %d straight from S3 against `rclone copy` --transfers %d --checkers %d of the same prefix", o.n, o.size, o.s3Threads, o.s3Threads, o.s3Threads)}
	sec.note("Load average before the scenario: %s.", loadAvg())
	dir := filepath.Join(st.dir, "s3rcbs")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return sec, err
	}
	sub := &state{dir: dir, o: o, bin: st.bin}
	env, err := sub.scaleEnv("s3rcbs", true)
	if err != nil {
		return sec, err
	}
	defer func() { err = errors.Join(err, env.cleanup()) }()
	bin, err := st.rcbsBinary(ctx)
	if err != nil {
		return sec, err
	}
	db, err := env.createDatabase(ctx)
	if err != nil {
		return sec, err
	}
	bucket, err := env.createBucket(ctx)
	if err != nil {
		return sec, err
	}
	srv, err := startServer(ctx, st.bin, dir, serverSpec{name: "s3", db: db, blob: env.blobURL(bucket), env: env.serverEnv(newMasterKey())})
	if err != nil {
		return sec, err
	}
	st.started = append(st.started, srv)
	defer func() { err = errors.Join(err, srv.stop()) }()
	sub.srv = srv

	// The rcbs scenario's period: start times spread over a day ending an
	// hour ago.
	now := time.Now().UTC().Truncate(time.Second)
	first := now.Add(-rcbsDay - time.Hour)
	step := rcbsDay / time.Duration(o.n)
	from, to := first, now.Add(-30*time.Minute)
	progress("  setup: %d recordings of %d B into PostgreSQL + MinIO bucket %s, %d clients", o.n, o.size, bucket, o.conc)
	meter := startCPU(srv)
	r := sub.putRecordings(ctx, "bak", o.n, o.conc, o.size, func(i int) time.Time { return first.Add(time.Duration(i) * step) }, nil, errs)
	use := meter.stop()
	if ctx.Err() != nil {
		return sec, ctx.Err()
	}
	sec.add("setup: recordings stored (media PUT + metadata PUT)", fmt.Sprintf("%d of %d in %v (**%.0f recordings/s**, %.1f MB/s), %d clients",
		r.ok, o.n, r.elapsed.Round(time.Millisecond), rate(float64(r.ok), r.elapsed), rate(mb(int64(r.ok)*o.size), r.elapsed), o.conc), "")
	sec.add("setup: CPU", use.String(), "")
	if r.ok == 0 {
		return sec, fmt.Errorf("no recording stored: %v", errs.sampleList())
	}
	wantTotal := 2 * r.ok
	prefix := bucket + "/media/" + tenant
	objects, objectBytes, err := env.size(ctx, prefix)
	if err != nil {
		return sec, err
	}
	sec.add("bucket prefix media/"+tenant+"/ (`rclone size`)", fmt.Sprintf("%d objects, %.0f MB (stored, encrypted)", objects, mb(objectBytes)), fmt.Sprintf("%d objects", r.ok))

	dropErr := dropCaches(o.dropCaches)
	cold := o.dropCaches && dropErr == nil
	switch {
	case !o.dropCaches:
		sec.add("page cache", "**not dropped** (-drop-caches=false): warm-cache runs", "")
	case dropErr != nil:
		sec.add("page cache", "**not dropped** ("+dropErr.Error()+"): warm-cache runs", "")
	default:
		sec.add("page cache", "sync + echo 3 > /proc/sys/vm/drop_caches before each timed step (cold: MinIO reads its disk)", "")
	}

	s3Env := append(append(os.Environ(), env.noProxy...), "GWS_USERNAME="+adminLogin, "GWS_PASSWORD="+adminPassword,
		"AWS_ACCESS_KEY_ID="+env.accessKey, "AWS_SECRET_ACCESS_KEY="+env.secretKey, "AWS_REGION="+env.region)
	apiEnv := slices.DeleteFunc(slices.Clone(s3Env), func(kv string) bool {
		return strings.HasPrefix(kv, "AWS_ACCESS_KEY_ID=") || strings.HasPrefix(kv, "AWS_SECRET_ACCESS_KEY=")
	})

	// rcbs -verify s3, untimed.
	s3Run := &rcbsRun{label: fmt.Sprintf("straight from S3, numThreads=%d", o.s3Threads), name: "first", threads: o.s3Threads,
		target: filepath.Join(dir, "rcbs-s3", "target"), awsEndpoint: env.s3}
	if cfg, err := sub.writeRCBSConfig(s3Run, "multithread", from, to); err != nil {
		return sec, err
	} else {
		vctx, cancel := context.WithTimeout(ctx, time.Minute)
		cmd := exec.CommandContext(vctx, bin, "-config", cfg, "-verify", "s3")
		cmd.Env = s3Env
		out, err := cmd.CombinedOutput()
		cancel()
		lines := strings.Split(strings.TrimSpace(string(out)), "\n")
		verdict := "exit 0"
		if err != nil {
			verdict = "**" + err.Error() + "**"
		}
		sec.add("`rcbs -verify s3`", fmt.Sprintf("%s; last line: %q", verdict, lines[len(lines)-1]), "exit 0")
		// The settings summary comes first; keep what it says after it.
		for i, l := range lines {
			if strings.HasPrefix(l, "Successfully verified connection") {
				lines = lines[i:]
				break
			}
		}
		sec.note("`rcbs -config … -verify s3` printed (after the settings): %s", oneLine(strings.Join(lines, " | "), 800))
	}

	// rclone copy, then sync, each timed.
	rcloneDst := filepath.Join(dir, "rclone-copy")
	progress("  rclone copy %s:%s %s --transfers %d --checkers %d", rcloneRemote, prefix, rcloneDst, o.s3Threads, o.s3Threads)
	dropCaches(cold)
	t0 := time.Now()
	rcCtx, cancel := context.WithTimeout(ctx, rcbsRunTimeout)
	_, err = env.run(rcCtx, "copy", rcloneRemote+":"+prefix, rcloneDst,
		"--transfers", strconv.Itoa(o.s3Threads), "--checkers", strconv.Itoa(o.s3Threads))
	cancel()
	copyTook := time.Since(t0)
	if err != nil {
		return sec, err
	}
	t1 := time.Now()
	syscall.Sync()
	syncTook := time.Since(t1)
	rcloneTotal := copyTook + syncTook
	rcFiles, rcBytes, err := treeSize(rcloneDst)
	if err != nil {
		return sec, err
	}
	if rcFiles != objects || rcBytes != objectBytes {
		sec.note("**rclone copied %d files / %d B; the prefix holds %d / %d B**", rcFiles, rcBytes, objects, objectBytes)
	}
	sec.add(fmt.Sprintf("`rclone copy` --transfers %d --checkers %d", o.s3Threads, o.s3Threads),
		fmt.Sprintf("%v (%.0f MB/s, %.0f files/s; %d files, %.0f MB)", copyTook.Round(time.Millisecond),
			rate(mb(rcBytes), copyTook), rate(float64(rcFiles), copyTook), rcFiles, mb(rcBytes)), "")
	sec.add("**`rclone copy` + `sync`**", fmt.Sprintf("**%v** (sync %v; %.0f MB/s, %.0f files/s)", rcloneTotal.Round(time.Millisecond),
		syncTook.Round(time.Millisecond), rate(mb(rcBytes), rcloneTotal), rate(float64(rcFiles), rcloneTotal)), "")

	// rcbs straight from S3, then (for comparison) through the API.
	runs := []*rcbsRun{s3Run}
	envs := [][]string{s3Env}
	if o.s3API {
		runs = append(runs, &rcbsRun{label: fmt.Sprintf("through the server's API (no AWS credentials), numThreads=%d", o.s3Threads),
			name: "first", threads: o.s3Threads, target: filepath.Join(dir, "rcbs-api", "target")})
		envs = append(envs, apiEnv)
	}
	problems := 0
	for i, run := range runs {
		if ctx.Err() != nil {
			return sec, ctx.Err()
		}
		progress("  rcbs %s", run.label)
		dropCaches(cold)
		sub.runRCBS(ctx, bin, envs[i], run, "multithread", from, to)
		run.check(wantTotal, false)
		log, _ := os.ReadFile(filepath.Join(filepath.Dir(run.target), run.name+".log"))
		usedS3 := bytes.Contains(log, []byte("media come straight from S3"))
		switch {
		case i == 0 && !usedS3:
			run.problem("its log does not say \"media come straight from S3\": it fetched media through the API")
		case i > 0 && usedS3:
			run.problem("its log says it fetched media from S3, without AWS credentials")
		}
		counts := "no closing line"
		if run.seen {
			counts = fmt.Sprintf("%d downloaded + %d skipped + %d failed of %d", run.downloaded, run.skipped, run.failed, run.total)
		}
		source := "log: \"media come straight from S3\""
		if !usedS3 {
			source = "media through the API"
		}
		sec.add("rcbs "+run.label, fmt.Sprintf("**%v**: %.0f MB/s, %.0f files/s; %s; %s; rcbs CPU %v, server CPU %v",
			run.wall.Round(time.Millisecond), rate(mb(run.bytes), run.wall), rate(float64(run.downloaded), run.wall), counts, source,
			run.cpu.Round(10*time.Millisecond), run.serverCPU.Round(10*time.Millisecond)), "")
		if run.wall > 0 && copyTook > 0 {
			aim := ""
			if i == 0 {
				aim = "≤ 1× (`rclone copy` + `sync`): " + yes(len(run.problems) == 0 && run.wall <= rcloneTotal)
			}
			sec.add("  ÷ `rclone copy` / **÷ (`rclone copy` + `sync`)**", fmt.Sprintf("%.2f× / **%.2f×** the time (written: %d files, %.0f MB)",
				run.wall.Seconds()/copyTook.Seconds(), run.wall.Seconds()/rcloneTotal.Seconds(), run.files, mb(run.bytes)), aim)
		}
		for _, p := range run.problems {
			problems++
			sec.note("**rcbs %s: %s**", run.label, p)
		}
	}
	sec.note("Server: `callvault serve -db postgres://…/%s -blob s3://%s?endpoint=%s&region=%s&use_path_style=true&prefix=media/` "+
		"with CALLVAULT_MASTER_KEY and the AWS credentials in its environment; recordings start evenly over [%s, %s).",
		env.databases[0], bucket, env.s3, env.region, first.Format(time.RFC3339), now.Add(-time.Hour).Format(time.RFC3339))
	sec.note("rclone: `rclone copy %s:%s <dir> --transfers %d --checkers %d` into an empty directory, the remote defined by RCLONE_CONFIG_%s_* "+
		"(type s3, provider Minio, path style); then `sync`. rclone fsyncs nothing, and checks each "+
		"file's size and its MD5 against the object's ETag (the server's objects are single-part uploads, so the ETag is the MD5: "+
		"`rclone copy -vv` logs `md5 = … OK` for each).", rcloneRemote, prefix, o.s3Threads, o.s3Threads, strings.ToUpper(rcloneRemote))
	sec.note("rcbs: as the rcbs scenario (downloadMode=multithread, shardBy=1, maxDate/minDate around every stop time, a new targetDir each), "+
		"with GWS_USERNAME/GWS_PASSWORD and, for the S3 run, AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY. It lists the period through the API, "+
		"writes each <id>.json, and fetches each media file (from S3 by its storageKey, or through the API), checking size and SHA-256, "+
		"with about 4 fsyncs per recording. Order: rclone, rcbs from S3%s, each after dropping the page cache.",
		map[bool]string{true: ", rcbs through the API", false: ""}[o.s3API])
	if problems > 0 {
		return sec, fmt.Errorf("%d problem(s) with the rcbs runs (see the notes)", problems)
	}
	return sec, nil
}

// ---------------------------------------------------------------- pglist

func (st *state) pglistScenario(ctx context.Context) (sec *section, err error) {
	o := st.o
	errs := newErrLog(o.errorsMax)
	n := o.pgRecords
	sec = &section{errs: errs, title: fmt.Sprintf("pglist: %d recordings in PostgreSQL (bulk-loaded), paged through the API with limit=%d, one client", n, o.pageLen)}
	sec.note("Load average before the scenario: %s.", loadAvg())
	dir := filepath.Join(st.dir, "pglist")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return sec, err
	}
	sub := &state{dir: dir, o: o, bin: st.bin}
	env, err := sub.scaleEnv("pglist", false)
	if err != nil {
		return sec, err
	}
	defer func() { err = errors.Join(err, env.cleanup()) }()
	db, err := env.createDatabase(ctx)
	if err != nil {
		return sec, err
	}
	srv, err := startServer(ctx, st.bin, dir, serverSpec{name: "pg", db: db, env: env.serverEnv(newMasterKey())})
	if err != nil {
		return sec, err
	}
	st.started = append(st.started, srv)
	defer func() { err = errors.Join(err, srv.stop()) }()
	sub.srv = srv

	progress("  bulk load: %d recordings (COPY, terms, VACUUM ANALYZE)", n)
	load, err := bulkLoad(ctx, db, n)
	if err != nil {
		return sec, fmt.Errorf("bulk load: %w", err)
	}
	setup := load.copy + load.terms + load.vacuum
	sec.add("setup: bulk load into PostgreSQL", fmt.Sprintf("**%v** for %d recordings: COPY %v (%.0f rows/s), terms %v (%d rows), VACUUM ANALYZE %v; database %.0f MB",
		setup.Round(100*time.Millisecond), n, load.copy.Round(100*time.Millisecond), rate(float64(n), load.copy),
		load.terms.Round(100*time.Millisecond), load.termRows, load.vacuum.Round(100*time.Millisecond), mb(load.dbBytes)), "≤ 8 min: "+yes(setup <= 8*time.Minute))

	var first float64
	for pass := 1; pass <= o.pgPasses; pass++ {
		progress("  paging as admin, pass %d", pass)
		meter := startCPU(srv)
		p, err := sub.pageAll(ctx, adminLogin, adminPassword, n)
		use := meter.stop()
		if err != nil {
			errs.add(err)
			return sec, err
		}
		pl := p.pageLat.sorted()
		rps := rate(float64(p.records), p.elapsed)
		label := fmt.Sprintf("pass %d: ", pass)
		sec.add(label+"records seen", fmt.Sprintf("%d in %d pages, %v", p.records, p.pages, p.elapsed.Round(time.Millisecond)), strconv.Itoa(n))
		value := fmt.Sprintf("**%.0f**", rps)
		if pass == 1 {
			first = rps
		} else {
			value += fmt.Sprintf(" (%.2f× pass 1)", rps/first)
		}
		sec.add(label+"**records/s**", value, "≥ 20,000 (issue 3's aim on SQLite): "+yes(rps >= 20000))
		sec.add(label+"page p50 / p99 / max", ms(pl.pct(.5))+" / "+ms(pl.pct(.99))+" / "+ms(pl.pct(1)), "")
		sec.add(label+"CPU", use.String(), "")
		if p.records != n {
			sec.note("**pass %d saw %d records, expected %d**", pass, p.records, n)
		}
	}
	sec.note("Records are internal/testenv.BenchRecording(\"%s\", i), i < %d: the documents of the store benchmarks (about %d B of JSON each), "+
		"one call every 26 s from %s, 200 agents, a partition on every third. They are written with COPY into `recordings` in one transaction, "+
		"their `recording_terms` with the SQL the store uses, then VACUUM ANALYZE (what autovacuum would soon do). No media rows.",
		tenant, n, len(testenv.BenchRecording(tenant, 0).Doc), testenv.BenchStart.Format("2006-01-02"))
	sec.note("Server: `callvault serve -db postgres://…/%s` (pool default 16 connections), media in its data directory (unused). "+
		"The admin (access group /) sees everything; the client follows `next` and decodes each page (records as json.RawMessage).", env.databases[0])
	return sec, nil
}

type loadResult struct {
	copy, terms, vacuum time.Duration
	termRows            int64
	dbBytes             int64
}

// bulkLoad writes recordings 0 to n-1 of testenv.BenchRecording straight
// into the database, as internal/postgres's benchmark does (bulkInsert in
// bench_test.go): COPY of the rows, then their terms from the same lists
// with the store's SQL (insertTermsSQL in recording.go), in one
// transaction; then VACUUM ANALYZE. The paging afterwards checks that
// the server sees all of them.
func bulkLoad(ctx context.Context, dbURL string, n int) (loadResult, error) {
	var res loadResult
	conn, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		return res, err
	}
	defer conn.Close(context.Background())
	ms := func(t time.Time) int64 {
		if t.IsZero() {
			return 0
		}
		return t.UnixMilli()
	}
	list := func(l []string) []string {
		if l == nil {
			return []string{}
		}
		return l
	}
	t0 := time.Now()
	err = pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
		i := 0
		_, err := tx.CopyFrom(ctx, pgx.Identifier{"recordings"},
			[]string{"tenant", "id", "start_ms", "stop_ms", "caller", "dialed",
				"agents", "access_groups", "partitions", "media_types", "doc", "created_ms", "updated_ms"},
			pgx.CopyFromFunc(func() ([]any, error) {
				if i == n {
					return nil, nil
				}
				if i%50_000 == 0 && ctx.Err() != nil {
					return nil, ctx.Err()
				}
				r := testenv.BenchRecording(tenant, i)
				i++
				return []any{r.Tenant, r.ID, ms(r.StartTime), ms(r.StopTime), r.CallerPhoneNumber, r.DialedPhoneNumber,
					list(r.Agents), list(r.Groups), list(r.Partitions), list(r.MediaTypes),
					[]byte(r.Doc), ms(r.CreatedAt), ms(r.UpdatedAt)}, nil
			}))
		if err != nil {
			return fmt.Errorf("COPY: %w", err)
		}
		res.copy = time.Since(t0)
		progress("  COPY of %d rows took %v; terms", n, res.copy.Round(time.Millisecond))
		t1 := time.Now()
		tag, err := tx.Exec(ctx, `INSERT INTO recording_terms (rid, kind, value)
			SELECT r.rid, t.kind, t.value FROM recordings r
			CROSS JOIN LATERAL (
				          SELECT 'a', unnest(r.agents)
				UNION ALL SELECT 'g', unnest(r.access_groups)
				UNION ALL SELECT 'p', unnest(r.partitions)
				UNION ALL SELECT 'm', unnest(r.media_types)
			) AS t (kind, value)
			WHERE r.tenant = $1 AND t.value <> ''
			ON CONFLICT DO NOTHING`, tenant)
		if err != nil {
			return fmt.Errorf("terms: %w", err)
		}
		res.termRows = tag.RowsAffected()
		res.terms = time.Since(t1)
		return nil
	})
	if err != nil {
		return res, err
	}
	progress("  terms took %v; VACUUM ANALYZE", res.terms.Round(time.Millisecond))
	t2 := time.Now()
	if _, err := conn.Exec(ctx, `VACUUM (ANALYZE) recordings, recording_terms`); err != nil {
		return res, fmt.Errorf("VACUUM ANALYZE: %w", err)
	}
	res.vacuum = time.Since(t2)
	if err := conn.QueryRow(ctx, `SELECT pg_database_size(current_database())`).Scan(&res.dbBytes); err != nil {
		return res, err
	}
	return res, nil
}

// ---------------------------------------------------------------- replicas

func (st *state) replicasScenario(ctx context.Context) (sec *section, err error) {
	o := st.o
	n := o.replicasN
	sec = &section{title: fmt.Sprintf("replicas: ingest of %d recordings (one %d-byte audio/mp3 PUT + one metadata PUT each) through one server, "+
		"then %d more through two replicas, %d clients in all, on one PostgreSQL + MinIO", n, o.size, n, o.conc)}
	sec.note("Load average before the scenario: %s.", loadAvg())
	dir := filepath.Join(st.dir, "replicas")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return sec, err
	}
	sub := &state{dir: dir, o: o, bin: st.bin}
	env, err := sub.scaleEnv("replicas", true)
	if err != nil {
		return sec, err
	}
	defer func() { err = errors.Join(err, env.cleanup()) }()
	db, err := env.createDatabase(ctx)
	if err != nil {
		return sec, err
	}
	bucket, err := env.createBucket(ctx)
	if err != nil {
		return sec, err
	}
	spec := serverSpec{name: "replica-a", db: db, blob: env.blobURL(bucket), env: env.serverEnv(newMasterKey())}
	a, err := startServer(ctx, st.bin, dir, spec)
	if err != nil {
		return sec, err
	}
	st.started = append(st.started, a)
	defer func() { err = errors.Join(err, a.stop()) }()
	sub.srv = a

	type phase struct {
		label string
		r     putResult
		cpu   cpuUse
		errs  *errLog
	}
	ingest := func(label, prefix string, servers ...*server) phase {
		progress("  %s: %d recordings, %d clients over %d server(s)", label, n, o.conc, len(servers))
		sub.writers = servers
		errs := newErrLog(o.errorsMax)
		meter := startCPU(servers...)
		r := sub.putRecordings(ctx, prefix, n, o.conc, o.size, nil, nil, errs)
		return phase{label: label, r: r, cpu: meter.stop(), errs: errs}
	}
	one := ingest("one server", "one", a)
	if ctx.Err() != nil {
		return sec, ctx.Err()
	}
	spec.name, spec.reuse = "replica-b", true
	b, err := startServer(ctx, st.bin, dir, spec)
	if err != nil {
		return sec, err
	}
	st.started = append(st.started, b)
	defer func() { err = errors.Join(err, b.stop()) }()
	two := ingest("two replicas", "two", a, b)
	if ctx.Err() != nil {
		return sec, ctx.Err()
	}

	var rates [2]float64
	for i, p := range []phase{one, two} {
		rates[i] = rate(float64(p.r.ok), p.r.elapsed)
		rec, media, meta := p.r.recLat.sorted(), p.r.mediaLat.sorted(), p.r.metaLat.sorted()
		sec.add(p.label+": recordings stored", fmt.Sprintf("%d of %d in %v; failed requests %s", p.r.ok, n, p.r.elapsed.Round(time.Millisecond), p.errs.summary()), strconv.Itoa(n))
		sec.add(p.label+": **recordings/s**", fmt.Sprintf("**%.0f** (%.1f MB/s plaintext)", rates[i], rate(mb(int64(p.r.ok)*o.size), p.r.elapsed)), "")
		sec.add(p.label+": per recording / media PUT / metadata PUT, p50 / p99", fmt.Sprintf("%s / %s; %s / %s; %s / %s",
			ms(rec.pct(.5)), ms(rec.pct(.99)), ms(media.pct(.5)), ms(media.pct(.99)), ms(meta.pct(.5)), ms(meta.pct(.99))), "")
		sec.add(p.label+": CPU", p.cpu.String(), "")
		sec.add(p.label+": CPU per recording", p.cpu.per(p.r.ok), "")
		for _, e := range p.errs.sampleList() {
			sec.note("%s: error: %s", p.label, e)
		}
	}
	if rates[0] > 0 {
		sec.add("**scaling ratio** (two ÷ one)", fmt.Sprintf("**%.2f×**", rates[1]/rates[0]), "")
	}

	// What went in through either replica is there through the other.
	checked, bad := 0, 0
	for i := range min(n, 20) {
		id := fmt.Sprintf("two%07d", i)
		for _, srv := range []*server{a, b} {
			req, err := srv.request(ctx, http.MethodGet, "/api/v2/recordings/"+url.PathEscape(id)+"/play/"+url.PathEscape(id+mediaSuffix), adminLogin, adminPassword, nil, 0)
			if err != nil {
				return sec, err
			}
			req.Header.Set("Range", "bytes=0-1023")
			checked++
			if _, err := srv.call(req, http.StatusPartialContent, false); err != nil {
				bad++
				sec.note("**cross-check: %v**", err)
			}
		}
	}
	sec.add("cross-check: the first 20 recordings of the two-replica phase played (Range 0–1023) through each replica", fmt.Sprintf("%d of %d answered 206", checked-bad, checked), fmt.Sprintf("%d", checked))
	sec.note("Both phases use one database and one bucket (the second phase starts with the first one's %d recordings there). "+
		"In the one-server phase replica B is not running; in the two-replica phase client w uses replica w mod 2, so each gets %d of the %d clients. "+
		"Both replicas have the same CALLVAULT_MASTER_KEY; the tenant and its certificate were made through A. PostgreSQL pool: 16 connections per replica (default).",
		n, o.conc/2, o.conc)
	sec.note("CPU: machine = /proc/stat busy ticks (all CPUs) over the phase; servers = /proc/PID/stat; clients = this process (body generation and HTTP); " +
		"PostgreSQL and MinIO = every process named postgres or minio (/proc/PID/stat); other work = the remainder (other users of the shared machine).")
	if one.errs.count() > 0 || two.errs.count() > 0 || bad > 0 {
		return sec, errors.New("failed requests (see the notes)")
	}
	return sec, nil
}
