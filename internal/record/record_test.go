package record

import (
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"callvault/internal/vault"
)

const (
	example1ID = "021L6BI58K8FH7R5USI402LAES00000A"
	example2ID = "011AP643CSAPR4FKQGQE31TAES0001TH"
)

func readExample(t testing.TB, n int) []byte {
	t.Helper()
	body, err := os.ReadFile(fmt.Sprintf("../samples/guide-example-%d.json", n))
	if err != nil {
		t.Fatal(err)
	}
	return body
}

func mustParse(t testing.TB, id string, body []byte) *Doc {
	t.Helper()
	doc, err := Parse(id, body)
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	return doc
}

func mustMerge(t testing.TB, stored json.RawMessage, doc *Doc) json.RawMessage {
	t.Helper()
	merged, err := Merge(stored, doc)
	if err != nil {
		t.Fatalf("Merge: %v", err)
	}
	return merged
}

func mustIndex(t testing.TB, doc json.RawMessage) Index {
	t.Helper()
	idx, err := IndexOf(doc)
	if err != nil {
		t.Fatalf("IndexOf: %v", err)
	}
	return idx
}

func utc(s string) time.Time {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		panic(err)
	}
	return t
}

// decodeAny decodes JSON into plain Go values, for comparing documents.
func decodeAny(t testing.TB, raw []byte) any {
	t.Helper()
	var v any
	if err := json.Unmarshal(raw, &v); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, raw)
	}
	return v
}

func TestGuideExamples(t *testing.T) {
	tests := []struct {
		n    int
		id   string
		want Index
	}{
		{1, example1ID, Index{
			StartTime:       utc("2021-07-21T16:49:00Z"),
			StopTime:        utc("2021-07-21T16:49:37Z"),
			Caller:          "+19059683343",
			Dialed:          "+15126401290",
			Agents:          []string{"agent_103001"},
			AccessGroups:    []string{"/"},
			MediaTypes:      []string{"audio/mp3", "video/mp4"},
			ScreenRecording: true,
		}},
		{2, example2ID, Index{
			StartTime:    utc("2015-09-01T16:42:59Z"),
			StopTime:     utc("2015-09-01T16:43:36Z"),
			Caller:       "8522001",
			Dialed:       "+14160000001",
			Agents:       []string{"screen1@genesys.com", "screen3@genesys.com"},
			AccessGroups: []string{"/"},
			MediaTypes:   []string{"audio/mp3"},
		}},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprint("example", tt.n), func(t *testing.T) {
			body := readExample(t, tt.n)
			doc := mustParse(t, tt.id, body)
			merged := mustMerge(t, nil, doc)
			idx := mustIndex(t, merged)
			if !reflect.DeepEqual(idx, tt.want) {
				t.Errorf("IndexOf:\n got %+v\nwant %+v", idx, tt.want)
			}
			if slices.Contains(idx.Agents, "UNKNOWN") {
				t.Errorf("agents include UNKNOWN: %v", idx.Agents)
			}

			// Everything the recorder sent is kept, except the
			// server-owned media fields.
			want := decodeAny(t, body).(map[string]any)
			for _, m := range want["mediaFiles"].([]any) {
				for _, k := range serverOwned {
					delete(m.(map[string]any), k)
				}
			}
			if got := decodeAny(t, merged); !reflect.DeepEqual(got, want) {
				t.Errorf("merged record differs from the example:\n%s", merged)
			}
			// The merged record is itself a valid body.
			if _, err := Parse(tt.id, merged); err != nil {
				t.Errorf("Parse(merged): %v", err)
			}
		})
	}
}

