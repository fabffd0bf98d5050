package service

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"callvault/internal/audit"
	"callvault/internal/vault"
)

type clientKey struct{}

// WithClient records the client's address in ctx, for the audit trail:
// the HTTP layer sets it from the one client-address function.
func WithClient(ctx context.Context, addr string) context.Context {
	return context.WithValue(ctx, clientKey{}, addr)
}

func clientOf(ctx context.Context) string {
	addr, _ := ctx.Value(clientKey{}).(string)
	return addr
}

// entry is an audit entry of caller's action (caller nil: the system).
func (s *Service) entry(ctx context.Context, tenant string, caller *vault.User, action, target, outcome string, details json.RawMessage) vault.AuditEntry {
	e := vault.AuditEntry{Tenant: tenant, IP: clientOf(ctx), Action: action, Target: target, Outcome: outcome, Details: details, Time: s.now()}
	if caller != nil {
		e.Tenant, e.User = caller.Tenant, caller.Name
		roles := make([]string, len(caller.Roles))
		for i, r := range caller.Roles {
			roles[i] = string(r)
		}
		e.Role = strings.Join(roles, ",")
	}
	return e
}

// record writes audit entries in a transaction of their own. A read the
// trail cannot record is refused (EUNAVAILABLE): nothing is served that
// the trail does not show.
func (s *Service) record(ctx context.Context, entries ...vault.AuditEntry) error {
	if s.DisableAudit {
		return nil
	}
	if err := s.Store.Commit(ctx, vault.Effects{Audit: entries}); err != nil {
		return vault.Wrap(vault.EUNAVAILABLE, err, "cannot write the audit trail; try again")
	}
	return nil
}

// effects is fx with the audit entries dropped when auditing is off.
func (s *Service) effects(fx vault.Effects) vault.Effects {
	if s.DisableAudit {
		fx.Audit = nil
	}
	return fx
}

// filterDetails are a search filter as audit details.
func filterDetails(f vault.SearchFilter) json.RawMessage {
	m := map[string]any{}
	put := func(k string, t time.Time) {
		if !t.IsZero() {
			m[k] = t.UTC().Format(time.RFC3339Nano)
		}
	}
	put("startFrom", f.StartFrom)
	put("startTo", f.StartTo)
	put("stopFrom", f.StopFrom)
	put("stopTo", f.StopTo)
	for k, v := range map[string]string{"callerPhoneNumber": f.Caller, "dialedPhoneNumber": f.Dialed,
		"userName": f.UserName, "partition": f.Partition, "mediaType": f.MediaType, "topic": f.Topic, "category": f.Category} {
		if v != "" {
			m[k] = v
		}
	}
	if f.MinSilenceMs > 0 {
		m["minSilenceMs"] = f.MinSilenceMs
	}
	if f.Limit > 0 {
		m["limit"] = f.Limit
	}
	if f.After != nil {
		m["after"] = f.After.ID
	}
	return audit.Canonical(m)
}

// RecordMediaAccess writes the audit entry of a fetch or play of one media
// file before any byte of it is served; rangeHeader is the request's Range
// (its first start is kept).
func (s *Service) RecordMediaAccess(ctx context.Context, caller *vault.User, play bool, recordingID, mediaID, rangeHeader string) error {
	action := "media.fetch"
	if play {
		action = "media.play"
	}
	start := int64(0)
	if spec, ok := strings.CutPrefix(strings.TrimSpace(rangeHeader), "bytes="); ok {
		first, _, _ := strings.Cut(spec, ",")
		from, _, _ := strings.Cut(strings.TrimSpace(first), "-")
		if n, err := strconv.ParseInt(from, 10, 64); err == nil {
			start = n
		} else if from == "" {
			start = -1 // a suffix range: the end of the file
		}
	}
	return s.record(ctx, s.entry(ctx, "", caller, action, recordingID, vault.OutcomeOK,
		audit.Details("mediaId", mediaID, "rangeStart", start)))
}

