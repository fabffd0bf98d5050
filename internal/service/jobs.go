package service

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"path"
	"runtime"
	"slices"
	"sync"
	"time"

	"callvault/internal/audit"
	"callvault/internal/certs"
	"callvault/internal/cms"
	"callvault/internal/vault"
)

// Job kinds. Each is worked by Work; internal/jobs registers them with the
// queue.
const (
	// KindSweep is the periodic job (no tenant) that queues one
	// KindSweepTenant per tenant.
	KindSweep       = "retention_sweep"
	KindSweepTenant = "retention_sweep_tenant"
	// KindDeleteBlobs deletes the media objects of a deleted recording;
	// queued in the deletion's transaction, so a crash between the
	// metadata and the objects leaves no orphan for long.
	KindDeleteBlobs = "delete_blobs"
	// KindRewrap moves every file encrypted for one certificate to
	// another without re-encrypting the content.
	KindRewrap = "rewrap"
)

// Kinds lists every job kind.
func Kinds() []string {
	return []string{KindSweep, KindSweepTenant, KindDeleteBlobs, KindRewrap, KindMux, KindAnalyze, KindReanalyze, KindQMPlan}
}

// SweepTenantArgs are a KindSweepTenant job's arguments.
type SweepTenantArgs struct {
	Tenant string `json:"tenant"`
}

// DeleteBlobsArgs are a KindDeleteBlobs job's arguments.
type DeleteBlobsArgs struct {
	Tenant string   `json:"tenant"`
	Keys   []string `json:"keys"`
}

// RewrapArgs are a KindRewrap job's arguments.
type RewrapArgs struct {
	Tenant string `json:"tenant"`
	From   string `json:"from"`
	To     string `json:"to"`
	// Verify is how each new object is checked before the swap: "full"
	// decrypts it with the new key and compares the plaintext's SHA-256
	// with contentSha256 (the default); "ciphertext" checks, without
	// decrypting, that the new key opens the same content key and the
	// encrypted content is the same bytes. A file whose contentSha256 is
	// not known is always checked in full, and its hash recorded.
	Verify string `json:"verify,omitempty"`
}

// JobQueue is what the service needs of the queue besides inserting
// (which the store does, in its transactions): the queue's state of jobs.
type JobQueue interface {
	States(ctx context.Context, ids []int64) (map[int64]vault.JobInfo, error)
}

// JobRun is one attempt at a job, as the queue hands it over.
type JobRun struct {
	ID      int64
	Kind    string
	Args    json.RawMessage
	Attempt int
	// Until is when the attempt should yield (return ErrContinue) so the
	// queue can reschedule it: long jobs run in slices.
	Until time.Time
}

// ErrContinue asks the queue to run the job again at once: it stopped at
// the end of its slice with work left (not a failure; no attempt used).
var ErrContinue = errors.New("job continues in another slice")

