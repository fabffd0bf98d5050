// Package storetest is the conformance suite every vault.Store must pass:
// the sqlite store runs it always, the postgres store when a server is at
// hand. It speaks only vault's types, so one suite proves every backend.
// Run covers the store at large; RunCustody its custody part
// (vault.CustodyStore), with a fake job queue the store's hook calls.
//
// Besides what vault.Store documents, it pins down what the service relies
// on and the interface leaves open:
//   - times come back in UTC, truncated to the millisecond;
//   - a tenant must exist before its users, certificates, recordings and
//     media (ErrNotFound otherwise); sealed keys and sessions need none;
//   - UpdateRecording keeps a CreatedAt that fn sets, and stamps one when
//     it is zero; lists keep their order; Doc keeps its bytes;
//   - a search bound on start (stop) time never matches a recording whose
//     start (stop) time is not known yet;
//   - '*' in Caller and Dialed matches any run of characters; every other
//     character, '%', '_', '?', '[' and letters' case included, is literal;
//   - DeleteSealedKey and DeleteSession of a missing key: ErrNotFound;
//   - PutMedia never replaces a stored row, and refuses (ErrConflict) a row
//     encrypted for a certificate that does not exist.
package storetest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sort"
	"sync"
	"testing"
	"time"

	"callvault/internal/vault"
)

// Run runs the suite; open must return an empty store, which Run closes.
func Run(t *testing.T, open func(t *testing.T) vault.Store) {
	fresh := func(t *testing.T) vault.Store {
		t.Helper()
		s := open(t)
		t.Cleanup(func() {
			if err := s.Close(); err != nil {
				t.Errorf("Close: %v", err)
			}
		})
		return s
	}
	t.Run("Tenants", func(t *testing.T) { testTenants(t, fresh(t)) })
	t.Run("Users", func(t *testing.T) { testUsers(t, fresh(t)) })
	t.Run("Certificates", func(t *testing.T) { testCertificates(t, fresh(t)) })
	t.Run("DeployedCount", func(t *testing.T) { testDeployedCount(t, fresh(t)) })
	t.Run("UpdateRecording", func(t *testing.T) { testUpdateRecording(t, fresh(t)) })
	t.Run("ConcurrentMerge", func(t *testing.T) { testConcurrentMerge(t, fresh(t)) })
	t.Run("RoundTrip", func(t *testing.T) { testRoundTrip(t, fresh(t)) })
	t.Run("PutMedia", func(t *testing.T) { testPutMedia(t, fresh(t)) })
	t.Run("MediaOf", func(t *testing.T) { testMediaOf(t, fresh(t)) })
	t.Run("DeleteRecording", func(t *testing.T) { testDeleteRecording(t, fresh(t)) })
	t.Run("ExpiredRecordings", func(t *testing.T) { testExpiredRecordings(t, fresh(t)) })
	t.Run("Access", func(t *testing.T) { testAccess(t, fresh(t)) })
	t.Run("Search", func(t *testing.T) { testSearch(t, fresh(t)) })
	t.Run("Paging", func(t *testing.T) { testPaging(t, fresh(t)) })
	t.Run("PagingWhileInserting", func(t *testing.T) { testPagingWhileInserting(t, fresh(t)) })
	t.Run("PagingWithAccess", func(t *testing.T) { testPagingWithAccess(t, fresh(t)) })
	t.Run("SealedKeys", func(t *testing.T) { testSealedKeys(t, fresh(t)) })
	t.Run("Sessions", func(t *testing.T) { testSessions(t, fresh(t)) })
	t.Run("TenantIsolation", func(t *testing.T) { testTenantIsolation(t, fresh(t)) })
	t.Run("Leases", func(t *testing.T) { testLeases(t, fresh(t)) })
}

// base is a fixed instant the tests build their times from.
var base = time.Date(2024, 3, 1, 12, 0, 0, 0, time.UTC)

var all = vault.Access{All: true}

func mustTenants(t *testing.T, s vault.Store, names ...string) {
	t.Helper()
	for _, name := range names {
		if err := s.CreateTenant(t.Context(), vault.Tenant{Name: name}); err != nil {
			t.Fatalf("CreateTenant(%q): %v", name, err)
		}
	}
}

// put stores r as the whole content of its recording, keeping the stored
// CreatedAt when r has none.
func put(t *testing.T, s vault.Store, r vault.Recording) {
	t.Helper()
	err := s.UpdateRecording(t.Context(), r.Tenant, r.ID, func(got *vault.Recording, _ []vault.Media) error {
		createdAt := got.CreatedAt
		*got = r
		if got.CreatedAt.IsZero() {
			got.CreatedAt = createdAt
		}
		return nil
	})
	if err != nil {
		t.Fatalf("UpdateRecording(%q, %q): %v", r.Tenant, r.ID, err)
	}
}

// putMedia stores m and reports whether it was new (false: a row for the
// media id was there and is returned unchanged).
func putMedia(t *testing.T, s vault.Store, m vault.Media) (vault.Media, bool) {
	t.Helper()
	existing, stored, err := s.PutMedia(t.Context(), m)
	if err != nil {
		t.Fatalf("PutMedia(%q, %q, %q): %v", m.Tenant, m.RecordingID, m.MediaID, err)
	}
	return existing, stored
}

func mustCertificates(t *testing.T, s vault.Store, tenant string, aliases ...string) {
	t.Helper()
	for _, alias := range aliases {
		if err := s.PutCertificate(t.Context(), vault.Certificate{Tenant: tenant, Alias: alias}); err != nil {
			t.Fatalf("PutCertificate(%q, %q): %v", tenant, alias, err)
		}
	}
}

func search(t *testing.T, s vault.Store, tenant string, f vault.SearchFilter, access vault.Access) []string {
	t.Helper()
	recordings, err := s.SearchRecordings(t.Context(), tenant, f, access)
	if err != nil {
		t.Fatalf("SearchRecordings(%q, %+v, %+v): %v", tenant, f, access, err)
	}
	return ids(recordings)
}

func ids(recordings []vault.Recording) []string {
	out := []string{} // not nil, so an empty result prints as []
	for _, r := range recordings {
		out = append(out, r.ID)
	}
	return out
}

// ms is t as a store keeps it.
func ms(t time.Time) time.Time { return t.Truncate(time.Millisecond) }

func checkTime(t *testing.T, what string, got, want time.Time) {
	t.Helper()
	if !got.Equal(ms(want)) {
		t.Errorf("%s = %v, want %v", what, got, ms(want))
	}
	if !got.IsZero() && got.Location() != time.UTC {
		t.Errorf("%s location = %v, want UTC", what, got.Location())
	}
}

func checkNotFound(t *testing.T, what string, err error) {
	t.Helper()
	if !errors.Is(err, vault.ErrNotFound) {
		t.Errorf("%s: err = %v, want ErrNotFound", what, err)
	}
}

func checkConflict(t *testing.T, what string, err error) {
	t.Helper()
	if !errors.Is(err, vault.ErrConflict) {
		t.Errorf("%s: err = %v, want ErrConflict", what, err)
	}
}

// checkRecording compares every field; want's CreatedAt and UpdatedAt
// only when set.
func checkRecording(t *testing.T, got, want vault.Recording) {
	t.Helper()
	if got.Tenant != want.Tenant || got.ID != want.ID {
		t.Errorf("recording = %s/%s, want %s/%s", got.Tenant, got.ID, want.Tenant, want.ID)
	}
	checkTime(t, want.ID+" StartTime", got.StartTime, want.StartTime)
	checkTime(t, want.ID+" StopTime", got.StopTime, want.StopTime)
	if got.CallerPhoneNumber != want.CallerPhoneNumber || got.DialedPhoneNumber != want.DialedPhoneNumber {
		t.Errorf("%s caller, dialed = %q, %q; want %q, %q", want.ID,
			got.CallerPhoneNumber, got.DialedPhoneNumber, want.CallerPhoneNumber, want.DialedPhoneNumber)
	}
	for _, list := range []struct {
		name      string
		got, want []string
	}{
		{"Agents", got.Agents, want.Agents},
		{"Groups", got.Groups, want.Groups},
		{"Partitions", got.Partitions, want.Partitions},
		{"MediaTypes", got.MediaTypes, want.MediaTypes},
	} {
		if !slices.Equal(list.got, list.want) {
			t.Errorf("%s %s = %q, want %q", want.ID, list.name, list.got, list.want)
		}
	}
	if !bytes.Equal(got.Doc, want.Doc) {
		t.Errorf("%s Doc = %q, want %q", want.ID, got.Doc, want.Doc)
	}
	if !want.CreatedAt.IsZero() {
		checkTime(t, want.ID+" CreatedAt", got.CreatedAt, want.CreatedAt)
	}
	if !want.UpdatedAt.IsZero() {
		checkTime(t, want.ID+" UpdatedAt", got.UpdatedAt, want.UpdatedAt)
	}
}

func checkMedia(t *testing.T, got, want vault.Media) {
	t.Helper()
	if got.Tenant != want.Tenant || got.RecordingID != want.RecordingID || got.MediaID != want.MediaID ||
		got.Type != want.Type || got.Encrypted != want.Encrypted || !slices.Equal(got.CertAliases, want.CertAliases) ||
		got.Size != want.Size || got.SHA256 != want.SHA256 || got.BlobKey != want.BlobKey || got.ContentSHA256 != want.ContentSHA256 {
		t.Errorf("media = %+v\nwant    %+v", got, want)
	}
	if !want.CreatedAt.IsZero() {
		checkTime(t, want.MediaID+" CreatedAt", got.CreatedAt, want.CreatedAt)
	}
}