// recordLogin writes the audit entry of a login attempt. A failed login
// is recorded under the tenant it names, when that tenant exists.
func (s *Service) recordLogin(ctx context.Context, login string, u *vault.User, outcome, reason string) {
	if u != nil {
		if err := s.record(ctx, s.entry(ctx, "", u, "login", u.Name, outcome, audit.Details("reason", reason))); err != nil {
			s.log().Error("cannot audit a login", "tenant", u.Tenant, "user", u.Name, "err", err)
		}
		return
	}
	name, tenant, err := SplitLogin(login)
	if err != nil {
		return
	}
	if _, err := s.Store.Tenant(ctx, tenant); err != nil {
		return // not a tenant: nobody's trail to write to
	}
	e := s.entry(ctx, tenant, nil, "login", name, outcome, audit.Details("reason", reason))
	e.User = name
	if err := s.record(ctx, e); err != nil {
		s.log().Error("cannot audit a failed login", "tenant", tenant, "err", err)
	}
}

// AuditPage is one page of the audit trail.
type AuditPage struct {
	Entries []vault.AuditEntry
	Next    int64 // AfterSeq of the next page; 0 when this is the last
}

// Audit pages the caller's tenant's trail (admins only).
func (s *Service) Audit(ctx context.Context, caller *vault.User, f vault.AuditFilter) (*AuditPage, error) {
	if err := requireRole(caller, vault.RoleAdmin); err != nil {
		return nil, err
	}
	switch {
	case f.Limit == 0:
		f.Limit = 100
	case f.Limit < 0 || f.Limit > MaxSearchLimit:
		return nil, vault.Errorf(vault.EINVALID, "limit must be between 1 and %d", MaxSearchLimit)
	}
	want := f.Limit
	f.Limit++
	entries, err := s.Store.Audit(ctx, caller.Tenant, f)
	if err != nil {
		return nil, err
	}
	page := &AuditPage{Entries: entries}
	if len(entries) > want {
		page.Entries = entries[:want]
		page.Next = entries[want-1].Seq
	}
	return page, nil
}

// VerifyAudit walks a tenant's chain; a *audit.BrokenError names the first
// entry that does not follow. It returns the number of entries checked.
// Reading rows and hashing them run side by side: the store's scan hands
// batches to a checker goroutine.
func VerifyAudit(ctx context.Context, store vault.Store, tenant string) (int64, error) {
	head, err := store.AuditHead(ctx, tenant)
	if err != nil {
		return 0, err
	}
	v := audit.NewVerifier(tenant, audit.Anchor{Seq: head.PrunedSeq, Hash: head.PrunedHash})
	const batchSize = 1024
	batches := make(chan []vault.AuditEntry, 4)
	free := make(chan []vault.AuditEntry, 6)
	checked := make(chan error, 1)
	var broken atomic.Bool
	go func() {
		var err error
		for b := range batches {
			for i := range b {
				if err == nil {
					if err = v.Check(&b[i]); err != nil {
						broken.Store(true)
					}
				}
			}
			free <- b[:0]
		}
		checked <- err
	}()
	// Entries appended after the head was read are for the next run.
	errPastHead := errors.New("past the head")
	batch := make([]vault.AuditEntry, 0, batchSize)
	err = store.ScanAudit(ctx, tenant, func(e vault.AuditEntry) error {
		if e.Seq > head.Seq || broken.Load() {
			return errPastHead // the rest is for the next run, or need not be read
		}
		batch = append(batch, e)
		if len(batch) == batchSize {
			batches <- batch
			select {
			case batch = <-free:
			default:
				batch = make([]vault.AuditEntry, 0, batchSize)
			}
		}
		return nil
	})
	if len(batch) > 0 {
		batches <- batch
	}
	close(batches)
	checkErr := <-checked
	if errors.Is(err, errPastHead) {
		err = nil
	}
	if checkErr != nil {
		return v.Verified, checkErr
	}
	if err != nil {
		return v.Verified, err
	}
	return v.Verified, v.End(audit.Anchor{Seq: head.Seq, Hash: head.Hash})
}

func jobArgs(v any) json.RawMessage {
	b, err := json.Marshal(v)
	if err != nil {
		panic(fmt.Sprintf("job arguments do not encode: %v", err)) // our own structs always do
	}
	return b
}

// audited writes the audit entry of an administrative change that is
// already made. The change and its entry are two transactions here (the
// store's user and certificate calls take no effects yet): a failure to
// write the entry is logged as an error, never hidden.
func (s *Service) audited(ctx context.Context, caller *vault.User, action, target string, details json.RawMessage) {
	if err := s.record(ctx, s.entry(ctx, "", caller, action, target, vault.OutcomeOK, details)); err != nil {
		s.log().Error("cannot write the audit entry of a change", "tenant", caller.Tenant, "action", action, "target", target, "err", err)
	}
}