// Work runs one attempt at a job.
func (s *Service) Work(ctx context.Context, run JobRun) error {
	switch run.Kind {
	case KindSweep:
		return s.queueTenantSweeps(ctx)
	case KindSweepTenant:
		var a SweepTenantArgs
		if err := json.Unmarshal(run.Args, &a); err != nil {
			return fmt.Errorf("bad arguments: %w", err)
		}
		if err := s.jobStarted(ctx, a.Tenant, run); err != nil {
			return err
		}
		res, err := s.SweepTenant(ctx, a.Tenant, func(r SweepResult) { s.sweepProgress(ctx, run.ID, r) })
		s.sweepProgress(ctx, run.ID, res)
		if berr := s.queueAnalysisBacklog(ctx, a.Tenant); berr != nil {
			s.log().Warn("cannot queue the analysis backlog", "tenant", a.Tenant, "err", berr)
		}
		if perr := s.queueDuePlans(ctx, a.Tenant); perr != nil {
			s.log().Warn("cannot queue the due QM plans", "tenant", a.Tenant, "err", perr)
		}
		return err
	case KindDeleteBlobs:
		var a DeleteBlobsArgs
		if err := json.Unmarshal(run.Args, &a); err != nil {
			return fmt.Errorf("bad arguments: %w", err)
		}
		if err := s.jobStarted(ctx, a.Tenant, run); err != nil {
			return err
		}
		for _, key := range a.Keys {
			s.played.forget(key)
			if err := s.Blobs.Delete(ctx, key); err != nil {
				return fmt.Errorf("cannot delete blob %s: %w", key, err)
			}
		}
		return s.Store.SetJobProgress(ctx, run.ID, vault.JobProgress{Done: int64(len(a.Keys)), Total: int64(len(a.Keys))})
	case KindRewrap:
		var a RewrapArgs
		if err := json.Unmarshal(run.Args, &a); err != nil {
			return fmt.Errorf("bad arguments: %w", err)
		}
		if err := s.jobStarted(ctx, a.Tenant, run); err != nil {
			return err
		}
		return s.rewrap(ctx, run, a)
	case KindMux:
		var a MuxArgs
		if err := json.Unmarshal(run.Args, &a); err != nil {
			return fmt.Errorf("bad arguments: %w", err)
		}
		if err := s.jobStarted(ctx, a.Tenant, run); err != nil {
			return err
		}
		return s.muxJob(ctx, run, a)
	case KindAnalyze:
		var a AnalyzeArgs
		if err := json.Unmarshal(run.Args, &a); err != nil {
			return fmt.Errorf("bad arguments: %w", err)
		}
		if err := s.jobStarted(ctx, a.Tenant, run); err != nil {
			return err
		}
		err := s.analyzeJob(ctx, run, a)
		if err != nil && run.Attempt >= analyzeAttempts {
			s.analysisGaveUp(ctx, a, run)
		}
		return err
	case KindReanalyze:
		var a ReanalyzeArgs
		if err := json.Unmarshal(run.Args, &a); err != nil {
			return fmt.Errorf("bad arguments: %w", err)
		}
		if err := s.jobStarted(ctx, a.Tenant, run); err != nil {
			return err
		}
		return s.reanalyzeJob(ctx, run, a)
	case KindQMPlan:
		var a QMPlanArgs
		if err := json.Unmarshal(run.Args, &a); err != nil {
			return fmt.Errorf("bad arguments: %w", err)
		}
		if err := s.jobStarted(ctx, a.Tenant, run); err != nil {
			return err
		}
		return s.qmPlanJob(ctx, run, a)
	}
	return fmt.Errorf("unknown job kind %q", run.Kind)
}

// jobStarted writes the audit entry of a job attempt's start.
func (s *Service) jobStarted(ctx context.Context, tenant string, run JobRun) error {
	if tenant == "" {
		return nil
	}
	return s.record(ctx, s.entry(ctx, tenant, nil, "job.start", fmt.Sprint(run.ID), vault.OutcomeOK,
		audit.Details("kind", run.Kind, "attempt", run.Attempt)))
}

func (s *Service) sweepProgress(ctx context.Context, jobID int64, r SweepResult) {
	summary, _ := json.Marshal(r)
	if err := s.Store.SetJobProgress(ctx, jobID, vault.JobProgress{Done: int64(r.Deleted), Total: int64(r.Deleted + r.Held()), Summary: string(summary)}); err != nil {
		s.log().Warn("cannot record sweep progress", "job", jobID, "err", err)
	}
}

// queueTenantSweeps queues one sweep per tenant: each shows in its
// tenant's job list, and replicas share the work.
func (s *Service) queueTenantSweeps(ctx context.Context) error {
	tenants, err := s.Store.Tenants(ctx)
	if err != nil {
		return err
	}
	var fx vault.Effects
	for _, t := range tenants {
		fx.Jobs = append(fx.Jobs, vault.Job{Tenant: t.Name, Kind: KindSweepTenant, Args: jobArgs(SweepTenantArgs{Tenant: t.Name}), Unique: true})
	}
	return s.Store.Commit(ctx, fx)
}

// Jobs lists the tenant's jobs, newest first, before beforeID (admins).
func (s *Service) Jobs(ctx context.Context, caller *vault.User, beforeID int64, limit int) ([]vault.JobInfo, error) {
	if err := requireRole(caller, vault.RoleAdmin); err != nil {
		return nil, err
	}
	if limit <= 0 || limit > MaxSearchLimit {
		limit = 100
	}
	list, err := s.Store.JobInfos(ctx, caller.Tenant, beforeID, limit)
	if err != nil {
		return nil, err
	}
	return s.withStates(ctx, list)
}

