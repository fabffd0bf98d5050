// Package vault holds callvault's domain: tenants, users, certificates,
// recordings and their media files, the errors the rest of the program
// speaks in, and the contracts of the stores that keep them. Adapters
// (sqlite, blob, httpapi) talk to each other only in these terms.
package vault

import (
	"context"
	"encoding/json"
	"io"
	"time"
)

// Role is what a user may do.
type Role string

// Roles. Admins manage the tenant; supervisors search and play what their
// access groups allow; agents hear their own calls; recorders (service
// accounts of the media side) may only ingest.
const (
	RoleAdmin      Role = "admin"
	RoleSupervisor Role = "supervisor"
	RoleAgent      Role = "agent"
	RoleRecorder   Role = "recorder"
)

// ValidRole reports whether r is one of the roles above.
func ValidRole(r Role) bool {
	switch r {
	case RoleAdmin, RoleSupervisor, RoleAgent, RoleRecorder:
		return true
	}
	return false
}

// Tenant is one customer; nothing of one tenant is visible to another.
type Tenant struct {
	Name string
	// Retention is how long recordings are kept after they stop; zero
	// keeps them for ever.
	Retention time.Duration
	CreatedAt time.Time
}

// User is a person or service account of a tenant, known as name@tenant.
type User struct {
	Tenant         string   `json:"tenant"`
	Name           string   `json:"userName"`
	Roles          []Role   `json:"roles"`
	AgentHierarchy string   `json:"agentHierarchy,omitempty"` // e.g. /Anthony/John
	AccessGroups   []string `json:"accessGroups"`             // e.g. /, /Anthony, /sales
	FirstName      string   `json:"firstName,omitempty"`
	LastName       string   `json:"lastName,omitempty"`
	Email          string   `json:"email,omitempty"`
	// Disabled users cannot log in; their sessions end when they are
	// disabled.
	Disabled     bool      `json:"disabled"`
	PasswordHash string    `json:"-"`
	CreatedAt    time.Time `json:"createdAt"`
	UpdatedAt    time.Time `json:"updatedAt"`
}

// HasRole reports whether the user holds role r.
func (u *User) HasRole(r Role) bool {
	for _, have := range u.Roles {
		if have == r {
			return true
		}
	}
	return false
}

// Usage is what a certificate encrypts: voice or screen recordings.
type Usage string

// Usages.
const (
	UsageVoice  Usage = "voice"
	UsageScreen Usage = "screen"
)

// Certificate is an uploaded recording certificate. Its private key lives
// sealed in the keystore under the same tenant and alias.
type Certificate struct {
	Tenant        string    `json:"-"`
	Alias         string    `json:"alias"`
	SubjectName   string    `json:"subjectName"`
	SerialNumber  string    `json:"serialNumber"`
	SubjectDN     string    `json:"subjectDN"`
	IssuerDN      string    `json:"issuerDN"`
	NotBefore     time.Time `json:"notBefore"`
	Expires       time.Time `json:"expires"`
	Fingerprint   string    `json:"fingerprint"`
	KeyBits       int       `json:"keyBits"`
	Usage         []Usage   `json:"usage"`         // which future recordings it encrypts
	CertPEM       string    `json:"certificate"`   // public, safe to show
	CreatedAt     time.Time `json:"createdAt"`     //
	DeployedCount int       `json:"deployedCount"` // stored media files encrypted for it
}

// Recording is one call interaction's metadata record, kept in the guide's
// JSON format (Doc) with the fields search needs lifted out of it.
type Recording struct {
	Tenant            string
	ID                string
	StartTime         time.Time // zero when not known yet
	StopTime          time.Time
	CallerPhoneNumber string
	DialedPhoneNumber string
	// Agents are the user names of the recorded agents (not UNKNOWN
	// parties, not IVR).
	Agents []string
	// Groups are the access groups that may see the recording: every
	// path prefix of each recorded agent's hierarchy and of each
	// accessgroups entry, and every partition.
	Groups     []string
	Partitions []string
	MediaTypes []string
	// Doc is the record in the guide's format, as merged so far, without
	// the server-owned media fields (those come from Media).
	Doc       json.RawMessage
	CreatedAt time.Time
	UpdatedAt time.Time
}