func testTenants(t *testing.T, s vault.Store) {
	ctx := t.Context()
	createdAt := base.Add(123456789 * time.Nanosecond)
	if err := s.CreateTenant(ctx, vault.Tenant{Name: "zeta", Retention: 90 * 24 * time.Hour, CreatedAt: createdAt}); err != nil {
		t.Fatal(err)
	}
	if err := s.CreateTenant(ctx, vault.Tenant{Name: "alpha"}); err != nil {
		t.Fatal(err)
	}
	checkConflict(t, "CreateTenant existing", s.CreateTenant(ctx, vault.Tenant{Name: "zeta"}))

	got, err := s.Tenant(ctx, "zeta")
	if err != nil {
		t.Fatal(err)
	}
	if got.Name != "zeta" || got.Retention != 90*24*time.Hour {
		t.Errorf("Tenant = %+v", got)
	}
	checkTime(t, "CreatedAt", got.CreatedAt, createdAt)
	alpha, err := s.Tenant(ctx, "alpha")
	if err != nil || alpha.CreatedAt.IsZero() || alpha.Retention != 0 {
		t.Errorf("Tenant(alpha) = %+v, %v; want a stamped CreatedAt and no retention", alpha, err)
	}
	_, err = s.Tenant(ctx, "missing")
	checkNotFound(t, "Tenant missing", err)

	tenants, err := s.Tenants(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, tenant := range tenants {
		names = append(names, tenant.Name)
	}
	if !slices.Equal(names, []string{"alpha", "zeta"}) {
		t.Errorf("Tenants = %q, want [alpha zeta]", names)
	}

	if err := s.SetRetention(ctx, "alpha", 36*time.Hour); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.Tenant(ctx, "alpha"); got.Retention != 36*time.Hour {
		t.Errorf("Retention after SetRetention = %v, want 36h", got.Retention)
	}
	if got, _ := s.Tenant(ctx, "zeta"); got.Retention != 90*24*time.Hour {
		t.Errorf("SetRetention(alpha) changed zeta: %v", got.Retention)
	}
	checkNotFound(t, "SetRetention missing", s.SetRetention(ctx, "missing", time.Hour))
}

func testUsers(t *testing.T, s vault.Store) {
	ctx := t.Context()
	mustTenants(t, s, "acme")
	createdAt := base.Add(987654321 * time.Nanosecond)
	john := vault.User{
		Tenant: "acme", Name: "john", Roles: []vault.Role{vault.RoleSupervisor, vault.RoleAgent},
		AgentHierarchy: "/Anthony/John", AccessGroups: []string{"/Anthony/John", "/sales"},
		FirstName: "John", LastName: "Smith-Ñúñez", Email: "john@example.com",
		PasswordHash: "$argon2id$v=19$hash1", CreatedAt: createdAt, UpdatedAt: createdAt,
	}
	if err := s.CreateUser(ctx, john); err != nil {
		t.Fatal(err)
	}
	if err := s.CreateUser(ctx, vault.User{Tenant: "acme", Name: "alice", Roles: []vault.Role{vault.RoleAdmin}, AccessGroups: []string{"/"}}); err != nil {
		t.Fatal(err)
	}
	checkConflict(t, "CreateUser existing", s.CreateUser(ctx, vault.User{Tenant: "acme", Name: "john"}))
	checkNotFound(t, "CreateUser in missing tenant", s.CreateUser(ctx, vault.User{Tenant: "missing", Name: "john"}))

	got, err := s.User(ctx, "acme", "john")
	if err != nil {
		t.Fatal(err)
	}
	checkUser(t, got, john)
	checkTime(t, "CreatedAt", got.CreatedAt, createdAt)
	_, err = s.User(ctx, "acme", "nobody")
	checkNotFound(t, "User missing", err)
	_, err = s.User(ctx, "missing", "john")
	checkNotFound(t, "User in missing tenant", err)

	users, err := s.Users(ctx, "acme")
	if err != nil {
		t.Fatal(err)
	}
	if len(users) != 2 || users[0].Name != "alice" || users[1].Name != "john" {
		t.Errorf("Users = %+v, want alice, john", users)
	}
	if alice := users[0]; alice.CreatedAt.IsZero() || alice.UpdatedAt.IsZero() {
		t.Errorf("alice CreatedAt, UpdatedAt = %v, %v; want stamped", alice.CreatedAt, alice.UpdatedAt)
	}

	// An empty password hash keeps the stored one.
	changed := john
	changed.Roles = []vault.Role{vault.RoleAgent}
	changed.AgentHierarchy = "/Anthony/Paul"
	changed.AccessGroups = nil
	changed.FirstName, changed.LastName, changed.Email, changed.Disabled = "Jon", "", "", true
	changed.PasswordHash = ""
	if err := s.UpdateUser(ctx, changed); err != nil {
		t.Fatal(err)
	}
	got, err = s.User(ctx, "acme", "john")
	if err != nil {
		t.Fatal(err)
	}
	changed.PasswordHash = john.PasswordHash
	checkUser(t, got, changed)
	checkTime(t, "CreatedAt after UpdateUser", got.CreatedAt, createdAt)
	if !got.UpdatedAt.After(createdAt) {
		t.Errorf("UpdatedAt after UpdateUser = %v, want after %v", got.UpdatedAt, createdAt)
	}

	changed.PasswordHash = "$argon2id$v=19$hash2"
	if err := s.UpdateUser(ctx, changed); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.User(ctx, "acme", "john"); got.PasswordHash != changed.PasswordHash {
		t.Errorf("PasswordHash = %q, want %q", got.PasswordHash, changed.PasswordHash)
	}
	checkNotFound(t, "UpdateUser missing", s.UpdateUser(ctx, vault.User{Tenant: "acme", Name: "nobody"}))

	// Deleting a user ends their sessions.
	for i, user := range []string{"john", "john", "alice"} {
		if err := s.CreateSession(ctx, vault.Session{TokenHash: fmt.Sprintf("tok%d", i), Tenant: "acme", UserName: user,
			CSRFToken: "c", ExpiresAt: base.Add(time.Hour)}); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.DeleteUser(ctx, "acme", "john"); err != nil {
		t.Fatal(err)
	}
	_, err = s.User(ctx, "acme", "john")
	checkNotFound(t, "User deleted", err)
	for _, tok := range []string{"tok0", "tok1"} {
		_, err = s.Session(ctx, tok)
		checkNotFound(t, "Session of a deleted user", err)
	}
	if _, err := s.Session(ctx, "tok2"); err != nil {
		t.Errorf("Session of another user after DeleteUser: %v", err)
	}
	checkNotFound(t, "DeleteUser again", s.DeleteUser(ctx, "acme", "john"))
	checkNotFound(t, "DeleteUser in missing tenant", s.DeleteUser(ctx, "missing", "alice"))
}

func checkUser(t *testing.T, got, want vault.User) {
	t.Helper()
	if got.Tenant != want.Tenant || got.Name != want.Name || !slices.Equal(got.Roles, want.Roles) ||
		got.AgentHierarchy != want.AgentHierarchy || !slices.Equal(got.AccessGroups, want.AccessGroups) ||
		got.PasswordHash != want.PasswordHash || got.FirstName != want.FirstName || got.LastName != want.LastName ||
		got.Email != want.Email || got.Disabled != want.Disabled {
		t.Errorf("user = %+v\nwant   %+v", got, want)
	}
}

func testCertificates(t *testing.T, s vault.Store) {
	ctx := t.Context()
	mustTenants(t, s, "acme")
	cert := vault.Certificate{
		Tenant: "acme", Alias: "cv_b", SubjectName: "Recording 2024", SerialNumber: "1234567890123456789012345",
		SubjectDN: "CN=Recording 2024,O=Acme", IssuerDN: "CN=Acme CA,O=Acme",
		NotBefore: base.Add(-time.Hour + 5*time.Microsecond), Expires: base.AddDate(2, 0, 0),
		Fingerprint: "ab:cd:ef", KeyBits: 2048, Usage: []vault.Usage{vault.UsageVoice, vault.UsageScreen},
		CertPEM: "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n", CreatedAt: base,
	}
	if err := s.PutCertificate(ctx, cert); err != nil {
		t.Fatal(err)
	}
	if err := s.PutCertificate(ctx, vault.Certificate{Tenant: "acme", Alias: "cv_a"}); err != nil {
		t.Fatal(err)
	}
	checkConflict(t, "PutCertificate existing", s.PutCertificate(ctx, vault.Certificate{Tenant: "acme", Alias: "cv_b"}))
	checkNotFound(t, "PutCertificate in missing tenant", s.PutCertificate(ctx, vault.Certificate{Tenant: "missing", Alias: "cv_b"}))

	got, err := s.Certificate(ctx, "acme", "cv_b")
	if err != nil {
		t.Fatal(err)
	}
	checkCertificate(t, got, cert)
	_, err = s.Certificate(ctx, "acme", "cv_missing")
	checkNotFound(t, "Certificate missing", err)

	certs, err := s.Certificates(ctx, "acme")
	if err != nil {
		t.Fatal(err)
	}
	if len(certs) != 2 || certs[0].Alias != "cv_a" || certs[1].Alias != "cv_b" {
		t.Fatalf("Certificates = %+v, want cv_a, cv_b", certs)
	}
	checkCertificate(t, certs[1], cert)
	if certs[0].CreatedAt.IsZero() || len(certs[0].Usage) != 0 {
		t.Errorf("cv_a = %+v, want a stamped CreatedAt and no usage", certs[0])
	}

	if err := s.SetCertificateUsage(ctx, "acme", "cv_a", []vault.Usage{vault.UsageScreen}); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.Certificate(ctx, "acme", "cv_a"); !slices.Equal(got.Usage, []vault.Usage{vault.UsageScreen}) {
		t.Errorf("Usage = %q, want [screen]", got.Usage)
	}
	if err := s.SetCertificateUsage(ctx, "acme", "cv_b", nil); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.Certificate(ctx, "acme", "cv_b"); len(got.Usage) != 0 {
		t.Errorf("Usage = %q, want none", got.Usage)
	}
	checkNotFound(t, "SetCertificateUsage missing", s.SetCertificateUsage(ctx, "acme", "cv_missing", nil))

	if err := s.DeleteCertificate(ctx, "acme", "cv_a"); err != nil {
		t.Fatal(err)
	}
	_, err = s.Certificate(ctx, "acme", "cv_a")
	checkNotFound(t, "Certificate deleted", err)
	checkNotFound(t, "DeleteCertificate again", s.DeleteCertificate(ctx, "acme", "cv_a"))
}

func checkCertificate(t *testing.T, got, want vault.Certificate) {
	t.Helper()
	if got.Tenant != want.Tenant || got.Alias != want.Alias || got.SubjectName != want.SubjectName ||
		got.SerialNumber != want.SerialNumber || got.SubjectDN != want.SubjectDN || got.IssuerDN != want.IssuerDN ||
		got.Fingerprint != want.Fingerprint || got.KeyBits != want.KeyBits || !slices.Equal(got.Usage, want.Usage) ||
		got.CertPEM != want.CertPEM || got.DeployedCount != want.DeployedCount {
		t.Errorf("certificate = %+v\nwant          %+v", got, want)
	}
	checkTime(t, want.Alias+" NotBefore", got.NotBefore, want.NotBefore)
	checkTime(t, want.Alias+" Expires", got.Expires, want.Expires)
	checkTime(t, want.Alias+" CreatedAt", got.CreatedAt, want.CreatedAt)
}

func deployed(t *testing.T, s vault.Store, tenant string) map[string]int {
	t.Helper()
	certs, err := s.Certificates(t.Context(), tenant)
	if err != nil {
		t.Fatal(err)
	}
	counts := map[string]int{}
	for _, c := range certs {
		counts[c.Alias] = c.DeployedCount
		one, err := s.Certificate(t.Context(), tenant, c.Alias)
		if err != nil {
			t.Fatal(err)
		}
		if one.DeployedCount != c.DeployedCount {
			t.Errorf("%s: Certificate says DeployedCount %d, Certificates %d", c.Alias, one.DeployedCount, c.DeployedCount)
		}
	}
	return counts
}

func testDeployedCount(t *testing.T, s vault.Store) {
	ctx := t.Context()
	mustTenants(t, s, "acme", "globex")
	for _, c := range []vault.Certificate{{Tenant: "acme", Alias: "c1"}, {Tenant: "acme", Alias: "c2"}, {Tenant: "globex", Alias: "c1"}} {
		if err := s.PutCertificate(ctx, c); err != nil {
			t.Fatal(err)
		}
	}
	putMedia(t, s, vault.Media{Tenant: "acme", RecordingID: "r1", MediaID: "m1", Encrypted: true, CertAliases: []string{"c1"}})
	putMedia(t, s, vault.Media{Tenant: "acme", RecordingID: "r1", MediaID: "m2", Encrypted: true, CertAliases: []string{"c1", "c2"}})
	putMedia(t, s, vault.Media{Tenant: "acme", RecordingID: "r2", MediaID: "m1", Encrypted: true, CertAliases: []string{"c1"}})
	putMedia(t, s, vault.Media{Tenant: "acme", RecordingID: "r2", MediaID: "plain"})
	putMedia(t, s, vault.Media{Tenant: "globex", RecordingID: "r1", MediaID: "m1", Encrypted: true, CertAliases: []string{"c1"}})

	if got, want := deployed(t, s, "acme"), map[string]int{"c1": 3, "c2": 1}; !mapsEqual(got, want) {
		t.Errorf("acme DeployedCount = %v, want %v", got, want)
	}
	if got, want := deployed(t, s, "globex"), map[string]int{"c1": 1}; !mapsEqual(got, want) {
		t.Errorf("globex DeployedCount = %v, want %v", got, want)
	}
	// RecipientCertificates: the same list, without the counts.
	counted, err := s.Certificates(ctx, "acme")
	if err != nil {
		t.Fatal(err)
	}
	uncounted, err := s.RecipientCertificates(ctx, "acme")
	if err != nil {
		t.Fatal(err)
	}
	if len(uncounted) != len(counted) {
		t.Fatalf("RecipientCertificates = %d certificates, Certificates %d", len(uncounted), len(counted))
	}
	for i := range counted {
		if uncounted[i].DeployedCount != 0 {
			t.Errorf("RecipientCertificates %s: DeployedCount %d, want 0", uncounted[i].Alias, uncounted[i].DeployedCount)
		}
		uncounted[i].DeployedCount = counted[i].DeployedCount
		checkCertificate(t, uncounted[i], counted[i])
	}

	// Stored media are immutable: another row for m2 changes nothing.
	if _, stored := putMedia(t, s, vault.Media{Tenant: "acme", RecordingID: "r1", MediaID: "m2", Encrypted: true, CertAliases: []string{"c2"}}); stored {
		t.Error("PutMedia over a stored m2: stored = true, want the stored row kept")
	}
	if got, want := deployed(t, s, "acme"), map[string]int{"c1": 3, "c2": 1}; !mapsEqual(got, want) {
		t.Errorf("after a second PutMedia of m2: DeployedCount = %v, want %v", got, want)
	}

	// A certificate deleted while a file was encrypted for it: the file
	// is refused, nothing is recorded, and the delete stands.
	mustCertificates(t, s, "acme", "gone")
	if err := s.DeleteCertificate(ctx, "acme", "gone"); err != nil {
		t.Fatal(err)
	}
	_, _, err = s.PutMedia(ctx, vault.Media{Tenant: "acme", RecordingID: "r9", MediaID: "m1", Encrypted: true, CertAliases: []string{"c1", "gone"}})
	checkConflict(t, "PutMedia for a deleted certificate", err)
	if _, _, err := s.Recording(ctx, "acme", "r9", all); !errors.Is(err, vault.ErrNotFound) {
		t.Errorf("Recording after a refused PutMedia: err = %v, want ErrNotFound (nothing recorded)", err)
	}

	checkConflict(t, "DeleteCertificate in use", s.DeleteCertificate(ctx, "acme", "c1"))
	if _, err := s.Certificate(ctx, "acme", "c1"); err != nil {
		t.Errorf("Certificate after refused delete: %v", err)
	}
	for _, id := range []string{"r1", "r2"} {
		if _, err := s.DeleteRecording(ctx, "acme", id); err != nil {
			t.Fatal(err)
		}
	}
	if got, want := deployed(t, s, "acme"), map[string]int{"c1": 0, "c2": 0}; !mapsEqual(got, want) {
		t.Errorf("after deleting recordings: DeployedCount = %v, want %v", got, want)
	}
	if err := s.DeleteCertificate(ctx, "acme", "c1"); err != nil {
		t.Fatalf("DeleteCertificate after its recordings are gone: %v", err)
	}
	if got, want := deployed(t, s, "globex"), map[string]int{"c1": 1}; !mapsEqual(got, want) {
		t.Errorf("globex DeployedCount after acme's delete = %v, want %v", got, want)
	}
	checkConflict(t, "DeleteCertificate globex c1", s.DeleteCertificate(ctx, "globex", "c1"))
}

func mapsEqual(a, b map[string]int) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || v != w {
			return false
		}
	}
	return true
}

