package vault

import (
	"context"
	"encoding/json"
	"time"
)

// AuditEntry is one line of a tenant's audit trail. Entries of a tenant
// form a chain: Hash = SHA-256(PrevHash ‖ canonical JSON of the entry
// without Hash), computed by the store when it appends the entry (see
// internal/audit), so editing any stored field breaks the chain there.
type AuditEntry struct {
	Seq    int64     `json:"seq"`
	Time   time.Time `json:"time"`
	Tenant string    `json:"tenant"`
	User   string    `json:"user"` // "" for the system (retention, jobs)
	Role   string    `json:"role"`
	IP     string    `json:"ip"`
	Action string    `json:"action"` // e.g. media.play, recording.delete
	Target string    `json:"target"` // what it acted on: a recording id, alias, user …
	// Details is a JSON object (canonical: compact, keys sorted) with the
	// action's particulars: search filters, media id and range start, …
	Details  json.RawMessage `json:"details"`
	Outcome  string          `json:"outcome"` // ok, denied, failed
	PrevHash string          `json:"prevHash"`
	Hash     string          `json:"hash"`
}

// Audit outcomes.
const (
	OutcomeOK     = "ok"
	OutcomeDenied = "denied"
	OutcomeFailed = "failed"
)

// AuditHead is what the store records of a tenant's chain besides its
// entries: the last entry appended (Seq, Hash) and the last one deleted by
// audit retention (PrunedSeq, PrunedHash; 0 and "" when none was), where
// the stored chain starts.
type AuditHead struct {
	Seq        int64
	Hash       string
	PrunedSeq  int64
	PrunedHash string
}

// AuditFilter narrows an audit listing. Zero fields do not filter; From
// is inclusive, To exclusive; results are in Seq order after AfterSeq.
type AuditFilter struct {
	From, To time.Time
	User     string
	Action   string // exact, or a prefix ending in '.' (e.g. "media.")
	Target   string
	AfterSeq int64
	Limit    int
}

// Job is a background job to queue in the same transaction as the change
// that calls for it. Args is the job's JSON arguments; Kind names its
// worker.
type Job struct {
	Tenant    string // "" for jobs of no tenant (the periodic sweep)
	Kind      string
	Args      json.RawMessage
	CreatedBy string
	// MaxAttempts is how often the job is tried before it is given up
	// (0: the queue's default).
	MaxAttempts int
	// Unique: not queued when a job of the same kind and arguments is
	// waiting or running (the answer names that job instead).
	Unique bool
}

// Effects are written in the same transaction as the change they go with:
// audit entries appended to their tenant's chain, jobs queued. The zero
// value writes nothing.
type Effects struct {
	Audit []AuditEntry
	Jobs  []Job
	// Queued, when set, is told the ids the queue gave Jobs (a unique job
	// already waiting gives that job's id), inside the transaction; a
	// retried transaction tells it again.
	Queued func(ids []int64)
}

// Add returns fx with more audit entries.
func (fx Effects) Add(entries ...AuditEntry) Effects {
	fx.Audit = append(fx.Audit, entries...)
	return fx
}

// JobInfo is what the API shows of a job: the queue's state with the
// job's own progress.
type JobInfo struct {
	ID          int64      `json:"id"`
	Tenant      string     `json:"-"`
	Kind        string     `json:"kind"`
	State       string     `json:"state"` // available, scheduled, running, retryable, completed, cancelled, discarded
	Attempt     int        `json:"attempt"`
	MaxAttempts int        `json:"maxAttempts"`
	Done        int64      `json:"done"`
	Total       int64      `json:"total"`
	Failed      int64      `json:"failed"`
	Summary     string     `json:"summary,omitempty"`
	Errors      []string   `json:"errors,omitempty"`
	Args        any        `json:"args,omitempty"`
	CreatedBy   string     `json:"createdBy,omitempty"`
	CreatedAt   time.Time  `json:"createdAt"`
	UpdatedAt   time.Time  `json:"updatedAt"`
	FinishedAt  *time.Time `json:"finishedAt,omitempty"`
}