// pieces splits example 1 as a recorder might send it: the top-level
// attributes, each media file alone, the events in three batches.
func pieces(t *testing.T) [][]byte {
	t.Helper()
	var whole map[string]json.RawMessage
	if err := json.Unmarshal(readExample(t, 1), &whole); err != nil {
		t.Fatal(err)
	}
	var media, events []json.RawMessage
	if err := json.Unmarshal(whole["mediaFiles"], &media); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(whole["eventHistory"], &events); err != nil {
		t.Fatal(err)
	}
	delete(whole, "mediaFiles")
	delete(whole, "eventHistory")
	marshal := func(v any) []byte {
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	out := [][]byte{marshal(whole)}
	for _, m := range media {
		out = append(out, marshal(map[string]any{"mediaFiles": []json.RawMessage{m}}))
	}
	third := len(events) / 3
	for _, batch := range [][]json.RawMessage{events[:third], events[third : 2*third], events[2*third:]} {
		out = append(out, marshal(map[string]any{"eventHistory": batch}))
	}
	return out
}

// contents describes a merged record without list order: the top-level
// attributes, the media entries by mediaId and the events as a sorted list.
func contents(t *testing.T, merged json.RawMessage) (top map[string]any, media map[string]any, events []string) {
	t.Helper()
	top = decodeAny(t, merged).(map[string]any)
	media = map[string]any{}
	if list, ok := top["mediaFiles"].([]any); ok {
		for _, m := range list {
			media[m.(map[string]any)["mediaId"].(string)] = m
		}
	}
	if list, ok := top["eventHistory"].([]any); ok {
		for _, e := range list {
			b, _ := json.Marshal(e) // map keys sorted: canonical
			events = append(events, string(b))
		}
	}
	slices.Sort(events)
	delete(top, "mediaFiles")
	delete(top, "eventHistory")
	return top, media, events
}

func TestMergePiecesInAnyOrder(t *testing.T) {
	whole := mustMerge(t, nil, mustParse(t, example1ID, readExample(t, 1)))
	wantIdx := mustIndex(t, whole)
	wantTop, wantMedia, wantEvents := contents(t, whole)
	if len(wantMedia) != 2 || len(wantEvents) != 22 {
		t.Fatalf("example 1 has %d media files and %d events, want 2 and 22", len(wantMedia), len(wantEvents))
	}

	parts := pieces(t)
	rng := rand.New(rand.NewPCG(1, 2))
	for round := range 8 {
		order := rng.Perm(len(parts))
		var merged json.RawMessage
		for _, i := range order {
			merged = mustMerge(t, merged, mustParse(t, example1ID, parts[i]))
		}
		if idx := mustIndex(t, merged); !reflect.DeepEqual(idx, wantIdx) {
			t.Errorf("round %d (order %v): index\n got %+v\nwant %+v", round, order, idx, wantIdx)
		}
		top, media, events := contents(t, merged)
		if !reflect.DeepEqual(top, wantTop) {
			t.Errorf("round %d: top-level attributes differ: %v", round, top)
		}
		if !reflect.DeepEqual(media, wantMedia) {
			t.Errorf("round %d: media files differ", round)
		}
		if !slices.Equal(events, wantEvents) {
			t.Errorf("round %d: events differ: got %d, want %d", round, len(events), len(wantEvents))
		}
		// Sending every piece again changes nothing.
		again := merged
		for _, i := range rng.Perm(len(parts)) {
			again = mustMerge(t, again, mustParse(t, example1ID, parts[i]))
		}
		if string(again) != string(merged) {
			t.Errorf("round %d: re-sending the pieces changed the record", round)
		}
	}
}

func TestMergeIdempotent(t *testing.T) {
	for n, id := range map[int]string{1: example1ID, 2: example2ID} {
		doc := mustParse(t, id, readExample(t, n))
		once := mustMerge(t, nil, doc)
		twice := mustMerge(t, once, doc)
		if string(once) != string(twice) {
			t.Errorf("example %d: merging twice changed the record:\n%s\n%s", n, once, twice)
		}
	}
}

func TestMergeEvents(t *testing.T) {
	joined := `{"occurredAt":"2021-07-21T16:49:00.537+0000","event":"Joined","calluuid":"C1",
		"contact":{"type":"User","userName":"agent_1","phoneNumber":"+1"}}`
	// The same event, re-sent with its time in another form and a field added.
	joinedAgain := `{"occurredAt":"2021-07-21T16:49:00.537Z","event":"Joined","calluuid":"C1",
		"contact":{"type":"User","userName":"agent_1","phoneNumber":"+1","firstName":"A"}}`
	left := `{"occurredAt":"2021-07-21T16:49:30.000+0000","event":"Left","calluuid":"C1",
		"contact":{"type":"User","userName":"agent_1"}}`
	external := `{"occurredAt":"2021-07-21T16:49:00.537+0000","event":"Joined","calluuid":"C1",
		"contact":{"type":"External","phoneNumber":"+2"}}`
	data1 := `{"occurredAt":"2021-07-21T16:49:01.000+0000","event":"Data","calluuid":"C1","data":{"added":{"A":"1"}}}`
	data2 := `{"occurredAt":"2021-07-21T16:49:01.000+0000","event":"Data","calluuid":"C1","data":{"added":{"B":"2"}}}`
	withID := `{"eventId":"E1","event":"Data","data":{"added":{"A":"1"}}}`
	withIDUpdated := `{"eventId":"E1","event":"Data","data":{"added":{"A":"2"}}}`

	var merged json.RawMessage
	for _, events := range []string{
		joined + "," + external + "," + data1,
		joinedAgain + "," + left,
		data2 + "," + data1 + "," + joinedAgain,
		withID, withIDUpdated,
	} {
		merged = mustMerge(t, merged, mustParse(t, "R", []byte(`{"eventHistory":[`+events+`]}`)))
	}
	var got struct {
		EventHistory []map[string]any `json:"eventHistory"`
	}
	if err := json.Unmarshal(merged, &got); err != nil {
		t.Fatal(err)
	}
	// joined (with firstName from the re-send), external, data1, left, data2, E1.
	if len(got.EventHistory) != 6 {
		t.Fatalf("got %d events, want 6:\n%s", len(got.EventHistory), merged)
	}
	if first := got.EventHistory[0]["contact"].(map[string]any)["firstName"]; first != "A" {
		t.Errorf("re-sent Joined event not merged into the first: firstName %v", first)
	}
	if a := got.EventHistory[5]["data"].(map[string]any)["added"].(map[string]any)["A"]; a != "2" {
		t.Errorf("event E1 not updated by eventId: A = %v", a)
	}
}

func TestMergeMedia(t *testing.T) {
	first := `{"mediaFiles":[{"mediaID":"m1","type":"audio/mp3","size":"146304","certAlias":["x"],
		"mediaUri":"http://elsewhere/","sha256":"00","parameters":{"username":"a1"}}]}`
	second := `{"mediaFiles":[{"mediaId":"m1","stopTime":"2021-07-21T16:49:37Z","parameters":{"username":"a2"}},
		{"mediaId":"m2","type":"video/mp4"}]}`
	merged := mustMerge(t, nil, mustParse(t, "R", []byte(first)))
	merged = mustMerge(t, merged, mustParse(t, "R", []byte(second)))
	want := `{"id":"R","mediaFiles":[` +
		`{"stopTime":"2021-07-21T16:49:37Z","mediaId":"m1","type":"audio/mp3","parameters":{"username":"a2"}},` +
		`{"mediaId":"m2","type":"video/mp4"}]}`
	if string(merged) != want {
		t.Errorf("merged:\n got %s\nwant %s", merged, want)
	}
	idx := mustIndex(t, merged)
	if !slices.Equal(idx.Agents, []string{"a2"}) || !idx.ScreenRecording || !idx.StopTime.Equal(utc("2021-07-21T16:49:37Z")) {
		t.Errorf("index %+v", idx)
	}
}

func TestMergeTopLevelReplaces(t *testing.T) {
	merged := mustMerge(t, nil, mustParse(t, "R", []byte(`{"region":"a","callType":"Inbound"}`)))
	merged = mustMerge(t, merged, mustParse(t, "R", []byte(`{"id":"R","region":"b","x-custom":{"k":[1,2]}}`)))
	want := `{"id":"R","callType":"Inbound","region":"b","x-custom":{"k":[1,2]}}`
	if string(merged) != want {
		t.Errorf("got %s\nwant %s", merged, want)
	}
}

func TestMergeStoredCorrupt(t *testing.T) {
	for _, stored := range []string{`[]`, `"x"`, `{"mediaFiles":{}}`, `{"eventHistory":[1]}`, `{`} {
		_, err := Merge(json.RawMessage(stored), &Doc{ID: "R"})
		if vault.ErrorCode(err) != vault.EINTERNAL {
			t.Errorf("Merge(%s): %v, want an internal error", stored, err)
		}
	}
	if merged, err := Merge(json.RawMessage(`null`), nil); err != nil || string(merged) != `{}` {
		t.Errorf("Merge(null, nil) = %s, %v", merged, err)
	}
}

func TestPartitionsFromEvents(t *testing.T) {
	add := `{"occurredAt":"2021-07-21T16:49:00.000+0000","event":"Data","eventId":"1",
		"data":{"added":{"GRECORD_PARTITIONS":"/sales, /support"}}}`
	del := `{"occurredAt":"2021-07-21T16:50:00.000+0000","event":"Data","eventId":"2",
		"data":{"deleted":{"GRECORD_PARTITIONS":"/support"}}}`
	upd := `{"occurredAt":"2021-07-21T16:51:00.000+0000","event":"Data","eventId":"3",
		"data":{"updated":{"GRECORD_PARTITIONS":"/billing,,"}}}`
	media := `{"mediaId":"m1","partitions":["/media"]}`
	tests := []struct {
		name   string
		body   string
		wanted []string
	}{
		{"added", `{"eventHistory":[` + add + `]}`, []string{"/sales", "/support"}},
		{"deleted later", `{"eventHistory":[` + del + `,` + add + `]}`, []string{"/sales"}},
		{"updated adds", `{"eventHistory":[` + add + `,` + del + `,` + upd + `]}`, []string{"/billing", "/sales"}},
		{"with media", `{"mediaFiles":[` + media + `],"eventHistory":[` + add + `]}`, []string{"/media", "/sales", "/support"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			idx := mustIndex(t, mustMerge(t, nil, mustParse(t, "R", []byte(tt.body))))
			if !slices.Equal(idx.Partitions, tt.wanted) {
				t.Errorf("partitions %q, want %q", idx.Partitions, tt.wanted)
			}
		})
	}
}

func TestIndexFallbacks(t *testing.T) {
	body := `{"mediaFiles":[
		{"mediaId":"late","startTime":"2021-07-21T16:50:00Z","stopTime":"2021-07-21T16:55:00Z",
		 "parameters":{"ani":"+3","dnis":"+4","username":"UNKNOWN"}},
		{"mediaId":"early","startTime":"2021-07-21T16:49:00Z","stopTime":"2021-07-21T16:51:00Z",
		 "parameters":{"ani":"+1","dnis":"+2","contact":{"userName":"agent_7"}}}],
		"eventHistory":[
		{"event":"Joined","contact":{"type":"User","userName":"agent_8"}},
		{"event":"Joined","contact":{"type":"External","userName":"ext"}},
		{"event":"Data","contact":{"type":"User","userName":"not_joined"}}]}`
	idx := mustIndex(t, mustMerge(t, nil, mustParse(t, "R", []byte(body))))
	want := Index{
		StartTime: utc("2021-07-21T16:49:00Z"),
		StopTime:  utc("2021-07-21T16:55:00Z"),
		Caller:    "+1",
		Dialed:    "+2",
		Agents:    []string{"agent_7", "agent_8"},
	}
	if !reflect.DeepEqual(idx, want) {
		t.Errorf("got %+v\nwant %+v", idx, want)
	}
	if idx, err := IndexOf(nil); err != nil || !reflect.DeepEqual(idx, Index{}) {
		t.Errorf("IndexOf(nil) = %+v, %v", idx, err)
	}
}

func TestParseMediaIDSpelling(t *testing.T) {
	doc := mustParse(t, "R", []byte(`{"mediaFiles":[{"mediaID":"m1"},{"mediaId":"m2","mediaID":"m2"}]}`))
	for i, m := range doc.MediaFiles {
		if _, ok := m["mediaID"]; ok {
			t.Errorf("entry %d keeps mediaID", i)
		}
	}
	if got := doc.MediaIDs(); !slices.Equal(got, []string{"m1", "m2"}) {
		t.Errorf("MediaIDs() = %q", got)
	}
}

func TestParseErrors(t *testing.T) {
	deep := strings.Repeat(`[`, 20000) + strings.Repeat(`]`, 20000)
	tests := []struct {
		name, id, body, path string
	}{
		{"not JSON", "R", `{"id":`, "body: not valid JSON"},
		{"trailing data", "R", `{} {}`, "body: not valid JSON"},
		{"empty", "R", ``, "body: not valid JSON"},
		{"array at top", "R", `[{"id":"R"}]`, "body: want an object, got array"},
		{"null at top", "R", `null`, "body: want an object, got null"},
		{"bad UTF-8", "R", "{\"region\":\"\xff\"}", "body: not valid UTF-8"},
		{"empty id", "", `{}`, "id:"},
		{"id mismatch", "R", `{"id":"S"}`, `id: "S" does not match`},
		{"id not string", "R", `{"id":7}`, "id: want a string, got number"},
		{"startTime number", "R", `{"startTime":5}`, "startTime: want a date-time string, got number"},
		{"stopTime text", "R", `{"stopTime":"yesterday"}`, `stopTime: cannot read "yesterday"`},
		{"screenRecording string", "R", `{"screenRecording":"false"}`, "screenRecording: want a boolean, got string"},
		{"mediaFiles object", "R", `{"mediaFiles":{}}`, "mediaFiles: want an array, got object"},
		{"mediaFiles entry string", "R", `{"mediaFiles":["m1"]}`, "mediaFiles[0]: want an object, got string"},
		{"no mediaId", "R", `{"mediaFiles":[{"type":"audio/mp3"}]}`, "mediaFiles[0].mediaId: missing"},
		{"empty mediaId", "R", `{"mediaFiles":[{"mediaId":""}]}`, "mediaFiles[0].mediaId: empty"},
		{"mediaId number", "R", `{"mediaFiles":[{"mediaId":1}]}`, "mediaFiles[0].mediaId: want a string, got number"},
		{"mediaId and mediaID differ", "R", `{"mediaFiles":[{"mediaId":"a","mediaID":"b"}]}`, "mediaFiles[0]: mediaId"},
		{"duplicate mediaIds", "R", `{"mediaFiles":[{"mediaId":"a"},{"mediaID":"a"}]}`, `mediaFiles[1].mediaId: "a" is also`},
		{"media startTime", "R", `{"mediaFiles":[{"mediaId":"a"},{"mediaId":"b","startTime":1}]}`, "mediaFiles[1].startTime: want a date-time string, got number"},
		{"partitions string", "R", `{"mediaFiles":[{"mediaId":"a","partitions":"x"}]}`, "mediaFiles[0].partitions: want an array, got string"},
		{"accessgroups number", "R", `{"mediaFiles":[{"mediaId":"a","accessgroups":["/",1]}]}`, "mediaFiles[0].accessgroups[1]: want a string, got number"},
		{"channels string", "R", `{"mediaFiles":[{"mediaId":"a","channels":"2"}]}`, "mediaFiles[0].channels: want a number, got string"},
		{"type number", "R", `{"mediaFiles":[{"mediaId":"a","type":3}]}`, "mediaFiles[0].type: want a string"},
		{"parameters array", "R", `{"mediaFiles":[{"mediaId":"a","parameters":[]}]}`, "mediaFiles[0].parameters: want an object, got array"},
		{"username number", "R", `{"mediaFiles":[{"mediaId":"a","parameters":{"username":1}}]}`, "mediaFiles[0].parameters.username: want a string"},
		{"eventHistory string", "R", `{"eventHistory":"x"}`, "eventHistory: want an array, got string"},
		{"event without name", "R", `{"eventHistory":[{"occurredAt":"2021-07-21T16:49:00Z"}]}`, "eventHistory[0].event: missing"},
		{"event data number", "R", `{"eventHistory":[{"event":"Data","data":3}]}`, "eventHistory[0].data: want an object, got number"},
		{"occurredAt bad", "R", `{"eventHistory":[{"event":"Data","occurredAt":"2021-13-01T00:00:00Z"}]}`, "eventHistory[0].occurredAt: cannot read"},
		{"contact string", "R", `{"eventHistory":[{"event":"Joined","contact":"x"}]}`, "eventHistory[0].contact: want an object, got string"},
		{"contact userName", "R", `{"eventHistory":[{"event":"Joined","contact":{"userName":null}}]}`, "eventHistory[0].contact.userName: want a string, got null"},
		{"partitions value", "R", `{"eventHistory":[{"event":"Data","data":{"added":{"GRECORD_PARTITIONS":["/a"]}}}]}`, "eventHistory[0].data.added.GRECORD_PARTITIONS: want a string, got array"},
		{"deeply nested body", "R", deep, "body: not valid JSON"},
		{"deeply nested value", "R", `{"mediaFiles":[{"mediaId":"a","parameters":` + strings.Repeat(`[`, 500) + strings.Repeat(`]`, 500) + `}]}`, "mediaFiles[0].parameters: want an object, got array"},
		{"nested garbage list", "R", `{"mediaFiles":[[[[{"mediaId":"a"}]]]]}`, "mediaFiles[0]: want an object, got array"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			doc, err := Parse(tt.id, []byte(tt.body))
			if err == nil {
				t.Fatalf("Parse succeeded: %+v", doc)
			}
			var verr *vault.Error
			if !errors.As(err, &verr) || verr.Code != vault.EINVALID {
				t.Fatalf("error %v (%T), want *vault.Error with code %s", err, err, vault.EINVALID)
			}
			if !strings.HasPrefix(verr.Message, tt.path) {
				t.Errorf("message %q, want it to start with %q", verr.Message, tt.path)
			}
			if len(verr.Message) > 300 {
				t.Errorf("message too long: %d bytes", len(verr.Message))
			}
		})
	}
}

