package apiclient

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// endless answers every request with the start of a JSON document that
// never ends: an array of records, streamed until the client hangs up.
func endless(t *testing.T, start string) (*httptest.Server, *atomic.Int64, *atomic.Int64) {
	return endlessOf(t, start, `{"id":"R1","mediaFiles":[]},`)
}

// endlessOf is endless with item, repeated, as the array's elements.
func endlessOf(t *testing.T, start, item string) (*httptest.Server, *atomic.Int64, *atomic.Int64) {
	t.Helper()
	var requests, sent atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		requests.Add(1)
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, start)
		chunk := []byte(strings.Repeat(item, 1000))
		for r.Context().Err() == nil {
			n, err := w.Write(chunk)
			sent.Add(int64(n))
			if err != nil {
				return
			}
		}
	}))
	t.Cleanup(srv.Close)
	return srv, &requests, &sent
}

// Every JSON answer is read up to a limit: an answer that never ends
// fails with a *TooLargeError, at once (it is not transient, so it is
// not asked for again), instead of filling the memory.
func TestAnswerSizeLimits(t *testing.T) {
	limits := Limits{Page: 1 << 20, Record: 256 << 10, Small: 64 << 10}
	for _, tc := range []struct {
		name, start string
		limit       int64
		call        func(c *Client) error
	}{
		{"search page", `{"next":null,"recordings":[`, limits.Page, func(c *Client) error {
			return c.Search(context.Background(), url.Values{}, func(Recording) error { return nil })
		}},
		{"record", `{"id":"R1","mediaFiles":[`, limits.Record, func(c *Client) error {
			_, err := c.Recording(context.Background(), "R1")
			return err
		}},
		{"/me", `{"userName":"admin","roles":[`, limits.Small, func(c *Client) error {
			_, err := c.Me(context.Background())
			return err
		}},
		{"settings", `{"mediaSource":"s3","more":[`, limits.Small, func(c *Client) error {
			_, err := c.Settings(context.Background())
			return err
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// Records of 1 kB: the page reaches its size before its
			// count of records.
			srv, requests, sent := endlessOf(t, tc.start, `{"id":"R1","pad":"`+strings.Repeat("x", 1000)+`","mediaFiles":[]},`)
			c := &Client{Prefix: srv.URL + "/api/v2", Limits: limits, Backoff: func(int) time.Duration { return time.Millisecond }}
			start := time.Now()
			err := tc.call(c)
			var tl *TooLargeError
			if !errors.As(err, &tl) || !errors.Is(err, ErrTooLarge) || IsTransient(err) || tl.Limit != tc.limit {
				t.Fatalf("err = %v; want a *TooLargeError of limit %d, not transient", err, tc.limit)
			}
			if !strings.Contains(err.Error(), fmt.Sprintf("larger than %s", formatBytes(tc.limit))) || strings.Contains(err.Error(), "\n") {
				t.Errorf("message %q", err)
			}
			if n := requests.Load(); n != 1 {
				t.Errorf("%d requests, want 1: a too large answer is not asked for again", n)
			}
			if d := time.Since(start); d > 10*time.Second {
				t.Errorf("took %v", d)
			}
			t.Logf("%v (the server got %d bytes out)", err, sent.Load())
		})
	}
}

// The default limit of /me (1 MiB) holds without any configuration; an
// answer declared too large by its Content-Length is not read at all; an
// answer within the limit is read.
func TestAnswerSizeLimitDefaults(t *testing.T) {
	srv, _, _ := endless(t, `{"userName":"admin","roles":[`)
	if _, err := (&Client{Prefix: srv.URL + "/api/v2"}).Me(context.Background()); !errors.Is(err, ErrTooLarge) || !strings.Contains(err.Error(), "1 MiB") {
		t.Errorf("Me with the default limits: %v", err)
	}

	declared := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", "2000000")
		w.WriteHeader(http.StatusOK)
	}))
	t.Cleanup(declared.Close)
	if _, err := (&Client{Prefix: declared.URL + "/api/v2"}).Me(context.Background()); !errors.Is(err, ErrTooLarge) {
		t.Errorf("Me with Content-Length 2000000: %v", err)
	}

	doc := `{"userName":"admin","tenant":"acme","roles":["` + strings.Repeat("x", 1000) + `"]}`
	exact := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, doc) }))
	t.Cleanup(exact.Close)
	c := &Client{Prefix: exact.URL + "/api/v2", Limits: Limits{Small: int64(len(doc))}}
	if me, err := c.Me(context.Background()); err != nil || me.Tenant != "acme" {
		t.Errorf("Me of exactly the limit: %+v, %v", me, err)
	}
	c.Limits.Small = int64(len(doc)) - 1
	if _, err := c.Me(context.Background()); !errors.Is(err, ErrTooLarge) {
		t.Errorf("Me one byte over the limit: %v", err)
	}
}