// JobProgress is a job's own account of its work, kept beside the queue's
// row.
type JobProgress struct {
	Done, Total, Failed int64
	Summary             string
}

// LegalHold keeps recordings from deletion until it is released: those
// named by RecordingIDs and every recording, present or future, that
// matches Filter (when set).
type LegalHold struct {
	Tenant       string        `json:"-"`
	ID           string        `json:"id"`
	Name         string        `json:"name"`
	Reason       string        `json:"reason"`
	RecordingIDs []string      `json:"recordingIds,omitempty"`
	Filter       *SearchFilter `json:"-"`
	// FilterQuery is the filter as the API's search parameters
	// (callerPhoneNumber=…&partition=…), kept so it shows as it was given.
	FilterQuery string     `json:"filter,omitempty"`
	CreatedBy   string     `json:"createdBy"`
	CreatedAt   time.Time  `json:"createdAt"`
	ReleasedBy  string     `json:"releasedBy,omitempty"`
	ReleasedAt  *time.Time `json:"releasedAt,omitempty"`
	Count       int64      `json:"count"` // recordings held now (filled by listings)
}

// Active reports whether the hold is in force.
func (h *LegalHold) Active() bool { return h.ReleasedAt == nil }

// Receipt says that a backup client verified a copy of one media file.
type Receipt struct {
	RecordingID string    `json:"recordingId"`
	MediaID     string    `json:"mediaId"`
	SHA256      string    `json:"sha256"`
	By          string    `json:"by,omitempty"`
	At          time.Time `json:"at,omitempty"`
}

// BackupState is what receipts say about a recording: backed up when
// every media file has a receipt.
type BackupState struct {
	BackedUp bool
	At       time.Time // the newest receipt
	By       string
}

// RetentionSettings are a tenant's rules for deleting recordings.
type RetentionSettings struct {
	// Days after a recording stops that it is deleted; 0 keeps it.
	RetentionDays int `json:"retentionDays"`
	// RequireBackup: do not delete a recording without a receipt for
	// every media file…
	RequireBackup bool `json:"requireBackup"`
	// …unless MaxBackupWaitDays (0: for ever) have passed since it fell
	// due; then delete anyway and log an error.
	MaxBackupWaitDays int `json:"maxBackupWaitDays"`
	// AuditRetentionDays: audit entries older are deleted; 0 keeps them.
	AuditRetentionDays int `json:"auditRetentionDays"`
}

// SweepCandidate is a recording past its retention period, with what
// decides whether it may go.
type SweepCandidate struct {
	ID       string
	StopTime time.Time // or, without one, creation time
	Backup   BackupState
	// HeldBy names the active holds that keep it (by id or by filter);
	// filled by the sweeper, not the store.
	HeldBy []string
}

// MediaSwap replaces the stored object of one media file by a re-wrapped
// one: same plaintext, other recipients.
type MediaSwap struct {
	RecordingID, MediaID string
	OldBlobKey           string // compare-and-swap: the swap fails if the row moved on
	NewBlobKey           string
	NewSHA256            string
	NewSize              int64
	NewCertAliases       []string
	ContentSHA256        string // set when the row had none
}