func TestParseKeepsUnknownAttributes(t *testing.T) {
	doc := mustParse(t, "R", []byte(`{ "x-new" : { "a" : [ 1 , 2 ] }, "mediaFiles" : [ { "mediaId" : "m", "x" : null } ] }`))
	if got := string(doc.Fields["x-new"]); got != `{"a":[1,2]}` {
		t.Errorf("x-new = %s", got)
	}
	if got := string(doc.MediaFiles[0]["x"]); got != `null` {
		t.Errorf("mediaFiles[0].x = %s", got)
	}
	if _, ok := doc.Fields["mediaFiles"]; ok {
		t.Error("Fields holds mediaFiles")
	}
}

func TestRender(t *testing.T) {
	body := `{"id":"R","mediaFiles":[
		{"mediaId":"described-stored","type":"audio/mp3","duration":"36800"},
		{"mediaId":"described-only","type":"video/mp4"}]}`
	merged := mustMerge(t, nil, mustParse(t, "R", []byte(body)))
	media := []vault.Media{
		{RecordingID: "R", MediaID: "described-stored", Type: "audio/mp3", Size: 146304, SHA256: "ab", CertAliases: []string{"c1"}},
		{RecordingID: "R", MediaID: "stored-only", Type: "video/mp4", Size: 10, SHA256: "cd"},
		{RecordingID: "other", MediaID: "foreign", Type: "audio/mp3"},
	}
	uri := func(mediaID string) string { return "https://vault/api/v2/recordings/R/media/" + mediaID }
	out, err := Render(merged, "R", media, uri)
	if err != nil {
		t.Fatal(err)
	}
	var got struct {
		ID           string           `json:"id"`
		MediaFiles   []map[string]any `json:"mediaFiles"`
		EventHistory []any            `json:"eventHistory"`
	}
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	want := []map[string]any{
		{"mediaId": "described-stored", "type": "audio/mp3", "duration": "36800", "size": 146304.0, "sha256": "ab",
			"certAlias": []any{"c1"}, "mediaUri": uri("described-stored")},
		{"mediaId": "described-only", "type": "video/mp4", "mediaUri": nil, "pending": true},
		{"mediaId": "stored-only", "type": "video/mp4", "size": 10.0, "sha256": "cd", "certAlias": []any{}, "mediaUri": uri("stored-only")},
	}
	if got.ID != "R" || got.EventHistory == nil || !reflect.DeepEqual(got.MediaFiles, want) {
		t.Errorf("Render:\n%s", out)
	}

	// What Render gives out, sent back, gives out the same again (the
	// stored-only media file is now described by its mediaId and type).
	back := mustMerge(t, merged, mustParse(t, "R", out))
	if again, err := Render(back, "R", media, uri); err != nil || string(again) != string(out) {
		t.Errorf("rendered record sent back changed it: %v\n got %s\nwant %s", err, again, out)
	}

	// Media without any metadata.
	out, err = Render(nil, "R", media[1:2], nil)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(out), `"mediaUri": null`) || !strings.Contains(string(out), `"id": "R"`) {
		t.Errorf("Render(nil):\n%s", out)
	}
}