func testUpdateRecording(t *testing.T, s vault.Store) {
	ctx := t.Context()
	mustTenants(t, s, "acme")

	// Absent: fn gets an empty recording that knows who it is.
	before := time.Now().Add(-time.Second)
	calls := 0
	err := s.UpdateRecording(ctx, "acme", "r1", func(r *vault.Recording, media []vault.Media) error {
		calls++
		if r.Tenant != "acme" || r.ID != "r1" || !r.CreatedAt.IsZero() || !r.StartTime.IsZero() ||
			r.Agents != nil || r.Doc != nil || len(media) != 0 {
			t.Errorf("fn got %+v, %v; want an empty acme/r1", r, media)
		}
		r.StartTime = base
		r.Agents = []string{"Agent1"}
		r.Doc = json.RawMessage(`{"id":"r1"}`)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if calls != 1 {
		t.Errorf("fn called %d times, want 1", calls)
	}
	got, media, err := s.Recording(ctx, "acme", "r1", all)
	if err != nil {
		t.Fatal(err)
	}
	checkRecording(t, got, vault.Recording{Tenant: "acme", ID: "r1", StartTime: base, Agents: []string{"Agent1"}, Doc: json.RawMessage(`{"id":"r1"}`)})
	if got.CreatedAt.Before(ms(before)) || got.UpdatedAt.Before(got.CreatedAt) {
		t.Errorf("CreatedAt, UpdatedAt = %v, %v; want stamped now", got.CreatedAt, got.UpdatedAt)
	}
	if len(media) != 0 {
		t.Errorf("media = %+v, want none", media)
	}

	// Present: fn gets what is stored, media included.
	putMedia(t, s, vault.Media{Tenant: "acme", RecordingID: "r1", MediaID: "m1", Type: "audio/mp3"})
	stored := got
	stored.UpdatedAt = time.Time{} // PutMedia may count as an update
	err = s.UpdateRecording(ctx, "acme", "r1", func(r *vault.Recording, media []vault.Media) error {
		checkRecording(t, *r, stored)
		if len(media) != 1 || media[0].MediaID != "m1" {
			t.Errorf("fn got media %+v, want m1", media)
		}
		r.Agents = append(r.Agents, "Agent2")
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	again, _, err := s.Recording(ctx, "acme", "r1", all)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(again.Agents, []string{"Agent1", "Agent2"}) {
		t.Errorf("Agents = %q, want [Agent1 Agent2]", again.Agents)
	}
	checkTime(t, "CreatedAt after second update", again.CreatedAt, got.CreatedAt)

	// fn's error aborts: nothing new, nothing changed.
	errStop := errors.New("stop")
	err = s.UpdateRecording(ctx, "acme", "r2", func(r *vault.Recording, _ []vault.Media) error {
		r.StartTime = base
		return errStop
	})
	if !errors.Is(err, errStop) {
		t.Errorf("UpdateRecording with failing fn: err = %v, want errStop", err)
	}
	_, _, err = s.Recording(ctx, "acme", "r2", all)
	checkNotFound(t, "Recording after aborted create", err)
	err = s.UpdateRecording(ctx, "acme", "r1", func(r *vault.Recording, _ []vault.Media) error {
		r.Agents = []string{"Mallory"}
		r.Doc = json.RawMessage(`{}`)
		return fmt.Errorf("cannot merge: %w", errStop)
	})
	if !errors.Is(err, errStop) {
		t.Errorf("UpdateRecording with failing fn: err = %v, want errStop", err)
	}
	if after, _, _ := s.Recording(ctx, "acme", "r1", all); !slices.Equal(after.Agents, again.Agents) || !bytes.Equal(after.Doc, again.Doc) {
		t.Errorf("aborted update changed the recording: %+v", after)
	}
	if ids := search(t, s, "acme", vault.SearchFilter{UserName: "Mallory"}, all); len(ids) != 0 {
		t.Errorf("aborted update left search terms: %q", ids)
	}

	checkNotFound(t, "UpdateRecording in missing tenant", s.UpdateRecording(ctx, "missing", "r1",
		func(*vault.Recording, []vault.Media) error { return nil }))
	_, _, err = s.Recording(ctx, "acme", "missing", all)
	checkNotFound(t, "Recording missing", err)
}

func testConcurrentMerge(t *testing.T, s vault.Store) {
	mustTenants(t, s, "acme")
	const writers = 20
	var wg sync.WaitGroup
	errs := make(chan error, writers)
	for i := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			agent := fmt.Sprintf("agent%02d", i)
			errs <- s.UpdateRecording(t.Context(), "acme", "r1", func(r *vault.Recording, _ []vault.Media) error {
				r.Agents = append(r.Agents, agent)
				r.Groups = append(r.Groups, "/team/"+agent)
				return nil
			})
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Errorf("concurrent UpdateRecording: %v", err)
		}
	}
	got, _, err := s.Recording(t.Context(), "acme", "r1", all)
	if err != nil {
		t.Fatal(err)
	}
	agents := slices.Clone(got.Agents)
	sort.Strings(agents)
	var want []string
	for i := range writers {
		want = append(want, fmt.Sprintf("agent%02d", i))
	}
	if !slices.Equal(agents, want) {
		t.Errorf("after %d concurrent merges Agents = %q, want all of %q", writers, got.Agents, want)
	}
	for _, agent := range want {
		if ids := search(t, s, "acme", vault.SearchFilter{UserName: agent}, all); !slices.Equal(ids, []string{"r1"}) {
			t.Errorf("search by agent %s = %q, want [r1]", agent, ids)
		}
	}
}

func testRoundTrip(t *testing.T, s vault.Store) {
	mustTenants(t, s, "acme")
	// Odd spacing, escapes and non-ASCII: the store must not re-encode.
	doc := json.RawMessage("{\"id\" : \"r1\",\n  \"mediaFiles\":[ ],\"x\":\"caf\u00e9 \\u00e9\\n\", \"n\":1.50}")
	est := time.FixedZone("EST", -5*3600)
	want := vault.Recording{
		Tenant: "acme", ID: "r1",
		StartTime:         time.Date(2024, 3, 1, 7, 0, 0, 123456789, est),
		StopTime:          time.Date(2024, 3, 1, 7, 5, 30, 999999999, est),
		CallerPhoneNumber: "+19055551234", DialedPhoneNumber: "+14165553343",
		Agents: []string{"Agent2", "Agent1"}, Groups: []string{"/Anthony/John", "/Anthony", "/sales"},
		Partitions: []string{"/sales"}, MediaTypes: []string{"video/mp4", "audio/mp3"},
		Doc: doc, CreatedAt: time.Date(2024, 3, 1, 6, 59, 59, 500500500, est),
	}
	put(t, s, want)
	got, _, err := s.Recording(t.Context(), "acme", "r1", all)
	if err != nil {
		t.Fatal(err)
	}
	checkRecording(t, got, want)

	// A nil Doc stays empty.
	put(t, s, vault.Recording{Tenant: "acme", ID: "r2"})
	got, _, err = s.Recording(t.Context(), "acme", "r2", all)
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Doc) != 0 || !got.StartTime.IsZero() || !got.StopTime.IsZero() {
		t.Errorf("empty recording = %+v, want no Doc and zero times", got)
	}
}

func testPutMedia(t *testing.T, s vault.Store) {
	ctx := t.Context()
	mustTenants(t, s, "acme")
	mustCertificates(t, s, "acme", "c1", "c2", "c3")

	// Media before metadata: the recording exists, visible to All only.
	m2 := vault.Media{
		Tenant: "acme", RecordingID: "r1", MediaID: "m2", Type: "audio/mp3", Encrypted: true,
		CertAliases: []string{"c1", "c2"}, Size: 1 << 33, SHA256: "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
		BlobKey: "acme/r1/m2", CreatedAt: base.Add(1500 * time.Microsecond),
		ContentSHA256: "2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae",
	}
	if got, stored := putMedia(t, s, m2); !stored {
		t.Errorf("PutMedia new: stored = false, existing = %+v", got)
	} else {
		checkMedia(t, got, m2)
	}
	got, media, err := s.Recording(ctx, "acme", "r1", all)
	if err != nil {
		t.Fatalf("Recording after PutMedia before metadata: %v", err)
	}
	if got.ID != "r1" || got.CreatedAt.IsZero() || len(media) != 1 {
		t.Errorf("Recording = %+v, %+v; want r1 with a CreatedAt and one media file", got, media)
	}
	checkMedia(t, media[0], m2)
	_, _, err = s.Recording(ctx, "acme", "r1", vault.Access{Groups: []string{"/Anthony"}, UserName: "Agent1"})
	checkNotFound(t, "Recording without metadata for a non-All user", err)

	// Metadata arriving later keeps the media.
	put(t, s, vault.Recording{Tenant: "acme", ID: "r1", Agents: []string{"Agent1"}})
	m3 := vault.Media{Tenant: "acme", RecordingID: "r1", MediaID: "m3", Type: "video/mp4"}
	m1 := vault.Media{Tenant: "acme", RecordingID: "r1", MediaID: "m1", Type: "audio/wav"}
	putMedia(t, s, m3)
	putMedia(t, s, m1)
	_, media, err = s.Recording(ctx, "acme", "r1", vault.Access{UserName: "Agent1"})
	if err != nil {
		t.Fatal(err)
	}
	var mediaIDs []string
	for _, m := range media {
		mediaIDs = append(mediaIDs, m.MediaID)
	}
	if !slices.Equal(mediaIDs, []string{"m1", "m2", "m3"}) {
		t.Errorf("media ids = %q, want sorted [m1 m2 m3]", mediaIDs)
	}
	if len(media) == 3 {
		checkMedia(t, media[0], m1)
		checkMedia(t, media[2], m3)
		if media[0].CreatedAt.IsZero() {
			t.Errorf("m1 CreatedAt not stamped")
		}
	}

	// Stored media are immutable: another row for m2 is not stored, and
	// the stored one comes back for the caller to compare.
	replacement := vault.Media{Tenant: "acme", RecordingID: "r1", MediaID: "m2", Type: "audio/mp3", Encrypted: true,
		CertAliases: []string{"c3"}, Size: 42, SHA256: "00", BlobKey: "acme/r1/m2.v2"}
	existing, stored := putMedia(t, s, replacement)
	if stored {
		t.Fatal("PutMedia over a stored media id: stored = true, want the stored row kept")
	}
	checkMedia(t, existing, m2)
	_, media, _ = s.Recording(ctx, "acme", "r1", all)
	if len(media) != 3 {
		t.Fatalf("media after a second PutMedia = %+v, want 3", media)
	}
	checkMedia(t, media[1], m2)

	// Concurrent PutMedia of one new media id: exactly one is stored.
	var wg sync.WaitGroup
	var mu sync.Mutex
	storedKeys := []string{}
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			m := vault.Media{Tenant: "acme", RecordingID: "race", MediaID: "m", BlobKey: fmt.Sprintf("k%d", i), CertAliases: []string{"c1"}}
			got, stored, err := s.PutMedia(ctx, m)
			if err != nil {
				t.Errorf("concurrent PutMedia: %v", err)
				return
			}
			mu.Lock()
			defer mu.Unlock()
			if stored {
				storedKeys = append(storedKeys, got.BlobKey)
			}
		}()
	}
	wg.Wait()
	_, media, _ = s.Recording(ctx, "acme", "race", all)
	if len(storedKeys) != 1 || len(media) != 1 || media[0].BlobKey != storedKeys[0] {
		t.Errorf("concurrent PutMedia: stored %q, media %+v; want exactly one, the one stored", storedKeys, media)
	}

	if _, _, err := s.PutMedia(ctx, vault.Media{Tenant: "missing", RecordingID: "r1", MediaID: "m1"}); !errors.Is(err, vault.ErrNotFound) {
		t.Errorf("PutMedia in missing tenant: err = %v, want ErrNotFound", err)
	}
}

