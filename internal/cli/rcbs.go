package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/schollz/progressbar/v3"

	"callvault/internal/apiclient"
	"callvault/internal/backup"
	"callvault/internal/backup/config"
	"callvault/internal/certs"
	"callvault/internal/cms"
)

// rcbsCommands is rcbs's table. "backup" is what runs when the command
// line starts with a flag, as the guide's "rcbs -config config.properties".
var rcbsCommands = []command{
	{"backup", "back up the period config.properties sets (the default: rcbs -config FILE [-verify s3|gws])", func(a *App) runner { return &backupMain{app: a} }},
	{"decrypt", "decrypt a downloaded file, as the guide's openssl cms -decrypt", func(a *App) runner { return &decryptMain{app: a} }},
	{"check", "verify every downloaded file against its record (size, SHA-256) and that the key opens it", func(a *App) runner { return &checkMain{app: a} }},
	{"estimate", "estimate the disk space a day of recordings needs (the guide's formulas)", func(a *App) runner { return &estimateMain{app: a} }},
}

// RunRCBS runs the rcbs command line args and returns the exit code.
func RunRCBS(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) > 0 && strings.HasPrefix(args[0], "-") && !isHelpFlag(args[0]) && strings.TrimLeft(args[0], "-") != "decrypt" {
		args = append([]string{"backup"}, args...)
	}
	return newApp("rcbs", rcbsCommands, stdin, stdout, stderr).Run(ctx, args)
}

func isHelpFlag(s string) bool {
	switch s {
	case "-h", "--h", "-help", "--help":
		return true
	}
	return false
}

// backupMain is "rcbs -config config.properties [-verify s3|gws]".
type backupMain struct {
	app     *App
	config  string
	verify  string
	logPath string
	cfg     *config.Config
}

func (m *backupMain) ParseFlags(args []string) error {
	fs := newFlagSet("backup")
	fs.StringVar(&m.config, "config", "", "the config.properties file (required)")
	fs.StringVar(&m.verify, "verify", "", "check the connection instead of backing up: gws (the web service) or s3 (the media bucket)")
	fs.StringVar(&m.logPath, "log", "", "log file (default: rcbs.log beside the config file)")
	positional, err := m.app.parseFlags(fs, "-config config.properties [-verify s3|gws] [-log FILE]", args)
	if err != nil {
		return err
	}
	switch {
	case m.config == "":
		return usagef("-config is required")
	case m.verify != "" && m.verify != "s3" && m.verify != "gws":
		return usagef("-verify takes s3 or gws, not %q", m.verify)
	}
	if err := noPositional(positional); err != nil {
		return err
	}
	cfg, err := config.Load(m.config)
	var cfgErr *config.Error
	if errors.As(err, &cfgErr) {
		return &usageError{msg: cfgErr.Error()}
	}
	if err != nil {
		return err
	}
	// The first folder of recordingFolderFormat lies beside rcbs's own
	// manifests and receipts in targetDir/<tenant>.
	if folder, err := config.FolderPath(cfg.RecordingFolderFormat, time.Date(2018, 2, 12, 19, 30, 14, 0, time.UTC)); err == nil {
		if err := backup.CheckFolderRoot(folder); err != nil {
			return usagef("%s: recordingFolderFormat %q: %v", m.config, cfg.RecordingFolderFormat, err)
		}
	}
	m.cfg = cfg
	return nil
}

// credentials reads GWS_USERNAME and GWS_PASSWORD; they are never printed.
func (m *backupMain) credentials() (string, string, error) {
	user, okUser := m.app.LookupEnv("GWS_USERNAME")
	password, okPassword := m.app.LookupEnv("GWS_PASSWORD")
	if !okUser || user == "" || !okPassword || password == "" {
		return "", "", usagef("set GWS_USERNAME (user@tenant) and GWS_PASSWORD in the environment")
	}
	return user, password, nil
}

// rcbsBackoff, when set, replaces the client's pause between attempts
// (tests shorten it; the retry policy itself stays).
var rcbsBackoff func(n int) time.Duration

// rcbsLimits bound the JSON answers read; zero fields are apiclient's
// defaults (tests lower them).
var rcbsLimits apiclient.Limits