func TestParseTime(t *testing.T) {
	want := utc("2021-07-21T16:49:00Z")
	for _, s := range []string{
		"2021-07-21T16:49:00.000+0000",
		"2021-07-21T16:49:00Z",
		"2021-07-21T16:49:00+00:00",
		"2021-07-21T16:49:00.000000000Z",
		"2021-07-21T18:49:00.000+02:00",
		"2021-07-21T12:49:00-0400",
	} {
		got, err := ParseTime(s)
		if err != nil || !got.Equal(want) || got.Location() != time.UTC {
			t.Errorf("ParseTime(%q) = %v, %v", s, got, err)
		}
	}
	if got, err := ParseTime("2021-07-21T16:49:42.131+0000"); err != nil || got.Nanosecond() != 131e6 {
		t.Errorf("fraction lost: %v, %v", got, err)
	}
	for _, s := range []string{
		"", "2021-07-21", "2021-07-21 16:49:00Z", "2021-07-21T16:49:00", "16:49:00Z",
		"2021-07-21T16:49:00+0000 ", "2021-07-32T16:49:00Z", "0000-01-01T00:00:00+0100",
		"9999-12-31T23:59:59-2359", "1626886128888",
	} {
		if got, err := ParseTime(s); err == nil {
			t.Errorf("ParseTime(%q) = %v, want an error", s, got)
		} else if vault.ErrorCode(err) != vault.EINVALID {
			t.Errorf("ParseTime(%q): %v, want EINVALID", s, err)
		}
	}
}