// Media is one stored media file of a recording.
type Media struct {
	Tenant      string
	RecordingID string
	MediaID     string
	Type        string   // MIME type of the plaintext: audio/mp3, video/mp4, …
	Encrypted   bool     // stored as CMS
	CertAliases []string // certificates the stored file is encrypted for
	Size        int64    // stored bytes
	SHA256      string   // hex, of the stored bytes
	// ContentSHA256 is the hex SHA-256 of the plaintext, computed while
	// ingesting; "" when the server could not read the plaintext (a
	// pre-encrypted file for none of the tenant's certificates).
	ContentSHA256 string
	BlobKey       string
	CreatedAt     time.Time
}

// Access is who is asking, reduced to what decides visibility.
type Access struct {
	All      bool     // access group "/"
	Groups   []string // exact access group names (hierarchy prefixes and partitions)
	UserName string   // an agent sees their own recordings
}

// SearchFilter narrows a recording search. Zero fields do not filter.
// Times are half-open: From inclusive, To exclusive.
type SearchFilter struct {
	StartFrom, StartTo time.Time // on the recording's start time
	StopFrom, StopTo   time.Time // on the recording's stop time
	Caller, Dialed     string    // '*' is a wildcard
	UserName           string    // a recorded agent
	Partition          string
	MediaType          string
	// Speech analytics: a topic or category found in the recording, a
	// silence at least this long. Legal holds by filter do not use them
	// (Matches ignores them): a hold must not wait for an analysis.
	Topic, Category string
	MinSilenceMs    int64
	Limit           int
	// After is the cursor: results start strictly after this position in
	// the order (start time, id).
	After *Cursor
}

// Cursor is a position in the search order.
type Cursor struct {
	StartTime time.Time
	ID        string
}