// rcbsReceiptWait is the most a run waits at its end for its receipts to
// be sent; rcbsReceiptBackoff, when set, replaces the sender's pause
// between failed attempts (tests shorten both).
var (
	rcbsReceiptWait    = 30 * time.Second
	rcbsReceiptBackoff func(n int) time.Duration
)

func (m *backupMain) client() (*apiclient.Client, error) {
	user, password, err := m.credentials()
	if err != nil {
		return nil, err
	}
	timeouts := apiclient.Timeouts{Connect: m.cfg.ConnectTimeout, ResponseHeader: m.cfg.ResponseTimeout, Read: m.cfg.ReadTimeout}
	transport := apiclient.NewTransport(timeouts)
	if proxy := m.cfg.GWSProxyURL(); proxy != nil {
		transport.Proxy = http.ProxyURL(proxy)
	}
	transport.MaxIdleConnsPerHost = 64
	return &apiclient.Client{
		Prefix: m.cfg.GWSURIPrefix, RecordingsURI: m.cfg.GWSRecordingsURI, SettingsURI: m.cfg.GWSSettingsURI,
		User: user, Password: password,
		// No overall deadline: a large media file may take hours. The
		// transport's timeouts and the client's read timeout end a request
		// whose server stops answering.
		HTTP: &http.Client{Transport: transport}, Timeouts: timeouts, Backoff: rcbsBackoff, Limits: rcbsLimits,
	}, nil
}

// reservedInTarget are the names of files rcbs keeps directly in target
// besides its state and lock: the log and the config file when they lie
// there. A tenant folder may not take one of them.
func (m *backupMain) reservedInTarget(target, logPath string) []string {
	var names []string
	absTarget, err := filepath.Abs(target)
	if err != nil {
		return nil
	}
	for _, p := range []string{logPath, m.config} {
		if abs, err := filepath.Abs(p); err == nil && filepath.Dir(abs) == absTarget {
			names = append(names, filepath.Base(abs))
		}
	}
	return names
}