func testMediaOf(t *testing.T, s vault.Store) {
	mustTenants(t, s, "acme", "globex")
	for _, m := range []vault.Media{
		{Tenant: "acme", RecordingID: "r1", MediaID: "b"},
		{Tenant: "acme", RecordingID: "r1", MediaID: "a"},
		{Tenant: "acme", RecordingID: "r2", MediaID: "x"},
		{Tenant: "acme", RecordingID: "r3", MediaID: "y"},
		{Tenant: "globex", RecordingID: "r1", MediaID: "c"},
		{Tenant: "globex", RecordingID: "r4", MediaID: "d"},
	} {
		putMedia(t, s, m)
	}
	put(t, s, vault.Recording{Tenant: "acme", ID: "r5"}) // no media
	got, err := s.MediaOf(t.Context(), "acme", []string{"r1", "r2", "r4", "r5", "missing"})
	if err != nil {
		t.Fatal(err)
	}
	summary := map[string][]string{}
	for id, media := range got {
		for _, m := range media {
			if m.Tenant != "acme" || m.RecordingID != id {
				t.Errorf("MediaOf[%s] holds %+v", id, m)
			}
			summary[id] = append(summary[id], m.MediaID)
		}
	}
	want := map[string][]string{"r1": {"a", "b"}, "r2": {"x"}}
	if fmt.Sprint(summary) != fmt.Sprint(want) {
		t.Errorf("MediaOf = %v, want %v", summary, want)
	}
	if got, err := s.MediaOf(t.Context(), "acme", nil); err != nil || len(got) != 0 {
		t.Errorf("MediaOf(nil) = %v, %v; want empty", got, err)
	}
}

