package testenv

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"callvault/internal/vault"
)

// BenchStart is when BenchRecording(…, 0) starts.
var BenchStart = time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)

// BenchRecording is made-up recording i of a tenant, the same for every
// store's benchmark so their figures compare: 2 sites of 20 teams of 5
// agents, one call every 26 s, a partition on every third, a document of
// the guide's shape and size. Access groups are the service's: /SiteN,
// /SiteN/TeamM and the partition.
func BenchRecording(tenant string, i int) vault.Recording {
	agent := i % 200
	site, team := agent%2, (agent/2)%20
	hierarchy := fmt.Sprintf("/Site%d/Team%d", site, team)
	r := vault.Recording{
		Tenant: tenant, ID: fmt.Sprintf("%08x-%04x-4000-8000-%012x", i*2654435761%(1<<32), i%65536, i),
		StartTime:         BenchStart.Add(time.Duration(i) * 26 * time.Second),
		CallerPhoneNumber: fmt.Sprintf("+1905555%04d", i%10000),
		DialedPhoneNumber: fmt.Sprintf("+1416555%04d", (i*7)%10000),
		Agents:            []string{fmt.Sprintf("agent%03d", agent)},
		Groups:            []string{fmt.Sprintf("/Site%d", site), hierarchy},
		MediaTypes:        []string{"audio/mp3"},
	}
	r.StopTime = r.StartTime.Add(time.Duration(60+i%600) * time.Second)
	if i%3 == 0 {
		r.Partitions = []string{"/billing"}
		r.Groups = append(r.Groups, "/billing")
	}
	doc, err := json.Marshal(map[string]any{
		"id": r.ID, "callerPhoneNumber": r.CallerPhoneNumber, "dialedPhoneNumber": r.DialedPhoneNumber,
		"startTime": r.StartTime.Format(time.RFC3339Nano), "stopTime": r.StopTime.Format(time.RFC3339Nano),
		"mediaFiles": []map[string]any{{
			"mediaId": "0d4e-" + r.ID, "type": "audio/mp3", "startTime": r.StartTime.Format(time.RFC3339Nano),
			"stopTime": r.StopTime.Format(time.RFC3339Nano), "callUUID": "01P1GS6FNK9JV5QJCJ",
			"parameters": map[string]any{"GRECORD_PARTITIONS": r.Partitions},
		}},
		"eventHistory": []map[string]any{
			{"occurredAt": r.StartTime.Format(time.RFC3339Nano), "event": "START", "contact": map[string]any{"type": "agent", "userName": r.Agents[0]}},
			{"occurredAt": r.StopTime.Format(time.RFC3339Nano), "event": "STOP"},
		},
		"region": "us-east", "tenantId": tenant,
	})
	if err != nil {
		panic(err) // maps of strings always marshal
	}
	r.Doc = doc
	r.CreatedAt, r.UpdatedAt = r.StartTime, r.StopTime
	return r
}

// BenchSearch pages, as sub-benchmarks, through the n BenchRecording
// records of tenant in s with three kinds of access (everything; a manager
// of half the agents who also holds a partition; one team lead), and
// reports records/s. Every store's search benchmark runs it, so their
// figures compare.
func BenchSearch(b *testing.B, s vault.Store, tenant string, n int) {
	oneTeam := -1 // counted only when every agent has as many calls
	if n%200 == 0 {
		oneTeam = n / 40
	}
	for _, bc := range []struct {
		name   string
		access vault.Access
		want   int // records visible; -1: not checked
	}{
		{"All", vault.Access{All: true}, n},
		{"GroupsHalf", vault.Access{Groups: []string{"/Site0", "/billing"}}, -1},
		{"GroupsOneTeam", vault.Access{Groups: []string{"/Site1/Team3"}}, oneTeam},
	} {
		b.Run(bc.name, func(b *testing.B) {
			total := 0
			for b.Loop() {
				total += pageThrough(b, s, tenant, bc.access, bc.want)
			}
			b.ReportMetric(float64(total)/b.Elapsed().Seconds(), "records/s")
		})
	}
}

func pageThrough(b *testing.B, s vault.Store, tenant string, access vault.Access, want int) int {
	f := vault.SearchFilter{Limit: 1000}
	n := 0
	for {
		page, err := s.SearchRecordings(context.Background(), tenant, f, access)
		if err != nil {
			b.Fatal(err)
		}
		n += len(page)
		if len(page) < f.Limit {
			break
		}
		last := page[len(page)-1]
		f.After = &vault.Cursor{StartTime: last.StartTime, ID: last.ID}
	}
	if want >= 0 && n != want {
		b.Fatalf("paged %d records, want %d", n, want)
	}
	return n
}