// Job returns one job of the tenant (admins).
func (s *Service) Job(ctx context.Context, caller *vault.User, id int64) (*vault.JobInfo, error) {
	if err := requireRole(caller, vault.RoleAdmin); err != nil {
		return nil, err
	}
	j, err := s.Store.JobInfo(ctx, caller.Tenant, id)
	if errors.Is(err, vault.ErrNotFound) {
		return nil, notVisible("job", fmt.Sprint(id))
	}
	if err != nil {
		return nil, err
	}
	list, err := s.withStates(ctx, []vault.JobInfo{j})
	if err != nil {
		return nil, err
	}
	return &list[0], nil
}

// withStates adds the queue's state to progress rows.
func (s *Service) withStates(ctx context.Context, list []vault.JobInfo) ([]vault.JobInfo, error) {
	if s.Queue == nil || len(list) == 0 {
		return list, nil
	}
	ids := make([]int64, len(list))
	for i := range list {
		ids[i] = list[i].ID
	}
	states, err := s.Queue.States(ctx, ids)
	if err != nil {
		return nil, err
	}
	for i := range list {
		q, ok := states[list[i].ID]
		if !ok {
			list[i].State = "deleted" // the queue dropped the finished job
			continue
		}
		list[i].State, list[i].Attempt, list[i].MaxAttempts = q.State, q.Attempt, q.MaxAttempts
		list[i].Errors, list[i].Args, list[i].FinishedAt = q.Errors, q.Args, q.FinishedAt
		if list[i].UpdatedAt.Before(q.UpdatedAt) {
			list[i].UpdatedAt = q.UpdatedAt
		}
	}
	return list, nil
}

// StartRewrap queues the job that moves every stored file encrypted for
// alias to certificate to (admins only). Both certificates must exist, the
// tenant must hold alias's private key, and to must be able to encrypt.
func (s *Service) StartRewrap(ctx context.Context, caller *vault.User, alias, to, verify string) (*vault.JobInfo, error) {
	if err := requireRole(caller, vault.RoleAdmin); err != nil {
		return nil, err
	}
	if s.Queue == nil {
		return nil, vault.Errorf(vault.EUNAVAILABLE, "no job queue is running")
	}
	switch verify {
	case "", "full", "ciphertext":
	default:
		return nil, vault.Errorf(vault.EINVALID, `verify must be "full" or "ciphertext"`)
	}
	if to == "" || to == alias {
		return nil, vault.Errorf(vault.EINVALID, `give "to": the alias of another certificate`)
	}
	if _, err := s.Store.Certificate(ctx, caller.Tenant, alias); err != nil {
		return nil, errf(err, "cannot find certificate %q", alias)
	}
	target, err := s.Store.Certificate(ctx, caller.Tenant, to)
	if errors.Is(err, vault.ErrNotFound) {
		return nil, notVisible("certificate", to)
	}
	if err != nil {
		return nil, err
	}
	cert, err := certs.ParseCertificatePEM([]byte(target.CertPEM))
	if err != nil {
		return nil, errf(err, "cannot read certificate %s", to)
	}
	if err := s.canEncrypt(cert); err != nil {
		return nil, vault.Wrap(vault.EINVALID, err, "certificate %s cannot encrypt: %v", to, err)
	}
	if _, err := s.keyFor(ctx, caller.Tenant, []string{alias}); err != nil {
		return nil, vault.Wrap(vault.ECONFLICT, err, "the private key of %s is not in the keystore: files encrypted for it cannot be re-wrapped", alias)
	}
	args := RewrapArgs{Tenant: caller.Tenant, From: alias, To: to, Verify: verify}
	fx := vault.Effects{
		Jobs:  []vault.Job{{Tenant: caller.Tenant, Kind: KindRewrap, Args: jobArgs(args), CreatedBy: caller.Name, Unique: true}},
		Audit: []vault.AuditEntry{s.entry(ctx, "", caller, "certificate.rewrap", alias, vault.OutcomeOK, audit.Details("to", to, "verify", verify))},
	}
	var jobID int64
	fx.Queued = func(ids []int64) { jobID = ids[0] }
	if err := s.Store.Commit(ctx, fx); err != nil {
		return nil, err
	}
	return s.Job(ctx, caller, jobID)
}