func testDeleteRecording(t *testing.T, s vault.Store) {
	ctx := t.Context()
	mustTenants(t, s, "acme")
	put(t, s, vault.Recording{Tenant: "acme", ID: "r1", StartTime: base, Agents: []string{"Agent1"}, Groups: []string{"/g"}})
	put(t, s, vault.Recording{Tenant: "acme", ID: "r2", StartTime: base})
	mustCertificates(t, s, "acme", "c1")
	m1 := vault.Media{Tenant: "acme", RecordingID: "r1", MediaID: "m1", BlobKey: "k1", CertAliases: []string{"c1"}}
	m2 := vault.Media{Tenant: "acme", RecordingID: "r1", MediaID: "m2", BlobKey: "k2"}
	putMedia(t, s, m2)
	putMedia(t, s, m1)

	removed, err := s.DeleteRecording(ctx, "acme", "r1")
	if err != nil {
		t.Fatal(err)
	}
	if len(removed) != 2 {
		t.Fatalf("DeleteRecording removed %+v, want m1 and m2", removed)
	}
	sort.Slice(removed, func(i, j int) bool { return removed[i].MediaID < removed[j].MediaID })
	checkMedia(t, removed[0], m1)
	checkMedia(t, removed[1], m2)

	_, _, err = s.Recording(ctx, "acme", "r1", all)
	checkNotFound(t, "Recording deleted", err)
	if got := search(t, s, "acme", vault.SearchFilter{}, all); !slices.Equal(got, []string{"r2"}) {
		t.Errorf("search after delete = %q, want [r2]", got)
	}
	if got := search(t, s, "acme", vault.SearchFilter{UserName: "Agent1"}, vault.Access{Groups: []string{"/g"}}); len(got) != 0 {
		t.Errorf("search by deleted recording's terms = %q, want none", got)
	}
	if media, _ := s.MediaOf(ctx, "acme", []string{"r1"}); len(media) != 0 {
		t.Errorf("MediaOf deleted = %+v, want none", media)
	}
	_, err = s.DeleteRecording(ctx, "acme", "r1")
	checkNotFound(t, "DeleteRecording again", err)

	// A recording of the same id starts afresh.
	put(t, s, vault.Recording{Tenant: "acme", ID: "r1"})
	if _, media, err := s.Recording(ctx, "acme", "r1", all); err != nil || len(media) != 0 {
		t.Errorf("recreated r1: media = %+v, %v; want none", media, err)
	}
	if removed, err := s.DeleteRecording(ctx, "acme", "r2"); err != nil || len(removed) != 0 {
		t.Errorf("DeleteRecording without media = %+v, %v; want none", removed, err)
	}
}

func testExpiredRecordings(t *testing.T, s vault.Store) {
	mustTenants(t, s, "acme", "globex")
	cutoff := base
	for _, r := range []vault.Recording{
		{Tenant: "acme", ID: "stopped-before", StopTime: cutoff.Add(-time.Hour), CreatedAt: cutoff.Add(-2 * time.Hour)},
		{Tenant: "acme", ID: "stopped-just-before", StopTime: cutoff.Add(-time.Millisecond), CreatedAt: cutoff.Add(-time.Hour)},
		{Tenant: "acme", ID: "stopped-at-cutoff", StopTime: cutoff, CreatedAt: cutoff.Add(-time.Hour)},
		{Tenant: "acme", ID: "stopped-after", StopTime: cutoff.Add(time.Hour), CreatedAt: cutoff.Add(-48 * time.Hour)},
		{Tenant: "acme", ID: "stop-wins", StopTime: cutoff.Add(-time.Hour), CreatedAt: cutoff.Add(time.Hour)},
		{Tenant: "acme", ID: "no-stop-old", CreatedAt: cutoff.Add(-2 * time.Hour)},
		{Tenant: "acme", ID: "no-stop-new", CreatedAt: cutoff.Add(time.Hour)},
		{Tenant: "globex", ID: "other-tenant", StopTime: cutoff.Add(-time.Hour)},
	} {
		put(t, s, r)
	}
	want := []string{"no-stop-old", "stop-wins", "stopped-before", "stopped-just-before"}
	got, err := s.ExpiredRecordings(t.Context(), "acme", cutoff, 100)
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(got)
	if !slices.Equal(got, want) {
		t.Errorf("ExpiredRecordings = %q, want %q", got, want)
	}
	got, err = s.ExpiredRecordings(t.Context(), "acme", cutoff, 3)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 3 {
		t.Errorf("ExpiredRecordings limit 3 = %q, want 3 ids", got)
	}
	for _, id := range got {
		if !slices.Contains(want, id) {
			t.Errorf("ExpiredRecordings limit 3 returned %q, not expired", id)
		}
	}
	if got, err := s.ExpiredRecordings(t.Context(), "acme", cutoff.Add(-3*time.Hour), 100); err != nil || len(got) != 0 {
		t.Errorf("ExpiredRecordings before everything = %q, %v; want none", got, err)
	}
}

// accessRecordings is the guide's example: Agent1 and Agent2 in
// /Anthony/John, Agent3 and Agent4 in /Anthony/Paul, partitions /sales and
// /support, and an IVR segment with neither agent nor partition. Groups
// are as the service fills them: hierarchy prefixes and partitions.
var accessRecordings = []vault.Recording{
	{ID: "agent1", Agents: []string{"Agent1"}, Groups: []string{"/Anthony", "/Anthony/John"}},
	{ID: "agent2", Agents: []string{"Agent2"}, Groups: []string{"/Anthony", "/Anthony/John"}},
	{ID: "agent3", Agents: []string{"Agent3"}, Groups: []string{"/Anthony", "/Anthony/Paul"}},
	{ID: "agent4", Agents: []string{"Agent4"}, Groups: []string{"/Anthony", "/Anthony/Paul"}},
	{ID: "agent3-sales", Agents: []string{"Agent3"}, Partitions: []string{"/sales"}, Groups: []string{"/Anthony", "/Anthony/Paul", "/sales"}},
	{ID: "ivr-partitioned", Partitions: []string{"/sales", "/support"}, Groups: []string{"/sales", "/support"}},
	{ID: "ivr"},
	// Groups decide, not Partitions: the service copies partitions into
	// Groups, and this one it did not.
	{ID: "partition-not-in-groups", Partitions: []string{"/marketing"}},
}

func testAccess(t *testing.T, s vault.Store) {
	mustTenants(t, s, "acme")
	for i, r := range accessRecordings {
		r.Tenant = "acme"
		r.StartTime = base.Add(time.Duration(i) * time.Minute)
		put(t, s, r)
	}
	var everything []string
	for _, r := range accessRecordings {
		everything = append(everything, r.ID)
	}
	for _, tc := range []struct {
		name   string
		access vault.Access
		want   []string
	}{
		{"group /", vault.Access{All: true}, everything},
		{"group / with others", vault.Access{All: true, Groups: []string{"/sales"}, UserName: "x"}, everything},
		{"group /Anthony", vault.Access{Groups: []string{"/Anthony"}, UserName: "anthony"},
			[]string{"agent1", "agent2", "agent3", "agent4", "agent3-sales"}},
		{"group /Anthony/John", vault.Access{Groups: []string{"/Anthony/John"}, UserName: "john"}, []string{"agent1", "agent2"}},
		{"group /Anthony/Paul", vault.Access{Groups: []string{"/Anthony/Paul"}}, []string{"agent3", "agent4", "agent3-sales"}},
		{"group /sales", vault.Access{Groups: []string{"/sales"}}, []string{"agent3-sales", "ivr-partitioned"}},
		{"group /support", vault.Access{Groups: []string{"/support"}}, []string{"ivr-partitioned"}},
		{"groups /Anthony/John and /sales", vault.Access{Groups: []string{"/Anthony/John", "/sales"}},
			[]string{"agent1", "agent2", "agent3-sales", "ivr-partitioned"}},
		{"group /marketing", vault.Access{Groups: []string{"/marketing"}}, nil},
		{"agent Agent3 without groups", vault.Access{UserName: "Agent3"}, []string{"agent3", "agent3-sales"}},
		{"agent Agent1 with group /Anthony/Paul", vault.Access{UserName: "Agent1", Groups: []string{"/Anthony/Paul"}},
			[]string{"agent1", "agent3", "agent4", "agent3-sales"}},
		{"user without groups", vault.Access{UserName: "nobody"}, nil},
		{"nobody at all", vault.Access{}, nil},
		{"empty group name", vault.Access{Groups: []string{""}}, nil},
		{"a prefix that is not a group", vault.Access{Groups: []string{"/Anthony/Jo", "/Anth"}}, nil},
		{"groups are case-sensitive", vault.Access{Groups: []string{"/anthony/john"}}, nil},
		{"agent names are not groups", vault.Access{Groups: []string{"Agent1"}}, nil},
		{"groups are not agent names", vault.Access{UserName: "/sales"}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			want := tc.want
			if want == nil {
				want = []string{}
			}
			if got := search(t, s, "acme", vault.SearchFilter{}, tc.access); !slices.Equal(got, want) {
				t.Errorf("SearchRecordings = %q, want %q", got, want)
			}
			for _, id := range everything {
				_, _, err := s.Recording(t.Context(), "acme", id, tc.access)
				switch visible := slices.Contains(want, id); {
				case visible && err != nil:
					t.Errorf("Recording(%s): %v, want visible", id, err)
				case !visible && !errors.Is(err, vault.ErrNotFound):
					t.Errorf("Recording(%s): err = %v, want ErrNotFound", id, err)
				}
			}
			// Filters narrow what access allows, never widen it.
			if got := search(t, s, "acme", vault.SearchFilter{UserName: "Agent3"}, tc.access); !slices.Equal(got, intersect(want, []string{"agent3", "agent3-sales"})) {
				t.Errorf("SearchRecordings by Agent3 = %q", got)
			}
			if got := search(t, s, "acme", vault.SearchFilter{Partition: "/sales"}, tc.access); !slices.Equal(got, intersect(want, []string{"agent3-sales", "ivr-partitioned"})) {
				t.Errorf("SearchRecordings by partition /sales = %q", got)
			}
		})
	}
}