// Each item of an answer costs more memory than its bytes, so an answer
// within its size may still not hold millions of tiny items: more records
// in a page, media files in a record or in a page, or aliases in a media
// file than the caps fail as too large, and are not asked for again.
func TestAnswerItemCaps(t *testing.T) {
	items := func(n int, item string) string {
		return strings.TrimSuffix(strings.Repeat(item+",", n), ",")
	}
	for _, tc := range []struct {
		name, body, says string
		record           bool // GET /recordings/R1 rather than a search page
	}{
		{"records in a page", `{"recordings":[` + items(MaxPageRecords+1, `{}`) + `],"next":null}`, "holds more than 10000 records, the most read for a page of search results", false},
		{"media in a record", `{"recordings":[{"id":"R1","mediaFiles":[` + items(MaxRecordMedia+1, `{}`) + `]}]}`, `recording "R1": the answer holds more than 1000 media files`, false},
		{"media in a page", `{"recordings":[` + items(MaxPageMedia/MaxRecordMedia+1, `{"id":"R","mediaFiles":[`+items(MaxRecordMedia, `{}`)+`]}`) + `]}`, "holds more than 100000 media files, the most read for a page", false},
		{"aliases in a media file", `{"id":"R1","mediaFiles":[{"mediaId":"m","certAlias":[` + items(MaxCertAliases+1, `""`) + `]}]}`, `media "m": the answer holds more than 100 certificate aliases`, true},
		{"media in one record", `{"id":"R1","mediaFiles":[` + items(MaxRecordMedia+1, `{}`) + `]}`, "more than 1000 media files", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var requests atomic.Int64
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				requests.Add(1)
				io.WriteString(w, tc.body)
			}))
			t.Cleanup(srv.Close)
			c := &Client{Prefix: srv.URL + "/api/v2", Backoff: func(int) time.Duration { return time.Millisecond }}
			var err error
			if tc.record {
				_, err = c.Recording(context.Background(), "R1")
			} else {
				err = c.Search(context.Background(), url.Values{}, func(Recording) error { return nil })
			}
			if !errors.Is(err, ErrTooLarge) || IsTransient(err) || !strings.Contains(err.Error(), tc.says) {
				t.Errorf("err = %v; want ErrTooLarge saying %q, not transient", err, tc.says)
			}
			if n := requests.Load(); n != 1 {
				t.Errorf("%d requests, want 1", n)
			}
		})
	}

	// At the caps, everything is read; size is kept as a number or a
	// string only.
	body := `{"recordings":[{"id":"R1","stopTime":"t","mediaFiles":[` +
		`{"mediaId":"a","size":12,"certAlias":[` + items(MaxCertAliases, `"c"`) + `]},` +
		`{"mediaId":"b","size":"34"},{"mediaId":"c","size":{"x":[1,2,3]}},{"mediaId":"d","size":true}]},` +
		items(MaxPageRecords-1, `{"id":"R2","unknown":{"deep":[1,[2,{"x":3}]]}}`) + `],"next":null}`
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, body) }))
	t.Cleanup(srv.Close)
	var got []Recording
	if err := (&Client{Prefix: srv.URL}).Search(context.Background(), url.Values{}, func(r Recording) error { got = append(got, r); return nil }); err != nil {
		t.Fatal(err)
	}
	if len(got) != MaxPageRecords || len(got[0].MediaFiles) != 4 || len(got[0].MediaFiles[0].CertAlias) != MaxCertAliases {
		t.Fatalf("read %d records, the first with %d media", len(got), len(got[0].MediaFiles))
	}
	for i, want := range []int64{12, 34, -1, -1} {
		if size := got[0].MediaFiles[i].StoredSize(); size != want {
			t.Errorf("media %d: size %d, want %d", i, size, want)
		}
	}
	if !strings.Contains(string(got[1].Raw), `"deep"`) || got[1].ID != "R2" {
		t.Errorf("record 2: %+v", got[1])
	}
}