// rewrap works one slice of a rewrap job. Each file: stream the old object
// through cms.Rewrap into a new object, check the new object, swap the
// media row to it in one transaction (compare-and-swap on the old key),
// delete the old object. A crash at any point leaves the row on a whole,
// checked object; the file is redone by the next attempt (an unswapped new
// object may be left behind as an orphan). Files that fail are counted and
// skipped; the job fails at the end if any did, so it is retried.
func (s *Service) rewrap(ctx context.Context, run JobRun, a RewrapArgs) error {
	oldKey, err := s.keyFor(ctx, a.Tenant, []string{a.From})
	if err != nil {
		return err
	}
	target, err := s.Store.Certificate(ctx, a.Tenant, a.To)
	if err != nil {
		return fmt.Errorf("cannot find certificate %s: %w", a.To, err)
	}
	newCert, err := certs.ParseCertificatePEM([]byte(target.CertPEM))
	if err != nil {
		return err
	}
	newKey, err := s.keyFor(ctx, a.Tenant, []string{a.To})
	if err != nil && a.Verify != "ciphertext" {
		return fmt.Errorf("cannot verify with the new key: %w", err)
	}
	from, err := s.Store.Certificate(ctx, a.Tenant, a.From)
	if err != nil {
		return fmt.Errorf("cannot find certificate %s: %w", a.From, err)
	}
	prog, err := s.Store.JobInfo(ctx, a.Tenant, run.ID)
	if err != nil {
		return err
	}
	// Done is counted from what is left on the old certificate, so files
	// swapped by an attempt that died before recording its progress
	// still count; files added for the old certificate meanwhile raise
	// the total.
	left := int64(from.DeployedCount)
	p := vault.JobProgress{Total: max(prog.Total, left)}
	p.Done = p.Total - left
	var afterRec, afterMedia string
	var failures []string
	for {
		batch, err := s.Store.MediaForCertificate(ctx, a.Tenant, a.From, afterRec, afterMedia, 100)
		if err != nil {
			return err
		}
		if len(batch) == 0 {
			break
		}
		// Files are independent: a few at once keep the cores busy with
		// the RSA work (one private-key operation to unwrap, one to
		// check) while others wait on storage.
		var (
			mu      sync.Mutex
			wg      sync.WaitGroup
			feed    = make(chan vault.Media)
			yielded bool
		)
		for range s.rewrapWorkers() {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for m := range feed {
					err := s.rewrapOne(ctx, a, m, oldKey, newCert, newKey)
					mu.Lock()
					if err != nil && ctx.Err() == nil {
						p.Failed++
						failures = append(failures, fmt.Sprintf("%s/%s: %v", m.RecordingID, m.MediaID, err))
						s.log().Error("cannot re-wrap a media file", "tenant", a.Tenant, "recording", m.RecordingID, "media", m.MediaID, "from", a.From, "to", a.To, "err", err)
					} else if err == nil {
						p.Done++
					}
					if (p.Done+p.Failed)%10 == 0 {
						s.setProgress(ctx, run.ID, p, "")
					}
					mu.Unlock()
				}
			}()
		}
		for _, m := range batch {
			if ctx.Err() != nil || time.Now().After(run.Until) {
				yielded = true
				break
			}
			afterRec, afterMedia = m.RecordingID, m.MediaID
			feed <- m
		}
		close(feed)
		wg.Wait()
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if yielded {
			s.setProgress(ctx, run.ID, p, "")
			return ErrContinue
		}
		s.setProgress(ctx, run.ID, p, "")
	}
	summary := fmt.Sprintf("%d files re-wrapped from %s to %s, %d failed", p.Done, a.From, a.To, p.Failed)
	p.Total = p.Done + p.Failed
	s.setProgress(ctx, run.ID, p, summary)
	if len(failures) > 0 {
		return fmt.Errorf("%d files could not be re-wrapped; first: %s", len(failures), failures[0])
	}
	s.log().Info("re-wrap done", "tenant", a.Tenant, "from", a.From, "to", a.To, "files", p.Done)
	return nil
}