// intersect keeps a's elements that are in b, in a's order.
func intersect(a, b []string) []string {
	out := []string{}
	for _, x := range a {
		if slices.Contains(b, x) {
			out = append(out, x)
		}
	}
	return out
}

func testSearch(t *testing.T, s vault.Store) {
	mustTenants(t, s, "acme", "globex")
	at := func(d time.Duration) time.Time { return base.Add(d) }
	for _, r := range []vault.Recording{
		{ID: "r01", StartTime: at(0), StopTime: at(5 * time.Minute), CallerPhoneNumber: "+19055551234", DialedPhoneNumber: "+14165553343",
			Agents: []string{"Agent1"}, Partitions: []string{"/sales"}, MediaTypes: []string{"audio/mp3"}},
		{ID: "r02", StartTime: at(time.Hour), StopTime: at(70 * time.Minute), CallerPhoneNumber: "+19055550000", DialedPhoneNumber: "+12125550968",
			Agents: []string{"Agent2"}, Partitions: []string{"/support"}, MediaTypes: []string{"audio/mp3", "video/mp4"}},
		{ID: "r03", StartTime: at(2 * time.Hour), StopTime: at(121 * time.Minute), CallerPhoneNumber: "+14165551111", DialedPhoneNumber: "+19055553343",
			Agents: []string{"Agent1", "Agent3"}, Partitions: []string{"/sales", "/support"}, MediaTypes: []string{"video/mp4"}},
		// Still going: no stop time.
		{ID: "r04", StartTime: at(3 * time.Hour), CallerPhoneNumber: "sip:Alice@example.com", DialedPhoneNumber: "100%_off"},
		// Media arrived, metadata not yet: no times at all.
		{ID: "r05"},
		// Same start as r04: the id breaks the tie.
		{ID: "r06", StartTime: at(3 * time.Hour), StopTime: at(210 * time.Minute), CallerPhoneNumber: "+1905*literal", DialedPhoneNumber: "+19685550000"},
		// Half a millisecond after r01 starts is still r01's millisecond.
		{ID: "r07", StartTime: at(500 * time.Microsecond), StopTime: at(time.Minute), CallerPhoneNumber: "[0-9]?"},
	} {
		r.Tenant = "acme"
		put(t, s, r)
	}
	// Another tenant's twin of r01 must never show up.
	put(t, s, vault.Recording{Tenant: "globex", ID: "g01", StartTime: at(0), StopTime: at(5 * time.Minute),
		CallerPhoneNumber: "+19055551234", DialedPhoneNumber: "+14165553343", Agents: []string{"Agent1"},
		Partitions: []string{"/sales"}, MediaTypes: []string{"audio/mp3"}})

	for _, tc := range []struct {
		name string
		f    vault.SearchFilter
		want []string
	}{
		{"no filter: zero start first, then (start, id)", vault.SearchFilter{}, []string{"r05", "r01", "r07", "r02", "r03", "r04", "r06"}},
		{"StartFrom inclusive", vault.SearchFilter{StartFrom: at(time.Hour)}, []string{"r02", "r03", "r04", "r06"}},
		{"StartTo exclusive, unknown start excluded", vault.SearchFilter{StartTo: at(time.Hour)}, []string{"r01", "r07"}},
		{"StartFrom and StartTo", vault.SearchFilter{StartFrom: at(time.Hour), StartTo: at(3 * time.Hour)}, []string{"r02", "r03"}},
		{"StartFrom at millisecond precision", vault.SearchFilter{StartFrom: at(time.Millisecond)}, []string{"r02", "r03", "r04", "r06"}},
		{"StopFrom inclusive", vault.SearchFilter{StopFrom: at(70 * time.Minute)}, []string{"r02", "r03", "r06"}},
		{"StopTo exclusive, unknown stop excluded", vault.SearchFilter{StopTo: at(70 * time.Minute)}, []string{"r01", "r07"}},
		{"StopFrom and StopTo", vault.SearchFilter{StopFrom: at(time.Minute), StopTo: at(121 * time.Minute)}, []string{"r01", "r07", "r02"}},
		{"Caller exact", vault.SearchFilter{Caller: "+19055551234"}, []string{"r01"}},
		{"Caller exact is not a prefix", vault.SearchFilter{Caller: "+1905"}, []string{}},
		{"Caller prefix", vault.SearchFilter{Caller: "+1905*"}, []string{"r01", "r02", "r06"}},
		{"Caller case-sensitive", vault.SearchFilter{Caller: "sip:alice*"}, []string{}},
		{"Caller with letters", vault.SearchFilter{Caller: "sip:Alice*"}, []string{"r04"}},
		{"Caller '?' and '[' literal", vault.SearchFilter{Caller: "*?*"}, []string{"r07"}},
		{"Caller brackets literal", vault.SearchFilter{Caller: "[0-9]*"}, []string{"r07"}},
		{"Caller '*' alone matches all with any caller", vault.SearchFilter{Caller: "*"}, []string{"r05", "r01", "r07", "r02", "r03", "r04", "r06"}},
		{"Dialed suffix", vault.SearchFilter{Dialed: "*3343"}, []string{"r01", "r03"}},
		{"Dialed infix", vault.SearchFilter{Dialed: "*968*"}, []string{"r02", "r06"}},
		{"Dialed '%' literal", vault.SearchFilter{Dialed: "*%*"}, []string{"r04"}},
		{"Dialed '_' literal", vault.SearchFilter{Dialed: "*_*"}, []string{"r04"}},
		{"Dialed '%' and '_' in sequence", vault.SearchFilter{Dialed: "1*%_*"}, []string{"r04"}},
		{"Dialed '_' is not any character", vault.SearchFilter{Dialed: "100_*"}, []string{}},
		{"Dialed '%' is not any run", vault.SearchFilter{Dialed: "+1%*"}, []string{}},
		{"Dialed two stars", vault.SearchFilter{Dialed: "+1*55*0000"}, []string{"r06"}},
		{"UserName", vault.SearchFilter{UserName: "Agent1"}, []string{"r01", "r03"}},
		{"UserName second agent", vault.SearchFilter{UserName: "Agent3"}, []string{"r03"}},
		{"UserName is exact", vault.SearchFilter{UserName: "Agent"}, []string{}},
		{"Partition", vault.SearchFilter{Partition: "/sales"}, []string{"r01", "r03"}},
		{"Partition other", vault.SearchFilter{Partition: "/support"}, []string{"r02", "r03"}},
		{"MediaType", vault.SearchFilter{MediaType: "video/mp4"}, []string{"r02", "r03"}},
		{"MediaType audio", vault.SearchFilter{MediaType: "audio/mp3"}, []string{"r01", "r02"}},
		{"UserName and Partition", vault.SearchFilter{UserName: "Agent1", Partition: "/support"}, []string{"r03"}},
		{"StartFrom and MediaType", vault.SearchFilter{StartFrom: at(time.Hour), MediaType: "audio/mp3"}, []string{"r02"}},
		{"Caller and StopTo", vault.SearchFilter{Caller: "+1905*", StopTo: at(2 * time.Hour)}, []string{"r01", "r02"}},
		{"Caller and Dialed", vault.SearchFilter{Caller: "+1*", Dialed: "*3343"}, []string{"r01", "r03"}},
		{"everything at once", vault.SearchFilter{StartFrom: at(0), StartTo: at(3 * time.Hour), StopFrom: at(0), StopTo: at(3 * time.Hour),
			Caller: "+1*", Dialed: "+1*", UserName: "Agent1", Partition: "/sales", MediaType: "video/mp4"}, []string{"r03"}},
		{"Limit", vault.SearchFilter{Limit: 2}, []string{"r05", "r01"}},
		{"Limit with filter", vault.SearchFilter{Caller: "+1*", Limit: 2}, []string{"r01", "r02"}},
		{"After a zero start", vault.SearchFilter{After: &vault.Cursor{ID: "r05"}, Limit: 2}, []string{"r01", "r07"}},
		{"After breaks ties by id", vault.SearchFilter{After: &vault.Cursor{StartTime: at(3 * time.Hour), ID: "r04"}}, []string{"r06"}},
		{"After a position between records", vault.SearchFilter{After: &vault.Cursor{StartTime: at(90 * time.Minute), ID: "zzz"}}, []string{"r03", "r04", "r06"}},
		{"After with filter", vault.SearchFilter{UserName: "Agent1", After: &vault.Cursor{StartTime: at(0), ID: "r01"}}, []string{"r03"}},
		{"After the end", vault.SearchFilter{After: &vault.Cursor{StartTime: at(4 * time.Hour)}}, []string{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := search(t, s, "acme", tc.f, all); !slices.Equal(got, tc.want) {
				t.Errorf("SearchRecordings(%+v) = %q, want %q", tc.f, got, tc.want)
			}
		})
	}

	recordings, err := s.SearchRecordings(t.Context(), "acme", vault.SearchFilter{Caller: "+19055551234"}, all)
	if err != nil || len(recordings) != 1 {
		t.Fatalf("SearchRecordings = %+v, %v", recordings, err)
	}
	checkRecording(t, recordings[0], vault.Recording{Tenant: "acme", ID: "r01", StartTime: at(0), StopTime: at(5 * time.Minute),
		CallerPhoneNumber: "+19055551234", DialedPhoneNumber: "+14165553343", Agents: []string{"Agent1"},
		Partitions: []string{"/sales"}, MediaTypes: []string{"audio/mp3"}})
}

// pageAll pages through a search with the cursor and returns what it
// found; between, when not nil, runs after each full page.
func pageAll(t *testing.T, s vault.Store, tenant string, f vault.SearchFilter, access vault.Access, between func(page int, cursor vault.Cursor)) []vault.Recording {
	t.Helper()
	var out []vault.Recording
	for page := 0; ; page++ {
		recordings, err := s.SearchRecordings(t.Context(), tenant, f, access)
		if err != nil {
			t.Fatal(err)
		}
		if len(recordings) > f.Limit {
			t.Fatalf("page %d has %d records, over the limit %d", page, len(recordings), f.Limit)
		}
		out = append(out, recordings...)
		if len(recordings) < f.Limit {
			return out
		}
		last := recordings[len(recordings)-1]
		f.After = &vault.Cursor{StartTime: last.StartTime, ID: last.ID}
		if between != nil {
			between(page, *f.After)
		}
		if page > 1000 {
			t.Fatal("paging does not end")
		}
	}
}