func (m *backupMain) Run(ctx context.Context) error {
	for _, w := range m.cfg.Warnings {
		fmt.Fprintf(m.app.Stderr, "rcbs: warning: %s\n", w)
	}
	client, err := m.client()
	if err != nil {
		return err
	}
	if m.verify != "" {
		return m.runVerify(ctx, client)
	}
	// Credentials first: a refused login leaves targetDir untouched.
	me, err := client.Me(ctx)
	if err != nil {
		if apiclient.IsAuth(err) {
			return fmt.Errorf("%w: %v", backup.ErrAuth, err)
		}
		if errors.Is(err, apiclient.ErrTooLarge) {
			return fmt.Errorf("cannot read who the credentials belong to: %w", err)
		}
		return fmt.Errorf("cannot reach the web service: %w", err)
	}
	target := filepath.FromSlash(m.cfg.TargetDir)
	logPath := m.logPath
	if logPath == "" {
		logPath = filepath.Join(filepath.Dir(m.config), "rcbs.log")
	}
	// The tenant names a folder in targetDir: checked before anything is
	// created there.
	if err := backup.CheckTenant(me.Tenant, m.reservedInTarget(target, logPath)...); err != nil {
		return err
	}
	var s3src *backup.S3Source
	if !m.cfg.MetadataOnly {
		if s3src, err = m.mediaFromS3(ctx, client); err != nil {
			return err
		}
	}
	lock, err := backup.Acquire(target, m.app.Now())
	if err != nil {
		return err
	}
	defer lock.Release()

	logFile, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("cannot open the log file %s: %w", logPath, err)
	}
	defer logFile.Close()
	log := slog.New(slog.NewTextHandler(logFile, nil))
	for _, line := range m.cfg.Summary() {
		log.Info(line)
	}

	last, err := backup.ReadState(target)
	if err != nil {
		return err
	}
	if m.cfg.SkipLastRecordingCheck {
		last = nil
	}
	from, to := m.cfg.Period(m.app.Now(), last)
	windows := config.Windows(from, to, m.cfg.ShardBy)
	opts := backup.Options{
		TargetDir: target, Tenant: me.Tenant,
		FolderPath:   func(t time.Time) (string, error) { return config.FolderPath(m.cfg.RecordingFolderFormat, t) },
		MediaPattern: m.cfg.MediaTypePattern, MetadataOnly: m.cfg.MetadataOnly,
		Threads: 1, Total: m.cfg.TotalRcbsInstances, ID: m.cfg.RcbsInstanceID, InstanceOf: config.InstanceOf,
		Include: m.cfg.MetadataPropertiesInclude, Exclude: m.cfg.MetadataPropertiesExclude,
		Windows: windows, PeriodStart: from, PeriodEnd: to,
	}
	if m.cfg.DownloadMode == config.DownloadMultithread {
		opts.Threads = max(m.cfg.NumThreads, 1)
	}
	if m.cfg.EncryptionKeyBits() == 256 {
		opts.Cipher = cms.AES256CBC
	}
	if m.cfg.EncryptionCertificate != "" {
		pem, err := os.ReadFile(m.cfg.EncryptionCertificate)
		if err != nil {
			return fmt.Errorf("cannot read encryptionCertificate: %w", pathless(err))
		}
		if opts.EncryptFor, err = certs.ParseCertificatePEM(pem); err != nil {
			return fmt.Errorf("encryptionCertificate %s: %w", m.cfg.EncryptionCertificate, err)
		}
	}
	log.Info("period", "from", from, "to", to, "windows", len(windows), "tenant", me.Tenant)
	if s3src != nil {
		log.Info("media come straight from S3", "bucket", s3src.Bucket(), "prefix", s3src.Prefix(), "endpoint", s3src.Endpoint(), "awsProxy", m.cfg.AWSProxy())
	}
	// Receipts go to the server in the background as recordings are
	// verified; those left from the last run go first.
	receipts := &backup.ReceiptSender{Client: client, Log: log, File: filepath.Join(target, me.Tenant, backup.ReceiptsFile), Backoff: rcbsReceiptBackoff}
	if err := receipts.Start(ctx); err != nil {
		log.Warn("receipts", "err", err)
	}
	console := newConsole(m.app.Stdout)
	engine := &backup.Engine{Client: client, S3: s3src, Options: opts, Reporter: console, Log: log, Now: m.app.Now, Receipts: receipts}
	res, runErr := engine.Run(ctx)
	console.finish()
	if res != nil {
		m.summary(res, log)
	}
	wait := rcbsReceiptWait
	if ctx.Err() != nil {
		wait = 0 // interrupted: keep them for the next run, at once
	}
	stats := receipts.Finish(wait)
	line := fmt.Sprintf("receipts: %d accepted, %d rejected, %d pending", stats.Accepted, stats.Rejected, stats.Pending)
	fmt.Fprintln(m.app.Stdout, line)
	log.Info(line, "stopped", stats.Stopped)
	if stats.SaveErr != nil {
		fmt.Fprintf(m.app.Stderr, "rcbs: warning: cannot keep the %d unsent receipt(s) for the next run: %v\n", stats.Pending, stats.SaveErr)
	}
	if runErr != nil {
		log.Error("run stopped", "err", runErr)
		return runErr
	}
	if n := len(res.Conflicts); n > 0 {
		more := ""
		if n > 1 {
			more = fmt.Sprintf(" (and %d more media file(s) like it; see %s)", n-1, logPath)
		}
		return fmt.Errorf("%s%s; %s was not advanced", res.Conflicts[0], more, backup.StateFile)
	}
	if res.Failed > 0 {
		return fmt.Errorf("%d file(s) failed; see %s; %s was not advanced", res.Failed, logPath, backup.StateFile)
	}
	return nil
}