// Store keeps metadata. Every method is scoped to one tenant; none lets a
// tenant reach another's rows. Implementations: sqlite (embedded default)
// and postgres (scale-out); one conformance suite proves both.
type Store interface {
	// CreateTenant adds a tenant; ErrConflict if it exists.
	CreateTenant(ctx context.Context, t Tenant) error
	// Tenant returns one tenant; ErrNotFound.
	Tenant(ctx context.Context, name string) (Tenant, error)
	// Tenants lists all tenants, sorted by name.
	Tenants(ctx context.Context) ([]Tenant, error)
	// SetRetention changes a tenant's retention period.
	SetRetention(ctx context.Context, tenant string, retention time.Duration) error

	// CreateUser adds a user; ErrConflict if the name is taken.
	CreateUser(ctx context.Context, u User) error
	// User returns one user; ErrNotFound.
	User(ctx context.Context, tenant, name string) (User, error)
	// Users lists a tenant's users, sorted by name.
	Users(ctx context.Context, tenant string) ([]User, error)
	// UpdateUser replaces a user's roles, hierarchy, groups, names,
	// e-mail, disabled flag and (when not empty) password hash;
	// ErrNotFound.
	UpdateUser(ctx context.Context, u User) error
	// DeleteUser removes a user and their sessions; ErrNotFound.
	DeleteUser(ctx context.Context, tenant, name string) error

	// PutCertificate stores a certificate; ErrConflict if the alias exists.
	PutCertificate(ctx context.Context, c Certificate) error
	// Certificate returns one, with DeployedCount; ErrNotFound.
	Certificate(ctx context.Context, tenant, alias string) (Certificate, error)
	// Certificates lists a tenant's certificates with DeployedCount,
	// sorted by alias.
	Certificates(ctx context.Context, tenant string) ([]Certificate, error)
	// RecipientCertificates is Certificates without DeployedCount (left
	// 0): what ingest needs to choose recipients and name them, at a
	// cost that does not grow with the media stored.
	RecipientCertificates(ctx context.Context, tenant string) ([]Certificate, error)
	// SetCertificateUsage replaces which recordings a certificate
	// encrypts; ErrNotFound.
	SetCertificateUsage(ctx context.Context, tenant, alias string, usage []Usage) error
	// DeleteCertificate removes it; ErrConflict while any stored media
	// file is encrypted for it (checked in the same transaction).
	DeleteCertificate(ctx context.Context, tenant, alias string) error

	// UpdateRecording reads the recording (a zero Recording with Tenant
	// and ID set when there is none), lets fn change it, and saves the
	// result, all in one transaction so that concurrent merges do not
	// lose pieces. fn's error aborts and is returned.
	UpdateRecording(ctx context.Context, tenant, id string, fn func(r *Recording, media []Media) error) error
	// Recording returns one recording and its media, when access allows;
	// ErrNotFound otherwise (never revealing that it exists).
	Recording(ctx context.Context, tenant, id string, access Access) (Recording, []Media, error)
	// SearchRecordings returns up to f.Limit recordings that match f and
	// access, in (start time, id) order, after f.After; the access rule
	// is applied in the query so pages and counts stay right.
	SearchRecordings(ctx context.Context, tenant string, f SearchFilter, access Access) ([]Recording, error)
	// DeleteRecording removes a recording and its media rows and returns
	// the media rows removed (so their blobs can be deleted); ErrNotFound.
	DeleteRecording(ctx context.Context, tenant, id string) ([]Media, error)
	// ExpiredRecordings lists up to limit ids of recordings whose stop
	// time (or, without one, creation time) is before cutoff.
	ExpiredRecordings(ctx context.Context, tenant string, cutoff time.Time, limit int) ([]string, error)

	// MediaOf returns the media rows of the given recordings, by
	// recording id, each list sorted by MediaID (one query for a page).
	MediaOf(ctx context.Context, tenant string, ids []string) (map[string][]Media, error)

	// PutMedia records a stored media file, creating the recording row
	// if metadata has not arrived yet. Stored media are immutable: when a
	// row for the media id exists already it is returned unchanged with
	// stored=false (the caller compares and deletes its own blob);
	// otherwise the new row is stored and returned with stored=true. In
	// the same transaction every alias of m.CertAliases must still be a
	// certificate of the tenant, else ErrConflict (a certificate deleted
	// while the file was being encrypted for it).
	PutMedia(ctx context.Context, m Media) (existing Media, stored bool, err error)

	// The keystore backend: sealed private keys, so that every replica
	// sees the same keys.
	PutSealedKey(ctx context.Context, tenant, alias string, sealed []byte) error
	SealedKey(ctx context.Context, tenant, alias string) ([]byte, error)
	DeleteSealedKey(ctx context.Context, tenant, alias string) error
	SealedKeyAliases(ctx context.Context, tenant string) ([]string, error)

	// AcquireLease takes or renews the named lease for holder until the
	// given time, and reports false while another holder's lease is
	// unexpired at now. Unused since the job queue (River) elects the
	// replica that queues the periodic sweep; kept for one release.
	AcquireLease(ctx context.Context, name, holder string, now, until time.Time) (bool, error)

	// Sessions of the browser UI, stored by the SHA-256 of their token.
	CreateSession(ctx context.Context, s Session) error
	Session(ctx context.Context, tokenHash string) (Session, error)
	DeleteSession(ctx context.Context, tokenHash string) error
	// DeleteUserSessions ends every session of one user (after a
	// password or role change, or when the user is disabled).
	DeleteUserSessions(ctx context.Context, tenant, userName string) error

	CustodyStore
	ScreenStore
	AnalyticsStore
	QMStore

	Close() error
}

// Session is a browser login.
type Session struct {
	TokenHash string
	Tenant    string
	UserName  string
	CSRFToken string
	ExpiresAt time.Time
}

// BlobStore keeps media bytes. Keys are slash-separated paths.
type BlobStore interface {
	// NewWriter starts writing key. The object appears only when Close
	// returns nil; cancelling ctx before Close aborts the write and
	// leaves nothing under key.
	NewWriter(ctx context.Context, key, contentType string) (io.WriteCloser, error)
	// NewRangeReader reads length bytes from offset (length < 0: to the
	// end); ErrNotFound.
	NewRangeReader(ctx context.Context, key string, offset, length int64) (io.ReadCloser, error)
	// Size returns the stored size of key; ErrNotFound.
	Size(ctx context.Context, key string) (int64, error)
	// Delete removes key; deleting a missing key is not an error.
	Delete(ctx context.Context, key string) error
	Close() error
}