// checkOrdered fails unless recordings are strictly increasing in (start
// time, id), which also rules out repeats.
func checkOrdered(t *testing.T, recordings []vault.Recording) {
	t.Helper()
	for i := 1; i < len(recordings); i++ {
		prev, cur := recordings[i-1], recordings[i]
		if cur.StartTime.Before(prev.StartTime) || (cur.StartTime.Equal(prev.StartTime) && cur.ID <= prev.ID) {
			t.Errorf("out of order at %d: %s@%v after %s@%v", i, cur.ID, cur.StartTime, prev.ID, prev.StartTime)
		}
	}
}

func testPaging(t *testing.T, s vault.Store) {
	mustTenants(t, s, "acme")
	const n = 57
	for i := range n {
		r := vault.Recording{Tenant: "acme", ID: fmt.Sprintf("r%03d", (i*37)%n)}
		if i%10 != 0 { // some without start time
			r.StartTime = base.Add(time.Duration(i/4) * time.Minute) // ties of four
		}
		put(t, s, r)
	}
	want := search(t, s, "acme", vault.SearchFilter{}, all)
	if len(want) != n {
		t.Fatalf("unpaged search found %d, want %d", len(want), n)
	}
	for _, limit := range []int{1, 4, 10, n, n + 1} {
		got := pageAll(t, s, "acme", vault.SearchFilter{Limit: limit}, all, nil)
		checkOrdered(t, got)
		if !slices.Equal(ids(got), want) {
			t.Errorf("limit %d: paged %q\nwant %q", limit, ids(got), want)
		}
	}
}

func testPagingWhileInserting(t *testing.T, s vault.Store) {
	mustTenants(t, s, "acme")
	var original []string
	for i := range 40 {
		id := fmt.Sprintf("r%03d", i)
		put(t, s, vault.Recording{Tenant: "acme", ID: id, StartTime: base.Add(time.Duration(i/3) * time.Minute)})
		original = append(original, id)
	}
	// Ids are lower-case letters and digits, so that byte order and any
	// collation agree on where they sort.
	var ahead, behind []string // inserted after, before the cursor
	got := pageAll(t, s, "acme", vault.SearchFilter{Limit: 7}, all, func(page int, cursor vault.Cursor) {
		for _, r := range []vault.Recording{
			{ID: fmt.Sprintf("a%dbehind", page), StartTime: cursor.StartTime.Add(-time.Second)},
			{ID: fmt.Sprintf("a%dtie", page), StartTime: cursor.StartTime}, // 'a' sorts before the cursor's id
			{ID: fmt.Sprintf("z%dtie", page), StartTime: cursor.StartTime}, // 'z' sorts after it
			{ID: fmt.Sprintf("n%dahead", page), StartTime: cursor.StartTime.Add(90 * time.Second)},
			{ID: fmt.Sprintf("n%dzero", page)}, // no start: before everything
			{ID: fmt.Sprintf("n%dfar", page), StartTime: base.Add(24 * time.Hour)},
		} {
			r.Tenant = "acme"
			put(t, s, r)
			start := ms(r.StartTime)
			if start.Before(cursor.StartTime) || (start.Equal(cursor.StartTime) && r.ID < cursor.ID) {
				behind = append(behind, r.ID)
			} else {
				ahead = append(ahead, r.ID)
			}
		}
	})
	checkOrdered(t, got)
	seen := map[string]int{}
	for _, r := range got {
		seen[r.ID]++
	}
	for _, id := range original {
		if seen[id] != 1 {
			t.Errorf("original %s seen %d times, want once", id, seen[id])
		}
	}
	for _, id := range ahead {
		if seen[id] != 1 {
			t.Errorf("%s, inserted ahead of the cursor, seen %d times, want once", id, seen[id])
		}
	}
	for _, id := range behind {
		if seen[id] != 0 {
			t.Errorf("%s, inserted behind the cursor, seen %d times, want never", id, seen[id])
		}
	}
	if len(ahead) == 0 || len(behind) == 0 {
		t.Errorf("test did not insert on both sides: ahead %q, behind %q", ahead, behind)
	}
}

func testPagingWithAccess(t *testing.T, s vault.Store) {
	mustTenants(t, s, "acme")
	var visible []string
	for i := range 100 {
		r := vault.Recording{Tenant: "acme", ID: fmt.Sprintf("r%03d", i), StartTime: base.Add(time.Duration(i/2) * time.Second)}
		switch {
		case i%7 == 0:
			r.Groups = []string{"/team"}
		case i%11 == 0:
			r.Agents = []string{"me"}
		default:
			r.Groups = []string{"/other"}
			r.Agents = []string{"someone"}
		}
		if i%7 == 0 || i%11 == 0 {
			visible = append(visible, r.ID)
		}
		put(t, s, r)
	}
	access := vault.Access{Groups: []string{"/team"}, UserName: "me"}
	const limit = 4
	var pages [][]string
	f := vault.SearchFilter{Limit: limit}
	for {
		recordings, err := s.SearchRecordings(t.Context(), "acme", f, access)
		if err != nil {
			t.Fatal(err)
		}
		pages = append(pages, ids(recordings))
		if len(recordings) < limit {
			break
		}
		last := recordings[len(recordings)-1]
		f.After = &vault.Cursor{StartTime: last.StartTime, ID: last.ID}
	}
	var got []string
	for i, page := range pages {
		if i < len(pages)-1 && len(page) != limit {
			t.Errorf("page %d has %d records, want a full page of %d", i, len(page), limit)
		}
		got = append(got, page...)
	}
	if !slices.Equal(got, visible) {
		t.Errorf("paged with access: %q\nwant %q", got, visible)
	}
}