// summary prints the guide's closing line and, each on a line of its
// own, what it does not count, to the console and the log. Failures go
// to stderr (the first five; a content conflict is the run's error line
// instead).
func (m *backupMain) summary(res *backup.Result, log *slog.Logger) {
	line := fmt.Sprintf("Finished handling current batch: (number downloaded files: %d + number of skipped files: %d + number of failed download: %d) out of total: %d",
		res.Downloaded, res.Skipped, res.Failed, res.Total)
	fmt.Fprintln(m.app.Stdout, line)
	log.Info(line, "pending", res.Pending, "filtered", res.Filtered, "rewrapped", res.Rewrapped, "repaired", res.Repaired,
		"stateAdvanced", res.StateAdvanced, "state", res.StateTime)
	var notes []string
	if res.Filtered > 0 {
		notes = append(notes, fmt.Sprintf("%d media file(s) not matching mediaTypePattern were not downloaded", res.Filtered))
	}
	if res.Pending > 0 {
		notes = append(notes, fmt.Sprintf("%d media file(s) not yet stored on the server; the next run fetches them", res.Pending))
	}
	if res.Rewrapped > 0 {
		notes = append(notes, fmt.Sprintf("%d media file(s) re-wrapped on the server (same content, new certificate) replaced their verified copies", res.Rewrapped))
	}
	if res.Repaired > 0 {
		notes = append(notes, fmt.Sprintf("%d media file(s) damaged on disk were fetched again", res.Repaired))
	}
	if res.StateNote != "" {
		notes = append(notes, backup.StateFile+" "+res.StateNote)
	}
	for _, n := range notes {
		fmt.Fprintln(m.app.Stdout, n)
		log.Info(n)
	}
	shown := 0
	for _, f := range res.Failures {
		log.Error("failed", "file", f)
		if shown < 5 && !slices.Contains(res.Conflicts, f) {
			fmt.Fprintf(m.app.Stderr, "rcbs: failed: %s\n", f)
			shown++
		}
	}
}

// runVerify checks the connection and says what works.
func (m *backupMain) runVerify(ctx context.Context, client *apiclient.Client) error {
	for _, line := range m.cfg.Summary() {
		fmt.Fprintln(m.app.Stdout, line)
	}
	me, err := client.Me(ctx)
	if err != nil {
		return fmt.Errorf("cannot verify the connection to %s: %w", m.cfg.GWSURIPrefix, err)
	}
	fmt.Fprintf(m.app.Stdout, "Successfully verified connection to %s as %s@%s\n", m.cfg.GWSURIPrefix, me.UserName, me.Tenant)
	settings, err := client.Settings(ctx)
	if err != nil {
		return fmt.Errorf("cannot read the backup settings at %s: %w", m.cfg.SettingsURL(), err)
	}
	fmt.Fprintf(m.app.Stdout, "Successfully read the backup settings: media come from %s\n", settings.MediaSource)
	if m.verify == "s3" {
		if settings.S3 == nil {
			fmt.Fprintln(m.app.Stdout, "This server serves media through its API; there is no S3 bucket to verify and no AWS credentials are needed.")
			return nil
		}
		return m.verifyS3(ctx, settings.S3)
	}
	return nil
}

// verifyS3 checks that the bucket and prefix the server gave can be read
// with the AWS credentials, printing the guide's verification lines.
func (m *backupMain) verifyS3(ctx context.Context, loc *apiclient.S3Location) error {
	src, err := m.s3Source(loc)
	if err != nil {
		return err
	}
	out := m.app.Stdout
	if proxy := m.cfg.AWSProxy(); proxy != "" {
		fmt.Fprintf(out, "Using proxy %s for Amazon S3\n", proxy)
	} else {
		fmt.Fprintln(out, "Proxy is not enabled for Amazon S3 host: port:")
	}
	fmt.Fprintln(out, "Attempting to validate connection to AWS s3")
	fmt.Fprintf(out, "Checking for Key: %s Bucket: %s\n", loc.Prefix, loc.Bucket)
	if err := src.Verify(ctx); err != nil {
		fmt.Fprintf(out, "Failed to Verify Connection to %s/%s\n", loc.Bucket, loc.Prefix)
		return err
	}
	fmt.Fprintf(out, "Successfully Verified Connection to %s/%s\n", loc.Bucket, loc.Prefix)
	return nil
}