// CustodyStore is the part of the metadata store that keeps custody:
// audit, holds, receipts, jobs' progress. Part of Store.
type CustodyStore interface {
	// Commit writes effects on their own, in one transaction (an audit
	// entry for a read, a job with its audit entry).
	Commit(ctx context.Context, fx Effects) error
	// Audit lists a tenant's entries matching f, in Seq order.
	Audit(ctx context.Context, tenant string, f AuditFilter) ([]AuditEntry, error)
	// ScanAudit calls fn for every entry of tenant from seq 1 on, in
	// order, reading in batches (for verify and export).
	ScanAudit(ctx context.Context, tenant string, fn func(AuditEntry) error) error
	// AuditHead returns where a tenant's chain ends and where its stored
	// part starts.
	AuditHead(ctx context.Context, tenant string) (AuditHead, error)
	// DeleteAuditBefore deletes a tenant's entries older than cutoff,
	// keeping the newest entry so the chain goes on from it.
	DeleteAuditBefore(ctx context.Context, tenant string, cutoff time.Time) (int64, error)

	// CreateLegalHold stores a hold (ID set by the caller); ErrNotFound
	// if a named recording does not exist.
	CreateLegalHold(ctx context.Context, h LegalHold, fx Effects) error
	// LegalHolds lists a tenant's holds, newest first, released ones too.
	LegalHolds(ctx context.Context, tenant string) ([]LegalHold, error)
	// LegalHold returns one hold; ErrNotFound.
	LegalHold(ctx context.Context, tenant, id string) (LegalHold, error)
	// ReleaseLegalHold marks an active hold released; ErrNotFound (or
	// already released).
	ReleaseLegalHold(ctx context.Context, tenant, id, by string, at time.Time, fx Effects) error
	// FilterHolds lists the tenant's active holds that have a filter,
	// without their RecordingIDs (for marking search results).
	FilterHolds(ctx context.Context, tenant string) ([]LegalHold, error)
	// NamedCount counts the recordings a hold names that exist.
	NamedCount(ctx context.Context, tenant, holdID string) (int64, error)
	// HeldByID returns, for each of ids, the active holds naming it.
	HeldByID(ctx context.Context, tenant string, ids []string) (map[string][]string, error)
	// CountRecordings counts the recordings matching f (Limit and After
	// ignored), without access restriction.
	CountRecordings(ctx context.Context, tenant string, f SearchFilter) (int64, error)

	// PutReceipts keeps each receipt whose SHA256 is the stored file's
	// (or a file it replaced), and returns, by index, why others were
	// refused ("" = kept).
	PutReceipts(ctx context.Context, tenant string, receipts []Receipt, fx Effects) ([]string, error)
	// BackupStates returns what receipts say about each of ids.
	BackupStates(ctx context.Context, tenant string, ids []string) (map[string]BackupState, error)

	// SetRetentionSettings replaces a tenant's retention settings.
	SetRetentionSettings(ctx context.Context, tenant string, rs RetentionSettings, fx Effects) error
	// RetentionSettings returns them.
	RetentionSettings(ctx context.Context, tenant string) (RetentionSettings, error)
	// SweepCandidates lists up to limit recordings whose stop time (or,
	// without one, creation time) is before cutoff, in id order after
	// afterID, with their backup state (a recording without media files
	// counts as backed up: there is no file to lose).
	SweepCandidates(ctx context.Context, tenant string, cutoff time.Time, afterID string, limit int) ([]SweepCandidate, error)
	// DeleteRecordingFx is DeleteRecording with effects in its
	// transaction (the audit entry, the job deleting the blobs). In the
	// same transaction it refuses, with an error wrapping ErrHeld that
	// names the holds, a recording an active legal hold keeps.
	DeleteRecordingFx(ctx context.Context, tenant, id string, fx func(media []Media) Effects) ([]Media, error)

	// MediaForCertificate lists up to limit media rows encrypted for
	// alias, in (recording id, media id) order after the given position.
	MediaForCertificate(ctx context.Context, tenant, alias, afterRecording, afterMedia string, limit int) ([]Media, error)
	// SwapMedia re-points a media row to a re-wrapped object in one
	// transaction, keeping the old SHA256 so receipts for it still count;
	// ErrConflict when the row no longer has OldBlobKey.
	SwapMedia(ctx context.Context, tenant string, sw MediaSwap) error

	// SetJobProgress records a job's progress; JobInfos returns the
	// tenant's jobs' progress rows, newest first, before beforeID (0: from
	// the newest); JobProgressOf one.
	SetJobProgress(ctx context.Context, jobID int64, p JobProgress) error
	JobInfos(ctx context.Context, tenant string, beforeID int64, limit int) ([]JobInfo, error)
	JobInfo(ctx context.Context, tenant string, id int64) (JobInfo, error)
}