func testSealedKeys(t *testing.T, s vault.Store) {
	ctx := t.Context()
	blob := []byte{0, 1, 2, 0xff, '\n', 0}
	for _, alias := range []string{"cv_c", "cv_a", "cv_b"} {
		if err := s.PutSealedKey(ctx, "acme", alias, append([]byte(alias), blob...)); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.PutSealedKey(ctx, "globex", "cv_a", []byte("globex")); err != nil {
		t.Fatal(err)
	}
	got, err := s.SealedKey(ctx, "acme", "cv_a")
	if err != nil || !bytes.Equal(got, append([]byte("cv_a"), blob...)) {
		t.Errorf("SealedKey = %x, %v", got, err)
	}
	if err := s.PutSealedKey(ctx, "acme", "cv_a", []byte("replaced")); err != nil {
		t.Fatal(err)
	}
	if got, err := s.SealedKey(ctx, "acme", "cv_a"); err != nil || string(got) != "replaced" {
		t.Errorf("SealedKey after replace = %q, %v", got, err)
	}
	if got, err := s.SealedKey(ctx, "globex", "cv_a"); err != nil || string(got) != "globex" {
		t.Errorf("globex SealedKey = %q, %v", got, err)
	}
	aliases, err := s.SealedKeyAliases(ctx, "acme")
	if err != nil || !slices.Equal(aliases, []string{"cv_a", "cv_b", "cv_c"}) {
		t.Errorf("SealedKeyAliases = %q, %v; want [cv_a cv_b cv_c]", aliases, err)
	}
	if err := s.DeleteSealedKey(ctx, "acme", "cv_b"); err != nil {
		t.Fatal(err)
	}
	_, err = s.SealedKey(ctx, "acme", "cv_b")
	checkNotFound(t, "SealedKey deleted", err)
	checkNotFound(t, "DeleteSealedKey again", s.DeleteSealedKey(ctx, "acme", "cv_b"))
	checkNotFound(t, "DeleteSealedKey other tenant's", s.DeleteSealedKey(ctx, "globex", "cv_c"))
	_, err = s.SealedKey(ctx, "globex", "cv_c")
	checkNotFound(t, "SealedKey other tenant's", err)
	if aliases, err := s.SealedKeyAliases(ctx, "acme"); err != nil || !slices.Equal(aliases, []string{"cv_a", "cv_c"}) {
		t.Errorf("SealedKeyAliases after delete = %q, %v", aliases, err)
	}
	if aliases, err := s.SealedKeyAliases(ctx, "nobody"); err != nil || len(aliases) != 0 {
		t.Errorf("SealedKeyAliases unknown tenant = %q, %v; want none", aliases, err)
	}
}

func testSessions(t *testing.T, s vault.Store) {
	ctx := t.Context()
	session := vault.Session{TokenHash: "5e884898da28047151d0e56f8dc6292773603d0d6aabbdd62a11ef721d1542d8",
		Tenant: "acme", UserName: "john", CSRFToken: "csrf-1", ExpiresAt: base.Add(8*time.Hour + 1234567)}
	if err := s.CreateSession(ctx, session); err != nil {
		t.Fatal(err)
	}
	checkConflict(t, "CreateSession same hash", s.CreateSession(ctx, session))
	got, err := s.Session(ctx, session.TokenHash)
	if err != nil {
		t.Fatal(err)
	}
	if got.TokenHash != session.TokenHash || got.Tenant != "acme" || got.UserName != "john" || got.CSRFToken != "csrf-1" {
		t.Errorf("Session = %+v, want %+v", got, session)
	}
	checkTime(t, "ExpiresAt", got.ExpiresAt, session.ExpiresAt)
	_, err = s.Session(ctx, "unknown")
	checkNotFound(t, "Session unknown", err)
	if err := s.DeleteSession(ctx, session.TokenHash); err != nil {
		t.Fatal(err)
	}
	_, err = s.Session(ctx, session.TokenHash)
	checkNotFound(t, "Session deleted", err)
	checkNotFound(t, "DeleteSession again", s.DeleteSession(ctx, session.TokenHash))

	// DeleteUserSessions ends one user's sessions, of one tenant only.
	for i, who := range []struct{ tenant, user string }{{"acme", "john"}, {"acme", "john"}, {"acme", "mary"}, {"globex", "john"}} {
		if err := s.CreateSession(ctx, vault.Session{TokenHash: fmt.Sprintf("h%d", i), Tenant: who.tenant, UserName: who.user,
			CSRFToken: "c", ExpiresAt: base.Add(time.Hour)}); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.DeleteUserSessions(ctx, "acme", "john"); err != nil {
		t.Fatal(err)
	}
	for i, want := range []bool{false, false, true, true} {
		_, err := s.Session(ctx, fmt.Sprintf("h%d", i))
		if got := err == nil; got != want {
			t.Errorf("session h%d after DeleteUserSessions(acme, john): present = %v, want %v (err %v)", i, got, want, err)
		}
	}
	if err := s.DeleteUserSessions(ctx, "acme", "nobody"); err != nil {
		t.Errorf("DeleteUserSessions of a user without sessions: %v", err)
	}
}

// testTenantIsolation gives two tenants the same names everywhere and
// checks that no method of one tenant reaches the other's rows.
func testTenantIsolation(t *testing.T, s vault.Store) {
	ctx := t.Context()
	tenants := []string{"acme", "globex"}
	mustTenants(t, s, tenants...)
	for _, tenant := range tenants {
		if err := s.CreateUser(ctx, vault.User{Tenant: tenant, Name: "john", AgentHierarchy: "/" + tenant}); err != nil {
			t.Fatal(err)
		}
		if err := s.PutCertificate(ctx, vault.Certificate{Tenant: tenant, Alias: "cv_1", SubjectName: tenant}); err != nil {
			t.Fatal(err)
		}
		put(t, s, vault.Recording{Tenant: tenant, ID: "r1", StartTime: base, StopTime: base.Add(time.Minute),
			CallerPhoneNumber: "+1905", Agents: []string{"john"}, Groups: []string{"/g"}, Partitions: []string{"/p"},
			MediaTypes: []string{"audio/mp3"}, Doc: json.RawMessage(`{"tenant":"` + tenant + `"}`)})
		putMedia(t, s, vault.Media{Tenant: tenant, RecordingID: "r1", MediaID: "m1", BlobKey: tenant, CertAliases: []string{"cv_1"}})
		if err := s.PutSealedKey(ctx, tenant, "cv_1", []byte(tenant)); err != nil {
			t.Fatal(err)
		}
	}
	// Rows only acme has.
	if err := s.CreateUser(ctx, vault.User{Tenant: "acme", Name: "alice"}); err != nil {
		t.Fatal(err)
	}
	put(t, s, vault.Recording{Tenant: "acme", ID: "r2", StartTime: base, Agents: []string{"john"}, Groups: []string{"/g"}})

	if users, _ := s.Users(ctx, "globex"); len(users) != 1 || users[0].AgentHierarchy != "/globex" {
		t.Errorf("globex Users = %+v", users)
	}
	_, err := s.User(ctx, "globex", "alice")
	checkNotFound(t, "User of the other tenant", err)
	if err := s.UpdateUser(ctx, vault.User{Tenant: "globex", Name: "john", AgentHierarchy: "/changed"}); err != nil {
		t.Fatal(err)
	}
	checkNotFound(t, "UpdateUser of the other tenant", s.UpdateUser(ctx, vault.User{Tenant: "globex", Name: "alice"}))
	if u, _ := s.User(ctx, "acme", "john"); u.AgentHierarchy != "/acme" {
		t.Errorf("UpdateUser(globex) changed acme's john: %+v", u)
	}
	if err := s.SetRetention(ctx, "globex", time.Hour); err != nil {
		t.Fatal(err)
	}
	if tenant, _ := s.Tenant(ctx, "acme"); tenant.Retention != 0 {
		t.Errorf("SetRetention(globex) changed acme: %v", tenant.Retention)
	}

	if c, _ := s.Certificate(ctx, "globex", "cv_1"); c.SubjectName != "globex" || c.DeployedCount != 1 {
		t.Errorf("globex Certificate = %+v, want its own with DeployedCount 1", c)
	}
	if err := s.SetCertificateUsage(ctx, "globex", "cv_1", []vault.Usage{vault.UsageVoice}); err != nil {
		t.Fatal(err)
	}
	if certs, _ := s.Certificates(ctx, "acme"); len(certs) != 1 || len(certs[0].Usage) != 0 || certs[0].SubjectName != "acme" {
		t.Errorf("acme Certificates = %+v", certs)
	}

	for _, access := range []vault.Access{all, {Groups: []string{"/g"}}, {UserName: "john"}} {
		if got := search(t, s, "globex", vault.SearchFilter{}, access); !slices.Equal(got, []string{"r1"}) {
			t.Errorf("globex search with %+v = %q, want [r1]", access, got)
		}
		r, media, err := s.Recording(ctx, "globex", "r1", access)
		if err != nil || string(r.Doc) != `{"tenant":"globex"}` || len(media) != 1 || media[0].BlobKey != "globex" {
			t.Errorf("globex Recording with %+v = %+v, %+v, %v", access, r, media, err)
		}
		_, _, err = s.Recording(ctx, "globex", "r2", access)
		checkNotFound(t, "Recording of the other tenant", err)
	}
	for _, f := range []vault.SearchFilter{{UserName: "john"}, {Partition: "/p"}, {MediaType: "audio/mp3"}, {Caller: "+1905"}, {Caller: "+19*"}} {
		if got := search(t, s, "globex", f, all); !slices.Equal(got, []string{"r1"}) {
			t.Errorf("globex search %+v = %q, want [r1]", f, got)
		}
	}
	if media, _ := s.MediaOf(ctx, "globex", []string{"r1", "r2"}); len(media) != 1 || len(media["r1"]) != 1 || media["r1"][0].BlobKey != "globex" {
		t.Errorf("globex MediaOf = %+v", media)
	}
	if ids, _ := s.ExpiredRecordings(ctx, "globex", base.Add(time.Hour), 10); !slices.Equal(ids, []string{"r1"}) {
		t.Errorf("globex ExpiredRecordings = %q, want [r1]", ids)
	}
	err = s.UpdateRecording(ctx, "globex", "r1", func(r *vault.Recording, media []vault.Media) error {
		if string(r.Doc) != `{"tenant":"globex"}` || len(media) != 1 || media[0].BlobKey != "globex" {
			t.Errorf("globex UpdateRecording sees %+v, %+v", r, media)
		}
		r.Agents = []string{"globex-only"}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if got := search(t, s, "acme", vault.SearchFilter{UserName: "globex-only"}, all); len(got) != 0 {
		t.Errorf("acme sees globex's agent: %q", got)
	}
	if existing, stored := putMedia(t, s, vault.Media{Tenant: "globex", RecordingID: "r1", MediaID: "m1", BlobKey: "globex2"}); stored || existing.BlobKey != "globex" {
		t.Errorf("globex PutMedia over its m1: stored %v, existing %+v; want globex's own kept", stored, existing)
	}

	removed, err := s.DeleteRecording(ctx, "globex", "r1")
	if err != nil || len(removed) != 1 || removed[0].BlobKey != "globex" {
		t.Errorf("globex DeleteRecording = %+v, %v", removed, err)
	}
	_, err = s.DeleteRecording(ctx, "globex", "r2")
	checkNotFound(t, "DeleteRecording of the other tenant", err)
	if got := search(t, s, "acme", vault.SearchFilter{}, all); !slices.Equal(got, []string{"r1", "r2"}) {
		t.Errorf("acme search after globex's delete = %q, want [r1 r2]", got)
	}
	if c, _ := s.Certificate(ctx, "acme", "cv_1"); c.DeployedCount != 1 {
		t.Errorf("acme DeployedCount after globex's delete = %d, want 1", c.DeployedCount)
	}
	if err := s.DeleteCertificate(ctx, "globex", "cv_1"); err != nil {
		t.Errorf("DeleteCertificate(globex) with acme's media still on cv_1: %v", err)
	}
	checkConflict(t, "DeleteCertificate(acme)", s.DeleteCertificate(ctx, "acme", "cv_1"))
	if sealed, _ := s.SealedKey(ctx, "globex", "cv_1"); string(sealed) != "globex" {
		t.Errorf("globex SealedKey = %q", sealed)
	}
}

// testLeases: one holder at a time; renewal by the holder; takeover after
// expiry; independent names.
func testLeases(t *testing.T, s vault.Store) {
	ctx := context.Background()
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	take := func(name, holder string, now time.Time, ttl time.Duration) bool {
		t.Helper()
		ok, err := s.AcquireLease(ctx, name, holder, now, now.Add(ttl))
		if err != nil {
			t.Fatalf("AcquireLease(%s, %s): %v", name, holder, err)
		}
		return ok
	}
	if !take("sweep", "a", t0, time.Minute) {
		t.Fatal("a cannot take a free lease")
	}
	if take("sweep", "b", t0.Add(30*time.Second), time.Minute) {
		t.Fatal("b took a lease a holds")
	}
	if !take("sweep", "a", t0.Add(50*time.Second), time.Minute) {
		t.Fatal("a cannot renew its own lease")
	}
	if take("sweep", "b", t0.Add(90*time.Second), time.Minute) {
		t.Fatal("b took a's renewed lease before it expired")
	}
	if !take("sweep", "b", t0.Add(111*time.Second), time.Minute) {
		t.Fatal("b cannot take an expired lease")
	}
	if !take("other", "a", t0, time.Minute) {
		t.Fatal("leases of different names interfere")
	}
	// Many replicas at once: exactly one wins.
	var wg sync.WaitGroup
	var mu sync.Mutex
	winners := 0
	for i := 0; i < 10; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			ok, err := s.AcquireLease(ctx, "race", fmt.Sprintf("r%d", i), t0, t0.Add(time.Minute))
			if err != nil {
				t.Errorf("AcquireLease: %v", err)
			}
			if ok {
				mu.Lock()
				winners++
				mu.Unlock()
			}
		}(i)
	}
	wg.Wait()
	if winners != 1 {
		t.Fatalf("%d replicas hold the lease at once, want 1", winners)
	}
}