func (s *Service) setProgress(ctx context.Context, id int64, p vault.JobProgress, summary string) {
	p.Summary = summary
	if err := s.Store.SetJobProgress(ctx, id, p); err != nil {
		s.log().Warn("cannot record job progress", "job", id, "err", err)
	}
}

// rewrapOne moves one file to the new certificate.
func (s *Service) rewrapOne(ctx context.Context, a RewrapArgs, m vault.Media, oldKey *rsa.PrivateKey, newCert *x509.Certificate, newKey *rsa.PrivateKey) error {
	suffix := make([]byte, 8)
	rand.Read(suffix)
	newBlob := path.Join(a.Tenant, m.RecordingID, m.MediaID, hex.EncodeToString(suffix))
	src, err := s.Blobs.NewRangeReader(ctx, m.BlobKey, 0, -1)
	if err != nil {
		return fmt.Errorf("cannot read the stored file: %w", err)
	}
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	w, err := s.Blobs.NewWriter(wctx, newBlob, "application/pkcs7-mime")
	if err != nil {
		src.Close()
		return err
	}
	sum := sha256.New()
	res, err := cms.Rewrap(io.MultiWriter(w, sum), src, oldKey, nil, []*x509.Certificate{newCert})
	src.Close()
	if err != nil {
		cancel() // aborts the new object
		w.Close()
		return fmt.Errorf("cannot re-wrap: %w", err)
	}
	if err := w.Close(); err != nil {
		return fmt.Errorf("cannot write the re-wrapped file: %w", err)
	}
	discard := func() { s.deleteBlob(newBlob) }
	contentHash, err := s.checkRewrapped(ctx, newBlob, a.Verify, m.ContentSHA256, newKey, newCert, res)
	if err != nil {
		discard()
		return err
	}
	aliases := slices.DeleteFunc(slices.Clone(m.CertAliases), func(x string) bool { return x == a.From || x == a.To })
	aliases = append(aliases, a.To)
	slices.Sort(aliases)
	err = s.Store.SwapMedia(ctx, a.Tenant, vault.MediaSwap{RecordingID: m.RecordingID, MediaID: m.MediaID, OldBlobKey: m.BlobKey,
		NewBlobKey: newBlob, NewSHA256: hex.EncodeToString(sum.Sum(nil)), NewSize: res.Written, NewCertAliases: aliases, ContentSHA256: contentHash})
	if err != nil {
		discard()
		if errors.Is(err, vault.ErrConflict) {
			return nil // the row moved on (deleted, or another attempt swapped it): nothing to do
		}
		return err
	}
	s.deleteBlob(m.BlobKey)
	return nil
}

// checkRewrapped re-reads a new object and returns the content hash to
// record (when the row had none).
func (s *Service) checkRewrapped(ctx context.Context, key, verify, contentSHA256 string, newKey *rsa.PrivateKey, newCert *x509.Certificate, res *cms.RewrapResult) (string, error) {
	r, err := s.Blobs.NewRangeReader(ctx, key, 0, -1)
	if err != nil {
		return "", err
	}
	defer r.Close()
	if verify == "ciphertext" && contentSHA256 != "" {
		if err := cms.VerifyRewrap(r, newKey, newCert, res); err != nil {
			return "", fmt.Errorf("the re-wrapped file does not check: %w", err)
		}
		return "", nil
	}
	if newKey == nil {
		return "", errors.New("no private key of the new certificate to check the file with")
	}
	sum := sha256.New()
	if _, err := cms.Decrypt(sum, r, newKey, newCert); err != nil {
		return "", fmt.Errorf("the new key does not open the re-wrapped file: %w", err)
	}
	got := hex.EncodeToString(sum.Sum(nil))
	if contentSHA256 != "" && got != contentSHA256 {
		return "", fmt.Errorf("the re-wrapped file decrypts to other content (sha256 %s, want %s)", got, contentSHA256)
	}
	if contentSHA256 == "" {
		return got, nil
	}
	return "", nil
}

// rewrapWorkers is how many files a re-wrap works on at once.
func (s *Service) rewrapWorkers() int {
	if s.RewrapWorkers > 0 {
		return s.RewrapWorkers
	}
	return max(2, runtime.GOMAXPROCS(0))
}