// mediaFromS3 returns the source media are read from when the server keeps
// them in S3 and AWS credentials are set; nil otherwise, and media come
// through the API as for any server.
func (m *backupMain) mediaFromS3(ctx context.Context, client *apiclient.Client) (*backup.S3Source, error) {
	if id, secret := m.awsCredentials(); id == "" || secret == "" {
		return nil, nil
	}
	settings, err := client.Settings(ctx)
	switch {
	case apiclient.IsNotFound(err): // a server that only serves media itself
		return nil, nil
	case apiclient.IsAuth(err):
		return nil, fmt.Errorf("%w: %v", backup.ErrAuth, err)
	case err != nil:
		return nil, fmt.Errorf("cannot read the backup settings at %s: %w", m.cfg.SettingsURL(), err)
	case settings.MediaSource != "s3" || settings.S3 == nil:
		return nil, nil
	}
	return m.s3Source(settings.S3)
}

// s3Source makes the S3 client for a bucket and prefix the server gave;
// an endpoint the server gave must be awsEndpoint.
func (m *backupMain) s3Source(loc *apiclient.S3Location) (*backup.S3Source, error) {
	id, secret := m.awsCredentials()
	if id == "" || secret == "" {
		return nil, usagef("set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY in the environment to read media from S3")
	}
	return backup.NewS3Source(backup.S3Config{
		Bucket: loc.Bucket, Prefix: loc.Prefix, Region: loc.Region,
		// The server names the endpoint; it is used only when it is
		// awsEndpoint, else NewS3Source refuses it and the run fails.
		Endpoint: loc.Endpoint, TrustedEndpoint: m.cfg.AWSEndpoint,
		AccessKeyID: id, SecretAccessKey: secret,
		Proxy: m.cfg.AWSProxy(), PayloadSigning: m.cfg.UsePayloadSigning,
		Timeouts: apiclient.Timeouts{Connect: m.cfg.ConnectTimeout, ResponseHeader: m.cfg.ResponseTimeout, Read: m.cfg.ReadTimeout},
	})
}

// awsCredentials reads AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY; they
// are never printed.
func (m *backupMain) awsCredentials() (id, secret string) {
	id, _ = m.app.LookupEnv("AWS_ACCESS_KEY_ID")
	secret, _ = m.app.LookupEnv("AWS_SECRET_ACCESS_KEY")
	return id, secret
}

// console prints the guide's lines and a live progress bar.
type console struct {
	mu    sync.Mutex
	out   io.Writer
	bar   *progressbar.ProgressBar
	files int
	done  int
	to    time.Time
}

func newConsole(out io.Writer) *console { return &console{out: out} }

// guideTime is how the guide's console writes times.
const guideTime = "01/02/2006 15:04:05"

func (c *console) WindowStarted(from, to time.Time, overall int, query string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	fmt.Fprintf(c.out, "\nStarting download recordings <from %s to %s UTC> Overall: %d%%\nURL: %s\n\nDownloading recordings before %s UTC\n",
		from.UTC().Format(guideTime), to.UTC().Format(guideTime), overall, query, to.UTC().Format(guideTime))
	c.to, c.files, c.done = to, 0, 0
	c.bar = progressbar.NewOptions64(-1, progressbar.OptionSetWriter(c.out), progressbar.OptionShowBytes(true),
		progressbar.OptionSetDescription("files 0"), progressbar.OptionThrottle(200*time.Millisecond),
		progressbar.OptionClearOnFinish(), progressbar.OptionSetVisibility(isTerminal(c.out)))
}

func (c *console) Transferred(n int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.bar != nil {
		c.bar.Add64(n)
	}
}

func (c *console) FileDone() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.done++
	if c.bar != nil {
		c.bar.Describe(fmt.Sprintf("files %d", c.done))
	}
}

func (c *console) WindowDone() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.bar != nil {
		c.bar.Finish()
		c.bar = nil
	}
	fmt.Fprintf(c.out, "|=====| Done (%d files)\n", c.done)
}

func (c *console) finish() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.bar != nil {
		c.bar.Finish()
		c.bar = nil
	}
	fmt.Fprintln(c.out)
}

// isTerminal reports whether w is a character device (a terminal): the
// live bar is drawn only there, so cron logs stay readable.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}
